//! The sync engine: two repositories, the state of their last sync, and the policy that
//! reconciles them.
//!
//! The engine knows no backend. It sees two [`Repository`] trait objects (loaded from
//! plugins, or in-memory ones in tests), compares each folder pair three ways (see
//! [`plan`]), and applies the result in an order that keeps every step durable before it is
//! recorded (see [`folder`]). It reports through a [`SyncObserver`] and never prints.
//!
//! Folders are synced in parallel, up to `SyncOptions::threads` at a time; a repository
//! serves several open folders at once, and the state database serializes its commits.

mod batches;
mod changes;
mod content_pairing;
mod copy;
mod deletion_guard;
mod deletions;
mod failure;
mod fingerprint;
mod flags;
pub mod folder;
pub mod late_copies;
mod max_size;
pub mod plan;
mod recovery;
pub mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use backend_api::{FolderPath, Repository};
use rayon::prelude::*;

pub use content_pairing::NearDuplicates;
pub use failure::FolderFailure;
use folder::{FolderSync, OpenFolder};
pub use report::{AccountReport, FolderReport, NoObserver, SyncEvent, SyncObserver};

use crate::side::{PerSide, Side};
use crate::state::SyncState;

/// What to sync and how.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Plan only: change nothing on either side nor in the state.
    pub dry_run: bool,
    /// Per side: create a folder there when it exists only on the other side.
    pub create_folders: PerSide<bool>,
    /// Per side: whether its repository is `readonly`, so that nothing is ever written
    /// there (no folder created, no message copied, no flag or deletion applied).
    pub read_only: PerSide<bool>,
    /// Per side: whether messages deleted in its repository are deleted on the other side
    /// too (`sync_deletes`, OfflineIMAP's meaning). When not, the twin stays and stays
    /// paired, so it is neither deleted nor copied back.
    pub sync_deletes: PerSide<bool>,
    /// Only these folders (all when `None`).
    pub folders: Option<Vec<FolderPath>>,
    /// How many folders to sync at once (at least 1).
    pub threads: usize,
    /// What to do with messages on both sides that share a Message-ID but not their bytes
    /// (`pairbymessageid`).
    pub near_duplicates: NearDuplicates,
    /// The mass-deletion guard's limit, in percent of a folder (`deletionguard`); 0 turns
    /// the guard off.
    pub deletion_guard_percent: u32,
    /// Apply the deletions the guard refused at the last sync, exactly those
    /// (`--allow-deletions`).
    pub allow_deletions: bool,
    /// `twinbox repair`: which folders forget their state and are paired again by content.
    pub repair: Option<Repair>,
    /// Set from outside (a daemon told to stop): the folders in flight finish, and the
    /// ones not yet started are skipped, so the run ends soon with its state saved.
    pub cancel: Option<Arc<AtomicBool>>,
    /// `maxsize`: messages larger than this many bytes are not copied either way.
    pub max_size: Option<u64>,
    /// How long after an interrupted run started its last copies a new run waits before
    /// looking for them (`late_copies.rs`); zero waits never.
    pub late_copy_grace: std::time::Duration,
}

/// Which folders `twinbox repair` starts over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repair {
    /// Those whose UIDs changed meaning on a side (UIDVALIDITY changed, UIDNEXT went
    /// back); the others are synced as usual.
    Broken,
    /// Every folder synced (the ones named with `-f`).
    Every,
}

/// The default limit of the mass-deletion guard, in percent.
pub const DEFAULT_DELETION_GUARD_PERCENT: u32 = 50;

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            dry_run: false,
            create_folders: PerSide::new(true, true),
            read_only: PerSide::new(false, false),
            sync_deletes: PerSide::new(true, true),
            folders: None,
            threads: 1,
            near_duplicates: NearDuplicates::Count,
            deletion_guard_percent: DEFAULT_DELETION_GUARD_PERCENT,
            allow_deletions: false,
            repair: None,
            cancel: None,
            max_size: None,
            // Stores in memory store at once; the binary sets `LATE_COPY_GRACE`.
            late_copy_grace: std::time::Duration::ZERO,
        }
    }
}

/// One account: its two repositories and its state.
pub struct Account<'a> {
    pub name: &'a str,
    pub repositories: PerSide<&'a dyn Repository>,
    /// The config name of each side's repository (`[Repository NAME]`), for messages.
    pub repository_names: PerSide<&'a str>,
    pub state: &'a SyncState,
    pub options: SyncOptions,
}

impl Account<'_> {
    fn creates_on(&self, side: Side) -> bool {
        self.options.create_folders[side] && !self.options.read_only[side]
    }
}

/// Where a folder exists at the start of a sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Presence {
    Both,
    Only(Side),
}

/// Syncs every folder of an account. Never panics on bad input; everything that went
/// wrong is in the report.
pub fn sync_account(account: &Account<'_>, observer: &dyn SyncObserver) -> AccountReport {
    let mut report = AccountReport {
        account: account.name.to_owned(),
        dry_run: account.options.dry_run,
        ..Default::default()
    };
    if !account.options.dry_run {
        late_copies::wait_out(
            account.state,
            account.options.late_copy_grace,
            account.name,
            || cancelled(&account.options),
        );
    }
    let folders = match folder_plan(account) {
        Ok(folders) => folders,
        Err((error, retry)) => {
            report.error = Some(error);
            report.retry = retry;
            return report;
        }
    };
    observer.event(&SyncEvent::FoldersPlanned {
        account: account.name,
        folders: folders.len(),
    });
    let stop = AtomicBool::new(false);
    let body_budget = batches::BodyBudget::new(batches::ACCOUNT_BATCH_BYTES);
    let sync_one = |(path, presence): &FolderToSync| {
        let mut folder_report = FolderReport::for_folder(path);
        if stop.load(Ordering::SeqCst) {
            folder_report
                .errors
                .push("skipped: a repository of this account failed on another folder".into());
            return folder_report;
        }
        if cancelled(&account.options) {
            folder_report
                .errors
                .push("skipped: twinbox was told to stop".into());
            return folder_report;
        }
        observer.event(&SyncEvent::FolderStarted {
            account: account.name,
            folder: path,
        });
        let outcome = match presence {
            Ok(presence) => sync_folder(
                account,
                path,
                *presence,
                &body_budget,
                observer,
                &mut folder_report,
            ),
            Err(problem) => {
                folder_report.errors.push(problem.clone());
                Ok(())
            }
        };
        if let Err(failure) = outcome {
            if failure.stops_account() {
                stop.store(true, Ordering::SeqCst);
            }
            folder_report.errors.push(failure.to_string());
        }
        observer.event(&SyncEvent::FolderFinished {
            account: account.name,
            report: &folder_report,
        });
        folder_report
    };
    let threads = account.options.threads.max(1);
    report.folders = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(|| folders.par_iter().map(sync_one).collect()),
        Err(_) => folders.iter().map(sync_one).collect(),
    };
    report
}

fn cancelled(options: &SyncOptions) -> bool {
    options
        .cancel
        .as_ref()
        .is_some_and(|cancel| cancel.load(Ordering::SeqCst))
}

/// A folder to sync, with where it exists or why it cannot be synced.
type FolderToSync = (FolderPath, Result<Presence, String>);

/// The folders to sync. An error comes with the backend's retry class when it has one
/// (a daemon retries by it).
fn folder_plan(
    account: &Account<'_>,
) -> Result<Vec<FolderToSync>, (String, Option<backend_api::Retry>)> {
    let list = |side: Side| -> Result<BTreeSet<FolderPath>, (String, Option<backend_api::Retry>)> {
        let folders = account.repositories[side].list_folders().map_err(|e| {
            (
                format!("{} repository: cannot list folders: {e}", side.name()),
                Some(e.retry),
            )
        })?;
        Ok(folders
            .into_iter()
            .filter(|f| f.selectable)
            .map(|f| f.path)
            .collect())
    };
    let listed = PerSide::try_from_fn(list)?;
    let known: BTreeSet<FolderPath> = account
        .state
        .folders()
        .map_err(|e| (e.to_string(), None))?
        .into_iter()
        .map(|(path, _)| path)
        .collect();

    let mut wanted: BTreeSet<FolderPath> = listed.iter().flatten().cloned().collect();
    if let Some(only) = &account.options.folders {
        wanted = only.iter().cloned().collect();
    }
    let look_alikes = look_alikes(listed.iter().flatten());
    let mut folders = Vec::new();
    for path in wanted {
        if let Some(others) = look_alikes.get(&path) {
            let others: Vec<String> = others.iter().map(|o| format!("{o:?}")).collect();
            let problem = format!(
                "refused: folder {:?} differs from {} only by case or Unicode normalization, so on a case-insensitive or normalizing file system both would be one directory and their messages merged; rename one of them (or leave one out with folderfilter)",
                path.as_str(),
                others.join(" and ")
            );
            folders.push((path, Err(problem)));
            continue;
        }
        let listed_on = PerSide::from_fn(|side| listed[side].contains(&path));
        let presence = match Side::BOTH.into_iter().find(|&side| !listed_on[side]) {
            None => Ok(Presence::Both),
            Some(missing) if !listed_on[missing.other()] => Err(format!(
                "no folder {path} in either repository; check the name given with -f"
            )),
            Some(missing) => {
                let present = missing.other();
                if known.contains(&path) {
                    Err(format!(
                        "folder vanished from the {missing} repository since the last sync; twinbox never deletes a folder. Delete it on the {present} side too if that was meant, or recreate it on the {missing} side and run `twinbox forget` for it"
                    ))
                } else if !account.creates_on(missing) {
                    log::info!("{}: folder {path} exists only on the {present} side and createfolders is off for the {missing} side; skipped", account.name);
                    continue;
                } else {
                    Ok(Presence::Only(present))
                }
            }
        };
        folders.push((path, presence));
    }
    Ok(folders)
}

/// The folders among `paths` that would be one directory on a case-insensitive or
/// Unicode-normalizing file system (macOS, Windows, some network shares), each with the
/// others it would be merged with. Such folders are refused, never merged: a file system
/// that folds names would otherwise mix two folders' messages, and each run would move
/// them between the two server folders.
fn look_alikes<'p>(
    paths: impl Iterator<Item = &'p FolderPath>,
) -> BTreeMap<FolderPath, Vec<FolderPath>> {
    use unicode_normalization::UnicodeNormalization;
    let mut groups: BTreeMap<String, BTreeSet<FolderPath>> = BTreeMap::new();
    for path in paths {
        let folded: String = path.as_str().nfd().collect::<String>().to_lowercase();
        let key: String = folded.nfd().collect();
        groups.entry(key).or_default().insert(path.clone());
    }
    let mut look_alikes = BTreeMap::new();
    for group in groups.into_values().filter(|g| g.len() > 1) {
        for path in &group {
            let others = group.iter().filter(|o| *o != path).cloned().collect();
            look_alikes.insert(path.clone(), others);
        }
    }
    look_alikes
}

fn sync_folder(
    account: &Account<'_>,
    path: &FolderPath,
    presence: Presence,
    body_budget: &batches::BodyBudget,
    observer: &dyn SyncObserver,
    report: &mut FolderReport,
) -> Result<(), FolderFailure> {
    let dry_run = account.options.dry_run;
    if let Presence::Only(present) = presence {
        let missing = present.other();
        report.created_on = Some(missing);
        if dry_run {
            // Nothing to open on the missing side: everything on the present side would be copied.
            let mut folder = open(account, present, path)?;
            let count = folder
                .folder
                .list_messages()
                .map_err(FolderFailure::backend(present))?
                .iter()
                .filter(|m| !m.flags.contains(backend_api::SystemFlag::Deleted))
                .count();
            report.copied_to[missing] = count;
            return Ok(());
        }
        account.repositories[missing]
            .create_folder(path)
            .map_err(FolderFailure::backend(missing))?;
    }
    let sync = FolderSync {
        account: account.name,
        path,
        folders: PerSide::try_from_fn(|side| open(account, side, path))?,
        repository_names: account.repository_names,
        state: account.state,
        dry_run,
        read_only: account.options.read_only,
        sync_deletes: account.options.sync_deletes,
        near_duplicates: account.options.near_duplicates,
        deletion_guard_percent: account.options.deletion_guard_percent,
        allow_deletions: account.options.allow_deletions,
        repair: account.options.repair,
        max_size: account.options.max_size,
        batch_bytes: batches::folder_batch_bytes(account.options.threads),
        body_budget,
        observer,
        pending_ids_from: None,
        listed_durable: false,
        retrying: Default::default(),
        held_back_from: PerSide::default(),
    };
    sync.run(report)
}

fn open(account: &Account<'_>, side: Side, path: &FolderPath) -> Result<OpenFolder, FolderFailure> {
    let repository = account.repositories[side];
    Ok(OpenFolder {
        line_ending: repository
            .info()
            .map_err(FolderFailure::backend(side))?
            .line_ending,
        folder: repository
            .open_folder(path)
            .map_err(FolderFailure::backend(side))?,
    })
}

#[cfg(test)]
mod changes_tests;
#[cfg(test)]
mod look_alike_tests;
#[cfg(test)]
mod prefetch_tests;
#[cfg(test)]
mod recording;
#[cfg(test)]
mod safety_tests;
#[cfg(test)]
mod tests;
