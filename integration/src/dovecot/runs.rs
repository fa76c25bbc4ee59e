//! Running twinbox against a test Dovecot: with the IMAP plugin required and a timeout, so
//! a hung sync fails its test instead of hanging the suite.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::{target_dir, Outcome, Sandbox};

use super::ACCOUNT;

/// The file name of the IMAP plugin, as `cargo build --workspace` leaves it.
pub const IMAP_PLUGIN: &str = "libtwinbox_imap.so";

/// How long a twinbox run may take in a test before it is killed as hung.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Panics with a clear message unless the IMAP plugin has been built next to twinbox.
pub fn require_imap_plugin() -> PathBuf {
    let path = target_dir().join(IMAP_PLUGIN);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// Runs `twinbox -c CONFIG --plugin-dir TARGET ARGS` in `sandbox`, killing it (and
/// panicking with what it said) if it runs longer than [`RUN_TIMEOUT`]. With
/// `TWINBOX_E2E_SHOW` set in the environment, every run's output is printed (use with
/// `--nocapture`).
pub fn run_twinbox(sandbox: &Sandbox, args: &[&str]) -> Outcome {
    require_imap_plugin();
    let mut child = sandbox.command(args).spawn().expect("start twinbox");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        match child.try_wait().expect("wait for twinbox") {
            Some(status) => break Some(status),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let outcome = Outcome {
        code: status.and_then(|s| s.code()),
        stdout: String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned(),
    };
    assert!(
        status.is_some(),
        "twinbox {args:?} ran longer than {RUN_TIMEOUT:?} and was killed\n{outcome}"
    );
    if std::env::var_os("TWINBOX_E2E_SHOW").is_some() {
        eprintln!("twinbox {args:?}\n{outcome}");
    }
    outcome
}

/// `twinbox sync ARGS` that must succeed (exit 0, nothing on stderr).
#[track_caller]
pub fn sync_ok(sandbox: &Sandbox, args: &[&str]) -> Outcome {
    let mut all = vec!["sync"];
    all.extend_from_slice(args);
    let outcome = run_twinbox(sandbox, &all);
    outcome.assert_success();
    outcome
}

/// `twinbox sync ARGS` that must exit with `code`.
#[track_caller]
pub fn sync_code(sandbox: &Sandbox, args: &[&str], code: i32) -> Outcome {
    let mut all = vec!["sync"];
    all.extend_from_slice(args);
    let outcome = run_twinbox(sandbox, &all);
    outcome.assert_code(code);
    outcome
}

/// Panics unless a rerun reports `no changes` for [`ACCOUNT`].
#[track_caller]
pub fn assert_no_changes(sandbox: &Sandbox) {
    let outcome = sync_ok(sandbox, &[]);
    let line = outcome.account_line(ACCOUNT);
    assert!(
        line.ends_with(": no changes"),
        "a rerun should change nothing\n{outcome}"
    );
}
