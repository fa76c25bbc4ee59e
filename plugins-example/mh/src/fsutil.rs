//! The few file-system steps that make an effect durable or safe.

use std::fs::{self, DirBuilder, File};
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backend_api::UnixTime;

/// Makes the entries of `dir` (names created, renamed or removed in it) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates the directory `dir` (mode 0700, nmh's default `Folder-Protect`) unless it
/// exists, and makes its name durable by syncing its parent. Returns whether it was
/// created.
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

/// Renames `from` to `to` unless `to` exists (then fails with `AlreadyExists`): a message
/// number is never overwritten, as that would destroy a message. Uses
/// `renameat2(RENAME_NOREPLACE)` where the kernel and file system have it, else a hard
/// link and an unlink (a crash between them leaves both names; see the callers).
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
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

/// Writes `bytes` to the new file `file`, sets its mtime to `internal_date` and fsyncs
/// it (the mtime before the fsync, so that it is durable too).
pub(crate) fn write_synced(
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

/// Whole seconds since the epoch, rounded toward minus infinity.
pub(crate) fn unix_time(time: SystemTime) -> UnixTime {
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

pub(crate) fn system_time(time: UnixTime) -> Option<SystemTime> {
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
    }

    #[test]
    fn times_convert_both_ways() {
        for time in [0, 1_500_000_000, -86_400] {
            assert_eq!(unix_time(system_time(time).unwrap()), time);
        }
    }
}
