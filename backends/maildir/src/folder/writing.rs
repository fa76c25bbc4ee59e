//! Writing: appending (through `tmp/`), deleting, and syncing the directories touched.

use super::*;

/// How many files of a batch are written before they are made durable together and
/// renamed into place. Each is an open descriptor until then, and several folders may be
/// appended to at once: 128 stays well below the usual limit of 1,024 while giving
/// [`sync_files`] enough to share its journal commits.
const FILES_PER_SYNC: usize = 128;

/// A message written to `tmp/` and not yet durable nor in place.
struct Staged {
    uid: Uid,
    file: MessageFile,
    tmp_path: PathBuf,
    handle: File,
}

impl MaildirFolder {
    /// Writes one message to `tmp/` (under a name that says who wrote it, see
    /// [`leftovers`]) without syncing it: [`MaildirFolder::deliver_staged`] makes it
    /// durable with the rest of its batch, then moves it into `new/` or `cur/`.
    fn stage(&self, uid: Uid, message: &NewMessage) -> Result<Staged, BackendError> {
        let flags = permanent_flags().storable(&message.flags);
        let subdir = if flags.is_empty() {
            Subdir::New
        } else {
            Subdir::Cur
        };
        let size = message.bytes.len() as u64;
        let tmp_dir = self.dir.join("tmp");
        let (name, tmp_path, handle) = {
            let mut attempts = 0;
            loop {
                let unique = unique_part();
                let name = MessageName::for_new_message(&unique, size, uid, &self.fmd5, &flags);
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
        if let Err(error) = write_dated(&handle, &message.bytes, message.internal_date) {
            let _ = fs::remove_file(&tmp_path);
            return Err(self.io(ErrorScope::Folder, "cannot write", &tmp_path, &error));
        }
        Ok(Staged {
            uid,
            file: MessageFile {
                subdir,
                name,
                size,
                origin: UidOrigin::Name,
            },
            tmp_path,
            handle,
        })
    }

    /// Makes the staged files durable together, then renames each into place and enters
    /// it in the index.
    ///
    /// The order is what keeps a crash harmless: a name in `new/` or `cur/` appears only
    /// once its file's content is durable, so whatever a crash leaves there is complete;
    /// what it leaves in `tmp/` is removed by the next open (see [`leftovers`]). The
    /// renames themselves are made durable at the next flush.
    fn deliver_staged(&mut self, staged: Vec<Staged>) -> Result<(), BackendError> {
        let (handles, staged): (Vec<File>, Vec<_>) = staged
            .into_iter()
            .map(|file| (file.handle, (file.uid, file.file, file.tmp_path)))
            .unzip();
        if let Err(error) = sync_files(&handles) {
            for (_, _, tmp_path) in &staged {
                let _ = fs::remove_file(tmp_path);
            }
            let tmp_dir = self.dir.join("tmp");
            return Err(self.io(
                ErrorScope::Folder,
                "cannot sync the new files in",
                &tmp_dir,
                &error,
            ));
        }
        drop(handles);
        let mut staged = staged.into_iter();
        while let Some((uid, file, tmp_path)) = staged.next() {
            let target = self.file_path(file.subdir, &file.name);
            if let Err(error) = rename_noreplace(&tmp_path, &target) {
                let _ = fs::remove_file(&tmp_path);
                for (_, _, rest) in staged {
                    let _ = fs::remove_file(rest);
                }
                return Err(self.io(
                    ErrorScope::Folder,
                    "cannot store a message as",
                    &target,
                    &error,
                ));
            }
            self.scanned = None;
            self.unsynced.mark(file.subdir);
            self.unsynced.tmp = true;
            if let Some(index) = self.index.as_mut() {
                index.insert(uid, file);
            }
        }
        Ok(())
    }

    pub(super) fn sync_subdirs(&self, which: &Unsynced) -> Result<(), BackendError> {
        for (flag, subdir) in [(which.new, "new"), (which.cur, "cur"), (which.tmp, "tmp")] {
            if flag {
                let directory = self.dir.join(subdir);
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
        // Written FILES_PER_SYNC at a time, each group made durable at once (see
        // `deliver_staged`); a failure leaves the groups before it delivered, as a
        // failure between two single deliveries would.
        let mut staged = Vec::with_capacity(FILES_PER_SYNC.min(messages.len()));
        for (uid, message) in (first..).zip(&messages) {
            match self.stage(uid, message) {
                Ok(file) => staged.push(file),
                Err(error) => {
                    for file in staged {
                        let _ = fs::remove_file(&file.tmp_path);
                    }
                    return Err(error);
                }
            }
            if staged.len() == FILES_PER_SYNC {
                self.deliver_staged(std::mem::take(&mut staged))?;
            }
        }
        self.deliver_staged(staged)?;
        Ok((first..).take(messages.len()).map(Some).collect())
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
                self.scanned = None;
                self.unsynced.mark(subdir);
                if let Some(index) = self.index.as_mut() {
                    index.remove(&uid);
                }
            }
        }
        Ok(())
    }
}
