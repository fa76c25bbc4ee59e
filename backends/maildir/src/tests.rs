//! Tests of the whole backend through the interface traits, on real directories.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use backend_api::{Backend, ErrorScope, Flags, Repository, RepositoryConfig, SystemFlag, Uid};
use backend_kit::testing::{
    check_root_option, dry_run, file_config, message, path, snapshot, uids,
};

use crate::names::folder_md5;
use crate::uidstate::STATE_FILE;
use crate::{MaildirBackend, MaildirRepository};

fn config(root: &Path, sep: Option<&str>) -> RepositoryConfig {
    let config = file_config("local", root);
    match sep {
        Some(sep) => config.with("sep", sep),
        None => config,
    }
}

fn repository(root: &Path, sep: Option<&str>) -> MaildirRepository {
    MaildirRepository::open(&config(root, sep)).unwrap()
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

#[test]
fn passes_the_conformance_suite_with_either_separator() {
    for sep in [None, Some("/")] {
        let root = tempfile::tempdir().unwrap();
        let config = config(root.path(), sep);
        backend_kit::conformance::check_repository(&|| {
            MaildirBackend::open(config.clone()).unwrap()
        });
    }
}

#[test]
fn configuration_errors_name_the_option() {
    let root = tempfile::tempdir().unwrap();
    check_root_option(root.path(), MaildirBackend::open, |root| config(root, None));

    let file = root.path().join("a-file");
    let error = MaildirBackend::open(config(&file, None)).err().unwrap();
    assert!(!error.message.contains('\n'));

    let error = MaildirBackend::open(config(root.path(), Some(":")))
        .err()
        .unwrap();
    assert!(error.message.contains("option 'sep'"), "{}", error.message);

    // A missing root is created; sep is trimmed as OfflineIMAP does.
    let nested = root.path().join("another/new/root");
    MaildirBackend::open(config(&nested, Some(" / "))).unwrap();
    assert!(nested.is_dir());
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

fn plus_plus(root: &Path) -> MaildirRepository {
    MaildirRepository::open(&config(root, None).with("layout", "maildir++")).unwrap()
}

#[test]
fn maildir_plus_plus_passes_the_conformance_suite() {
    let root = tempfile::tempdir().unwrap();
    let config = config(root.path(), None).with("layout", "Maildir++");
    backend_kit::conformance::check_repository(&|| MaildirBackend::open(config.clone()).unwrap());
}

#[test]
fn maildir_plus_plus_keeps_inbox_at_the_root_and_folders_dotted() {
    let root = tempfile::tempdir().unwrap();
    let repository = plus_plus(root.path());
    repository.create_folder(&path("INBOX")).unwrap();
    repository.create_folder(&path("Work/Projects")).unwrap();
    assert!(root.path().join("cur").is_dir() && root.path().join("tmp").is_dir());
    assert!(root.path().join(".Work.Projects/new").is_dir());
    // The Maildir++ subfolder marker, as Dovecot and Courier write it; not at the root.
    assert!(root.path().join(".Work.Projects/maildirfolder").is_file());
    assert!(!root.path().join("maildirfolder").exists());
    assert!(!root.path().join("INBOX").exists());

    let mut inbox = repository.open_folder(&path("INBOX")).unwrap();
    inbox
        .append_messages(vec![message(b"in\n", &[SystemFlag::Seen], None)])
        .unwrap();
    let file = &names(root.path(), "cur")[0];
    assert!(
        file.contains(&format!(",U=1,FMD5={}:2,S", folder_md5("INBOX"))),
        "{file}"
    );
    let mut work = repository.open_folder(&path("Work/Projects")).unwrap();
    work.append_messages(vec![message(b"w\n", &[], None)])
        .unwrap();
    let file = &names(&root.path().join(".Work.Projects"), "new")[0];
    assert!(
        file.contains(&format!(",U=1,FMD5={}", folder_md5("Work.Projects"))),
        "{file}"
    );
    let mut listed: Vec<_> = repository
        .list_folders()
        .unwrap()
        .into_iter()
        .map(|f| f.path.to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, ["INBOX", "Work/Projects"]);
}

#[test]
fn maildir_plus_plus_option_errors_name_the_option() {
    let root = tempfile::tempdir().unwrap();
    let error = MaildirBackend::open(config(root.path(), None).with("layout", "courier"))
        .err()
        .unwrap();
    assert!(
        error.message.contains("option 'layout'") && error.message.contains("maildir++"),
        "{}",
        error.message
    );
    let error = MaildirBackend::open(config(root.path(), Some("/")).with("layout", "maildir++"))
        .err()
        .unwrap();
    assert!(
        error.message.contains("option 'sep'") && error.message.contains("remove sep"),
        "{}",
        error.message
    );
    // sep = . says what Maildir++ does anyway.
    MaildirBackend::open(config(root.path(), Some(".")).with("layout", "maildir++")).unwrap();
    MaildirBackend::open(config(root.path(), None).with("layout", " offlineimap ")).unwrap();
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

/// OfflineIMAP with a local `nametrans` tags files with the MD5 of the translated name:
/// a folder new to twinbox whose files nearly all carry one other FMD5 adopts it, keeps
/// their UIDs and renames none of them; a file with a third FMD5 is still moved in.
#[test]
fn a_folder_adopts_the_fmd5_of_offlineimaps_translated_name() {
    let root = tempfile::tempdir().unwrap();
    let lists = maildir(&root.path().join("ml.rust"));
    // OfflineIMAP's visible name of local folder ml.rust under `re.sub('^ml\\.', 'Lists.')`.
    let theirs = folder_md5("Lists.rust");
    let other = folder_md5("INBOX");
    let mut written = Vec::new();
    for uid in 1..=10 {
        written.push(format!(
            "17000000{uid:02}_0.1.host,U={uid},FMD5={theirs}:2,S"
        ));
    }
    let moved = format!("1800000000_0.1.host,U=4,FMD5={other}:2,S");
    for name in written.iter().chain([&moved]) {
        fs::write(lists.join("cur").join(name), b"Subject: hi\n\nbody\n").unwrap();
    }

    // A dry run adopts it in memory only.
    let read_only = MaildirRepository::open(&RepositoryConfig {
        read_only: true,
        ..config(root.path(), None)
    })
    .unwrap();
    let mut folder = read_only.open_folder(&path("ml/rust")).unwrap();
    assert_eq!(uids(folder.as_mut()), (1..=11).collect::<Vec<_>>());
    assert!(!lists.join(STATE_FILE).exists());
    drop(folder);

    let repository = repository(root.path(), None);
    let mut folder = repository.open_folder(&path("ml/rust")).unwrap();
    assert_eq!(uids(folder.as_mut()), (1..=11).collect::<Vec<_>>());
    assert_eq!(folder.status().unwrap().uid_next, 12);
    let state = fs::read_to_string(lists.join(STATE_FILE)).unwrap();
    assert!(state.ends_with(&format!(" 12 {theirs}\n")), "{state}");
    let now = names(&lists, "cur");
    for name in &written {
        assert!(now.contains(name), "{name} renamed: {now:?}");
    }
    let unique = moved.split(',').next().unwrap();
    let ours = folder_md5("ml.rust");
    assert!(
        now.contains(&format!("{unique},U=11,FMD5={ours}:2,S")),
        "{now:?}"
    );
    drop(folder);

    // Opened again, the state file says which FMD5 it accepts: nothing changes.
    let mut folder = repository.open_folder(&path("ml/rust")).unwrap();
    assert_eq!(uids(folder.as_mut()), (1..=11).collect::<Vec<_>>());
    assert_eq!(names(&lists, "cur"), now);
}

/// A folder with its own FMD5 on most files, or without a clear majority of one other,
/// adopts none: the others are moved in, as before.
#[test]
fn a_folder_without_a_clear_foreign_fmd5_adopts_none() {
    let root = tempfile::tempdir().unwrap();
    let work = maildir(&root.path().join("Work"));
    let a = folder_md5("A");
    let b = folder_md5("B");
    for (i, fmd5) in [&a, &a, &a, &b].iter().enumerate() {
        fs::write(
            work.join("cur").join(format!(
                "17000000{i:02}_0.1.host,U={},FMD5={fmd5}:2,S",
                i + 1
            )),
            b"x\n",
        )
        .unwrap();
    }
    let repository = repository(root.path(), None);
    let mut folder = repository.open_folder(&path("Work")).unwrap();
    assert_eq!(uids(folder.as_mut()), vec![1, 2, 3, 4]);
    let state = fs::read_to_string(work.join(STATE_FILE)).unwrap();
    assert_eq!(state.split_whitespace().count(), 2, "{state}");
    let ours = folder_md5("Work");
    assert!(
        names(&work, "cur")
            .iter()
            .all(|name| name.contains(&format!("FMD5={ours}"))),
        "{:?}",
        names(&work, "cur")
    );
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
        format!("{unique},S=2,U=2,FMD5={}:2,S", folder_md5("Archive"))
    );
    assert_eq!(archive.fetch_messages(&[2]).unwrap()[0].bytes, *b"a\n");
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
    assert_eq!(folder.fetch_messages(&[1]).unwrap()[0].bytes, *b"m\n");

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
fn an_unreadable_file_without_a_uid_is_listed_but_never_renamed() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), None);
    repository.create_folder(&path("INBOX")).unwrap();
    let inbox = root.path().join("INBOX");
    let md5 = folder_md5("INBOX");
    fs::write(inbox.join("new/1700000000.M1P1.host"), b"fine\n").unwrap();
    let link = inbox.join("cur/dangling:2,S");
    std::os::unix::fs::symlink(root.path().join("nowhere"), &link).unwrap();
    let target_before = fs::read_link(&link).unwrap();

    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    let listing = folder.list_messages().unwrap();
    // The readable one got UID 1 in its name; the dangling link a UID for this listing
    // only, above the next UID, so that the engine sees it and reports it.
    assert_eq!(
        listing.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(listing[1].flags, Flags::from_system(&[SystemFlag::Seen]));
    assert_eq!(folder.status().unwrap().uid_next, 3);
    assert_eq!(
        fs::read_to_string(inbox.join(STATE_FILE))
            .unwrap()
            .split_whitespace()
            .nth(1),
        Some("2"),
        "the listing-only UID is not reserved"
    );
    assert_eq!(
        names(&inbox, "cur"),
        vec!["dangling:2,S".to_owned()],
        "an unreadable file is not renamed"
    );
    assert_eq!(fs::read_link(&link).unwrap(), target_before);
    assert_eq!(
        names(&inbox, "new"),
        vec![format!("1700000000.M1P1.host,U=1,FMD5={md5}")]
    );

    let error = folder.fetch_messages(&[2]).unwrap_err();
    assert_eq!(error.scope, ErrorScope::Message);
    assert!(
        error.message.contains("dangling") && error.message.contains("remove it"),
        "{}",
        error.message
    );
    // The engine never had its content: changing or deleting it does nothing.
    folder
        .update_flags(
            &[2],
            &Flags::from_system(&[SystemFlag::Flagged]),
            &Flags::new(),
        )
        .unwrap();
    folder.delete_messages(&[2]).unwrap();
    assert_eq!(names(&inbox, "cur"), vec!["dangling:2,S".to_owned()]);
    // An append goes above it, and the next listing gives it the next free UID.
    assert_eq!(
        folder
            .append_messages(vec![message(b"appended\n", &[], None)])
            .unwrap(),
        vec![Some(3)]
    );
    folder.flush().unwrap();
    assert_eq!(uids(folder.as_mut()), vec![1, 3, 4]);
    drop(folder);

    // Once it can be read, it gets a UID in its name like any delivered file.
    fs::write(root.path().join("nowhere"), b"found again\n").unwrap();
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    assert_eq!(uids(folder.as_mut()), vec![1, 3, 4]);
    assert!(
        names(&inbox, "cur").contains(&format!("dangling,U=4,FMD5={md5}:2,S")),
        "{:?}",
        names(&inbox, "cur")
    );
    assert_eq!(
        folder.fetch_messages(&[4]).unwrap()[0].bytes,
        *b"found again\n"
    );
}

#[test]
fn an_unreadable_file_with_a_uid_stays_listed_under_it() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), None);
    repository.create_folder(&path("INBOX")).unwrap();
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    folder
        .append_messages(vec![message(b"m\n", &[SystemFlag::Seen], None)])
        .unwrap();
    folder.flush().unwrap();
    let cur = root.path().join("INBOX/cur");
    let name = names(&root.path().join("INBOX"), "cur").remove(0);
    fs::remove_file(cur.join(&name)).unwrap();
    std::os::unix::fs::symlink(root.path().join("gone"), cur.join(&name)).unwrap();

    let listing = folder.list_messages().unwrap();
    assert_eq!(
        listing.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![1],
        "listed, so that its UID does not read as deleted"
    );
    let error = folder.fetch_messages(&[1]).unwrap_err();
    assert_eq!(error.scope, ErrorScope::Message);
    assert!(error.message.contains(&name), "{}", error.message);
    assert_eq!(names(&root.path().join("INBOX"), "cur"), vec![name]);
}

#[test]
fn an_unreadable_file_is_warned_about_once_per_open_folder() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), None);
    repository.create_folder(&path("INBOX")).unwrap();
    let inbox = root.path().join("INBOX");
    let md5 = folder_md5("INBOX");
    let without_uid = inbox.join("cur/no-uid-dangling:2,S");
    let with_uid = inbox.join(format!("cur/uid-dangling,U=1,FMD5={md5}:2,S"));
    for link in [&without_uid, &with_uid] {
        std::os::unix::fs::symlink(root.path().join("nowhere"), link).unwrap();
    }
    let warnings = |file: &Path| {
        let file = file.display().to_string();
        capture::warnings()
            .iter()
            .filter(|w| w.contains(&file))
            .count()
    };
    capture::install();

    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    folder.status().unwrap();
    let listing = folder.list_messages().unwrap();
    let _ = folder.fetch_messages(&[1]);
    folder.list_messages().unwrap();
    folder.status().unwrap();
    assert_eq!(listing.len(), 2);
    assert_eq!(warnings(&without_uid), 1);
    assert_eq!(warnings(&with_uid), 1);
    let warning = capture::warnings()
        .into_iter()
        .find(|w| w.contains("no-uid-dangling"))
        .unwrap();
    assert!(
        warning.contains("not renamed") && warning.contains("remove it"),
        "names the file and the fix: {warning}"
    );

    // A folder opened again (the next sync) says it again, once.
    drop(folder);
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    folder.list_messages().unwrap();
    folder.list_messages().unwrap();
    assert_eq!(warnings(&without_uid), 2);
}

/// A logger that keeps warnings, for the tests that count them. Tests run in parallel
/// threads of one process, so each looks only for its own (temporary) paths.
mod capture {
    use std::sync::Mutex;

    static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

    struct Capture;

    impl log::Log for Capture {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::Level::Warn
        }

        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                WARNINGS.lock().unwrap().push(record.args().to_string());
            }
        }

        fn flush(&self) {}
    }

    static LOGGER: Capture = Capture;

    pub fn install() {
        // Only the first call installs it; later ones find it there.
        let _ = log::set_logger(&LOGGER);
        log::set_max_level(log::LevelFilter::Warn);
    }

    pub fn warnings() -> Vec<String> {
        WARNINGS.lock().unwrap().clone()
    }
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

fn read_only(root: &Path, sep: Option<&str>) -> MaildirRepository {
    MaildirRepository::open(&dry_run(config(root, sep))).unwrap()
}

/// The pid of a process that has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn hostname_in_names() -> String {
    let unique = crate::names::unique_part();
    unique.splitn(3, '.').nth(2).unwrap().to_owned()
}

/// A tree with every kind of work a real session would do on disk: a folder without a
/// state file, files without UIDs in new/ and cur/, a copied UID, a file moved in from
/// another folder, a dangling link, a folder without tmp/, and leftovers in tmp/.
fn tree_with_pending_work(root: &Path) {
    let inbox = maildir(&root.join("INBOX"));
    let md5 = folder_md5("INBOX");
    fs::write(inbox.join("new/1700000003.M1P1.host"), b"delivered\n").unwrap();
    fs::write(inbox.join("cur/1700000002.M2P1.host:2,S"), b"read\n").unwrap();
    fs::write(inbox.join(format!("cur/a,U=5,FMD5={md5}:2,S")), b"five\n").unwrap();
    fs::write(inbox.join(format!("cur/b,U=5,FMD5={md5}:2,S")), b"five\n").unwrap();
    fs::write(
        inbox.join(format!("cur/c,U=2,FMD5={}:2,F", folder_md5("Sent"))),
        b"moved here\n",
    )
    .unwrap();
    // Sorts first by name, yet is numbered last, as a real scan numbers it.
    std::os::unix::fs::symlink(root.join("nowhere"), inbox.join("cur/0-dangling:2,S")).unwrap();
    let host = hostname_in_names();
    fs::write(
        inbox.join(format!(
            "tmp/1700000000_0.{}.{host},twinbox-tmp",
            dead_pid()
        )),
        b"half",
    )
    .unwrap();
    fs::write(inbox.join("twinbox-uidvalidity.tmp"), "1 2\n").unwrap();

    let work = maildir(&root.join("Work.Projects"));
    fs::remove_dir(work.join("tmp")).unwrap();
    let md5 = folder_md5("Work.Projects");
    fs::write(work.join(STATE_FILE), "1600000000 10\n").unwrap();
    fs::write(work.join(format!("cur/x,U=3,FMD5={md5}:2,S")), b"three\n").unwrap();
    fs::write(work.join("new/zzz.M1P1.host"), b"late 1\n").unwrap();
    fs::write(work.join("new/aaa.M1P1.host"), b"late 2\n").unwrap();
}

#[test]
fn a_read_only_session_changes_nothing_on_disk() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    tree_with_pending_work(root);
    let before = snapshot(root);

    let session = |repository: &MaildirRepository| {
        let mut listed = Vec::new();
        let mut folders = repository.list_folders().unwrap();
        folders.sort_by(|a, b| a.path.cmp(&b.path));
        for info in folders {
            let mut folder = repository.open_folder(&info.path).unwrap();
            let status = folder.status().unwrap();
            let listing = folder.list_messages().unwrap();
            let all: Vec<Uid> = listing.iter().map(|m| m.uid).collect();
            // The unreadable one fails; fetch the rest one by one.
            let mut fetched = Vec::new();
            for uid in &all {
                if let Ok(mut got) = folder.fetch_messages(&[*uid]) {
                    fetched.push((*uid, got.remove(0).bytes));
                }
            }
            assert!(folder.status().unwrap().uid_next > *all.last().unwrap());
            folder.flush().unwrap();
            listed.push((info.path.to_string(), status, listing, fetched));
        }
        listed
    };
    let dry = read_only(root, None);
    let first = session(&dry);
    assert_eq!(
        snapshot(root),
        before,
        "a read-only session changed the tree"
    );

    // INBOX: no state yet, so a provisional UIDVALIDITY; UID 5 is kept by the first name
    // (a); the rest get provisional UIDs from 6 on, in name order.
    let (name, status, listing, fetched) = &first[0];
    assert_eq!(name, "INBOX");
    assert_ne!(status.uid_validity, 0);
    assert_eq!(
        listing.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![5, 6, 7, 8, 9, 10]
    );
    assert_eq!(status.uid_next, 11);
    let bytes = |uid: Uid| {
        fetched
            .iter()
            .find(|(u, _)| *u == uid)
            .map(|(_, b)| b.clone())
    };
    // Readable names in order: 1700000002.M2P1.host:2,S, 1700000003.M1P1.host, (a,) b,
    // c; then the unreadable 0-dangling.
    assert_eq!(bytes(6).as_deref(), Some(&b"read\n"[..]));
    assert_eq!(bytes(7).as_deref(), Some(&b"delivered\n"[..]));
    assert_eq!(bytes(8).as_deref(), Some(&b"five\n"[..]));
    assert_eq!(bytes(9).as_deref(), Some(&b"moved here\n"[..]));
    assert_eq!(bytes(10), None, "the dangling link cannot be fetched");
    // Work.Projects: the state's next UID is 10.
    let (name, status, listing, fetched) = &first[1];
    assert_eq!(name, "Work/Projects");
    assert_eq!(status.uid_validity, 1_600_000_000);
    assert_eq!(
        listing.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![3, 10, 11]
    );
    assert_eq!(fetched[1], (10, b"late 2\n".to_vec().into()));

    // The same tree lists the same way again (but for INBOX's provisional UIDVALIDITY).
    let second = session(&read_only(root, None));
    for (a, b) in first.iter().zip(&second) {
        assert_eq!((&a.0, &a.2, &a.3), (&b.0, &b.2, &b.3));
    }
    assert_eq!(first[1].1, second[1].1);

    // Every write is refused, naming the dry run, and still nothing changed.
    let mut folder = dry.open_folder(&path("INBOX")).unwrap();
    folder.list_messages().unwrap();
    let refusals = [
        folder
            .append_messages(vec![message(b"x\n", &[], None)])
            .unwrap_err(),
        folder
            .update_flags(
                &[5],
                &Flags::from_system(&[SystemFlag::Flagged]),
                &Flags::new(),
            )
            .unwrap_err(),
        folder.delete_messages(&[5]).unwrap_err(),
        dry.create_folder(&path("New")).unwrap_err(),
    ];
    for error in refusals {
        assert_eq!(error.scope, ErrorScope::Repository);
        assert!(error.message.contains("read-only"), "{}", error.message);
    }
    folder.flush().unwrap();
    drop(folder);
    assert_eq!(snapshot(root), before);

    // A real session afterwards gives the files exactly the UIDs the dry run showed.
    let real = repository(root, None);
    for (name, _, listing, _) in &first {
        let mut folder = real.open_folder(&path(name)).unwrap();
        assert_eq!(&folder.list_messages().unwrap(), listing, "{name}");
    }
    assert_ne!(snapshot(root), before);
}

#[test]
fn a_read_only_repository_with_a_missing_root_is_empty() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("not-yet");
    let before = snapshot(parent.path());
    let repository = read_only(&root, None);
    assert!(repository.list_folders().unwrap().is_empty());
    assert!(repository.open_folder(&path("INBOX")).is_err());
    let error = repository.create_folder(&path("INBOX")).unwrap_err();
    assert!(error.message.contains("read-only"), "{}", error.message);
    assert!(!root.exists());
    assert_eq!(snapshot(parent.path()), before);

    // With sep = / too, and a root that exists but holds no folder.
    fs::create_dir(&root).unwrap();
    let repository = read_only(&root, Some("/"));
    assert!(repository.list_folders().unwrap().is_empty());
    assert!(repository.open_folder(&path("Work/Projects")).is_err());
}

#[test]
fn opening_a_folder_for_writing_clears_abandoned_tmp_files() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    tree_with_pending_work(root);
    let inbox = root.join("INBOX");
    let live = format!(
        "1700000000_1.{}.{},twinbox-tmp",
        std::process::id(),
        hostname_in_names()
    );
    fs::write(inbox.join("tmp").join(&live), b"being written").unwrap();
    fs::write(inbox.join("tmp/1700000000.M9P9.otherclient"), b"theirs").unwrap();
    let new_before = names(&inbox, "new");

    let repository = repository(root, None);
    let folder = repository.open_folder(&path("INBOX")).unwrap();
    // Ours from a process that is gone: removed. Ours from a live process, and a fresh
    // file of another program: kept. The interrupted state write: removed.
    assert_eq!(
        names(&inbox, "tmp"),
        vec!["1700000000.M9P9.otherclient".to_owned(), live]
    );
    assert!(!inbox.join("twinbox-uidvalidity.tmp").exists());
    assert_eq!(names(&inbox, "new"), new_before, "new/ is never cleaned");
    drop(folder);
}

fn with_utf8foldernames(root: &Path, sep: Option<&str>, value: &str) -> MaildirRepository {
    let mut config = config(root, sep);
    config
        .account_options
        .insert("utf8foldernames".into(), value.into());
    MaildirRepository::open(&config).unwrap()
}

fn listed_paths(repository: &MaildirRepository) -> Vec<String> {
    let mut listed: Vec<String> = repository
        .list_folders()
        .unwrap()
        .into_iter()
        .map(|f| f.path.to_string())
        .collect();
    listed.sort();
    listed
}

fn directories(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn folder_names_are_modified_utf7_on_disk_by_default() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    for repository in [
        repository(root, None),
        with_utf8foldernames(root, None, "no"),
    ] {
        repository.create_folder(&path("Ärger")).unwrap();
        repository.create_folder(&path("Work/Projekte Ü")).unwrap();
        repository.create_folder(&path("Tom & Jerry")).unwrap();
        repository.create_folder(&path("INBOX/Entwürfe")).unwrap();
    }
    assert_eq!(
        directories(root),
        vec![
            "&AMQ-rger",
            "INBOX.Entw&APw-rfe",
            "Tom &- Jerry",
            "Work.Projekte &ANw-"
        ]
    );
    // Directories another program made: valid encodings decode, plain ASCII stands for
    // itself, UTF-8 and broken encodings are skipped (with a warning).
    maildir(&root.join("Plain"));
    maildir(&root.join("Übel"));
    maildir(&root.join("Bad&Zm9v"));
    let default = repository(root, None);
    assert_eq!(
        listed_paths(&default),
        vec![
            "INBOX/Entwürfe",
            "Plain",
            "Tom & Jerry",
            "Work/Projekte Ü",
            "Ärger"
        ]
    );

    // FMD5 hashes the name on disk, as OfflineIMAP does.
    let mut folder = default.open_folder(&path("Work/Projekte Ü")).unwrap();
    folder
        .append_messages(vec![message(b"x\n", &[], None)])
        .unwrap();
    let file = names(&root.join("Work.Projekte &ANw-"), "new").remove(0);
    assert!(
        file.ends_with(&format!(",U=1,FMD5={}", folder_md5("Work.Projekte &ANw-"))),
        "{file}"
    );

    // The separator rule applies to the folder's own name.
    let error = default.create_folder(&path("Über/v1.2")).unwrap_err();
    assert!(error.message.contains("\"v1.2\""), "{}", error.message);

    // Nested: each directory is one encoded component; a directory that does not decode
    // is skipped with everything below it.
    let nested_root = tempfile::tempdir().unwrap();
    let nested = repository(nested_root.path(), Some("/"));
    nested.create_folder(&path("Ärger/Ü")).unwrap();
    assert!(nested_root.path().join("&AMQ-rger/&ANw-/cur").is_dir());
    maildir(&nested_root.path().join("Übel/Sub"));
    assert_eq!(listed_paths(&nested), vec!["Ärger", "Ärger/Ü"]);
    assert!(nested.create_folder(&path("Ärger/cur")).is_err());
}

#[test]
fn an_offlineimap_maildir_with_encoded_names_keeps_its_uids() {
    let root = tempfile::tempdir().unwrap();
    let folder_dir = maildir(&root.path().join("&AMQ-rger"));
    let md5 = folder_md5("&AMQ-rger");
    let name = format!("1700000000_0.1.host,U=9,FMD5={md5}:2,S");
    fs::write(folder_dir.join("cur").join(&name), b"m\n").unwrap();
    let repository = repository(root.path(), None);
    assert_eq!(listed_paths(&repository), vec!["Ärger"]);
    let mut folder = repository.open_folder(&path("Ärger")).unwrap();
    assert_eq!(uids(folder.as_mut()), vec![9]);
    assert_eq!(names(&folder_dir, "cur"), vec![name]);
}

#[test]
fn folder_names_are_utf8_on_disk_with_utf8foldernames() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let repository = with_utf8foldernames(root, None, "yes");
    repository.create_folder(&path("Ärger")).unwrap();
    repository.create_folder(&path("Work/Projekte Ü")).unwrap();
    maildir(&root.join("&AMQ-rger"));
    assert_eq!(
        directories(root),
        vec!["&AMQ-rger", "Work.Projekte Ü", "Ärger"]
    );
    // Taken literally: `&AMQ-rger` is a folder of that name.
    assert_eq!(
        listed_paths(&repository),
        vec!["&AMQ-rger", "Work/Projekte Ü", "Ärger"]
    );
    let mut folder = repository.open_folder(&path("Work/Projekte Ü")).unwrap();
    folder
        .append_messages(vec![message(b"x\n", &[], None)])
        .unwrap();
    let file = names(&root.join("Work.Projekte Ü"), "new").remove(0);
    assert!(
        file.ends_with(&format!("FMD5={}", folder_md5("Work.Projekte Ü"))),
        "{file}"
    );
    assert!(repository.create_folder(&path("Ü/v1.2")).is_err());

    let nested = tempfile::tempdir().unwrap();
    let repository = with_utf8foldernames(nested.path(), Some("/"), "true");
    repository.create_folder(&path("Ärger/Ü")).unwrap();
    assert!(nested.path().join("Ärger/Ü/cur").is_dir());
    assert_eq!(listed_paths(&repository), vec!["Ärger", "Ärger/Ü"]);
}

#[test]
fn a_bad_utf8foldernames_value_names_the_account_section() {
    let root = tempfile::tempdir().unwrap();
    let mut config = config(root.path(), None);
    config
        .account_options
        .insert("utf8foldernames".into(), "sometimes".into());
    let error = MaildirBackend::open(config).err().unwrap();
    assert_eq!(error.scope, ErrorScope::Repository);
    assert!(
        error.message.contains("[Account]")
            && error.message.contains("utf8foldernames")
            && error.message.contains("\"sometimes\""),
        "{}",
        error.message
    );
}

#[test]
fn a_batch_larger_than_one_sync_group_is_delivered_whole() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), None);
    repository.create_folder(&path("INBOX")).unwrap();
    let inbox = root.path().join("INBOX");
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    let count = 300;
    let bodies: Vec<Vec<u8>> = (0..count).map(|n| format!("m{n}\n").into_bytes()).collect();
    let appended = folder
        .append_messages(
            bodies
                .iter()
                .enumerate()
                .map(|(n, body)| {
                    let flags: &[SystemFlag] = if n % 3 == 0 { &[SystemFlag::Seen] } else { &[] };
                    message(body, flags, Some(1_000_000_000 + n as i64))
                })
                .collect(),
        )
        .unwrap();
    folder.flush().unwrap();
    assert_eq!(appended, (1..=count as Uid).map(Some).collect::<Vec<_>>());
    assert!(names(&inbox, "tmp").is_empty());
    assert_eq!(
        names(&inbox, "new").len() + names(&inbox, "cur").len(),
        count
    );
    let fetched = folder.fetch_messages(&[1, 150, 300]).unwrap();
    for (message, n) in fetched.iter().zip([0, 149, 299]) {
        assert_eq!(message.bytes, bodies[n]);
        assert_eq!(message.internal_date, Some(1_000_000_000 + n as i64));
    }
}

#[test]
fn a_batch_that_fails_midway_leaves_nothing_in_tmp() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), None);
    repository.create_folder(&path("INBOX")).unwrap();
    let inbox = root.path().join("INBOX");
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    folder.status().unwrap();
    // cur/ replaced by a file: the seen message, third of four, cannot be moved there.
    fs::remove_dir(inbox.join("cur")).unwrap();
    fs::write(inbox.join("cur"), b"").unwrap();
    let error = folder
        .append_messages(vec![
            message(b"a\n", &[], None),
            message(b"b\n", &[], None),
            message(b"c\n", &[SystemFlag::Seen], None),
            message(b"d\n", &[], None),
        ])
        .unwrap_err();
    assert_eq!(error.scope, ErrorScope::Folder);
    assert!(names(&inbox, "tmp").is_empty());
    // What was delivered before the failure is complete.
    let delivered = names(&inbox, "new");
    assert_eq!(delivered.len(), 2);
    let mut bodies: Vec<Vec<u8>> = delivered
        .iter()
        .map(|name| fs::read(inbox.join("new").join(name)).unwrap())
        .collect();
    bodies.sort();
    assert_eq!(bodies, vec![b"a\n".to_vec(), b"b\n".to_vec()]);
}

#[test]
fn sizes_come_from_names_that_state_them_and_links_are_still_followed() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), None);
    repository.create_folder(&path("INBOX")).unwrap();
    let inbox = root.path().join("INBOX");
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    folder
        .append_messages(vec![message(b"twelve bytes", &[], None)])
        .unwrap();
    folder.flush().unwrap();
    let ours = names(&inbox, "new").remove(0);
    assert!(ours.contains(",S=12,"), "{ours}");
    // Dovecot's names state the size too; a name without one is measured.
    fs::write(
        inbox.join("cur/1700000000.M1P1.host,S=5,W=6:2,S"),
        b"five\n",
    )
    .unwrap();
    fs::write(inbox.join("new/1700000001.M2P2.host"), b"seven\n\n").unwrap();
    // A dangling link is unreadable whatever its name says.
    let link = inbox.join("new/1700000002.M3P3.host,S=40");
    std::os::unix::fs::symlink(root.path().join("nowhere"), &link).unwrap();

    let listing = folder.list_messages().unwrap();
    let sizes: Vec<u64> = listing.iter().map(|m| m.size).collect();
    assert_eq!(sizes, vec![12, 5, 7, 0]);
    assert!(folder.fetch_messages(&[listing[3].uid]).is_err());
    assert!(
        link.symlink_metadata().is_ok(),
        "an unreadable file is not renamed"
    );
}

/// Waits until what was just done to a folder is older than the unit tests' settling
/// time (`SETTLED_AFTER`), so that the next scan is kept while the directories stay as
/// they are.
fn let_settle() {
    std::thread::sleep(Duration::from_millis(150));
}

#[test]
fn a_cached_scan_is_used_until_a_file_is_delivered() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), None);
    repository.create_folder(&path("INBOX")).unwrap();
    let inbox = root.path().join("INBOX");
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    folder
        .append_messages(vec![message(b"ours\n", &[], None)])
        .unwrap();
    folder.flush().unwrap();
    // Its name states no size, so a scan measures it.
    let theirs = inbox.join("new/1700000000.M1P1.host");
    fs::write(&theirs, b"12345").unwrap();
    assert_eq!(folder.status().unwrap().message_count, 2);
    let_settle();
    let sizes = |folder: &mut dyn backend_api::Folder| {
        let listed = folder.list_messages().unwrap();
        listed.iter().map(|m| (m.uid, m.size)).collect::<Vec<_>>()
    };
    assert_eq!(sizes(folder.as_mut()), vec![(1, 5), (2, 5)]);

    // A file that grows keeps its name and its directory: the scan is not repeated (a
    // Maildir file never changes; this only shows that the cached scan is used).
    let renamed = names(&inbox, "new")
        .into_iter()
        .find(|name| name.starts_with("1700000000."))
        .unwrap();
    fs::write(inbox.join("new").join(&renamed), b"1234567").unwrap();
    assert_eq!(sizes(folder.as_mut()), vec![(1, 5), (2, 5)]);
    assert_eq!(folder.status().unwrap().message_count, 2);

    // A delivery between two status calls is seen by the second, at once.
    fs::write(inbox.join("new/1700000001.M2P2.host"), b"new\n").unwrap();
    let status = folder.status().unwrap();
    assert_eq!((status.message_count, status.uid_next), (3, 4));
    assert_eq!(sizes(folder.as_mut()), vec![(1, 5), (2, 7), (3, 4)]);

    // And one right after a scan, before the folder settled.
    fs::write(inbox.join("cur/1700000002.M3P3.host:2,S"), b"x\n").unwrap();
    assert_eq!(folder.status().unwrap().message_count, 4);
    let_settle();
    assert_eq!(folder.status().unwrap().message_count, 4);
    fs::write(inbox.join("cur/1700000003.M4P4.host:2,S"), b"y\n").unwrap();
    assert_eq!(folder.status().unwrap().message_count, 5);
}

#[test]
fn a_cached_scan_is_dropped_when_a_client_renames_or_deletes() {
    let root = tempfile::tempdir().unwrap();
    let repository = repository(root.path(), None);
    repository.create_folder(&path("INBOX")).unwrap();
    let inbox = root.path().join("INBOX");
    let mut folder = repository.open_folder(&path("INBOX")).unwrap();
    folder
        .append_messages(vec![
            message(b"one\n", &[], None),
            message(b"two\n", &[], None),
        ])
        .unwrap();
    folder.flush().unwrap();
    let flags = |folder: &mut dyn backend_api::Folder| {
        let listed = folder.list_messages().unwrap();
        listed
            .into_iter()
            .map(|m| (m.uid, m.flags))
            .collect::<Vec<_>>()
    };
    let seen = Flags::from_system(&[SystemFlag::Seen]);
    let_settle();
    assert_eq!(
        flags(folder.as_mut()),
        vec![(1, Flags::new()), (2, Flags::new())]
    );

    // neomutt leaves the folder: new/ -> cur/ with the seen flag.
    let first = names(&inbox, "new")
        .into_iter()
        .find(|name| name.contains(",U=1,"))
        .unwrap();
    fs::rename(
        inbox.join("new").join(&first),
        inbox.join("cur").join(format!("{first}:2,S")),
    )
    .unwrap();
    assert_eq!(
        flags(folder.as_mut()),
        vec![(1, seen.clone()), (2, Flags::new())]
    );

    // notmuch tags it replied: a rename within cur/.
    let_settle();
    assert_eq!(flags(folder.as_mut())[0], (1, seen.clone()));
    fs::rename(
        inbox.join("cur").join(format!("{first}:2,S")),
        inbox.join("cur").join(format!("{first}:2,RS")),
    )
    .unwrap();
    let replied = Flags::from_system(&[SystemFlag::Answered, SystemFlag::Seen]);
    assert_eq!(flags(folder.as_mut())[0], (1, replied));

    // The user deletes the other one.
    let_settle();
    assert_eq!(folder.status().unwrap().message_count, 2);
    let second = names(&inbox, "new").remove(0);
    fs::remove_file(inbox.join("new").join(second)).unwrap();
    assert_eq!(folder.status().unwrap().message_count, 1);
    assert_eq!(uids(folder.as_mut()), vec![1]);

    // Our own changes are listed too, settled or not.
    let_settle();
    assert_eq!(folder.status().unwrap().message_count, 1);
    folder.update_flags(&[1], &Flags::new(), &seen).unwrap();
    folder.delete_messages(&[1]).unwrap();
    assert_eq!(folder.status().unwrap().message_count, 0);
}
