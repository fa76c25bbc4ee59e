//! Locking an mbox the way mutt does, so that mutt, procmail and the MTA's local delivery
//! never write it at the same time as we do.
//!
//! Writers take, in mutt's order, an `fcntl` write lock on the whole file and then a
//! *dotlock*: the file `NAME.lock` beside the mbox, created with `O_EXCL` (it is the only
//! lock that works for every program and over NFS). Readers take an `fcntl` read lock only,
//! as mutt does, so a dry run creates no file. Both are tried without blocking and retried
//! until a deadline, so two programs taking them in different orders cannot deadlock.
//!
//! On Linux the `fcntl` lock is an open-file-description lock (`F_OFD_SETLK`): it conflicts
//! with the classic POSIX locks other programs take, but belongs to our file handle rather
//! than to the process, so closing some other handle of the same file (another folder
//! object, another thread) does not silently drop it.
//!
//! A dotlock whose writer is gone is stale: one holding the number of a process that no
//! longer exists (we, like liblockfile, write our pid into it), or, holding no pid, one
//! older than five minutes. It is removed. Others are waited for until the deadline.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// A dotlock without a pid older than this is taken to be abandoned.
const STALE_AGE: Duration = Duration::from_secs(300);

#[cfg(target_os = "linux")]
const SET_LOCK: libc::c_int = libc::F_OFD_SETLK;
#[cfg(not(target_os = "linux"))]
const SET_LOCK: libc::c_int = libc::F_SETLK;

/// Why a lock could not be taken.
#[derive(Debug)]
pub(crate) enum LockError {
    /// Another program held it until the deadline; says which lock.
    Busy(String),
    Io(io::Error),
}

impl From<io::Error> for LockError {
    fn from(error: io::Error) -> Self {
        LockError::Io(error)
    }
}

/// The dotlock's name for `mbox`: `NAME.lock` beside it.
pub(crate) fn dotlock_path(mbox: &Path) -> PathBuf {
    let mut name = mbox.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    mbox.with_file_name(name)
}

/// A locked mbox: the handle the `fcntl` lock is on (opened read-write for a write lock)
/// and the dotlock we created, if any. Dropping it releases both.
pub(crate) struct MboxLock {
    file: File,
    dotlock: Option<PathBuf>,
}

impl MboxLock {
    /// The mbox, opened when it was locked.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for MboxLock {
    fn drop(&mut self) {
        if let Some(dotlock) = &self.dotlock {
            if let Err(error) = fs::remove_file(dotlock) {
                log::warn!("cannot remove the lock file {}: {error}", dotlock.display());
            }
        }
        // Closing `file` releases the fcntl lock.
    }
}

/// Locks `mbox`, exclusively (`fcntl` write lock and dotlock) or shared (`fcntl` read
/// lock), waiting up to `timeout` for other programs.
pub(crate) fn lock(mbox: &Path, exclusive: bool, timeout: Duration) -> Result<MboxLock, LockError> {
    let deadline = Instant::now() + timeout;
    let file = loop {
        let file = OpenOptions::new().read(true).write(exclusive).open(mbox)?;
        retry_until(
            deadline,
            || try_fcntl(&file, exclusive),
            || format!("another program holds an fcntl lock on {}", mbox.display()),
        )?;
        // A writer may have renamed a new mbox over the one we opened while we waited:
        // then our lock is on a file nobody reads any more. Lock the new one.
        let current = fs::metadata(mbox)?;
        let ours = file.metadata()?;
        if current.ino() == ours.ino() && current.dev() == ours.dev() {
            break file;
        }
    };
    let dotlock = if exclusive {
        Some(dotlock(mbox, deadline)?)
    } else {
        None
    };
    Ok(MboxLock { file, dotlock })
}

/// Calls `attempt` until it succeeds or `deadline` passes, sleeping a little longer each
/// time (up to half a second).
fn retry_until(
    deadline: Instant,
    mut attempt: impl FnMut() -> io::Result<bool>,
    busy: impl Fn() -> String,
) -> Result<(), LockError> {
    let mut pause = Duration::from_millis(20);
    loop {
        if attempt()? {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(LockError::Busy(busy()));
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// One try at an `fcntl` lock on the whole file: `Ok(false)` when another holds it.
fn try_fcntl(file: &File, exclusive: bool) -> io::Result<bool> {
    // SAFETY: `flock` is a plain C struct for which all zeroes is a valid value.
    let mut request: libc::flock = unsafe { std::mem::zeroed() };
    request.l_type = (if exclusive {
        libc::F_WRLCK
    } else {
        libc::F_RDLCK
    }) as _;
    request.l_whence = libc::SEEK_SET as _;
    // SAFETY: the descriptor is open for as long as `file` lives, and `request` is a valid
    // `flock` that fcntl only reads.
    let result = unsafe { libc::fcntl(file.as_raw_fd(), SET_LOCK, &request) };
    if result == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EAGAIN | libc::EACCES | libc::EINTR) => Ok(false),
        _ => Err(error),
    }
}

/// Creates the dotlock of `mbox`, waiting for another program's until `deadline` and
/// removing a stale one.
fn dotlock(mbox: &Path, deadline: Instant) -> Result<PathBuf, LockError> {
    let path = dotlock_path(mbox);
    let mut removed_stale = false;
    retry_until(
        deadline,
        || {
            let created = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&path);
            match created {
                Ok(mut file) => {
                    // Only a hint for stale-lock detection: the lock is the file itself.
                    let _ = writeln!(file, "{}", std::process::id());
                    Ok(true)
                }
                Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                    if !removed_stale && is_stale(&path) {
                        log::warn!("removing the stale lock file {}", path.display());
                        removed_stale = true;
                        match fs::remove_file(&path) {
                            Ok(()) => {}
                            Err(error) if error.kind() == ErrorKind::NotFound => {}
                            Err(error) => return Err(error),
                        }
                    }
                    Ok(false)
                }
                Err(error) => Err(error),
            }
        },
        || {
            format!(
                "the lock file {} exists (another program is writing the mbox)",
                path.display()
            )
        },
    )?;
    Ok(path)
}

/// Whether the dotlock at `path` was left by a writer that is gone.
fn is_stale(path: &Path) -> bool {
    let Ok(content) = fs::read_to_string(path) else {
        return false;
    };
    match content.trim().parse::<libc::pid_t>() {
        Ok(pid) if pid > 0 => {
            // SAFETY: signal 0 only checks whether the process exists.
            let alive = unsafe { libc::kill(pid, 0) } == 0
                || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH);
            !alive
        }
        _ => fs::metadata(path)
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|modified| SystemTime::now().duration_since(modified).ok())
            .is_some_and(|age| age > STALE_AGE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_lock_makes_a_dotlock_and_excludes_others() {
        let dir = tempfile::tempdir().unwrap();
        let mbox = dir.path().join("INBOX");
        fs::write(&mbox, "").unwrap();
        let held = lock(&mbox, true, Duration::from_secs(1)).unwrap();
        let dotlock = dir.path().join("INBOX.lock");
        assert_eq!(
            fs::read_to_string(&dotlock).unwrap(),
            format!("{}\n", std::process::id())
        );
        // Another handle in this very process is refused: the fcntl lock is ours only.
        for exclusive in [true, false] {
            match lock(&mbox, exclusive, Duration::from_millis(100)) {
                Err(LockError::Busy(what)) => assert!(what.contains("fcntl"), "{what}"),
                other => panic!("{:?}", other.err()),
            }
        }
        drop(held);
        assert!(!dotlock.exists());
        let shared = lock(&mbox, false, Duration::from_secs(1)).unwrap();
        let also = lock(&mbox, false, Duration::from_secs(1)).unwrap();
        assert!(!dotlock.exists(), "readers make no lock file");
        drop((shared, also));
    }

    #[test]
    fn a_dotlock_of_a_live_writer_is_waited_for_and_a_stale_one_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mbox = dir.path().join("box");
        fs::write(&mbox, "").unwrap();
        let dotlock = dir.path().join("box.lock");
        // Held by a live process (this one, with a dotlock another program made).
        fs::write(&dotlock, format!("{}\n", std::process::id())).unwrap();
        match lock(&mbox, true, Duration::from_millis(200)) {
            Err(LockError::Busy(what)) => assert!(what.contains("box.lock"), "{what}"),
            other => panic!("{:?}", other.err()),
        }
        assert!(dotlock.exists(), "a live writer's lock is left alone");
        // An empty lock file is recent, so it is not stale either.
        fs::write(&dotlock, "").unwrap();
        assert!(!is_stale(&dotlock));
        // A pid that cannot exist: stale.
        fs::write(&dotlock, "2147483646\n").unwrap();
        assert!(is_stale(&dotlock));
        let held = lock(&mbox, true, Duration::from_secs(1)).unwrap();
        drop(held);
        assert!(!dotlock.exists());
    }
}
