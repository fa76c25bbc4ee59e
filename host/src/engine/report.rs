//! What a sync did, and the observer through which the engine tells it as it goes.
//!
//! The engine never prints: the CLI's summary is one observer, a future progress bar or
//! `--json` stream are others.

use backend_api::FolderPath;

use crate::side::Side;

/// Counts for one folder pair.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FolderReport {
    pub folder: Option<FolderPath>,
    pub copied_to_local: usize,
    pub copied_to_remote: usize,
    pub flags_on_local: usize,
    pub flags_on_remote: usize,
    pub deleted_on_local: usize,
    pub deleted_on_remote: usize,
    /// The side the folder was created on, if it was.
    pub created_on: Option<Side>,
    /// Interrupted copies from an earlier run that were found and recorded.
    pub recovered: usize,
    /// Errors, each one line; a folder with an error did not finish.
    pub errors: Vec<String>,
}

impl FolderReport {
    pub fn for_folder(folder: &FolderPath) -> Self {
        FolderReport {
            folder: Some(folder.clone()),
            ..Default::default()
        }
    }

    pub fn changed_anything(&self) -> bool {
        self.copied_to_local
            + self.copied_to_remote
            + self.flags_on_local
            + self.flags_on_remote
            + self.deleted_on_local
            + self.deleted_on_remote
            + self.recovered
            > 0
            || self.created_on.is_some()
    }

    pub fn copied_to(&mut self, side: Side) -> &mut usize {
        match side {
            Side::Local => &mut self.copied_to_local,
            Side::Remote => &mut self.copied_to_remote,
        }
    }

    pub fn flags_on(&mut self, side: Side) -> &mut usize {
        match side {
            Side::Local => &mut self.flags_on_local,
            Side::Remote => &mut self.flags_on_remote,
        }
    }

    pub fn deleted_on(&mut self, side: Side) -> &mut usize {
        match side {
            Side::Local => &mut self.deleted_on_local,
            Side::Remote => &mut self.deleted_on_remote,
        }
    }
}

/// Everything an account's sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountReport {
    pub account: String,
    pub folders: Vec<FolderReport>,
    /// An error that stopped the whole account (e.g. a repository could not be opened).
    pub error: Option<String>,
    pub dry_run: bool,
}

impl AccountReport {
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.folders.iter().any(|f| !f.errors.is_empty())
    }

    pub fn changed_anything(&self) -> bool {
        self.folders.iter().any(FolderReport::changed_anything)
    }
}

/// An event during a sync.
#[derive(Debug)]
pub enum SyncEvent<'a> {
    FolderStarted {
        account: &'a str,
        folder: &'a FolderPath,
    },
    /// A message-level problem that did not stop the folder (the message is skipped).
    MessageSkipped {
        account: &'a str,
        folder: &'a FolderPath,
        error: &'a str,
    },
    FolderFinished {
        account: &'a str,
        report: &'a FolderReport,
    },
}

/// Receives events from the engine, possibly from several threads at once.
pub trait SyncObserver: Sync {
    fn event(&self, event: &SyncEvent<'_>);
}

/// An observer that ignores everything.
pub struct NoObserver;

impl SyncObserver for NoObserver {
    fn event(&self, _: &SyncEvent<'_>) {}
}
