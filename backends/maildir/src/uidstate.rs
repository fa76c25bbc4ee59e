//! A folder's UIDVALIDITY and next UID, kept in a one-line file inside the folder.
//!
//! The file is `.twinbox-uidvalidity`: hidden, as mbsync's `.uidvalidity` is. Mail
//! clients read only `cur/` and `new/`; notmuch, which reads every file under its root,
//! notes "Ignoring non-mail file" for it (hidden or not, as for mbsync's) unless its
//! `new.ignore` names it, which the README tells notmuch users to set. Earlier versions
//! named it `twinbox-uidvalidity`; that name is still read, and renamed to the new one
//! when the folder is opened for a sync.
//!
//! A Maildir has no UIDs of its own; the UIDs live in the file names and this file holds
//! what the names cannot: which UIDVALIDITY they belong to, and the next UID to hand out
//! (which must stay above every UID ever used, even of messages deleted since). Keeping it
//! inside the folder means it moves, and is deleted, together with the messages.
//!
//! Every change is written to a temporary file, fsynced and renamed over the old one, so
//! the file is always either the old or the new state, never a torn one. Writers in
//! different processes (or different folder objects) serialize on an advisory lock on the
//! folder directory and re-read the file under it.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use backend_api::{BackendError, ErrorScope, Uid, UidValidity};
use backend_kit::durable::replace_file;
use backend_kit::store::read_state_file;

/// The state file's name inside a folder directory.
pub(crate) const STATE_FILE: &str = ".twinbox-uidvalidity";
const STATE_TMP_FILE: &str = ".twinbox-uidvalidity.tmp";
/// The name earlier versions gave the state file (and its temporary file): read, and
/// renamed by [`migrate`].
pub(crate) const OLD_STATE_FILE: &str = "twinbox-uidvalidity";
const OLD_STATE_TMP_FILE: &str = "twinbox-uidvalidity.tmp";

/// An FMD5 value: 32 lowercase hexadecimal digits (an MD5 digest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Fmd5([u8; 32]);

impl Fmd5 {
    /// `text` as an FMD5 value, if it is 32 hexadecimal digits (in either case).
    pub fn parse(text: &str) -> Option<Fmd5> {
        let bytes: [u8; 32] = text.as_bytes().try_into().ok()?;
        if !bytes.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        Some(Fmd5(bytes.map(|b| b.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII hexadecimal digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// What the state file holds: `<uidvalidity> <nextuid>`, and `<accepted FMD5>` when the
/// folder adopted another FMD5 value (see `MaildirFolder::open`). A file of
/// two words (every file before there was a third) reads as having none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UidState {
    pub uid_validity: UidValidity,
    /// Greater than every UID handed out under this UIDVALIDITY.
    pub uid_next: Uid,
    /// An FMD5 other than the folder's own whose files' `U=` are this folder's UIDs too:
    /// OfflineIMAP's, when its local `nametrans` renamed the folder.
    pub accepted_fmd5: Option<Fmd5>,
}

impl UidState {
    /// A fresh state for a folder twinbox has not seen before.
    pub fn fresh(uid_next: Uid, accepted_fmd5: Option<Fmd5>) -> UidState {
        UidState {
            uid_validity: backend_kit::new_uid_validity(None),
            uid_next,
            accepted_fmd5,
        }
    }

    fn parse(text: &str) -> Option<UidState> {
        let mut words = text.split_ascii_whitespace();
        let uid_validity = words.next()?.parse::<UidValidity>().ok()?;
        let uid_next = words.next()?.parse::<Uid>().ok()?;
        let accepted_fmd5 = match words.next() {
            Some(word) => Some(Fmd5::parse(word)?),
            None => None,
        };
        if words.next().is_some() || uid_validity == 0 || uid_next == 0 {
            return None;
        }
        Some(UidState {
            uid_validity,
            uid_next,
            accepted_fmd5,
        })
    }

    fn render(&self) -> String {
        match &self.accepted_fmd5 {
            Some(fmd5) => format!(
                "{} {} {}\n",
                self.uid_validity,
                self.uid_next,
                fmd5.as_str()
            ),
            None => format!("{} {}\n", self.uid_validity, self.uid_next),
        }
    }
}

fn state_path(folder_dir: &Path) -> PathBuf {
    folder_dir.join(STATE_FILE)
}

/// The folder's state, or `None` when it has no state file yet.
///
/// A file that exists but does not parse is a folder-level error: guessing would risk
/// handing out UIDs twice, so the user decides (deleting the file makes the folder new).
pub(crate) fn read(folder_dir: &Path) -> Result<Option<UidState>, BackendError> {
    let mut path = state_path(folder_dir);
    let mut text = read_state_file(&path)?;
    if text.is_none() {
        // A folder an earlier version synced, opened read-only (a dry run) or not yet
        // migrated.
        path = folder_dir.join(OLD_STATE_FILE);
        text = read_state_file(&path)?;
    }
    let Some(text) = text else {
        return Ok(None);
    };
    match std::str::from_utf8(&text).ok().and_then(UidState::parse) {
        Some(state) => Ok(Some(state)),
        None => Err(BackendError::folder(format!(
            "{} is damaged (it should hold \"<uidvalidity> <nextuid>\", optionally followed by \
             an FMD5 value); delete it and \
             twinbox will treat the folder as new, with a new UIDVALIDITY",
            path.display()
        ))),
    }
}

/// Replaces the state file with `state` ([`replace_file`]: temporary file, fsync, rename).
/// The rename is durable only once the folder directory is synced, which the caller does
/// at once or at its next flush (either file is a valid state).
pub(crate) fn write(folder_dir: &Path, state: &UidState) -> Result<(), BackendError> {
    let tmp = folder_dir.join(STATE_TMP_FILE);
    let path = state_path(folder_dir);
    replace_file(&path, &tmp, state.render().as_bytes()).map_err(|error| {
        BackendError::io(
            ErrorScope::Folder,
            format!("cannot write {}", path.display()),
            &error,
        )
    })
}

/// Removes the temporary state file a writer killed between writing and renaming it left
/// behind. Call it only under [`lock`]: every writer holds the lock, so the file is then
/// nobody's work in progress.
pub(crate) fn remove_leftover(folder_dir: &Path) {
    for name in [STATE_TMP_FILE, OLD_STATE_TMP_FILE] {
        let tmp = folder_dir.join(name);
        match fs::remove_file(&tmp) {
            Ok(()) => log::info!("removed {}, left by an interrupted write", tmp.display()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => log::warn!("cannot remove {}: {error}", tmp.display()),
        }
    }
}

/// Gives a state file of the old name ([`OLD_STATE_FILE`]) the new one, by a rename, so
/// it is always one or the other. Call it under [`lock`], never in a dry run. Returns
/// whether the folder directory changed (the caller makes that durable).
pub(crate) fn migrate(folder_dir: &Path) -> Result<bool, BackendError> {
    let old = folder_dir.join(OLD_STATE_FILE);
    let new = state_path(folder_dir);
    let failed = |error: &io::Error| {
        BackendError::io(
            ErrorScope::Folder,
            format!("cannot rename {} to {}", old.display(), new.display()),
            error,
        )
    };
    match (fs::symlink_metadata(&old), fs::symlink_metadata(&new)) {
        (Err(error), _) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        (Err(error), _) => Err(failed(&error)),
        // Both: an older twinbox synced this folder after a newer one had renamed its
        // file. Each may have handed out UIDs the other does not know of, so the next
        // UID is the higher of the two; different UIDVALIDITYs cannot be merged.
        (Ok(_), Ok(_)) => {
            let read_one = |path: &Path| -> Result<UidState, BackendError> {
                let text = fs::read(path).map_err(|e| failed(&e))?;
                std::str::from_utf8(&text)
                    .ok()
                    .and_then(UidState::parse)
                    .ok_or_else(|| {
                        BackendError::folder(format!(
                            "{} is damaged; delete it (the folder keeps {})",
                            path.display(),
                            new.display()
                        ))
                    })
            };
            let (older, newer) = (read_one(&old)?, read_one(&new)?);
            if older.uid_validity != newer.uid_validity {
                return Err(BackendError::folder(format!(
                    "{} and {} hold different UIDVALIDITYs ({} and {}): an older and a newer \
                     twinbox both synced this folder; delete the one the sync state does not \
                     know (the newer twinbox uses {})",
                    old.display(),
                    new.display(),
                    older.uid_validity,
                    newer.uid_validity,
                    new.display()
                )));
            }
            let merged = UidState {
                uid_next: older.uid_next.max(newer.uid_next),
                ..newer
            };
            write(folder_dir, &merged)?;
            fs::remove_file(&old).map_err(|e| failed(&e))?;
            Ok(true)
        }
        (Ok(_), Err(_)) => {
            fs::rename(&old, &new).map_err(|e| failed(&e))?;
            Ok(true)
        }
    }
}

/// An exclusive advisory lock on a folder directory, held while the state file is read,
/// changed and written; released when dropped.
pub(crate) struct StateLock {
    _directory: File,
}

pub(crate) fn lock(folder_dir: &Path) -> Result<StateLock, BackendError> {
    let locked = File::open(folder_dir).and_then(|directory| {
        directory.lock()?;
        Ok(directory)
    });
    match locked {
        Ok(directory) => Ok(StateLock {
            _directory: directory,
        }),
        Err(error) => Err(BackendError::io(
            ErrorScope::Folder,
            format!("cannot lock folder directory {}", folder_dir.display()),
            &error,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_file_is_private_and_never_written_through_a_planted_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious\n").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(STATE_TMP_FILE)).unwrap();
        let state = UidState {
            uid_validity: 1_700_000_000,
            uid_next: 7,
            accepted_fmd5: None,
        };
        write(dir.path(), &state).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
        let mode = fs::metadata(dir.path().join(STATE_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn state_round_trips_and_damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let state = UidState {
            uid_validity: 1_700_000_000,
            uid_next: 42,
            accepted_fmd5: None,
        };
        write(dir.path(), &state).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join(STATE_FILE)).unwrap(),
            "1700000000 42\n"
        );
        assert_eq!(read(dir.path()).unwrap(), Some(state));
        assert!(!dir.path().join(STATE_TMP_FILE).exists());

        let fmd5 = "0123456789abcdef0123456789ABCDEF";
        let adopted = UidState {
            accepted_fmd5: Fmd5::parse(fmd5),
            ..state
        };
        write(dir.path(), &adopted).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join(STATE_FILE)).unwrap(),
            format!("1700000000 42 {}\n", fmd5.to_ascii_lowercase())
        );
        assert_eq!(read(dir.path()).unwrap(), Some(adopted));

        for damaged in [
            "",
            "12",
            "0 5",
            "5 0",
            "a b",
            "1 2 3",
            "-1 2",
            "1 2 0123456789abcdef0123456789abcdeg",
            "1 2 0123456789abcdef0123456789abcdef x",
        ] {
            fs::write(dir.path().join(STATE_FILE), damaged).unwrap();
            let error = read(dir.path()).unwrap_err();
            assert_eq!(error.scope, ErrorScope::Folder);
            assert!(error.message.contains(STATE_FILE), "{}", error.message);
            assert!(error.message.contains("delete it"), "{}", error.message);
        }
    }

    #[test]
    fn a_leftover_temporary_state_file_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        remove_leftover(dir.path());
        fs::write(dir.path().join(STATE_TMP_FILE), "1 2\n").unwrap();
        remove_leftover(dir.path());
        assert!(!dir.path().join(STATE_TMP_FILE).exists());
    }

    #[test]
    fn the_lock_can_be_taken_again_after_release() {
        let dir = tempfile::tempdir().unwrap();
        drop(lock(dir.path()).unwrap());
        drop(lock(dir.path()).unwrap());
    }

    #[test]
    fn the_old_name_is_read_and_migrated() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(OLD_STATE_FILE), "1600000000 7\n").unwrap();
        let state = read(dir.path()).unwrap().expect("the old file is read");
        assert_eq!((state.uid_validity, state.uid_next), (1_600_000_000, 7));
        assert!(migrate(dir.path()).unwrap());
        assert!(!dir.path().join(OLD_STATE_FILE).exists());
        assert_eq!(
            fs::read_to_string(dir.path().join(STATE_FILE)).unwrap(),
            "1600000000 7\n"
        );
        assert_eq!(read(dir.path()).unwrap(), Some(state));
        assert!(!migrate(dir.path()).unwrap(), "nothing left to migrate");
    }
}
