//! Why a folder pair could not be synced.

use std::fmt;

use backend_api::{BackendError, ErrorScope};

use crate::side::Side;
use crate::state::StateError;

/// Why a folder pair could not be synced (one line each, with what to do).
#[derive(Debug)]
pub enum FolderFailure {
    Backend {
        side: Side,
        error: BackendError,
    },
    State(StateError),
    UidValidityChanged {
        side: Side,
        recorded: u32,
        found: u32,
    },
}

impl FolderFailure {
    /// Wraps an error of `side`'s repository, for `map_err`.
    pub fn backend(side: Side) -> impl Fn(BackendError) -> FolderFailure {
        move |error| FolderFailure::Backend { side, error }
    }

    /// Whether the whole repository is unusable, so other folders should not be tried.
    pub fn stops_account(&self) -> bool {
        match self {
            FolderFailure::Backend { error, .. } => error.scope == ErrorScope::Repository,
            FolderFailure::State(_) => true,
            FolderFailure::UidValidityChanged { .. } => false,
        }
    }
}

impl fmt::Display for FolderFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FolderFailure::Backend { side, error } => write!(f, "{} repository: {error}", side.name()),
            FolderFailure::State(error) => write!(f, "{error}"),
            FolderFailure::UidValidityChanged {
                side,
                recorded,
                found,
            } => write!(
                f,
                "the {} folder's UIDVALIDITY changed from {recorded} to {found} (it was recreated or renumbered), so its UIDs no longer name the same messages; nothing was changed on either side. To start this folder over: move the {} copy of the folder aside (keep it until you have checked), then run `twinbox forget` for this account and folder and sync again",
                side.name(),
                Side::Local.name(),
            ),
        }
    }
}

impl From<StateError> for FolderFailure {
    fn from(error: StateError) -> Self {
        FolderFailure::State(error)
    }
}
