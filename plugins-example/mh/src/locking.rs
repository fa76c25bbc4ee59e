//! Locks: our own on a folder, and nmh's on `.mh_sequences`.
//!
//! **The folder lock** is an advisory `flock` on the folder directory, taken by every
//! operation for its whole length (exclusive; shared in a dry run). It serializes twinbox
//! processes and threads working on one folder: the state file is only written under it,
//! and a temporary message file only lives under it, so one found under the lock is
//! abandoned. nmh knows nothing of it and needs not.
//!
//! **The sequences lock** is what nmh takes around `.mh_sequences`: by default
//! (`datalocking: fcntl` in the profile) a POSIX `fcntl` lock on the file itself, or with
//! `datalocking: dot` a dot-lock file `.mh_sequences.lock` beside it. We take both to
//! write: the dot-lock first (created exclusively; one older than five minutes is taken
//! for the leftover of a crash and removed, with a warning), then the `fcntl` lock. We
//! then write the new file to a temporary name, fsync it and rename it over the old one,
//! so that a reader that does not lock still never sees half a file. To read, we take only
//! a shared `fcntl` lock, which changes nothing on disk (a dry run creates no dot-lock).
//! Waiting for either gives up after 30 seconds with an error that can be retried later.
//!
//! POSIX locks belong to the process and are dropped when *any* descriptor of the file is
//! closed, so the file is read through the locked descriptor only.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

/// nmh's public sequences file.
pub(crate) const SEQUENCES_FILE: &str = ".mh_sequences";
/// nmh's dot-lock for it.
pub(crate) const SEQUENCES_DOTLOCK: &str = ".mh_sequences.lock";
/// Our temporary name while replacing it.
pub(crate) const SEQUENCES_TMP_FILE: &str = ".twinbox-mh-sequences.tmp";

const LOCK_TIMEOUT: Duration = Duration::from_secs(30);
const LOCK_POLL: Duration = Duration::from_millis(50);
const STALE_DOTLOCK: Duration = Duration::from_secs(300);

/// The folder lock; released when dropped.
pub(crate) struct FolderLock {
    _directory: File,
}

/// Takes the folder lock on `dir` (waiting for it).
pub(crate) fn lock_folder(dir: &Path, shared: bool) -> io::Result<FolderLock> {
    let directory = File::open(dir)?;
    if shared {
        directory.lock_shared()?;
    } else {
        directory.lock()?;
    }
    Ok(FolderLock {
        _directory: directory,
    })
}

/// Takes a POSIX lock on the whole of `file`, retrying until [`LOCK_TIMEOUT`].
fn fcntl_lock(file: &File, exclusive: bool) -> io::Result<()> {
    let deadline = Instant::now() + LOCK_TIMEOUT;
    loop {
        // SAFETY: a zeroed flock is a valid value of the plain C struct.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = if exclusive {
            libc::F_WRLCK as libc::c_short
        } else {
            libc::F_RDLCK as libc::c_short
        };
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        lock.l_start = 0;
        lock.l_len = 0;
        // SAFETY: the descriptor is open for the duration of the call; `lock` is valid.
        let result = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) };
        if result == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        let busy = matches!(
            error.raw_os_error(),
            Some(libc::EAGAIN | libc::EACCES | libc::EINTR)
        );
        if !busy {
            return Err(error);
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                ErrorKind::WouldBlock,
                "another program (nmh?) holds its lock; try again later",
            ));
        }
        sleep(LOCK_POLL);
    }
}

/// The bytes of `.mh_sequences` in `dir`, read under a shared lock; empty if it does not
/// exist.
pub(crate) fn read_sequences(dir: &Path) -> io::Result<Vec<u8>> {
    let mut file = match File::open(dir.join(SEQUENCES_FILE)) {
        Ok(file) => file,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    fcntl_lock(&file, false)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Both locks on `.mh_sequences`, held while it is read, changed and replaced; released
/// when dropped.
pub(crate) struct SequencesLock {
    dir: PathBuf,
    /// The file as it was when locked (`None` if it did not exist).
    file: Option<File>,
}

impl SequencesLock {
    /// Takes the dot-lock and then the `fcntl` lock, waiting up to 30 seconds for each.
    pub fn acquire(dir: &Path) -> io::Result<SequencesLock> {
        take_dotlock(&dir.join(SEQUENCES_DOTLOCK))?;
        // From here on, dropping `lock` removes the dot-lock.
        let mut lock = SequencesLock {
            dir: dir.to_owned(),
            file: None,
        };
        match OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join(SEQUENCES_FILE))
        {
            Ok(file) => {
                fcntl_lock(&file, true)?;
                lock.file = Some(file);
            }
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        Ok(lock)
    }

    /// The file's bytes (empty if it does not exist), read through the locked descriptor.
    pub fn read(&mut self) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        if let Some(file) = self.file.as_mut() {
            file.read_to_end(&mut bytes)?;
        }
        Ok(bytes)
    }

    /// Replaces the file by `bytes` (temporary file, fsync, rename; its mode is kept), or
    /// removes it when `bytes` is empty, as nmh does. The directory is synced by the
    /// caller.
    pub fn replace(&mut self, bytes: &[u8]) -> io::Result<()> {
        let path = self.dir.join(SEQUENCES_FILE);
        if bytes.is_empty() {
            return match fs::remove_file(&path) {
                Err(error) if error.kind() != ErrorKind::NotFound => Err(error),
                _ => Ok(()),
            };
        }
        let mode = match &self.file {
            Some(file) => file.metadata()?.permissions().mode() & 0o7777,
            None => 0o600,
        };
        let tmp = self.dir.join(SEQUENCES_TMP_FILE);
        let written = (|| -> io::Result<()> {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(mode)
                .open(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }
}

impl Drop for SequencesLock {
    fn drop(&mut self) {
        // The fcntl lock goes with the descriptor; then the dot-lock.
        self.file = None;
        let dotlock = self.dir.join(SEQUENCES_DOTLOCK);
        if let Err(error) = fs::remove_file(&dotlock) {
            log::warn!("cannot remove the lock {}: {error}", dotlock.display());
        }
    }
}

/// Creates the dot-lock `path` exclusively, waiting while another holds it and removing
/// one old enough to be a crash's leftover.
fn take_dotlock(path: &Path) -> io::Result<()> {
    let deadline = Instant::now() + LOCK_TIMEOUT;
    loop {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => return Ok(()),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
        let age = fs::metadata(path)
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|modified| SystemTime::now().duration_since(modified).ok());
        if age.is_some_and(|age| age > STALE_DOTLOCK) {
            log::warn!(
                "removing the lock {}: it is older than {} minutes, so its owner is gone",
                path.display(),
                STALE_DOTLOCK.as_secs() / 60
            );
            match fs::remove_file(path) {
                Err(error) if error.kind() != ErrorKind::NotFound => return Err(error),
                _ => continue,
            }
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                ErrorKind::WouldBlock,
                format!(
                    "{} exists: another program (nmh?) is changing the sequences; if none \
                     is running, remove it",
                    path.display()
                ),
            ));
        }
        sleep(LOCK_POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequences_lock_reads_replaces_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut lock = SequencesLock::acquire(dir.path()).unwrap();
        assert!(dir.path().join(SEQUENCES_DOTLOCK).exists());
        assert_eq!(lock.read().unwrap(), b"");
        lock.replace(b"").unwrap();
        assert!(
            !dir.path().join(SEQUENCES_FILE).exists(),
            "nothing to write"
        );
        lock.replace(b"unseen: 1\n").unwrap();
        drop(lock);
        assert!(!dir.path().join(SEQUENCES_DOTLOCK).exists());
        assert!(!dir.path().join(SEQUENCES_TMP_FILE).exists());
        assert_eq!(read_sequences(dir.path()).unwrap(), b"unseen: 1\n");

        let path = dir.path().join(SEQUENCES_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let mut lock = SequencesLock::acquire(dir.path()).unwrap();
        assert_eq!(lock.read().unwrap(), b"unseen: 1\n");
        lock.replace(b"unseen: 2\n").unwrap();
        drop(lock);
        assert_eq!(fs::read(&path).unwrap(), b"unseen: 2\n");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }

    #[test]
    fn a_stale_dotlock_is_removed_and_a_fresh_one_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let dotlock = dir.path().join(SEQUENCES_DOTLOCK);
        let stale = File::create(&dotlock).unwrap();
        stale
            .set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        drop(SequencesLock::acquire(dir.path()).unwrap());
        assert!(!dotlock.exists());

        // A fresh one held by "nmh" for a moment: we wait, then get it.
        File::create(&dotlock).unwrap();
        let remover = {
            let dotlock = dotlock.clone();
            std::thread::spawn(move || {
                sleep(Duration::from_millis(200));
                fs::remove_file(dotlock).unwrap();
            })
        };
        let started = Instant::now();
        drop(SequencesLock::acquire(dir.path()).unwrap());
        assert!(started.elapsed() >= Duration::from_millis(150));
        remover.join().unwrap();
    }
}
