//! Independent readers: the tests of the third-party plugins (mbox, MH) check what twinbox
//! wrote with Python's `mailbox` module, which shares no code with twinbox. This is the one
//! way they run it and read its answer.

use std::path::Path;
use std::process::Command;

/// Runs `python3 -c SCRIPT PATH` and returns what it printed. `None` when python3 cannot be
/// started (the caller skips its independent check and says so); panics, with Python's
/// stderr, when the script fails or prints something that is not UTF-8.
pub fn run_python(script: &str, path: &Path) -> Option<String> {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).expect("ASCII"))
}

/// The bytes written as hex digits, two a byte, as Python's `bytes.hex()` prints them.
/// Panics on anything else.
pub fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}
