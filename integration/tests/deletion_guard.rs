//! The mass-deletion guard and untrusted listings (issue 8, point 2): a folder emptied (or
//! mostly emptied) on one side is not emptied on the other without a confirmation, and a
//! server listing that cannot be trusted is never read as deletions. The rest of the
//! account syncs; `twinbox sync --allow-deletions` applies exactly what the guard refused.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use twinbox_integration::dovecot::*;
use twinbox_integration::*;

const USER: &str = "alice";

/// A distinct message of `folder`.
fn numbered(folder: &str, n: usize) -> Vec<u8> {
    message(&format!("{folder}-{n}"))
}

/// A Dovecot whose `folder` holds `count` messages (some seen) and whose INBOX holds one,
/// and a sandbox with `account_options` synced with it once.
fn synced(folder: &str, count: usize, account_options: &str) -> (Dovecot, Sandbox) {
    let dovecot = Dovecot::start_default();
    dovecot.deliver(USER, "INBOX", &message("inbox-1"), &[]);
    for n in 0..count {
        let flags: &[&str] = if n % 3 == 0 { &["\\Seen"] } else { &[] };
        dovecot.deliver(USER, folder, &numbered(folder, n), flags);
    }
    let sandbox = maildir_imap_sandbox(account_options, &dovecot.tls_repository(USER));
    sync_ok(&sandbox, &[]);
    assert_folder_matches(&dovecot, USER, folder, &sandbox.local().join(folder));
    (dovecot, sandbox)
}

/// Removes the message files of `folder` whose number is in `which`, as `rm` does.
fn remove_local(dir: &Path, folder: &str, which: impl IntoIterator<Item = usize>) {
    for n in which {
        fs::remove_file(find_message(dir, &numbered(folder, n))).expect("unlink a message");
    }
}

/// Expunges the server messages of `folder` whose number is in `which`.
fn expunge_on_server(dovecot: &Dovecot, folder: &str, which: impl IntoIterator<Item = usize>) {
    let on_server = dovecot.fetch_all(USER, folder);
    for n in which {
        let content = numbered(folder, n);
        let uid = on_server
            .iter()
            .find(|m| crlf_to_lf(&m.body) == content)
            .unwrap_or_else(|| panic!("{folder}-{n} is not on the server"))
            .uid;
        dovecot.expunge(USER, folder, uid);
    }
}

/// The one error line of `folder`, checked to be the guard's: how many of how many, on
/// which side, and how to confirm.
#[track_caller]
fn assert_guard_error(outcome: &Outcome, folder: &str, deleted: usize, of: usize, side: &str) {
    let errors = outcome.folder_errors(folder);
    assert_eq!(errors.len(), 1, "one error line for {folder}\n{outcome}");
    let line = errors[0];
    for part in [
        "deletion guard".to_owned(),
        format!("{deleted} of {of} messages"),
        side.to_owned(),
        "--allow-deletions".to_owned(),
    ] {
        assert!(
            line.contains(&part),
            "the guard's error line should contain {part:?}\n{outcome}"
        );
    }
}

/// The local INBOX holds what the server's does.
#[track_caller]
fn assert_inbox_synced(dovecot: &Dovecot, sandbox: &Sandbox) {
    assert_folder_matches(dovecot, USER, "INBOX", &sandbox.local().join("INBOX"));
}

#[test]
fn an_emptied_local_folder_does_not_empty_the_server_until_confirmed() {
    let (dovecot, sandbox) = synced("Archive", 25, "");
    let archive = sandbox.local().join("Archive");
    // `rm ~/Mail/Archive/cur/* ~/Mail/Archive/new/*`, the folder kept.
    for file in messages(&archive) {
        fs::remove_file(&file.path).expect("unlink a message");
    }
    dovecot.deliver(USER, "INBOX", &message("inbox-2"), &["\\Seen"]);
    let server_before = dovecot.server_snapshot(USER, &["Archive"]);

    for run in 1..=2 {
        let outcome = sync_code(&sandbox, &[], 1);
        assert_guard_error(&outcome, "Archive", 25, 25, "remote");
        // The whole folder stopped: nothing deleted on the server, nothing brought back.
        assert_eq!(
            dovecot.server_snapshot(USER, &["Archive"]),
            server_before,
            "run {run}"
        );
        assert!(messages(&archive).is_empty(), "run {run}: files came back");
        // The other folder synced in the same run.
        assert_inbox_synced(&dovecot, &sandbox);
        assert_eq!(messages(&sandbox.local().join("INBOX")).len(), 2);
    }

    let outcome = run_twinbox(
        &sandbox,
        &["sync", "-a", ACCOUNT, "-f", "Archive", "--allow-deletions"],
    );
    outcome.assert_success();
    assert!(
        outcome.account_line(ACCOUNT).contains(", 25 deletions"),
        "{outcome}"
    );
    assert!(dovecot.fetch_all(USER, "Archive").is_empty());
    assert!(dovecot.folders(USER).contains(&"Archive".to_owned()));
    assert_no_changes(&sandbox);
}

#[test]
fn an_emptied_server_folder_does_not_empty_the_local_one_until_confirmed() {
    let (dovecot, sandbox) = synced("Archive", 25, "");
    let archive = sandbox.local().join("Archive");
    dovecot.expunge_all(USER, "Archive");
    dovecot.deliver(USER, "INBOX", &message("inbox-2"), &[]);
    let local_before = message_files(&archive);

    let outcome = sync_code(&sandbox, &[], 1);
    assert_guard_error(&outcome, "Archive", 25, 25, "local");
    assert_eq!(message_files(&archive), local_before, "local files changed");
    assert!(
        dovecot.fetch_all(USER, "Archive").is_empty(),
        "messages were uploaded again"
    );
    assert_inbox_synced(&dovecot, &sandbox);

    let outcome = run_twinbox(
        &sandbox,
        &["sync", "-a", ACCOUNT, "-f", "Archive", "--allow-deletions"],
    );
    outcome.assert_success();
    assert!(
        outcome.account_line(ACCOUNT).contains(", 25 deletions"),
        "{outcome}"
    );
    assert!(messages(&archive).is_empty());
    assert!(archive.join("cur").is_dir(), "the folder itself is kept");
    assert_no_changes(&sandbox);
}

#[test]
fn deletionguard_0_turns_the_guard_off() {
    let (dovecot, sandbox) = synced("Archive", 25, "deletionguard = 0");
    for file in messages(&sandbox.local().join("Archive")) {
        fs::remove_file(&file.path).expect("unlink a message");
    }
    let outcome = sync_ok(&sandbox, &[]);
    assert!(
        outcome.account_line(ACCOUNT).contains(", 25 deletions"),
        "{outcome}"
    );
    assert!(dovecot.fetch_all(USER, "Archive").is_empty());
    assert_no_changes(&sandbox);
}

#[test]
fn more_than_half_of_a_large_folder_is_refused_small_folders_and_smaller_shares_are_not() {
    let dovecot = Dovecot::start_default();
    // Big: 30 messages, 16 deleted locally (53%): refused. Half: 30, 15 deleted on the
    // server (50%, not more): applied. Small: 4, all deleted locally (fewer than 5):
    // applied. Twenty: 20, 15 deleted locally (75% of a folder of only 20): applied.
    for (folder, count) in [("Big", 30), ("Half", 30), ("Small", 4), ("Twenty", 20)] {
        for n in 0..count {
            dovecot.deliver(USER, folder, &numbered(folder, n), &[]);
        }
    }
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER));
    sync_ok(&sandbox, &[]);
    let local = sandbox.local();
    remove_local(&local.join("Big"), "Big", 0..16);
    expunge_on_server(&dovecot, "Half", 0..15);
    remove_local(&local.join("Small"), "Small", 0..4);
    remove_local(&local.join("Twenty"), "Twenty", 0..15);
    let big_before = dovecot.server_snapshot(USER, &["Big"]);

    let outcome = sync_code(&sandbox, &[], 1);
    assert_guard_error(&outcome, "Big", 16, 30, "remote");
    assert_eq!(dovecot.server_snapshot(USER, &["Big"]), big_before);
    assert_eq!(messages(&local.join("Big")).len(), 14);
    for (folder, left) in [("Half", 15), ("Small", 0), ("Twenty", 5)] {
        assert!(
            outcome.folder_errors(folder).is_empty(),
            "{folder} should sync\n{outcome}"
        );
        assert_folder_matches(&dovecot, USER, folder, &local.join(folder));
        assert_eq!(messages(&local.join(folder)).len(), left, "{folder}");
    }

    // One more deletion since the refusal: the confirmation no longer matches what the
    // guard showed, so it is refused too, and nothing is deleted.
    remove_local(&local.join("Big"), "Big", [16]);
    let outcome = run_twinbox(
        &sandbox,
        &["sync", "-a", ACCOUNT, "-f", "Big", "--allow-deletions"],
    );
    outcome.assert_code(1);
    assert_guard_error(&outcome, "Big", 17, 30, "remote");
    assert_eq!(dovecot.server_snapshot(USER, &["Big"]), big_before);

    // Shown again, then confirmed: exactly those 17 go.
    let outcome = sync_code(&sandbox, &["-f", "Big"], 1);
    assert_guard_error(&outcome, "Big", 17, 30, "remote");
    let outcome = run_twinbox(
        &sandbox,
        &["sync", "-a", ACCOUNT, "-f", "Big", "--allow-deletions"],
    );
    outcome.assert_success();
    assert!(
        outcome.account_line(ACCOUNT).contains(", 17 deletions"),
        "{outcome}"
    );
    assert_folder_matches(&dovecot, USER, "Big", &local.join("Big"));
    assert_eq!(dovecot.fetch_all(USER, "Big").len(), 13);
    assert_no_changes(&sandbox);
}

#[test]
fn deletionguard_sets_the_share() {
    let (dovecot, sandbox) = synced("Big", 50, "deletionguard = 60");
    let big = sandbox.local().join("Big");
    // 28 of 50 (56%) is within 60%.
    remove_local(&big, "Big", 0..28);
    let outcome = sync_ok(&sandbox, &[]);
    assert!(
        outcome.account_line(ACCOUNT).contains(", 28 deletions"),
        "{outcome}"
    );
    assert_eq!(dovecot.fetch_all(USER, "Big").len(), 22);
    // 14 of the 22 left (64%) is not.
    remove_local(&big, "Big", 28..42);
    let outcome = sync_code(&sandbox, &[], 1);
    assert_guard_error(&outcome, "Big", 14, 22, "remote");
    assert_eq!(dovecot.fetch_all(USER, "Big").len(), 22);
}

#[test]
fn a_listing_without_rfc822_size_fails_the_folder_and_deletes_nothing() {
    // A server without CONDSTORE, so that every sync lists Lists in full (with QRESYNC the
    // unchanged UID 5 is known from the state and its size never asked for).
    let dovecot = Dovecot::start(DovecotOptions {
        imap_capability: Some(format!("{MINIMAL_CAPABILITY} UIDPLUS")),
        ..DovecotOptions::default()
    });
    dovecot.deliver(USER, "INBOX", &message("inbox-1"), &[]);
    for n in 0..5 {
        dovecot.deliver(USER, "Lists", &numbered("Lists", n), &["\\Seen"]);
    }
    let sandbox =
        maildir_imap_sandbox("", &dovecot.plaintext_repository(USER, dovecot.imap_port()));
    sync_ok(&sandbox, &[]);
    let lists = sandbox.local().join("Lists");
    assert_folder_matches(&dovecot, USER, "Lists", &lists);

    // From now on the server "forgets" the size of Lists' UID 5 (INBOX has no UID 5).
    let proxy = dovecot.proxy(ProxyOptions {
        strip_rfc822_size: StripSize::Uid(5),
        ..ProxyOptions::default()
    });
    sandbox.write_config(&maildir_imap_config(
        &sandbox,
        "",
        &dovecot.plaintext_repository(USER, proxy.port()),
    ));
    dovecot.deliver(USER, "INBOX", &message("inbox-2"), &[]);
    deliver_new(&lists, &numbered("Lists", 99));
    let local_before: BTreeMap<Vec<u8>, String> = folder_map(&lists);
    let server_before = dovecot.server_snapshot(USER, &["Lists"]);

    let outcome = sync_code(&sandbox, &[], 1);
    assert!(
        proxy.sizes_stripped() >= 1,
        "the proxy stripped nothing\n{outcome}"
    );
    let errors = outcome.folder_errors("Lists");
    assert!(
        errors.len() == 1 && errors[0].contains("RFC822.SIZE"),
        "Lists should fail naming RFC822.SIZE\n{outcome}"
    );
    assert_eq!(folder_map(&lists), local_before, "the local Lists changed");
    assert_eq!(messages(&lists).len(), 6);
    assert_eq!(
        dovecot.server_snapshot(USER, &["Lists"]),
        server_before,
        "Lists changed on the server"
    );
    assert!(outcome.folder_errors("INBOX").is_empty(), "{outcome}");
    assert_inbox_synced(&dovecot, &sandbox);
}
