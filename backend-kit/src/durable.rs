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
///
/// `tmp` is created anew (`O_EXCL`), never opened as found: whatever is there (a leftover
/// of a killed writer, or a symbolic link planted to make us write elsewhere, or a file
/// with a looser mode) is removed first, and `O_EXCL` refuses to follow a link that
/// appears in between.
pub fn replace_file(path: &Path, tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    match fs::remove_file(tmp) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
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
pub fn write_synced(file: File, bytes: &[u8], internal_date: Option<UnixTime>) -> io::Result<()> {
    write_dated(&file, bytes, internal_date)?;
    file.sync_all()
}

/// Writes `bytes` to the new file `file` and sets its mtime to `internal_date`, without
/// syncing: the caller makes a whole batch durable at once with [`sync_files`] before
/// any of its names becomes visible.
pub fn write_dated(
    mut file: &File,
    bytes: &[u8],
    internal_date: Option<UnixTime>,
) -> io::Result<()> {
    file.write_all(bytes)?;
    if let Some(date) = internal_date.and_then(system_time) {
        file.set_modified(date)?;
    }
    Ok(())
}

/// How many fsyncs [`sync_files`] keeps in flight. Measured on ext4 in a shared VM
/// (2,000 files of 70 KB, medians of three runs on three occasions;
/// `backend-kit/examples/durability-variants.rs`): one fsync after another waits for a
/// journal commit each (9.3, 2.5 and 4.5 s); 16 at once share commits (0.75, 1.8 and
/// 1.7 s), as fast as writing with no fsync at all when the disk is busy (1.9, 2.1 s);
/// 4 to 32 differ by less than the noise, and each waiter is a thread.
pub const PARALLEL_SYNCS: usize = 16;

/// Makes the content and metadata (the mtime) of every file in `files` durable, as
/// `sync_all` on each would, with up to [`PARALLEL_SYNCS`] fsyncs in flight at once: the
/// file system then commits them together (ext4 and XFS join concurrent fsyncs into one
/// journal commit) instead of one commit per file.
///
/// Every file is synced even if one fails, and the first error is returned: a batch is
/// durable only if this returns `Ok`. The names of the files are not made durable (sync
/// their directories for that, after renaming them into place).
///
/// Why fsyncs in parallel rather than `syncfs(2)`, which measured about as fast: syncfs
/// writes back the whole file system, other programs' dirty data included, so its cost
/// is not ours to bound; and it reports a write error without saying which file lost
/// data (before Linux 5.8, not at all). An fsync's error belongs to its file.
pub fn sync_files(files: &[File]) -> io::Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    if files.len() <= 1 {
        return files.iter().try_for_each(File::sync_all);
    }
    // Threads take the next file from a shared counter, so one slow fsync does not hold
    // up a whole share of the batch.
    let next = AtomicUsize::new(0);
    let first_error = Mutex::new(None);
    let work = || loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(file) = files.get(index) else {
            break;
        };
        if let Err(error) = file.sync_all() {
            let mut first = first_error.lock().unwrap_or_else(|e| e.into_inner());
            first.get_or_insert(error);
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..PARALLEL_SYNCS.min(files.len()) {
            // A thread that cannot be started only means fewer fsyncs in flight.
            if std::thread::Builder::new()
                .spawn_scoped(scope, work)
                .is_err()
            {
                break;
            }
        }
        // This thread works too, so the batch is synced even if no thread started.
        work();
    });
    match first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(error) => Err(error),
        None => Ok(()),
    }
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
    use std::path::PathBuf;

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
    fn replace_file_never_follows_a_planted_link_nor_keeps_a_loose_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (path, tmp) = (dir.path().join("state"), dir.path().join("state.tmp"));
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious\n").unwrap();
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        replace_file(&path, &tmp, b"new\n").unwrap();
        assert_eq!(
            fs::read(&victim).unwrap(),
            b"precious\n",
            "the link was followed"
        );
        assert_eq!(fs::read(&path).unwrap(), b"new\n");
        assert!(!fs::symlink_metadata(&path).unwrap().is_symlink());

        fs::write(&tmp, b"leftover").unwrap();
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644)).unwrap();
        replace_file(&path, &tmp, b"newer\n").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "a leftover's mode is not kept");
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
    fn sync_files_syncs_every_file_of_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        for count in [0, 1, 2, PARALLEL_SYNCS + 3] {
            let files: Vec<(PathBuf, File)> = (0..count)
                .map(|n| {
                    let path = dir.path().join(format!("{count}-{n}"));
                    let file = File::create(&path).unwrap();
                    write_dated(
                        &file,
                        format!("m{n}").as_bytes(),
                        Some(1_500_000_000 + n as i64),
                    )
                    .unwrap();
                    (path, file)
                })
                .collect();
            let handles: Vec<File> = files.iter().map(|(_, f)| f.try_clone().unwrap()).collect();
            sync_files(&handles).unwrap();
            for (n, (path, _)) in files.iter().enumerate() {
                assert_eq!(fs::read(path).unwrap(), format!("m{n}").as_bytes());
                let mtime = fs::metadata(path).unwrap().modified().unwrap();
                assert_eq!(unix_time(mtime), 1_500_000_000 + n as i64);
            }
        }
    }

    #[test]
    fn sync_files_reports_a_failure() {
        // fsync of a pipe fails (EINVAL): one bad file in a batch fails the batch.
        let dir = tempfile::tempdir().unwrap();
        let good = File::create(dir.path().join("good")).unwrap();
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe(2) returns.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both descriptors are new and owned by nothing else.
        let (read, write) = unsafe {
            use std::os::unix::io::FromRawFd;
            (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1]))
        };
        assert!(sync_files(&[good, read, write]).is_err());
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
