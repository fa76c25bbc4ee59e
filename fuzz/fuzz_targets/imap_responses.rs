#![no_main]
// The server's byte stream; the first byte chooses how it is split into reads.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some((chunk, stream)) = data.split_first() {
        twinbox_imap::fuzzing::responses(stream, usize::from(*chunk) + 1);
    }
});
