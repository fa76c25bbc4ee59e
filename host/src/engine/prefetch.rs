//! Fetching the next batch of a copy while the current one is written: the source's
//! round trip (and its transfer) overlaps the destination's writes and fsyncs, instead of
//! each batch waiting for the one before it. Reading is free of side effects, so the
//! copy's order (intent, effect, durability, record) is unchanged; only the next batch's
//! bytes are in memory early, which is why each batch gets half the folder's budget.

use backend_api::Flags;
use backend_api::{
    BackendError, ErrorScope, FetchedMessage, Folder, FolderStatus, MessageInfo, NewMessage, Retry,
    Uid,
};

/// What stands in a folder's place while its real folder is lent to the thread fetching
/// the next batch: every call is an error (none is made: the engine only copies the
/// current batch to the other side meanwhile).
pub(super) struct Lent;

impl Lent {
    fn error() -> BackendError {
        BackendError::new(
            ErrorScope::Folder,
            Retry::Later,
            "internal: the folder is busy fetching the next batch",
        )
    }
}

impl Folder for Lent {
    fn status(&mut self) -> Result<FolderStatus, BackendError> {
        Err(Lent::error())
    }
    fn list_messages(&mut self) -> Result<Vec<MessageInfo>, BackendError> {
        Err(Lent::error())
    }
    fn fetch_messages(&mut self, _: &[Uid]) -> Result<Vec<FetchedMessage>, BackendError> {
        Err(Lent::error())
    }
    fn append_messages(&mut self, _: Vec<NewMessage>) -> Result<Vec<Option<Uid>>, BackendError> {
        Err(Lent::error())
    }
    fn update_flags(&mut self, _: &[Uid], _: &Flags, _: &Flags) -> Result<(), BackendError> {
        Err(Lent::error())
    }
    fn delete_messages(&mut self, _: &[Uid]) -> Result<(), BackendError> {
        Err(Lent::error())
    }
    fn flush(&mut self) -> Result<(), BackendError> {
        Err(Lent::error())
    }
}

/// Runs `work` while `folder` (taken out of the folder sync, [`Lent`] in its place)
/// fetches `uids` on another thread; returns both results once both are done.
pub(super) fn while_fetching<T>(
    folder: &mut Box<dyn Folder>,
    uids: Option<&[Uid]>,
    work: impl FnOnce() -> T,
) -> (T, Option<Result<Vec<FetchedMessage>, BackendError>>) {
    let Some(uids) = uids else {
        return (work(), None);
    };
    std::thread::scope(|scope| {
        let fetching = scope.spawn(|| folder.fetch_messages(uids));
        let done = work();
        let fetched = fetching.join().unwrap_or_else(|_| {
            Err(BackendError::new(
                ErrorScope::Folder,
                Retry::Later,
                "fetching the next batch failed unexpectedly (a panic in the backend)",
            ))
        });
        (done, Some(fetched))
    })
}
