#![no_main]
// The first five bytes give the UID and the flags to set; the rest is the file name.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let uid = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    if let Ok(name) = std::str::from_utf8(&data[5..]) {
        twinbox_maildir::fuzzing::file_name(name, uid, data[4]);
    }
});
