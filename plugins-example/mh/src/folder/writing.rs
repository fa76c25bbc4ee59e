//! Writing: appending under a temporary name then the next free number, recording what we added or removed, deleting, syncing.

use super::flags::set_flags;
use super::*;

impl MhFolder {
    pub(super) fn sync(&mut self) -> Result<(), BackendError> {
        sync_dir(&self.dir)
            .map_err(|e| self.io(ErrorScope::Folder, "cannot sync", &self.dir, &e))?;
        self.unsynced = false;
        Ok(())
    }

    /// Writes one message to a temporary file and gives it the first free number from
    /// `next` on (advancing `next` past it).
    pub(super) fn deliver(
        &self,
        message: &NewMessage,
        next: &mut Uid,
    ) -> Result<(Uid, Fingerprint), BackendError> {
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
        let give_up = |error: BackendError| {
            let _ = fs::remove_file(&tmp);
            error
        };
        write_synced(file, &message.bytes, message.internal_date)
            .map_err(|e| give_up(self.io(ErrorScope::Folder, "cannot write", &tmp, &e)))?;
        let number = loop {
            let target = *next;
            *next = target
                .checked_add(1)
                .ok_or_else(|| give_up(self.exhausted()))?;
            match rename_noreplace(&tmp, &self.message_path(target)) {
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

        let mut added = Vec::new();
        let mut failure = None;
        for message in &messages {
            match self.deliver(message, &mut next) {
                Ok(delivered) => added.push(delivered),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
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
