//! File-system steps that file-based backends (Maildir, mbox, MH) all need to make an
//! effect durable or safe, and the conversions between file times and internal dates.
//!
//! Durability on POSIX: a new or renamed name is durable once its directory is fsynced,
//! and a file's content (and mtime) once the file is.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
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

/// Replaces the small file `path` (a state file, an index) with `bytes`: written to `tmp`
/// (mode 0600: it describes private mail), fsynced, and renamed over `path`, so that `path`
/// always holds the old or the new content, never a torn one. On failure `tmp` is removed.
///
/// The rename is durable only once the directory is synced ([`sync_dir`]), which the caller
/// does at once or at its next flush. `tmp` must be a name no other writer uses at the same
/// time: callers hold a lock, or own the name.
pub fn replace_file(path: &Path, tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(tmp);
    }
    written
}

/// Writes `bytes` to the new file `file`, sets its mtime to `internal_date` and fsyncs
/// it (the mtime before the fsync, so that it is durable too).
pub fn write_synced(
    mut file: File,
    bytes: &[u8],
    internal_date: Option<UnixTime>,
) -> io::Result<()> {
    file.write_all(bytes)?;
    if let Some(date) = internal_date.and_then(system_time) {
        file.set_modified(date)?;
    }
    file.sync_all()
}

/// Renames `from` to `to` unless `to` exists (then fails with `AlreadyExists`): a message
/// file is never overwritten, as that would destroy a message. rename(2) alone would
/// silently replace `to`, and checking first races with other writers.
///
/// Uses `renameat2(RENAME_NOREPLACE)` where the kernel and file system have it, else a
/// hard link and an unlink; a crash between those two leaves both names, the same file
/// twice, which callers must tolerate (a missing `from` is `NotFound` either way).
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c_from = CString::new(from.as_os_str().as_bytes())?;
        let c_to = CString::new(to.as_os_str().as_bytes())?;
        // SAFETY: both are valid NUL-terminated paths that outlive the call.
        let result = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                c_from.as_ptr(),
                libc::AT_FDCWD,
                c_to.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if result == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if !matches!(error.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
            return Err(error);
        }
        // The file system cannot do it (some network file systems): link and unlink.
    }
    fs::hard_link(from, to)?;
    fs::remove_file(from)
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
    fn rename_noreplace_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, "a").unwrap();
        fs::write(&b, "b").unwrap();
        let error = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&b).unwrap(), b"b");
        fs::remove_file(&b).unwrap();
        rename_noreplace(&a, &b).unwrap();
        assert!(!a.exists());
        assert_eq!(fs::read(&b).unwrap(), b"a");
        let gone = rename_noreplace(&a, &dir.path().join("c")).unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn replace_file_leaves_the_new_content_and_no_temporary_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (path, tmp) = (dir.path().join("state"), dir.path().join("state.tmp"));
        replace_file(&path, &tmp, b"old\n").unwrap();
        replace_file(&path, &tmp, b"new\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new\n");
        assert!(!tmp.exists());
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A failed write (here: the target is a directory) leaves no temporary file.
        let target = dir.path().join("sub");
        fs::create_dir_all(target.join("x")).unwrap();
        assert!(replace_file(&target, &tmp, b"x").is_err());
        assert!(!tmp.exists());
    }

    #[test]
    fn write_synced_sets_the_internal_date() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("message");
        write_synced(File::create(&path).unwrap(), b"m", Some(1_500_000_000)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"m");
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(unix_time(mtime), 1_500_000_000);
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
