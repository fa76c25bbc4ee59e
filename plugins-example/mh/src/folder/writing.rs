//! Writing: appending under a temporary name then the next free number, recording what we added or removed, deleting, syncing.

use super::flags::set_flags;
use super::*;

/// How many new messages are written before they are made durable together (fsyncs in
/// parallel, [`sync_files`]) and numbered: each is an open descriptor until then, and
/// several folders may be appended to at once.
const FILES_PER_SYNC: usize = 128;

impl MhFolder {
    pub(super) fn sync(&mut self) -> Result<(), BackendError> {
        sync_dir(&self.dir)
            .map_err(|e| self.io(ErrorScope::Folder, "cannot sync", &self.dir, &e))?;
        self.unsynced = false;
        Ok(())
    }

    /// Writes one message to a temporary file, not yet synced: [`MhFolder::append`] makes
    /// a group of them durable at once (see [`FILES_PER_SYNC`]) before any gets a number.
    fn stage(&self, message: &NewMessage) -> Result<(PathBuf, File), BackendError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let (tmp, file) = loop {
            let tmp = self.dir.join(format!(
                "{TMP_PREFIX}{}.{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
            {
                Ok(file) => break (tmp, file),
                Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
                Err(error) => {
                    return Err(self.io(ErrorScope::Folder, "cannot create", &tmp, &error))
                }
            }
        };
        if let Err(error) = write_dated(&file, &message.bytes, message.internal_date) {
            let _ = fs::remove_file(&tmp);
            return Err(self.io(ErrorScope::Folder, "cannot write", &tmp, &error));
        }
        Ok((tmp, file))
    }

    /// Gives the durable temporary file `tmp` holding `message` the first free number
    /// from `next` on (advancing `next` past it).
    fn place(
        &self,
        tmp: &Path,
        message: &NewMessage,
        next: &mut Uid,
    ) -> Result<(Uid, Fingerprint), BackendError> {
        let give_up = |error: BackendError| {
            let _ = fs::remove_file(tmp);
            error
        };
        let number = loop {
            let target = *next;
            *next = target
                .checked_add(1)
                .ok_or_else(|| give_up(self.exhausted()))?;
            match rename_noreplace(tmp, &self.message_path(target)) {
                Ok(()) => break target,
                // nmh delivered there meanwhile: the next number.
                Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
                Err(error) => {
                    return Err(give_up(self.io(
                        ErrorScope::Folder,
                        "cannot store a message as",
                        &self.message_path(target),
                        &error,
                    )))
                }
            }
        };
        let path = self.message_path(number);
        let metadata = fs::metadata(&path)
            .map_err(|e| self.io(ErrorScope::Folder, "cannot stat", &path, &e))?;
        Ok((
            number,
            Fingerprint {
                stamp: Stamp::of(&metadata),
                identity: identity(&message.bytes),
            },
        ))
    }

    /// Stores `messages` in order, [`FILES_PER_SYNC`] at a time: each group is written to
    /// temporary files, made durable together, then numbered. A number thus only ever
    /// names a complete message, and a crash leaves at most temporary files, which the
    /// next open removes. Returns what was stored, and the error that stopped it early.
    fn deliver_all(
        &self,
        messages: &[NewMessage],
        next: &mut Uid,
    ) -> (Vec<(Uid, Fingerprint)>, Option<BackendError>) {
        let mut added = Vec::with_capacity(messages.len());
        for group in messages.chunks(FILES_PER_SYNC) {
            let mut failure = None;
            let mut staged = Vec::with_capacity(group.len());
            for message in group {
                match self.stage(message) {
                    Ok(file) => staged.push(file),
                    Err(error) => {
                        failure = Some(error);
                        break;
                    }
                }
            }
            // What was written before a failure is still stored, as before it.
            let (tmps, handles): (Vec<PathBuf>, Vec<File>) = staged.into_iter().unzip();
            if let Err(error) = sync_files(&handles) {
                for tmp in &tmps {
                    let _ = fs::remove_file(tmp);
                }
                let error = self.io(ErrorScope::Folder, "cannot sync", &self.dir, &error);
                return (added, Some(failure.unwrap_or(error)));
            }
            drop(handles);
            for (placed, (tmp, message)) in tmps.iter().zip(group).enumerate() {
                match self.place(tmp, message, next) {
                    Ok(delivered) => added.push(delivered),
                    Err(error) => {
                        for rest in &tmps[placed + 1..] {
                            let _ = fs::remove_file(rest);
                        }
                        return (added, Some(error));
                    }
                }
            }
            if failure.is_some() {
                return (added, failure);
            }
        }
        (added, None)
    }

    /// Records messages added or removed by us in the state file.
    pub(super) fn record(
        &mut self,
        added: &[(Uid, Fingerprint)],
        removed: &[Uid],
    ) -> Result<(), BackendError> {
        let Some(mut new) = self.state.clone() else {
            return Ok(());
        };
        for &(number, fingerprint) in added {
            new.known.insert(number, fingerprint);
            new.highest = new.highest.max(number);
        }
        for number in removed {
            new.known.remove(number);
        }
        self.save_state(new)?;
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
        let _lock = self.lock()?;
        self.reload_state()?;
        // Messages delivered since the last listing are listed first, under their own
        // numbers; ours then go above them.
        let on_disk = self.read_numbers()?;
        let highest_known = self.state.as_ref().map(|state| state.highest);
        let unlisted = match highest_known {
            Some(highest) => on_disk.iter().any(|&number| number > highest),
            None => true,
        };
        if unlisted || self.index.is_none() {
            self.scan()?;
        }
        let highest = self.state.as_ref().map_or(0, |state| state.highest);
        let mut next = highest
            .max(on_disk.iter().copied().max().unwrap_or(0))
            .checked_add(1)
            .ok_or_else(|| self.exhausted())?;

        let (added, failure) = self.deliver_all(&messages, &mut next);
        if !added.is_empty() {
            self.unsynced = true;
            for &(number, fingerprint) in &added {
                if let Some(index) = self.index.as_mut() {
                    index.insert(
                        number,
                        Listed {
                            number,
                            fingerprint,
                        },
                    );
                }
            }
            self.uid_next = self.uid_next.max(next);
            // Record what was stored even if a later message failed.
            let recorded = self.record(&added, &[]);
            let names = Arc::clone(&self.names);
            let storable = permanent_flags();
            let flagged = self.modify_sequences(|sequences| {
                for ((number, _), message) in added.iter().zip(&messages) {
                    set_flags(
                        sequences,
                        &names,
                        *number,
                        &storable.storable(&message.flags),
                    );
                }
            });
            recorded?;
            flagged?;
        }
        if let Some(error) = failure {
            return Err(error);
        }
        Ok(added.into_iter().map(|(number, _)| Some(number)).collect())
    }

    pub(super) fn delete(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        self.check_writable("delete messages")?;
        let _lock = self.lock()?;
        self.ensure_index()?;
        let mut removed = Vec::new();
        let mut failure = None;
        for &uid in uids {
            let Some(listed) = self.listed(uid) else {
                continue;
            };
            let path = self.message_path(listed.number);
            let outcome = Self::is_still(&path, &listed.fingerprint).and_then(|same| {
                if same {
                    fs::remove_file(&path).map(|()| true)
                } else {
                    Ok(false)
                }
            });
            match outcome {
                Ok(true) => removed.push((uid, listed.number)),
                Ok(false) => log::info!(
                    "folder {}: not deleting {}: it is no longer the message listed as UID \
                     {uid}",
                    self.path,
                    path.display()
                ),
                Err(error) if error.kind() == ErrorKind::NotFound => {
                    removed.push((uid, listed.number))
                }
                Err(error) => {
                    failure = Some(self.io(ErrorScope::Message, "cannot delete", &path, &error));
                    break;
                }
            }
        }
        if !removed.is_empty() {
            self.unsynced = true;
            if let Some(index) = self.index.as_mut() {
                for (uid, _) in &removed {
                    index.remove(uid);
                }
            }
            let numbers: Vec<Uid> = removed.iter().map(|&(_, number)| number).collect();
            let recorded = self.record(&[], &numbers);
            // As rmm does: out of every sequence, but `cur` is left to nmh.
            let sequenced = self.modify_sequences(|sequences| {
                for &number in &numbers {
                    sequences.remove_everywhere(number, &["cur"]);
                }
            });
            recorded?;
            sequenced?;
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}
