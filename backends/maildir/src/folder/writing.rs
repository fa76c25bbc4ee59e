//! Writing: appending (through `tmp/`), deleting, and syncing the directories touched.

use super::*;

impl MaildirFolder {
    /// Writes one message to `tmp/` (under a name that says who wrote it, see
    /// [`leftovers`]), then moves it into `new/` or `cur/`.
    pub(super) fn deliver(
        &self,
        uid: Uid,
        message: &NewMessage,
    ) -> Result<MessageFile, BackendError> {
        let flags = permanent_flags().storable(&message.flags);
        let subdir = if flags.is_empty() {
            Subdir::New
        } else {
            Subdir::Cur
        };
        let tmp_dir = self.dir.join("tmp");
        let (name, tmp_path, file) = {
            let mut attempts = 0;
            loop {
                let unique = unique_part();
                let name = MessageName::for_new_message(&unique, uid, &self.fmd5, &flags);
                let tmp_path = tmp_dir.join(tmp_file_name(&unique));
                let created = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&tmp_path);
                match created {
                    Ok(file) => break (name, tmp_path, file),
                    Err(error) if error.kind() == ErrorKind::AlreadyExists && attempts < 5 => {
                        attempts += 1;
                    }
                    Err(error) => {
                        return Err(self.io(ErrorScope::Folder, "cannot create", &tmp_path, &error))
                    }
                }
            }
        };
        let target = self.file_path(subdir, &name);
        let written = write_synced(file, &message.bytes, message.internal_date)
            .and_then(|()| rename_noreplace(&tmp_path, &target));
        if let Err(error) = written {
            let _ = fs::remove_file(&tmp_path);
            return Err(self.io(
                ErrorScope::Folder,
                "cannot store a message as",
                &target,
                &error,
            ));
        }
        Ok(MessageFile {
            subdir,
            name,
            size: message.bytes.len() as u64,
            origin: UidOrigin::Name,
        })
    }

    pub(super) fn sync_subdirs(&self, which: &Unsynced) -> Result<(), BackendError> {
        for (flag, subdir) in [(which.new, Subdir::New), (which.cur, Subdir::Cur)] {
            if flag {
                let directory = self.dir.join(subdir.name());
                sync_dir(&directory)
                    .map_err(|e| self.io(ErrorScope::Folder, "cannot sync", &directory, &e))?;
            }
        }
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
        self.ensure_index()?;
        let highest = self
            .index
            .as_ref()
            .and_then(|index| index.keys().next_back().copied())
            .unwrap_or(0);
        let at_least = self.next_after(highest)?;
        let first = self.reserve(messages.len(), at_least, false)?;
        let tmp_dir = self.dir.join("tmp");
        if create_dir_durably(&tmp_dir)
            .map_err(|e| self.io(ErrorScope::Folder, "cannot create", &tmp_dir, &e))?
        {
            self.unsynced.folder = true;
        }
        let mut uids = Vec::with_capacity(messages.len());
        for (uid, message) in (first..).zip(&messages) {
            let file = self.deliver(uid, message)?;
            self.unsynced.mark(file.subdir);
            if let Some(index) = self.index.as_mut() {
                index.insert(uid, file);
            }
            uids.push(Some(uid));
        }
        Ok(uids)
    }

    pub(super) fn delete(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        self.check_writable("delete messages")?;
        self.ensure_index()?;
        let mut rescanned = false;
        for &uid in uids {
            if self.is_unreadable(uid) {
                continue;
            }
            let deleted =
                self.with_file("cannot delete", uid, &mut rescanned, |folder, file| {
                    fs::remove_file(folder.file_path(file.subdir, &file.name))?;
                    Ok(file.subdir)
                })?;
            if let Some(subdir) = deleted {
                self.unsynced.mark(subdir);
                if let Some(index) = self.index.as_mut() {
                    index.remove(&uid);
                }
            }
        }
        Ok(())
    }
}
