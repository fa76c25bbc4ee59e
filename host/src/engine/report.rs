//! What a sync did, and the observer through which the engine tells it as it goes.
//!
//! The engine never prints. It returns a report, which the CLI's summary (`summary.rs`)
//! formats at the end, and tells events to a [`SyncObserver`] as it goes: the CLI's
//! observers (`output/`) turn them into log lines (`-v`), a progress display on a terminal
//! or a `--json` stream. Events carry counts, never text meant for a user, so that every
//! observer formats them its own way.

use backend_api::FolderPath;

use crate::side::{PerSide, Side};

/// Counts for one folder pair.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FolderReport {
    pub folder: Option<FolderPath>,
    /// Messages copied to each side.
    pub copied_to: PerSide<usize>,
    /// Messages whose flags were changed on each side.
    pub flags_on: PerSide<usize>,
    /// Messages deleted on each side.
    pub deleted_on: PerSide<usize>,
    /// The side the folder was created on, if it was.
    pub created_on: Option<Side>,
    /// Interrupted copies from an earlier run that were found and recorded.
    pub recovered: usize,
    /// Messages found on both sides without a pair in the state, paired by content (or,
    /// with `pairbymessageid`, by Message-ID) instead of being copied.
    pub paired_by_content: usize,
    /// Messages left unpaired whose Message-ID is that of an unpaired message on the other
    /// side, with other bytes: both are copied.
    pub near_duplicates: usize,
    /// Errors, each one line: messages that were skipped (the rest of the folder was
    /// synced), or what stopped the folder.
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
        let changes: usize = [&self.copied_to, &self.flags_on, &self.deleted_on]
            .into_iter()
            .flat_map(PerSide::iter)
            .sum();
        changes + self.recovered + self.paired_by_content > 0 || self.created_on.is_some()
    }
}

/// Everything an account's sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountReport {
    pub account: String,
    pub folders: Vec<FolderReport>,
    /// An error that stopped the whole account (e.g. a repository could not be opened).
    pub error: Option<String>,
    /// The retry class of the backend error behind `error`, when it came from one (a
    /// daemon retries by it).
    pub retry: Option<backend_api::Retry>,
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
    /// Both repositories are open and listed: `folders` folder pairs will be synced
    /// (each then gets one `FolderStarted` and one `FolderFinished`).
    FoldersPlanned { account: &'a str, folders: usize },
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
    /// `messages` messages of `bytes` bytes (as the source stores them) are about to be
    /// copied to `to` in this folder: the totals a progress display counts towards.
    CopiesPlanned {
        account: &'a str,
        folder: &'a FolderPath,
        to: Side,
        messages: usize,
        bytes: u64,
    },
    /// A batch of copies is durable and recorded: `messages` more messages, `bytes` more
    /// bytes (as the destination stores them) copied to `to`.
    MessagesCopied {
        account: &'a str,
        folder: &'a FolderPath,
        to: Side,
        messages: usize,
        bytes: u64,
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
