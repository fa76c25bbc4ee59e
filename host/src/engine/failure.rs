//! Why a folder pair could not be synced.

use std::fmt;

use backend_api::{BackendError, ErrorScope, FolderPath, Uid, UidValidity};

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
    /// A folder's UIDVALIDITY on one side is not the one recorded at the last sync.
    UidValidityChanged {
        account: String,
        folder: FolderPath,
        side: Side,
        /// The config name of that side's repository.
        repository: String,
        recorded: UidValidity,
        found: UidValidity,
    },
    /// A side's UIDNEXT is below what the state recorded (or below a UID the state pairs),
    /// with the same UIDVALIDITY: the side gives out UIDs again.
    UidNextWentBack {
        account: String,
        folder: FolderPath,
        side: Side,
        repository: String,
        recorded: Uid,
        found: Uid,
    },
    /// The deletions planned on a side would remove too much of the folder.
    DeletionGuard {
        account: String,
        folder: FolderPath,
        side: Side,
        repository: String,
        deletions: usize,
        messages: usize,
        percent: u32,
    },
    /// A side listed fewer messages than it says the folder holds: its listing cannot be
    /// trusted to tell what was deleted.
    ListingIncomplete {
        side: Side,
        repository: String,
        listed: usize,
        holds: u32,
    },
    /// A message was uploaded twice to a side that does not tell new UIDs, and neither
    /// copy can be found again (the side stores other bytes than it is given): a third
    /// upload would only make a third copy.
    CopyNotFound {
        account: String,
        folder: FolderPath,
        /// The side copied to.
        side: Side,
        repository: String,
        source_uid: Uid,
    },
}

impl FolderFailure {
    /// Wraps an error of `side`'s repository, for `map_err`.
    pub fn backend(side: Side) -> impl Fn(BackendError) -> FolderFailure {
        move |error| FolderFailure::Backend { side, error }
    }

    /// Whether `twinbox repair` is the way out: the folder's UIDs no longer mean what the
    /// state says they mean on one side.
    pub fn is_repairable(&self) -> bool {
        matches!(
            self,
            FolderFailure::UidValidityChanged { .. } | FolderFailure::UidNextWentBack { .. }
        )
    }

    /// Whether the whole repository is unusable, so other folders should not be tried.
    pub fn stops_account(&self) -> bool {
        match self {
            FolderFailure::Backend { error, .. } => error.scope == ErrorScope::Repository,
            FolderFailure::State(_) => true,
            FolderFailure::UidValidityChanged { .. }
            | FolderFailure::UidNextWentBack { .. }
            | FolderFailure::DeletionGuard { .. }
            | FolderFailure::ListingIncomplete { .. }
            | FolderFailure::CopyNotFound { .. } => false,
        }
    }
}

impl fmt::Display for FolderFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FolderFailure::Backend { side, error } => write!(f, "{} repository: {error}", side.name()),
            FolderFailure::State(error) => write!(f, "{error}"),
            FolderFailure::CopyNotFound {
                account,
                folder,
                side,
                repository,
                source_uid,
            } => write!(
                f,
                "folder {folder}: message UID {source_uid} of the {other} side was uploaded twice to repository {repository} ({side}), which does not report new UIDs (no UIDPLUS) and stores messages changed (so neither copy can be found again by its content or Message-ID); not uploading it a third time. Delete the extra copies there, then {}",
                repair_advice(account, folder).replacen("Run", "run", 1),
                other = side.other(),
            ),
            FolderFailure::UidValidityChanged {
                account,
                folder,
                side,
                repository,
                recorded,
                found,
            } => write!(
                f,
                "folder {folder} in repository {repository} ({side}): its UIDVALIDITY changed from {recorded} to {found} (the folder was recreated or renumbered there), so its UIDs no longer name the messages paired at the last sync; nothing was changed on either side. {}",
                repair_advice(account, folder),
            ),
            FolderFailure::UidNextWentBack {
                account,
                folder,
                side,
                repository,
                recorded,
                found,
            } => write!(
                f,
                "folder {folder} in repository {repository} ({side}): its UIDNEXT went back from {recorded} to {found} with the same UIDVALIDITY (was it restored from a backup?), so it gives out UIDs that the sync state pairs with other messages; nothing was changed on either side. {}",
                repair_advice(account, folder),
            ),
            FolderFailure::DeletionGuard {
                account,
                folder,
                side,
                repository,
                deletions,
                messages,
                percent,
            } => write!(
                f,
                "deletion guard: {deletions} of {messages} messages of folder {folder} would be deleted on the {side} side (repository {repository}), because they are gone from the other side; nothing was deleted or changed on either side. If that is what you want, run `twinbox sync -a {} -f {} --allow-deletions` (it deletes exactly these {deletions}); set deletionguard in [Account {account}] to change the limit ({}, 0 turns the guard off)",
                shell_word(account),
                shell_word(folder.as_str()),
                if *percent == 0 { "off".to_owned() } else { format!("now {percent}%") },
            ),
            FolderFailure::ListingIncomplete {
                side,
                repository,
                listed,
                holds,
            } => write!(
                f,
                "repository {repository} ({side}) listed {listed} messages but says the folder holds {holds}; an incomplete listing could read as deletions, so nothing was changed on either side; try again"
            ),
        }
    }
}

/// What to run after a folder's UIDs changed meaning on one side.
fn repair_advice(account: &str, folder: &FolderPath) -> String {
    format!(
        "Run `twinbox repair -a {} -f {}`: it pairs the folder's messages again by content (flags of both sides kept), copies only what one side lacks, and downloads nothing it already has",
        shell_word(account),
        shell_word(folder.as_str()),
    )
}

/// `word` as one word for a POSIX shell: as it is when it holds only characters no
/// shell treats specially, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._-/+=:@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

impl From<StateError> for FolderFailure {
    fn from(error: StateError) -> Self {
        FolderFailure::State(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_words_are_quoted_only_when_a_shell_needs_it() {
        assert_eq!(shell_word("Work/Projects"), "Work/Projects");
        assert_eq!(shell_word("My Mail"), "'My Mail'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
