//! One mbox folder: its messages, their UIDs and flags, kept in step with the file.
//!
//! The folder works from the index (see [`crate::index`]). Every call first compares the
//! stamps of the mbox and of the index with the ones it last saw; only when one changed
//! does it read again, and only when the mbox no longer matches the index does it read
//! the mbox, under the lock, and *re-index it by content*: each record's message is
//! recognised by its fingerprint (see [`crate::format`]), so a known message keeps its
//! UID wherever it moved, a record the index does not know is a new message and gets the
//! next UID, and a UID whose message is nowhere is a deletion. Two identical messages are
//! matched in file order. The result is saved at once, so UIDs once reported are kept.
//!
//! Writes hold the lock (see [`crate::lock`]) and re-read under it first:
//!
//! - an append announces itself in the index (reserved UIDs, offsets, fingerprints: a
//!   *pending* entry), appends the records at the end and fsyncs, then records them as
//!   messages. After a crash, the pending entries that were written whole are found again
//!   by content under their reserved UIDs, and a record cut short at the end of the file
//!   is cut off, so a torn message never becomes a "new" message that would be copied;
//! - flag changes and deletions are collected and written at [`Folder::flush`], in one
//!   rewrite: a new mbox is written beside the old one, fsynced and renamed over it, and
//!   then the index is saved. A crash in between leaves the old or the new mbox, whole,
//!   and the next call re-indexes it by content.
//!
//! A dry run (read-only) takes only the shared lock, writes nothing at all, and keeps what
//! it learns (a provisional UIDVALIDITY, provisional UIDs) in memory.
//!
//! This file holds the folder's types, opening and the `Folder` trait; the work is in
//! `listing` (the index kept in step with the mbox), `reading`, `writing` and `flags`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backend_api::{
    BackendError, ErrorScope, FetchedMessage, Flags, Folder, FolderPath, FolderStatus, MessageInfo,
    NewMessage, PermanentFlags, Retry, Uid, UidValidity, UnixTime,
};
use backend_kit::durable::{parent_of, sync_dir};
use backend_kit::store::check_writable;

use crate::format::{self, Normalized, FROM};
use crate::index::{self, Entry, Index, Loaded, Stamp};
use crate::lock::{self, LockError, MboxLock};

mod flags;
mod listing;
mod reading;
mod writing;

/// What an mbox folder stores: the five system flags, in `Status`/`X-Status`. Keywords
/// have no place mutt reads, so none is offered.
pub(crate) fn permanent_flags() -> PermanentFlags {
    PermanentFlags {
        flags: Flags::all_system(),
        any_keyword: false,
    }
}

fn now() -> UnixTime {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as UnixTime)
}

/// A sibling of `mbox` named `.NAME<suffix>`: hidden from mail clients.
fn hidden_sibling(mbox: &Path, suffix: &str) -> PathBuf {
    let name = mbox.file_name().unwrap_or_default().to_string_lossy();
    mbox.with_file_name(format!(".{name}{suffix}"))
}

/// The path of the index of `mbox`.
pub(crate) fn index_path(mbox: &Path) -> PathBuf {
    hidden_sibling(mbox, ".twinbox-index")
}

/// Flag changes and deletions asked for and not yet written: they are written at
/// [`Folder::flush`], in one rewrite of the mbox.
#[derive(Default)]
struct Changes {
    /// Per UID: flags to set and flags to clear (a later call overrides an earlier one).
    flags: BTreeMap<Uid, (Flags, Flags)>,
    deleted: BTreeSet<Uid>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.flags.is_empty() && self.deleted.is_empty()
    }

    /// `flags` of `uid` with the changes asked for.
    fn apply(&self, uid: Uid, flags: &Flags) -> Flags {
        match self.flags.get(&uid) {
            Some((set, clear)) => flags.union(set).difference(clear),
            None => flags.clone(),
        }
    }
}

/// The folder as last read or written.
struct State {
    index: Index,
    /// The index file it came from or went to (`None`: not on disk).
    index_stamp: Option<Stamp>,
    /// The mbox the entries describe.
    mbox_stamp: Stamp,
    /// UID -> position in `index.entries`.
    positions: HashMap<Uid, usize>,
}

impl State {
    fn new(index: Index, index_stamp: Option<Stamp>, mbox_stamp: Stamp) -> State {
        let positions = index
            .entries
            .iter()
            .enumerate()
            .map(|(position, entry)| (entry.uid, position))
            .collect();
        State {
            index,
            index_stamp,
            mbox_stamp,
            positions,
        }
    }
}

/// An open mbox folder.
pub(crate) struct MboxFolder {
    path: FolderPath,
    mbox: PathBuf,
    index_path: PathBuf,
    index_tmp: PathBuf,
    rewrite_tmp: PathBuf,
    read_only: bool,
    lock_timeout: Duration,
    state: Option<State>,
    changes: Changes,
    /// In a dry run, the UIDVALIDITY given to a folder without a usable index, kept for
    /// as long as the folder is open.
    provisional_validity: Option<UidValidity>,
}

impl MboxFolder {
    /// Opens the folder whose mbox is `mbox` and reads (or, for a folder new to twinbox,
    /// makes) its index.
    pub fn open(
        path: FolderPath,
        mbox: PathBuf,
        read_only: bool,
        lock_timeout: Duration,
    ) -> Result<Self, BackendError> {
        let mut folder = MboxFolder {
            index_path: index_path(&mbox),
            index_tmp: hidden_sibling(&mbox, ".twinbox-index.tmp"),
            rewrite_tmp: hidden_sibling(&mbox, ".twinbox-rewrite"),
            path,
            mbox,
            read_only,
            lock_timeout,
            state: None,
            changes: Changes::default(),
            provisional_validity: None,
        };
        folder.refresh()?;
        Ok(folder)
    }

    fn io(&self, scope: ErrorScope, what: &str, at: &Path, error: &io::Error) -> BackendError {
        if error.kind() == ErrorKind::NotFound && at == self.mbox {
            return self.vanished();
        }
        BackendError::io(
            scope,
            format_args!("folder {}: {what} {}", self.path, at.display()),
            error,
        )
    }

    fn vanished(&self) -> BackendError {
        BackendError::folder(format!(
            "folder {}: the mbox {} is gone (renamed or deleted by another program?)",
            self.path,
            self.mbox.display()
        ))
    }

    /// Refuses every write in a dry run.
    fn check_writable(&self, what: &str) -> Result<(), BackendError> {
        check_writable(self.read_only, "mbox", &self.path, what)
    }

    fn exhausted(&self) -> BackendError {
        BackendError::folder(format!(
            "folder {}: every UID up to {} is used; delete {} to start over with a new \
             UIDVALIDITY",
            self.path,
            Uid::MAX,
            self.index_path.display()
        ))
    }

    fn next_after(&self, uid: Uid) -> Result<Uid, BackendError> {
        uid.checked_add(1).ok_or_else(|| self.exhausted())
    }

    fn lock(&self, exclusive: bool) -> Result<MboxLock, BackendError> {
        lock::lock(&self.mbox, exclusive, self.lock_timeout).map_err(|error| match error {
            LockError::Busy(what) => BackendError::new(
                ErrorScope::Folder,
                Retry::Later,
                format!(
                    "folder {}: cannot lock the mbox: {what}, still after {} s (option \
                     'locktimeout'); try again later",
                    self.path,
                    self.lock_timeout.as_secs()
                ),
            ),
            LockError::Io(error) => self.io(ErrorScope::Folder, "cannot lock", &self.mbox, &error),
        })
    }
}

impl Folder for MboxFolder {
    fn status(&mut self) -> Result<FolderStatus, BackendError> {
        self.refresh()?;
        let state = self.state()?;
        let count = state
            .index
            .entries
            .iter()
            .filter(|entry| !self.changes.deleted.contains(&entry.uid))
            .count();
        Ok(FolderStatus {
            uid_validity: state.index.uid_validity,
            uid_next: state.index.uid_next,
            highest_modseq: None,
            message_count: u32::try_from(count).unwrap_or(u32::MAX),
            permanent_flags: permanent_flags(),
        })
    }

    fn list_messages(&mut self) -> Result<Vec<MessageInfo>, BackendError> {
        self.refresh()?;
        self.listing()
    }

    fn fetch_messages(&mut self, uids: &[Uid]) -> Result<Vec<FetchedMessage>, BackendError> {
        self.fetch(uids)
    }

    fn append_messages(
        &mut self,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Option<Uid>>, BackendError> {
        self.append(messages)
    }

    fn update_flags(
        &mut self,
        uids: &[Uid],
        add: &Flags,
        remove: &Flags,
    ) -> Result<(), BackendError> {
        self.change_flags(uids, add, remove)
    }

    fn delete_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        self.delete(uids)
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        if self.changes.is_empty() {
            // Appends are durable when they return.
            return Ok(());
        }
        self.check_writable("make changes durable")?;
        let lock = self.lock(true)?;
        let result = self.rewrite_locked(&lock);
        drop(lock);
        match result {
            Ok(()) => {
                self.changes = Changes::default();
                Ok(())
            }
            Err(error) => {
                self.state = None;
                Err(error)
            }
        }
    }
}

impl Drop for MboxFolder {
    /// Changes the engine asked for are written even if it never flushed (it then just
    /// has not recorded them).
    fn drop(&mut self) {
        if !self.read_only && !self.changes.is_empty() {
            if let Err(error) = self.flush() {
                log::warn!("folder {}: changes not written: {error}", self.path);
            }
        }
    }
}
