//! Tests of the whole backend through the interface traits, on real directories.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use backend_api::{
    Backend, ErrorScope, Flags, Folder, FolderPath, LineEnding, NewMessage, Repository,
    RepositoryConfig, SystemFlag, Uid,
};

use crate::names::folder_md5;
use crate::uidstate::STATE_FILE;
use crate::{MaildirBackend, MaildirRepository};

fn config(root: &Path, sep: Option<&str>) -> RepositoryConfig {
    let config = RepositoryConfig::new("local").with("localfolders", root.to_str().unwrap());
    match sep {
        Some(sep) => config.with("sep", sep),
        None => config,
    }
}

fn repository(root: &Path, sep: Option<&str>) -> MaildirRepository {
    MaildirRepository::open(&config(root, sep)).unwrap()
}

fn path(name: &str) -> FolderPath {
    FolderPath::new(name).unwrap()
}

/// A Maildir folder directory made by hand, as another program would.
fn maildir(directory: &Path) -> PathBuf {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(directory.join(sub)).unwrap();
    }
    directory.to_owned()
}

/// The file names in `directory/sub`, sorted.
fn names(directory: &Path, sub: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(directory.join(sub))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn message(bytes: &[u8], flags: &[SystemFlag], date: Option<i64>) -> NewMessage {
    NewMessage {
        bytes: bytes.to_vec(),
        flags: Flags::from_system(flags),
        internal_date: date,
    }
}

fn uids(folder: &mut dyn Folder) -> Vec<Uid> {
    folder
        .list_messages()
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect()
}

#[test]
fn passes_the_conformance_suite_with_either_separator() {
    for sep in [None, Some("/")] {
        let root = tempfile::tempdir().unwrap();
        let config = config(root.path(), sep);
        backend_api::conformance::check_repository(&|| {
            MaildirBackend::open(config.clone()).unwrap()
        });
    }
}

#[test]
fn configuration_errors_name_the_option() {
    let root = tempfile::tempdir().unwrap();

    let missing = MaildirBackend::open(RepositoryConfig::new("local"))
        .err()
        .unwrap();
    assert_eq!(missing.scope, ErrorScope::Repository);
    assert!(
        missing.message.contains("'localfolders' is missing"),
        "{}",
        missing.message
    );

    let file = root.path().join("a-file");
    fs::write(&file, "").unwrap();
    let error = MaildirBackend::open(config(&file, None)).err().unwrap();
    assert!(
        error.message.contains("'localfolders'")
            && error.message.contains("is a file, not a directory"),
        "{}",
        error.message
    );
    assert!(!error.message.contains('\n'));

    let error = MaildirBackend::open(config(root.path(), Some(":")))
        .err()
        .unwrap();
    assert!(error.message.contains("option 'sep'"), "{}", error.message);

    // A missing root is created; sep is trimmed as OfflineIMAP does.
    let nested = root.path().join("not/yet/there");
    let repository = MaildirBackend::open(config(&nested, Some(" / "))).unwrap();
    assert!(nested.is_dir());
    assert_eq!(repository.info().unwrap().line_ending, LineEnding::Lf);
    assert_eq!(MaildirBackend::NAME, "Maildir");
}

#[test]
fn folders_with_dot_separator_are_flat() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), None);
    repository.create_folder(&path("Work/Projects")).unwrap();
    repository.create_folder(&path("inbox")).unwrap();
    repository.create_folder(&path("INBOX")).unwrap();
    assert!(root.path().join("Work.Projects/cur").is_dir());
    assert!(root.path().join("INBOX/tmp").is_dir());
    let error = repository.create_folder(&path("Lists/v1.2")).unwrap_err();
    assert_eq!(error.scope, ErrorScope::Folder);
    assert!(error.message.contains("v1.2"), "{}", error.message);

    let mut listed: Vec<_> = repository
        .list_folders()
        .unwrap()
        .into_iter()
        .map(|f| (f.path.to_string(), f.selectable))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![("INBOX".into(), true), ("Work/Projects".into(), true)]
    );
    assert!(repository.open_folder(&path("Work")).is_err());
}

#[test]
fn folders_with_slash_separator_nest() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), Some("/"));
    repository
        .create_folder(&path("Work/Projects/v1.2"))
        .unwrap();
    assert!(root.path().join("Work/Projects/v1.2/new").is_dir());
    let mut listed: Vec<_> = repository
        .list_folders()
        .unwrap()
        .into_iter()
        .map(|f| (f.path.to_string(), f.selectable))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            ("Work".into(), false),
            ("Work/Projects".into(), false),
            ("Work/Projects/v1.2".into(), true)
        ]
    );
    // FMD5 hashes the nested name, with '/'.
    let mut folder = repository.open_folder(&path("Work/Projects/v1.2")).unwrap();
    folder
        .append_messages(vec![message(b"x\n", &[], None)])
        .unwrap();
    let file = &names(&root.path().join("Work/Projects/v1.2"), "new")[0];
    assert!(
        file.contains(&format!(",U=1,FMD5={}", folder_md5("Work/Projects/v1.2"))),
        "{file}"
    );
    assert!(repository.create_folder(&path("Work/cur")).is_err());
}

#[test]
fn offlineimap_maildirs_are_read_as_they_are() {
    let root = tempfile::tempdir().unwrap();
    let inbox = maildir(&root.path().join("INBOX"));
    let projects = maildir(&root.path().join("Work.Projects"));
    let inbox_md5 = folder_md5("INBOX");
    let projects_md5 = folder_md5("Work.Projects");
    let written = [
        (
            &inbox,
            "new",
            format!("1700000000_0.4242.host,U=3,FMD5={inbox_md5}:2,"),
        ),
        (
            &inbox,
            "cur",
            format!("1700000000_1.4242.host,U=7,FMD5={inbox_md5}:2,FS"),
        ),
        (
            &projects,
            "cur",
            format!("1700000001_0.4242.host,U=12,FMD5={projects_md5}:2,RS"),
        ),
    ];
    for (directory, sub, name) in &written {
        fs::write(directory.join(sub).join(name), b"Subject: hi\n\nbody\n").unwrap();
    }

    let repository = repository(root.path(), None);
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    let listing = folder.list_messages().unwrap();
    assert_eq!(
        listing.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![3, 7]
    );
    assert!(listing[0].flags.is_empty());
    assert_eq!(
        listing[1].flags,
        Flags::from_system(&[SystemFlag::Flagged, SystemFlag::Seen])
    );
    assert_eq!(listing[1].size, 18);
    assert_eq!(folder.status().unwrap().uid_next, 8);

    let mut folder = repository.open_folder(&path("Work/Projects")).unwrap();
    assert_eq!(uids(folder.as_mut()), vec![12]);
    // Nothing was renamed.
    for (directory, sub, name) in &written {
        assert!(directory.join(sub).join(name).exists(), "{name}");
    }
}

#[test]
fn a_delivered_file_gets_a_uid_and_keeps_its_bytes() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), None);
    repository.create_folder(&path("INBOX")).unwrap();
    let inbox = root.path().join("INBOX");
    let bytes = b"From x\nSubject: \xff\r\n\nno newline".to_vec();
    fs::write(inbox.join("new/1700000000.M1P2.host,S=30"), &bytes).unwrap();
    fs::write(inbox.join("cur/1700000001.M3P4.host:2,Sa"), b"two").unwrap();
    fs::write(inbox.join("cur/.hidden"), b"ignored").unwrap();
    fs::create_dir(inbox.join("cur/subdir")).unwrap();

    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    let listing = folder.list_messages().unwrap();
    assert_eq!(
        listing.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(listing[1].flags, Flags::from_system(&[SystemFlag::Seen]));
    let md5 = folder_md5("INBOX");
    assert_eq!(
        names(&inbox, "new"),
        vec![format!("1700000000.M1P2.host,S=30,U=1,FMD5={md5}")]
    );
    assert_eq!(
        names(&inbox, "cur"),
        vec![
            ".hidden".to_owned(),
            format!("1700000001.M3P4.host,U=2,FMD5={md5}:2,Sa"),
            "subdir".into()
        ]
    );
    let fetched = folder.fetch_messages(&[1]).unwrap();
    assert_eq!(fetched[0].bytes, bytes);
    assert_eq!(folder.status().unwrap().uid_next, 3);

    // Listing again changes nothing.
    assert_eq!(uids(folder.as_mut()), vec![1, 2]);
    assert_eq!(folder.status().unwrap().uid_next, 3);
}

#[test]
fn a_file_moved_from_another_folder_gets_a_new_uid() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), None);
    repository.create_folder(&path("INBOX")).unwrap();
    repository.create_folder(&path("Archive")).unwrap();
    let mut inbox = repository.open_folder(&path("INBOX")).unwrap();
    inbox
        .append_messages(vec![message(b"a\n", &[SystemFlag::Seen], None)])
        .unwrap();
    inbox.flush().unwrap();
    drop(inbox);

    // A mail client moves the INBOX file (U=1, INBOX's FMD5) into Archive.
    let mut archive = repository.open_folder(&path("Archive")).unwrap();
    archive
        .append_messages(vec![message(b"b\n", &[], None)])
        .unwrap();
    let from = root.path().join("INBOX/cur");
    let moved = names(&root.path().join("INBOX"), "cur").remove(0);
    fs::rename(
        from.join(&moved),
        root.path().join("Archive/cur").join(&moved),
    )
    .unwrap();

    let listing = archive.list_messages().unwrap();
    assert_eq!(
        listing.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(listing[1].flags, Flags::from_system(&[SystemFlag::Seen]));
    let renamed = names(&root.path().join("Archive"), "cur").remove(0);
    let unique = moved.split(',').next().unwrap();
    assert_eq!(
        renamed,
        format!("{unique},U=2,FMD5={}:2,S", folder_md5("Archive"))
    );
    assert_eq!(archive.fetch_messages(&[2]).unwrap()[0].bytes, b"a\n");
}

#[test]
fn a_copied_file_keeps_the_uid_only_once() {
    let root = tempfile::tempdir().unwrap();
    let inbox = maildir(&root.path().join("INBOX"));
    let md5 = folder_md5("INBOX");
    fs::write(
        inbox.join(format!("cur/b_copy,U=5,FMD5={md5}:2,S")),
        b"same",
    )
    .unwrap();
    fs::write(
        inbox.join(format!("cur/a_orig,U=5,FMD5={md5}:2,S")),
        b"same",
    )
    .unwrap();

    let repository = repository(root.path(), None);
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    assert_eq!(uids(folder.as_mut()), vec![5, 6]);
    assert_eq!(
        names(&inbox, "cur"),
        vec![
            format!("a_orig,U=5,FMD5={md5}:2,S"),
            format!("b_copy,U=6,FMD5={md5}:2,S")
        ]
    );
}

#[test]
fn append_fetch_flags_delete_on_disk() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), None);
    repository.create_folder(&path("INBOX")).unwrap();
    let inbox = root.path().join("INBOX");
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    let uids_appended = folder
        .append_messages(vec![
            message(b"plain\n", &[], Some(1_000_000_000)),
            message(
                b"seen\n",
                &[SystemFlag::Seen, SystemFlag::Draft],
                Some(-86_400),
            ),
        ])
        .unwrap();
    assert_eq!(uids_appended, vec![Some(1), Some(2)]);
    folder.flush().unwrap();
    assert!(names(&inbox, "tmp").is_empty());
    let new = names(&inbox, "new");
    assert_eq!(new.len(), 1);
    assert!(!new[0].contains(':'), "{new:?}");
    let cur = names(&inbox, "cur");
    assert!(cur[0].ends_with(":2,DS"), "{cur:?}");
    let modified = fs::metadata(inbox.join("new").join(&new[0]))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(modified, UNIX_EPOCH + Duration::from_secs(1_000_000_000));

    let fetched = folder.fetch_messages(&[2, 1, 3]).unwrap();
    assert_eq!(fetched.len(), 2);
    assert_eq!(
        (fetched[0].uid, fetched[0].internal_date),
        (2, Some(-86_400))
    );
    assert_eq!(
        (fetched[1].bytes.as_slice(), fetched[1].internal_date),
        (&b"plain\n"[..], Some(1_000_000_000))
    );

    // A flag change moves a new/ file to cur/; unknown letters survive.
    let mut forwarded = Flags::from_system(&[SystemFlag::Answered]);
    forwarded.insert_keyword("$Forwarded");
    folder
        .update_flags(&[1], &forwarded, &Flags::new())
        .unwrap();
    folder.flush().unwrap();
    assert!(names(&inbox, "new").is_empty());
    let moved = names(&inbox, "cur")
        .into_iter()
        .find(|n| n.contains(",U=1,"))
        .unwrap();
    assert!(moved.ends_with(":2,PR"), "{moved}");
    fs::rename(
        inbox.join("cur").join(&moved),
        inbox.join("cur").join(format!("{moved}z")),
    )
    .unwrap();
    folder
        .update_flags(&[1], &Flags::from_system(&[SystemFlag::Seen]), &forwarded)
        .unwrap();
    let now = names(&inbox, "cur")
        .into_iter()
        .find(|n| n.contains(",U=1,"))
        .unwrap();
    assert!(now.ends_with(":2,Sz"), "{now}");

    folder.delete_messages(&[2, 99]).unwrap();
    folder.flush().unwrap();
    assert_eq!(uids(folder.as_mut()), vec![1]);
    assert_eq!(names(&inbox, "cur").len(), 1);
}

#[test]
fn a_file_renamed_by_a_client_is_found_again() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), None);
    repository.create_folder(&path("INBOX")).unwrap();
    let inbox = root.path().join("INBOX");
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    folder
        .append_messages(vec![message(b"m\n", &[], None)])
        .unwrap();
    assert_eq!(uids(folder.as_mut()), vec![1]);

    // The client reads it: new/ -> cur/ with the seen flag.
    let name = names(&inbox, "new").remove(0);
    fs::rename(
        inbox.join("new").join(&name),
        inbox.join("cur").join(format!("{name}:2,S")),
    )
    .unwrap();
    assert_eq!(folder.fetch_messages(&[1]).unwrap()[0].bytes, b"m\n");

    let name = names(&inbox, "cur").remove(0);
    fs::rename(
        inbox.join("cur").join(&name),
        inbox.join("cur").join(format!("{name}R")),
    )
    .unwrap();
    folder
        .update_flags(
            &[1],
            &Flags::from_system(&[SystemFlag::Flagged]),
            &Flags::new(),
        )
        .unwrap();
    let listing = folder.list_messages().unwrap();
    assert_eq!(
        listing[0].flags,
        Flags::from_system(&[SystemFlag::Flagged, SystemFlag::Seen, SystemFlag::Answered])
    );

    let name = names(&inbox, "cur").remove(0);
    fs::rename(
        inbox.join("cur").join(&name),
        inbox.join("cur").join(name.replace(":2,FRS", ":2,S")),
    )
    .unwrap();
    folder.delete_messages(&[1]).unwrap();
    assert!(names(&inbox, "cur").is_empty());
}

#[test]
fn an_unreadable_file_is_a_message_error() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), None);
    repository.create_folder(&path("INBOX")).unwrap();
    let link = root.path().join("INBOX/cur/dangling:2,S");
    std::os::unix::fs::symlink(root.path().join("nowhere"), &link).unwrap();
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    let listing = folder.list_messages().unwrap();
    assert_eq!(
        listing.len(),
        1,
        "listed, so that its UID does not read as deleted"
    );
    let error = folder.fetch_messages(&[listing[0].uid]).unwrap_err();
    assert_eq!(error.scope, ErrorScope::Message);
    assert!(error.message.contains("dangling"), "{}", error.message);
}

#[test]
fn uids_and_uidvalidity_persist_across_reopen() {
    let root = tempfile::tempdir().unwrap();
    let first = repository(root.path(), None);
    first.create_folder(&path("INBOX")).unwrap();
    let mut folder = first.open_folder(&path("INBOX")).unwrap();
    let validity = folder.status().unwrap().uid_validity;
    folder
        .append_messages(vec![message(b"1\n", &[], None), message(b"2\n", &[], None)])
        .unwrap();
    folder.delete_messages(&[2]).unwrap();
    folder.flush().unwrap();
    drop(folder);

    let second = repository(root.path(), None);
    let mut folder = second.open_folder(&path("INBOX")).unwrap();
    let status = folder.status().unwrap();
    assert_eq!(
        (status.uid_validity, status.uid_next, status.message_count),
        (validity, 3, 1)
    );
    assert_eq!(
        folder
            .append_messages(vec![message(b"3\n", &[], None)])
            .unwrap(),
        vec![Some(3)]
    );
    let state = fs::read_to_string(root.path().join("INBOX").join(STATE_FILE)).unwrap();
    assert_eq!(state, format!("{validity} 4\n"));
}

#[test]
fn state_file_problems() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), None);
    let inbox = maildir(&root.path().join("INBOX"));
    let md5 = folder_md5("INBOX");

    // No state file but OfflineIMAP's UIDs: they are kept, the next UID is above them.
    fs::write(inbox.join(format!("cur/x,U=41,FMD5={md5}:2,S")), b"x").unwrap();
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    let status = folder.status().unwrap();
    assert_eq!(status.uid_next, 42);
    drop(folder);

    // A U= at or above the next UID raises it, durably.
    fs::write(inbox.join(format!("cur/y,U=50,FMD5={md5}:2,S")), b"y").unwrap();
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    assert_eq!(folder.status().unwrap().uid_next, 51);
    let state = fs::read_to_string(inbox.join(STATE_FILE)).unwrap();
    assert_eq!(state, format!("{} 51\n", status.uid_validity));
    drop(folder);

    // Damaged: a folder error naming the file and the fix.
    fs::write(inbox.join(STATE_FILE), "garbage").unwrap();
    let error = repository.open_folder(&path("INBOX")).err().unwrap();
    assert_eq!(error.scope, ErrorScope::Folder);
    assert!(
        error.message.contains(STATE_FILE) && error.message.contains("delete it"),
        "{}",
        error.message
    );

    // Deleted: a new UIDVALIDITY.
    fs::remove_file(inbox.join(STATE_FILE)).unwrap();
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    let renewed = folder.status().unwrap();
    assert_ne!(renewed.uid_validity, status.uid_validity);
    assert_eq!(renewed.uid_next, 51);
}

#[test]
fn two_open_copies_of_a_folder_never_share_a_uid() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), Some("/"));
    repository.create_folder(&path("INBOX")).unwrap();
    let mut a = repository.open_folder(&path("INBOX")).unwrap();
    let mut b = repository.open_folder(&path("INBOX")).unwrap();
    assert_eq!(
        a.status().unwrap().uid_validity,
        b.status().unwrap().uid_validity
    );
    let from_a = a.append_messages(vec![message(b"a\n", &[], None)]).unwrap();
    let from_b = b.append_messages(vec![message(b"b\n", &[], None)]).unwrap();
    assert_eq!((from_a, from_b), (vec![Some(1)], vec![Some(2)]));
    assert_eq!(uids(a.as_mut()), vec![1, 2]);
}

#[test]
fn folders_are_usable_from_other_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MaildirRepository>();
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), None);
    repository.create_folder(&path("INBOX")).unwrap();
    let folder = repository.open_folder(&path("INBOX")).unwrap();
    std::thread::spawn(move || {
        let mut folder = folder;
        folder
            .append_messages(vec![message(b"t\n", &[], None)])
            .unwrap();
        folder.flush().unwrap();
    })
    .join()
    .unwrap();
}
