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

/// Whether `entries` describe a file of `size` bytes record by record.
fn tiles(entries: &[Entry], size: u64) -> bool {
    let mut expected = 0u64;
    for entry in entries {
        if entry.offset != expected || entry.len == 0 {
            return false;
        }
        match expected.checked_add(entry.len) {
            Some(end) => expected = end,
            None => return false,
        }
    }
    expected == size
}

/// Whether `index` describes the mbox with `stamp` as it is, so it can be used unread.
fn trusted(index: &Index, stamp: &Stamp) -> bool {
    index.pending.is_empty() && index.stamp == Some(*stamp) && tiles(&index.entries, stamp.size)
}

/// Calls `each(offset, record)` for every record of the first `size` bytes of `file`.
/// `Ok(Err(offset))`: the file is not an mbox (it does not start with a `From ` line).
fn read_records(
    file: &File,
    size: u64,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), BackendError>,
) -> Result<Result<(), u64>, BackendError> {
    let mut handle = file;
    handle
        .seek(SeekFrom::Start(0))
        .map_err(|e| BackendError::io(ErrorScope::Folder, "cannot read the mbox", &e))?;
    let mut reader = BufReader::with_capacity(1 << 16, handle.take(size));
    let mut record = Vec::new();
    let mut record_start = 0u64;
    let mut offset = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| BackendError::io(ErrorScope::Folder, "cannot read the mbox", &e))?;
        if read == 0 {
            break;
        }
        if line.starts_with(FROM) {
            if !record.is_empty() {
                each(record_start, &record)?;
                record.clear();
            }
            record_start = offset;
        } else if offset == 0 {
            return Ok(Err(0));
        }
        record.extend_from_slice(&line);
        offset += read as u64;
    }
    if !record.is_empty() {
        each(record_start, &record)?;
    }
    Ok(Ok(()))
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

    fn stat_mbox(&self) -> Result<Stamp, BackendError> {
        fs::metadata(&self.mbox)
            .map(|metadata| Stamp::of(&metadata))
            .map_err(|e| self.io(ErrorScope::Folder, "cannot read", &self.mbox, &e))
    }

    fn stat_index(&self) -> Result<Option<Stamp>, BackendError> {
        match fs::metadata(&self.index_path) {
            Ok(metadata) => Ok(Some(Stamp::of(&metadata))),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(self.io(ErrorScope::Folder, "cannot read", &self.index_path, &error)),
        }
    }

    fn read_index(&self) -> Result<(Loaded, Option<Stamp>), BackendError> {
        index::read(&self.index_path)
            .map_err(|e| self.io(ErrorScope::Folder, "cannot read", &self.index_path, &e))
    }

    /// Saves `index` (temporary file, fsync, rename, directory fsync) and returns the
    /// stamp of the file written.
    fn write_index(&self, index: &Index) -> Result<Option<Stamp>, BackendError> {
        index::write(&self.index_path, &self.index_tmp, index)
            .map_err(|e| self.io(ErrorScope::Folder, "cannot write", &self.index_path, &e))?;
        let dir = parent_of(&self.mbox);
        sync_dir(dir).map_err(|e| self.io(ErrorScope::Folder, "cannot sync", dir, &e))?;
        self.stat_index()
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

    /// A UIDVALIDITY for a folder whose index is missing or damaged, greater than
    /// `above` (what a damaged index seemed to hold).
    fn fresh_validity(&mut self, above: Option<UidValidity>) -> UidValidity {
        if let Some(validity) = self.provisional_validity {
            return validity;
        }
        let mut validity = backend_kit::new_uid_validity(None);
        if let Some(old) = above {
            if validity <= old {
                validity = old.checked_add(1).unwrap_or(1);
            }
        }
        if self.read_only {
            self.provisional_validity = Some(validity);
        }
        validity
    }

    /// Brings the state up to date with the disk, reading only what changed.
    fn refresh(&mut self) -> Result<(), BackendError> {
        let mbox_stamp = self.stat_mbox()?;
        let index_stamp = self.stat_index()?;
        if let Some(state) = &self.state {
            if state.mbox_stamp == mbox_stamp && state.index_stamp == index_stamp {
                return Ok(());
            }
        }
        // Most often the index (ours, or saved by another writer) describes the mbox as
        // it is: no lock and no reading of the mbox needed.
        let (loaded, index_stamp) = self.read_index()?;
        if let Loaded::Valid(index) = loaded {
            if trusted(&index, &mbox_stamp) {
                self.state = Some(State::new(index, index_stamp, mbox_stamp));
                return Ok(());
            }
        }
        self.reload(false)
    }

    /// Reads the index and the mbox again under the lock; `force` re-indexes the mbox
    /// even if the index seems to describe it.
    fn reload(&mut self, force: bool) -> Result<(), BackendError> {
        let lock = self.lock(!self.read_only)?;
        self.reload_locked(&lock, force)
    }

    fn reload_locked(&mut self, lock: &MboxLock, force: bool) -> Result<(), BackendError> {
        self.state = None;
        let file = lock.file();
        let (loaded, index_stamp) = self.read_index()?;
        let metadata = file
            .metadata()
            .map_err(|e| self.io(ErrorScope::Folder, "cannot read", &self.mbox, &e))?;
        let mbox_stamp = Stamp::of(&metadata);
        let mut new_to_twinbox = false;
        let mut index = match loaded {
            Loaded::Valid(index) if !force && trusted(&index, &mbox_stamp) => {
                self.state = Some(State::new(index, index_stamp, mbox_stamp));
                return Ok(());
            }
            Loaded::Valid(index) => index,
            Loaded::Missing => {
                new_to_twinbox = true;
                Index::new(self.fresh_validity(None))
            }
            Loaded::Damaged {
                reason,
                uid_validity,
            } => {
                let validity = self.fresh_validity(uid_validity);
                log::warn!(
                    "folder {}: the index {} is damaged ({reason}); its UIDs cannot be \
                     trusted, so the folder {} the new UIDVALIDITY {validity} and its \
                     messages new UIDs",
                    self.path,
                    self.index_path.display(),
                    if self.read_only {
                        "would get (a dry run changes nothing)"
                    } else {
                        "gets"
                    }
                );
                Index::new(validity)
            }
        };
        let mut size = mbox_stamp.size;
        if !index.pending.is_empty() {
            self.settle_pending(&mut index, file, &mut size)?;
        }
        let known = std::mem::take(&mut index.entries);
        let known_count = known.len();
        let (entries, uid_next, new) = self.reindex(file, size, known, index.uid_next)?;
        let gone = known_count - (entries.len() - new);
        index.entries = entries;
        index.uid_next = uid_next;
        let metadata = file
            .metadata()
            .map_err(|e| self.io(ErrorScope::Folder, "cannot read", &self.mbox, &e))?;
        let mbox_stamp = Stamp::of(&metadata);
        index.stamp = Some(mbox_stamp);
        if new_to_twinbox {
            log::info!(
                "folder {}: new to twinbox, {}UIDVALIDITY {}, {} messages",
                self.path,
                if self.read_only { "provisional " } else { "" },
                index.uid_validity,
                index.entries.len()
            );
        } else if new > 0 || gone > 0 {
            log::info!(
                "folder {}: {} was changed by another program: {new} messages new to \
                 twinbox, {gone} gone",
                self.path,
                self.mbox.display()
            );
        }
        let index_stamp = if self.read_only {
            index_stamp
        } else {
            self.write_index(&index)?
        };
        self.state = Some(State::new(index, index_stamp, mbox_stamp));
        Ok(())
    }

    /// Decides what became of appends the index announced: records written whole stay
    /// and are found again by content under their reserved UIDs; a record cut short at
    /// the end of the file (the writer died) is cut off, or in a dry run left out.
    fn settle_pending(
        &self,
        index: &mut Index,
        file: &File,
        size: &mut u64,
    ) -> Result<(), BackendError> {
        let pending = std::mem::take(&mut index.pending);
        for entry in &pending {
            let end = entry.offset.saturating_add(entry.len);
            if entry.offset >= *size || end <= *size {
                continue;
            }
            let mut tail = vec![0; usize::try_from(*size - entry.offset).unwrap_or(0)];
            file.read_exact_at(&mut tail, entry.offset)
                .map_err(|e| self.io(ErrorScope::Folder, "cannot read", &self.mbox, &e))?;
            // Ours for sure: it starts where our record was to start, and no other record
            // begins after it (ours are quoted: no line of theirs starts with "From ").
            let ours = tail.starts_with(FROM)
                && !tail
                    .split_inclusive(|&b| b == b'\n')
                    .skip(1)
                    .any(|line| line.starts_with(FROM));
            if ours {
                if self.read_only {
                    log::info!(
                        "folder {}: leaving out an incomplete message at the end of {} (an \
                         interrupted append; a real run removes it)",
                        self.path,
                        self.mbox.display()
                    );
                } else {
                    file.set_len(entry.offset)
                        .and_then(|()| file.sync_all())
                        .map_err(|e| {
                            self.io(ErrorScope::Folder, "cannot repair", &self.mbox, &e)
                        })?;
                    log::warn!(
                        "folder {}: removed an incomplete message at the end of {} (from \
                         byte {}), left by an interrupted append",
                        self.path,
                        self.mbox.display(),
                        entry.offset
                    );
                }
                *size = entry.offset;
            }
            break;
        }
        index.entries.extend(pending);
        index.entries.sort_by_key(|entry| entry.offset);
        Ok(())
    }

    /// Reads the first `size` bytes of the mbox and matches its records to `known` by
    /// content. Returns the entries in file order, the next UID, and how many are new.
    fn reindex(
        &self,
        file: &File,
        size: u64,
        known: Vec<Entry>,
        mut uid_next: Uid,
    ) -> Result<(Vec<Entry>, Uid, usize), BackendError> {
        let mut by_fingerprint: HashMap<String, VecDeque<Entry>> = HashMap::new();
        for entry in known {
            by_fingerprint
                .entry(entry.fingerprint.clone())
                .or_default()
                .push_back(entry);
        }
        let mut entries = Vec::new();
        let mut new = 0;
        let parsed = read_records(file, size, |offset, record| {
            let message = format::message_of(record);
            let normalized = Normalized::of(&message);
            let fingerprint = normalized.fingerprint();
            let flags = format::flags_of(&message);
            let len = record.len() as u64;
            let entry = match by_fingerprint
                .get_mut(&fingerprint)
                .and_then(VecDeque::pop_front)
            {
                Some(known) => Entry {
                    offset,
                    len,
                    flags,
                    date: known.date.or_else(|| format::record_date(record)),
                    ..known
                },
                None => {
                    let uid = uid_next;
                    uid_next = self.next_after(uid)?;
                    new += 1;
                    Entry {
                        uid,
                        offset,
                        len,
                        size: message.len() as u64,
                        date: format::record_date(record),
                        flags,
                        fingerprint,
                        trailing: normalized.trailing,
                        envelope: None,
                        removed: normalized.removed,
                    }
                }
            };
            entries.push(entry);
            Ok(())
        })
        .map_err(|error| error.context(format_args!("folder {}", self.path)))?;
        if parsed.is_err() {
            return Err(BackendError::folder(format!(
                "folder {}: {} is not an mbox (it does not start with a \"From \" line)",
                self.path,
                self.mbox.display()
            )));
        }
        Ok((entries, uid_next, new))
    }

    fn state(&self) -> Result<&State, BackendError> {
        self.state.as_ref().ok_or_else(|| {
            BackendError::folder(format!("folder {}: its index is not loaded", self.path))
        })
    }

    /// The entry of `uid`, unless it does not exist or its deletion is pending.
    fn entry(&self, uid: Uid) -> Option<&Entry> {
        if self.changes.deleted.contains(&uid) {
            return None;
        }
        let state = self.state.as_ref()?;
        state.index.entries.get(*state.positions.get(&uid)?)
    }

    /// The message of `entry`, exactly as it was given or first found; `None` when the
    /// record there is not that message any more (the mbox changed under us).
    fn read_message(&self, entry: &Entry) -> Result<Option<Vec<u8>>, BackendError> {
        let message_error =
            |e: &io::Error| self.io(ErrorScope::Message, "cannot read", &self.mbox, e);
        let file = match File::open(&self.mbox) {
            Ok(file) => file,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(message_error(&error)),
        };
        let mut record = vec![0; usize::try_from(entry.len).unwrap_or(usize::MAX)];
        match file.read_exact_at(&mut record, entry.offset) {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::UnexpectedEof => return Ok(None),
            Err(error) => return Err(message_error(&error)),
        }
        if !record.starts_with(FROM) {
            return Ok(None);
        }
        let normalized = Normalized::of(&format::message_of(&record));
        if normalized.fingerprint() != entry.fingerprint {
            return Ok(None);
        }
        let rest = format::reassemble(&normalized.core, entry.trailing, &entry.removed);
        let message = rest.map(|rest| match &entry.envelope {
            Some(envelope) => [envelope.as_slice(), &rest].concat(),
            None => rest,
        });
        match message {
            Some(bytes) if bytes.len() as u64 == entry.size => Ok(Some(bytes)),
            _ => Err(BackendError::message(format!(
                "folder {}: the index {} does not fit message UID {} (damaged?); delete the \
                 index to re-index the folder under a new UIDVALIDITY",
                self.path,
                self.index_path.display(),
                entry.uid
            ))),
        }
    }

    /// What must go between the end of the mbox and a new record so that the last
    /// message keeps its bytes: a blank line, and a newline first if it lacks one.
    fn separator_before_append(
        &self,
        file: &File,
        size: u64,
    ) -> Result<&'static [u8], BackendError> {
        if size == 0 {
            return Ok(b"");
        }
        let tail_len = size.min(2);
        let mut tail = [0u8; 2];
        let tail = &mut tail[..tail_len as usize];
        file.read_exact_at(tail, size - tail_len)
            .map_err(|e| self.io(ErrorScope::Folder, "cannot read", &self.mbox, &e))?;
        Ok(if tail.ends_with(b"\n\n") {
            b""
        } else if tail.ends_with(b"\n") {
            b"\n"
        } else {
            b"\n\n"
        })
    }

    /// Appends `messages` under the lock (see the module documentation).
    fn append_locked(
        &mut self,
        lock: &MboxLock,
        messages: &[NewMessage],
    ) -> Result<Vec<Option<Uid>>, BackendError> {
        self.reload_locked(lock, false)?;
        let file = lock.file();
        let mut state = self.state.take().ok_or_else(|| self.vanished())?;
        let size = state.mbox_stamp.size;
        let separator = self.separator_before_append(file, size)?;
        let mut batch = separator.to_vec();
        let mut offset = size + separator.len() as u64;
        let mut uid = state.index.uid_next;
        let mut uids = Vec::with_capacity(messages.len());
        let storable = permanent_flags();
        let now = now();
        for message in messages {
            let flags = storable.storable(&message.flags);
            let (envelope, rest) = format::split_envelope(&message.bytes);
            let date = message
                .internal_date
                .or_else(|| envelope.and_then(format::record_date))
                .unwrap_or(now);
            let record = format::render_record(&message.bytes, &flags, date);
            let normalized = Normalized::of(rest);
            state.index.pending.push(Entry {
                uid,
                offset,
                len: record.len() as u64,
                size: message.bytes.len() as u64,
                date: Some(date),
                flags,
                fingerprint: normalized.fingerprint(),
                trailing: normalized.trailing,
                envelope: envelope.map(<[u8]>::to_vec),
                removed: normalized.removed,
            });
            offset += record.len() as u64;
            batch.extend_from_slice(&record);
            uids.push(Some(uid));
            uid = self.next_after(uid)?;
        }
        state.index.uid_next = uid;

        // Announce, write, record.
        self.write_index(&state.index)?;
        let written = file
            .write_all_at(&batch, size)
            .and_then(|()| file.sync_all());
        if let Err(error) = written {
            // Take back what may have been written; the index says where it began.
            if let Err(undo) = file.set_len(size).and_then(|()| file.sync_all()) {
                log::warn!(
                    "folder {}: cannot cut {} back to {size} bytes after a failed append: \
                     {undo}",
                    self.path,
                    self.mbox.display()
                );
            }
            return Err(self.io(ErrorScope::Folder, "cannot append to", &self.mbox, &error));
        }
        if !separator.is_empty() {
            if let Some(last) = state.index.entries.last_mut() {
                last.len += separator.len() as u64;
            }
        }
        let appended = std::mem::take(&mut state.index.pending);
        state.index.entries.extend(appended);
        let metadata = file
            .metadata()
            .map_err(|e| self.io(ErrorScope::Folder, "cannot read", &self.mbox, &e))?;
        state.mbox_stamp = Stamp::of(&metadata);
        state.index.stamp = Some(state.mbox_stamp);
        state.index_stamp = self.write_index(&state.index)?;
        self.state = Some(State::new(state.index, state.index_stamp, state.mbox_stamp));
        Ok(uids)
    }

    /// Writes the pending flag changes and deletions in one rewrite of the mbox, under
    /// the lock (see the module documentation).
    fn rewrite_locked(&mut self, lock: &MboxLock) -> Result<(), BackendError> {
        self.reload_locked(lock, false)?;
        let file = lock.file();
        let mut state = self.state.take().ok_or_else(|| self.vanished())?;
        let changed = state.index.entries.iter().any(|entry| {
            self.changes.deleted.contains(&entry.uid)
                || self.changes.apply(entry.uid, &entry.flags) != entry.flags
        });
        if !changed {
            self.state = Some(State::new(state.index, state.index_stamp, state.mbox_stamp));
            return Ok(());
        }
        let mut entries = Vec::with_capacity(state.index.entries.len());
        let written = (|| -> Result<(), BackendError> {
            let cannot_write =
                |e: &io::Error| self.io(ErrorScope::Folder, "cannot write", &self.rewrite_tmp, e);
            let permissions = file
                .metadata()
                .map_err(|e| self.io(ErrorScope::Folder, "cannot read", &self.mbox, &e))?
                .permissions();
            let out = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&self.rewrite_tmp)
                .map_err(|e| cannot_write(&e))?;
            out.set_permissions(permissions)
                .map_err(|e| cannot_write(&e))?;
            let mut writer = BufWriter::with_capacity(1 << 16, out);
            let mut offset = 0u64;
            for entry in &state.index.entries {
                if self.changes.deleted.contains(&entry.uid) {
                    continue;
                }
                let mut record = vec![0; usize::try_from(entry.len).unwrap_or(usize::MAX)];
                file.read_exact_at(&mut record, entry.offset)
                    .map_err(|e| self.io(ErrorScope::Folder, "cannot read", &self.mbox, &e))?;
                let flags = self.changes.apply(entry.uid, &entry.flags);
                if flags != entry.flags {
                    record = format::record_with_status(&record, &flags);
                }
                writer.write_all(&record).map_err(|e| cannot_write(&e))?;
                entries.push(Entry {
                    offset,
                    len: record.len() as u64,
                    flags,
                    ..entry.clone()
                });
                offset += record.len() as u64;
            }
            let out = writer.into_inner().map_err(|e| cannot_write(e.error()))?;
            out.sync_all().map_err(|e| cannot_write(&e))?;
            fs::rename(&self.rewrite_tmp, &self.mbox).map_err(|e| cannot_write(&e))
        })();
        if let Err(error) = written {
            let _ = fs::remove_file(&self.rewrite_tmp);
            return Err(error);
        }
        let dir = parent_of(&self.mbox);
        sync_dir(dir).map_err(|e| self.io(ErrorScope::Folder, "cannot sync", dir, &e))?;
        state.mbox_stamp = self.stat_mbox()?;
        state.index.entries = entries;
        state.index.stamp = Some(state.mbox_stamp);
        state.index_stamp = self.write_index(&state.index)?;
        self.state = Some(State::new(state.index, state.index_stamp, state.mbox_stamp));
        Ok(())
    }

    fn listing(&self) -> Result<Vec<MessageInfo>, BackendError> {
        let state = self.state()?;
        let mut listing: Vec<MessageInfo> = state
            .index
            .entries
            .iter()
            .filter(|entry| !self.changes.deleted.contains(&entry.uid))
            .map(|entry| MessageInfo {
                uid: entry.uid,
                flags: self.changes.apply(entry.uid, &entry.flags),
                size: entry.size,
                modseq: None,
            })
            .collect();
        listing.sort_by_key(|message| message.uid);
        Ok(listing)
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
        self.refresh()?;
        let mut fetched = Vec::with_capacity(uids.len());
        let mut reloaded = false;
        for &uid in uids {
            while let Some(entry) = self.entry(uid).cloned() {
                match self.read_message(&entry)? {
                    Some(bytes) => {
                        fetched.push(FetchedMessage {
                            uid,
                            bytes,
                            internal_date: entry.date,
                        });
                        break;
                    }
                    // Changed under us (a client rewrote it in place): read it again.
                    None if !reloaded => {
                        reloaded = true;
                        self.reload(true)?;
                    }
                    None => {
                        return Err(BackendError::message(format!(
                            "folder {}: message UID {uid} in {} changed while it was read; \
                             try again",
                            self.path,
                            self.mbox.display()
                        ))
                        .with_retry(Retry::Later))
                    }
                }
            }
        }
        Ok(fetched)
    }

    fn append_messages(
        &mut self,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Option<Uid>>, BackendError> {
        self.check_writable("append messages")?;
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let lock = self.lock(true)?;
        let result = self.append_locked(&lock, &messages);
        if result.is_err() {
            // Whatever happened, read everything again next time.
            self.state = None;
        }
        result
    }

    fn update_flags(
        &mut self,
        uids: &[Uid],
        add: &Flags,
        remove: &Flags,
    ) -> Result<(), BackendError> {
        self.check_writable("change flags")?;
        self.refresh()?;
        let storable = permanent_flags();
        let add = storable.storable(add);
        let remove = storable.storable(remove);
        for &uid in uids {
            if self.entry(uid).is_none() {
                continue;
            }
            let (set, clear) = self.changes.flags.entry(uid).or_default();
            *set = set.union(&add).difference(&remove);
            *clear = clear.difference(&add).union(&remove);
        }
        Ok(())
    }

    fn delete_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        self.check_writable("delete messages")?;
        self.refresh()?;
        for &uid in uids {
            if self.entry(uid).is_some() {
                self.changes.deleted.insert(uid);
                self.changes.flags.remove(&uid);
            }
        }
        Ok(())
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
