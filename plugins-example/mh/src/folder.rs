//! One MH folder: numbered message files, `.mh_sequences` for flags, our state file.
//!
//! Every operation holds the folder lock (see `locking`) and starts from the disk as it
//! is, since nmh changes the folder between our calls: `inc` adds messages, `rmm` removes
//! them, `mark` changes sequences, `folder -pack` renumbers. A listing reconciles the
//! files with the last listing's fingerprints (see `reconcile`) and carries the decision
//! out: it records new messages, renumbers a message found at a used number, or starts a
//! new UIDVALIDITY after a renumbering. Operations on given UIDs check that the file is
//! still the message listed (by `stat`, then by identity) before touching it, so a number
//! that changed hands since the listing is left alone.
//!
//! Writes follow the interface's durability rule: a new message is written to a
//! temporary dot-file in the folder, fsynced, and given its number with a rename that
//! never replaces a file; `.mh_sequences` and the state file are replaced atomically; the
//! folder directory is fsynced at [`Folder::flush`], once per batch. Renumbering and a new
//! UIDVALIDITY are made durable before the listing that reports them returns.
//!
//! In a dry run (read-only) nothing on disk changes: a folder without a state file, or
//! one found renumbered, gets a provisional UIDVALIDITY kept while the folder is open,
//! and a message that would be renumbered is listed under the number it would get
//! (provisional UIDs, given in number order so that two listings agree).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use backend_api::{
    BackendError, ErrorScope, FetchedMessage, Flags, Folder, FolderPath, FolderStatus, MessageInfo,
    NewMessage, PermanentFlags, Retry, SystemFlag, Uid, UidValidity,
};
use backend_kit::durable::{rename_noreplace, sync_dir, unix_time, write_synced};
use backend_kit::store::check_writable;

use crate::identity::identity;
use crate::layout::message_number;
use crate::locking::{self, FolderLock, SequencesLock, SEQUENCES_TMP_FILE};
use crate::options::SequenceNames;
use crate::reconcile::{reconcile, FoundFile, IdentityRead};
use crate::sequences::Sequences;
use crate::state::{self, Fingerprint, FolderState, Stamp, STATE_TMP_FILE};

/// The prefix of our temporary message files (a dot-file: nmh ignores it).
const TMP_PREFIX: &str = ".twinbox-mh-tmp.";

/// What an MH folder stores: the five system flags, each in a sequence; no keywords.
pub(crate) fn permanent_flags() -> PermanentFlags {
    PermanentFlags {
        flags: Flags::all_system(),
        any_keyword: false,
    }
}

/// One message as the last listing (or our own change) left it.
#[derive(Clone, Copy, Debug)]
struct Listed {
    /// The file's number; the UID too, except for a provisional UID in a dry run.
    number: Uid,
    fingerprint: Fingerprint,
}

/// An open MH folder.
pub(crate) struct MhFolder {
    path: FolderPath,
    dir: PathBuf,
    names: Arc<SequenceNames>,
    /// A dry run: nothing is created, renamed, removed or written.
    read_only: bool,
    /// The state file as last read or written; `None` when there is none.
    state: Option<FolderState>,
    /// The state file's stamp when last read or written, to skip re-reading it.
    state_stamp: Option<Stamp>,
    /// UID -> message, from the last listing; `None` until the first.
    index: Option<BTreeMap<Uid, Listed>>,
    /// The UIDVALIDITY and next UID of the last listing.
    uid_validity: UidValidity,
    uid_next: Uid,
    /// The UIDVALIDITY `status` reported: it must not change while the folder is open.
    reported: Option<UidValidity>,
    /// In a dry run, the provisional UIDVALIDITY made to replace the state file's one
    /// (`None`: there is no state file), reused by every listing.
    provisional: Option<(Option<UidValidity>, UidValidity)>,
    /// Entries of the folder directory changed since the last flush.
    unsynced: bool,
}

impl MhFolder {
    /// Opens the folder in `dir` (an existing directory). Opened for writing, it first
    /// removes what interrupted writes left behind; either way it checks the state file.
    pub fn open(
        path: FolderPath,
        dir: PathBuf,
        names: Arc<SequenceNames>,
        read_only: bool,
    ) -> Result<Self, BackendError> {
        let mut folder = MhFolder {
            path,
            dir,
            names,
            read_only,
            state: None,
            state_stamp: None,
            index: None,
            uid_validity: 0,
            uid_next: 1,
            reported: None,
            provisional: None,
            unsynced: false,
        };
        let _lock = folder.lock()?;
        if !read_only {
            folder.remove_leftovers();
        }
        folder.reload_state()?;
        Ok(folder)
    }

    fn context(&self, error: BackendError) -> BackendError {
        error.context(format_args!("folder {}", self.path))
    }

    fn io(&self, scope: ErrorScope, what: &str, path: &Path, error: &io::Error) -> BackendError {
        let error = BackendError::io(
            scope,
            format_args!("folder {}: {what} {}", self.path, path.display()),
            error,
        );
        if error.retry == Retry::Now {
            // A lock we gave up waiting for: the other program may still be at work.
            error.with_retry(Retry::Later)
        } else {
            error
        }
    }

    fn exhausted(&self) -> BackendError {
        BackendError::folder(format!(
            "folder {}: every message number up to {} is used; renumber it with `folder \
             -pack` (twinbox then gives it a new UIDVALIDITY)",
            self.path,
            Uid::MAX
        ))
    }

    /// Refuses every write in a dry run.
    fn check_writable(&self, what: &str) -> Result<(), BackendError> {
        check_writable(self.read_only, "MH", &self.path, what)
    }

    fn lock(&self) -> Result<FolderLock, BackendError> {
        locking::lock_folder(&self.dir, self.read_only)
            .map_err(|e| self.io(ErrorScope::Folder, "cannot lock", &self.dir, &e))
    }

    fn message_path(&self, number: Uid) -> PathBuf {
        self.dir.join(number.to_string())
    }

    /// Removes our temporary files. Called under the folder lock, which every writer of
    /// them holds: any found is abandoned.
    fn remove_leftovers(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TMP_PREFIX) || name == STATE_TMP_FILE || name == SEQUENCES_TMP_FILE
            {
                match fs::remove_file(entry.path()) {
                    Ok(()) => log::info!(
                        "folder {}: removed {}, left by an interrupted write",
                        self.path,
                        entry.path().display()
                    ),
                    Err(error) => log::warn!(
                        "folder {}: cannot remove {}: {error}",
                        self.path,
                        entry.path().display()
                    ),
                }
            }
        }
    }

    /// Re-reads the state file if it changed since we last read or wrote it. One deleted
    /// while the folder is open is written back from memory at the next change.
    fn reload_state(&mut self) -> Result<(), BackendError> {
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
    fn save_state(&mut self, new: FolderState) -> Result<bool, BackendError> {
        if self.state.as_ref() == Some(&new) && self.state_stamp.is_some() {
            return Ok(false);
        }
        state::write(&self.dir, &new).map_err(|e| self.context(e))?;
        self.state = Some(new);
        self.state_stamp = state::file_stamp(&self.dir);
        self.unsynced = true;
        Ok(true)
    }

    fn sync(&mut self) -> Result<(), BackendError> {
        sync_dir(&self.dir)
            .map_err(|e| self.io(ErrorScope::Folder, "cannot sync", &self.dir, &e))?;
        self.unsynced = false;
        Ok(())
    }

    /// The message files in the folder, by number.
    fn read_files(&self) -> Result<Vec<FoundFile>, BackendError> {
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
    fn read_numbers(&self) -> Result<Vec<Uid>, BackendError> {
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| self.io(ErrorScope::Folder, "cannot list", &self.dir, &e))?;
        Ok(entries
            .flatten()
            .filter_map(|entry| entry.file_name().to_str().and_then(message_number))
            .collect())
    }

    /// A fresh UIDVALIDITY replacing `previous`: provisional (and the same for every
    /// listing) in a dry run.
    fn fresh_uid_validity(&mut self, previous: Option<UidValidity>) -> UidValidity {
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
    fn scan(&mut self) -> Result<(), BackendError> {
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

    fn ensure_index(&mut self) -> Result<(), BackendError> {
        if self.index.is_none() {
            self.scan()?;
        }
        Ok(())
    }

    fn listed(&self, uid: Uid) -> Option<Listed> {
        self.index
            .as_ref()
            .and_then(|index| index.get(&uid))
            .copied()
    }

    /// The public sequences, read under nmh's shared lock.
    fn read_sequences(&self) -> Result<Sequences, BackendError> {
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
    fn modify_sequences(
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

    /// Whether the file at `path` is still the message `fingerprint` describes.
    fn is_still(path: &Path, fingerprint: &Fingerprint) -> io::Result<bool> {
        if Stamp::of(&fs::metadata(path)?) == fingerprint.stamp {
            return Ok(true);
        }
        Ok(identity(&fs::read(path)?) == fingerprint.identity)
    }

    /// Writes one message to a temporary file and gives it the first free number from
    /// `next` on (advancing `next` past it).
    fn deliver(
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
    fn record(
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
}

/// Puts `number` in exactly the sequences its `flags` call for.
fn set_flags(sequences: &mut Sequences, names: &SequenceNames, number: Uid, flags: &Flags) {
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

impl Folder for MhFolder {
    fn status(&mut self) -> Result<FolderStatus, BackendError> {
        let _lock = self.lock()?;
        self.scan()?;
        self.reported = Some(self.uid_validity);
        let message_count = self
            .index
            .as_ref()
            .map_or(0, |index| u32::try_from(index.len()).unwrap_or(u32::MAX));
        Ok(FolderStatus {
            uid_validity: self.uid_validity,
            uid_next: self.uid_next,
            highest_modseq: None,
            message_count,
            permanent_flags: permanent_flags(),
        })
    }

    fn list_messages(&mut self) -> Result<Vec<MessageInfo>, BackendError> {
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

    fn fetch_messages(&mut self, uids: &[Uid]) -> Result<Vec<FetchedMessage>, BackendError> {
        let _lock = self.lock()?;
        self.ensure_index()?;
        let mut fetched = Vec::with_capacity(uids.len());
        for &uid in uids {
            let Some(listed) = self.listed(uid) else {
                continue;
            };
            let path = self.message_path(listed.number);
            let mut file = match File::open(&path) {
                Ok(file) => file,
                Err(error) if error.kind() == ErrorKind::NotFound => continue,
                Err(error) => {
                    return Err(self.io(ErrorScope::Message, "cannot read", &path, &error))
                }
            };
            let metadata = file
                .metadata()
                .map_err(|e| self.io(ErrorScope::Message, "cannot read", &path, &e))?;
            let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
            file.read_to_end(&mut bytes)
                .map_err(|e| self.io(ErrorScope::Message, "cannot read", &path, &e))?;
            if Stamp::of(&metadata) != listed.fingerprint.stamp
                && identity(&bytes) != listed.fingerprint.identity
            {
                log::info!(
                    "folder {}: {} is no longer the message listed as UID {uid}; the next \
                     listing sorts it out",
                    self.path,
                    path.display()
                );
                continue;
            }
            fetched.push(FetchedMessage {
                uid,
                bytes,
                internal_date: metadata.modified().ok().map(unix_time),
            });
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

    fn update_flags(
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

    fn delete_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
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

    fn flush(&mut self) -> Result<(), BackendError> {
        if !self.unsynced {
            return Ok(());
        }
        self.check_writable("make changes durable")?;
        let _lock = self.lock()?;
        self.sync()
    }
}
