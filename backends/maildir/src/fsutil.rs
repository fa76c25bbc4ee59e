//! The few file-system steps that make an effect durable.

use std::fs::{DirBuilder, File};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// Makes the entries of `dir` (names created, renamed or removed in it) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates the directory `dir` (mode 0700, as mail is private) unless it exists, and then
/// makes its name durable by syncing its parent. Returns whether it was created.
pub(crate) fn create_dir_durably(dir: &Path) -> io::Result<bool> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
            Ok(true)
        }
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(error) => Err(error),
    }
}

/// Whether `dir` is a Maildir folder: it has `cur/` and `new/` (a missing `tmp/` is made
/// when the first message is appended).
pub(crate) fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && dir.join("new").is_dir()
}
