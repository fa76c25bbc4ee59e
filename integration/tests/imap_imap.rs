//! IMAP <-> IMAP (issue 3, sections 4 and 5): two users of a real Dovecot mirror each
//! other both ways, message bytes, flags and INTERNALDATEs identical.

use std::collections::BTreeMap;

use twinbox_integration::dovecot::*;
use twinbox_integration::*;

/// One user's whole mailbox: folder -> exact BODY[] -> (flag letters, INTERNALDATE).
type Mirror = BTreeMap<String, BTreeMap<Vec<u8>, (String, i64)>>;

fn mirror(dovecot: &Dovecot, user: &str, folders: &[&str]) -> Mirror {
    folders
        .iter()
        .map(|folder| {
            let messages = dovecot
                .fetch_all(user, folder)
                .into_iter()
                .map(|m| {
                    let date = m.internal_date_unix();
                    (m.body.clone(), (m.flag_letters(), date))
                })
                .collect();
            (folder.to_string(), messages)
        })
        .collect()
}

/// A sandbox whose account mirrors bob (local) and alice (remote), both over TLS.
fn bob_and_alice(dovecot: &Dovecot) -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write_config(&imap_imap_config(
        &sandbox,
        "",
        &dovecot.tls_repository("bob"),
        &dovecot.tls_repository("alice"),
    ));
    sandbox
}

#[test]
fn two_users_mirror_each_other_both_ways() {
    let dovecot = Dovecot::start_default();
    let dated = |user: &str, folder: &str, tag: &str, flags: &[&str], date: &str| {
        dovecot.deliver_dated(user, folder, &message(tag), flags, Some(date));
    };
    // alice (remote): several folders, nested and non-ASCII; bob (local): his own mail.
    dated(
        "alice",
        "INBOX",
        "alice-inbox-1",
        &[],
        "01-Feb-2021 10:00:00 +0000",
    );
    dated(
        "alice",
        "INBOX",
        "alice-inbox-2",
        &["\\Seen", "\\Answered"],
        "02-Feb-2021 10:00:00 +0100",
    );
    dated(
        "alice",
        "Work/Projects",
        "alice-work-1",
        &["\\Flagged"],
        "03-Feb-2021 10:00:00 +0000",
    );
    dated(
        "alice",
        "Caf\u{e9} & Bar",
        "alice-cafe-1",
        &["$Forwarded"],
        "04-Feb-2021 10:00:00 +0000",
    );
    dated(
        "bob",
        "INBOX",
        "bob-inbox-1",
        &["\\Seen"],
        "05-Feb-2021 10:00:00 +0000",
    );
    dated(
        "bob",
        "Bob Only/\u{65e5}\u{672c}",
        "bob-nihon-1",
        &["\\Draft"],
        "06-Feb-2021 10:00:00 +0000",
    );
    let folders = [
        "INBOX",
        "Work/Projects",
        "Caf\u{e9} & Bar",
        "Bob Only/\u{65e5}\u{672c}",
    ];

    let sandbox = bob_and_alice(&dovecot);
    let outcome = sync_ok(&sandbox, &[]);
    assert!(
        outcome
            .account_line(ACCOUNT)
            .contains("6 messages copied (4 to local, 2 to remote)"),
        "{outcome}"
    );
    let alice = mirror(&dovecot, "alice", &folders);
    assert_eq!(
        alice,
        mirror(&dovecot, "bob", &folders),
        "alice and bob differ"
    );
    assert_eq!(alice.values().map(BTreeMap::len).sum::<usize>(), 6);
    for folder in folders {
        assert!(dovecot.folders("alice").contains(&folder.to_owned()));
        assert!(dovecot.folders("bob").contains(&folder.to_owned()));
    }
    assert_no_changes(&sandbox);

    // Changes on both sides: flags, a deletion, a new message each.
    let uid = |user: &str, folder: &str, tag: &str| {
        dovecot
            .fetch_all(user, folder)
            .into_iter()
            .find(|m| crlf_to_lf(&m.body) == message(tag))
            .unwrap_or_else(|| panic!("{tag} not found for {user}"))
            .uid
    };
    dovecot.set_flags(
        "bob",
        "INBOX",
        uid("bob", "INBOX", "alice-inbox-1"),
        &["\\Flagged"],
    );
    dovecot.set_flags("alice", "INBOX", uid("alice", "INBOX", "bob-inbox-1"), &[]);
    dovecot.expunge(
        "alice",
        "Work/Projects",
        uid("alice", "Work/Projects", "alice-work-1"),
    );
    dovecot.expunge(
        "bob",
        "Caf\u{e9} & Bar",
        uid("bob", "Caf\u{e9} & Bar", "alice-cafe-1"),
    );
    dated(
        "bob",
        "Work/Projects",
        "bob-work-new",
        &["\\Seen"],
        "07-Feb-2021 10:00:00 +0000",
    );
    dated(
        "alice",
        "Bob Only/\u{65e5}\u{672c}",
        "alice-nihon-new",
        &[],
        "08-Feb-2021 10:00:00 +0000",
    );

    sync_ok(&sandbox, &[]);
    let alice = mirror(&dovecot, "alice", &folders);
    assert_eq!(
        alice,
        mirror(&dovecot, "bob", &folders),
        "alice and bob differ"
    );
    let letters = |folder: &str, tag: &str| -> Option<String> {
        alice[folder]
            .iter()
            .find(|(body, _)| crlf_to_lf(body) == message(tag))
            .map(|(_, (flags, _))| flags.clone())
    };
    assert_eq!(letters("INBOX", "alice-inbox-1").as_deref(), Some("F"));
    assert_eq!(letters("INBOX", "bob-inbox-1").as_deref(), Some(""));
    assert_eq!(letters("Work/Projects", "alice-work-1"), None);
    assert_eq!(letters("Caf\u{e9} & Bar", "alice-cafe-1"), None);
    assert_eq!(
        letters("Work/Projects", "bob-work-new").as_deref(),
        Some("S")
    );
    assert_eq!(
        letters("Bob Only/\u{65e5}\u{672c}", "alice-nihon-new").as_deref(),
        Some("")
    );
    assert_no_changes(&sandbox);
}

/// Issue 9: a migration of several batches between two users (700 messages of 3 KB; the
/// engine's batches hold at most 256). The source reads batches ahead while the
/// destination's APPENDs of one batch travel as the next is read: every message arrives
/// once, byte for byte, with its flags and INTERNALDATE.
#[test]
fn a_migration_of_several_batches_with_reads_ahead_and_pipelined_appends_is_exact() {
    let dovecot = Dovecot::start_default();
    // alice's INBOX is filled by an upload from a Maildir (pipelined too).
    let upload = maildir_imap_sandbox(
        "",
        &dovecot.plaintext_repository("alice", dovecot.imap_port()),
    );
    let inbox = create_folder(&upload.local().join("INBOX"));
    for n in 0..700 {
        let mut content = message(&format!("migrated-{n}"));
        while content.len() < 3_000 {
            content.extend_from_slice(format!("migrated-{n} padding line\n").as_bytes());
        }
        deliver_cur(&inbox, &content, if n % 4 == 0 { "S" } else { "" });
    }
    sync_ok(&upload, &[]);
    let alice = mirror(&dovecot, "alice", &["INBOX"]);
    assert_eq!(alice["INBOX"].len(), 700);

    let sandbox = bob_and_alice(&dovecot);
    let outcome = sync_code(&sandbox, &["-vv"], 0);
    assert!(
        outcome
            .account_line(ACCOUNT)
            .contains("700 messages copied (700 to local, 0 to remote)"),
        "{outcome}"
    );
    // The IMAP backend's debug lines of what it sent without waiting for the answers.
    let sent_ahead = |command: &str| {
        outcome
            .stderr
            .lines()
            .filter(|l| l.contains("sent ahead") && l.contains(command))
            .count()
    };
    assert!(
        sent_ahead("APPEND") >= 3 && sent_ahead("FETCH") >= 2,
        "{}",
        outcome.stderr
    );
    assert_eq!(mirror(&dovecot, "bob", &["INBOX"]), alice, "bob differs");
    assert_eq!(dovecot.fetch_all("bob", "INBOX").len(), 700, "duplicates");
    assert_no_changes(&sandbox);
}
