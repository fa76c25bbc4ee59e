//! Engine tests of the prefetch hint (interface 1.3): the source hears of every batch
//! before it is asked for it, in the order it will be asked, at most `BATCHES_AHEAD`
//! ahead, and a source that drops or ignores the hint syncs the same.

use std::sync::{Arc, Mutex};

use backend_api::{
    BackendError, FetchedMessage, Flags, Folder, FolderInfo, FolderPath, FolderStatus, MessageInfo,
    NewMessage, Repository, RepositoryInfo, Uid,
};
use backend_kit::memory::MemoryRepository;

use super::batches::{BATCHES_AHEAD, BATCH_MESSAGES};
use super::tests::{assert_in_sync, message};
use super::*;
use crate::side::PerSide;
use crate::state::SyncState;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    Prefetch(Vec<Uid>),
    Fetch(Vec<Uid>),
}

/// A memory repository recording the prefetch hints and fetches of its folders.
struct Recording {
    inner: MemoryRepository,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Repository for Recording {
    fn info(&self) -> Result<RepositoryInfo, BackendError> {
        self.inner.info()
    }
    fn list_folders(&self) -> Result<Vec<FolderInfo>, BackendError> {
        self.inner.list_folders()
    }
    fn create_folder(&self, path: &FolderPath) -> Result<(), BackendError> {
        self.inner.create_folder(path)
    }
    fn open_folder(&self, path: &FolderPath) -> Result<Box<dyn Folder>, BackendError> {
        Ok(Box::new(RecordingFolder {
            inner: self.inner.open_folder(path)?,
            calls: Arc::clone(&self.calls),
        }))
    }
}

struct RecordingFolder {
    inner: Box<dyn Folder>,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Folder for RecordingFolder {
    fn status(&mut self) -> Result<FolderStatus, BackendError> {
        self.inner.status()
    }
    fn list_messages(&mut self) -> Result<Vec<MessageInfo>, BackendError> {
        self.inner.list_messages()
    }
    fn fetch_messages(&mut self, uids: &[Uid]) -> Result<Vec<FetchedMessage>, BackendError> {
        self.calls.lock().unwrap().push(Call::Fetch(uids.to_vec()));
        self.inner.fetch_messages(uids)
    }
    fn append_messages(
        &mut self,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Option<Uid>>, BackendError> {
        self.inner.append_messages(messages)
    }
    fn update_flags(
        &mut self,
        uids: &[Uid],
        add: &Flags,
        remove: &Flags,
    ) -> Result<(), BackendError> {
        self.inner.update_flags(uids, add, remove)
    }
    fn delete_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        self.inner.delete_messages(uids)
    }
    fn flush(&mut self) -> Result<(), BackendError> {
        self.inner.flush()
    }
    fn prefetch_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        self.calls
            .lock()
            .unwrap()
            .push(Call::Prefetch(uids.to_vec()));
        self.inner.prefetch_messages(uids)
    }
}

#[test]
fn every_batch_is_announced_in_order_and_at_most_batches_ahead_before_it_is_fetched() {
    let remote = MemoryRepository::new();
    let count = BATCH_MESSAGES * 5 + 7;
    for n in 0..count {
        remote.deliver("INBOX", &message(n), Flags::new());
    }
    let recording = Recording {
        inner: remote.clone(),
        calls: Arc::default(),
    };
    let local = MemoryRepository::new();
    let state = SyncState::in_memory().unwrap();
    let account = Account {
        name: "test",
        repositories: PerSide::new(&local as &dyn Repository, &recording as &dyn Repository),
        repository_names: PerSide::new("TestLocal", "TestRemote"),
        state: &state,
        options: SyncOptions::default(),
    };
    let report = sync_account(&account, &NoObserver);
    assert!(!report.failed(), "{report:?}");
    assert_in_sync(&local, &remote);

    let calls = recording.calls.lock().unwrap().clone();
    let announced: Vec<&Vec<Uid>> = calls
        .iter()
        .filter_map(|call| match call {
            Call::Prefetch(uids) => Some(uids),
            Call::Fetch(_) => None,
        })
        .collect();
    let fetched: Vec<&Vec<Uid>> = calls
        .iter()
        .filter_map(|call| match call {
            Call::Fetch(uids) => Some(uids),
            Call::Prefetch(_) => None,
        })
        .collect();
    assert_eq!(fetched.len(), 6, "six batches: {calls:?}");
    assert_eq!(announced, fetched, "each batch announced once, in order");
    let all: Vec<Uid> = fetched
        .iter()
        .flat_map(|batch| batch.iter().copied())
        .collect();
    assert_eq!(all.len(), count, "every message fetched once");
    // Before its k-th fetch the source has heard of batches 0..=k and of at most
    // BATCHES_AHEAD more.
    let mut heard = 0;
    let mut asked = 0;
    for call in &calls {
        match call {
            Call::Prefetch(_) => heard += 1,
            Call::Fetch(_) => {
                assert!(
                    heard > asked,
                    "batch {asked} fetched before it was announced"
                );
                assert!(
                    heard <= asked + 1 + BATCHES_AHEAD,
                    "batch {asked}: {heard} announced, more than {BATCHES_AHEAD} ahead"
                );
                asked += 1;
            }
        }
    }
}
