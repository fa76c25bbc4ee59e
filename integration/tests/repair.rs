//! `twinbox repair` and UID reuse (issue 8, points 3 and 4): a folder whose UIDVALIDITY
//! changed, or whose UIDNEXT went back (a Maildir restored from a backup), is refused by
//! `twinbox sync` with a pointer to `twinbox repair`, which pairs the folder again by
//! content: what matched is not copied again (the local files keep their inodes), what is
//! on one side only is copied, and nothing is lost or duplicated.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use twinbox_integration::dovecot::*;
use twinbox_integration::*;

const USER: &str = "alice";

/// The one error line of `folder`.
#[track_caller]
fn folder_error<'a>(outcome: &'a Outcome, folder: &str) -> &'a str {
    let errors = outcome.folder_errors(folder);
    assert_eq!(errors.len(), 1, "one error line for {folder}\n{outcome}");
    errors[0]
}

/// The contents of `folder` on the server (CRLF -> LF) -> flag letters, after checking that
/// the local Maildir folder `dir` holds the same (neither side has a duplicate: the maps
/// panic on one).
#[track_caller]
fn assert_converged(dovecot: &Dovecot, folder: &str, dir: &Path) -> BTreeMap<Vec<u8>, String> {
    assert_folder_matches(dovecot, USER, folder, dir);
    assert_eq!(
        dovecot.fetch_all(USER, folder).len(),
        messages(dir).len(),
        "{folder}: the server and the Maildir hold different numbers of messages"
    );
    folder_map(dir)
}

#[test]
fn repair_after_the_server_recreated_a_folder_pairs_by_content_and_copies_only_the_new() {
    let dovecot = Dovecot::start_default();
    dovecot.deliver(USER, "INBOX", &message("inbox-1"), &[]);
    for (tag, letters) in [
        ("other-1", ""),
        ("other-2", "S"),
        ("other-3", "FS"),
        ("other-4", "RS"),
    ] {
        dovecot.deliver(USER, "Other", &message(tag), &imap_flags(letters));
    }
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER));
    sync_ok(&sandbox, &[]);
    let other = sandbox.local().join("Other");
    let synced_files = files_by_inode(&sandbox.local());
    assert_eq!(synced_files.len(), 5);

    // A server migration: the folder is recreated with the same messages (new UIDs, a new
    // UIDVALIDITY); meanwhile a message arrives on each side.
    dovecot.recreate_folder(USER, "Other");
    dovecot.deliver(USER, "Other", &message("other-server-new"), &[]);
    deliver_new(&other, &message("other-local-new"));
    // And flags change on both sides: repair keeps both sides' (their union).
    set_flags(&find_message(&other, &message("other-1")), "F");
    let recreated_uid = |tag: &str| {
        dovecot
            .fetch_all(USER, "Other")
            .into_iter()
            .find(|m| crlf_to_lf(&m.body) == message(tag))
            .unwrap_or_else(|| panic!("{tag} is not on the server"))
            .uid
    };
    dovecot.set_flags(
        USER,
        "Other",
        recreated_uid("other-2"),
        &["\\Seen", "\\Answered"],
    );

    let outcome = sync_code(&sandbox, &[], 1);
    let error = folder_error(&outcome, "Other");
    assert!(
        error.contains("UIDVALIDITY")
            && error.contains(&format!("twinbox repair -a {ACCOUNT} -f Other")),
        "the error should name the command that repairs the folder\n{outcome}"
    );
    assert!(outcome.folder_errors("INBOX").is_empty(), "{outcome}");

    // A dry run says what it would do and changes nothing, not even the state.
    let frozen = Frozen::of(&sandbox);
    let server_before = dovecot.server_snapshot(USER, &["INBOX", "Other"]);
    let outcome = run_twinbox(
        &sandbox,
        &["repair", "-a", ACCOUNT, "-f", "Other", "--dry-run"],
    );
    outcome.assert_success();
    let line = outcome.folder_line("Other");
    for part in [
        "1 would be copied to local",
        "1 would be copied to remote",
        "1 flag update would be made on local",
        "1 flag update would be made on remote",
        "4 would be paired by content",
    ] {
        assert!(line.contains(part), "no {part:?} in the dry run\n{outcome}");
    }
    frozen.assert_unchanged();
    assert_eq!(
        dovecot.server_snapshot(USER, &["INBOX", "Other"]),
        server_before
    );
    sync_code(&sandbox, &[], 1);

    let outcome = run_twinbox(&sandbox, &["repair", "-a", ACCOUNT, "-f", "Other"]);
    outcome.assert_success();
    assert!(
        outcome.account_line(ACCOUNT).ends_with(
            ": 2 messages copied (1 to local, 1 to remote), 2 flag updates, 0 deletions, \
             0 folders created, 4 paired by content"
        ),
        "{outcome}"
    );
    let line = outcome.folder_line("Other");
    for part in [
        "1 copied to local",
        "1 copied to remote",
        "4 paired by content",
    ] {
        assert!(line.contains(part), "no {part:?}\n{outcome}");
    }
    // Nothing that matched was downloaded again: the same files, the same bytes.
    let after = files_by_inode(&sandbox.local());
    for (inode, file) in &synced_files {
        assert_eq!(after.get(inode), Some(file), "a synced file was replaced");
    }
    let converged = assert_converged(&dovecot, "Other", &other);
    let expected: BTreeMap<Vec<u8>, String> = [
        ("other-1", "F"),
        ("other-2", "RS"),
        ("other-3", "FS"),
        ("other-4", "RS"),
        ("other-server-new", ""),
        ("other-local-new", ""),
    ]
    .iter()
    .map(|(tag, letters)| (message(tag), letters.to_string()))
    .collect();
    assert_eq!(converged, expected);
    assert_no_changes(&sandbox);
}

/// `cp -a FROM TO`.
fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("run cp");
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

#[test]
fn a_maildir_folder_restored_from_a_backup_is_refused_then_repaired_without_loss() {
    let dovecot = Dovecot::start_default();
    for tag in ["inbox-1", "inbox-2", "inbox-3"] {
        dovecot.deliver(USER, "INBOX", &message(tag), &["\\Seen"]);
    }
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER));
    sync_ok(&sandbox, &[]);
    let inbox = sandbox.local().join("INBOX");
    // The backup: the folder with its UID counter (the Maildir plugin keeps it inside).
    let backup = sandbox.path().join("backup-INBOX");
    copy_tree(&inbox, &backup);

    for tag in ["local-1", "local-2", "local-3"] {
        deliver_new(&inbox, &message(tag));
    }
    let outcome = sync_ok(&sandbox, &[]);
    assert!(
        outcome
            .account_line(ACCOUNT)
            .contains("3 messages copied (0 to local, 3 to remote)"),
        "{outcome}"
    );
    assert_eq!(dovecot.fetch_all(USER, "INBOX").len(), 6);

    // The disk is restored from the backup, then a new message is delivered.
    std::fs::remove_dir_all(&inbox).expect("remove the folder");
    copy_tree(&backup, &inbox);
    deliver_new(&inbox, &message("local-after-restore"));
    let local_before = folder_map(&inbox);
    let server_before = dovecot.server_snapshot(USER, &["INBOX"]);

    let outcome = sync_code(&sandbox, &[], 1);
    let error = folder_error(&outcome, "INBOX");
    assert!(
        error.contains("UIDNEXT") && error.contains("twinbox repair"),
        "the error should say that UIDs went back and name twinbox repair\n{outcome}"
    );
    assert_eq!(
        dovecot.server_snapshot(USER, &["INBOX"]),
        server_before,
        "the refused folder changed on the server"
    );
    assert_eq!(
        folder_map(&inbox),
        local_before,
        "the refused folder changed locally"
    );

    let outcome = run_twinbox(&sandbox, &["repair", "-a", ACCOUNT, "-f", "INBOX"]);
    outcome.assert_success();
    assert!(
        outcome.account_line(ACCOUNT).ends_with(
            ": 4 messages copied (3 to local, 1 to remote), 0 flag updates, 0 deletions, \
             0 folders created, 3 paired by content"
        ),
        "{outcome}"
    );
    let converged = assert_converged(&dovecot, "INBOX", &inbox);
    let expected: BTreeMap<Vec<u8>, String> = [
        ("inbox-1", "S"),
        ("inbox-2", "S"),
        ("inbox-3", "S"),
        ("local-1", ""),
        ("local-2", ""),
        ("local-3", ""),
        ("local-after-restore", ""),
    ]
    .iter()
    .map(|(tag, letters)| (message(tag), letters.to_string()))
    .collect();
    assert_eq!(converged, expected, "a message was lost or duplicated");
    assert_no_changes(&sandbox);
}
