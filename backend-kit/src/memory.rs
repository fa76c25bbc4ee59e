//! An in-memory reference repository.
//!
//! It is the executable form of the contracts in [`backend_api::Repository`] and
//! [`backend_api::Folder`]: the conformance suite runs against it, and the engine's unit tests
//! use it as both sides of a sync, with fault injection to play the crashes and dropped
//! connections that real backends suffer.
//!
//! Clones share one store, so a test can keep a handle, act as a "mail client" on it
//! ([`MemoryRepository::deliver`], [`MemoryRepository::set_flags`], ...) and inspect the
//! result.
//!
//! It models durability as a file system does: what the engine writes through a folder
//! (appends, flag updates, deletions) is kept apart as *unflushed effects* until that
//! folder's [`Folder::flush`]; [`MemoryRepository::crash`] drops them all (or, with
//! [`MemoryRepository::crash_keeping`], any subset, as a disk that wrote some blocks back
//! and not others), so that an engine that records an effect before it is durable fails a
//! test. [`MemoryRepository::halt`] plays the process dying: every later call fails until
//! the crash. What a "mail client" does ([`MemoryRepository::deliver`], ...) is durable at
//! once (it happens between runs), as are created folders. redb's crash tests, with their
//! durable and live images, are the model.
//!
//! It can keep MODSEQs as an IMAP server does ([`ChangeTracking`]), with CONDSTORE's or
//! QRESYNC's powers, so that the engine's use of [`Folder::list_changes`] can be tested on
//! both tiers, and can lose them ([`MemoryRepository::lose_modseqs`]) as a server restored
//! from a backup does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use backend_api::{
    BackendError, ErrorScope, FetchedMessage, Flags, Folder, FolderChanges, FolderInfo, FolderPath,
    FolderStatus, LineEnding, MessageInfo, NewMessage, PermanentFlags, Repository, RepositoryInfo,
    Retry, Uid, UidValidity, UnixTime,
};

/// A message as the memory store holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    pub bytes: Vec<u8>,
    pub flags: Flags,
    pub internal_date: Option<UnixTime>,
}

#[derive(Clone, Debug)]
struct MemoryFolder {
    uid_validity: UidValidity,
    uid_next: Uid,
    messages: BTreeMap<Uid, StoredMessage>,
    /// The MODSEQ of every change: the highest given so far, each message's last, and
    /// each expunged UID's (QRESYNC's VANISHED).
    highest_modseq: u64,
    modseqs: BTreeMap<Uid, u64>,
    expunged: BTreeMap<Uid, u64>,
    /// The messages as of the last flush: what survives a crash.
    durable: BTreeMap<Uid, StoredMessage>,
    /// The engine's writes since the last flush, in order.
    unflushed: Vec<Effect>,
}

/// One write not yet made durable.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Effect {
    Append(Uid, StoredMessage),
    Flags(Uid, Flags),
    Delete(Uid),
}

impl Effect {
    fn replay(&self, messages: &mut BTreeMap<Uid, StoredMessage>) {
        match self {
            Effect::Append(uid, message) => {
                messages.insert(*uid, message.clone());
            }
            Effect::Flags(uid, flags) => {
                if let Some(message) = messages.get_mut(uid) {
                    message.flags = flags.clone();
                }
            }
            Effect::Delete(uid) => {
                messages.remove(uid);
            }
        }
    }
}

impl MemoryFolder {
    /// Notes a change of `uid` (added or flags changed) under a new MODSEQ.
    fn touch(&mut self, uid: Uid) {
        self.highest_modseq += 1;
        self.modseqs.insert(uid, self.highest_modseq);
    }

    fn remove(&mut self, uid: Uid) {
        if self.messages.remove(&uid).is_some() {
            self.highest_modseq += 1;
            self.modseqs.remove(&uid);
            self.expunged.insert(uid, self.highest_modseq);
        }
    }

    /// Makes every write so far durable.
    fn settle(&mut self) {
        if !self.unflushed.is_empty() {
            self.durable = self.messages.clone();
            self.unflushed.clear();
        }
    }

    /// Loses the unflushed writes `keep` does not keep (it is asked for each, in order,
    /// with its index among the store's unflushed writes), as a crash does. UIDs given out
    /// are not given again (UIDNEXT stays), and what changed gets a new MODSEQ, as a
    /// server or a Maildir rescanned after a crash would give.
    fn crash(&mut self, index: &mut usize, keep: &mut dyn FnMut(usize) -> bool) {
        let mut survived = self.durable.clone();
        for effect in std::mem::take(&mut self.unflushed) {
            if keep(*index) {
                effect.replay(&mut survived);
            }
            *index += 1;
        }
        let before = std::mem::replace(&mut self.messages, survived.clone());
        for (uid, message) in &before {
            match survived.get(uid) {
                None => {
                    self.highest_modseq += 1;
                    self.modseqs.remove(uid);
                    self.expunged.insert(*uid, self.highest_modseq);
                }
                Some(kept) if kept != message => self.touch(*uid),
                Some(_) => {}
            }
        }
        for uid in survived.keys() {
            if !before.contains_key(uid) {
                self.touch(*uid);
            }
        }
        self.durable = survived;
    }
}

/// How much of IMAP's change tracking the memory repository offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeTracking {
    /// No MODSEQs (like Exchange): `list_changes` answers `None`.
    None,
    /// MODSEQs and changed messages, but not which were expunged (IMAP CONDSTORE, as Gmail).
    Changed,
    /// Changed messages and vanished UIDs (IMAP QRESYNC, as Dovecot).
    ChangedAndVanished,
}

/// A fault to inject into the next write operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// How many write operations (one appended message, one flag update, one deleted
    /// message each count as one) succeed before the fault strikes.
    pub after_writes: usize,
    /// Whether the failing operation took effect before the error (a connection that
    /// dropped after the server had done the work).
    pub effect_applied: bool,
}

/// What a store does to the bytes of a message it is given.
pub type Rewrite = fn(&[u8]) -> Vec<u8>;

#[derive(Debug)]
struct MemoryStore {
    folders: BTreeMap<FolderPath, MemoryFolder>,
    next_uid_validity: UidValidity,
    line_ending: LineEnding,
    permanent_flags: PermanentFlags,
    reports_append_uids: bool,
    /// Whether folders start appends (`start_append`) as IMAP with LITERAL+ does.
    starts_appends: bool,
    change_tracking: ChangeTracking,
    fault: Option<Fault>,
    writes: usize,
    refuses_empty: bool,
    /// What the store does to a message it is given (a server that rewrites bytes).
    append_rewrite: Option<Rewrite>,
    /// Set by [`MemoryRepository::halt`]: the "process" is gone, every call fails.
    halted: bool,
}

/// The in-memory repository. Cheap to clone; clones share the store.
#[derive(Clone, Debug)]
pub struct MemoryRepository {
    store: Arc<Mutex<MemoryStore>>,
}

impl Default for MemoryRepository {
    fn default() -> Self {
        MemoryRepository::new()
    }
}

impl MemoryRepository {
    /// An empty repository storing LF line endings, all flags, and reporting new UIDs.
    pub fn new() -> Self {
        MemoryRepository {
            store: Arc::new(Mutex::new(MemoryStore {
                folders: BTreeMap::new(),
                next_uid_validity: 1000,
                line_ending: LineEnding::Lf,
                permanent_flags: PermanentFlags::everything(),
                reports_append_uids: true,
                starts_appends: false,
                change_tracking: ChangeTracking::None,
                fault: None,
                writes: 0,
                refuses_empty: false,
                append_rewrite: None,
                halted: false,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemoryStore> {
        // A panic while holding the lock is a test failure already; keep going with the data.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Builder: the line endings this repository stores (like IMAP with `CrLf`).
    pub fn with_line_ending(self, line_ending: LineEnding) -> Self {
        self.lock().line_ending = line_ending;
        self
    }

    /// Builder: which flags it can store.
    pub fn with_permanent_flags(self, flags: PermanentFlags) -> Self {
        self.lock().permanent_flags = flags;
        self
    }

    /// Builder: whether appends report the new UID (like IMAP UIDPLUS) or `None`.
    pub fn reporting_append_uids(self, reports: bool) -> Self {
        self.lock().reports_append_uids = reports;
        self
    }

    /// Builder: whether folders start appends and answer them later (`start_append`,
    /// `finish_append`), as an IMAP server with LITERAL+ is used; a finished batch is
    /// durable, as a server's tagged OK says.
    pub fn starting_appends(self, starts: bool) -> Self {
        self.lock().starts_appends = starts;
        self
    }

    /// Builder: stores `rewrite(bytes)` for every message appended through a folder, as a
    /// server that rewrites what it is given (Dovecot drops a CR before a CRLF).
    pub fn rewriting_appends(self, rewrite: Rewrite) -> Self {
        self.lock().append_rewrite = Some(rewrite);
        self
    }

    /// Plays the process dying: every later call through the [`Repository`] and
    /// [`Folder`] interfaces fails, until [`MemoryRepository::crash`].
    pub fn halt(&self) {
        self.lock().halted = true;
    }

    /// The process died but the machine did not: the repository works again, and what
    /// was not flushed is still there, still not durable (a later [`Self::crash`] loses it).
    pub fn restart(&self) {
        self.lock().halted = false;
    }

    /// A crash: every write not yet flushed is lost, and the repository works again.
    pub fn crash(&self) {
        self.crash_keeping(|_| false);
    }

    /// A crash that keeps the unflushed writes `keep` says to keep (asked with each one's
    /// index, counting from 0 in folder order, then write order): a disk writes back some
    /// blocks and not others, in no order the writer chose.
    pub fn crash_keeping(&self, mut keep: impl FnMut(usize) -> bool) {
        let mut store = self.lock();
        store.halted = false;
        let mut index = 0;
        for folder in store.folders.values_mut() {
            folder.crash(&mut index, &mut keep);
        }
    }

    /// How many writes are not flushed yet (what a crash now would lose).
    pub fn unflushed_writes(&self) -> usize {
        self.lock()
            .folders
            .values()
            .map(|folder| folder.unflushed.len())
            .sum()
    }

    /// Builder: whether and how it keeps MODSEQs (none by default).
    pub fn with_change_tracking(self, tracking: ChangeTracking) -> Self {
        self.set_change_tracking(tracking);
        self
    }

    /// Changes how it keeps MODSEQs from now on (a server whose capabilities changed);
    /// the MODSEQs kept so far stay.
    pub fn set_change_tracking(&self, tracking: ChangeTracking) {
        self.lock().change_tracking = tracking;
    }

    /// Loses the folder's MODSEQ history, as a server restored from a backup or rebuilt
    /// its index does: HIGHESTMODSEQ starts again from 1 (below what a client saw) while
    /// UIDVALIDITY stays.
    pub fn lose_modseqs(&self, folder: &str) {
        let path = FolderPath::new(folder).expect("test folder name");
        if let Some(folder) = self.lock().folders.get_mut(&path) {
            folder.settle();
            folder.highest_modseq = 1;
            folder.expunged.clear();
            let uids: Vec<Uid> = folder.messages.keys().copied().collect();
            folder.modseqs = uids.into_iter().map(|uid| (uid, 1)).collect();
        }
    }

    /// Refuses, as Dovecot does, to store an empty message, and with it the whole batch
    /// that carries it (a MULTIAPPEND is all or none): a message-scoped error.
    pub fn refusing_empty_messages(self, refuses: bool) -> Self {
        self.lock().refuses_empty = refuses;
        self
    }

    /// Makes a write fail later; see [`Fault`]. Replaces any earlier fault.
    pub fn inject_fault(&self, fault: Fault) {
        let mut store = self.lock();
        store.writes = 0;
        store.fault = Some(fault);
    }

    pub fn clear_fault(&self) {
        self.lock().fault = None;
    }

    /// Creates a folder (as a mail client would).
    pub fn add_folder(&self, path: &str) -> FolderPath {
        let path = FolderPath::new(path).expect("test folder name");
        self.lock().create(&path);
        path
    }

    /// Removes a folder with its messages (as a mail client would).
    pub fn remove_folder(&self, path: &str) {
        let path = FolderPath::new(path).expect("test folder name");
        self.lock().folders.remove(&path);
    }

    /// Delivers a message (as an MTA or mail client would), creating the folder if needed.
    pub fn deliver(&self, folder: &str, bytes: &[u8], flags: Flags) -> Uid {
        let path = FolderPath::new(folder).expect("test folder name");
        let mut store = self.lock();
        store.create(&path);
        let folder = store.folders.get_mut(&path).expect("just created");
        folder.settle();
        let uid = folder.uid_next;
        folder.uid_next += 1;
        folder.messages.insert(
            uid,
            StoredMessage {
                bytes: bytes.to_vec(),
                flags,
                internal_date: Some(1_700_000_000),
            },
        );
        folder.touch(uid);
        folder.durable = folder.messages.clone();
        uid
    }

    /// Sets a message's flags (as a mail client would).
    pub fn set_flags(&self, folder: &str, uid: Uid, flags: Flags) {
        let path = FolderPath::new(folder).expect("test folder name");
        if let Some(folder) = self.lock().folders.get_mut(&path) {
            folder.settle();
            if let Some(message) = folder.messages.get_mut(&uid) {
                message.flags = flags;
                folder.touch(uid);
            }
            folder.durable = folder.messages.clone();
        }
    }

    /// Removes a message (as a mail client would).
    pub fn expunge(&self, folder: &str, uid: Uid) {
        let path = FolderPath::new(folder).expect("test folder name");
        if let Some(folder) = self.lock().folders.get_mut(&path) {
            folder.settle();
            folder.remove(uid);
            folder.durable = folder.messages.clone();
        }
    }

    /// Gives the folder a new UIDVALIDITY and renumbers its messages, as a server does when
    /// a mailbox is recreated.
    pub fn renumber(&self, folder: &str) {
        let path = FolderPath::new(folder).expect("test folder name");
        let mut store = self.lock();
        let validity = store.next_uid_validity;
        store.next_uid_validity += 1;
        if let Some(folder) = store.folders.get_mut(&path) {
            folder.settle();
            let messages: Vec<StoredMessage> =
                std::mem::take(&mut folder.messages).into_values().collect();
            folder.uid_validity = validity;
            folder.uid_next = 1;
            folder.modseqs.clear();
            folder.expunged.clear();
            for message in messages {
                let uid = folder.uid_next;
                folder.messages.insert(uid, message);
                folder.touch(uid);
                folder.uid_next += 1;
            }
            folder.durable = folder.messages.clone();
        }
    }

    /// The messages of a folder in UID order (empty if there is no such folder).
    pub fn messages(&self, folder: &str) -> Vec<(Uid, StoredMessage)> {
        let path = FolderPath::new(folder).expect("test folder name");
        self.lock()
            .folders
            .get(&path)
            .map(|f| {
                f.messages
                    .iter()
                    .map(|(uid, m)| (*uid, m.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The names of all folders.
    pub fn folder_names(&self) -> Vec<String> {
        self.lock().folders.keys().map(|p| p.to_string()).collect()
    }
}

impl MemoryStore {
    fn create(&mut self, path: &FolderPath) {
        if !self.folders.contains_key(path) {
            let uid_validity = self.next_uid_validity;
            self.next_uid_validity += 1;
            self.folders.insert(
                path.clone(),
                MemoryFolder {
                    uid_validity,
                    uid_next: 1,
                    messages: BTreeMap::new(),
                    highest_modseq: 1,
                    modseqs: BTreeMap::new(),
                    expunged: BTreeMap::new(),
                    durable: BTreeMap::new(),
                    unflushed: Vec::new(),
                },
            );
        }
    }

    fn alive(&self) -> Result<(), BackendError> {
        if self.halted {
            return Err(BackendError::new(
                ErrorScope::Repository,
                Retry::Later,
                "simulated crash: the process is gone",
            ));
        }
        Ok(())
    }

    /// Counts one write; says whether to apply it and whether to fail after.
    fn write(&mut self) -> (bool, Result<(), BackendError>) {
        let Some(fault) = self.fault else {
            return (true, Ok(()));
        };
        if self.writes < fault.after_writes {
            self.writes += 1;
            return (true, Ok(()));
        }
        let error = BackendError::new(
            ErrorScope::Repository,
            Retry::Later,
            "injected fault: connection lost",
        );
        (fault.effect_applied, Err(error))
    }

    fn folder(&mut self, path: &FolderPath) -> Result<&mut MemoryFolder, BackendError> {
        self.alive()?;
        self.folders
            .get_mut(path)
            .ok_or_else(|| BackendError::folder(format!("folder {path} does not exist")))
    }
}

impl Repository for MemoryRepository {
    fn info(&self) -> Result<RepositoryInfo, BackendError> {
        let store = self.lock();
        store.alive()?;
        Ok(RepositoryInfo {
            line_ending: store.line_ending,
        })
    }

    fn list_folders(&self) -> Result<Vec<FolderInfo>, BackendError> {
        let store = self.lock();
        store.alive()?;
        Ok(store
            .folders
            .keys()
            .map(|path| FolderInfo {
                path: path.clone(),
                selectable: true,
            })
            .collect())
    }

    fn create_folder(&self, path: &FolderPath) -> Result<(), BackendError> {
        let mut store = self.lock();
        store.alive()?;
        store.create(path);
        Ok(())
    }

    fn open_folder(&self, path: &FolderPath) -> Result<Box<dyn Folder>, BackendError> {
        self.lock().folder(path)?;
        Ok(Box::new(MemoryFolderHandle {
            repository: self.clone(),
            path: path.clone(),
            started: std::collections::VecDeque::new(),
        }))
    }
}

struct MemoryFolderHandle {
    repository: MemoryRepository,
    path: FolderPath,
    /// The answers of the batches started and not finished, oldest first.
    started: std::collections::VecDeque<Result<Vec<Option<Uid>>, BackendError>>,
}

impl Folder for MemoryFolderHandle {
    fn status(&mut self) -> Result<FolderStatus, BackendError> {
        let mut store = self.repository.lock();
        let permanent_flags = store.permanent_flags.clone();
        let tracking = store.change_tracking;
        let folder = store.folder(&self.path)?;
        Ok(FolderStatus {
            uid_validity: folder.uid_validity,
            uid_next: folder.uid_next,
            highest_modseq: (tracking != ChangeTracking::None).then_some(folder.highest_modseq),
            message_count: folder.messages.len() as u32,
            permanent_flags,
        })
    }

    fn list_messages(&mut self) -> Result<Vec<MessageInfo>, BackendError> {
        let mut store = self.repository.lock();
        let tracking = store.change_tracking;
        let folder = store.folder(&self.path)?;
        Ok(folder
            .messages
            .iter()
            .map(|(uid, message)| folder.info(*uid, message, tracking))
            .collect())
    }

    fn fetch_messages(&mut self, uids: &[Uid]) -> Result<Vec<FetchedMessage>, BackendError> {
        let mut store = self.repository.lock();
        let folder = store.folder(&self.path)?;
        Ok(uids
            .iter()
            .filter_map(|uid| {
                folder.messages.get(uid).map(|message| FetchedMessage {
                    uid: *uid,
                    bytes: message.bytes.clone().into(),
                    internal_date: message.internal_date,
                })
            })
            .collect())
    }

    fn append_messages(
        &mut self,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Option<Uid>>, BackendError> {
        let mut store = self.repository.lock();
        if store.refuses_empty && messages.iter().any(|m| m.bytes.is_empty()) {
            return Err(BackendError::message(format!(
                "folder {}: can't save a zero byte message",
                self.path
            )));
        }
        let reports = store.reports_append_uids;
        let permanent = store.permanent_flags.clone();
        let rewrite = store.append_rewrite;
        store.folder(&self.path)?;
        let mut uids = Vec::with_capacity(messages.len());
        for message in messages {
            let (apply, outcome) = store.write();
            if apply {
                let folder = store.folder(&self.path)?;
                let uid = folder.uid_next;
                folder.uid_next += 1;
                let stored = StoredMessage {
                    bytes: match rewrite {
                        Some(rewrite) => rewrite(&message.bytes),
                        None => message.bytes.into_vec(),
                    },
                    flags: permanent.storable(&message.flags),
                    internal_date: message.internal_date,
                };
                folder.unflushed.push(Effect::Append(uid, stored.clone()));
                folder.messages.insert(uid, stored);
                folder.touch(uid);
                uids.push(reports.then_some(uid));
            }
            outcome?;
        }
        Ok(uids)
    }

    fn update_flags(
        &mut self,
        uids: &[Uid],
        add: &Flags,
        remove: &Flags,
    ) -> Result<(), BackendError> {
        let mut store = self.repository.lock();
        let permanent = store.permanent_flags.clone();
        store.folder(&self.path)?;
        for uid in uids {
            let (apply, outcome) = store.write();
            if apply {
                let folder = store.folder(&self.path)?;
                if let Some(message) = folder.messages.get_mut(uid) {
                    let flags = permanent.storable(&message.flags.union(add).difference(remove));
                    // As IMAP: a STORE that changes nothing gives no new MODSEQ.
                    if flags != message.flags {
                        message.flags = flags.clone();
                        folder.touch(*uid);
                        folder.unflushed.push(Effect::Flags(*uid, flags));
                    }
                }
            }
            outcome?;
        }
        Ok(())
    }

    fn delete_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        let mut store = self.repository.lock();
        store.folder(&self.path)?;
        for uid in uids {
            let (apply, outcome) = store.write();
            if apply {
                let folder = store.folder(&self.path)?;
                if folder.messages.contains_key(uid) {
                    folder.unflushed.push(Effect::Delete(*uid));
                }
                folder.remove(*uid);
            }
            outcome?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        // What a crash would have lost until now survives it from here on.
        self.repository.lock().folder(&self.path)?.settle();
        Ok(())
    }

    fn start_append(
        &mut self,
        messages: Vec<NewMessage>,
    ) -> Result<Option<Vec<NewMessage>>, BackendError> {
        if !self.repository.lock().starts_appends {
            return Ok(Some(messages));
        }
        // Stored now, answered at the finish: a refusal is an answer, anything else fails
        // the start (a connection lost while sending).
        match self.append_messages(messages) {
            Err(error) if error.scope != ErrorScope::Message => Err(error),
            answer => {
                self.started.push_back(answer);
                Ok(None)
            }
        }
    }

    fn finish_append(&mut self) -> Result<Vec<Option<Uid>>, BackendError> {
        let answer = self.started.pop_front().ok_or_else(|| {
            BackendError::folder("finish_append without a batch started (a bug in the caller)")
        })?;
        let uids = answer?;
        // Finished means durable.
        self.flush()?;
        Ok(uids)
    }

    fn list_changes(&mut self, since: u64) -> Result<Option<FolderChanges>, BackendError> {
        let mut store = self.repository.lock();
        let tracking = store.change_tracking;
        let folder = store.folder(&self.path)?;
        // A MODSEQ above the highest given out is one this history does not reach back to
        // (it was lost): as a server that answers NOMODSEQ, decline.
        if tracking == ChangeTracking::None || since > folder.highest_modseq {
            return Ok(None);
        }
        let changed = folder
            .messages
            .iter()
            .filter(|(uid, _)| {
                folder
                    .modseqs
                    .get(uid)
                    .is_some_and(|modseq| *modseq > since)
            })
            .map(|(uid, message)| folder.info(*uid, message, tracking))
            .collect();
        let vanished = (tracking == ChangeTracking::ChangedAndVanished).then(|| {
            folder
                .expunged
                .iter()
                .filter(|(_, modseq)| **modseq > since)
                .map(|(uid, _)| *uid)
                .collect()
        });
        Ok(Some(FolderChanges { changed, vanished }))
    }
}

impl MemoryFolder {
    /// How message `uid` is listed.
    fn info(&self, uid: Uid, message: &StoredMessage, tracking: ChangeTracking) -> MessageInfo {
        MessageInfo {
            uid,
            flags: message.flags.clone(),
            size: message.bytes.len() as u64,
            modseq: (tracking != ChangeTracking::None)
                .then(|| self.modseqs.get(&uid).copied().unwrap_or(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_repository_passes_the_conformance_suite() {
        let store = MemoryRepository::new();
        crate::conformance::check_repository(&|| Box::new(store.clone()) as Box<dyn Repository>);
    }

    #[test]
    fn memory_repository_with_crlf_and_no_uidplus_passes_too() {
        let store = MemoryRepository::new()
            .with_line_ending(LineEnding::CrLf)
            .reporting_append_uids(false);
        crate::conformance::check_repository(&|| Box::new(store.clone()) as Box<dyn Repository>);
    }

    #[test]
    fn memory_repository_keeping_modseqs_passes_too() {
        for tracking in [ChangeTracking::Changed, ChangeTracking::ChangedAndVanished] {
            let store = MemoryRepository::new().with_change_tracking(tracking);
            crate::conformance::check_repository(&|| {
                Box::new(store.clone()) as Box<dyn Repository>
            });
        }
    }

    #[test]
    fn changes_since_a_modseq_and_a_lost_history() {
        let repository =
            MemoryRepository::new().with_change_tracking(ChangeTracking::ChangedAndVanished);
        let path = repository.add_folder("INBOX");
        let a = repository.deliver("INBOX", b"a", Flags::new());
        let b = repository.deliver("INBOX", b"b", Flags::new());
        let mut folder = repository.open_folder(&path).unwrap();
        let since = folder.status().unwrap().highest_modseq.unwrap();
        let none = folder.list_changes(since).unwrap().unwrap();
        assert!(none.changed.is_empty() && none.vanished == Some(vec![]));

        repository.set_flags(
            "INBOX",
            a,
            Flags::from_system(&[backend_api::SystemFlag::Seen]),
        );
        repository.expunge("INBOX", b);
        let c = repository.deliver("INBOX", b"c", Flags::new());
        let changes = folder.list_changes(since).unwrap().unwrap();
        let changed: Vec<Uid> = changes.changed.iter().map(|m| m.uid).collect();
        assert_eq!(changed, vec![a, c]);
        assert_eq!(changes.vanished, Some(vec![b]));

        repository.set_change_tracking(ChangeTracking::Changed);
        assert_eq!(folder.list_changes(since).unwrap().unwrap().vanished, None);

        let later = folder.status().unwrap().highest_modseq.unwrap();
        repository.lose_modseqs("INBOX");
        assert!(folder.status().unwrap().highest_modseq.unwrap() < later);
        assert_eq!(
            folder.list_changes(later).unwrap(),
            None,
            "a lost history declines"
        );
    }

    #[test]
    fn a_crash_loses_what_was_not_flushed_and_only_that() {
        let repository = MemoryRepository::new();
        let path = repository.add_folder("INBOX");
        let kept = repository.deliver("INBOX", b"delivered", Flags::new());
        let mut folder = repository.open_folder(&path).unwrap();
        let message = |bytes: &[u8]| NewMessage {
            bytes: bytes.to_vec().into(),
            flags: Flags::new(),
            internal_date: None,
        };
        folder.append_messages(vec![message(b"flushed")]).unwrap();
        folder.flush().unwrap();
        folder.append_messages(vec![message(b"lost")]).unwrap();
        let seen = Flags::from_system(&[backend_api::SystemFlag::Seen]);
        folder.update_flags(&[kept], &seen, &Flags::new()).unwrap();
        assert_eq!(repository.unflushed_writes(), 2);

        repository.halt();
        assert!(folder.status().is_err(), "a halted process does nothing");
        repository.crash();
        let bytes: Vec<Vec<u8>> = repository
            .messages("INBOX")
            .into_iter()
            .map(|(_, m)| m.bytes)
            .collect();
        assert_eq!(bytes, vec![b"delivered".to_vec(), b"flushed".to_vec()]);
        assert!(repository.messages("INBOX")[0].1.flags.is_empty());
        let status = folder.status().unwrap();
        assert_eq!(status.uid_next, 4, "a UID given out is not given again");
    }

    #[test]
    fn a_crash_can_keep_any_subset_of_the_unflushed_writes() {
        let repository = MemoryRepository::new();
        let path = repository.add_folder("INBOX");
        let doomed = repository.deliver("INBOX", b"doomed", Flags::new());
        let mut folder = repository.open_folder(&path).unwrap();
        let message = |bytes: &[u8]| NewMessage {
            bytes: bytes.to_vec().into(),
            flags: Flags::new(),
            internal_date: None,
        };
        folder
            .append_messages(vec![message(b"a"), message(b"b")])
            .unwrap();
        folder.delete_messages(&[doomed]).unwrap();
        // Keep the second append and the deletion, lose the first append.
        repository.crash_keeping(|index| index != 0);
        let bytes: Vec<Vec<u8>> = repository
            .messages("INBOX")
            .into_iter()
            .map(|(_, m)| m.bytes)
            .collect();
        assert_eq!(bytes, vec![b"b".to_vec()]);
        assert_eq!(repository.unflushed_writes(), 0);
    }

    #[test]
    fn faults_strike_after_the_given_number_of_writes() {
        let repository = MemoryRepository::new();
        let path = repository.add_folder("INBOX");
        let mut folder = repository.open_folder(&path).unwrap();
        repository.inject_fault(Fault {
            after_writes: 1,
            effect_applied: true,
        });
        let message = |n: u8| NewMessage {
            bytes: vec![b'a' + n].into(),
            flags: Flags::new(),
            internal_date: None,
        };
        let error = folder
            .append_messages(vec![message(0), message(1), message(2)])
            .unwrap_err();
        assert_eq!(error.retry, Retry::Later);
        // The second append took effect before the "connection" dropped; the third never ran.
        assert_eq!(repository.messages("INBOX").len(), 2);
    }
}
