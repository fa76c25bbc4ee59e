//! Tests of the whole backend through the interface traits, on real directories.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use backend_api::{
    Backend, ErrorScope, Flags, NewMessage, Repository, RepositoryConfig, SystemFlag, Uid,
};
use backend_kit::testing::{
    check_root_option, dry_run, file_config, message, path, snapshot, uids,
};

use crate::locking::{SEQUENCES_DOTLOCK, SEQUENCES_FILE};
use crate::state::STATE_FILE;
use crate::{MhBackend, MhRepository};

fn config(root: &Path) -> RepositoryConfig {
    file_config("mh", root)
}

fn repository(root: &Path) -> MhRepository {
    MhRepository::open(&config(root)).unwrap()
}

fn read_only(root: &Path) -> MhRepository {
    MhRepository::open(&dry_run(config(root))).unwrap()
}

fn mail(n: u32) -> Vec<u8> {
    format!("From: a@example.org\nMessage-ID: <{n}@example.org>\nSubject: {n}\n\nbody {n}\n")
        .into_bytes()
}

fn sequences(dir: &Path) -> String {
    fs::read_to_string(dir.join(SEQUENCES_FILE)).unwrap_or_default()
}

/// A file with an mtime in the past, as a message delivered a while ago.
fn write_old(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap();
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

#[test]
fn passes_the_conformance_suite() {
    let root = tempfile::tempdir().unwrap();
    let config = config(root.path());
    backend_kit::conformance::check_repository(&|| MhBackend::open(config.clone()).unwrap());
    // The INBOX is nmh's `inbox`.
    assert!(root.path().join("inbox").is_dir());
    assert!(root.path().join("twinbox-conformance/child").is_dir());
}

#[test]
fn configuration_errors_name_the_option() {
    let root = tempfile::tempdir().unwrap();
    assert_eq!(MhBackend::NAME, "MH");
    // A missing root is created, except in a dry run.
    check_root_option(root.path(), MhBackend::open, config);

    let error = MhBackend::open(config(root.path()).with("mh_sequences_unseen", "cur"))
        .err()
        .unwrap();
    assert!(
        error.message.contains("option 'mh_sequences_unseen'"),
        "{}",
        error.message
    );
}

/// A tree as nmh leaves it: numbered messages, a deleted-message backup, sequences with
/// `cur` and a user sequence, a cache file, a context file at the root, nested folders.
fn nmh_tree(root: &Path) {
    let inbox = root.join("inbox");
    fs::create_dir_all(root.join("work/projects")).unwrap();
    fs::create_dir_all(&inbox).unwrap();
    fs::write(
        root.join("context"),
        "Current-Folder: inbox\natr-todo-/x: 1\n",
    )
    .unwrap();
    for n in [1, 2, 4] {
        write_old(&inbox.join(n.to_string()), &mail(n));
    }
    write_old(&inbox.join(",3"), &mail(3));
    fs::write(inbox.join(".xmhcache"), "cache").unwrap();
    fs::write(inbox.join("007"), "not a message name").unwrap();
    fs::write(
        inbox.join(SEQUENCES_FILE),
        "cur: 2\nunseen: 2 4\nflagged: 1-2\ntodo: 1 4\n",
    )
    .unwrap();
    write_old(&root.join("work/projects/10"), &mail(10));
}

#[test]
fn an_nmh_tree_is_read_as_it_is() {
    let root = tempfile::tempdir().unwrap();
    nmh_tree(root.path());
    let inbox_dir = root.path().join("inbox");
    let repository = repository(root.path());
    let folders: Vec<String> = repository
        .list_folders()
        .unwrap()
        .into_iter()
        .map(|f| {
            assert!(f.selectable);
            String::from(f.path)
        })
        .collect();
    assert_eq!(folders, vec!["INBOX", "work", "work/projects"]);

    let mut inbox = repository.open_folder(&path("inbox")).unwrap();
    let status = inbox.status().unwrap();
    assert_eq!(status.message_count, 3);
    assert_eq!(status.uid_next, 5);
    let listing = inbox.list_messages().unwrap();
    assert_eq!(
        listing.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![1, 2, 4],
        "numbers are UIDs; ,3 and 007 are not messages"
    );
    let flags: Vec<Flags> = listing.iter().map(|m| m.flags.clone()).collect();
    assert_eq!(
        flags,
        vec![
            Flags::from_system(&[SystemFlag::Seen, SystemFlag::Flagged]),
            Flags::from_system(&[SystemFlag::Flagged]),
            Flags::new(),
        ]
    );
    assert_eq!(listing[2].size, mail(4).len() as u64);
    let fetched = inbox.fetch_messages(&[4, 1]).unwrap();
    assert_eq!(fetched[0].bytes, mail(4));
    assert_eq!(fetched[1].bytes, mail(1));

    // Flags change only our sequences; cur and todo stay as they were.
    inbox
        .update_flags(
            &[1, 4],
            &Flags::from_system(&[SystemFlag::Seen, SystemFlag::Answered]),
            &Flags::from_system(&[SystemFlag::Flagged]),
        )
        .unwrap();
    inbox.flush().unwrap();
    assert_eq!(
        sequences(&inbox_dir),
        "cur: 2\nunseen: 2\nflagged: 2\ntodo: 1 4\nreplied: 1 4\n"
    );
    assert!(!inbox_dir.join(SEQUENCES_DOTLOCK).exists());

    // A deletion removes the file and the number from every sequence but cur.
    inbox.delete_messages(&[2, 99]).unwrap();
    inbox.flush().unwrap();
    assert!(!inbox_dir.join("2").exists());
    assert!(inbox_dir.join(",3").exists() && inbox_dir.join(".xmhcache").exists());
    assert_eq!(sequences(&inbox_dir), "cur: 2\ntodo: 1 4\nreplied: 1 4\n");
    assert_eq!(uids(inbox.as_mut()), vec![1, 4]);

    // New messages go above the highest number ever used, and are unseen unless \Seen.
    let appended = inbox
        .append_messages(vec![
            message(&mail(5), &[], Some(1_500_000_000)),
            message(&mail(6), &[SystemFlag::Seen, SystemFlag::Draft], None),
        ])
        .unwrap();
    inbox.flush().unwrap();
    assert_eq!(appended, vec![Some(5), Some(6)]);
    assert_eq!(fs::read(inbox_dir.join("5")).unwrap(), mail(5));
    assert_eq!(
        sequences(&inbox_dir),
        "cur: 2\ntodo: 1 4\nreplied: 1 4\nunseen: 5\ndraft: 6\n"
    );
    let fetched = inbox.fetch_messages(&[5]).unwrap();
    assert_eq!(fetched[0].internal_date, Some(1_500_000_000));

    let mut projects = repository.open_folder(&path("work/projects")).unwrap();
    assert_eq!(uids(projects.as_mut()), vec![10]);
    assert!(root.path().join("work/projects").join(STATE_FILE).exists());
}

#[test]
fn folder_pack_gives_a_new_uidvalidity() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path());
    repository.create_folder(&path("INBOX")).unwrap();
    let dir = root.path().join("inbox");
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    let before = folder.status().unwrap().uid_validity;
    folder
        .append_messages((1..=4).map(|n| message(&mail(n), &[], None)).collect())
        .unwrap();
    folder.flush().unwrap();
    assert_eq!(uids(folder.as_mut()), vec![1, 2, 3, 4]);
    drop(folder);

    // rmm 2: a deletion, nothing more.
    fs::remove_file(dir.join("2")).unwrap();
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    assert_eq!(folder.status().unwrap().uid_validity, before);
    assert_eq!(uids(folder.as_mut()), vec![1, 3, 4]);
    drop(folder);

    // folder -pack: 3 -> 2, 4 -> 3 (renames: inode, size and mtime go along).
    fs::rename(dir.join("3"), dir.join("2")).unwrap();
    fs::rename(dir.join("4"), dir.join("3")).unwrap();
    fs::write(dir.join(SEQUENCES_FILE), "unseen: 1-3\n").unwrap();
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    let status = folder.status().unwrap();
    assert!(
        status.uid_validity > before,
        "a new UIDVALIDITY, never an old one"
    );
    assert_eq!(uids(folder.as_mut()), vec![1, 2, 3]);
    assert_eq!(status.uid_next, 4);
    let fetched = folder.fetch_messages(&[2]).unwrap();
    assert_eq!(fetched[0].bytes, mail(3));
    drop(folder);

    // It persists: a reopen reports the same new one.
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    assert_eq!(folder.status().unwrap().uid_validity, status.uid_validity);

    // A pack while the folder is open is an error for this sync, not a silent change.
    fs::rename(dir.join("3"), dir.join("4")).unwrap();
    fs::rename(dir.join("2"), dir.join("3")).unwrap();
    fs::rename(dir.join("4"), dir.join("2")).unwrap();
    let error = folder.list_messages().unwrap_err();
    assert_eq!(error.scope, ErrorScope::Folder);
    assert!(
        error.message.contains("run the sync again"),
        "{}",
        error.message
    );
    drop(folder);
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    assert!(folder.status().unwrap().uid_validity > status.uid_validity);
}

#[test]
fn a_number_taken_again_is_renumbered_and_an_annotation_is_no_change() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path());
    repository.create_folder(&path("INBOX")).unwrap();
    let dir = root.path().join("inbox");
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    let validity = folder.status().unwrap().uid_validity;
    folder
        .append_messages(vec![
            message(&mail(1), &[], None),
            message(&mail(2), &[SystemFlag::Seen], None),
        ])
        .unwrap();
    folder.flush().unwrap();
    drop(folder);

    // rmm 2, then inc delivers a new message as 2 (flagged by the user meanwhile), and
    // anno adds a header to 1.
    fs::remove_file(dir.join("2")).unwrap();
    write_old(&dir.join("2"), &mail(20));
    fs::write(
        dir.join(SEQUENCES_FILE),
        "unseen: 1-2\nflagged: 2\ncur: 2\n",
    )
    .unwrap();
    let mut annotated = b"Replied: Mon, 01 Jan 2024 00:00:00 +0000\n".to_vec();
    annotated.extend_from_slice(&mail(1));
    fs::write(dir.join("1"), &annotated).unwrap();

    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    let status = folder.status().unwrap();
    assert_eq!(status.uid_validity, validity);
    let listing = folder.list_messages().unwrap();
    assert_eq!(
        listing.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert_eq!(listing[0].size, annotated.len() as u64);
    assert_eq!(listing[1].flags, Flags::from_system(&[SystemFlag::Flagged]));
    assert!(!dir.join("2").exists());
    assert_eq!(fs::read(dir.join("3")).unwrap(), mail(20));
    assert_eq!(sequences(&dir), "unseen: 1 3\nflagged: 3\ncur: 3\n");
    assert_eq!(folder.fetch_messages(&[2]).unwrap(), vec![]);
    drop(folder);

    // And the next message goes above it.
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    folder.status().unwrap();
    let appended = folder
        .append_messages(vec![message(&mail(4), &[], None)])
        .unwrap();
    assert_eq!(appended, vec![Some(4)]);
}

#[test]
fn appends_never_overwrite_and_list_new_deliveries_first() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path());
    repository.create_folder(&path("INBOX")).unwrap();
    let dir = root.path().join("inbox");
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    folder.status().unwrap();
    folder
        .append_messages(vec![message(&mail(1), &[], None)])
        .unwrap();

    // inc delivers 2 and 3 between our listing and our next append.
    write_old(&dir.join("2"), &mail(2));
    write_old(&dir.join("3"), &mail(3));
    let appended = folder
        .append_messages(vec![message(&mail(4), &[], None)])
        .unwrap();
    folder.flush().unwrap();
    assert_eq!(appended, vec![Some(4)]);
    for n in 1..=4 {
        assert_eq!(fs::read(dir.join(n.to_string())).unwrap(), mail(n));
    }
    assert_eq!(uids(folder.as_mut()), vec![1, 2, 3, 4]);
    let leftovers: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A delete checks that the number still names the message listed.
    fs::remove_file(dir.join("4")).unwrap();
    write_old(&dir.join("4"), &mail(40));
    folder.delete_messages(&[4]).unwrap();
    assert_eq!(fs::read(dir.join("4")).unwrap(), mail(40));
}

#[test]
fn a_dry_run_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    nmh_tree(root.path());
    let before = snapshot(root.path());
    let repository = read_only(root.path());
    assert!(repository.create_folder(&path("new")).is_err());
    let mut inbox = repository.open_folder(&path("INBOX")).unwrap();
    let status = inbox.status().unwrap();
    assert_ne!(status.uid_validity, 0);
    assert_eq!(uids(inbox.as_mut()), vec![1, 2, 4]);
    assert_eq!(inbox.status().unwrap().uid_validity, status.uid_validity);
    assert_eq!(inbox.fetch_messages(&[2]).unwrap()[0].bytes, mail(2));
    assert!(inbox
        .append_messages(vec![message(&mail(9), &[], None)])
        .is_err());
    assert!(inbox
        .update_flags(
            &[1],
            &Flags::from_system(&[SystemFlag::Seen]),
            &Flags::new()
        )
        .is_err());
    assert!(inbox.delete_messages(&[1]).is_err());
    inbox.flush().unwrap();
    drop(inbox);
    for folder in ["work", "work/projects"] {
        repository
            .open_folder(&path(folder))
            .unwrap()
            .status()
            .unwrap();
    }
    assert_eq!(
        snapshot(root.path()),
        before,
        "no state file, nothing at all"
    );

    // With a state file: a number taken again is listed provisionally, not renumbered;
    // a pack gives a provisional UIDVALIDITY, the same at every listing.
    let writable = self::repository(root.path());
    let mut inbox = writable.open_folder(&path("INBOX")).unwrap();
    let validity = inbox.status().unwrap().uid_validity;
    drop(inbox);
    let dir = root.path().join("inbox");
    fs::remove_file(dir.join("4")).unwrap();
    write_old(&dir.join("4"), &mail(44));
    let before = snapshot(root.path());
    let mut inbox = repository.open_folder(&path("INBOX")).unwrap();
    assert_eq!(inbox.status().unwrap().uid_validity, validity);
    assert_eq!(uids(inbox.as_mut()), vec![1, 2, 5]);
    assert_eq!(uids(inbox.as_mut()), vec![1, 2, 5]);
    assert_eq!(inbox.fetch_messages(&[5]).unwrap()[0].bytes, mail(44));
    assert_eq!(inbox.status().unwrap().uid_next, 6);
    drop(inbox);
    fs::rename(dir.join("2"), dir.join("3")).unwrap();
    fs::rename(dir.join("1"), dir.join("2")).unwrap();
    let before_pack = snapshot(root.path());
    let mut inbox = repository.open_folder(&path("INBOX")).unwrap();
    let provisional = inbox.status().unwrap().uid_validity;
    assert!(provisional > validity);
    assert_eq!(uids(inbox.as_mut()), vec![2, 3, 4]);
    assert_eq!(inbox.status().unwrap().uid_validity, provisional);
    drop(inbox);
    assert_eq!(snapshot(root.path()), before_pack);
    assert_ne!(before, before_pack);
}

#[test]
fn pythons_mailbox_mh_reads_what_we_write() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 is not installed: skipping the mailbox.MH check");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path());
    let odd: &[u8] = b"From: b@example.org\nSubject: odd\n\nFrom the start\n8-bit \xc3\xa4\xff\r lone CR\n>From quoted\nno final newline";
    let wanted: Vec<(&str, Vec<NewMessage>)> = vec![
        (
            "INBOX",
            vec![
                message(&mail(1), &[], None),
                message(
                    odd,
                    &[SystemFlag::Seen, SystemFlag::Flagged],
                    Some(1_600_000_000),
                ),
                message(&mail(3), &[SystemFlag::Seen, SystemFlag::Answered], None),
            ],
        ),
        (
            "work/projects",
            vec![message(&mail(4), &[SystemFlag::Flagged], None)],
        ),
    ];
    let mut written = Vec::new();
    for (folder_name, messages) in &wanted {
        repository.create_folder(&path(folder_name)).unwrap();
        let mut folder = repository.open_folder(&path(folder_name)).unwrap();
        folder.status().unwrap();
        let uids = folder.append_messages(messages.clone()).unwrap();
        folder.flush().unwrap();
        for (uid, message) in uids.iter().zip(messages) {
            written.push((folder_name.to_string(), uid.unwrap(), message.clone()));
        }
    }

    let script = r#"
import mailbox, sys
mh = mailbox.MH(sys.argv[1], create=False)
print("folders", " ".join(sorted(mh.list_folders())))
for name in ["inbox", "work/projects"]:
    folder = mh
    for part in name.split("/"):
        folder = folder.get_folder(part)
    for key in sorted(folder.keys()):
        print("message", name, key, folder.get_bytes(key).hex())
    for seq, keys in sorted(folder.get_sequences().items()):
        print("sequence", name, seq, " ".join(str(k) for k in keys))
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(root.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut messages = BTreeMap::new();
    let mut sequences = BTreeMap::new();
    for line in stdout.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        match words[0] {
            "folders" => assert_eq!(words[1..], ["inbox", "work"]),
            "message" => {
                let bytes: Vec<u8> = (0..words[3].len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&words[3][i..i + 2], 16).unwrap())
                    .collect();
                messages.insert(
                    (words[1].to_owned(), words[2].parse::<Uid>().unwrap()),
                    bytes,
                );
            }
            "sequence" => {
                sequences.insert(
                    (words[1].to_owned(), words[2].to_owned()),
                    words[3..].join(" "),
                );
            }
            other => panic!("unexpected output {other}"),
        }
    }
    assert_eq!(messages.len(), written.len());
    for (folder, uid, message) in &written {
        let folder = if folder == "INBOX" { "inbox" } else { folder };
        assert_eq!(
            messages[&(folder.to_owned(), *uid)],
            message.bytes,
            "mailbox.MH reads {folder}/{uid} byte for byte"
        );
    }
    let expected: BTreeMap<(String, String), String> = [
        ("inbox", "unseen", "1"),
        ("inbox", "flagged", "2"),
        ("inbox", "replied", "3"),
        ("work/projects", "flagged", "1"),
        ("work/projects", "unseen", "1"),
    ]
    .into_iter()
    .map(|(f, s, k)| ((f.to_owned(), s.to_owned()), k.to_owned()))
    .collect();
    assert_eq!(sequences, expected);
}

#[test]
fn a_batch_larger_than_one_sync_group_is_numbered_in_order() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path());
    repository.create_folder(&path("INBOX")).unwrap();
    let dir = root.path().join("inbox");
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    folder.status().unwrap();
    // inc delivered number 2 before the batch: it is listed first, the batch above it.
    write_old(&dir.join("2"), &mail(0));
    let count = 300;
    let appended = folder
        .append_messages(
            (1..=count)
                .map(|n| {
                    message(
                        &mail(n),
                        &[SystemFlag::Seen],
                        Some(1_000_000_000 + i64::from(n)),
                    )
                })
                .collect(),
        )
        .unwrap();
    folder.flush().unwrap();
    let expected: Vec<Option<Uid>> = (3..=count + 2).map(Some).collect();
    assert_eq!(appended, expected);
    for (n, number) in (1..=count).zip(expected.iter().flatten()) {
        let path = dir.join(number.to_string());
        assert_eq!(fs::read(&path).unwrap(), mail(n));
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        let seconds = mtime
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(seconds, 1_000_000_000 + u64::from(n));
    }
    let leftovers: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
