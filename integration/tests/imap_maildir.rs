//! IMAP <-> Maildir against a real Dovecot (issue 3, section 5): the initial sync of nested
//! and non-ASCII folders with both `utf8foldernames` settings, then flags, deletions, new
//! messages and new folders travelling both ways. Every test has its own Dovecot and
//! reaches it over implicit TLS verified with the test CA, as a user would.

use std::collections::BTreeMap;
use std::fs;

use twinbox_integration::dovecot::*;
use twinbox_integration::*;

const USER: &str = "alice";

/// The server side of the initial-sync tests: twinbox folder name -> (content, IMAP flags,
/// INTERNALDATE as seconds). Nested, non-ASCII, and a name with `&` (which modified UTF-7
/// escapes); an mbox `From ` line and 8-bit bytes in the contents.
fn server_fixture() -> Vec<(&'static str, Vec<u8>, Vec<&'static str>, i64)> {
    let from_line = [
        b"From alice@example.org Tue Nov 14 22:13:20 2023\n".as_slice(),
        &message("inbox-from-line"),
    ]
    .concat();
    vec![
        ("INBOX", message("inbox-plain"), vec![], 1_600_000_000),
        (
            "INBOX",
            message("inbox-seen"),
            vec!["\\Seen"],
            1_600_000_100,
        ),
        (
            "INBOX",
            message("inbox-flagged-answered"),
            vec!["\\Flagged", "\\Answered"],
            1_600_000_200,
        ),
        ("INBOX", from_line, vec!["\\Seen"], 1_600_000_300),
        (
            "Work/Projects",
            message("work-1"),
            vec!["\\Seen"],
            1_610_000_000,
        ),
        ("Work/Projects", message("work-2"), vec![], 1_610_000_100),
        (
            "Caf\u{e9}",
            message("cafe-1"),
            vec!["$Forwarded"],
            1_620_000_000,
        ),
        (
            "Z\u{fc}rich/\u{c4}rger & Co",
            message("zurich-1"),
            vec!["\\Draft"],
            1_630_000_000,
        ),
    ]
}

fn populate_server(dovecot: &Dovecot) -> Vec<&'static str> {
    let mut folders = Vec::new();
    for (folder, content, flags, date) in server_fixture() {
        dovecot.deliver_dated(
            USER,
            folder,
            &content,
            &flags,
            Some(&format_internal_date(date)),
        );
        if !folders.contains(&folder) {
            folders.push(folder);
        }
    }
    folders
}

/// Everything the server holds for USER: folder -> messages.
fn server_state(dovecot: &Dovecot, folders: &[&str]) -> BTreeMap<String, Vec<ServerMessage>> {
    folders
        .iter()
        .map(|f| (f.to_string(), dovecot.fetch_all(USER, f)))
        .collect()
}

fn initial_sync(utf8: bool) {
    let dovecot = Dovecot::start_default();
    let folders = populate_server(&dovecot);
    let server_before = server_state(&dovecot, &folders);
    let server_folders_before = dovecot.folders(USER);
    let utf8_option = if utf8 { "yes" } else { "no" };
    let sandbox = maildir_imap_sandbox(
        &format!("utf8foldernames = {utf8_option}"),
        &dovecot.tls_repository(USER),
    );

    let outcome = sync_ok(&sandbox, &[]);
    assert!(
        outcome
            .account_line(ACCOUNT)
            .contains("8 messages copied (8 to local, 0 to remote)"),
        "{outcome}"
    );

    // The folders, under the names utf8foldernames asks for.
    let local = sandbox.local();
    let expected_dirs: Vec<String> = folders
        .iter()
        .map(|f| {
            local_folder_dir(&local, f, utf8)
                .file_name()
                .and_then(|n| n.to_str())
                .expect("a UTF-8 directory name")
                .to_owned()
        })
        .collect();
    let found = twinbox_integration::folders(&local);
    for dir in &expected_dirs {
        assert!(
            found.contains(dir),
            "utf8foldernames = {utf8_option}: expected the folder directory {dir:?} in {found:?}"
        );
    }
    for dir in &found {
        // Parents the server lists (Work, Zürich) may appear; nothing else.
        let is_parent = expected_dirs
            .iter()
            .any(|e| e.starts_with(&format!("{dir}.")));
        assert!(
            expected_dirs.contains(dir) || is_parent,
            "utf8foldernames = {utf8_option}: unexpected folder directory {dir:?} in {found:?}"
        );
        if is_parent && !expected_dirs.contains(dir) {
            assert!(
                messages(&local.join(dir)).is_empty(),
                "{dir} holds messages"
            );
        }
    }

    // Contents identical to BODY[] modulo CRLF, flags equal, INTERNALDATE as mtime.
    for (folder, server_messages) in &server_before {
        let dir = local_folder_dir(&local, folder, utf8);
        assert_folder_matches(&dovecot, USER, folder, &dir);
        let dates: BTreeMap<Vec<u8>, i64> = server_messages
            .iter()
            .map(|m| (crlf_to_lf(&m.body), m.internal_date_unix()))
            .collect();
        for file in messages(&dir) {
            assert_eq!(
                mtime_unix(&file.path),
                dates[&file.content],
                "{}: the mtime should be the INTERNALDATE",
                file.path.display()
            );
        }
    }
    assert_names_carry_uids(&local);
    assert!(
        tmp_leftovers(&local).is_empty(),
        "{:?}",
        tmp_leftovers(&local)
    );

    // The sync read with BODY.PEEK: nothing became \Seen, nothing else changed on the server.
    assert_eq!(server_state(&dovecot, &folders), server_before);
    assert_eq!(
        dovecot.folders(USER),
        server_folders_before,
        "the sync created or renamed folders on the server"
    );

    assert_no_changes(&sandbox);
    assert_eq!(server_state(&dovecot, &folders), server_before);
}

#[test]
fn initial_sync_of_nested_and_non_ascii_folders_with_utf8_folder_names() {
    initial_sync(true);
}

#[test]
fn initial_sync_of_nested_and_non_ascii_folders_with_modified_utf7_folder_names() {
    initial_sync(false);
}

/// A Dovecot and a sandbox synced once, with `contents` in the server's INBOX (flags as
/// Maildir letters); `utf8foldernames = yes`.
fn synced(contents: &[(&str, &str)]) -> (Dovecot, Sandbox) {
    let dovecot = Dovecot::start_default();
    for (tag, letters) in contents {
        dovecot.deliver(USER, "INBOX", &message(tag), &imap_flags(letters));
    }
    let sandbox = maildir_imap_sandbox("utf8foldernames = yes", &dovecot.tls_repository(USER));
    sync_ok(&sandbox, &[]);
    assert_folder_matches(&dovecot, USER, "INBOX", &sandbox.local().join("INBOX"));
    (dovecot, sandbox)
}

fn uid_of(dovecot: &Dovecot, folder: &str, tag: &str) -> u32 {
    let content = message(tag);
    dovecot
        .fetch_all(USER, folder)
        .into_iter()
        .find(|m| crlf_to_lf(&m.body) == content)
        .unwrap_or_else(|| panic!("{tag} is not on the server in {folder}"))
        .uid
}

#[test]
fn flags_travel_both_ways_and_merge() {
    let (dovecot, sandbox) = synced(&[
        ("server-adds-seen", ""),
        ("local-adds-flagged", "S"),
        ("server-removes-flagged", "F"),
        ("local-removes-answered", "RS"),
        ("both-change", ""),
    ]);
    let inbox = sandbox.local().join("INBOX");

    let set = |tag: &str, letters: &str| {
        dovecot.set_flags(
            USER,
            "INBOX",
            uid_of(&dovecot, "INBOX", tag),
            &imap_flags(letters),
        )
    };
    set("server-adds-seen", "S");
    set("server-removes-flagged", "");
    set("both-change", "R");
    set_flags(&find_message(&inbox, &message("local-adds-flagged")), "FS");
    set_flags(
        &find_message(&inbox, &message("local-removes-answered")),
        "S",
    );
    set_flags(&find_message(&inbox, &message("both-change")), "F");

    let outcome = sync_ok(&sandbox, &[]);
    assert!(
        outcome.account_line(ACCOUNT).contains("flag updates"),
        "{outcome}"
    );
    let expected: BTreeMap<Vec<u8>, String> = [
        ("server-adds-seen", "S"),
        ("local-adds-flagged", "FS"),
        ("server-removes-flagged", ""),
        ("local-removes-answered", "S"),
        ("both-change", "FR"),
    ]
    .iter()
    .map(|(tag, flags)| (message(tag), flags.to_string()))
    .collect();
    assert_eq!(folder_map(&inbox), expected, "local flags");
    assert_eq!(dovecot.folder_map(USER, "INBOX"), expected, "server flags");
    assert_no_changes(&sandbox);
}

#[test]
fn deletions_travel_both_ways() {
    let (dovecot, sandbox) = synced(&[
        ("deleted-on-server", "S"),
        ("deleted-locally", ""),
        ("kept", "F"),
    ]);
    let inbox = sandbox.local().join("INBOX");
    dovecot.expunge(
        USER,
        "INBOX",
        uid_of(&dovecot, "INBOX", "deleted-on-server"),
    );
    fs::remove_file(find_message(&inbox, &message("deleted-locally"))).expect("unlink");

    let outcome = sync_ok(&sandbox, &[]);
    assert!(
        outcome.account_line(ACCOUNT).contains("2 deletions"),
        "{outcome}"
    );
    let expected = BTreeMap::from([(message("kept"), "F".to_owned())]);
    assert_eq!(folder_map(&inbox), expected, "local");
    // Expunged for good, not just flagged \Deleted.
    let server = dovecot.fetch_all(USER, "INBOX");
    assert_eq!(server.len(), 1, "{server:?}");
    assert_eq!(dovecot.folder_map(USER, "INBOX"), expected, "server");
    assert_no_changes(&sandbox);
}

#[test]
fn new_local_messages_are_uploaded_with_their_flags_and_internaldate() {
    let (dovecot, sandbox) = synced(&[("already-there", "S")]);
    let inbox = sandbox.local().join("INBOX");
    let flagged = deliver_cur(&inbox, &message("local-new-flagged"), "FS");
    set_mtime_unix(&flagged, 1_500_000_000);
    let fresh = deliver_new(&inbox, &message("local-new-unread"));
    set_mtime_unix(&fresh, 1_550_000_000);
    let drafted = deliver_cur(&inbox, &message("local-new-draft"), "DP");
    set_mtime_unix(&drafted, 1_560_000_000);

    let outcome = sync_ok(&sandbox, &[]);
    assert!(
        outcome
            .account_line(ACCOUNT)
            .contains("3 messages copied (0 to local, 3 to remote)"),
        "{outcome}"
    );
    let server = dovecot.fetch_all(USER, "INBOX");
    assert_eq!(server.len(), 4, "{server:?}");
    for (tag, letters, date) in [
        ("local-new-flagged", "FS", 1_500_000_000),
        ("local-new-unread", "", 1_550_000_000),
        ("local-new-draft", "DP", 1_560_000_000),
    ] {
        let on_server = server
            .iter()
            .find(|m| m.body == lf_to_crlf(&message(tag)))
            .unwrap_or_else(|| panic!("{tag} was not uploaded byte for byte (LF -> CRLF)"));
        assert_eq!(on_server.flag_letters(), letters, "{tag}: flags");
        assert_eq!(
            on_server.internal_date_unix(),
            date,
            "{tag}: INTERNALDATE {} should be the file's mtime",
            on_server.internal_date
        );
    }
    assert_folder_matches(&dovecot, USER, "INBOX", &inbox);
    assert_names_carry_uids(&sandbox.local());
    assert_no_changes(&sandbox);
    assert_eq!(dovecot.fetch_all(USER, "INBOX").len(), 4, "duplicates");
}

#[test]
fn new_folders_travel_both_ways() {
    let (dovecot, sandbox) = synced(&[("inbox-1", "")]);
    let local = sandbox.local();
    dovecot.deliver(
        USER,
        "Lists/Rust",
        &message("server-lists-rust"),
        &["\\Seen"],
    );
    dovecot.deliver(USER, "\u{65e5}\u{672c}", &message("server-nihon"), &[]);
    let archive = create_folder(&local.join("Archive"));
    deliver_cur(&archive, &message("local-archive"), "S");
    let resume = create_folder(&local.join("R\u{e9}sum\u{e9}.2024"));
    deliver_new(&resume, &message("local-resume"));

    let outcome = sync_ok(&sandbox, &[]);
    assert!(
        outcome.stdout.contains("created on local") && outcome.stdout.contains("created on remote"),
        "{outcome}"
    );
    let on_server = dovecot.folders(USER);
    for folder in [
        "Archive",
        "R\u{e9}sum\u{e9}/2024",
        "Lists/Rust",
        "\u{65e5}\u{672c}",
    ] {
        assert!(
            on_server.contains(&folder.to_owned()),
            "{folder} not in {on_server:?}"
        );
        assert_folder_matches(
            &dovecot,
            USER,
            folder,
            &local_folder_dir(&local, folder, true),
        );
    }
    assert_no_changes(&sandbox);
}

/// A dry run and a `readonly` IMAP repository open folders with EXAMINE, to which Dovecot
/// answers `PERMANENTFLAGS ()`: the server's flag changes must still be seen (they once
/// were not: the dry run counted none, and a read-only server's changes never arrived).
#[test]
fn server_flag_changes_are_seen_by_a_dry_run_and_through_a_read_only_repository() {
    let (dovecot, sandbox) = synced(&[("read-on-server", "")]);
    let inbox = sandbox.local().join("INBOX");
    let uid = uid_of(&dovecot, "INBOX", "read-on-server");
    dovecot.set_flags(USER, "INBOX", uid, &imap_flags("S"));

    let dry = sandbox.run(&["sync", "--dry-run"]);
    dry.assert_success();
    assert!(
        dry.stdout
            .contains("INBOX  1 flag update would be made on local"),
        "{dry}"
    );

    let read_only = dovecot.tls_repository(USER).set("readonly", "yes");
    sandbox.write_config(&maildir_imap_config(
        &sandbox,
        "utf8foldernames = yes",
        &read_only,
    ));
    let outcome = sync_ok(&sandbox, &[]);
    assert!(
        outcome.stdout.contains("INBOX  1 flag update on local"),
        "{outcome}"
    );
    assert_eq!(
        folder_map(&inbox).get(&message("read-on-server")),
        Some(&"S".to_owned())
    );
}
