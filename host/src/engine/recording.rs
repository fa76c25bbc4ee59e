//! For engine tests of what the engine asks of a store: a memory repository whose
//! folders record the calls that tell (listings, change queries, fetches, prefetch hints)
//! and pass every call on.

use std::sync::{Arc, Mutex};

use backend_api::{
    BackendError, FetchedMessage, Flags, Folder, FolderChanges, FolderInfo, FolderPath,
    FolderStatus, MessageInfo, NewMessage, Repository, RepositoryInfo, Uid,
};
use backend_kit::memory::MemoryRepository;

/// A call recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Call {
    List,
    Changes,
    Fetch(Vec<Uid>),
    Prefetch(Vec<Uid>),
}

pub(super) struct Recording {
    pub inner: MemoryRepository,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Recording {
    pub fn new(inner: MemoryRepository) -> Recording {
        Recording {
            inner,
            calls: Arc::default(),
        }
    }

    /// The calls recorded since the last `take`, in order.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
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

impl RecordingFolder {
    fn record(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }
}

impl Folder for RecordingFolder {
    fn status(&mut self) -> Result<FolderStatus, BackendError> {
        self.inner.status()
    }
    fn list_messages(&mut self) -> Result<Vec<MessageInfo>, BackendError> {
        self.record(Call::List);
        self.inner.list_messages()
    }
    fn fetch_messages(&mut self, uids: &[Uid]) -> Result<Vec<FetchedMessage>, BackendError> {
        self.record(Call::Fetch(uids.to_vec()));
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
    fn list_changes(&mut self, since: u64) -> Result<Option<FolderChanges>, BackendError> {
        self.record(Call::Changes);
        self.inner.list_changes(since)
    }
    fn prefetch_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        self.record(Call::Prefetch(uids.to_vec()));
        self.inner.prefetch_messages(uids)
    }
}
