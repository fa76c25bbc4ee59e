//! Pairing by content (issue 8, point 1): mail that is already on both sides but that the
//! state does not pair (lost state, a Maildir that mbsync or OfflineIMAP wrote, a target
//! that already holds part of the mail) is paired by its bytes, never copied twice, and
//! nothing on either side is rewritten. Messages that only look alike (same Message-ID,
//! other bytes) are not paired unless `pairbymessageid = yes`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use twinbox_integration::dovecot::*;
use twinbox_integration::*;

const USER: &str = "alice";

/// The server side of most tests: folder -> (tag, Maildir flag letters).
const FIXTURE: [(&str, &str, &str); 6] = [
    ("INBOX", "inbox-unread", ""),
    ("INBOX", "inbox-seen", "S"),
    ("INBOX", "inbox-flagged", "FS"),
    ("INBOX", "inbox-answered", "RS"),
    ("Work/Projects", "work-seen", "S"),
    ("Work/Projects", "work-unread", ""),
];

const FOLDERS: [&str; 2] = ["INBOX", "Work/Projects"];

/// Stores [`FIXTURE`] in USER's mailbox.
fn fill_server(dovecot: &Dovecot) {
    for (folder, tag, letters) in FIXTURE {
        dovecot.deliver(USER, folder, &message(tag), &imap_flags(letters));
    }
}

/// The text of a summary line after the folder name (`  INBOX  3 paired by content` ->
/// `3 paired by content`).
fn changes(line: &str, folder: &str) -> String {
    line.trim_start()
        .strip_prefix(folder)
        .unwrap_or(line)
        .trim()
        .to_owned()
}

/// The account line of a run that only paired `paired` messages by content.
fn only_paired(folders: usize, paired: usize) -> String {
    let folders = if folders == 1 {
        "1 folder".to_owned()
    } else {
        format!("{folders} folders")
    };
    format!(
        "Account {ACCOUNT}: synced {folders}: 0 messages copied (0 to local, 0 to remote), \
         0 flag updates, 0 deletions, 0 folders created, {paired} paired by content"
    )
}

/// The number of folders a run synced, from its account line.
fn folder_count(outcome: &Outcome) -> usize {
    let line = outcome.account_line(ACCOUNT);
    // "synced 1 folder: ..." or "synced 3 folders: ...".
    line.split(" folder")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no folder count in {line:?}"))
}

/// Checks the summary of a run that paired the whole [`FIXTURE`] and did nothing else.
#[track_caller]
fn assert_fixture_paired(outcome: &Outcome) {
    assert_eq!(
        outcome.account_line(ACCOUNT),
        only_paired(folder_count(outcome), FIXTURE.len()),
        "{outcome}"
    );
    assert_eq!(
        changes(outcome.folder_line("INBOX"), "INBOX"),
        "4 paired by content",
        "{outcome}"
    );
    assert_eq!(
        changes(outcome.folder_line("Work/Projects"), "Work/Projects"),
        "2 paired by content",
        "{outcome}"
    );
}

#[test]
fn a_maildir_synced_before_whose_state_was_lost_pairs_by_content_and_changes_nothing() {
    let dovecot = Dovecot::start_default();
    fill_server(&dovecot);
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER));
    let outcome = sync_ok(&sandbox, &[]);
    assert!(
        outcome
            .account_line(ACCOUNT)
            .contains("6 messages copied (6 to local, 0 to remote)"),
        "{outcome}"
    );
    let local_before = message_files(&sandbox.local());
    let server_before = dovecot.server_snapshot(USER, &FOLDERS);

    // A new laptop, a changed `metadata`, a deleted ~/.local/share/twinbox.
    fs::remove_dir_all(sandbox.metadata()).expect("remove the metadata directory");
    let outcome = sync_ok(&sandbox, &[]);
    assert_fixture_paired(&outcome);
    // Not a file written, renamed or removed; not a message changed on the server.
    assert_eq!(message_files(&sandbox.local()), local_before);
    assert_eq!(dovecot.server_snapshot(USER, &FOLDERS), server_before);

    assert_no_changes(&sandbox);
    assert_eq!(message_files(&sandbox.local()), local_before);
    assert_eq!(dovecot.server_snapshot(USER, &FOLDERS), server_before);
}

#[test]
fn messages_paired_by_content_get_the_union_of_both_sides_flags() {
    let dovecot = Dovecot::start_default();
    fill_server(&dovecot);
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER));
    sync_ok(&sandbox, &[]);
    fs::remove_dir_all(sandbox.metadata()).expect("remove the metadata directory");

    // While no state pairs them, each side's flags change: the state cannot tell which
    // side changed what, so nothing is taken away and both sides get every flag.
    let inbox = sandbox.local().join("INBOX");
    let server_uid = |tag: &str| {
        dovecot
            .fetch_all(USER, "INBOX")
            .into_iter()
            .find(|m| crlf_to_lf(&m.body) == message(tag))
            .unwrap_or_else(|| panic!("{tag} is not on the server"))
            .uid
    };
    // inbox-unread: "" on both -> local S, server F.
    set_flags(&find_message(&inbox, &message("inbox-unread")), "S");
    dovecot.set_flags(USER, "INBOX", server_uid("inbox-unread"), &["\\Flagged"]);
    // inbox-seen: "S" on both -> local "", server "S": the union keeps S (1 local update).
    set_flags(&find_message(&inbox, &message("inbox-seen")), "");
    // inbox-flagged: "FS" on both -> server "" (1 remote update).
    dovecot.set_flags(USER, "INBOX", server_uid("inbox-flagged"), &[]);
    let by_inode = files_by_inode(&sandbox.local());

    // The dry run says the same as the real run will.
    let dry = run_twinbox(&sandbox, &["sync", "--dry-run"]);
    dry.assert_success();
    assert!(
        dry.account_line(ACCOUNT)
            .contains(": 0 messages copied (0 to local, 0 to remote), 4 flag updates, 0 deletions"),
        "{dry}"
    );
    let inbox_line = changes(dry.folder_line("INBOX"), "INBOX");
    for part in [
        "2 flag updates would be made on local",
        "2 flag updates would be made on remote",
        "4 would be paired by content",
    ] {
        assert!(inbox_line.contains(part), "no {part:?} in\n{dry}");
    }
    assert_eq!(files_by_inode(&sandbox.local()), by_inode);

    let outcome = sync_ok(&sandbox, &[]);
    let line = outcome.account_line(ACCOUNT);
    assert!(
        line.contains("0 messages copied (0 to local, 0 to remote), 4 flag updates, 0 deletions")
            && line.ends_with(", 6 paired by content"),
        "{outcome}"
    );
    let inbox_line = changes(outcome.folder_line("INBOX"), "INBOX");
    for part in [
        "2 flag updates on local",
        "2 flag updates on remote",
        "4 paired by content",
    ] {
        assert!(inbox_line.contains(part), "no {part:?} in\n{outcome}");
    }
    let expected: BTreeMap<Vec<u8>, String> = [
        ("inbox-unread", "FS"),
        ("inbox-seen", "S"),
        ("inbox-flagged", "FS"),
        ("inbox-answered", "RS"),
    ]
    .iter()
    .map(|(tag, letters)| (message(tag), letters.to_string()))
    .collect();
    assert_eq!(folder_map(&inbox), expected, "local flags");
    assert_eq!(dovecot.folder_map(USER, "INBOX"), expected, "server flags");
    // Flags change by renaming: the same files, nothing copied.
    assert_eq!(files_by_inode(&sandbox.local()), by_inode);
    assert_no_changes(&sandbox);
}

/// A Dovecot without TLS, for the other tools, holding [`FIXTURE`].
fn plaintext_server() -> Dovecot {
    let dovecot = Dovecot::start(DovecotOptions {
        tls: false,
        ..DovecotOptions::default()
    });
    fill_server(&dovecot);
    dovecot
}

/// The message files of the Maildir at `root` by inode: content. Equal maps before and
/// after a run mean no file was rewritten, copied or removed (renames are allowed).
fn contents_by_inode(root: &Path) -> BTreeMap<u64, Vec<u8>> {
    files_by_inode(root)
        .into_iter()
        .map(|(inode, (_, content))| (inode, content))
        .collect()
}

#[test]
fn a_maildir_written_by_mbsync_pairs_by_content_with_no_copy() {
    let dovecot = plaintext_server();
    let sandbox =
        maildir_imap_sandbox("", &dovecot.plaintext_repository(USER, dovecot.imap_port()));
    let root = sandbox.local();
    fs::create_dir_all(&root).expect("create the Maildir root");
    // mbsync's layout as twinbox reads it with `sep = .`: INBOX in <root>/INBOX, other
    // folders flattened with '.' under <root>; its sync state inside each folder.
    let rc = sandbox.path().join("mbsyncrc");
    fs::write(
        &rc,
        format!(
            "IMAPAccount dovecot\n\
             Host 127.0.0.1\n\
             Port {port}\n\
             User {USER}\n\
             Pass {password}\n\
             SSLType None\n\
             AuthMechs LOGIN\n\
             \n\
             IMAPStore remote\n\
             Account dovecot\n\
             \n\
             MaildirStore local\n\
             Path {root}/\n\
             Inbox {root}/INBOX\n\
             Flatten .\n\
             \n\
             Channel mail\n\
             Far :remote:\n\
             Near :local:\n\
             Patterns *\n\
             Create Near\n\
             Expunge Both\n\
             SyncState *\n",
            port = dovecot.imap_port(),
            password = dovecot.password(USER),
            root = root.display(),
        ),
    )
    .expect("write the mbsync config");
    run_peer(
        &sandbox,
        "/usr/bin/mbsync",
        &["-c", rc.to_str().unwrap(), "-a"],
    );
    for folder in FOLDERS {
        assert_folder_matches_modulo_tuid(
            &dovecot,
            folder,
            &local_folder_dir(&root, folder, false),
        );
    }
    let files = contents_by_inode(&root);
    assert_eq!(files.len(), FIXTURE.len(), "mbsync's Maildir: {files:?}");
    assert!(
        files
            .values()
            .all(|content| content.starts_with(b"X-TUID: ")
                || content.windows(8).any(|w| w == b"\nX-TUID:")),
        "mbsync stored messages without X-TUID: the test no longer covers it"
    );
    let server_before = dovecot.server_snapshot(USER, &FOLDERS);

    let outcome = sync_ok(&sandbox, &[]);
    assert_fixture_paired(&outcome);
    // mbsync's files as they were (twinbox may add its UID to a name, never rewrite).
    assert_eq!(contents_by_inode(&root), files);
    assert_eq!(dovecot.server_snapshot(USER, &FOLDERS), server_before);
    assert_no_changes(&sandbox);
    assert_eq!(contents_by_inode(&root), files);
    assert_eq!(dovecot.server_snapshot(USER, &FOLDERS), server_before);
}

/// `content` without its `X-TUID:` header line, if it has one.
fn without_tuid(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len());
    let mut in_header = true;
    for line in content.split_inclusive(|&b| b == b'\n') {
        if in_header && line.starts_with(b"X-TUID:") {
            continue;
        }
        if line == b"\n" || line == b"\r\n" {
            in_header = false;
        }
        out.extend_from_slice(line);
    }
    out
}

/// [`assert_folder_matches`] for a Maildir mbsync wrote: the same messages and flags once
/// its `X-TUID:` lines are left out.
#[track_caller]
fn assert_folder_matches_modulo_tuid(dovecot: &Dovecot, folder: &str, dir: &Path) {
    let local: BTreeMap<Vec<u8>, String> = messages(dir)
        .into_iter()
        .map(|m| (without_tuid(&m.content), sorted_flags(&m.flags)))
        .collect();
    assert_eq!(
        local,
        dovecot.folder_map(USER, folder),
        "mbsync's copy of {folder}"
    );
}

#[test]
fn a_maildir_written_by_offlineimap_pairs_by_content_with_no_copy() {
    let dovecot = plaintext_server();
    // OfflineIMAP drops a leading mbox `From ` line when it stores a message.
    let from_line = [
        b"From alice@example.org Tue Nov 14 22:13:20 2023\n".as_slice(),
        &message("inbox-from-line"),
    ]
    .concat();
    dovecot.deliver(USER, "INBOX", &from_line, &["\\Seen"]);
    let sandbox =
        maildir_imap_sandbox("", &dovecot.plaintext_repository(USER, dovecot.imap_port()));
    let root = sandbox.local();
    let metadata = sandbox.path().join("offlineimap");
    let rc = sandbox.path().join("offlineimaprc");
    fs::write(
        &rc,
        format!(
            "[general]\n\
             accounts = Test\n\
             metadata = {metadata}\n\
             \n\
             [Account Test]\n\
             localrepository = Local\n\
             remoterepository = Remote\n\
             \n\
             [Repository Local]\n\
             type = Maildir\n\
             localfolders = {root}\n\
             \n\
             [Repository Remote]\n\
             type = IMAP\n\
             remotehost = 127.0.0.1\n\
             remoteport = {port}\n\
             remoteuser = {USER}\n\
             remotepass = {password}\n\
             ssl = no\n\
             starttls = no\n",
            metadata = metadata.display(),
            root = root.display(),
            port = dovecot.imap_port(),
            password = dovecot.password(USER),
        ),
    )
    .expect("write the OfflineIMAP config");
    run_offlineimap(&sandbox, &rc, &[]);
    let files = contents_by_inode(&root);
    assert_eq!(
        files.len(),
        FIXTURE.len() + 1,
        "OfflineIMAP's Maildir: {files:?}"
    );
    assert!(
        files
            .values()
            .any(|content| *content == message("inbox-from-line")),
        "OfflineIMAP kept the From line: the test no longer covers it"
    );
    let server_before = dovecot.server_snapshot(USER, &FOLDERS);

    // Switching: OfflineIMAP's state is gone, its Maildir stays.
    fs::remove_dir_all(&metadata).expect("remove OfflineIMAP's metadata");
    let outcome = sync_ok(&sandbox, &[]);
    assert_eq!(
        outcome.account_line(ACCOUNT),
        only_paired(folder_count(&outcome), FIXTURE.len() + 1),
        "{outcome}"
    );
    assert_eq!(
        changes(outcome.folder_line("INBOX"), "INBOX"),
        "5 paired by content",
        "{outcome}"
    );
    assert_eq!(contents_by_inode(&root), files);
    assert_eq!(dovecot.server_snapshot(USER, &FOLDERS), server_before);
    assert_no_changes(&sandbox);
    assert_eq!(contents_by_inode(&root), files);
    assert_eq!(dovecot.server_snapshot(USER, &FOLDERS), server_before);
}

/// USER's folders as folder -> exact BODY[] -> flag letters.
fn mailbox(
    dovecot: &Dovecot,
    user: &str,
    folders: &[&str],
) -> BTreeMap<String, BTreeMap<Vec<u8>, String>> {
    folders
        .iter()
        .map(|folder| {
            let messages = dovecot
                .fetch_all(user, folder)
                .into_iter()
                .map(|m| {
                    let letters = m.flag_letters();
                    (m.body, letters)
                })
                .collect();
            (folder.to_string(), messages)
        })
        .collect()
}

#[test]
fn imap_to_imap_where_the_target_holds_part_of_the_mail_copies_only_the_rest() {
    let dovecot = Dovecot::start_default();
    // alice (remote) holds the FIXTURE; bob (local), the target of a migration, already
    // holds three of its messages, the same bytes, with the same flags.
    fill_server(&dovecot);
    for (folder, tag, letters) in [
        ("INBOX", "inbox-seen", "S"),
        ("INBOX", "inbox-answered", "RS"),
        ("Work/Projects", "work-unread", ""),
    ] {
        dovecot.deliver("bob", folder, &message(tag), &imap_flags(letters));
    }
    let bob_before = dovecot.server_snapshot("bob", &FOLDERS);
    let sandbox = Sandbox::new();
    sandbox.write_config(&imap_imap_config(
        &sandbox,
        "",
        &dovecot.tls_repository("bob"),
        &dovecot.tls_repository(USER),
    ));

    let outcome = sync_ok(&sandbox, &[]);
    let line = outcome.account_line(ACCOUNT);
    assert!(
        line.contains(": 3 messages copied (3 to local, 0 to remote), 0 flag updates, 0 deletions")
            && line.ends_with(", 3 paired by content"),
        "{outcome}"
    );
    let inbox_line = changes(outcome.folder_line("INBOX"), "INBOX");
    assert!(
        inbox_line.contains("2 copied to local") && inbox_line.contains("2 paired by content"),
        "{outcome}"
    );
    let alice = mailbox(&dovecot, USER, &FOLDERS);
    assert_eq!(
        alice,
        mailbox(&dovecot, "bob", &FOLDERS),
        "alice and bob differ"
    );
    assert_eq!(
        alice.values().map(BTreeMap::len).sum::<usize>(),
        FIXTURE.len()
    );
    // bob's three messages are the ones he had: same UIDs, nothing appended twice.
    let bob_after = dovecot.server_snapshot("bob", &FOLDERS);
    for (folder, (uidvalidity, before)) in &bob_before {
        let (uidvalidity_after, after) = &bob_after[folder];
        assert_eq!(uidvalidity, uidvalidity_after);
        for message in before {
            assert!(
                after.contains(message),
                "{folder}: bob's {message:?} changed"
            );
        }
    }
    assert_no_changes(&sandbox);
}

#[test]
fn a_copy_whose_line_ends_the_server_rewrote_still_pairs() {
    let dovecot = Dovecot::start_default();
    // Dovecot drops one CR of a run before LF on APPEND: alice's copy of this message was
    // stored from one with "\r\r\r\n" and now ends that line with "\r\r\n"; bob's copy
    // has a plain CRLF.
    let plain = lf_to_crlf(&message("odd-line-end"));
    let odd = String::from_utf8(plain.clone())
        .expect("UTF-8")
        .replacen(
            "This is message odd-line-end.\r\n",
            "This is message odd-line-end.\r\r\r\n",
            1,
        )
        .into_bytes();
    dovecot.deliver(USER, "INBOX", &odd, &["\\Seen"]);
    dovecot.deliver("bob", "INBOX", &plain, &["\\Seen"]);
    let alice_before = dovecot.fetch_all(USER, "INBOX");
    assert!(
        alice_before[0].body.windows(4).any(|w| w == b".\r\r\n"),
        "Dovecot stored {:?}: the test no longer covers a run of CRs",
        String::from_utf8_lossy(&alice_before[0].body)
    );
    let bob_before = dovecot.fetch_all("bob", "INBOX");
    let sandbox = Sandbox::new();
    sandbox.write_config(&imap_imap_config(
        &sandbox,
        "",
        &dovecot.tls_repository("bob"),
        &dovecot.tls_repository(USER),
    ));

    let outcome = sync_ok(&sandbox, &[]);
    assert_eq!(
        outcome.account_line(ACCOUNT),
        only_paired(folder_count(&outcome), 1),
        "{outcome}"
    );
    assert_eq!(dovecot.fetch_all(USER, "INBOX"), alice_before);
    assert_eq!(dovecot.fetch_all("bob", "INBOX"), bob_before);
    assert_no_changes(&sandbox);
}

/// Two different messages with the same Message-ID and the same size (one letter of the
/// body differs), as an OfflineIMAP that re-wrapped a header leaves them.
fn near_duplicates() -> (Vec<u8>, Vec<u8>) {
    let local = message("near-duplicate");
    let server = String::from_utf8(local.clone())
        .expect("UTF-8")
        .replacen("second line", "second Line", 1)
        .into_bytes();
    assert_eq!(local.len(), server.len());
    assert_ne!(local, server);
    (local, server)
}

/// A Maildir <-> IMAP sandbox with `account_options` whose INBOX holds one of
/// [`near_duplicates`] on each side.
fn near_duplicate_sandbox(dovecot: &Dovecot, account_options: &str) -> (Sandbox, Vec<u8>, Vec<u8>) {
    let (local, server) = near_duplicates();
    dovecot.deliver(USER, "INBOX", &server, &["\\Seen"]);
    let sandbox = maildir_imap_sandbox(account_options, &dovecot.tls_repository(USER));
    let inbox = create_folder(&sandbox.local().join("INBOX"));
    deliver_cur(&inbox, &local, "S");
    (sandbox, local, server)
}

#[test]
fn same_message_id_and_size_but_other_bytes_are_never_paired_by_default() {
    let dovecot = Dovecot::start_default();
    let (sandbox, local, server) = near_duplicate_sandbox(&dovecot, "");

    let outcome = sync_ok(&sandbox, &[]);
    let line = outcome.account_line(ACCOUNT);
    assert!(
        line.contains(": 2 messages copied (1 to local, 1 to remote), 0 flag updates, 0 deletions, 0 folders created")
            && line.ends_with(", 1 near-duplicate not paired"),
        "{outcome}"
    );
    assert!(!line.contains("paired by content"), "{outcome}");
    let inbox_line = changes(outcome.folder_line("INBOX"), "INBOX");
    assert!(
        inbox_line.contains("1 copied to local")
            && inbox_line.contains("1 copied to remote")
            && inbox_line.contains("1 near-duplicate not paired"),
        "{outcome}"
    );
    let expected: BTreeMap<Vec<u8>, String> =
        [(local, "S".to_owned()), (server, "S".to_owned())].into();
    assert_eq!(folder_map(&sandbox.local().join("INBOX")), expected);
    assert_eq!(dovecot.folder_map(USER, "INBOX"), expected);
    assert_no_changes(&sandbox);
}

#[test]
fn pairbymessageid_pairs_near_duplicates_instead() {
    let dovecot = Dovecot::start_default();
    let (sandbox, local, server) = near_duplicate_sandbox(&dovecot, "pairbymessageid = yes");
    let inbox = sandbox.local().join("INBOX");
    let server_before = dovecot.fetch_all(USER, "INBOX");

    let outcome = sync_ok(&sandbox, &[]);
    let line = outcome.account_line(ACCOUNT);
    assert!(
        line.contains(": 0 messages copied (0 to local, 0 to remote), 0 flag updates, 0 deletions")
            && !line.contains("near-duplicates"),
        "{outcome}"
    );
    // Each side keeps its own version, paired.
    assert_eq!(
        folder_map(&inbox),
        BTreeMap::from([(local, "S".to_owned())])
    );
    assert_eq!(dovecot.fetch_all(USER, "INBOX"), server_before);
    assert_eq!(crlf_to_lf(&server_before[0].body), server);
    assert_no_changes(&sandbox);

    // The pair is real: a flag set on the server reaches the local file.
    dovecot.set_flags(
        USER,
        "INBOX",
        server_before[0].uid,
        &["\\Seen", "\\Flagged"],
    );
    let outcome = sync_ok(&sandbox, &[]);
    assert!(
        outcome
            .account_line(ACCOUNT)
            .contains(": 0 messages copied (0 to local, 0 to remote), 1 flag update, 0 deletions"),
        "{outcome}"
    );
    let files = messages(&inbox);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(sorted_flags(&files[0].flags), "FS");
    assert_eq!(dovecot.fetch_all(USER, "INBOX").len(), 1);
}

#[test]
fn dry_run_with_a_fresh_metadata_directory_says_what_it_would_pair_and_changes_nothing() {
    let dovecot = Dovecot::start_default();
    fill_server(&dovecot);
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER));
    sync_ok(&sandbox, &[]);
    fs::rename(sandbox.metadata(), sandbox.path().join("old-state"))
        .expect("move the metadata directory aside");
    let frozen = Frozen::of(&sandbox);
    let inodes = message_files(&sandbox.local());
    let server_before = dovecot.server_snapshot(USER, &FOLDERS);

    let outcome = run_twinbox(&sandbox, &["sync", "--dry-run"]);
    outcome.assert_success();
    let line = outcome.account_line(ACCOUNT);
    assert!(
        line.starts_with(&format!("Account {ACCOUNT}: would sync "))
            && line.contains(" folders: 0 messages copied (0 to local, 0 to remote), 0 flag updates, 0 deletions, 0 folders created")
            && (line.ends_with(&format!(", {} paired by content", FIXTURE.len()))
                || line.ends_with(&format!(", {} would be paired by content", FIXTURE.len()))),
        "{outcome}"
    );
    assert_eq!(
        changes(outcome.folder_line("INBOX"), "INBOX"),
        "4 would be paired by content",
        "{outcome}"
    );
    assert_eq!(
        changes(outcome.folder_line("Work/Projects"), "Work/Projects"),
        "2 would be paired by content",
        "{outcome}"
    );
    frozen.assert_unchanged();
    assert_eq!(message_files(&sandbox.local()), inodes);
    assert_eq!(dovecot.server_snapshot(USER, &FOLDERS), server_before);
    assert!(
        !sandbox.metadata().exists(),
        "the dry run created the state"
    );
}
