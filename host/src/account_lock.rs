//! One twinbox at a time per account: an advisory lock on a file beside the account's
//! state, holding the pid of the process that has it.
//!
//! OfflineIMAP has one lock for the whole program, so a cron job and a daemon cannot sync
//! different accounts at once; here each account has its own lock, so any number of
//! twinbox processes run side by side as long as their accounts differ. The lock is an
//! `flock` (released by the kernel when the process dies, however it dies), so a lock file
//! left behind by a crash never blocks the next run. The file stays after use: removing
//! it while another process waits to lock it would let two processes hold "the" lock.
//!
//! Inside one process the lock is shared: the daemon holds its accounts' locks for its
//! whole life, and each of its syncs takes the lock again, which must not refuse it.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

/// A held account lock; released when the last clone in this process is dropped.
#[derive(Debug)]
pub struct AccountLock {
    /// Kept open: closing it releases the lock.
    _file: File,
    path: PathBuf,
}

impl AccountLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why an account could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "account {account} is being synced by another twinbox (pid {pid}, lock file {path}); \
         wait for it to finish, or stop it (a daemon: `kill {pid}`)",
        pid = pid.map_or_else(|| "unknown".to_owned(), |pid| pid.to_string()),
        path = path.display()
    )]
    Held {
        account: String,
        pid: Option<u32>,
        path: PathBuf,
    },
    #[error("account {account}: cannot lock {path}: {error}; check that the metadata directory is writable", path = path.display())]
    Io {
        account: String,
        path: PathBuf,
        error: std::io::Error,
    },
}

/// The lock file of `account`: beside its state file, with the same name and `.lock`.
pub fn lock_file(state_file: &Path) -> PathBuf {
    state_file.with_extension("lock")
}

/// The locks this process holds, by path, so that taking one twice shares it.
fn held() -> &'static Mutex<HashMap<PathBuf, Weak<AccountLock>>> {
    static HELD: std::sync::OnceLock<Mutex<HashMap<PathBuf, Weak<AccountLock>>>> =
        std::sync::OnceLock::new();
    HELD.get_or_init(Default::default)
}

/// Locks `account`, whose state is `state_file`, without waiting: refuses at once, naming
/// the holder's pid, if another process holds it. Creates the metadata directory and the
/// lock file (mode 0600) if needed.
pub fn lock(account: &str, state_file: &Path) -> Result<Arc<AccountLock>, LockError> {
    let path = lock_file(state_file);
    let mut registry = held()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(lock) = registry.get(&path).and_then(Weak::upgrade) {
        return Ok(lock);
    }
    let io = |error: std::io::Error| LockError::Io {
        account: account.to_owned(),
        path: path.clone(),
        error,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(LockError::Held {
                account: account.to_owned(),
                pid: text.trim().parse().ok(),
                path,
            });
        }
        Err(TryLockError::Error(error)) => return Err(io(error)),
    }
    // Ours now: say who holds it, for the next one to find.
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    let lock = Arc::new(AccountLock { _file: file, path });
    registry.insert(lock.path.clone(), Arc::downgrade(&lock));
    Ok(lock)
}

/// For a dry run, which must not write even a lock file: refuses as [`lock`] does if
/// another process holds the account's lock, and otherwise goes on without holding it
/// (a dry run changes nothing a real sync could trip over). No lock file: nothing to check.
pub fn check(account: &str, state_file: &Path) -> Result<(), LockError> {
    let path = lock_file(state_file);
    let registry = held()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if registry.get(&path).and_then(Weak::upgrade).is_some() {
        return Ok(());
    }
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(LockError::Io {
                account: account.to_owned(),
                path,
                error,
            })
        }
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            Err(LockError::Held {
                account: account.to_owned(),
                pid: text.trim().parse().ok(),
                path,
            })
        }
        Err(TryLockError::Error(error)) => Err(LockError::Io {
            account: account.to_owned(),
            path,
            error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_lock_is_shared_inside_the_process_and_released_with_its_last_holder() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("meta/Account-A.redb");
        let first = lock("A", &state).unwrap();
        let second = lock("A", &state).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(first.path(), dir.path().join("meta/Account-A.lock"));
        let text = std::fs::read_to_string(first.path()).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        let mode = std::fs::metadata(first.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        // Another open file description (as another process has) is refused meanwhile.
        let other = File::open(first.path()).unwrap();
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        drop((first, second));
        other.try_lock().unwrap();
        // A dry run's check is refused while another holds it, and changes nothing.
        let error = check("A", &state).unwrap_err();
        assert!(error.to_string().contains("another twinbox"), "{error}");
        drop(other);
        check("A", &state).unwrap();
        check("B", &dir.path().join("meta/Account-B.redb")).unwrap();
        assert!(!dir.path().join("meta/Account-B.lock").exists());
    }

    #[test]
    fn the_refusal_names_the_holder() {
        let error = LockError::Held {
            account: "Work".into(),
            pid: Some(4242),
            path: PathBuf::from("/m/Account-Work.lock"),
        };
        let text = error.to_string();
        assert!(
            text.contains("account Work") && text.contains("pid 4242"),
            "{text}"
        );
        assert!(!text.contains('\n'));
    }
}
