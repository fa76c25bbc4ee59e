//! Flags: membership of `.mh_sequences` (`unseen` and the others), changed under its lock.

use super::*;

impl MhFolder {
    /// The public sequences, read under nmh's shared lock.
    pub(super) fn read_sequences(&self) -> Result<Sequences, BackendError> {
        let bytes = locking::read_sequences(&self.dir).map_err(|e| {
            self.io(
                ErrorScope::Folder,
                "cannot read",
                &self.dir.join(locking::SEQUENCES_FILE),
                &e,
            )
        })?;
        Ok(Sequences::parse(&bytes))
    }

    /// Reads, changes and replaces `.mh_sequences` under nmh's locks; writes only if
    /// `change` changed something.
    pub(super) fn modify_sequences(
        &mut self,
        change: impl FnOnce(&mut Sequences),
    ) -> Result<(), BackendError> {
        let file = self.dir.join(locking::SEQUENCES_FILE);
        let mut lock = SequencesLock::acquire(&self.dir)
            .map_err(|e| self.io(ErrorScope::Folder, "cannot lock", &file, &e))?;
        let bytes = lock
            .read()
            .map_err(|e| self.io(ErrorScope::Folder, "cannot read", &file, &e))?;
        let mut sequences = Sequences::parse(&bytes);
        change(&mut sequences);
        if sequences.is_changed() {
            lock.replace(&sequences.render())
                .map_err(|e| self.io(ErrorScope::Folder, "cannot write", &file, &e))?;
            self.unsynced = true;
        }
        Ok(())
    }

    pub(super) fn change_flags(
        &mut self,
        uids: &[Uid],
        add: &Flags,
        remove: &Flags,
    ) -> Result<(), BackendError> {
        self.check_writable("change flags")?;
        let _lock = self.lock()?;
        self.ensure_index()?;
        let numbers: Vec<Uid> = uids
            .iter()
            .filter_map(|&uid| self.listed(uid))
            .map(|listed| listed.number)
            .filter(|&number| fs::symlink_metadata(self.message_path(number)).is_ok())
            .collect();
        if numbers.is_empty() {
            return Ok(());
        }
        let names = Arc::clone(&self.names);
        self.modify_sequences(|sequences| {
            for (flag, name) in names.all() {
                // \Seen is stored inverted: adding it takes the message out of unseen.
                let seen = flag == SystemFlag::Seen;
                for (wanted, on) in [(add, !seen), (remove, seen)] {
                    if wanted.contains(flag) {
                        sequences.update(name, |set| {
                            for &number in &numbers {
                                set.set(number, on);
                            }
                        });
                    }
                }
            }
        })
    }
}

/// Puts `number` in exactly the sequences its `flags` call for.
pub(super) fn set_flags(
    sequences: &mut Sequences,
    names: &SequenceNames,
    number: Uid,
    flags: &Flags,
) {
    for (flag, name) in names.all() {
        let member = if flag == SystemFlag::Seen {
            !flags.contains(flag)
        } else {
            flags.contains(flag)
        };
        sequences.update(name, |set| {
            set.set(number, member);
        });
    }
}
