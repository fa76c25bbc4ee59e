//! Fuzzing of the modified UTF-7 codec on the stable toolchain (issue 12): random input
//! as property tests, a few seconds in CI. `fuzz/` runs the same properties under
//! `cargo fuzz` by hand.

use backend_kit::mutf7;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        // PROPTEST_CASES runs longer by hand.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(4000),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any string survives the round trip, and its encoding is printable ASCII.
    #[test]
    fn encoding_round_trips(name in any::<String>()) {
        let encoded = mutf7::encode(&name);
        prop_assert!(encoded.bytes().all(|b| (0x20..0x7f).contains(&b)), "{encoded:?}");
        let decoded = mutf7::decode(&encoded);
        prop_assert_eq!(decoded.as_deref(), Ok(name.as_str()));
    }

    /// Decoding anything never panics, and what decodes is the one canonical encoding
    /// of its result (so two wire names never map to one folder).
    #[test]
    fn decoding_is_strict(wire in "[ -~]{0,40}") {
        if let Ok(name) = mutf7::decode(&wire) {
            prop_assert_eq!(mutf7::encode(&name), wire);
        }
    }

    /// Around the `&...-` shifts, where the codec's cases are.
    #[test]
    fn shifted_sequences_are_strict(wire in "(&[A-Za-z0-9+,]{0,9}-?|[a-z&-]){0,8}") {
        if let Ok(name) = mutf7::decode(&wire) {
            prop_assert_eq!(mutf7::encode(&name), wire);
        }
    }
}
