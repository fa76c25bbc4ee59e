//! A hostile network between twinbox and Dovecot (issue 12, deliver 3): a proxy that cuts
//! the connection in the middle of a response line, stalls, trickles one byte a second, or
//! stops reading an upload.
//! Each ends in a clear error for the folder within the `timeout` given to a command as a
//! whole (not per read), leaves no partial or empty file in any Maildir folder, records
//! nothing for what did not land, and the next run completes. (Cuts in a literal and
//! during APPEND are in `imap_faults.rs`.)

use std::time::{Duration, Instant};

use twinbox_integration::dovecot::*;
use twinbox_integration::*;

const USER: &str = "alice";
/// The `timeout` the tests give twinbox, in seconds.
const TIMEOUT: u64 = 3;

/// The stdout lines about `folder` (`  FOLDER  ERROR: ...`).
fn folder_lines<'a>(outcome: &'a Outcome, folder: &str) -> Vec<&'a str> {
    outcome
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with(&format!("{folder} ")))
        .collect()
}

/// Dovecot with three messages in `Slow` and one in INBOX, a proxy in front of it doing
/// `fault`, and a sandbox syncing through the proxy with `timeout = TIMEOUT`. The first run
/// must fail the Slow folder (and only it) with an error naming `expected`, within `within`;
/// then, the proxy behaving, the next run completes and a further one changes nothing.
fn survive(arm: impl Fn(&Proxy), expected: &str, within: Duration) {
    let dovecot = Dovecot::start_default();
    dovecot.deliver(USER, "INBOX", &message("inbox-1"), &[]);
    for n in 0..3 {
        dovecot.deliver(USER, "Slow", &message(&format!("slow-{n}")), &["\\Seen"]);
    }
    let proxy = dovecot.proxy(ProxyOptions::default());
    let remote = dovecot
        .plaintext_repository(USER, proxy.port())
        .set("timeout", &TIMEOUT.to_string());
    let sandbox = maildir_imap_sandbox("", &remote);
    let local = sandbox.local();
    // INBOX first, alone, so that the fault meets the Slow folder's fetch.
    sync_ok(&sandbox, &["-f", "INBOX"]);
    assert_folder_matches(&dovecot, USER, "INBOX", &local.join("INBOX"));
    arm(&proxy);

    let started = Instant::now();
    let outcome = sync_code(&sandbox, &[], 1);
    let took = started.elapsed();
    assert!(
        proxy.cuts() + proxy.slowed() >= 1,
        "the proxy never did its fault\n{outcome}"
    );
    assert!(
        took < within,
        "the run took {took:?}, more than {within:?}: the timeout is not per command\n{outcome}"
    );
    let lines = folder_lines(&outcome, "Slow");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ERROR") && l.contains(expected)),
        "the Slow folder should fail with an error saying {expected:?}\n{outcome}"
    );
    // Nothing half-written, nothing empty, nothing outside the Maildir layout.
    let slow = local.join("Slow");
    assert_only_whole_messages(&dovecot, USER, "Slow", &local);
    assert_folder_matches(&dovecot, USER, "INBOX", &local.join("INBOX"));

    proxy.set_slow(Slow::No);
    proxy.set_cut_after_fetch_bytes(None);
    sync_ok(&sandbox, &[]);
    assert_folder_matches(&dovecot, USER, "Slow", &slow);
    assert_eq!(messages(&slow).len(), 3);
    assert!(
        tmp_leftovers(&local).is_empty(),
        "{:?}",
        tmp_leftovers(&local)
    );
    assert_no_changes(&sandbox);
}

#[test]
fn a_server_trickling_one_byte_a_second_is_given_up_after_the_timeout() {
    // Before the per-command deadline, each read got `timeout` of its own, and a byte a
    // second kept this run going for about an hour.
    survive(
        |proxy| proxy.set_slow(Slow::Trickle),
        "timeout",
        Duration::from_secs(TIMEOUT * 5),
    );
}

#[test]
fn a_stalled_server_is_given_up_after_the_timeout() {
    survive(
        |proxy| proxy.set_slow(Slow::Stall),
        "timeout",
        Duration::from_secs(TIMEOUT * 5),
    );
}

#[test]
fn a_connection_cut_in_a_response_line_fails_the_folder_cleanly() {
    // 12 bytes into the answer to the body fetch: inside `* 1 FETCH (UID ...`.
    survive(
        |proxy| proxy.set_cut_after_fetch_bytes(Some(12)),
        "closed the connection",
        Duration::from_secs(30),
    );
}

#[test]
fn a_server_that_stops_reading_an_upload_is_given_up_after_the_timeout() {
    let dovecot = Dovecot::start_default();
    let proxy = dovecot.proxy(ProxyOptions::default());
    let remote = dovecot
        .plaintext_repository(USER, proxy.port())
        .set("timeout", &TIMEOUT.to_string());
    let sandbox = maildir_imap_sandbox("", &remote);
    let inbox = create_folder(&sandbox.local().join("INBOX"));
    // 8 MB in all: more than the socket buffers hold, so the writes themselves block.
    let mut expected = std::collections::BTreeMap::new();
    for n in 0..40 {
        let mut content = message(&format!("upload-{n}"));
        while content.len() < 200_000 {
            content.extend_from_slice(format!("upload {n} padding line\n").as_bytes());
        }
        deliver_cur(&inbox, &content, "S");
        expected.insert(content, "S".to_owned());
    }
    proxy.set_stall_uploads(true);
    let started = Instant::now();
    let outcome = sync_code(&sandbox, &[], 1);
    let took = started.elapsed();
    assert!(
        proxy.slowed() >= 1,
        "the proxy never stalled an upload\n{outcome}"
    );
    assert!(
        took < Duration::from_secs(TIMEOUT * 5),
        "the run took {took:?}\n{outcome}"
    );
    assert!(
        folder_lines(&outcome, "INBOX")
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("timeout")),
        "{outcome}"
    );
    assert!(dovecot.fetch_all(USER, "INBOX").is_empty());

    proxy.set_stall_uploads(false);
    sync_ok(&sandbox, &[]);
    assert_eq!(dovecot.folder_map(USER, "INBOX"), expected);
    assert_eq!(folder_map(&inbox), expected);
    assert_no_changes(&sandbox);
}
