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
//! batches instead of single messages (one round trip or one fsync pass serves many
//! messages, and a backend is free to pipeline inside a batch), and an explicit
//! [`Folder::flush`] that marks the point where effects are durable.
//!
//! Backends are dynamic plugins. Each side implements or uses the plain-Rust traits
//! [`Repository`] and [`Folder`]; the `ffi` module holds their `#[repr(C)]` twins checked by
//! `abi_stable` at load time. The plugin-side adapter ([`export_backend!`]) converts types
//! and catches panics; its host-side twin, which loads libraries and checks what a plugin
//! returns, lives in the host, so plugins never link it. Neither a backend nor the engine
//! ever handles an `R*` type.
//!
//! The interface is checked twice when a plugin loads: `abi_stable` checks the layout of
//! everything that crosses, and every plugin answers a [`PluginHello`] with the interface
//! version it was built for ([`INTERFACE_VERSION`]) and a list of capabilities. Both come
//! from one number, this crate's own version, which changes with the interface and never
//! with twinbox's releases. Methods are only ever appended after the ones marked as the
//! end of v1, so old plugins keep loading.

mod config;
mod error;
mod export;
pub mod ffi;
#[doc(hidden)]
pub mod ffi_v1_0;
#[doc(hidden)]
pub mod ffi_v1_1;
#[doc(hidden)]
pub mod ffi_v1_2;
mod types;

pub use config::RepositoryConfig;
pub use error::{BackendError, ErrorScope, Retry};
pub use export::{export_module, Backend};
pub use types::{
    Body, FetchedMessage, Flags, FolderChange, FolderChanges, FolderInfo, FolderPath, FolderStatus,
    InvalidFolderPath, LineEnding, MessageInfo, NewMessage, PermanentFlags, RepositoryInfo,
    SystemFlag, Uid, UidValidity, UnixTime,
};

/// Re-exported so that a plugin's `export_backend!` expands without naming versions.
pub use abi_stable;

/// This crate's version, `0.<interface major>.<interface minor>`: what abi_stable checks
/// when a plugin loads, and what a plugin author depends on.
pub const INTERFACE_CRATE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The interface version this crate implements: `(major, minor)`.
///
/// The host refuses a plugin whose major differs. A plugin with a lower minor lacks only
/// methods appended later, which the host then does not call.
///
/// Derived from this crate's own version, `0.<major>.<minor>` (see its `Cargo.toml`), which
/// is what abi_stable checks at load time: one number to change, never two to keep in step.
/// The crate's version is not twinbox's: a new twinbox release loads the plugins built for
/// every earlier release of the same interface major.
pub const INTERFACE_VERSION: (u32, u32) = (
    parse_version_part(env!("CARGO_PKG_VERSION_MINOR")),
    parse_version_part(env!("CARGO_PKG_VERSION_PATCH")),
);

// abi_stable applies 0.x rules (same minor = compatible) only while the major is 0; a 1.x
// crate version would change what "compatible" means and refuse every plugin built so far.
const _: () = assert!(
    parse_version_part(env!("CARGO_PKG_VERSION_MAJOR")) == 0,
    "twinbox-backend-api's version must stay 0.<interface major>.<interface minor>"
);

/// The interface version a `twinbox-backend-api` crate version stands for: `0.1.3` is
/// interface 1.3. `None` for a version that is not of that form.
pub fn interface_version_of_crate(crate_version: &str) -> Option<(u32, u32)> {
    let mut parts = crate_version.split(['.', '-', '+']);
    let major: u32 = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next()?.parse().ok()?;
    (major == 0).then_some((minor, patch))
}

const fn parse_version_part(digits: &str) -> u32 {
    let bytes = digits.as_bytes();
    assert!(!bytes.is_empty(), "an empty version number");
    let mut value = 0u32;
    let mut i = 0;
    while i < bytes.len() {
        assert!(
            bytes[i].is_ascii_digit(),
            "a version number that is not decimal"
        );
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

#[cfg(test)]
mod interface_version_tests {
    use super::*;

    #[test]
    fn the_interface_version_is_the_crate_version_read_as_0_major_minor() {
        assert_eq!(
            interface_version_of_crate(env!("CARGO_PKG_VERSION")),
            Some(INTERFACE_VERSION)
        );
        assert_eq!(
            INTERFACE_VERSION.0, 1,
            "interface 1.x is what plugins are built for"
        );
    }

    #[test]
    fn crate_versions_map_to_interface_versions() {
        assert_eq!(interface_version_of_crate("0.1.0"), Some((1, 0)));
        assert_eq!(interface_version_of_crate("0.1.3"), Some((1, 3)));
        assert_eq!(interface_version_of_crate("0.2.0"), Some((2, 0)));
        assert_eq!(interface_version_of_crate("1.0.0"), None);
        assert_eq!(interface_version_of_crate("0.1"), None);
        assert_eq!(interface_version_of_crate("x"), None);
    }
}

/// What a plugin says about itself when loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginHello {
    /// The repository type it implements, matched case-insensitively against `type =`.
    pub name: String,
    /// The plugin's own version.
    pub plugin_version: String,
    /// The interface version it was built against.
    pub interface_version: (u32, u32),
    /// Optional features the plugin announces without being called (none is defined yet;
    /// a later interface minor may define some, e.g. `condstore`). The host logs them when
    /// it loads the plugin.
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
    ///
    /// An error of [`ErrorScope::Message`] says that the store refused a message of the
    /// batch (too big, empty, bad bytes); others of the batch may have been stored. The
    /// engine then finds those by content and appends the rest one at a time, so that one
    /// bad message does not hold back the others: a refusal of a single message must mean
    /// that it was not stored.
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
    /// acknowledgement). The engine records state only after this returns. The first
    /// call on a handle also makes durable what earlier handles left in the folder (a
    /// process that died before its own flush): the engine calls it before it records
    /// anything it listed.
    fn flush(&mut self) -> Result<(), BackendError>;
    // End of interface v1: new methods are appended below this line only, each with a
    // default that is never wrong (e.g. a full listing instead of a delta).

    /// Interface 1.1. The messages added, changed or expunged since `since`, so that a
    /// re-sync costs what changed rather than what the folder holds (IMAP CONDSTORE and
    /// QRESYNC).
    ///
    /// `since` is a [`FolderStatus::highest_modseq`] this folder reported earlier, under
    /// the UIDVALIDITY it has now (the caller checks that). The answer, when `Some`, is
    /// described on [`FolderChanges`]; in short: every message whose MODSEQ is above
    /// `since` is in `changed`, and every message not in `changed` (nor vanished) that was
    /// in the folder at `since` still has the flags it had then.
    ///
    /// `Ok(None)` means "cannot tell; list the folder in full" and is never wrong: the
    /// default, and the answer of a backend that keeps no MODSEQs, or whose MODSEQs do not
    /// reach back to `since` (a server that lost its MODSEQ state, a HIGHESTMODSEQ now below
    /// `since`, a mailbox without MODSEQs). A backend must never answer `Some` when it is
    /// not sure it holds every change.
    fn list_changes(&mut self, since: u64) -> Result<Option<FolderChanges>, BackendError> {
        let _ = since;
        Ok(None)
    }

    /// Interface 1.2. Waits until the folder may have changed on the backend's side (new
    /// messages, expunges, flag changes by someone else) or `timeout` has passed, so that
    /// a daemon syncs a folder as soon as mail arrives instead of polling it (IMAP IDLE).
    ///
    /// [`FolderChange::Changed`] may be a false alarm (the caller then syncs and finds
    /// nothing); a backend must never answer [`FolderChange::TimedOut`] when it saw a
    /// change. It should return within a second or so of `timeout`. The folder stays usable
    /// afterwards. [`FolderChange::Unsupported`], the default, is never wrong: the caller
    /// then polls on its own schedule.
    fn wait_for_change(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<FolderChange, BackendError> {
        let _ = timeout;
        Ok(FolderChange::Unsupported)
    }

    /// Interface 1.3. Announces that [`Folder::fetch_messages`] will be called with exactly
    /// these UIDs, after the calls announced before, so that a backend behind a slow link
    /// may ask for them now and have them arrive while the caller writes the batch before
    /// (IMAP sends the `UID FETCH` at once and reads its answer when the batch is asked
    /// for: the bytes wait in the socket, not in memory). A hint only: doing nothing, the
    /// default, is never wrong, and a backend must answer every call the same whether or
    /// not it was announced; a call other than the announced fetch may cost the transfers
    /// announced (IMAP reads and drops them first).
    fn prefetch_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        let _ = uids;
        Ok(())
    }

    /// Interface 1.3. Starts appending `messages` as [`Folder::append_messages`] would,
    /// without waiting for the store's answer, so that the caller prepares and starts the
    /// next batch while this one travels (IMAP sends the APPEND and reads its answer
    /// later). Each batch started is finished by one [`Folder::finish_append`], in the
    /// order started, and the caller makes no other call on the folder while one is
    /// started and not finished, but `start_append`, `finish_append` and `flush` (which
    /// leaves started batches alone). The messages are durable once their batch is
    /// finished: `finish_append` returns only then (IMAP: on the server's tagged OK).
    ///
    /// `Ok(Some(messages))` hands the batch back untouched, nothing started: the backend
    /// does not start appends (the default, never wrong); the caller then uses
    /// `append_messages`.
    fn start_append(
        &mut self,
        messages: Vec<NewMessage>,
    ) -> Result<Option<Vec<NewMessage>>, BackendError> {
        Ok(Some(messages))
    }

    /// Interface 1.3. The answer for the oldest batch started by [`Folder::start_append`]
    /// and not finished yet: what `append_messages` would have returned for it, or the
    /// error it would have given (an error of [`ErrorScope::Message`] means the same).
    fn finish_append(&mut self) -> Result<Vec<Option<Uid>>, BackendError> {
        Err(BackendError::folder(
            "finish_append without a batch started (a bug in the caller)",
        ))
    }
}
