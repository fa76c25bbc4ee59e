//! File-system steps that file-based backends (Maildir, mbox, MH) all need to make an
//! effect durable, and the conversions between file times and internal dates.
//!
//! Durability on POSIX: a new or renamed name is durable once its directory is fsynced,
//! and a file's content (and mtime) once the file is.

use std::fs::{DirBuilder, File};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backend_api::UnixTime;

/// Makes the entries of `dir` (names created, renamed or removed in it) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory holding `path` (`.` for a bare name).
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Creates the directory `dir` (mode 0700: mail is private) unless it exists, and makes its
/// name durable by syncing its parent. Returns whether it was created.
pub fn create_dir_durably(dir: &Path) -> io::Result<bool> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {
            sync_dir(parent_of(dir))?;
            Ok(true)
        }
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(error) => Err(error),
    }
}

/// Whole seconds since the epoch, rounded toward minus infinity (as whole seconds of a
/// date before 1970 are).
pub fn unix_time(time: SystemTime) -> UnixTime {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => UnixTime::try_from(after.as_secs()).unwrap_or(UnixTime::MAX),
        Err(before) => {
            let before = before.duration();
            let seconds = UnixTime::try_from(before.as_secs()).unwrap_or(UnixTime::MAX);
            if before.subsec_nanos() > 0 {
                -seconds - 1
            } else {
                -seconds
            }
        }
    }
}

/// The `SystemTime` of an internal date, if it can be represented.
pub fn system_time(time: UnixTime) -> Option<SystemTime> {
    let magnitude = Duration::from_secs(time.unsigned_abs());
    if time >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_round_down() {
        for seconds in [0, 1_700_000_000, -1, -86_400] {
            assert_eq!(unix_time(system_time(seconds).unwrap()), seconds);
        }
        let just_before_epoch = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(unix_time(just_before_epoch), -1);
    }

    #[test]
    fn directories_are_created_once() {
        let root = std::env::temp_dir().join(format!("twinbox-durable-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir(&root).unwrap();
        let dir = root.join("folder");
        assert!(create_dir_durably(&dir).unwrap());
        assert!(!create_dir_durably(&dir).unwrap());
        assert_eq!(parent_of(Path::new("bare")), Path::new("."));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
