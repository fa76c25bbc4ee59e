#![no_main]
libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    twinbox::fuzzing::state_records(bytes);
});
