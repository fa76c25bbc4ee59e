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

#[derive(Debug)]
struct MemoryStore {
    folders: BTreeMap<FolderPath, MemoryFolder>,
    next_uid_validity: UidValidity,
    line_ending: LineEnding,
    permanent_flags: PermanentFlags,
    reports_append_uids: bool,
    change_tracking: ChangeTracking,
    fault: Option<Fault>,
    writes: usize,
    refuses_empty: bool,
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
                change_tracking: ChangeTracking::None,
                fault: None,
                writes: 0,
                refuses_empty: false,
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
        uid
    }

    /// Sets a message's flags (as a mail client would).
    pub fn set_flags(&self, folder: &str, uid: Uid, flags: Flags) {
        let path = FolderPath::new(folder).expect("test folder name");
        if let Some(folder) = self.lock().folders.get_mut(&path) {
            if let Some(message) = folder.messages.get_mut(&uid) {
                message.flags = flags;
                folder.touch(uid);
            }
        }
    }

    /// Removes a message (as a mail client would).
    pub fn expunge(&self, folder: &str, uid: Uid) {
        let path = FolderPath::new(folder).expect("test folder name");
        if let Some(folder) = self.lock().folders.get_mut(&path) {
            folder.remove(uid);
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
                },
            );
        }
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
        self.folders
            .get_mut(path)
            .ok_or_else(|| BackendError::folder(format!("folder {path} does not exist")))
    }
}

impl Repository for MemoryRepository {
    fn info(&self) -> Result<RepositoryInfo, BackendError> {
        Ok(RepositoryInfo {
            line_ending: self.lock().line_ending,
        })
    }

    fn list_folders(&self) -> Result<Vec<FolderInfo>, BackendError> {
        Ok(self
            .lock()
            .folders
            .keys()
            .map(|path| FolderInfo {
                path: path.clone(),
                selectable: true,
            })
            .collect())
    }

    fn create_folder(&self, path: &FolderPath) -> Result<(), BackendError> {
        self.lock().create(path);
        Ok(())
    }

    fn open_folder(&self, path: &FolderPath) -> Result<Box<dyn Folder>, BackendError> {
        self.lock().folder(path)?;
        Ok(Box::new(MemoryFolderHandle {
            repository: self.clone(),
            path: path.clone(),
        }))
    }
}

struct MemoryFolderHandle {
    repository: MemoryRepository,
    path: FolderPath,
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
        let mut uids = Vec::with_capacity(messages.len());
        for message in messages {
            let (apply, outcome) = store.write();
            if apply {
                let folder = store.folder(&self.path)?;
                let uid = folder.uid_next;
                folder.uid_next += 1;
                folder.messages.insert(
                    uid,
                    StoredMessage {
                        bytes: message.bytes.into_vec(),
                        flags: permanent.storable(&message.flags),
                        internal_date: message.internal_date,
                    },
                );
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
        for uid in uids {
            let (apply, outcome) = store.write();
            if apply {
                let folder = store.folder(&self.path)?;
                if let Some(message) = folder.messages.get_mut(uid) {
                    let flags = permanent.storable(&message.flags.union(add).difference(remove));
                    // As IMAP: a STORE that changes nothing gives no new MODSEQ.
                    if flags != message.flags {
                        message.flags = flags;
                        folder.touch(*uid);
                    }
                }
            }
            outcome?;
        }
        Ok(())
    }

    fn delete_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        let mut store = self.repository.lock();
        for uid in uids {
            let (apply, outcome) = store.write();
            if apply {
                store.folder(&self.path)?.remove(*uid);
            }
            outcome?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        // Memory is as durable as it gets here: a "crash" in tests is an injected error.
        self.repository.lock().folder(&self.path).map(|_| ())
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
