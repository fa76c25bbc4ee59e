//! Writing: appends at the end of the mbox, and the one rewrite that applies flag changes and deletions at flush.

use super::*;

impl MboxFolder {
    /// What must go between the end of the mbox and a new record so that the last
    /// message keeps its bytes: a blank line, and a newline first if it lacks one.
    pub(super) fn separator_before_append(
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
    pub(super) fn append_locked(
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
    pub(super) fn rewrite_locked(&mut self, lock: &MboxLock) -> Result<(), BackendError> {
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

    pub(super) fn append(
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

    pub(super) fn delete(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
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
}
