//! The fuzzing entry points of [`crate::fuzzing`] on random input, a few seconds in CI.

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

    #[test]
    fn any_file_name(name in any::<String>(), uid in any::<u32>(), flags in any::<u8>()) {
        crate::fuzzing::file_name(&name, uid, flags);
    }

    /// Names made of the characters that matter to the parser.
    #[test]
    fn file_names_of_maildir_pieces(
        name in "([0-9a-z.]{0,6}|,|:|2,|1,|U=[0-9]{0,11}|FMD5=[0-9a-f]{0,32}|S=[0-9]{0,20}|[FRSTDPa-z]){0,12}",
        uid in any::<u32>(),
        flags in any::<u8>(),
    ) {
        crate::fuzzing::file_name(&name, uid, flags);
    }
}
