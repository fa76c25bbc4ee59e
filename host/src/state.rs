//! The sync state of one account, in a redb database under `metadata`.
//!
//! Per folder it holds the UIDVALIDITY each side had at the last sync, the pairs of UIDs
//! that name the same message on both sides with the flags they had when last synced (the
//! common ancestor of the three-way comparison), and the copies that were started but not
//! yet recorded (pending), so that a crash at any point neither loses nor duplicates a
//! message.
//!
//! Every change the engine makes is one [`StateChange`] list committed in one durable
//! transaction, after the effects it records are durable.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use backend_api::{Flags, FolderPath, Uid, UidValidity};
use redb::{Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::side::{PerSide, Side};

/// (folder) -> JSON [`FolderRecord`].
const FOLDERS: TableDefinition<&str, &[u8]> = TableDefinition::new("folders");
/// (folder, remote UID) -> JSON [`PairValue`].
const PAIRS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("pairs");
/// (folder, id) -> JSON [`PendingCopy`]; ids are unique within their folder only.
const PENDING: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("pending");

/// What the state knows of a folder as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredFolderRecord", into = "StoredFolderRecord")]
pub struct FolderRecord {
    /// Each side's UIDVALIDITY at the last sync.
    pub uid_validity: PerSide<UidValidity>,
    /// Each side's UIDNEXT as last seen (a lower bound: the UIDNEXT a side had when a sync
    /// read it). A UIDNEXT below it, with the same UIDVALIDITY, means the side gives out
    /// UIDs again that the state may pair with other messages (a store restored from a
    /// backup). `None` in states written before it was recorded.
    pub uid_next: PerSide<Option<Uid>>,
    /// Per side, the deletions the mass-deletion guard refused last, which
    /// `--allow-deletions` confirms.
    pub guarded_deletions: PerSide<Option<GuardedDeletions>>,
    /// Per side, a HIGHESTMODSEQ the side reported (IMAP CONDSTORE) such that the state
    /// knows every message it held then, with the flags it had (restricted to the flags
    /// both sides store): the pairs, exactly. Only then can the side's listing be rebuilt
    /// from the pairs and the changes since it. Recorded only after a run applied all of
    /// a folder's steps; `None` when unknown (never recorded, or the side lost its MODSEQs).
    pub highest_modseq: PerSide<Option<u64>>,
}

impl FolderRecord {
    /// The record of a folder first seen with these UIDVALIDITYs.
    pub fn new(uid_validity: PerSide<UidValidity>) -> Self {
        FolderRecord {
            uid_validity,
            uid_next: PerSide::default(),
            guarded_deletions: PerSide::default(),
            highest_modseq: PerSide::default(),
        }
    }
}

/// A set of deletions the mass-deletion guard refused: how many, and a digest of their
/// UIDs, so that a confirmation applies exactly these and no others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardedDeletions {
    pub count: u32,
    pub digest: u64,
}

impl GuardedDeletions {
    /// The deletions of these UIDs (in any order).
    pub fn of(uids: impl IntoIterator<Item = Uid>) -> Self {
        let mut uids: Vec<Uid> = uids.into_iter().collect();
        uids.sort_unstable();
        uids.dedup();
        let bytes: Vec<u8> = uids.iter().flat_map(|uid| uid.to_be_bytes()).collect();
        let digest = md5::compute(bytes).0;
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        GuardedDeletions {
            count: uids.len() as u32,
            digest: u64::from_be_bytes(first),
        }
    }
}

/// How a [`FolderRecord`] is stored: one JSON field per side, as state files have it.
/// Fields added later are optional, and left out when empty, so that older state files
/// read as they are and a record that uses none of them is stored as before.
#[derive(Clone, Copy, Serialize, Deserialize)]
struct StoredFolderRecord {
    local_uid_validity: UidValidity,
    remote_uid_validity: UidValidity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    local_uid_next: Option<Uid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    remote_uid_next: Option<Uid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    local_guarded_deletions: Option<GuardedDeletions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    remote_guarded_deletions: Option<GuardedDeletions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    local_highest_modseq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    remote_highest_modseq: Option<u64>,
}

impl From<StoredFolderRecord> for FolderRecord {
    fn from(stored: StoredFolderRecord) -> Self {
        FolderRecord {
            uid_validity: PerSide::new(stored.local_uid_validity, stored.remote_uid_validity),
            uid_next: PerSide::new(stored.local_uid_next, stored.remote_uid_next),
            guarded_deletions: PerSide::new(
                stored.local_guarded_deletions,
                stored.remote_guarded_deletions,
            ),
            highest_modseq: PerSide::new(stored.local_highest_modseq, stored.remote_highest_modseq),
        }
    }
}

impl From<FolderRecord> for StoredFolderRecord {
    fn from(record: FolderRecord) -> Self {
        StoredFolderRecord {
            local_uid_validity: record.uid_validity[Side::Local],
            remote_uid_validity: record.uid_validity[Side::Remote],
            local_uid_next: record.uid_next[Side::Local],
            remote_uid_next: record.uid_next[Side::Remote],
            local_guarded_deletions: record.guarded_deletions[Side::Local],
            remote_guarded_deletions: record.guarded_deletions[Side::Remote],
            local_highest_modseq: record.highest_modseq[Side::Local],
            remote_highest_modseq: record.highest_modseq[Side::Remote],
        }
    }
}

/// One message known on both sides, with the flags both had at the last sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The message's UID on each side.
    pub uids: PerSide<Uid>,
    pub flags: Flags,
}

impl Pair {
    /// What names this pair in the state.
    pub fn key(&self) -> PairKey {
        PairKey(self.uids[Side::Remote])
    }
}

/// What names a pair in the state: its remote UID (the key of the pairs table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PairKey(Uid);

/// How a [`Pair`] is stored: the remote UID is the key, the rest the value.
#[derive(Serialize, Deserialize)]
struct PairValue {
    local: Uid,
    flags: Flags,
}

/// A copy that was started: recorded before the message is appended, removed in the same
/// transaction that records its pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredPendingCopy", into = "StoredPendingCopy")]
pub struct PendingCopy {
    /// The side the message is copied to.
    pub destination: Side,
    /// The UID of the original on the other side.
    pub source_uid: Uid,
    /// Size in bytes of the copy as handed to the destination (line endings converted).
    pub size: u64,
    /// A digest of the copy as handed to the destination. A destination that stores
    /// other bytes than it was given (Dovecot drops a CR before a CRLF) makes the copy
    /// impossible to find this way: then the pending entry is dropped, and the copy and
    /// its original, both unpaired, are paired by content (which sees through that).
    pub digest: ContentDigest,
    /// The destination folder's UIDNEXT before the copy: the copy has a UID at or above it.
    pub destination_uid_next: Uid,
    /// The flags the copy was given; they become the pair's synced flags.
    pub flags: Flags,
    /// Whether this is the second upload of its original: the first could not be found
    /// again, and a copy that cannot be found is never uploaded a third time.
    pub retried: bool,
    /// When the copy was started, in seconds since the Unix epoch: a store reached over a
    /// connection may still store a copy a moment after the connection dropped, so a
    /// run soon after waits that moment out before looking for it (see
    /// `engine::late_copies`). `None` in entries of twinbox 0.1.2 and before.
    pub started_at: Option<u64>,
}

/// What an interrupted copy is found again by, with its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentDigest {
    /// XXH3-64 of the bytes: what copies record now. Not a defence against crafted
    /// collisions, and it needs none: a match must also have the same size and a UID that
    /// this very copy may have been given.
    Xxh3(u64),
    /// MD5 (hex), as states written by twinbox 0.1 recorded it.
    Md5(String),
}

impl ContentDigest {
    /// The digest copies record.
    pub fn of(bytes: &[u8]) -> Self {
        ContentDigest::Xxh3(xxhash_rust::xxh3::xxh3_64(bytes))
    }

    /// Whether `bytes` have this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        match self {
            ContentDigest::Xxh3(digest) => xxhash_rust::xxh3::xxh3_64(bytes) == *digest,
            ContentDigest::Md5(hex) => format!("{:x}", md5::compute(bytes)) == *hex,
        }
    }
}

/// How a [`PendingCopy`] is stored: the digest in a field named after its kind, so that
/// entries written before XXH3 (with `md5`) still read.
#[derive(Serialize, Deserialize)]
struct StoredPendingCopy {
    destination: Side,
    source_uid: Uid,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    xxh3: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    md5: Option<String>,
    destination_uid_next: Uid,
    flags: Flags,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    retried: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started_at: Option<u64>,
}

impl From<StoredPendingCopy> for PendingCopy {
    fn from(stored: StoredPendingCopy) -> Self {
        let digest = match (stored.xxh3, stored.md5) {
            (Some(xxh3), _) => ContentDigest::Xxh3(xxh3),
            (None, Some(md5)) => ContentDigest::Md5(md5),
            // Neither: nothing can match, so the entry is dropped and the message copied
            // again (or paired by content) as for a copy never made.
            (None, None) => ContentDigest::Md5(String::new()),
        };
        PendingCopy {
            destination: stored.destination,
            source_uid: stored.source_uid,
            size: stored.size,
            digest,
            destination_uid_next: stored.destination_uid_next,
            flags: stored.flags,
            retried: stored.retried,
            started_at: stored.started_at,
        }
    }
}

impl From<PendingCopy> for StoredPendingCopy {
    fn from(copy: PendingCopy) -> Self {
        let (xxh3, md5) = match copy.digest {
            ContentDigest::Xxh3(digest) => (Some(digest), None),
            ContentDigest::Md5(hex) => (None, Some(hex)),
        };
        StoredPendingCopy {
            destination: copy.destination,
            source_uid: copy.source_uid,
            size: copy.size,
            xxh3,
            md5,
            destination_uid_next: copy.destination_uid_next,
            flags: copy.flags,
            retried: copy.retried,
            started_at: copy.started_at,
        }
    }
}

impl PendingCopy {
    /// The pair this copy makes, once its UID in the destination is known.
    pub fn pair(&self, destination_uid: Uid) -> Pair {
        let uids = PerSide::from_fn(|side| {
            if side == self.destination {
                destination_uid
            } else {
                self.source_uid
            }
        });
        Pair {
            uids,
            flags: self.flags.clone(),
        }
    }
}

/// One change to the state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateChange {
    SetFolder(FolderRecord),
    PutPair(Pair),
    RemovePair(PairKey),
    AddPending { id: u64, copy: PendingCopy },
    RemovePending { id: u64 },
}

/// Why the state could not be read or written. Each names the database file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("sync state {path}: another twinbox is using it (one sync per account at a time); wait for it to finish")]
    Busy { path: PathBuf },
    #[error("sync state {path}: {reason}")]
    Storage { path: PathBuf, reason: String },
    #[error("sync state {path}: cannot create its directory: {reason}; check the [general] metadata option")]
    Directory { path: PathBuf, reason: String },
    #[error("sync state {path}: a record of folder {folder} is damaged ({reason}); move the file aside to start over (messages will be copied again)")]
    Damaged {
        path: PathBuf,
        folder: String,
        reason: String,
    },
}

/// The state database of one account.
pub struct SyncState {
    db: Db,
    path: PathBuf,
    /// For crash tests: what happens after the Nth durable step.
    crash_switch: Mutex<Option<CrashSwitch>>,
}

/// The hidden test switch: `TWINBOX_TEST_EXIT_AFTER_STEPS=N` makes the process die
/// abruptly (no destructor, no flush of anything) right after its Nth durable step, so
/// that the integration tests can kill a real sync at every step (see
/// [`SyncState::durable_step`]).
pub const EXIT_AFTER_STEPS_VARIABLE: &str = "TWINBOX_TEST_EXIT_AFTER_STEPS";

/// What a crash test asked for: after `after` durable steps, `on_crash` runs (the test
/// halts its repositories) and every later step and commit fails, as if the process had
/// died there.
struct CrashSwitch {
    after: u64,
    on_crash: Box<dyn Fn() + Send + Sync>,
    steps: AtomicU64,
    crashed: AtomicBool,
}

/// Durable steps counted for [`EXIT_AFTER_STEPS_VARIABLE`], over every state the
/// process opens.
static PROCESS_STEPS: AtomicU64 = AtomicU64::new(0);

/// The step after which the process exits, if the test switch is set.
fn exit_after_steps() -> Option<u64> {
    static AFTER: OnceLock<Option<u64>> = OnceLock::new();
    *AFTER.get_or_init(|| {
        std::env::var(EXIT_AFTER_STEPS_VARIABLE)
            .ok()
            .and_then(|n| n.trim().parse().ok())
    })
}

enum Db {
    ReadWrite(Database),
    /// For `--dry-run`: the file is never written, not even by redb's own bookkeeping.
    ReadOnly(ReadOnlyDatabase),
}

impl Db {
    fn begin_read(&self) -> Result<redb::ReadTransaction, redb::TransactionError> {
        match self {
            Db::ReadWrite(db) => db.begin_read(),
            Db::ReadOnly(db) => db.begin_read(),
        }
    }
}

impl SyncState {
    /// Opens the database at `path`, creating it if it does not exist.
    ///
    /// A new database is made under a temporary name and renamed into place once its
    /// tables are committed: redb writes its file header last, so a crash while creating
    /// it in place would leave a file that no later run could open.
    ///
    /// The state describes private mail: its file is made 0600 (also when an older
    /// twinbox left it readable by others), and a directory created for it is 0700.
    pub fn open(path: &Path) -> Result<SyncState, StateError> {
        if !path.exists() {
            Self::create(path)?;
        } else {
            Self::make_private(path)?;
        }
        let db = Self::builder()
            .open(path)
            .map_err(|e| Self::open_error(path, e))?;
        Ok(SyncState {
            db: Db::ReadWrite(db),
            path: path.to_owned(),
            crash_switch: Mutex::new(None),
        })
    }

    /// Opens an existing database without ever writing to it (for `--dry-run`).
    pub fn open_read_only(path: &Path) -> Result<SyncState, StateError> {
        let db = Self::builder()
            .open_read_only(path)
            .map_err(|e| Self::open_error(path, e))?;
        Ok(SyncState {
            db: Db::ReadOnly(db),
            path: path.to_owned(),
            crash_switch: Mutex::new(None),
        })
    }

    fn builder() -> redb::Builder {
        let mut builder = Database::builder();
        // The default cache is 1 GiB. The pages it keeps are the state file's, which the
        // OS caches anyway, and whatever it holds counts in the process's memory: it grows
        // with the account up to this size. 2 MiB holds the tables' upper levels and a
        // batch's writes; measured on a 30,000-message account (a 7.4 MB state), 2 MiB
        // instead of 16 MiB took 2-3 MB off the peak RSS of the initial sync and 1.6 MB off
        // a no-change re-sync, with no measurable cost in time (issue 9).
        builder.set_cache_size(2 * 1024 * 1024);
        builder
    }

    fn open_error(path: &Path, error: redb::DatabaseError) -> StateError {
        match error {
            redb::DatabaseError::DatabaseAlreadyOpen => StateError::Busy {
                path: path.to_owned(),
            },
            other => StateError::Storage {
                path: path.to_owned(),
                reason: other.to_string(),
            },
        }
    }

    fn create(path: &Path) -> Result<(), StateError> {
        let directory_error = |e: std::io::Error| StateError::Directory {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(directory_error)?;
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(format!(".creating.{}", std::process::id()));
        let temporary = PathBuf::from(temporary);
        // A leftover from a run killed while creating: never opened by anyone, safe to drop.
        let _ = std::fs::remove_file(&temporary);
        // Created here, 0600 and exclusively (never through a planted link), for redb to
        // fill: it would create it readable by others.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(directory_error)?;
        {
            let db = Self::builder()
                .create(&temporary)
                .map_err(|e| Self::open_error(&temporary, e))?;
            let state = SyncState {
                db: Db::ReadWrite(db),
                path: temporary.clone(),
                crash_switch: Mutex::new(None),
            };
            state.create_tables()?;
        }
        std::fs::rename(&temporary, path).map_err(directory_error)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(directory_error)
    }

    /// Makes the state file 0600 if it is readable or writable by others.
    fn make_private(path: &Path) -> Result<(), StateError> {
        let metadata = std::fs::metadata(path).map_err(|e| StateError::Storage {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        if metadata.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |e| StateError::Storage {
                    path: path.to_owned(),
                    reason: format!("cannot make it private (mode 0600): {e}"),
                },
            )?;
        }
        Ok(())
    }

    fn writable(&self) -> Result<&Database, StateError> {
        match &self.db {
            Db::ReadWrite(db) => Ok(db),
            Db::ReadOnly(_) => Err(self.storage("opened read-only for a dry run")),
        }
    }

    /// An empty state that lives in memory only (for `--dry-run` of a new account, and tests).
    pub fn in_memory() -> Result<SyncState, StateError> {
        let path = PathBuf::from("(in memory)");
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| StateError::Storage {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        let state = SyncState {
            db: Db::ReadWrite(db),
            path,
            crash_switch: Mutex::new(None),
        };
        state.create_tables()?;
        Ok(state)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// For crash tests: after the `after`th durable step from now, `on_crash` runs and
    /// every later step and commit fails (the process is "dead"), until
    /// [`Self::restart`]; see [`Self::durable_step`].
    pub fn crash_after_steps(&self, after: u64, on_crash: impl Fn() + Send + Sync + 'static) {
        *self.switch() = Some(CrashSwitch {
            after,
            on_crash: Box::new(on_crash),
            steps: AtomicU64::new(0),
            crashed: AtomicBool::new(false),
        });
    }

    /// Whether a crash test's switch has fired.
    pub fn crashed(&self) -> bool {
        self.switch()
            .as_ref()
            .is_some_and(|switch| switch.crashed.load(Ordering::SeqCst))
    }

    /// For crash tests: the next process, with the state as the crash left it (every
    /// commit is durable) and no switch set.
    pub fn restart(&self) {
        *self.switch() = None;
    }

    fn switch(&self) -> std::sync::MutexGuard<'_, Option<CrashSwitch>> {
        // A test that panicked holding it has failed already; the switch is still sound.
        self.crash_switch
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks one durable step done: a committed transaction, or effects made durable in a
    /// store (the engine calls this after each flush). A crash after any of these must be
    /// recoverable, so the crash tests stop the process right here: the test switch
    /// [`EXIT_AFTER_STEPS_VARIABLE`] ends the process, and a unit test's
    /// [`Self::crash_after_steps`] makes this and every later step fail.
    pub fn durable_step(&self) -> Result<(), StateError> {
        if let Some(after) = exit_after_steps() {
            if PROCESS_STEPS.fetch_add(1, Ordering::SeqCst) + 1 >= after {
                // Abruptly, as a power cut or SIGKILL would: no destructor, no buffer
                // flushed, no lock released but by the kernel.
                std::process::abort();
            }
        }
        self.check_alive()?;
        if let Some(switch) = self.switch().as_ref() {
            if switch.steps.fetch_add(1, Ordering::SeqCst) + 1 >= switch.after {
                switch.crashed.store(true, Ordering::SeqCst);
                (switch.on_crash)();
            }
        }
        Ok(())
    }

    fn check_alive(&self) -> Result<(), StateError> {
        if self.crashed() {
            return Err(self.storage("simulated crash: the process is gone"));
        }
        Ok(())
    }

    fn storage(&self, error: impl std::fmt::Display) -> StateError {
        StateError::Storage {
            path: self.path.clone(),
            reason: error.to_string(),
        }
    }

    fn damaged(&self, folder: &str, error: impl std::fmt::Display) -> StateError {
        StateError::Damaged {
            path: self.path.clone(),
            folder: folder.to_owned(),
            reason: error.to_string(),
        }
    }

    fn create_tables(&self) -> Result<(), StateError> {
        let txn = self
            .writable()?
            .begin_write()
            .map_err(|e| self.storage(e))?;
        txn.open_table(FOLDERS).map_err(|e| self.storage(e))?;
        txn.open_table(PAIRS).map_err(|e| self.storage(e))?;
        txn.open_table(PENDING).map_err(|e| self.storage(e))?;
        txn.commit().map_err(|e| self.storage(e))
    }

    /// Every folder the state knows.
    pub fn folders(&self) -> Result<Vec<(FolderPath, FolderRecord)>, StateError> {
        let txn = self.db.begin_read().map_err(|e| self.storage(e))?;
        let table = txn.open_table(FOLDERS).map_err(|e| self.storage(e))?;
        let mut folders = Vec::new();
        for entry in table.iter().map_err(|e| self.storage(e))? {
            let (key, value) = entry.map_err(|e| self.storage(e))?;
            let name = key.value();
            let path = FolderPath::new(name).map_err(|e| self.damaged(name, e))?;
            let record =
                serde_json::from_slice(value.value()).map_err(|e| self.damaged(name, e))?;
            folders.push((path, record));
        }
        Ok(folders)
    }

    /// What the state knows of `folder`, if it was synced before.
    pub fn folder(&self, folder: &FolderPath) -> Result<Option<FolderRecord>, StateError> {
        let txn = self.db.begin_read().map_err(|e| self.storage(e))?;
        let table = txn.open_table(FOLDERS).map_err(|e| self.storage(e))?;
        let value = table.get(folder.as_str()).map_err(|e| self.storage(e))?;
        match value {
            None => Ok(None),
            Some(value) => serde_json::from_slice(value.value())
                .map(Some)
                .map_err(|e| self.damaged(folder.as_str(), e)),
        }
    }

    /// The pairs of `folder`, in remote UID order.
    pub fn pairs(&self, folder: &FolderPath) -> Result<Vec<Pair>, StateError> {
        let txn = self.db.begin_read().map_err(|e| self.storage(e))?;
        let table = txn.open_table(PAIRS).map_err(|e| self.storage(e))?;
        let name = folder.as_str();
        let mut pairs = Vec::new();
        for entry in table
            .range((name, 0u32)..=(name, u32::MAX))
            .map_err(|e| self.storage(e))?
        {
            let (key, value) = entry.map_err(|e| self.storage(e))?;
            let (_, remote) = key.value();
            let value: PairValue =
                serde_json::from_slice(value.value()).map_err(|e| self.damaged(name, e))?;
            pairs.push(Pair {
                uids: PerSide::new(value.local, remote),
                flags: value.flags,
            });
        }
        Ok(pairs)
    }

    /// The copies of `folder` that were started and not recorded, with their ids.
    pub fn pending(&self, folder: &FolderPath) -> Result<Vec<(u64, PendingCopy)>, StateError> {
        let txn = self.db.begin_read().map_err(|e| self.storage(e))?;
        let table = txn.open_table(PENDING).map_err(|e| self.storage(e))?;
        let name = folder.as_str();
        let mut pending = Vec::new();
        for entry in table
            .range((name, 0u64)..=(name, u64::MAX))
            .map_err(|e| self.storage(e))?
        {
            let (key, value) = entry.map_err(|e| self.storage(e))?;
            let copy = serde_json::from_slice(value.value()).map_err(|e| self.damaged(name, e))?;
            pending.push((key.value().1, copy));
        }
        Ok(pending)
    }

    /// When the newest copy still pending in any folder was started (seconds since the
    /// Unix epoch); `None` when nothing is pending, or only copies from before the time
    /// was recorded.
    pub fn newest_pending_start(&self) -> Result<Option<u64>, StateError> {
        let txn = self.db.begin_read().map_err(|e| self.storage(e))?;
        let table = txn.open_table(PENDING).map_err(|e| self.storage(e))?;
        let mut newest = None;
        for entry in table.iter().map_err(|e| self.storage(e))? {
            let (key, value) = entry.map_err(|e| self.storage(e))?;
            let copy: PendingCopy = serde_json::from_slice(value.value())
                .map_err(|e| self.damaged(key.value().0, e))?;
            newest = newest.max(copy.started_at);
        }
        Ok(newest)
    }

    /// Applies `changes` to `folder` in one durable transaction.
    pub fn commit(&self, folder: &FolderPath, changes: &[StateChange]) -> Result<(), StateError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.check_alive()?;
        let txn = self
            .writable()?
            .begin_write()
            .map_err(|e| self.storage(e))?;
        self.apply(&txn, folder.as_str(), changes)?;
        txn.commit().map_err(|e| self.storage(e))?;
        self.durable_step()
    }

    /// Replaces everything the state knows of `folder` by `changes`, in one durable
    /// transaction: a crash leaves either the old state of the folder or the new one,
    /// never a mix (an import of another tool's state relies on it).
    pub fn replace_folder(
        &self,
        folder: &FolderPath,
        changes: &[StateChange],
    ) -> Result<(), StateError> {
        self.check_alive()?;
        let txn = self
            .writable()?
            .begin_write()
            .map_err(|e| self.storage(e))?;
        self.clear(&txn, folder.as_str())?;
        self.apply(&txn, folder.as_str(), changes)?;
        txn.commit().map_err(|e| self.storage(e))?;
        self.durable_step()
    }

    fn apply(
        &self,
        txn: &redb::WriteTransaction,
        name: &str,
        changes: &[StateChange],
    ) -> Result<(), StateError> {
        let mut folders = txn.open_table(FOLDERS).map_err(|e| self.storage(e))?;
        let mut pairs = txn.open_table(PAIRS).map_err(|e| self.storage(e))?;
        let mut pending = txn.open_table(PENDING).map_err(|e| self.storage(e))?;
        for change in changes {
            match change {
                StateChange::SetFolder(record) => {
                    let json = serde_json::to_vec(record).map_err(|e| self.storage(e))?;
                    folders
                        .insert(name, json.as_slice())
                        .map_err(|e| self.storage(e))?;
                }
                StateChange::PutPair(pair) => {
                    let json = serde_json::to_vec(&PairValue {
                        local: pair.uids[Side::Local],
                        flags: pair.flags.clone(),
                    })
                    .map_err(|e| self.storage(e))?;
                    pairs
                        .insert((name, pair.uids[Side::Remote]), json.as_slice())
                        .map_err(|e| self.storage(e))?;
                }
                StateChange::RemovePair(PairKey(remote)) => {
                    pairs.remove((name, *remote)).map_err(|e| self.storage(e))?;
                }
                StateChange::AddPending { id, copy } => {
                    let json = serde_json::to_vec(copy).map_err(|e| self.storage(e))?;
                    pending
                        .insert((name, *id), json.as_slice())
                        .map_err(|e| self.storage(e))?;
                }
                StateChange::RemovePending { id } => {
                    pending.remove((name, *id)).map_err(|e| self.storage(e))?;
                }
            }
        }
        Ok(())
    }

    /// Removes the folder's record, pairs and pending copies within `txn`.
    fn clear(&self, txn: &redb::WriteTransaction, name: &str) -> Result<(), StateError> {
        let mut folders = txn.open_table(FOLDERS).map_err(|e| self.storage(e))?;
        folders.remove(name).map_err(|e| self.storage(e))?;
        let mut pairs = txn.open_table(PAIRS).map_err(|e| self.storage(e))?;
        pairs
            .retain_in((name, 0u32)..=(name, u32::MAX), |_, _| false)
            .map_err(|e| self.storage(e))?;
        let mut pending = txn.open_table(PENDING).map_err(|e| self.storage(e))?;
        pending
            .retain_in((name, 0u64)..=(name, u64::MAX), |_, _| false)
            .map_err(|e| self.storage(e))?;
        Ok(())
    }

    /// Forgets everything about `folder` (its record, pairs and pending copies).
    pub fn forget_folder(&self, folder: &FolderPath) -> Result<(), StateError> {
        self.replace_folder(folder, &[])
    }

    /// An id for a new pending copy of `folder`: one above the highest id pending there
    /// now. Ids are per folder (the table is keyed by folder and id), and the id of an
    /// entry already dropped may be given again.
    pub fn next_pending_id(&self, folder: &FolderPath) -> Result<u64, StateError> {
        Ok(self.pending(folder)?.last().map_or(1, |(id, _)| id + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backend_api::SystemFlag;

    fn inbox() -> FolderPath {
        FolderPath::inbox()
    }

    #[test]
    fn the_state_is_private() {
        // Issue 12: the state directory 0700, the state file 0600, also when found looser.
        let dir = tempfile::tempdir().unwrap();
        let path = dir
            .path()
            .join("metadata")
            .join("Account-A")
            .join("state.redb");
        drop(SyncState::open(&path).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&dir.path().join("metadata")), 0o700);
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(SyncState::open(&path).unwrap());
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn records_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/account.redb");
        {
            let state = SyncState::open(&path).unwrap();
            state
                .commit(
                    &inbox(),
                    &[
                        StateChange::SetFolder(FolderRecord::new(PerSide::new(7, 9))),
                        StateChange::PutPair(Pair {
                            uids: PerSide::new(3, 30),
                            flags: Flags::from_system(&[SystemFlag::Seen]),
                        }),
                        StateChange::PutPair(Pair {
                            uids: PerSide::new(4, 40),
                            flags: Flags::new(),
                        }),
                        StateChange::RemovePair(PairKey(40)),
                    ],
                )
                .unwrap();
        }
        let state = SyncState::open(&path).unwrap();
        assert_eq!(
            state.folder(&inbox()).unwrap().unwrap().uid_validity,
            PerSide::new(7, 9)
        );
        assert_eq!(
            state.pairs(&inbox()).unwrap(),
            vec![Pair {
                uids: PerSide::new(3, 30),
                flags: Flags::from_system(&[SystemFlag::Seen])
            }]
        );
        assert_eq!(state.folders().unwrap().len(), 1);
    }

    #[test]
    fn folder_records_keep_their_stored_encoding() {
        let stored = br#"{"local_uid_validity":7,"remote_uid_validity":9}"#;
        let record: FolderRecord = serde_json::from_slice(stored).unwrap();
        assert_eq!(record.uid_validity, PerSide::new(7, 9));
        assert_eq!(serde_json::to_vec(&record).unwrap(), stored.to_vec());
        assert_eq!(record.uid_next, PerSide::new(None, None));

        let mut newer = record;
        newer.uid_next = PerSide::new(Some(12), None);
        newer.guarded_deletions[Side::Remote] = Some(GuardedDeletions::of([3, 1, 2]));
        newer.highest_modseq[Side::Local] = Some(41);
        let json = serde_json::to_vec(&newer).unwrap();
        let read: FolderRecord = serde_json::from_slice(&json).unwrap();
        assert_eq!(read, newer);
    }

    #[test]
    fn pending_copies_written_with_md5_still_read_and_match() {
        let stored = br#"{"destination":"Remote","source_uid":5,"size":3,"md5":"900150983cd24fb0d6963f7d28e17f72","destination_uid_next":9,"flags":{"system":0,"keywords":[]}}"#;
        let copy: PendingCopy = serde_json::from_slice(stored).unwrap();
        assert!(matches!(copy.digest, ContentDigest::Md5(_)));
        assert!(copy.digest.matches(b"abc"));
        assert!(!copy.digest.matches(b"abd"));
        let fresh = PendingCopy {
            digest: ContentDigest::of(b"abc"),
            ..copy
        };
        let json = serde_json::to_vec(&fresh).unwrap();
        assert!(!String::from_utf8_lossy(&json).contains("md5"));
        let read: PendingCopy = serde_json::from_slice(&json).unwrap();
        assert_eq!(read, fresh);
        assert!(read.digest.matches(b"abc"));
    }

    #[test]
    fn guarded_deletions_name_a_set_of_uids() {
        assert_eq!(
            GuardedDeletions::of([3, 1, 2]),
            GuardedDeletions::of([1, 2, 3])
        );
        assert_ne!(
            GuardedDeletions::of([1, 2, 3]),
            GuardedDeletions::of([1, 2, 4])
        );
        assert_eq!(GuardedDeletions::of([1, 2, 3]).count, 3);
    }

    #[test]
    fn pending_copies_are_per_folder_and_removable() {
        let state = SyncState::in_memory().unwrap();
        let other = FolderPath::new("Other").unwrap();
        let copy = PendingCopy {
            destination: Side::Local,
            source_uid: 5,
            size: 10,
            digest: ContentDigest::Xxh3(7),
            destination_uid_next: 1,
            flags: Flags::new(),
            retried: false,
            started_at: Some(200),
        };
        assert_eq!(state.newest_pending_start().unwrap(), None);
        let id = state.next_pending_id(&inbox()).unwrap();
        state
            .commit(
                &inbox(),
                &[StateChange::AddPending {
                    id,
                    copy: copy.clone(),
                }],
            )
            .unwrap();
        let older = PendingCopy {
            started_at: Some(100),
            ..copy
        };
        state
            .commit(&other, &[StateChange::AddPending { id: 1, copy: older }])
            .unwrap();
        assert_eq!(state.pending(&inbox()).unwrap().len(), 1);
        assert_eq!(state.newest_pending_start().unwrap(), Some(200));
        assert_eq!(state.next_pending_id(&inbox()).unwrap(), id + 1);
        state
            .commit(&inbox(), &[StateChange::RemovePending { id }])
            .unwrap();
        assert!(state.pending(&inbox()).unwrap().is_empty());
        assert_eq!(state.pending(&other).unwrap().len(), 1);
        assert_eq!(state.newest_pending_start().unwrap(), Some(100));
        state.forget_folder(&other).unwrap();
        assert!(state.pending(&other).unwrap().is_empty());
    }

    #[test]
    fn replacing_a_folder_drops_all_it_held_and_nothing_else() {
        let state = SyncState::in_memory().unwrap();
        let other = FolderPath::new("Other").unwrap();
        let pair = |local, remote| {
            StateChange::PutPair(Pair {
                uids: PerSide::new(local, remote),
                flags: Flags::new(),
            })
        };
        for folder in [inbox(), other.clone()] {
            state
                .commit(
                    &folder,
                    &[
                        StateChange::SetFolder(FolderRecord::new(PerSide::new(1, 2))),
                        pair(1, 10),
                        pair(2, 20),
                    ],
                )
                .unwrap();
        }
        state
            .replace_folder(
                &inbox(),
                &[
                    StateChange::SetFolder(FolderRecord::new(PerSide::new(3, 4))),
                    pair(5, 50),
                ],
            )
            .unwrap();
        assert_eq!(
            state.folder(&inbox()).unwrap().unwrap().uid_validity,
            PerSide::new(3, 4)
        );
        let remote: Vec<_> = state
            .pairs(&inbox())
            .unwrap()
            .iter()
            .map(|p| p.uids[Side::Remote])
            .collect();
        assert_eq!(remote, vec![50]);
        assert_eq!(state.pairs(&other).unwrap().len(), 2);
    }

    #[test]
    fn a_read_only_open_never_writes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.redb");
        SyncState::open(&path)
            .unwrap()
            .commit(&inbox(), &[StateChange::RemovePair(PairKey(1))])
            .unwrap();
        let before = std::fs::read(&path).unwrap();
        let state = SyncState::open_read_only(&path).unwrap();
        assert!(state.pairs(&inbox()).unwrap().is_empty());
        assert!(state
            .commit(&inbox(), &[StateChange::RemovePair(PairKey(1))])
            .is_err());
        drop(state);
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(
            leftovers.len(),
            1,
            "no temporary file is left behind by creation"
        );
    }

    #[test]
    fn a_second_opener_is_told_the_state_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.redb");
        let _first = SyncState::open(&path).unwrap();
        match SyncState::open(&path) {
            Err(StateError::Busy { .. }) => {}
            other => panic!("expected Busy, got {:?}", other.map(|_| ())),
        }
    }
}
