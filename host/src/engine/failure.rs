//! Why a folder pair could not be synced.

use std::fmt;

use backend_api::{BackendError, ErrorScope, FolderPath, UidValidity};

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
                account,
                folder,
                side,
                repository,
                recorded,
                found,
            } => write!(
                f,
                "folder {folder} in repository {repository} ({side}): its UIDVALIDITY changed from {recorded} to {found} (the folder was recreated or renumbered there), so its UIDs no longer name the messages paired at the last sync; nothing was changed on either side. To sync this folder again, run `twinbox forget -a {} -f {}`, then sync: the folder is then synced as if new, so the messages of each side are copied to the other again, and those that were on both sides will be there twice (to avoid that, first empty the folder on one side, once you have checked that the other side holds every message you want to keep)",
                shell_word(account),
                shell_word(folder.as_str()),
            ),
        }
    }
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
