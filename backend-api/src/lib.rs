//! The interface between twinbox and its repository backends.
//!
//! # Why it looks like this
//!
//! A backend is a *thin store*: it lists folders and messages, fetches, appends, changes
//! flags and deletes. It knows nothing of the other side, of pairing, of the sync state or
//! of conflict rules; the engine in the host owns all of that and knows no backend. This
//! split is what lets any two backends sync, and what keeps a third-party backend small.
//!
//! The interface is the narrowest one that serves IMAP, Maildir, mbox and MH:
//! UIDs with a UIDVALIDITY (the file backends keep their own), flags as IMAP has them,
//! batches instead of single messages (so IMAP can pipeline and files can share one fsync
//! pass), and an explicit [`Folder::flush`] that marks the point where effects are durable.
//!
//! Backends are dynamic plugins. Each side implements or uses the plain-Rust traits
//! [`Repository`] and [`Folder`]; the `ffi` module holds their `#[repr(C)]` twins checked by
//! `abi_stable` at load time, and the adapters in between convert types, catch panics and
//! check what a plugin returns. Neither a backend nor the engine ever handles an `R*` type.
//!
//! The interface is versioned twice: `abi_stable` checks the layout of everything that
//! crosses, and every plugin answers a [`PluginHello`] with our own semver
//! ([`INTERFACE_VERSION`]) and a list of capabilities. Methods are only ever appended
//! after the ones marked as the end of v1, so old plugins keep loading.

mod config;
mod error;
mod export;
pub mod ffi;
mod import;
mod loader;
mod types;

pub use config::RepositoryConfig;
pub use error::{BackendError, ErrorScope, Retry};
pub use export::{export_module, Backend};
pub use import::ImportedRepository;
pub use loader::{load_plugin, LoadError, LoadedPlugin};
pub use types::{
    FetchedMessage, Flags, FolderInfo, FolderPath, FolderStatus, InvalidFolderPath, LineEnding,
    MessageInfo, NewMessage, PermanentFlags, RepositoryInfo, SystemFlag, Uid, UidValidity,
    UnixTime,
};

/// Re-exported so that a plugin's `export_backend!` expands without naming versions.
pub use abi_stable;

/// The interface version this crate implements: `(major, minor)`.
///
/// The host refuses a plugin whose major differs. A plugin with a lower minor lacks only
/// methods appended later, which the host then does not call.
pub const INTERFACE_VERSION: (u32, u32) = (1, 0);

/// What a plugin says about itself when loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginHello {
    /// The repository type it implements, matched case-insensitively against `type =`.
    pub name: String,
    /// The plugin's own version.
    pub plugin_version: String,
    /// The interface version it was built against.
    pub interface_version: (u32, u32),
    /// Optional features, e.g. `condstore`.
    pub capabilities: Vec<String>,
}

/// A repository: a tree of folders (an IMAP account, a Maildir root, an mbox tree).
///
/// A repository is shared by the engine's threads: every method takes `&self`, and
/// implementations synchronize inside (e.g. one connection per open folder).
pub trait Repository: Send + Sync {
    /// Facts the engine needs: the line endings messages are stored in.
    fn info(&self) -> Result<RepositoryInfo, BackendError>;

    /// Every folder, in no particular order. Paths are unique.
    fn list_folders(&self) -> Result<Vec<FolderInfo>, BackendError>;

    /// Creates `path` (and any missing parents). Creating a folder that exists is not an
    /// error.
    fn create_folder(&self, path: &FolderPath) -> Result<(), BackendError>;

    /// Opens an existing folder for reading and writing. The folder stays usable until
    /// dropped; several folders may be open at once, on different threads.
    ///
    /// An open folder may hold a scarce resource until dropped (an IMAP connection out of
    /// `maxconnections`), and opening may wait for one to be free: the engine holds at
    /// most one open folder per repository per thread, and callers must not open a
    /// second folder of the same repository on a thread that still holds one.
    fn open_folder(&self, path: &FolderPath) -> Result<Box<dyn Folder>, BackendError>;
}

/// One open folder. Used from one thread at a time.
///
/// UIDs are positive and strictly increasing in the order messages were added; a UID is
/// never reused while the UIDVALIDITY stays the same. A backend that cannot keep that
/// promise (its index was lost) must report a new UIDVALIDITY.
pub trait Folder: Send {
    /// The folder's UIDVALIDITY, UIDNEXT and the rest, as of now.
    fn status(&mut self) -> Result<FolderStatus, BackendError>;

    /// Every message in the folder with its UID, flags and size, in ascending UID order.
    fn list_messages(&mut self) -> Result<Vec<MessageInfo>, BackendError>;

    /// The content of the messages with these UIDs, in the order asked. A UID that no
    /// longer exists is left out of the result (it is not an error): the caller compares
    /// and decides. The caller bounds the batch (by the sizes from the listing) so memory
    /// stays bounded.
    fn fetch_messages(&mut self, uids: &[Uid]) -> Result<Vec<FetchedMessage>, BackendError>;

    /// Appends the messages in order, with their flags and internal dates, and returns
    /// for each its new UID, or `None` when the backend cannot tell it at once (an IMAP
    /// server without UIDPLUS). `None` is never wrong: the engine then finds the copy
    /// itself, by content, among the UIDs at or above the UIDNEXT it read before.
    ///
    /// The bytes are stored exactly as given. The messages are durable only once
    /// [`Folder::flush`] has returned.
    fn append_messages(
        &mut self,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Option<Uid>>, BackendError>;

    /// Adds `add` to and then removes `remove` from the flags of each message in `uids`.
    /// UIDs that no longer exist are skipped silently.
    fn update_flags(
        &mut self,
        uids: &[Uid],
        add: &Flags,
        remove: &Flags,
    ) -> Result<(), BackendError>;

    /// Deletes (expunges) exactly these messages; nothing else. UIDs that no longer exist
    /// are skipped silently.
    fn delete_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError>;

    /// Makes every effect of the calls before it durable (fsync, or the server's
    /// acknowledgement). The engine records state only after this returns.
    fn flush(&mut self) -> Result<(), BackendError>;
    // End of interface v1: new methods are appended below this line only, each with a
    // default that is never wrong (e.g. a full listing instead of a delta).
}
