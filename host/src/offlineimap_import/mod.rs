//! `twinbox import-offlineimap`: turns OfflineIMAP's sync state into twinbox's, so that a
//! user switching keeps every pairing and the first sync transfers nothing.
//!
//! # Why it is exact, and where it refuses
//!
//! OfflineIMAP's state (see `status.rs`, `metadata.rs`) is, per folder, the remote UIDs it
//! synced with the flags both sides had then, the remote UIDVALIDITY it saw, and for a
//! local IMAP repository the local UID of each remote one. That is a twinbox pair list
//! once each remote UID has its local UID:
//!
//! - A local Maildir: OfflineIMAP names each file `...,U=<remote UID>,FMD5=<md5 of the
//!   folder name>:2,<flags>`, and twinbox's Maildir plugin reads the `U=` of a file whose
//!   FMD5 is its folder's as the file's own (local) UID. So local UID n pairs with remote
//!   UID n, and no file is renamed: the numbers in the names simply become twinbox's local
//!   UIDs. The plugin's UIDVALIDITY and next UID (its state file in the folder, made the
//!   first time it opens the folder, above every UID in a name) are read through the
//!   plugin, so the import needs no knowledge of Maildir internals.
//! - A local IMAP repository: the local UID is the one `UIDMapping` gives.
//!
//! The flags OfflineIMAP recorded become the pair's last synced flags, so whatever either
//! side changed since OfflineIMAP's last run is applied by the first twinbox sync, as
//! OfflineIMAP would have.
//!
//! The import reads both repositories (each folder's status, and the local listing) and
//! refuses a folder, leaving it to the first sync to pair by content, when the state
//! cannot be right for it: the server's UIDVALIDITY is not the one OfflineIMAP recorded
//! (the UIDs name other messages now), a recorded UID is at or above a side's next UID
//! (the side could give it out again to another message: for a Maildir, messages deleted
//! locally after OfflineIMAP's last run whose UIDs were the highest), or none of the
//! recorded messages is in the local folder under its UID (the file names carry neither
//! the folder's FMD5 nor one it adopted: another tool renamed them).
//!
//! # Folder names
//!
//! The repositories are seen through the account's `folderfilter`, `nametrans` and
//! `folderincludes` (the [`crate::folder_names`] decorator), as a sync sees them: the
//! folders imported are the ones the sync syncs, under the engine's (local) names. The
//! files are found under the names OfflineIMAP gave them: the status file under the remote
//! folder's *visible* name (after the remote `nametrans`: OfflineIMAP's status repository
//! names a folder as the local side does, which is the engine's name), a `FolderValidity`
//! and `UIDMapping` file under its own repository's untranslated name. A Maildir's file
//! names carry the MD5 of the local folder's visible name (after the local `nametrans`),
//! not of its directory's: the Maildir plugin adopts such an FMD5 the first time it opens
//! the folder, so their `U=` still are the local UIDs.
//!
//! Each folder is written in one transaction; a folder twinbox already has a state for is
//! left alone unless `--force`, so a second import changes nothing. `--dry-run` opens the
//! repositories and the state read-only and says what it would import.

mod metadata;
mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use backend_api::{BackendError, FolderPath, Repository, RepositoryConfig, Uid, UidValidity};

use std::sync::Arc;

use crate::accounts::{open_state, state_file};
use crate::config::{display_path, Config, ConfigError, RepositoryConfigExt};
use crate::folder_names::{AccountNames, NamedRepository};
use crate::plugins::PluginCatalog;
use crate::side::{PerSide, Side};
use crate::state::{FolderRecord, Pair, StateChange, StateError, SyncState};

pub use metadata::Metadata;

/// Why a folder (or an account) could not be imported. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: {reason}; move the file aside to import the other folders without it (the first sync then pairs this folder's messages by content)", path.display())]
    Damaged { path: PathBuf, reason: String },
    #[error("{}: cannot read it ({reason}); check its permissions", path.display())]
    Unreadable { path: PathBuf, reason: String },
    /// The state cannot be right for the folder as the repositories have it now.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Backend(String),
    #[error(transparent)]
    State(#[from] StateError),
}

impl ImportError {
    pub(crate) fn damaged(path: &Path, reason: &str) -> ImportError {
        ImportError::Damaged {
            path: path.to_owned(),
            reason: reason.to_owned(),
        }
    }

    pub(crate) fn unreadable(path: &Path, error: &std::io::Error) -> ImportError {
        ImportError::Unreadable {
            path: path.to_owned(),
            reason: error.to_string(),
        }
    }
}

/// A problem found before anything is opened: bad usage or configuration (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Prepare(#[from] crate::accounts::PrepareError),
    #[error("no OfflineIMAP state for account {account}: {} does not exist; pass --metadata DIR with OfflineIMAP's metadata directory (its [general] metadata option, ~/.offlineimap by default)", display_path(dir))]
    NoAccountState { account: String, dir: PathBuf },
    #[error("cannot tell where OfflineIMAP's state is: HOME is not set; pass --metadata DIR")]
    NoHome,
}

/// What the user asked for.
#[derive(Clone, Debug, Default)]
pub struct ImportRequest {
    /// The accounts (all of `[general] accounts` when empty).
    pub accounts: Vec<String>,
    /// OfflineIMAP's metadata directory, if given.
    pub metadata: Option<PathBuf>,
    pub dry_run: bool,
    /// Replace the state twinbox already has for a folder.
    pub force: bool,
}

/// Where one account's OfflineIMAP state is and how to read it.
#[derive(Clone, Debug)]
pub struct Source {
    pub account: String,
    pub metadata: Metadata,
    /// The `[Repository]` section names, as OfflineIMAP's `Repository-<name>` directories
    /// are named.
    pub repository_names: PerSide<String>,
    /// The local repository is IMAP: its UIDs come from `UIDMapping`.
    pub local_is_imap: bool,
    /// The account's `utf8foldernames`: how folder names are spelled in file names.
    pub utf8_folder_names: bool,
    /// The repositories' `folderfilter`, `nametrans` and `folderincludes`, when either
    /// sets one: the repositories are then seen through them, as a sync sees them.
    pub names: Option<Arc<AccountNames>>,
}

/// What happened to one folder.
#[derive(Debug)]
pub enum FolderOutcome {
    Imported(Imported),
    /// twinbox has a state for the folder already (and `--force` was not given).
    AlreadyInState,
    /// OfflineIMAP has no state for the folder.
    NoOfflineImapState,
    /// OfflineIMAP has a state for it, but the local repository has no such folder.
    NoLocalFolder,
}

/// A folder whose state was imported (or would be, in a dry run).
#[derive(Debug)]
pub struct Imported {
    pub pairs: usize,
    /// Of those, the pairs whose local message is gone: deleted locally since
    /// OfflineIMAP's last sync (the next sync deletes them on the remote side).
    pub gone_locally: usize,
    /// Messages OfflineIMAP recorded that `UIDMapping` gives no local UID for: left out,
    /// so the first sync pairs them by content.
    pub unmapped: usize,
    pub status_file: PathBuf,
    pub uid_validity: PerSide<UidValidity>,
}

#[derive(Debug)]
pub struct FolderImport {
    pub folder: FolderPath,
    pub result: Result<FolderOutcome, ImportError>,
}

/// What the import of one account did.
#[derive(Debug)]
pub struct AccountImport {
    pub account: String,
    pub dry_run: bool,
    /// An error that stopped the whole account (a repository could not be opened).
    pub error: Option<String>,
    pub folders: Vec<FolderImport>,
    /// OfflineIMAP status files no folder of the remote repository has the name of.
    pub unmatched: Vec<PathBuf>,
}

impl AccountImport {
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.folders.iter().any(|folder| folder.result.is_err())
    }
}

/// One account ready to import: its source and repository configurations.
pub struct PreparedImport<'c> {
    pub source: Source,
    pub repositories: PerSide<(RepositoryConfig, &'c crate::plugins::LoadedPlugin)>,
    pub state_path: PathBuf,
}

/// Checks the configuration of every selected account, finds their plugins and their
/// OfflineIMAP state directories, before anything is opened.
pub fn prepare<'c>(
    config: &Config,
    catalog: &'c PluginCatalog,
    request: &ImportRequest,
) -> Result<Vec<PreparedImport<'c>>, SetupError> {
    let metadata = match (&request.metadata, &config.general.metadata) {
        (Some(dir), _) => dir.clone(),
        // The same config file OfflineIMAP used: its `metadata` is where its state is.
        (None, Some(dir)) => dir.clone(),
        (None, None) => std::env::var_os("HOME")
            .filter(|home| !home.is_empty())
            .map(|home| PathBuf::from(home).join(".offlineimap"))
            .ok_or(SetupError::NoHome)?,
    };
    let metadata = Metadata { dir: metadata };
    let twinbox_metadata = config.general.metadata_dir()?;
    let mut prepared = Vec::new();
    for account in config.selected_accounts(&request.accounts)? {
        let (repositories, names) =
            crate::accounts::resolve_repositories(config, catalog, &account.name)?;
        let account_dir = metadata.account_dir(&account.name);
        if !account_dir.is_dir() {
            return Err(SetupError::NoAccountState {
                account: account.name.clone(),
                dir: account_dir,
            });
        }
        let local_type = repositories[Side::Local].0.repository_type()?;
        // Read as the repositories read it (a bad value is theirs to report when opened).
        let utf8_folder_names = account.options.get("utf8foldernames").is_some_and(|value| {
            RepositoryConfig::new(account.name.clone())
                .with("utf8foldernames", value.clone())
                .get_bool("utf8foldernames", false)
                .unwrap_or(false)
        });
        prepared.push(PreparedImport {
            source: Source {
                account: account.name.clone(),
                metadata: metadata.clone(),
                repository_names: repositories.as_ref().map(|(config, _)| config.name.clone()),
                local_is_imap: local_type.eq_ignore_ascii_case("IMAP"),
                utf8_folder_names,
                names: names.is_set().then(|| Arc::new(names)),
            },
            repositories,
            state_path: state_file(&twinbox_metadata, &account.name),
        });
    }
    Ok(prepared)
}

/// Opens the account's repositories and state and imports every folder.
pub fn run(prepared: &PreparedImport<'_>, request: &ImportRequest) -> AccountImport {
    let mut report = AccountImport {
        account: prepared.source.account.clone(),
        dry_run: request.dry_run,
        error: None,
        folders: Vec::new(),
        unmatched: Vec::new(),
    };
    let open = |(config, plugin): &(RepositoryConfig, &crate::plugins::LoadedPlugin)| {
        let config = RepositoryConfig {
            read_only: request.dry_run,
            ..config.clone()
        };
        plugin
            .open_repository(&config)
            .map_err(|e| format!("[Repository {}]: {e}", config.name))
    };
    let repositories = match PerSide::try_from_fn(|side| open(&prepared.repositories[side])) {
        Ok(repositories) => repositories,
        Err(error) => {
            report.error = Some(error);
            return report;
        }
    };
    let repositories = match &prepared.source.names {
        Some(names) => match named(repositories, names) {
            Ok(repositories) => repositories,
            Err(error) => {
                report.error = Some(error);
                return report;
            }
        },
        None => repositories,
    };
    let state = match open_state(&prepared.state_path, request.dry_run) {
        Ok(state) => state,
        Err(error) => {
            report.error = Some(error);
            return report;
        }
    };
    let importer = Importer {
        source: &prepared.source,
        repositories: repositories.as_ref().map(|repository| &**repository),
        state: &state,
        dry_run: request.dry_run,
        force: request.force,
    };
    match importer.import_account() {
        Ok((folders, unmatched)) => {
            report.folders = folders;
            report.unmatched = unmatched;
        }
        Err(error) => report.error = Some(error.to_string()),
    }
    report
}

/// Both repositories seen through the account's folder-name rules, checked (as before a
/// sync) to give each folder one name.
fn named(
    repositories: PerSide<Box<dyn Repository>>,
    names: &Arc<AccountNames>,
) -> Result<PerSide<Box<dyn Repository>>, String> {
    let mut slots = repositories.map(Some);
    let wrapped = PerSide::try_from_fn(|side| {
        slots[side]
            .take()
            .map(|repository| NamedRepository::new(repository, side, Arc::clone(names)))
            .ok_or_else(|| "internal error: a repository wrapped twice".to_owned())
    })?;
    let listed = PerSide::try_from_fn(|side| {
        wrapped[side]
            .synced_folders()
            .map_err(|e| format!("{side} repository: cannot list folders: {e}"))
    })?;
    names.check(&listed, false)?;
    Ok(wrapped.map(|repository| Box::new(repository) as Box<dyn Repository>))
}

/// The import of one account, over open repositories and state.
pub struct Importer<'a> {
    pub source: &'a Source,
    pub repositories: PerSide<&'a dyn Repository>,
    pub state: &'a SyncState,
    pub dry_run: bool,
    pub force: bool,
}

impl Importer<'_> {
    /// Imports every folder of the remote repository that OfflineIMAP has a state for;
    /// returns what happened to each, and the status files that match no folder.
    pub fn import_account(&self) -> Result<(Vec<FolderImport>, Vec<PathBuf>), ImportError> {
        let backend = |side: Side| {
            let name = &self.source.repository_names[side];
            move |error: BackendError| ImportError::Backend(format!("[Repository {name}]: {error}"))
        };
        let mut remote_folders: Vec<FolderPath> = self.repositories[Side::Remote]
            .list_folders()
            .map_err(backend(Side::Remote))?
            .into_iter()
            .filter(|folder| folder.selectable)
            .map(|folder| folder.path)
            .collect();
        remote_folders.sort();
        let local_folders: BTreeSet<FolderPath> = self.repositories[Side::Local]
            .list_folders()
            .map_err(backend(Side::Local))?
            .into_iter()
            .filter(|folder| folder.selectable)
            .map(|folder| folder.path)
            .collect();
        let mut matched = BTreeSet::new();
        let mut folders = Vec::new();
        for folder in remote_folders {
            // The status file has the remote folder's visible name: the engine's name.
            let file_name = metadata::file_name(&folder, self.source.utf8_folder_names);
            let result = self.remote_file_name(&folder).and_then(|remote| {
                self.import_folder(&folder, &file_name, &remote, &local_folders)
            });
            matched.insert(file_name);
            folders.push(FolderImport { folder, result });
        }
        Ok((folders, self.unmatched_status_files(&matched)))
    }

    /// The name of the remote folder's own files (`FolderValidity`): its untranslated name.
    fn remote_file_name(&self, folder: &FolderPath) -> Result<String, ImportError> {
        let native = match &self.source.names {
            Some(names) => names
                .native_name(Side::Remote, folder)
                .map_err(ImportError::Refused)?,
            None => folder.clone(),
        };
        Ok(metadata::file_name(&native, self.source.utf8_folder_names))
    }

    /// Imports `folder` (the engine's name) from the status file `file_name`, with the
    /// remote repository's files named `remote_file_name`.
    fn import_folder(
        &self,
        folder: &FolderPath,
        file_name: &str,
        remote_file_name: &str,
        local_folders: &BTreeSet<FolderPath>,
    ) -> Result<FolderOutcome, ImportError> {
        // Checked first, so that a second import reads and opens nothing.
        if !self.force && self.state.folder(folder)?.is_some() {
            return Ok(FolderOutcome::AlreadyInState);
        }
        let account_dir = self.source.metadata.account_dir(&self.source.account);
        let Some(status) = status::read(&account_dir, file_name)? else {
            return Ok(FolderOutcome::NoOfflineImapState);
        };
        if !local_folders.contains(folder) {
            return Ok(FolderOutcome::NoLocalFolder);
        }
        let recorded_validity = self.folder_validity(Side::Remote, remote_file_name)?;
        let mapping = if self.source.local_is_imap {
            Some(self.uid_mapping(file_name)?)
        } else {
            None
        };

        let remote = self.open_status(Side::Remote, folder, false)?;
        if remote.0 != recorded_validity {
            return Err(ImportError::Refused(format!(
                "the server's UIDVALIDITY is {} and OfflineIMAP's state is for {recorded_validity} \
                 ({}): its UIDs name other messages now, so it is not imported; the first sync \
                 pairs the folder's messages by content",
                remote.0,
                self.validity_path(Side::Remote, remote_file_name).display()
            )));
        }
        let local = self.open_status(Side::Local, folder, true)?;
        if let Some(recorded) = self.local_folder_validity(file_name)? {
            if recorded != local.0 {
                return Err(ImportError::Refused(format!(
                    "[Repository {}] has UIDVALIDITY {} and OfflineIMAP's state is for {recorded} \
                     ({}): not imported; the first sync pairs the folder's messages by content",
                    self.source.repository_names[Side::Local],
                    local.0,
                    self.validity_path(Side::Local, file_name).display()
                )));
            }
        }

        let mut pairs = Vec::with_capacity(status.entries.len());
        let mut unmapped = 0;
        for entry in &status.entries {
            let local_uid = match &mapping {
                Some(mapping) => match mapping.get(&entry.remote_uid) {
                    Some(uid) => *uid,
                    None => {
                        unmapped += 1;
                        continue;
                    }
                },
                None => entry.remote_uid,
            };
            pairs.push(Pair {
                uids: PerSide::new(local_uid, entry.remote_uid),
                flags: entry.flags.clone(),
            });
        }
        let uid_next = PerSide::new(local.1, remote.1);
        self.check_uids_below_next(&pairs, &uid_next, &status.path)?;
        let listed = local.2;
        let gone_locally = pairs
            .iter()
            .filter(|pair| !listed.contains(&pair.uids[Side::Local]))
            .count();
        if !pairs.is_empty() && gone_locally == pairs.len() {
            return Err(ImportError::Refused(format!(
                "none of the {} messages OfflineIMAP synced ({}) is in the local folder under \
                 its UID: the file names do not carry this folder's FMD5 (files renamed by \
                 another tool, or the folder was opened by twinbox before), so the state is \
                 not imported; the first sync pairs the folder's messages by content",
                pairs.len(),
                status.path.display()
            )));
        }

        let uid_validity = PerSide::new(local.0, remote.0);
        let mut record = FolderRecord::new(uid_validity);
        record.uid_next = uid_next.map(Some);
        let imported = Imported {
            pairs: pairs.len(),
            gone_locally,
            unmapped,
            status_file: status.path,
            uid_validity,
        };
        if !self.dry_run {
            let changes: Vec<StateChange> = std::iter::once(StateChange::SetFolder(record))
                .chain(pairs.into_iter().map(StateChange::PutPair))
                .collect();
            self.state.replace_folder(folder, &changes)?;
        }
        Ok(FolderOutcome::Imported(imported))
    }

    /// A side's folder's UIDVALIDITY and UIDNEXT and, if `listing`, the UIDs it holds.
    /// The folder is closed again at once (an IMAP connection is freed for the next).
    fn open_status(
        &self,
        side: Side,
        folder: &FolderPath,
        listing: bool,
    ) -> Result<(UidValidity, Uid, BTreeSet<Uid>), ImportError> {
        let name = &self.source.repository_names[side];
        let backend =
            |error: BackendError| ImportError::Backend(format!("[Repository {name}]: {error}"));
        let mut open = self.repositories[side]
            .open_folder(folder)
            .map_err(backend)?;
        let status = open.status().map_err(backend)?;
        let uids = if listing {
            open.list_messages()
                .map_err(backend)?
                .into_iter()
                .map(|message| message.uid)
                .collect()
        } else {
            BTreeSet::new()
        };
        Ok((status.uid_validity, status.uid_next, uids))
    }

    /// Refuses pairs with a UID a side could give out again (at or above its next UID).
    fn check_uids_below_next(
        &self,
        pairs: &[Pair],
        uid_next: &PerSide<Uid>,
        status_file: &Path,
    ) -> Result<(), ImportError> {
        for side in [Side::Remote, Side::Local] {
            let too_high: Vec<Uid> = pairs
                .iter()
                .map(|pair| pair.uids[side])
                .filter(|uid| *uid >= uid_next[side])
                .collect();
            if too_high.is_empty() {
                continue;
            }
            let listed: Vec<String> = too_high.iter().take(5).map(Uid::to_string).collect();
            let more = if too_high.len() > 5 { ", ..." } else { "" };
            let repository = &self.source.repository_names[side];
            let why = match side {
                Side::Local => format!(
                    "their messages were deleted from the local folder after OfflineIMAP's \
                     last sync, and [Repository {repository}] could give these UIDs to new \
                     messages; run offlineimap once more (it deletes them on the server too), \
                     then import again"
                ),
                Side::Remote => format!(
                    "the state cannot be of this folder of [Repository {repository}]; the \
                     first sync pairs the folder's messages by content"
                ),
            };
            return Err(ImportError::Refused(format!(
                "{} pairs {side} UIDs ({}{more}) at or above the {side} folder's next UID {}: {why}",
                status_file.display(),
                listed.join(", "),
                uid_next[side],
            )));
        }
        Ok(())
    }

    fn validity_path(&self, side: Side, file_name: &str) -> PathBuf {
        self.source
            .metadata
            .repository_dir(&self.source.repository_names[side])
            .join("FolderValidity")
            .join(file_name)
    }

    /// The UIDVALIDITY OfflineIMAP last saw on `side`; missing is an error.
    fn folder_validity(&self, side: Side, file_name: &str) -> Result<UidValidity, ImportError> {
        let path = self.validity_path(side, file_name);
        match metadata::read_optional(&path)? {
            Some(text) => metadata::parse_folder_validity(&path, &text),
            None => Err(ImportError::Refused(format!(
                "{} does not exist, but OfflineIMAP writes it at its first sync of a folder: \
                 its state of this folder is incomplete and not imported; the first sync pairs \
                 the folder's messages by content",
                path.display()
            ))),
        }
    }

    /// For a local IMAP repository, the UIDVALIDITY OfflineIMAP saw there (a Maildir has
    /// none: OfflineIMAP writes a constant for it).
    fn local_folder_validity(&self, file_name: &str) -> Result<Option<UidValidity>, ImportError> {
        if !self.source.local_is_imap {
            return Ok(None);
        }
        self.folder_validity(Side::Local, file_name).map(Some)
    }

    fn uid_mapping(&self, file_name: &str) -> Result<BTreeMap<Uid, Uid>, ImportError> {
        let path = self
            .source
            .metadata
            .repository_dir(&self.source.repository_names[Side::Local])
            .join("UIDMapping")
            .join(file_name);
        match metadata::read_optional(&path)? {
            Some(text) => metadata::parse_uid_mapping(&path, &text),
            None => Err(ImportError::Refused(format!(
                "{} does not exist: with an IMAP repository on the local side, OfflineIMAP \
                 pairs UIDs there; its state of this folder is incomplete and not imported (the \
                 first sync pairs the folder's messages by content)",
                path.display()
            ))),
        }
    }

    /// The status files whose names are in neither `matched` nor a temporary or journal
    /// file of SQLite or OfflineIMAP.
    fn unmatched_status_files(&self, matched: &BTreeSet<String>) -> Vec<PathBuf> {
        let account_dir = self.source.metadata.account_dir(&self.source.account);
        let mut seen = BTreeSet::new();
        let mut unmatched = Vec::new();
        for dir in ["LocalStatus-sqlite", "LocalStatus"] {
            let Ok(entries) = fs::read_dir(account_dir.join(dir)) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .filter_map(|entry| entry.file_name().into_string().ok())
                .filter(|name| {
                    ![".tmp", "-journal", "-wal", "-shm", ".lock"]
                        .iter()
                        .any(|suffix| name.ends_with(suffix))
                })
                .collect();
            names.sort();
            for name in names {
                if !matched.contains(&name) && seen.insert(name.clone()) {
                    unmatched.push(account_dir.join(dir).join(name));
                }
            }
        }
        unmatched
    }
}

/// "1 pair", "2 pairs".
fn pairs(count: usize) -> String {
    if count == 1 {
        "1 pair".to_owned()
    } else {
        format!("{count} pairs")
    }
}

/// What an account's import prints, in the form of a sync's summary: a line per folder
/// (`  INBOX  imported 5 pairs from ...`, `  Sent  ERROR: ...`), then the account's line.
pub fn render(report: &AccountImport) -> String {
    let account = &report.account;
    if let Some(error) = &report.error {
        return format!("Account {account}: FAILED: {error}\n");
    }
    let verb = if report.dry_run {
        "would import"
    } else {
        "imported"
    };
    let width = report
        .folders
        .iter()
        .map(|folder| folder.folder.as_str().chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let (mut imported, mut paired, mut kept, mut without, mut failed) = (0, 0, 0, 0, 0);
    for folder in &report.folders {
        let line = match &folder.result {
            Ok(FolderOutcome::Imported(done)) => {
                imported += 1;
                paired += done.pairs;
                let mut line = format!(
                    "{verb} {} from {} (UIDVALIDITY local {}, remote {})",
                    pairs(done.pairs),
                    display_path(&done.status_file),
                    done.uid_validity[Side::Local],
                    done.uid_validity[Side::Remote],
                );
                if done.gone_locally > 0 {
                    line.push_str(&format!(
                        "; {} deleted locally since OfflineIMAP's last sync: the next sync \
                         deletes them on the remote side",
                        done.gone_locally
                    ));
                }
                if done.unmapped > 0 {
                    line.push_str(&format!(
                        "; {} without a UIDMapping entry are left to the first sync to pair \
                         by content",
                        done.unmapped
                    ));
                }
                line
            }
            Ok(FolderOutcome::AlreadyInState) => {
                kept += 1;
                "twinbox has a sync state for it already: left as it is (--force replaces it)"
                    .to_owned()
            }
            Ok(FolderOutcome::NoOfflineImapState) => {
                without += 1;
                "OfflineIMAP has no state for it: the first sync pairs its messages by content"
                    .to_owned()
            }
            Ok(FolderOutcome::NoLocalFolder) => {
                without += 1;
                "not in the local repository: not imported (the first sync creates it and \
                 copies its messages)"
                    .to_owned()
            }
            Err(error) => {
                failed += 1;
                format!("ERROR: {error}")
            }
        };
        out.push_str(&format!("  {:<width$}  {line}\n", folder.folder.as_str()));
    }
    for file in &report.unmatched {
        out.push_str(&format!(
            "  {}: no remote folder has this name: not imported\n",
            display_path(file)
        ));
    }
    out.push_str(&format!(
        "Account {account}: {verb} {} ({}), {kept} left as they were, \
         {without} without OfflineIMAP state, {failed} failed\n",
        crate::summary::counted(imported, "folder", "folders"),
        pairs(paired)
    ));
    out
}

#[cfg(test)]
mod tests;
