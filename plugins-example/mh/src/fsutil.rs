//! The few file-system steps that make an effect durable or safe.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use backend_api::UnixTime;
pub(crate) use backend_kit::durable::{create_dir_durably, sync_dir, system_time, unix_time};

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
