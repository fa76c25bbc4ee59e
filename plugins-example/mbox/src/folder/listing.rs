//! Listing: keeping the index in step with the mbox (re-reading it, settling interrupted appends, re-indexing by content) and the listing it gives.

use super::*;

impl MboxFolder {
    pub(super) fn stat_mbox(&self) -> Result<Stamp, BackendError> {
        fs::metadata(&self.mbox)
            .map(|metadata| Stamp::of(&metadata))
            .map_err(|e| self.io(ErrorScope::Folder, "cannot read", &self.mbox, &e))
    }

    pub(super) fn stat_index(&self) -> Result<Option<Stamp>, BackendError> {
        match fs::metadata(&self.index_path) {
            Ok(metadata) => Ok(Some(Stamp::of(&metadata))),
            Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(self.io(ErrorScope::Folder, "cannot read", &self.index_path, &error)),
        }
    }

    pub(super) fn read_index(&self) -> Result<(Loaded, Option<Stamp>), BackendError> {
        index::read(&self.index_path)
            .map_err(|e| self.io(ErrorScope::Folder, "cannot read", &self.index_path, &e))
    }

    /// Saves `index` (temporary file, fsync, rename, directory fsync) and returns the
    /// stamp of the file written.
    pub(super) fn write_index(&self, index: &Index) -> Result<Option<Stamp>, BackendError> {
        index::write(&self.index_path, &self.index_tmp, index)
            .map_err(|e| self.io(ErrorScope::Folder, "cannot write", &self.index_path, &e))?;
        let dir = parent_of(&self.mbox);
        sync_dir(dir).map_err(|e| self.io(ErrorScope::Folder, "cannot sync", dir, &e))?;
        self.stat_index()
    }

    /// A UIDVALIDITY for a folder whose index is missing or damaged, greater than
    /// `above` (what a damaged index seemed to hold).
    pub(super) fn fresh_validity(&mut self, above: Option<UidValidity>) -> UidValidity {
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
    pub(super) fn refresh(&mut self) -> Result<(), BackendError> {
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
    pub(super) fn reload(&mut self, force: bool) -> Result<(), BackendError> {
        let lock = self.lock(!self.read_only)?;
        self.reload_locked(&lock, force)
    }

    pub(super) fn reload_locked(
        &mut self,
        lock: &MboxLock,
        force: bool,
    ) -> Result<(), BackendError> {
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
    pub(super) fn settle_pending(
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
    pub(super) fn reindex(
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

    pub(super) fn state(&self) -> Result<&State, BackendError> {
        self.state.as_ref().ok_or_else(|| {
            BackendError::folder(format!("folder {}: its index is not loaded", self.path))
        })
    }

    /// The entry of `uid`, unless it does not exist or its deletion is pending.
    pub(super) fn entry(&self, uid: Uid) -> Option<&Entry> {
        if self.changes.deleted.contains(&uid) {
            return None;
        }
        let state = self.state.as_ref()?;
        state.index.entries.get(*state.positions.get(&uid)?)
    }

    pub(super) fn listing(&self) -> Result<Vec<MessageInfo>, BackendError> {
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
