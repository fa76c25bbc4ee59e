//! `layout = maildir++` against the real thing: Dovecot's default `maildir:~/Maildir` IS
//! Maildir++, so a tree twinbox writes in that layout must be served by Dovecot as the
//! same folders, messages and flags, and a tree Dovecot wrote must be read by twinbox.
//! (issue 10, Deliver item 4)

use std::fs;
use std::path::Path;
use std::process::Command;

use twinbox_integration::dovecot::{assert_no_changes, sync_ok, Dovecot, DovecotOptions};
use twinbox_integration::{message, repository_section, Sandbox};

/// The folders of the test account, in twinbox's spelling: nested, non-ASCII, and a
/// child of INBOX (`.INBOX.Sub` on disk).
const FOLDERS: [&str; 5] = ["INBOX", "INBOX/Sub", "Sent", "Work/Projects", "Ärger"];

/// A Dovecot without TLS whose `alice` holds messages with various flags in [`FOLDERS`].
fn server_with_mail() -> Dovecot {
    let dovecot = Dovecot::start(DovecotOptions {
        tls: false,
        ..DovecotOptions::default()
    });
    let flags: [&[&str]; 3] = [&[], &["\\Seen"], &["\\Seen", "\\Flagged", "\\Answered"]];
    for (index, folder) in FOLDERS.iter().enumerate() {
        for (n, flags) in flags.iter().enumerate().take(1 + index % 3) {
            dovecot.deliver("alice", folder, &message(&format!("{folder}-{n}")), flags);
        }
    }
    dovecot
}

/// A config syncing the Maildir++ tree `root` (local) with `user` on `dovecot` (remote).
fn plus_plus_sandbox(dovecot: &Dovecot, user: &str, root: &Path) -> Sandbox {
    let sandbox = Sandbox::new();
    let local = repository_section(
        "Local",
        &format!(
            "type = Maildir\nlocalfolders = {}\nlayout = maildir++\n",
            root.display()
        ),
    );
    let remote = dovecot
        .plaintext_repository(user, dovecot.imap_port())
        .section("Remote");
    sandbox.write_config(&sandbox.account_config("Test", "", &local, &remote));
    sandbox
}

/// Panics unless `a` and `b` have the same folders on the server, each with the same
/// messages and flags.
#[track_caller]
fn assert_same_mail(dovecot: &Dovecot, a: &str, b: &str) {
    assert_eq!(
        dovecot.folders(a),
        dovecot.folders(b),
        "folders of {a} and {b}"
    );
    // Parents such as `Work` are listed without being folders: compare the folders.
    for folder in FOLDERS {
        assert_eq!(
            dovecot.folder_map(a, folder),
            dovecot.folder_map(b, folder),
            "{folder} of {a} and {b}"
        );
    }
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(status.success(), "{program} {args:?}: {status}");
}

#[test]
fn dovecot_serves_a_maildir_plus_plus_tree_twinbox_wrote() {
    let dovecot = server_with_mail();
    // twinbox writes bob's mail store itself, from alice's mail.
    let bob = dovecot.user_mail_dir("bob");
    let sandbox = plus_plus_sandbox(&dovecot, "alice", &bob);
    sync_ok(&sandbox, &[]);
    for directory in [
        "cur",
        ".INBOX.Sub/cur",
        ".Sent/new",
        ".Work.Projects",
        ".&AMQ-rger",
    ] {
        assert!(bob.join(directory).is_dir(), "{directory}");
    }
    assert!(bob.join(".Work.Projects/maildirfolder").is_file());
    assert!(!bob.join("INBOX").exists());

    // Dovecot's mail processes run as the mail user: give bob's home to it, as its
    // parent is.
    let home = bob.parent().expect("bob's home");
    let reference = format!("--reference={}", home.parent().expect("homes").display());
    run("chown", &["-R", &reference, &home.display().to_string()]);
    assert_same_mail(&dovecot, "alice", "bob");
    for folder in FOLDERS {
        assert!(
            dovecot.folders("bob").iter().any(|f| f == folder),
            "{folder} in {:?}",
            dovecot.folders("bob")
        );
    }

    // A flag set and a message delivered through Dovecot come back to alice.
    let uid = dovecot.deliver("bob", "Work/Projects", &message("from-bob"), &["\\Seen"]);
    dovecot.set_flags("bob", "INBOX", 1, &["\\Flagged"]);
    assert!(uid > 0);
    sync_ok(&sandbox, &[]);
    assert_same_mail(&dovecot, "alice", "bob");
    assert_no_changes(&sandbox);
}

#[test]
fn twinbox_reads_a_maildir_plus_plus_tree_dovecot_wrote() {
    let dovecot = server_with_mail();
    // A copy of the tree Dovecot wrote for alice (its own index files included), synced
    // with bob's empty account: bob must end with alice's mail.
    let sandbox_dir = tempfile::tempdir().expect("a temporary directory");
    let copy = sandbox_dir.path().join("Maildir");
    run(
        "cp",
        &[
            "-a",
            &dovecot.user_mail_dir("alice").display().to_string(),
            &copy.display().to_string(),
        ],
    );
    assert!(copy.join("cur").is_dir() && copy.join(".Work.Projects").is_dir());
    assert!(
        copy.join(".&AMQ-rger").is_dir(),
        "Dovecot writes modified UTF-7"
    );
    let sandbox = plus_plus_sandbox(&dovecot, "bob", &copy);
    sync_ok(&sandbox, &[]);
    assert_same_mail(&dovecot, "alice", "bob");
    assert_no_changes(&sandbox);
    // The local tree is still one Dovecot reads: nothing was added beside its folders.
    let mut dirs: Vec<String> = fs::read_dir(&copy)
        .expect("list the copy")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(
        dirs,
        [
            ".&AMQ-rger",
            ".INBOX.Sub",
            ".Sent",
            ".Work.Projects",
            "cur",
            "new",
            "tmp"
        ]
    );
}
