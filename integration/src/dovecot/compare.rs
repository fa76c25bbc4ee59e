//! Comparing a local Maildir with the server: where a folder lives locally, the file time a
//! Maildir message's INTERNALDATE comes from, and the assertion that both sides match.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::{mutf7_encode, Dovecot};

/// The directory of twinbox folder `folder` under the Maildir root `root` with `sep` `.`:
/// `Work/Projects` -> `Work.Projects`, in modified UTF-7 unless `utf8` (the account's
/// `utf8foldernames`).
pub fn local_folder_dir(root: &Path, folder: &str, utf8: bool) -> PathBuf {
    let name = folder.replace('/', ".");
    root.join(if utf8 { name } else { mutf7_encode(&name) })
}

/// Panics, showing the difference, unless the Maildir folder `dir` and `user`'s `folder` on
/// the server hold the same messages (contents modulo CRLF <-> LF) with the same flags.
#[track_caller]
pub fn assert_folder_matches(dovecot: &Dovecot, user: &str, folder: &str, dir: &Path) {
    assert!(
        dir.join("cur").is_dir(),
        "no Maildir folder at {}",
        dir.display()
    );
    let server = BTreeMap::from([(folder.to_owned(), dovecot.folder_map(user, folder))]);
    let local = BTreeMap::from([(folder.to_owned(), crate::folder_map(dir))]);
    crate::assert_same_tree(&server, &local);
}

/// Panics unless every message file of `user`'s `folder` under the Maildir root `local`
/// is a whole message of the server's, and nothing is left in any `tmp/` or out of the
/// Maildir layout (what a run stopped half-way may leave is only whole messages); returns
/// how many landed.
#[track_caller]
pub fn assert_only_whole_messages(
    dovecot: &Dovecot,
    user: &str,
    folder: &str,
    local: &Path,
) -> usize {
    let server = dovecot.folder_map(user, folder);
    let landed = crate::messages(&local.join(folder));
    for file in &landed {
        assert!(
            server.contains_key(&file.content),
            "{} is not a whole message ({} bytes)",
            file.path.display(),
            file.content.len()
        );
    }
    let leftovers = crate::tmp_leftovers(local);
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let strays = crate::stray_files(local);
    assert!(strays.is_empty(), "{strays:?}");
    landed.len()
}

/// A file's modification time in whole seconds since the epoch.
pub fn mtime_unix(path: &Path) -> i64 {
    let modified = fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("mtime of {}: {e}", path.display()));
    match modified.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    }
}

/// Sets a file's modification time (what a Maildir message's INTERNALDATE is taken from).
pub fn set_mtime_unix(path: &Path, secs: i64) {
    let time = UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64);
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(time))
        .unwrap_or_else(|e| panic!("set the mtime of {}: {e}", path.display()));
}
