//! From configuration to a running account: resolve both repositories' sections, find
//! their plugins, open them and the account's state, and hand all of it to the engine.
//!
//! Problems with the configuration itself are found for every selected account before
//! anything is opened ([`prepare`]), so a typo never leaves a sync half done.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use backend_api::{
    BackendError, Folder, FolderInfo, FolderPath, Repository, RepositoryConfig, RepositoryInfo,
};

use crate::config::{Config, ConfigError, RepositoryConfigExt};
use crate::engine::{self, AccountReport, NearDuplicates, Repair, SyncObserver, SyncOptions};
use crate::folder_names::{AccountNames, NameRules, NamedRepository};
use crate::plugins::{LoadedPlugin, PluginCatalog};
use crate::side::{PerSide, Side};
use crate::state::SyncState;

/// Folders are synced this many at a time unless a repository's `maxconnections` says
/// fewer.
pub const DEFAULT_FOLDER_THREADS: usize = 3;

/// An account whose configuration checked out, ready to sync.
pub struct PreparedAccount<'c> {
    pub name: String,
    /// Each side's repository section and the plugin for its type.
    pub repositories: PerSide<(RepositoryConfig, &'c LoadedPlugin)>,
    pub state_path: PathBuf,
    pub options: SyncOptions,
    /// The repositories' `folderfilter`, `nametrans` and `folderincludes`, when either
    /// sets one: the repositories are then seen through them.
    pub names: Option<Arc<AccountNames>>,
}

/// A configuration problem found before syncing: one line, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{file}: [Repository {repository}] type = {kind}: {problem}")]
    Plugin {
        file: String,
        repository: String,
        kind: String,
        problem: String,
    },
    #[error("-f {name}: {problem}")]
    FolderName { name: String, problem: String },
}

/// What the user asked for on the command line.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub accounts: Vec<String>,
    pub folders: Vec<String>,
    pub dry_run: bool,
    /// `--allow-deletions`: confirm the deletions the guard refused.
    pub allow_deletions: bool,
    /// `twinbox repair`: which folders start over.
    pub repair: Option<Repair>,
}

/// Checks the configuration of every selected account and finds their plugins.
pub fn prepare<'c>(
    config: &Config,
    catalog: &'c PluginCatalog,
    request: &Request,
) -> Result<Vec<PreparedAccount<'c>>, PrepareError> {
    let folders = parse_folders(&request.folders)?;
    let metadata = config.general.metadata_dir()?;
    let mut prepared = Vec::new();
    for account in config.selected_accounts(&request.accounts)? {
        let (repositories, names) = resolve_repositories(config, catalog, &account.name)?;
        let limits = PerSide::try_from_fn(|side| repositories[side].0.maxconnections())?;
        let threads = limits
            .iter()
            .flatten()
            .min()
            .copied()
            .unwrap_or(DEFAULT_FOLDER_THREADS)
            .max(1);
        let options = SyncOptions {
            dry_run: request.dry_run,
            read_only: PerSide::try_from_fn(|side| repositories[side].0.readonly())?,
            create_folders: PerSide::try_from_fn(|side| repositories[side].0.createfolders())?,
            sync_deletes: PerSide::try_from_fn(|side| repositories[side].0.sync_deletes())?,
            folders: folders.clone(),
            threads,
            near_duplicates: if account.pairbymessageid {
                NearDuplicates::PairByMessageId
            } else {
                NearDuplicates::Count
            },
            deletion_guard_percent: account.deletionguard,
            allow_deletions: request.allow_deletions,
            repair: request.repair,
            cancel: None,
            max_size: account.maxsize,
            late_copy_grace: engine::late_copies::late_copy_grace(),
        };
        prepared.push(PreparedAccount {
            state_path: state_file(&metadata, &account.name),
            name: account.name.clone(),
            repositories,
            options,
            names: names.is_set().then(|| Arc::new(names)),
        });
    }
    Ok(prepared)
}

/// Each side's repository section and the plugin for its type, and the account's folder
/// name rules (`folderfilter`, `nametrans`): what a sync and an import both start from.
pub fn resolve_repositories<'c>(
    config: &Config,
    catalog: &'c PluginCatalog,
    account: &str,
) -> Result<ResolvedRepositories<'c>, PrepareError> {
    let resolve = |side: Side| -> Result<(RepositoryConfig, &'c LoadedPlugin), PrepareError> {
        let repository = config.repository_for(account, side)?;
        let kind = repository.repository_type()?.to_owned();
        let plugin = catalog.find(&kind).map_err(|e| PrepareError::Plugin {
            file: config.file().to_owned(),
            repository: repository.name.clone(),
            kind: kind.clone(),
            problem: e.to_string(),
        })?;
        Ok((repository, plugin))
    };
    let repositories = PerSide::try_from_fn(resolve)?;
    let names = AccountNames {
        rules: PerSide::try_from_fn(|side| {
            let repository = &repositories[side].0;
            NameRules::read(repository, config.repository_lines.get(&repository.name))
        })?,
    };
    Ok((repositories, names))
}

/// The repository types (`type =`, as written) of both repositories of the accounts
/// `accounts` selects, for [`PluginCatalog::discover_for`]: a sync loads only their
/// plugins. A problem in the configuration is skipped here; [`prepare`] reports it.
pub fn repository_types(config: &Config, accounts: &[String]) -> Vec<String> {
    let Ok(selected) = config.selected_accounts(accounts) else {
        return Vec::new();
    };
    let mut types: Vec<String> = Vec::new();
    for account in selected {
        for side in Side::BOTH {
            let Ok(repository) = config.repository_for(&account.name, side) else {
                continue;
            };
            if let Ok(kind) = repository.repository_type() {
                if !types.iter().any(|seen| seen.eq_ignore_ascii_case(kind)) {
                    types.push(kind.to_owned());
                }
            }
        }
    }
    types
}

/// What [`resolve_repositories`] finds.
pub type ResolvedRepositories<'c> = (PerSide<(RepositoryConfig, &'c LoadedPlugin)>, AccountNames);

fn parse_folders(requested: &[String]) -> Result<Option<Vec<FolderPath>>, PrepareError> {
    if requested.is_empty() {
        return Ok(None);
    }
    let mut folders = Vec::new();
    for name in requested.iter().flat_map(|entry| entry.split(',')) {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        let path = FolderPath::new(name).map_err(|e| PrepareError::FolderName {
            name: name.to_owned(),
            problem: e.reason.to_owned(),
        })?;
        folders.push(path);
    }
    Ok(Some(folders))
}

/// The state database of `account`: one file per account under the metadata directory.
pub fn state_file(metadata: &Path, account: &str) -> PathBuf {
    // Account names are free text: bytes outside [A-Za-z0-9._-] are percent-encoded, so
    // the file name is portable and two accounts never share a state file.
    let mut safe = String::with_capacity(account.len());
    for byte in account.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.".contains(&byte) {
            safe.push(char::from(byte));
        } else {
            safe.push_str(&format!("%{byte:02X}"));
        }
    }
    metadata.join(format!("Account-{safe}.redb"))
}

/// Opens the state for a sync. A dry run never creates or changes it: a missing state
/// is an empty one in memory.
pub fn open_state(path: &Path, dry_run: bool) -> Result<SyncState, String> {
    let state = match (dry_run, path.exists()) {
        (true, false) => SyncState::in_memory(),
        (true, true) => SyncState::open_read_only(path),
        (false, _) => SyncState::open(path),
    };
    state.map_err(|e| e.to_string())
}

/// Opens both repositories and the state, and syncs. Every failure is in the report.
pub fn sync(account: &PreparedAccount<'_>, observer: &dyn SyncObserver) -> AccountReport {
    let failed = |error: String| AccountReport {
        account: account.name.clone(),
        error: Some(error),
        dry_run: account.options.dry_run,
        ..Default::default()
    };
    let open = |(config, plugin): &(RepositoryConfig, &LoadedPlugin)| -> Result<Box<dyn Repository>, (String, backend_api::Retry)> {
        let config = RepositoryConfig {
            read_only: account.options.dry_run,
            ..config.clone()
        };
        plugin
            .open_repository(&config)
            .map_err(|e| (format!("[Repository {}]: {e}", config.name), e.retry))
    };
    // The remote side first, listed at once: it is usually the server, where a login
    // fails (servers log in on first use, not when opened), and a local store creates
    // its root when it opens. A failed login then leaves nothing on disk (the state file
    // too is created only below, once both are open). The listing is not wasted: it
    // answers the engine's first one.
    let opened = PerSide::try_from_fn_starting_with(Side::Remote, |side| {
        let repository = open(&account.repositories[side])?;
        if side == Side::Local {
            return Ok(repository);
        }
        let listed = repository.list_folders().map_err(|e| {
            (
                format!("{side} repository: cannot list folders: {e}"),
                e.retry,
            )
        })?;
        Ok(Box::new(Prelisted {
            inner: repository,
            listed: Mutex::new(Some(listed)),
        }) as Box<dyn Repository>)
    });
    let repositories = match opened {
        Ok(repositories) => repositories,
        Err((error, retry)) => {
            return AccountReport {
                retry: Some(retry),
                ..failed(error)
            }
        }
    };
    let repositories = match &account.names {
        None => repositories,
        Some(names) => match named(repositories, names, &account.options) {
            Ok(named) => named,
            Err((error, retry)) => {
                return AccountReport {
                    retry,
                    ..failed(error)
                }
            }
        },
    };
    // Only now that both repositories opened: a run that cannot log in leaves nothing.
    // A dry run writes nothing, not even the lock: it only checks that no one holds it.
    let locked = if account.options.dry_run {
        crate::account_lock::check(&account.name, &account.state_path).map(|()| None)
    } else {
        crate::account_lock::lock(&account.name, &account.state_path).map(Some)
    };
    let _lock = match locked {
        Ok(lock) => lock,
        Err(error) => return failed(error.to_string()),
    };
    let path = &account.state_path;
    let state = match guarded(path, || open_state(path, account.options.dry_run)) {
        Ok(Ok(state)) => state,
        Ok(Err(error)) | Err(error) => return failed(error),
    };
    let engine_account = engine::Account {
        name: &account.name,
        repositories: repositories.as_ref().map(|repository| &**repository),
        repository_names: account
            .repositories
            .as_ref()
            .map(|(config, _)| config.name.as_str()),
        state: &state,
        options: account.options.clone(),
    };
    guarded(path, || engine::sync_account(&engine_account, observer)).unwrap_or_else(failed)
}

/// Runs `f`, which reads the state at `path`, turning a panic into this account's error.
///
/// redb (4.6) panics instead of failing on some damaged files (`Malformed allocator
/// state`, out-of-bounds page offsets; found by fuzzing, `fuzz_tests.rs`), when the file
/// is opened and when it is read. A file damaged by a disk or file-system fault must stop
/// its account with a message that says what to do, not end twinbox: the other accounts
/// still sync. (The panic hook has printed its line by then; this adds the way out.)
pub(crate) fn guarded<T>(path: &Path, f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let said = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        format!(
            "sync state {}: twinbox stopped while reading it ({said}); the file is probably damaged (a disk or file-system fault): move it aside to start over (messages found on both sides are paired again by content)",
            path.display()
        )
    })
}

/// Why an account could not start, with the backend's retry class when a backend said.
type Refusal = (String, Option<backend_api::Retry>);

/// A repository whose folders were listed once already: the next listing is that one.
struct Prelisted {
    inner: Box<dyn Repository>,
    listed: Mutex<Option<Vec<FolderInfo>>>,
}

impl Repository for Prelisted {
    fn info(&self) -> Result<RepositoryInfo, BackendError> {
        self.inner.info()
    }

    fn list_folders(&self) -> Result<Vec<FolderInfo>, BackendError> {
        let listed = self.listed.lock().ok().and_then(|mut listed| listed.take());
        match listed {
            Some(listed) => Ok(listed),
            None => self.inner.list_folders(),
        }
    }

    fn create_folder(&self, path: &FolderPath) -> Result<(), BackendError> {
        self.inner.create_folder(path)
    }

    fn open_folder(&self, path: &FolderPath) -> Result<Box<dyn Folder>, BackendError> {
        self.inner.open_folder(path)
    }
}

/// Wraps both repositories in their folder-name rules and checks, before anything is
/// synced, that the rules give each folder one name and that the two `nametrans` undo
/// each other on the folders present (see [`AccountNames::check`]). A failure fails the
/// account, as a repository that cannot be listed does: the other accounts still sync.
fn named(
    repositories: PerSide<Box<dyn Repository>>,
    names: &Arc<AccountNames>,
    options: &SyncOptions,
) -> Result<PerSide<Box<dyn Repository>>, Refusal> {
    let mut slots = repositories.map(Some);
    let wrapped = PerSide::try_from_fn(|side| {
        slots[side]
            .take()
            .map(|repository| NamedRepository::new(repository, side, Arc::clone(names)))
            .ok_or_else(|| {
                (
                    "internal error: a repository wrapped twice".to_owned(),
                    None,
                )
            })
    })?;
    let listed = PerSide::try_from_fn(|side| {
        wrapped[side].synced_folders().map_err(|e| {
            (
                format!("{side} repository: cannot list folders: {e}"),
                Some(e.retry),
            )
        })
    })?;
    let remote = Side::Remote;
    let creates_on_remote = options.create_folders[remote] && !options.read_only[remote];
    names
        .check(&listed, creates_on_remote)
        .map_err(|problem| (problem, None))?;
    Ok(wrapped.map(|repository| Box::new(repository) as Box<dyn Repository>))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_are_distinct_for_distinct_accounts() {
        let dir = Path::new("/m");
        assert_eq!(
            state_file(dir, "Personal"),
            Path::new("/m/Account-Personal.redb")
        );
        assert_ne!(state_file(dir, "a b"), state_file(dir, "a_b"));
        assert_eq!(
            state_file(dir, "a b/ü"),
            Path::new("/m/Account-a%20b%2F%C3%BC.redb")
        );
    }
}
