//! One MH folder: numbered message files, `.mh_sequences` for flags, our state file.
//!
//! Every operation holds the folder lock (see `locking`) and starts from the disk as it
//! is, since nmh changes the folder between our calls: `inc` adds messages, `rmm` removes
//! them, `mark` changes sequences, `folder -pack` renumbers. A listing reconciles the
//! files with the last listing's fingerprints (see `reconcile`) and carries the decision
//! out: it records new messages, renumbers a message found at a used number, or starts a
//! new UIDVALIDITY after a renumbering. Operations on given UIDs check that the file is
//! still the message listed (by `stat`, then by identity) before touching it, so a number
//! that changed hands since the listing is left alone.
//!
//! Writes follow the interface's durability rule: a new message is written to a
//! temporary dot-file in the folder, fsynced (with the rest of its batch, in parallel),
//! and given its number with a rename that never replaces a file; `.mh_sequences` and the state file are replaced atomically; the
//! folder directory is fsynced at [`Folder::flush`], once per batch. Renumbering and a new
//! UIDVALIDITY are made durable before the listing that reports them returns.
//!
//! In a dry run (read-only) nothing on disk changes: a folder without a state file, or
//! one found renumbered, gets a provisional UIDVALIDITY kept while the folder is open,
//! and a message that would be renumbered is listed under the number it would get
//! (provisional UIDs, given in number order so that two listings agree).
//!
//! This file holds the folder's types, opening and the `Folder` trait; the work is in
//! `listing` (files, state, reconciling), `reading`, `writing` and `flags`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use backend_api::{
    BackendError, ErrorScope, FetchedMessage, Flags, Folder, FolderPath, FolderStatus, MessageInfo,
    NewMessage, PermanentFlags, Retry, SystemFlag, Uid, UidValidity,
};
use backend_kit::durable::{rename_noreplace, sync_dir, sync_files, unix_time, write_dated};
use backend_kit::store::check_writable;

use crate::identity::identity;
use crate::layout::message_number;
use crate::locking::{self, FolderLock, SequencesLock, SEQUENCES_TMP_FILE};
use crate::options::SequenceNames;
use crate::reconcile::{reconcile, FoundFile, IdentityRead};
use crate::sequences::Sequences;
use crate::state::{self, Fingerprint, FolderState, Stamp, STATE_TMP_FILE};

mod flags;
mod listing;
mod reading;
mod writing;

/// The prefix of our temporary message files (a dot-file: nmh ignores it).
const TMP_PREFIX: &str = ".twinbox-mh-tmp.";

/// What an MH folder stores: the five system flags, each in a sequence; no keywords.
pub(crate) fn permanent_flags() -> PermanentFlags {
    PermanentFlags {
        flags: Flags::all_system(),
        any_keyword: false,
    }
}

/// One message as the last listing (or our own change) left it.
#[derive(Clone, Copy, Debug)]
struct Listed {
    /// The file's number; the UID too, except for a provisional UID in a dry run.
    number: Uid,
    fingerprint: Fingerprint,
}

/// An open MH folder.
pub(crate) struct MhFolder {
    path: FolderPath,
    dir: PathBuf,
    names: Arc<SequenceNames>,
    /// A dry run: nothing is created, renamed, removed or written.
    read_only: bool,
    /// The state file as last read or written; `None` when there is none.
    state: Option<FolderState>,
    /// The state file's stamp when last read or written, to skip re-reading it.
    state_stamp: Option<Stamp>,
    /// UID -> message, from the last listing; `None` until the first.
    index: Option<BTreeMap<Uid, Listed>>,
    /// The UIDVALIDITY and next UID of the last listing.
    uid_validity: UidValidity,
    uid_next: Uid,
    /// The UIDVALIDITY `status` reported: it must not change while the folder is open.
    reported: Option<UidValidity>,
    /// In a dry run, the provisional UIDVALIDITY made to replace the state file's one
    /// (`None`: there is no state file), reused by every listing.
    provisional: Option<(Option<UidValidity>, UidValidity)>,
    /// Entries of the folder directory changed since the last flush.
    unsynced: bool,
}

impl MhFolder {
    /// Opens the folder in `dir` (an existing directory). Opened for writing, it first
    /// removes what interrupted writes left behind; either way it checks the state file.
    pub fn open(
        path: FolderPath,
        dir: PathBuf,
        names: Arc<SequenceNames>,
        read_only: bool,
    ) -> Result<Self, BackendError> {
        let mut folder = MhFolder {
            path,
            dir,
            names,
            read_only,
            state: None,
            state_stamp: None,
            index: None,
            uid_validity: 0,
            uid_next: 1,
            reported: None,
            provisional: None,
            unsynced: false,
        };
        let _lock = folder.lock()?;
        if !read_only {
            folder.remove_leftovers();
        }
        folder.reload_state()?;
        Ok(folder)
    }

    fn context(&self, error: BackendError) -> BackendError {
        error.context(format_args!("folder {}", self.path))
    }

    fn io(&self, scope: ErrorScope, what: &str, path: &Path, error: &io::Error) -> BackendError {
        let error = BackendError::io(
            scope,
            format_args!("folder {}: {what} {}", self.path, path.display()),
            error,
        );
        if error.retry == Retry::Now {
            // A lock we gave up waiting for: the other program may still be at work.
            error.with_retry(Retry::Later)
        } else {
            error
        }
    }

    fn exhausted(&self) -> BackendError {
        BackendError::folder(format!(
            "folder {}: every message number up to {} is used; renumber it with `folder \
             -pack` (twinbox then gives it a new UIDVALIDITY)",
            self.path,
            Uid::MAX
        ))
    }

    /// Refuses every write in a dry run.
    fn check_writable(&self, what: &str) -> Result<(), BackendError> {
        check_writable(self.read_only, "MH", &self.path, what)
    }

    fn lock(&self) -> Result<FolderLock, BackendError> {
        locking::lock_folder(&self.dir, self.read_only)
            .map_err(|e| self.io(ErrorScope::Folder, "cannot lock", &self.dir, &e))
    }

    fn message_path(&self, number: Uid) -> PathBuf {
        self.dir.join(number.to_string())
    }

    /// Removes our temporary files. Called under the folder lock, which every writer of
    /// them holds: any found is abandoned.
    fn remove_leftovers(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TMP_PREFIX) || name == STATE_TMP_FILE || name == SEQUENCES_TMP_FILE
            {
                match fs::remove_file(entry.path()) {
                    Ok(()) => log::info!(
                        "folder {}: removed {}, left by an interrupted write",
                        self.path,
                        entry.path().display()
                    ),
                    Err(error) => log::warn!(
                        "folder {}: cannot remove {}: {error}",
                        self.path,
                        entry.path().display()
                    ),
                }
            }
        }
    }
}

impl Folder for MhFolder {
    fn status(&mut self) -> Result<FolderStatus, BackendError> {
        let _lock = self.lock()?;
        self.scan()?;
        self.reported = Some(self.uid_validity);
        let message_count = self
            .index
            .as_ref()
            .map_or(0, |index| u32::try_from(index.len()).unwrap_or(u32::MAX));
        Ok(FolderStatus {
            uid_validity: self.uid_validity,
            uid_next: self.uid_next,
            highest_modseq: None,
            message_count,
            permanent_flags: permanent_flags(),
        })
    }

    fn list_messages(&mut self) -> Result<Vec<MessageInfo>, BackendError> {
        self.list()
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
        if !self.unsynced {
            return Ok(());
        }
        self.check_writable("make changes durable")?;
        let _lock = self.lock()?;
        self.sync()
    }
}
