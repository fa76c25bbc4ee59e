//! One Maildir folder: its messages, their UIDs and flags, all read from file names.
//!
//! The folder keeps an index from UID to file, built by a scan of `new/` and `cur/`.
//! Mail clients rename files under our feet (they mark messages seen, move them from
//! `new/` to `cur/`), so an operation that finds its file gone rescans once and retries
//! before concluding that the message no longer exists.
//!
//! Renames and unlinks are made durable at [`Folder::flush`] by syncing the directories
//! they touched, one fsync per directory per batch rather than one per message. The one
//! exception is giving UIDs to files found without one: those renames are synced before
//! the listing that reports the UIDs returns, so a crash cannot take the UIDs back.
//!
//! Some files are listed with a UID that is in no name and no state, valid for one
//! listing only (a *provisional* UID, always at or above the next UID, given in name
//! order so the same tree lists the same way twice):
//!
//! - in a dry run (read-only), every file that would get a UID, as nothing may be renamed;
//! - a file without a UID that cannot be read (a dangling symbolic link). It cannot be
//!   copied, so it must not be renamed either (the user would no longer recognise it); but
//!   leaving it out would hide it, so it is listed and fetching it is a message-level
//!   error that names it. It gets a real UID, in its name, once it can be read.
//!
//! A file that carries our UID and becomes unreadable stays listed under it, so it is not
//! taken for deleted. Each unreadable file is warned about once per open folder.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use backend_api::{
    BackendError, ErrorScope, FetchedMessage, Flags, Folder, FolderPath, FolderStatus, MessageInfo,
    NewMessage, PermanentFlags, Retry, Uid,
};
use backend_kit::durable::{
    create_dir_durably, rename_noreplace, sync_dir, unix_time, write_synced,
};
use backend_kit::store::check_writable;

use crate::leftovers;
use crate::names::{tmp_file_name, unique_part, MessageName, FORWARDED};
use crate::uidstate::{self, UidState};

/// The two directories messages live in. `new/` holds messages no client has looked at
/// yet (no info part); `cur/` the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Subdir {
    New,
    Cur,
}

impl Subdir {
    fn name(self) -> &'static str {
        match self {
            Subdir::New => "new",
            Subdir::Cur => "cur",
        }
    }
}

/// Where the UID of a listed file comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UidOrigin {
    /// Its name (`U=` with this folder's FMD5).
    Name,
    /// A provisional UID for this listing only, in a dry run (see the module docs).
    Provisional,
    /// A provisional UID for a file without one that cannot be read: listed so that the
    /// engine reports it, never renamed, never fetched.
    Unreadable,
}

/// One message file as the last scan (or our own change) left it.
#[derive(Clone, Debug)]
struct MessageFile {
    subdir: Subdir,
    name: MessageName,
    size: u64,
    origin: UidOrigin,
}

/// A file seen by a scan, before UIDs are settled.
struct FoundFile {
    subdir: Subdir,
    file_name: String,
    size: u64,
    /// Why it cannot be read (a dangling symbolic link, say), if it cannot.
    problem: Option<String>,
}

/// Directories whose entries changed since the last flush.
#[derive(Default)]
struct Unsynced {
    new: bool,
    cur: bool,
    /// The folder directory itself (the state file was replaced).
    folder: bool,
}

impl Unsynced {
    fn is_empty(&self) -> bool {
        !(self.new || self.cur || self.folder)
    }

    fn mark(&mut self, subdir: Subdir) {
        match subdir {
            Subdir::New => self.new = true,
            Subdir::Cur => self.cur = true,
        }
    }
}

/// What a Maildir folder stores: the system flags and `$Forwarded` (each has a letter).
pub(crate) fn permanent_flags() -> PermanentFlags {
    let mut flags = Flags::all_system();
    flags.insert_keyword(FORWARDED);
    PermanentFlags {
        flags,
        any_keyword: false,
    }
}

/// An open Maildir folder.
pub(crate) struct MaildirFolder {
    path: FolderPath,
    dir: PathBuf,
    /// The FMD5 tag of this folder's file names.
    fmd5: String,
    /// The UID state as last read or written.
    state: UidState,
    /// UID -> file; `None` until the first scan.
    index: Option<BTreeMap<Uid, MessageFile>>,
    unsynced: Unsynced,
    /// A dry run: nothing is renamed, created, removed or written.
    read_only: bool,
    /// The unreadable files already warned about, so each is warned about once.
    warned: HashSet<(Subdir, String)>,
}

impl MaildirFolder {
    /// Opens the folder in `dir` (which has `cur/` and `new/`). A folder without a state
    /// file gets one now, with a new UIDVALIDITY and the next UID above every UID its
    /// file names already carry (OfflineIMAP's, typically): those keep their UIDs.
    ///
    /// Opened for writing, it first clears what interrupted writes left behind (see
    /// [`leftovers`]). Read-only, it changes nothing: a missing state file gives a
    /// provisional UIDVALIDITY, reported for as long as the folder stays open.
    pub fn open(
        path: FolderPath,
        dir: PathBuf,
        fmd5: String,
        read_only: bool,
    ) -> Result<Self, BackendError> {
        let mut folder = MaildirFolder {
            path,
            dir,
            fmd5,
            state: UidState {
                uid_validity: 0,
                uid_next: 1,
            },
            index: None,
            unsynced: Unsynced::default(),
            read_only,
            warned: HashSet::new(),
        };
        let _lock = uidstate::lock(&folder.dir).map_err(|e| folder.context(e))?;
        if !read_only {
            uidstate::remove_leftover(&folder.dir);
            leftovers::clean_tmp(&folder.dir, SystemTime::now());
        }
        folder.state = match uidstate::read(&folder.dir).map_err(|e| folder.context(e))? {
            Some(state) => state,
            None => {
                let highest = folder
                    .read_files()?
                    .iter()
                    .filter_map(|file| MessageName::parse(&file.file_name).uid_for(&folder.fmd5))
                    .max()
                    .unwrap_or(0);
                let state = UidState::fresh(folder.next_after(highest)?);
                if read_only {
                    log::info!(
                        "folder {}: new to twinbox; a dry run gives it the provisional \
                         UIDVALIDITY {} and writes no state",
                        folder.path,
                        state.uid_validity
                    );
                    return Ok(MaildirFolder { state, ..folder });
                }
                uidstate::write(&folder.dir, &state).map_err(|e| folder.context(e))?;
                sync_dir(&folder.dir)
                    .map_err(|e| folder.io(ErrorScope::Folder, "cannot sync", &folder.dir, &e))?;
                log::info!(
                    "folder {}: new to twinbox, UIDVALIDITY {}",
                    folder.path,
                    state.uid_validity
                );
                state
            }
        };
        Ok(folder)
    }

    fn context(&self, error: BackendError) -> BackendError {
        error.context(format_args!("folder {}", self.path))
    }

    fn io(&self, scope: ErrorScope, what: &str, path: &Path, error: &io::Error) -> BackendError {
        BackendError::io(
            scope,
            format_args!("folder {}: {what} {}", self.path, path.display()),
            error,
        )
    }

    fn next_after(&self, uid: Uid) -> Result<Uid, BackendError> {
        uid.checked_add(1).ok_or_else(|| self.exhausted())
    }

    fn exhausted(&self) -> BackendError {
        BackendError::folder(format!(
            "folder {}: every UID up to {} is used; delete {} to start over with a new \
             UIDVALIDITY",
            self.path,
            Uid::MAX,
            self.dir.join(uidstate::STATE_FILE).display()
        ))
    }

    fn file_path(&self, subdir: Subdir, name: &MessageName) -> PathBuf {
        self.dir.join(subdir.name()).join(name.file_name())
    }

    /// Refuses every write in a dry run.
    fn check_writable(&self, what: &str) -> Result<(), BackendError> {
        check_writable(self.read_only, "Maildir", &self.path, what)
    }

    /// Whether a warning about this file is the first one (and notes that it is given).
    fn first_warning(&mut self, subdir: Subdir, file_name: &str) -> bool {
        self.warned.insert((subdir, file_name.to_owned()))
    }

    /// Why a file that looked fine to `stat` cannot be opened (permissions), if so.
    fn open_problem(&self, file: &FoundFile) -> Option<String> {
        let path = self.dir.join(file.subdir.name()).join(&file.file_name);
        File::open(path).err().map(|error| error.to_string())
    }

    /// Every message file in `new/` then `cur/`. That order matters: a client moving a
    /// file from `new/` to `cur/` while we read is then seen in one of the two.
    fn read_files(&self) -> Result<Vec<FoundFile>, BackendError> {
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
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if !(kind.is_file() || kind.is_symlink()) {
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

    /// Rebuilds the index from disk, giving a UID to every file that lacks a valid one
    /// (a provisional one when it cannot be renamed: see the module documentation).
    fn rescan(&mut self) -> Result<&BTreeMap<Uid, MessageFile>, BackendError> {
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
            match name.uid_for(&self.fmd5) {
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
        }

        // Provisional UIDs: above every UID in use or handed out, in name order, the
        // unreadable files last; the numbers a real scan gives are then the same.
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
        Ok(&*self.index.insert(index))
    }

    /// The next UID as the last listing shows it: above the state's next UID when the
    /// listing holds provisional UIDs.
    fn listed_uid_next(&self) -> Uid {
        let highest = self
            .index
            .as_ref()
            .and_then(|index| index.keys().next_back().copied())
            .unwrap_or(0);
        self.state.uid_next.max(highest.saturating_add(1))
    }

    /// The error for fetching a file that has no UID and could not be read when listed.
    fn unreadable_error(&self, file: &MessageFile) -> BackendError {
        let path = self.file_path(file.subdir, &file.name);
        match File::open(&path).and_then(|mut handle| handle.read(&mut [0u8; 1])) {
            Err(error) => BackendError::message(format!(
                "folder {}: cannot read {}: {error}; it has no UID yet, so twinbox leaves it \
                 as it is: repair it (a dangling symbolic link?) or remove it",
                self.path,
                path.display()
            )),
            Ok(_) => BackendError::message(format!(
                "folder {}: {} could not be read when the folder was listed; it is copied by \
                 the next sync",
                self.path,
                path.display()
            ))
            .with_retry(Retry::Later),
        }
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
    fn reserve(&mut self, count: usize, at_least: Uid, durable: bool) -> Result<Uid, BackendError> {
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

    fn sync_subdirs(&self, which: &Unsynced) -> Result<(), BackendError> {
        for (flag, subdir) in [(which.new, Subdir::New), (which.cur, Subdir::Cur)] {
            if flag {
                let directory = self.dir.join(subdir.name());
                sync_dir(&directory)
                    .map_err(|e| self.io(ErrorScope::Folder, "cannot sync", &directory, &e))?;
            }
        }
        Ok(())
    }

    fn ensure_index(&mut self) -> Result<(), BackendError> {
        if self.index.is_none() {
            self.rescan()?;
        }
        Ok(())
    }

    fn entry(&self, uid: Uid) -> Option<&MessageFile> {
        self.index.as_ref().and_then(|index| index.get(&uid))
    }

    /// Whether `uid` is an unreadable file's listing-only UID: the engine never had its
    /// content, so it has nothing to change or delete there, and the file is left alone.
    fn is_unreadable(&self, uid: Uid) -> bool {
        self.entry(uid)
            .is_some_and(|file| file.origin == UidOrigin::Unreadable)
    }

    fn read_message(&self, uid: Uid, file: &MessageFile) -> io::Result<FetchedMessage> {
        let mut handle = File::open(self.file_path(file.subdir, &file.name))?;
        let mut bytes = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
        handle.read_to_end(&mut bytes)?;
        let internal_date = handle
            .metadata()
            .and_then(|metadata| metadata.modified())
            .ok()
            .map(unix_time);
        Ok(FetchedMessage {
            uid,
            bytes,
            internal_date,
        })
    }

    /// Runs `attempt` on the file of `uid`; if the file is gone (renamed by a mail client),
    /// rescans once per call and tries again. `Ok(None)` when the message does not exist.
    fn with_file<T>(
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

    /// Writes one message to `tmp/` (under a name that says who wrote it, see
    /// [`leftovers`]), then moves it into `new/` or `cur/`.
    fn deliver(&self, uid: Uid, message: &NewMessage) -> Result<MessageFile, BackendError> {
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
}

impl Folder for MaildirFolder {
    fn status(&mut self) -> Result<FolderStatus, BackendError> {
        let message_count = u32::try_from(self.rescan()?.len()).unwrap_or(u32::MAX);
        Ok(FolderStatus {
            uid_validity: self.state.uid_validity,
            uid_next: self.listed_uid_next(),
            highest_modseq: None,
            message_count,
            permanent_flags: permanent_flags(),
        })
    }

    fn list_messages(&mut self) -> Result<Vec<MessageInfo>, BackendError> {
        Ok(self
            .rescan()?
            .iter()
            .map(|(uid, file)| MessageInfo {
                uid: *uid,
                flags: file.name.flags(),
                size: file.size,
                modseq: None,
            })
            .collect())
    }

    fn fetch_messages(&mut self, uids: &[Uid]) -> Result<Vec<FetchedMessage>, BackendError> {
        self.ensure_index()?;
        let mut rescanned = false;
        let mut fetched = Vec::with_capacity(uids.len());
        for &uid in uids {
            if let Some(file) = self.entry(uid) {
                if file.origin == UidOrigin::Unreadable {
                    return Err(self.unreadable_error(file));
                }
            }
            if let Some(message) =
                self.with_file("cannot read", uid, &mut rescanned, |folder, file| {
                    folder.read_message(uid, file)
                })?
            {
                fetched.push(message);
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

    fn update_flags(
        &mut self,
        uids: &[Uid],
        add: &Flags,
        remove: &Flags,
    ) -> Result<(), BackendError> {
        self.check_writable("change flags")?;
        self.ensure_index()?;
        let storable = permanent_flags();
        let mut rescanned = false;
        for &uid in uids {
            if self.is_unreadable(uid) {
                continue;
            }
            let moved = self.with_file("cannot rename", uid, &mut rescanned, |folder, file| {
                let flags = storable.storable(&file.name.flags().union(add).difference(remove));
                if flags == file.name.flags() {
                    return Ok(None);
                }
                // A flag change means a client has seen the message: it goes to cur/.
                let renamed = file.name.with_flags(&flags);
                rename_noreplace(
                    &folder.file_path(file.subdir, &file.name),
                    &folder.file_path(Subdir::Cur, &renamed),
                )?;
                Ok(Some((file.subdir, renamed)))
            })?;
            if let Some(Some((from, renamed))) = moved {
                self.unsynced.mark(from);
                self.unsynced.mark(Subdir::Cur);
                if let Some(file) = self.index.as_mut().and_then(|index| index.get_mut(&uid)) {
                    file.subdir = Subdir::Cur;
                    file.name = renamed;
                }
            }
        }
        Ok(())
    }

    fn delete_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
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

    fn flush(&mut self) -> Result<(), BackendError> {
        if self.unsynced.is_empty() {
            return Ok(());
        }
        self.check_writable("make changes durable")?;
        self.sync_subdirs(&self.unsynced)?;
        if self.unsynced.folder {
            sync_dir(&self.dir)
                .map_err(|e| self.io(ErrorScope::Folder, "cannot sync", &self.dir, &e))?;
        }
        self.unsynced = Unsynced::default();
        Ok(())
    }
}
