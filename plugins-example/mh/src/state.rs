//! The plugin's own file in each folder, `.twinbox-mh-state` (nmh ignores dot files).
//!
//! MH has message numbers but no UIDVALIDITY, and nothing that says a number was used
//! before. This file holds what the sync needs beyond the numbers:
//!
//! ```text
//! twinbox-mh-state 1
//! uidvalidity 1700000000
//! highest 42
//! message 7 1835029 2210 1699999000 120000000 0f343b0931126a20f133d67c2b018a3b
//! ```
//!
//! `highest` is the highest number ever handed out or seen under this UIDVALIDITY: new
//! messages are numbered above it, so a number is never given to a second message. Each
//! `message` line is a fingerprint of one message known at the last listing: number,
//! inode, size, mtime (seconds, nanoseconds) and identity (see `identity`). The first
//! four make the check of an unchanged file a `stat`; the identity settles whether a file
//! that did change is still the same message.
//!
//! Every change is written to a temporary file, fsynced and renamed over the old one, so
//! the file is always the old or the new state, never a torn one. It is only written
//! under the folder lock (see `locking`).

use std::collections::BTreeMap;
use std::fs::{self, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use backend_api::{BackendError, ErrorScope, Uid, UidValidity};
use backend_kit::durable::replace_file;
use backend_kit::store::read_state_file;

use crate::identity::Identity;

/// The state file's name inside a folder directory.
pub(crate) const STATE_FILE: &str = ".twinbox-mh-state";
/// Its temporary name while being replaced.
pub(crate) const STATE_TMP_FILE: &str = ".twinbox-mh-state.tmp";
const MAGIC: &str = "twinbox-mh-state 1";

/// What `stat` says about a file, enough to tell that it was not touched: a rename
/// (`folder -pack`) keeps size and mtime but brings another inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub inode: u64,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: i64,
}

impl Stamp {
    pub fn of(metadata: &Metadata) -> Stamp {
        Stamp {
            inode: metadata.ino(),
            size: metadata.len(),
            mtime: metadata.mtime(),
            mtime_nsec: metadata.mtime_nsec(),
        }
    }
}

/// One known message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub stamp: Stamp,
    pub identity: Identity,
}

/// The whole state of one folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FolderState {
    pub uid_validity: UidValidity,
    /// The highest message number ever used under this UIDVALIDITY.
    pub highest: Uid,
    /// The messages known at the last listing, by number (= UID).
    pub known: BTreeMap<Uid, Fingerprint>,
}

impl FolderState {
    fn render(&self) -> String {
        let mut text = format!(
            "{MAGIC}\nuidvalidity {}\nhighest {}\n",
            self.uid_validity, self.highest
        );
        for (number, fingerprint) in &self.known {
            let Stamp {
                inode,
                size,
                mtime,
                mtime_nsec,
            } = fingerprint.stamp;
            text.push_str(&format!(
                "message {number} {inode} {size} {mtime} {mtime_nsec} {}\n",
                hex(&fingerprint.identity)
            ));
        }
        text
    }

    fn parse(text: &str) -> Option<FolderState> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let field = |line: Option<&str>, name: &str| -> Option<u32> {
            let (key, value) = line?.split_once(' ')?;
            (key == name).then(|| value.parse::<u32>().ok())?
        };
        let uid_validity = field(lines.next(), "uidvalidity").filter(|&v| v > 0)?;
        let highest = field(lines.next(), "highest")?;
        let mut known = BTreeMap::new();
        for line in lines {
            let words: Vec<&str> = line.split(' ').collect();
            let ["message", number, inode, size, mtime, mtime_nsec, identity] = words[..] else {
                return None;
            };
            let number = number
                .parse::<Uid>()
                .ok()
                .filter(|&n| n > 0 && n <= highest)?;
            let fingerprint = Fingerprint {
                stamp: Stamp {
                    inode: inode.parse().ok()?,
                    size: size.parse().ok()?,
                    mtime: mtime.parse().ok()?,
                    mtime_nsec: mtime_nsec.parse().ok()?,
                },
                identity: unhex(identity)?,
            };
            if known.insert(number, fingerprint).is_some() {
                return None;
            }
        }
        Some(FolderState {
            uid_validity,
            highest,
            known,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Identity> {
    if text.len() != 32 || !text.is_ascii() {
        return None;
    }
    let mut identity = [0u8; 16];
    for (index, byte) in identity.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * index..2 * index + 2], 16).ok()?;
    }
    Some(identity)
}

/// The folder's state, or `None` when it has no state file yet.
///
/// A file that exists but does not parse is a folder-level error: guessing could give a
/// number to a second message, so the user decides (deleting the file makes the folder
/// new to twinbox, with a new UIDVALIDITY).
pub(crate) fn read(folder_dir: &Path) -> Result<Option<FolderState>, BackendError> {
    let path = folder_dir.join(STATE_FILE);
    let Some(bytes) = read_state_file(&path)? else {
        return Ok(None);
    };
    match std::str::from_utf8(&bytes)
        .ok()
        .and_then(FolderState::parse)
    {
        Some(state) => Ok(Some(state)),
        None => Err(BackendError::folder(format!(
            "{} is damaged; delete it and twinbox will treat the folder as new, with a new \
             UIDVALIDITY (the next sync then pairs its messages again by content)",
            path.display()
        ))),
    }
}

/// The stamp of the state file, to tell whether it changed since it was last read.
pub(crate) fn file_stamp(folder_dir: &Path) -> Option<Stamp> {
    fs::metadata(folder_dir.join(STATE_FILE))
        .ok()
        .map(|metadata| Stamp::of(&metadata))
}

/// Replaces the state file ([`replace_file`]: temporary file, fsync, rename). The rename is
/// durable once the folder directory is synced, which the caller does.
pub(crate) fn write(folder_dir: &Path, state: &FolderState) -> Result<(), BackendError> {
    let tmp = folder_dir.join(STATE_TMP_FILE);
    let path = folder_dir.join(STATE_FILE);
    replace_file(&path, &tmp, state.render().as_bytes()).map_err(|error| {
        BackendError::io(
            ErrorScope::Folder,
            format!("cannot write {}", path.display()),
            &error,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FolderState {
        let mut known = BTreeMap::new();
        known.insert(
            7,
            Fingerprint {
                stamp: Stamp {
                    inode: 1_835_029,
                    size: 2210,
                    mtime: -5,
                    mtime_nsec: 120_000_000,
                },
                identity: *b"0123456789abcdef",
            },
        );
        FolderState {
            uid_validity: 1_700_000_000,
            highest: 42,
            known,
        }
    }

    #[test]
    fn state_round_trips_and_damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        write(dir.path(), &sample()).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join(STATE_FILE)).unwrap(),
            "twinbox-mh-state 1\nuidvalidity 1700000000\nhighest 42\n\
             message 7 1835029 2210 -5 120000000 30313233343536373839616263646566\n"
        );
        assert_eq!(read(dir.path()).unwrap(), Some(sample()));
        assert!(!dir.path().join(STATE_TMP_FILE).exists());

        let good = sample().render();
        let damaged = [
            String::new(),
            "twinbox-mh-state 2\nuidvalidity 1\nhighest 1\n".to_owned(),
            "twinbox-mh-state 1\nuidvalidity 0\nhighest 1\n".to_owned(),
            "twinbox-mh-state 1\nhighest 1\nuidvalidity 1\n".to_owned(),
            good.replace("message 7", "message 43"),
            good.replace("message 7", "message 0"),
            good.replace(" 2210 ", " x "),
            good.replace("6566\n", "65\n"),
            format!("{good}{}", good.lines().last().unwrap()),
        ];
        for text in damaged {
            fs::write(dir.path().join(STATE_FILE), &text).unwrap();
            let error = read(dir.path()).unwrap_err();
            assert_eq!(error.scope, ErrorScope::Folder, "{text:?}");
            assert!(error.message.contains("delete it"), "{}", error.message);
        }
    }
}
