//! Running the peer tools (mbsync, offlineimap) in a sandbox, as the migration tests do:
//! with the sandbox's `HOME`, no input, and a failure that shows what the tool said.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::Sandbox;

/// Where Debian's offlineimap3 installs `offlineimap`.
pub const OFFLINEIMAP: &str = "/usr/bin/offlineimap";

/// Runs `program` with `args` in `sandbox`; panics, with its output, unless it succeeds.
pub fn run_peer(sandbox: &Sandbox, program: &str, args: &[&str]) {
    assert!(
        Path::new(program).exists(),
        "{program} is not installed: run scripts/test (it installs isync and offlineimap3)"
    );
    let output = Command::new(program)
        .args(args)
        .current_dir(sandbox.path())
        .env("HOME", sandbox.home())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs the real offlineimap once (`-o`, quiet) with the config `rc`, plus `extra` options.
pub fn run_offlineimap(sandbox: &Sandbox, rc: &Path, extra: &[&str]) {
    let rc = rc.to_str().expect("a UTF-8 path");
    let mut args = vec!["-c", rc, "-o", "-u", "quiet"];
    args.extend_from_slice(extra);
    run_peer(sandbox, OFFLINEIMAP, &args);
}
