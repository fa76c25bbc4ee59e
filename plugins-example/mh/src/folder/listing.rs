//! Listing: reading the numbered files, reconciling them with the state file, and the check that a file is still the message listed.

use super::*;

impl MhFolder {
    /// Re-reads the state file if it changed since we last read or wrote it. One deleted
    /// while the folder is open is written back from memory at the next change.
    pub(super) fn reload_state(&mut self) -> Result<(), BackendError> {
        let stamp = state::file_stamp(&self.dir);
        if stamp.is_none() && self.state.is_some() {
            self.state_stamp = None;
            return Ok(());
        }
        if stamp.is_some() && stamp == self.state_stamp {
            return Ok(());
        }
        self.state = state::read(&self.dir).map_err(|e| self.context(e))?;
        self.state_stamp = stamp;
        Ok(())
    }

    /// Writes `new` as the state file unless it holds that already.
    pub(super) fn save_state(&mut self, new: FolderState) -> Result<bool, BackendError> {
        if self.state.as_ref() == Some(&new) && self.state_stamp.is_some() {
            return Ok(false);
        }
        state::write(&self.dir, &new).map_err(|e| self.context(e))?;
        self.state = Some(new);
        self.state_stamp = state::file_stamp(&self.dir);
        self.unsynced = true;
        Ok(true)
    }

    /// The message files in the folder, by number.
    pub(super) fn read_files(&self) -> Result<Vec<FoundFile>, BackendError> {
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| self.io(ErrorScope::Folder, "cannot list", &self.dir, &e))?;
        let mut found = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| self.io(ErrorScope::Folder, "cannot list", &self.dir, &e))?;
            let Some(number) = entry.file_name().to_str().and_then(message_number) else {
                continue;
            };
            // Follows a symbolic link: nmh reads a linked message like any other.
            match fs::metadata(entry.path()) {
                Ok(metadata) if metadata.is_file() => found.push(FoundFile {
                    number,
                    stamp: Stamp::of(&metadata),
                }),
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::NotFound => {}
                Err(error) => log::warn!(
                    "folder {}: skipping {}: {error}",
                    self.path,
                    entry.path().display()
                ),
            }
        }
        found.sort_by_key(|file| file.number);
        Ok(found)
    }

    /// The numbers of the message files, without looking at the files.
    pub(super) fn read_numbers(&self) -> Result<Vec<Uid>, BackendError> {
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| self.io(ErrorScope::Folder, "cannot list", &self.dir, &e))?;
        Ok(entries
            .flatten()
            .filter_map(|entry| entry.file_name().to_str().and_then(message_number))
            .collect())
    }

    /// A fresh UIDVALIDITY replacing `previous`: provisional (and the same for every
    /// listing) in a dry run.
    pub(super) fn fresh_uid_validity(&mut self, previous: Option<UidValidity>) -> UidValidity {
        if !self.read_only {
            return backend_kit::new_uid_validity(previous);
        }
        match self.provisional {
            Some((replaced, provisional)) if replaced == previous => provisional,
            _ => {
                let provisional = backend_kit::new_uid_validity(previous);
                self.provisional = Some((previous, provisional));
                provisional
            }
        }
    }

    /// Lists the folder afresh and settles what every number stands for (see the module
    /// documentation). Called under the folder lock.
    pub(super) fn scan(&mut self) -> Result<(), BackendError> {
        self.reload_state()?;
        let found = self.read_files()?;
        let mut problems = Vec::new();
        let plan = {
            let dir = &self.dir;
            reconcile(self.state.as_ref(), &found, &mut |number| {
                let path = dir.join(number.to_string());
                match fs::read(&path) {
                    Ok(bytes) => IdentityRead::Read(identity(&bytes)),
                    Err(error) if error.kind() == ErrorKind::NotFound => IdentityRead::Vanished,
                    Err(error) => {
                        problems.push(format!("{}: {error}", path.display()));
                        IdentityRead::Unreadable
                    }
                }
            })
        };
        for problem in problems {
            log::warn!(
                "folder {}: cannot read {problem}; a message not listed before is left out \
                 until it can be read",
                self.path
            );
        }

        let previous = self.state.as_ref().map(|state| state.uid_validity);
        let uid_validity = match previous {
            Some(previous) if !plan.repacked => previous,
            _ => self.fresh_uid_validity(previous),
        };
        match previous {
            None => log::info!(
                "folder {}: new to twinbox, UIDVALIDITY {uid_validity}{}",
                self.path,
                if self.read_only {
                    " (provisional: a dry run writes no state)"
                } else {
                    ""
                }
            ),
            Some(previous) if previous != uid_validity => log::warn!(
                "folder {}: its messages were renumbered (folder -pack or sortm?): message \
                 numbers no longer name the messages they named, so the folder has a new \
                 UIDVALIDITY {uid_validity} (was {previous})",
                self.path
            ),
            _ => {}
        }

        let mut listed: BTreeMap<Uid, Listed> = plan
            .keep
            .iter()
            .map(|(&number, &fingerprint)| {
                (
                    number,
                    Listed {
                        number,
                        fingerprint,
                    },
                )
            })
            .collect();
        let mut next = plan
            .highest
            .checked_add(1)
            .ok_or_else(|| self.exhausted())?;
        let mut moves = Vec::new();
        let mut failure = None;
        for (number, fingerprint) in plan.renumber {
            if self.read_only {
                log::info!(
                    "folder {}: message {number} is not the message that number named before; \
                     a real run renumbers it to {next}",
                    self.path
                );
                listed.insert(
                    next,
                    Listed {
                        number,
                        fingerprint,
                    },
                );
                next = next.checked_add(1).ok_or_else(|| self.exhausted())?;
                continue;
            }
            loop {
                let target = next;
                let Some(after) = target.checked_add(1) else {
                    failure = Some(self.exhausted());
                    break;
                };
                next = after;
                match rename_noreplace(&self.message_path(number), &self.message_path(target)) {
                    Ok(()) => {
                        log::info!(
                            "folder {}: message {number} is not the message that number named \
                             before (its number was used already); renumbered it to {target}",
                            self.path
                        );
                        moves.push((number, target));
                        listed.insert(
                            target,
                            Listed {
                                number: target,
                                fingerprint,
                            },
                        );
                        break;
                    }
                    // Someone delivered there since we listed: try the next number.
                    Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
                    Err(error) if error.kind() == ErrorKind::NotFound => break,
                    Err(error) => {
                        failure = Some(self.io(
                            ErrorScope::Folder,
                            "cannot renumber",
                            &self.message_path(number),
                            &error,
                        ));
                        break;
                    }
                }
            }
            if failure.is_some() {
                break;
            }
        }
        let highest = next - 1;

        if !self.read_only {
            let new_state = FolderState {
                uid_validity,
                highest,
                known: listed
                    .iter()
                    .map(|(&uid, listed)| (uid, listed.fingerprint))
                    .collect(),
            };
            let wrote = self.save_state(new_state)?;
            if !moves.is_empty() {
                self.modify_sequences(|sequences| {
                    for &(from, to) in &moves {
                        sequences.move_number(from, to);
                    }
                })?;
            }
            // New UIDs and a new UIDVALIDITY must not be taken back by a crash.
            if wrote || !moves.is_empty() {
                self.sync()?;
            }
        }
        if let Some(error) = failure {
            self.index = None;
            return Err(error);
        }

        self.index = Some(listed);
        self.uid_validity = uid_validity;
        self.uid_next = highest.checked_add(1).ok_or_else(|| self.exhausted())?;
        if let Some(reported) = self.reported {
            if reported != uid_validity {
                self.index = None;
                return Err(BackendError::folder(format!(
                    "folder {}: its messages were renumbered while twinbox was syncing it \
                     (folder -pack or sortm?); its UIDVALIDITY changed from {reported} to \
                     {uid_validity}; run the sync again",
                    self.path
                )));
            }
        }
        Ok(())
    }

    pub(super) fn ensure_index(&mut self) -> Result<(), BackendError> {
        if self.index.is_none() {
            self.scan()?;
        }
        Ok(())
    }

    pub(super) fn listed(&self, uid: Uid) -> Option<Listed> {
        self.index
            .as_ref()
            .and_then(|index| index.get(&uid))
            .copied()
    }

    /// Whether the file at `path` is still the message `fingerprint` describes.
    pub(super) fn is_still(path: &Path, fingerprint: &Fingerprint) -> io::Result<bool> {
        if Stamp::of(&fs::metadata(path)?) == fingerprint.stamp {
            return Ok(true);
        }
        Ok(identity(&fs::read(path)?) == fingerprint.identity)
    }

    pub(super) fn list(&mut self) -> Result<Vec<MessageInfo>, BackendError> {
        let _lock = self.lock()?;
        self.scan()?;
        let sequences = self.read_sequences()?;
        let sets: Vec<(SystemFlag, _)> = self
            .names
            .all()
            .iter()
            .map(|&(flag, name)| (flag, sequences.get(name)))
            .collect();
        let index = self
            .index
            .as_ref()
            .map(|index| index.iter())
            .into_iter()
            .flatten();
        Ok(index
            .map(|(&uid, listed)| {
                let mut flags = Flags::new();
                for (flag, set) in &sets {
                    let member = set.contains(listed.number);
                    flags.set(
                        *flag,
                        if *flag == SystemFlag::Seen {
                            !member
                        } else {
                            member
                        },
                    );
                }
                MessageInfo {
                    uid,
                    flags,
                    size: listed.fingerprint.stamp.size,
                    modseq: None,
                }
            })
            .collect())
    }
}
