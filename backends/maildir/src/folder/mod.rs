//! One Maildir folder: its messages, their UIDs and flags, all read from file names.
//!
//! The folder keeps an index from UID to file, built by a scan of `new/` and `cur/`.
//! Mail clients rename files under our feet (they mark messages seen, move them from
//! `new/` to `cur/`), so an operation that finds its file gone rescans once and retries
//! before concluding that the message no longer exists. `status` and `list_messages`
//! scan again only when `new/` or `cur/` may have changed since the last scan (their
//! stamps, see [`MaildirFolder::current_index`]): the engine asks for the status before
//! every batch it copies, and a folder of 100,000 messages must not be read each time.
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
//!
//! This file holds the folder's types, opening and the `Folder` trait; the work is in
//! `listing` (the scan and the UIDs), `reading`, `writing` and `flags`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use backend_api::{
    BackendError, ErrorScope, FetchedMessage, Flags, Folder, FolderPath, FolderStatus, MessageInfo,
    NewMessage, PermanentFlags, Retry, Uid,
};
use backend_kit::durable::{
    create_dir_durably, rename_noreplace, sync_dir, sync_files, unix_time, write_dated,
};
use backend_kit::store::check_writable;

use crate::leftovers;
use crate::names::{size_in_name, tmp_file_name, unique_part, MessageName, FORWARDED};
use crate::uidstate::{self, Fmd5, UidState};

mod flags;
mod listing;
mod reading;
mod writing;

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
    /// `tmp/`, which new files were renamed out of: synced so that a crash cannot bring
    /// back their names there (the file system may need it to make a rename whole).
    tmp: bool,
    /// The folder directory itself (the state file was replaced).
    folder: bool,
}

impl Unsynced {
    fn is_empty(&self) -> bool {
        !(self.new || self.cur || self.tmp || self.folder)
    }

    fn mark(&mut self, subdir: Subdir) {
        match subdir {
            Subdir::New => self.new = true,
            Subdir::Cur => self.cur = true,
        }
    }
}

/// One directory as `stat` saw it: what changes whenever a name is created, renamed or
/// removed in it (or the directory itself is replaced).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DirStamp {
    dev: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// `new/` and `cur/` as they were just before the scan that built the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ScanStamps {
    new: DirStamp,
    cur: DirStamp,
}

/// How long before a scan `new/` and `cur/` must have last changed for the scan to be
/// trusted while they keep their stamps (see [`ScanStamps::settled_before`]). Longer than
/// the coarsest time step of the file systems Maildirs live on (FAT: 2 s). The unit tests
/// use less, as they wait for it; Linux file systems step by a kernel tick or less.
#[cfg(not(test))]
const SETTLED_AFTER: Duration = Duration::from_secs(2);
#[cfg(test)]
const SETTLED_AFTER: Duration = Duration::from_millis(50);

impl ScanStamps {
    /// Whether no change after `started` can leave these stamps as they are.
    ///
    /// File systems keep times in steps (a kernel tick on ext4, up to 2 s elsewhere): a
    /// change in the same step as the one that set a directory's mtime leaves it as it
    /// was, so a stamp taken just after a change could hide the next. When every time in
    /// the stamps lies more than [`SETTLED_AFTER`] before the scan started, any later
    /// change gives a later time. A folder that changed just before (during a sync, by
    /// our own appends) is scanned again at the next look: a readdir, no worse than
    /// without the stamps.
    fn settled_before(&self, started: SystemTime) -> bool {
        let Some(limit) = started
            .checked_sub(SETTLED_AFTER)
            .and_then(|limit| limit.duration_since(SystemTime::UNIX_EPOCH).ok())
        else {
            return false;
        };
        let Ok(seconds) = i64::try_from(limit.as_secs()) else {
            return false;
        };
        let limit = (seconds, i64::from(limit.subsec_nanos()));
        [self.new, self.cur]
            .iter()
            .all(|dir| dir.mtime < limit && dir.ctime < limit)
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

/// The FMD5 a folder new to twinbox accepts besides its own, `own`: the one that at least
/// nine in ten of its files carrying `U=` and an FMD5 share, when that is not `own`.
///
/// OfflineIMAP tags a file with the MD5 of the folder's name *after* the local
/// repository's `nametrans` (its "visible" name), so with a local `nametrans` its files
/// carry another FMD5 than the MD5 of the directory's name. Those `U=` are the UIDs its
/// state pairs, and renaming every file would lose the pairs (and re-download nothing, but
/// change every file). A file a mail client moved in from another folder carries that
/// folder's FMD5; such files are the exception in a folder, not nine in ten, and when a
/// folder new to twinbox holds only them, keeping their UIDs is harmless: they are unique
/// in the folder (a copy's UID is replaced, as always) and no state refers to the folder
/// yet. Files with any other FMD5 are still taken for moved in and get new UIDs.
pub(crate) fn adopted_fmd5(names: &[MessageName], own: &str) -> Option<Fmd5> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut total = 0;
    for name in names {
        if let (Some(_), Some(fmd5)) = (name.uid, &name.fmd5) {
            total += 1;
            *counts.entry(fmd5.to_ascii_lowercase()).or_default() += 1;
        }
    }
    let (fmd5, count) = counts.into_iter().max_by_key(|(_, count)| *count)?;
    if fmd5.eq_ignore_ascii_case(own) || count * 10 < total * 9 {
        return None;
    }
    Fmd5::parse(&fmd5)
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
    /// When the index is exactly what a scan found (no change of ours since) and that
    /// scan can be trusted to be current for as long as `new/` and `cur/` keep these
    /// stamps: see [`MaildirFolder::current_index`].
    scanned: Option<ScanStamps>,
    unsynced: Unsynced,
    /// A dry run: nothing is renamed, created, removed or written.
    read_only: bool,
    /// The unreadable files already warned about, so each is warned about once.
    warned: HashSet<(Subdir, String)>,
}

impl MaildirFolder {
    /// Opens the folder in `dir` (which has `cur/` and `new/`). A folder without a state
    /// file gets one now, with a new UIDVALIDITY and the next UID above every UID its
    /// file names already carry (OfflineIMAP's, typically): those keep their UIDs. If
    /// nearly all of those files carry one FMD5 other than the folder's own (OfflineIMAP's
    /// with a local `nametrans`), the folder accepts it too, for good: see [`adopted_fmd5`].
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
                accepted_fmd5: None,
            },
            index: None,
            scanned: None,
            // What an earlier process renamed or replaced here may not be durable yet
            // if it died before its flush: the first flush syncs it too, so that what
            // the engine records of a listing holds after a power cut.
            unsynced: if read_only {
                Unsynced::default()
            } else {
                Unsynced {
                    new: true,
                    cur: true,
                    tmp: false,
                    folder: true,
                }
            },
            read_only,
            warned: HashSet::new(),
        };
        let _lock = uidstate::lock(&folder.dir).map_err(|e| folder.context(e))?;
        if !read_only {
            uidstate::remove_leftover(&folder.dir);
            leftovers::clean_tmp(&folder.dir, SystemTime::now());
            if uidstate::migrate(&folder.dir).map_err(|e| folder.context(e))? {
                sync_dir(&folder.dir)
                    .map_err(|e| folder.io(ErrorScope::Folder, "cannot sync", &folder.dir, &e))?;
            }
        }
        folder.state = match uidstate::read(&folder.dir).map_err(|e| folder.context(e))? {
            Some(state) => state,
            None => {
                let names: Vec<MessageName> = folder
                    .read_files()?
                    .iter()
                    .map(|file| MessageName::parse(&file.file_name))
                    .collect();
                folder.state.accepted_fmd5 = adopted_fmd5(&names, &folder.fmd5);
                if let Some(fmd5) = &folder.state.accepted_fmd5 {
                    log::info!(
                        "folder {}: its files carry FMD5 {} (OfflineIMAP's, with a nametrans \
                         on the local repository): their U= are kept as the folder's UIDs",
                        folder.path,
                        fmd5.as_str()
                    );
                }
                let highest = names
                    .iter()
                    .filter_map(|name| folder.own_uid(name))
                    .max()
                    .unwrap_or(0);
                let state =
                    UidState::fresh(folder.next_after(highest)?, folder.state.accepted_fmd5);
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

    /// The UID in `name` if it is this folder's: tagged with its FMD5, or with the FMD5
    /// it accepted.
    pub(super) fn own_uid(&self, name: &MessageName) -> Option<Uid> {
        name.uid_for(&self.fmd5).or_else(|| {
            self.state
                .accepted_fmd5
                .as_ref()
                .and_then(|fmd5| name.uid_for(fmd5.as_str()))
        })
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
}

impl Folder for MaildirFolder {
    fn status(&mut self) -> Result<FolderStatus, BackendError> {
        let message_count = u32::try_from(self.current_index()?.len()).unwrap_or(u32::MAX);
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
            .current_index()?
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
        self.fetch(uids)
    }

    fn append_messages(
        &mut self,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Option<Uid>>, BackendError> {
        self.append(messages)
    }

    fn update_flags(
        &mut self,
        uids: &[Uid],
        add: &Flags,
        remove: &Flags,
    ) -> Result<(), BackendError> {
        self.change_flags(uids, add, remove)
    }

    fn delete_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        self.delete(uids)
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
