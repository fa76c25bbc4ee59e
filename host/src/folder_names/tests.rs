//! The decorator over in-memory repositories: which folders are synced under which
//! names, how creation maps names back, and the check before a sync.

use std::sync::Arc;

use backend_api::{Flags, FolderPath, Repository, RepositoryConfig};
use backend_kit::memory::MemoryRepository;

use super::{AccountNames, NameRules, NamedRepository};
use crate::engine::{self, NoObserver, SyncOptions};
use crate::side::{PerSide, Side};
use crate::state::SyncState;

fn rules(kind: &str, name: &str, options: &[(&str, &str)]) -> NameRules {
    let mut config = RepositoryConfig::new(name).with("type", kind);
    config.config_file = "/home/u/.offlineimaprc".into();
    for (option, value) in options {
        config = config.with(option, *value);
    }
    NameRules::read(&config, None).unwrap()
}

fn names(local: &[(&str, &str)], remote: &[(&str, &str)]) -> Arc<AccountNames> {
    Arc::new(AccountNames {
        rules: PerSide::new(
            rules("Maildir", "Local", local),
            rules("IMAP", "Remote", remote),
        ),
    })
}

fn path(name: &str) -> FolderPath {
    FolderPath::new(name).unwrap()
}

fn listed(repository: &NamedRepository) -> Vec<String> {
    let mut names: Vec<String> = repository
        .list_folders()
        .unwrap()
        .into_iter()
        .map(|info| info.path.to_string())
        .collect();
    names.sort();
    names
}

fn wrap(memory: &MemoryRepository, side: Side, names: &Arc<AccountNames>) -> NamedRepository {
    NamedRepository::new(Box::new(memory.clone()), side, Arc::clone(names))
}

/// A Dovecot-style server (delimiter `.`, everything under INBOX) and a Maildir, with
/// the usual pair of nametrans.
const REMOTE_NAMETRANS: &str = r"lambda f: re.sub(r'^INBOX\.', '', f)";
const LOCAL_NAMETRANS: &str = "lambda f: f if f == 'INBOX' else 'INBOX.' + f";

#[test]
fn folderfilter_excludes_folders_on_its_own_side() {
    let remote = MemoryRepository::new();
    for folder in ["INBOX", "Trash", "Spam", "Work/Projects"] {
        remote.add_folder(folder);
    }
    let names = names(
        &[],
        &[("folderfilter", "lambda f: f not in ['Trash', 'Spam']")],
    );
    let named = wrap(&remote, Side::Remote, &names);
    assert_eq!(listed(&named), ["INBOX", "Work/Projects"]);
    // A local folder whose remote counterpart the remote filter excludes is not synced
    // either (it would be created there).
    let local = MemoryRepository::new();
    local.add_folder("Trash");
    local.add_folder("Notes");
    assert_eq!(listed(&wrap(&local, Side::Local, &names)), ["Notes"]);
}

#[test]
fn folderfilter_sees_untranslated_names_in_the_repositorys_spelling() {
    let remote = MemoryRepository::new();
    for folder in ["INBOX", "INBOX/Sent", "INBOX/Old/2019", "Entwürfe"] {
        remote.add_folder(folder);
    }
    let names = names(
        &[("nametrans", LOCAL_NAMETRANS)],
        &[
            ("sep", "."),
            ("nametrans", REMOTE_NAMETRANS),
            // Untranslated, with the server's separator, in modified UTF-7 (as
            // OfflineIMAP without utf8foldernames).
            (
                "folderfilter",
                r"lambda f: not f.startswith('INBOX.Old') and f != 'Entw&APw-rfe'",
            ),
        ],
    );
    let named = wrap(&remote, Side::Remote, &names);
    assert_eq!(listed(&named), ["INBOX", "Sent"]);
}

#[test]
fn names_are_translated_and_created_folders_map_back() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new();
    remote.deliver("INBOX", b"Subject: 1\n\n1\n", Flags::new());
    remote.deliver("INBOX/Sent", b"Subject: 2\n\n2\n", Flags::new());
    local.deliver("Drafts", b"Subject: 3\n\n3\n", Flags::new());
    let names = names(
        &[("nametrans", LOCAL_NAMETRANS)],
        &[("sep", "."), ("nametrans", REMOTE_NAMETRANS)],
    );
    let repositories = PerSide::new(
        wrap(&local, Side::Local, &names),
        wrap(&remote, Side::Remote, &names),
    );
    let listed = PerSide::from_fn(|side| repositories[side].synced_folders().unwrap());
    names.check(&listed, true).unwrap();
    let state = SyncState::in_memory().unwrap();
    let account = engine::Account {
        name: "test",
        repositories: repositories.as_ref().map(|r| r as &dyn Repository),
        repository_names: PerSide::new("Local", "Remote"),
        state: &state,
        options: SyncOptions::default(),
    };
    let report = engine::sync_account(&account, &NoObserver);
    assert!(!report.failed(), "{report:?}");
    // The local side holds the remote's translated names; the remote gets the local
    // nametrans of the local-only folder.
    assert_eq!(local.folder_names(), ["Drafts", "INBOX", "Sent"]);
    assert_eq!(
        remote.folder_names(),
        ["INBOX", "INBOX/Drafts", "INBOX/Sent"]
    );
    // The state keys folders by the engine's (local) names.
    let mut keys: Vec<String> = state
        .folders()
        .unwrap()
        .into_iter()
        .map(|(path, _)| path.to_string())
        .collect();
    keys.sort();
    assert_eq!(keys, ["Drafts", "INBOX", "Sent"]);
}

#[test]
fn a_nametrans_without_its_reverse_is_reported_before_syncing() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new();
    remote.add_folder("INBOX/Sent");
    // Only the remote translates (OfflineIMAP before 6.4): the local name Sent would be
    // created on the server as Sent, a second folder.
    let names = names(&[], &[("sep", "."), ("nametrans", REMOTE_NAMETRANS)]);
    let listed = PerSide::new(
        wrap(&local, Side::Local, &names).synced_folders().unwrap(),
        wrap(&remote, Side::Remote, &names)
            .synced_folders()
            .unwrap(),
    );
    let error = names.check(&listed, true).unwrap_err();
    assert!(
        error.contains("folder INBOX/Sent of the remote repository becomes Sent"),
        "{error}"
    );
    assert!(error.contains("[Repository Remote] nametrans"), "{error}");
    assert!(
        error.contains("[Repository Local] (no nametrans"),
        "{error}"
    );
    assert!(!error.contains('\n'));
    assert!(!error.contains("set sep = ."), "sep is written: {error}");
    // Without folder creation on the remote side the local nametrans is never used.
    names.check(&listed, false).unwrap();
}

#[test]
fn a_round_trip_failure_on_default_separators_says_to_set_sep() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new();
    remote.add_folder("INBOX/Sent");
    // The OfflineIMAP pair, written for a server whose delimiter is `.`, but without
    // `sep = .`: the remote lambda sees INBOX/Sent and leaves it as it is.
    let names = names(
        &[("nametrans", LOCAL_NAMETRANS)],
        &[("nametrans", REMOTE_NAMETRANS)],
    );
    let listed = PerSide::new(
        wrap(&local, Side::Local, &names).synced_folders().unwrap(),
        wrap(&remote, Side::Remote, &names)
            .synced_folders()
            .unwrap(),
    );
    let error = names.check(&listed, true).unwrap_err();
    assert!(error.contains("do not undo each other"), "{error}");
    assert!(
        error.contains(
            "if the server's delimiter is ., as on Dovecot and Courier, set sep = . there"
        ),
        "{error}"
    );
    assert!(error.contains("[Repository Remote] see levels"), "{error}");
}

#[test]
fn two_folders_with_one_name_are_refused() {
    let remote = MemoryRepository::new();
    remote.add_folder("INBOX/Sent");
    remote.add_folder("Sent");
    let names = names(&[], &[("sep", "."), ("nametrans", REMOTE_NAMETRANS)]);
    let error = wrap(&remote, Side::Remote, &names)
        .list_folders()
        .unwrap_err();
    assert!(error.message.contains("both become Sent"), "{error}");
}

#[test]
fn a_nametrans_giving_no_folder_name_is_an_error_naming_it() {
    let remote = MemoryRepository::new();
    remote.add_folder("INBOX");
    let names = names(&[], &[("nametrans", "lambda f: re.sub('^INBOX$', '', f)")]);
    let error = wrap(&remote, Side::Remote, &names)
        .list_folders()
        .unwrap_err();
    assert!(
        error
            .message
            .contains("[Repository Remote] option 'nametrans' turns folder \"INBOX\" into \"\""),
        "{error}"
    );
}

#[test]
fn folderincludes_override_the_filter() {
    let remote = MemoryRepository::new();
    for folder in ["INBOX", "Lists/rust", "Lists/spam"] {
        remote.add_folder(folder);
    }
    let names = names(
        &[],
        &[
            ("folderfilter", "lambda f: f == 'INBOX'"),
            ("folderincludes", "['Lists/rust', 'Missing']"),
        ],
    );
    // `Missing` cannot be opened: it is left out (with a warning).
    assert_eq!(
        listed(&wrap(&remote, Side::Remote, &names)),
        ["INBOX", "Lists/rust"]
    );
}

#[test]
fn creation_is_refused_where_the_names_do_not_map_back_or_are_filtered() {
    let remote = MemoryRepository::new();
    let names = names(
        &[("nametrans", "lambda f: 'INBOX.' + f")],
        &[
            ("sep", "."),
            ("nametrans", REMOTE_NAMETRANS),
            ("folderfilter", "lambda f: f != 'INBOX.Secret'"),
        ],
    );
    let named = wrap(&remote, Side::Remote, &names);
    named.create_folder(&path("Notes")).unwrap();
    assert_eq!(remote.folder_names(), ["INBOX/Notes"]);
    let error = named.create_folder(&path("Secret")).unwrap_err();
    assert!(
        error.message.contains("folderfilter excludes it"),
        "{error}"
    );
    // Notes would be created as X.Notes, which the remote nametrans leaves as X.Notes.
    let names = Arc::new(AccountNames {
        rules: PerSide::new(
            rules("Maildir", "Local", &[("nametrans", "lambda f: 'X.' + f")]),
            rules(
                "IMAP",
                "Remote",
                &[("sep", "."), ("nametrans", REMOTE_NAMETRANS)],
            ),
        ),
    });
    let error = wrap(&remote, Side::Remote, &names)
        .create_folder(&path("Notes"))
        .unwrap_err();
    assert!(error.message.contains("not back into Notes"), "{error}");
}
