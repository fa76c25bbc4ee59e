#![no_main]
use backend_kit::mutf7;

// Any string round-trips; any wire name that decodes is the canonical encoding of its
// result.
libfuzzer_sys::fuzz_target!(|text: &str| {
    let encoded = mutf7::encode(text);
    assert_eq!(mutf7::decode(&encoded).as_deref(), Ok(text));
    if let Ok(name) = mutf7::decode(text) {
        assert_eq!(mutf7::encode(&name), text);
    }
});
