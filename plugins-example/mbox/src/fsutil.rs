//! The few file-system steps that make an effect durable.

use std::fs::{DirBuilder, File};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// Makes the entries of `dir` (names created, renamed or removed in it) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory holding `file` (`.` for a bare name).
pub(crate) fn parent_of(file: &Path) -> &Path {
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Creates the directory `dir` (mode 0700, as mail is private) unless it exists, and
/// makes its name durable by syncing its parent. Returns whether it was created.
pub(crate) fn create_dir_durably(dir: &Path) -> io::Result<bool> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {
            sync_dir(parent_of(dir))?;
            Ok(true)
        }
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(error) => Err(error),
    }
}
