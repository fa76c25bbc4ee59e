//! Errors a backend returns, graded twice, as isync grades them: by how much of the sync
//! they spoil ([`ErrorScope`], which the engine acts on today: skip a message, stop a
//! folder, give up an account) and by whether trying again can help ([`Retry`], which
//! `twinbox daemon` acts on: it retries a failed account soon for `Now`, with growing
//! pauses for `Later`, and only at its next refresh for `Never`; its IDLE watchers
//! reconnect unless told `Never`).

use std::fmt;

/// How much of the sync an error spoils.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorScope {
    /// One message could not be handled; the rest of its folder can go on.
    Message,
    /// The folder cannot be synced this time; other folders can go on.
    Folder,
    /// The whole repository is unusable (bad config, login refused, connection gone).
    Repository,
}

/// Whether trying again can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Retry {
    /// A transient fault: retrying at once may succeed.
    Now,
    /// Retrying on a later run may succeed (server busy, network down).
    Later,
    /// Retrying without a change by the user will fail the same way.
    Never,
}

/// An error returned by a backend (or made by the adapters for a plugin that panicked or
/// broke a contract). The message is one line and names what failed and, where it can,
/// what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct BackendError {
    pub scope: ErrorScope,
    pub retry: Retry,
    pub message: String,
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl BackendError {
    pub fn new(scope: ErrorScope, retry: Retry, message: impl Into<String>) -> Self {
        BackendError {
            scope,
            retry,
            message: message.into(),
        }
    }

    /// A message-level error that will not go away by itself.
    pub fn message(message: impl Into<String>) -> Self {
        BackendError::new(ErrorScope::Message, Retry::Never, message)
    }

    /// A folder-level error that will not go away by itself.
    pub fn folder(message: impl Into<String>) -> Self {
        BackendError::new(ErrorScope::Folder, Retry::Never, message)
    }

    /// A repository-level error that will not go away by itself (e.g. bad configuration).
    pub fn repository(message: impl Into<String>) -> Self {
        BackendError::new(ErrorScope::Repository, Retry::Never, message)
    }

    /// The same error with another retry policy.
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// An I/O error, graded by its kind: interrupted or would-block can be retried now,
    /// a missing file is a message- or folder-level matter decided by `scope`.
    pub fn io(scope: ErrorScope, context: impl fmt::Display, error: &std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        let retry = match error.kind() {
            Interrupted | WouldBlock | TimedOut => Retry::Now,
            StorageFull | QuotaExceeded | ResourceBusy => Retry::Later,
            _ => Retry::Never,
        };
        BackendError::new(scope, retry, format!("{context}: {error}"))
    }

    /// This error with `prefix: ` in front of its message.
    pub fn context(mut self, prefix: impl fmt::Display) -> Self {
        self.message = format!("{prefix}: {}", self.message);
        self
    }
}
