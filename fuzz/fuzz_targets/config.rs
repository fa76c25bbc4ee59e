#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| {
    twinbox::fuzzing::config(text);
});
