//! The import on in-memory repositories, with OfflineIMAP state files written as
//! OfflineIMAP writes them; the end-to-end test with the real OfflineIMAP is in
//! `integration/tests/offlineimap_import.rs`.

use backend_api::{Flags, SystemFlag};
use backend_kit::memory::MemoryRepository;

use super::*;
use crate::engine::{self, NoObserver, SyncOptions};

const MAGIC: &str = "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT 2";

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: a@example.org\nSubject: message {n}\nMessage-ID: <{n}@example.org>\n\nbody {n}\n"
    )
    .into_bytes()
}

fn flags(system: &[SystemFlag]) -> Flags {
    Flags::from_system(system)
}

/// A sandbox: OfflineIMAP's metadata directory and two memory repositories holding the
/// same messages under the same UIDs (as a Maildir OfflineIMAP wrote holds the server's).
struct Fixture {
    dir: tempfile::TempDir,
    local: MemoryRepository,
    remote: MemoryRepository,
    source: Source,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let source = Source {
            account: "Test".into(),
            metadata: Metadata {
                dir: dir.path().to_owned(),
            },
            repository_names: PerSide::new("Local".into(), "Remote".into()),
            local_is_imap: false,
            utf8_folder_names: false,
            names: None,
        };
        let fixture = Fixture {
            dir,
            local: MemoryRepository::new(),
            remote: MemoryRepository::new(),
            source,
        };
        fs::create_dir_all(
            fixture
                .source
                .metadata
                .account_dir("Test")
                .join("LocalStatus"),
        )
        .unwrap();
        fixture
    }

    /// Puts message `n` into `folder` on both sides with these flags; returns its UID.
    fn both(&self, folder: &str, n: usize, local: Flags, remote: Flags) -> Uid {
        let uid = self.remote.deliver(folder, &message(n), remote);
        assert_eq!(self.local.deliver(folder, &message(n), local), uid);
        uid
    }

    fn write(&self, relative: &str, text: &str) {
        let path = self.dir.path().join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// OfflineIMAP's plain LocalStatus of `file_name`: (UID, letters) lines.
    fn status(&self, file_name: &str, entries: &[(Uid, &str)]) {
        let mut text = format!("{MAGIC}\n");
        for (uid, letters) in entries {
            text.push_str(&format!("{uid}|{letters}|0|\n"));
        }
        self.write(&format!("Account-Test/LocalStatus/{file_name}"), &text);
    }

    /// The remote UIDVALIDITY OfflineIMAP saw for `folder`, written as it writes it.
    fn validity(&self, repository: &str, file_name: &str, value: UidValidity) {
        self.write(
            &format!("Repository-{repository}/FolderValidity/{file_name}"),
            &format!("{value}\n"),
        );
    }

    fn uid_validity(repository: &MemoryRepository, folder: &str) -> UidValidity {
        repository
            .open_folder(&FolderPath::new(folder).unwrap())
            .unwrap()
            .status()
            .unwrap()
            .uid_validity
    }

    fn import(&self, state: &SyncState, dry_run: bool, force: bool) -> Vec<FolderImport> {
        let importer = Importer {
            source: &self.source,
            repositories: PerSide::new(&self.local as &dyn Repository, &self.remote),
            state,
            dry_run,
            force,
        };
        importer.import_account().unwrap().0
    }

    fn sync(&self, state: &SyncState) -> engine::AccountReport {
        let account = engine::Account {
            name: "Test",
            repositories: PerSide::new(&self.local as &dyn Repository, &self.remote),
            repository_names: PerSide::new("Local", "Remote"),
            state,
            options: SyncOptions::default(),
        };
        engine::sync_account(&account, &NoObserver)
    }
}

fn outcome<'a>(folders: &'a [FolderImport], name: &str) -> &'a Result<FolderOutcome, ImportError> {
    &folders
        .iter()
        .find(|folder| folder.folder.as_str() == name)
        .unwrap_or_else(|| panic!("no outcome for {name}: {folders:?}"))
        .result
}

fn imported<'a>(folders: &'a [FolderImport], name: &str) -> &'a Imported {
    match outcome(folders, name) {
        Ok(FolderOutcome::Imported(imported)) => imported,
        other => panic!("{name} was not imported: {other:?}"),
    }
}

fn refusal(folders: &[FolderImport], name: &str) -> String {
    match outcome(folders, name) {
        Err(error) => error.to_string(),
        other => panic!("{name} was not refused: {other:?}"),
    }
}

#[test]
fn an_import_pairs_by_uid_and_the_first_sync_changes_only_what_changed_since() {
    let f = Fixture::new();
    let seen = flags(&[SystemFlag::Seen]);
    // Synced by OfflineIMAP: 1 and 2 unchanged since, 3 flagged locally since, 4 read on
    // the server since. Message 5 arrived on the server after OfflineIMAP's last run.
    f.both("INBOX", 1, seen.clone(), seen.clone());
    f.both("INBOX", 2, Flags::new(), Flags::new());
    f.both(
        "INBOX",
        3,
        flags(&[SystemFlag::Seen, SystemFlag::Flagged]),
        seen.clone(),
    );
    f.both("INBOX", 4, Flags::new(), seen.clone());
    f.remote.deliver("INBOX", &message(5), Flags::new());
    f.both("Work/Projects", 6, seen.clone(), seen.clone());
    f.status("INBOX", &[(1, "S"), (2, ""), (3, "S"), (4, "")]);
    f.status("Work.Projects", &[(1, "S")]);
    let remote_validity = Fixture::uid_validity(&f.remote, "INBOX");
    f.validity("Remote", "INBOX", remote_validity);
    f.validity(
        "Remote",
        "Work.Projects",
        Fixture::uid_validity(&f.remote, "Work/Projects"),
    );

    let state = SyncState::in_memory().unwrap();
    let folders = f.import(&state, false, false);
    let inbox = imported(&folders, "INBOX");
    assert_eq!((inbox.pairs, inbox.gone_locally), (4, 0));
    assert_eq!(imported(&folders, "Work/Projects").pairs, 1);

    let path = FolderPath::inbox();
    let record = state.folder(&path).unwrap().unwrap();
    assert_eq!(
        record.uid_validity,
        PerSide::new(Fixture::uid_validity(&f.local, "INBOX"), remote_validity)
    );
    assert_eq!(record.uid_next, PerSide::new(Some(5), Some(6)));
    let pairs = state.pairs(&path).unwrap();
    assert_eq!(pairs.len(), 4);
    assert!(pairs
        .iter()
        .all(|p| p.uids[Side::Local] == p.uids[Side::Remote]));
    assert_eq!(pairs[0].flags, seen);

    let report = f.sync(&state);
    assert!(!report.failed(), "{report:?}");
    let inbox = report
        .folders
        .iter()
        .find(|r| r.folder.as_ref() == Some(&path))
        .unwrap();
    // Only message 5 is copied; the flags changed since travel; nothing else.
    assert_eq!(inbox.copied_to, PerSide::new(1, 0));
    assert_eq!(inbox.flags_on, PerSide::new(1, 1));
    assert_eq!(inbox.deleted_on, PerSide::new(0, 0));
    assert_eq!(inbox.paired_by_content, 0);
    let work = report
        .folders
        .iter()
        .find(|r| r.folder.as_ref().map(FolderPath::as_str) == Some("Work/Projects"))
        .unwrap();
    assert!(!work.changed_anything(), "{work:?}");
    assert!(!f.sync(&state).changed_anything());
}

#[test]
fn a_second_import_and_a_dry_run_change_nothing_and_force_replaces() {
    let f = Fixture::new();
    f.both("INBOX", 1, Flags::new(), Flags::new());
    f.status("INBOX", &[(1, "")]);
    f.validity("Remote", "INBOX", Fixture::uid_validity(&f.remote, "INBOX"));
    let state = SyncState::in_memory().unwrap();

    let dry = f.import(&state, true, false);
    assert_eq!(imported(&dry, "INBOX").pairs, 1);
    assert!(
        state.folders().unwrap().is_empty(),
        "a dry run writes nothing"
    );

    f.import(&state, false, false);
    // A pair the user's syncs would have changed since: a second import keeps it.
    let path = FolderPath::inbox();
    state
        .commit(
            &path,
            &[StateChange::PutPair(Pair {
                uids: PerSide::new(1, 1),
                flags: flags(&[SystemFlag::Seen]),
            })],
        )
        .unwrap();
    let before = state.pairs(&path).unwrap();
    let again = f.import(&state, false, false);
    assert!(matches!(
        outcome(&again, "INBOX"),
        Ok(FolderOutcome::AlreadyInState)
    ));
    assert_eq!(state.pairs(&path).unwrap(), before);

    let forced = f.import(&state, false, true);
    assert_eq!(imported(&forced, "INBOX").pairs, 1);
    assert_eq!(state.pairs(&path).unwrap()[0].flags, Flags::new());
}

#[test]
fn folders_without_state_and_state_without_folders_are_reported() {
    let f = Fixture::new();
    f.both("INBOX", 1, Flags::new(), Flags::new());
    f.remote.add_folder("Only/Remote");
    f.status("Only.Remote", &[(1, "")]);
    f.status("Gone", &[(1, "")]);
    let state = SyncState::in_memory().unwrap();
    let importer = Importer {
        source: &f.source,
        repositories: PerSide::new(&f.local as &dyn Repository, &f.remote),
        state: &state,
        dry_run: false,
        force: false,
    };
    let (folders, unmatched) = importer.import_account().unwrap();
    assert!(matches!(
        outcome(&folders, "INBOX"),
        Ok(FolderOutcome::NoOfflineImapState)
    ));
    assert!(matches!(
        outcome(&folders, "Only/Remote"),
        Ok(FolderOutcome::NoLocalFolder)
    ));
    assert_eq!(
        unmatched,
        vec![f
            .source
            .metadata
            .account_dir("Test")
            .join("LocalStatus/Gone")]
    );
    assert!(state.folders().unwrap().is_empty());
}

#[test]
fn a_state_that_cannot_be_right_is_refused_with_the_file_named() {
    let f = Fixture::new();
    for n in 1..=3 {
        f.both("INBOX", n, Flags::new(), Flags::new());
        f.both("Sent", n, Flags::new(), Flags::new());
        f.both("Drafts", n, Flags::new(), Flags::new());
        f.both("Lists", n, Flags::new(), Flags::new());
    }
    // INBOX: the server's UIDVALIDITY changed since OfflineIMAP's last sync.
    f.status("INBOX", &[(1, "")]);
    f.validity("Remote", "INBOX", 1);
    // Sent: a UID the server has not given out yet.
    f.status("Sent", &[(1, ""), (7, "")]);
    f.validity("Remote", "Sent", Fixture::uid_validity(&f.remote, "Sent"));
    // Drafts: no FolderValidity at all.
    f.status("Drafts", &[(1, "")]);
    // Lists: every message gone locally under its UID (as with a foreign FMD5).
    f.validity("Remote", "Lists", Fixture::uid_validity(&f.remote, "Lists"));
    f.status("Lists", &[(1, ""), (2, "")]);
    for uid in [1, 2, 3] {
        f.local.expunge("Lists", uid);
    }
    let state = SyncState::in_memory().unwrap();
    let folders = f.import(&state, false, false);

    let inbox = refusal(&folders, "INBOX");
    assert!(inbox.contains("UIDVALIDITY"), "{inbox}");
    assert!(inbox.contains("FolderValidity/INBOX"), "{inbox}");
    let sent = refusal(&folders, "Sent");
    assert!(sent.contains("LocalStatus/Sent"), "{sent}");
    assert!(sent.contains("remote UIDs (7)"), "{sent}");
    let drafts = refusal(&folders, "Drafts");
    assert!(
        drafts.contains("FolderValidity/Drafts does not exist"),
        "{drafts}"
    );
    let lists = refusal(&folders, "Lists");
    assert!(lists.contains("FMD5"), "{lists}");
    assert!(
        state.folders().unwrap().is_empty(),
        "nothing refused is written"
    );
}

#[test]
fn a_local_imap_side_pairs_through_uid_mapping() {
    let mut f = Fixture::new();
    f.source.local_is_imap = true;
    // The local server numbers differently: a message there before.
    f.local.deliver("INBOX", &message(100), Flags::new());
    let remote_1 = f.remote.deliver("INBOX", &message(1), Flags::new());
    let local_1 = f.local.deliver("INBOX", &message(1), Flags::new());
    let remote_2 = f.remote.deliver("INBOX", &message(2), Flags::new());
    f.status("INBOX", &[(remote_1, ""), (remote_2, "")]);
    f.validity("Remote", "INBOX", Fixture::uid_validity(&f.remote, "INBOX"));
    f.validity("Local", "INBOX", Fixture::uid_validity(&f.local, "INBOX"));
    f.write(
        "Repository-Local/UIDMapping/INBOX",
        &format!("{local_1}:{remote_1}\n"),
    );
    let state = SyncState::in_memory().unwrap();
    let folders = f.import(&state, false, false);
    let inbox = imported(&folders, "INBOX");
    assert_eq!((inbox.pairs, inbox.unmapped), (1, 1));
    let pairs = state.pairs(&FolderPath::inbox()).unwrap();
    assert_eq!(pairs[0].uids, PerSide::new(local_1, remote_1));

    // A mapping to a UID the local server has not given out is refused.
    f.write(
        "Repository-Local/UIDMapping/INBOX",
        &format!("40:{remote_1}\n"),
    );
    let folders = f.import(&state, false, true);
    let error = refusal(&folders, "INBOX");
    assert!(error.contains("local UIDs (40)"), "{error}");
    assert!(error.contains("run offlineimap once more"), "{error}");
}

#[test]
fn the_report_reads_like_a_sync_summary() {
    let folder = |name: &str, result| FolderImport {
        folder: FolderPath::new(name).unwrap(),
        result,
    };
    let report = AccountImport {
        account: "Test".into(),
        dry_run: false,
        error: None,
        folders: vec![
            folder(
                "INBOX",
                Ok(FolderOutcome::Imported(Imported {
                    pairs: 1,
                    gone_locally: 1,
                    unmapped: 0,
                    status_file: PathBuf::from("/m/Account-Test/LocalStatus-sqlite/INBOX"),
                    uid_validity: PerSide::new(7, 9),
                })),
            ),
            folder("Sent", Ok(FolderOutcome::AlreadyInState)),
            folder("Work/Projects", Err(ImportError::Refused("no".into()))),
        ],
        unmatched: vec![],
    };
    assert_eq!(
        render(&report),
        "  INBOX          imported 1 pair from /m/Account-Test/LocalStatus-sqlite/INBOX \
         (UIDVALIDITY local 7, remote 9); 1 deleted locally since OfflineIMAP's last sync: \
         the next sync deletes them on the remote side\n\
         \x20 Sent           twinbox has a sync state for it already: left as it is (--force \
         replaces it)\n\
         \x20 Work/Projects  ERROR: no\n\
         Account Test: imported 1 folder (1 pair), 1 left as they were, 0 without \
         OfflineIMAP state, 1 failed\n"
    );
    assert!(report.failed());
}
