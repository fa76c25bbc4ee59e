//! Listing: the scan of `new/` and `cur/` into the UID index, UIDs given to new files, provisional UIDs, the lookup of one UID's file.

use super::*;

impl MaildirFolder {
    /// Whether a warning about this file is the first one (and notes that it is given).
    pub(super) fn first_warning(&mut self, subdir: Subdir, file_name: &str) -> bool {
        self.warned.insert((subdir, file_name.to_owned()))
    }

    /// Why a file that looked fine to `stat` cannot be opened (permissions), if so.
    pub(super) fn open_problem(&self, file: &FoundFile) -> Option<String> {
        let path = self.dir.join(file.subdir.name()).join(&file.file_name);
        File::open(path).err().map(|error| error.to_string())
    }

    /// Every message file in `new/` then `cur/`. That order matters: a client moving a
    /// file from `new/` to `cur/` while we read is then seen in one of the two.
    pub(super) fn read_files(&self) -> Result<Vec<FoundFile>, BackendError> {
        let mut found = Vec::new();
        for subdir in [Subdir::New, Subdir::Cur] {
            let directory = self.dir.join(subdir.name());
            let entries = fs::read_dir(&directory)
                .map_err(|e| self.io(ErrorScope::Folder, "cannot list", &directory, &e))?;
            for entry in entries {
                let entry = entry
                    .map_err(|e| self.io(ErrorScope::Folder, "cannot list", &directory, &e))?;
                let Ok(file_name) = entry.file_name().into_string() else {
                    log::warn!(
                        "folder {}: skipping {}: its name is not UTF-8",
                        self.path,
                        entry.path().display()
                    );
                    continue;
                };
                if file_name.starts_with('.') {
                    continue;
                }
                // A file whose kind cannot be read is not skipped: a message left out of
                // the listing would read as deleted.
                let kind = entry
                    .file_type()
                    .map_err(|e| self.io(ErrorScope::Folder, "cannot list", &entry.path(), &e))?;
                if !(kind.is_file() || kind.is_symlink()) {
                    continue;
                }
                // A regular file that states its size in its name (ours and Dovecot's
                // do) needs no stat: the name says all a listing reports. Symbolic links
                // are still followed, as they may dangle.
                if let Some(size) = size_in_name(&file_name).filter(|_| kind.is_file()) {
                    found.push(FoundFile {
                        subdir,
                        file_name,
                        size,
                        problem: None,
                    });
                    continue;
                }
                let (size, problem) = match fs::metadata(entry.path()) {
                    Ok(metadata) if metadata.is_file() => (metadata.len(), None),
                    Ok(_) => (0, Some("it is not a regular file".to_owned())),
                    // Renamed or deleted since the readdir: not there any more.
                    Err(error) if error.kind() == ErrorKind::NotFound && !kind.is_symlink() => {
                        continue
                    }
                    // A dangling symlink or an unreadable file is still there; the scan
                    // decides what to make of it (and warns, once).
                    Err(error) => (0, Some(error.to_string())),
                };
                found.push(FoundFile {
                    subdir,
                    file_name,
                    size,
                    problem,
                });
            }
        }
        Ok(found)
    }

    /// The stamps of `new/` and `cur/` as they are now.
    fn scan_stamps(&self) -> Result<ScanStamps, BackendError> {
        let stamp = |subdir: Subdir| -> Result<DirStamp, BackendError> {
            let directory = self.dir.join(subdir.name());
            let metadata = fs::metadata(&directory)
                .map_err(|e| self.io(ErrorScope::Folder, "cannot list", &directory, &e))?;
            Ok(DirStamp {
                dev: metadata.dev(),
                ino: metadata.ino(),
                mtime: (metadata.mtime(), metadata.mtime_nsec()),
                ctime: (metadata.ctime(), metadata.ctime_nsec()),
            })
        };
        Ok(ScanStamps {
            new: stamp(Subdir::New)?,
            cur: stamp(Subdir::Cur)?,
        })
    }

    /// The index, rescanned only if `new/` or `cur/` may have changed since the scan
    /// that built it: two `stat`s when nothing changed, instead of a readdir.
    ///
    /// A directory's mtime and ctime change with every name created, renamed or removed
    /// in it, by anyone: a delivery, a client marking a message seen (`new/` -> `cur/`)
    /// or changing its flags. They are not trusted when our own changes came after the
    /// scan (the stamps are dropped then), and not when the scan could not settle every
    /// file (an unreadable one may become readable without its directory changing).
    ///
    /// On NFS the stamps come from the client's attribute cache (up to `acdirmax`, 60 s
    /// by default), so a delivery made on another machine can be seen that much later;
    /// as with a delivery just after a listing, the next sync copies it.
    pub(super) fn current_index(&mut self) -> Result<&BTreeMap<Uid, MessageFile>, BackendError> {
        let fresh = match self.scanned {
            Some(scanned) if self.index.is_some() => self.scan_stamps()? == scanned,
            _ => false,
        };
        if fresh {
            // The index is there (checked above): nothing is inserted.
            return Ok(self.index.get_or_insert_with(BTreeMap::new));
        }
        self.rescan()
    }

    /// Rebuilds the index from disk, giving a UID to every file that lacks a valid one
    /// (a provisional one when it cannot be renamed: see the module documentation).
    pub(super) fn rescan(&mut self) -> Result<&BTreeMap<Uid, MessageFile>, BackendError> {
        self.scanned = None;
        // Taken before the readdir, so that a change during the scan makes them stale.
        let started = SystemTime::now();
        let stamps = self.scan_stamps()?;
        let mut found = self.read_files()?;
        // "First by name keeps the UID" when a user copied a file within the folder; and
        // provisional UIDs follow name order.
        found.sort_by(|a, b| a.file_name.cmp(&b.file_name).then(a.subdir.cmp(&b.subdir)));
        let mut index = BTreeMap::new();
        let mut without_uid = Vec::new();
        for file in found {
            let name = MessageName::parse(&file.file_name);
            // No U=, or another folder's FMD5 (a client moved it here), or a copy of a
            // file whose UID is taken: a message new to this folder.
            match self.own_uid(&name) {
                Some(uid) if !index.contains_key(&uid) => {
                    if let Some(problem) = &file.problem {
                        if self.first_warning(file.subdir, &file.file_name) {
                            log::warn!(
                                "folder {}: cannot read {}: {problem}; it stays listed as \
                                 UID {uid} so that it is not taken for deleted, and it cannot \
                                 be copied until it is repaired or removed",
                                self.path,
                                self.dir
                                    .join(file.subdir.name())
                                    .join(&file.file_name)
                                    .display()
                            );
                        }
                    }
                    index.insert(
                        uid,
                        MessageFile {
                            subdir: file.subdir,
                            name,
                            size: file.size,
                            origin: UidOrigin::Name,
                        },
                    );
                }
                _ => without_uid.push((file, name)),
            }
        }

        // Which of the others get a UID in their names now, and which one for this
        // listing only.
        let mut settled = stamps.settled_before(started);
        let mut to_name = Vec::new();
        let mut provisional = Vec::new();
        let mut unreadable = Vec::new();
        for (file, name) in without_uid {
            let problem = file.problem.clone().or_else(|| self.open_problem(&file));
            if let Some(problem) = problem {
                if self.first_warning(file.subdir, &file.file_name) {
                    log::warn!(
                        "folder {}: cannot read {}: {problem}; it has no UID yet, so it is \
                         left as it is (not renamed) and cannot be copied: repair it (a \
                         dangling symbolic link?) or remove it",
                        self.path,
                        self.dir
                            .join(file.subdir.name())
                            .join(&file.file_name)
                            .display()
                    );
                }
                unreadable.push((file, name, UidOrigin::Unreadable));
            } else if self.read_only {
                provisional.push((file, name, UidOrigin::Provisional));
            } else {
                to_name.push((file, name));
            }
        }

        let highest = index.keys().next_back().copied().unwrap_or(0);
        let at_least = self.next_after(highest)?;
        if self.read_only {
            // What a real scan would write, kept in memory only.
            self.state.uid_next = self.state.uid_next.max(at_least);
        } else if !to_name.is_empty() || at_least > self.state.uid_next {
            // The new UIDs are durable before any file carries them, so a crash between
            // the two can waste UIDs but never hand one out twice.
            let first = self.reserve(to_name.len(), at_least, true)?;
            let mut renamed = Unsynced::default();
            for (uid, (file, name)) in (first..).zip(to_name) {
                let named = name.with_uid(uid, &self.fmd5);
                let from = self.dir.join(file.subdir.name()).join(&file.file_name);
                let to = self.file_path(file.subdir, &named);
                match rename_noreplace(&from, &to) {
                    Ok(()) => {
                        renamed.mark(file.subdir);
                        log::debug!("folder {}: {} is now UID {uid}", self.path, file.file_name);
                        index.insert(
                            uid,
                            MessageFile {
                                subdir: file.subdir,
                                name: named,
                                size: file.size,
                                origin: UidOrigin::Name,
                            },
                        );
                    }
                    // Moved away meanwhile; the UID stays unused, which is allowed.
                    Err(error) if error.kind() == ErrorKind::NotFound => {}
                    Err(error) => {
                        return Err(self.io(ErrorScope::Folder, "cannot rename", &from, &error))
                    }
                }
            }
            self.sync_subdirs(&renamed)?;
            // Our renames changed the stamps just taken.
            if !renamed.is_empty() {
                settled = false;
            }
        }

        // Provisional UIDs: above every UID in use or handed out, in name order, the
        // unreadable files last; the numbers a real scan gives are then the same.
        if !unreadable.is_empty() {
            settled = false;
        }
        provisional.append(&mut unreadable);
        let highest = index.keys().next_back().copied().unwrap_or(0);
        let first = self.state.uid_next.max(self.next_after(highest)?);
        let room = u64::from(Uid::MAX - first) + 1;
        if provisional.len() as u64 > room {
            return Err(self.exhausted());
        }
        for (uid, (file, name, origin)) in (first..=Uid::MAX).zip(provisional) {
            index.insert(
                uid,
                MessageFile {
                    subdir: file.subdir,
                    name,
                    size: file.size,
                    origin,
                },
            );
        }
        if settled {
            self.scanned = Some(stamps);
        }
        Ok(&*self.index.insert(index))
    }

    /// The next UID as the last listing shows it: above the state's next UID when the
    /// listing holds provisional UIDs.
    pub(super) fn listed_uid_next(&self) -> Uid {
        let highest = self
            .index
            .as_ref()
            .and_then(|index| index.keys().next_back().copied())
            .unwrap_or(0);
        self.state.uid_next.max(highest.saturating_add(1))
    }

    /// Hands out `count` UIDs, none below `at_least`, and raises the next UID past them
    /// in the state file (under the folder lock, re-reading it first so that two writers
    /// never hand out the same UID). Returns the first UID.
    ///
    /// With `durable`, the folder directory is synced at once; otherwise at the next
    /// flush. The state file is replaced atomically either way, so a crash leaves the old
    /// or the new next UID. The old one is stale only for messages that were not yet
    /// flushed, and any of their files that survived carries its UID in its name:
    /// every scan raises the next UID above the highest UID it sees, so none is reused.
    pub(super) fn reserve(
        &mut self,
        count: usize,
        at_least: Uid,
        durable: bool,
    ) -> Result<Uid, BackendError> {
        let _lock = uidstate::lock(&self.dir).map_err(|e| self.context(e))?;
        let on_disk = uidstate::read(&self.dir).map_err(|e| self.context(e))?;
        let current = match on_disk {
            Some(state) if state.uid_validity != self.state.uid_validity => {
                return Err(BackendError::folder(format!(
                    "folder {}: its UIDVALIDITY changed from {} to {} while it was open \
                     (another program rewrote {}); run the sync again",
                    self.path,
                    self.state.uid_validity,
                    state.uid_validity,
                    uidstate::STATE_FILE
                )))
            }
            Some(state) => state.uid_next.max(self.state.uid_next),
            // Deleted while open: ours is still right, write it back.
            None => self.state.uid_next,
        };
        let first = current.max(at_least);
        let next = u32::try_from(count)
            .ok()
            .and_then(|count| first.checked_add(count))
            .ok_or_else(|| self.exhausted())?;
        let state = UidState {
            uid_validity: self.state.uid_validity,
            uid_next: next,
            accepted_fmd5: self.state.accepted_fmd5,
        };
        if on_disk != Some(state) {
            uidstate::write(&self.dir, &state).map_err(|e| self.context(e))?;
            if durable {
                sync_dir(&self.dir)
                    .map_err(|e| self.io(ErrorScope::Folder, "cannot sync", &self.dir, &e))?;
            } else {
                self.unsynced.folder = true;
            }
        }
        self.state = state;
        Ok(first)
    }

    pub(super) fn ensure_index(&mut self) -> Result<(), BackendError> {
        if self.index.is_none() {
            self.rescan()?;
        }
        Ok(())
    }

    pub(super) fn entry(&self, uid: Uid) -> Option<&MessageFile> {
        self.index.as_ref().and_then(|index| index.get(&uid))
    }

    /// Whether `uid` is an unreadable file's listing-only UID: the engine never had its
    /// content, so it has nothing to change or delete there, and the file is left alone.
    pub(super) fn is_unreadable(&self, uid: Uid) -> bool {
        self.entry(uid)
            .is_some_and(|file| file.origin == UidOrigin::Unreadable)
    }

    /// Runs `attempt` on the file of `uid`; if the file is gone (renamed by a mail client),
    /// rescans once per call and tries again. `Ok(None)` when the message does not exist.
    pub(super) fn with_file<T>(
        &mut self,
        what: &str,
        uid: Uid,
        rescanned: &mut bool,
        mut attempt: impl FnMut(&Self, &MessageFile) -> io::Result<T>,
    ) -> Result<Option<T>, BackendError> {
        loop {
            let Some(file) = self.entry(uid) else {
                return Ok(None);
            };
            match attempt(self, file) {
                Ok(value) => return Ok(Some(value)),
                Err(error) if error.kind() == ErrorKind::NotFound && !*rescanned => {
                    *rescanned = true;
                    self.rescan()?;
                }
                Err(error) => {
                    let path = self.file_path(file.subdir, &file.name);
                    return Err(self.io(ErrorScope::Message, what, &path, &error));
                }
            }
        }
    }
}
