//! What an interrupted write leaves in a folder's `tmp/`, and clearing it away.
//!
//! A message is written to `tmp/` and then renamed into `new/` or `cur/`; a process killed
//! between the two leaves the `tmp/` file forever. Other programs write to `tmp/` too
//! (delivery agents, mail clients, OfflineIMAP), and a file there may be in the middle of
//! being written, so only two kinds are removed:
//!
//! - twinbox's own (named by [`tmp_file_name`](crate::names::tmp_file_name)) whose writer
//!   is gone: written on this host by a process that no longer exists;
//! - anything whose inode has not changed for 36 hours, the age after which the Maildir
//!   convention (qmail, Dovecot) considers a `tmp/` file abandoned. The inode change time
//!   is used rather than the modification time because writers (twinbox among them) set
//!   the latter to the message's date before the rename.
//!
//! Only `tmp/` is ever cleaned this way; `new/` and `cur/` hold messages.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::names::{this_host, tmp_file_writer};

/// How old a `tmp/` file must be for anyone's to be removed.
pub(crate) const ABANDONED_AFTER: Duration = Duration::from_secs(36 * 60 * 60);

/// Removes the abandoned files in `folder_dir/tmp` (see the module documentation), as of
/// `now`. Returns the paths removed. Never fails: a file that cannot be removed is left
/// with a warning, as it harms nothing but space.
pub(crate) fn clean_tmp(folder_dir: &Path, now: SystemTime) -> Vec<PathBuf> {
    let tmp = folder_dir.join("tmp");
    let Ok(entries) = fs::read_dir(&tmp) else {
        // No tmp/ (it is made at the first append) or unreadable: nothing to clean.
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(metadata) = fs::symlink_metadata(&path) else {
            continue;
        };
        if metadata.is_dir() {
            continue;
        }
        let why = match entry.file_name().to_str().and_then(tmp_file_writer) {
            Some((pid, host)) if host == this_host() && !process_is_alive(pid) => {
                format!("its writer (twinbox, process {pid}) is gone")
            }
            _ if changed_at(&metadata)
                .and_then(|changed| now.duration_since(changed).ok())
                .is_some_and(|age| age > ABANDONED_AFTER) =>
            {
                "it has not changed for more than 36 hours".to_owned()
            }
            _ => continue,
        };
        match fs::remove_file(&path) {
            Ok(()) => {
                log::info!("removed {} from tmp/: {why}", path.display());
                removed.push(path);
            }
            Err(error) => log::warn!(
                "cannot remove {} ({why}): {error}; it can be deleted by hand",
                path.display()
            ),
        }
    }
    removed
}

/// The inode change time, which no writer can set back.
fn changed_at(metadata: &fs::Metadata) -> Option<SystemTime> {
    let seconds = u64::try_from(metadata.ctime()).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// Whether process `pid` exists on this host. Errs toward "alive": only a definite "no
/// such process" says it is gone.
fn process_is_alive(pid: u32) -> bool {
    // Zero and negative pids address process groups: never ask about those.
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    if pid <= 0 {
        return true;
    }
    // SAFETY: signal 0 performs only the existence and permission checks; nothing is sent.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{tmp_file_name, unique_part};

    /// The pid of a process that has exited (and been reaped).
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn liveness() {
        assert!(process_is_alive(std::process::id()));
        assert!(!process_is_alive(dead_pid()));
        assert!(process_is_alive(0), "never treated as gone");
        assert!(process_is_alive(u32::MAX), "never treated as gone");
    }

    #[test]
    fn removes_only_abandoned_tmp_files() {
        let folder = tempfile::tempdir().unwrap();
        let folder = folder.path();
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir(folder.join(sub)).unwrap();
        }
        let tmp = folder.join("tmp");
        let dead = dead_pid();
        let host = this_host();
        let ours_dead = tmp.join(format!("1700000000_0.{dead}.{host},twinbox-tmp"));
        let ours_alive = tmp.join(tmp_file_name(&unique_part()));
        let other_host = tmp.join(format!("1700000000_1.{dead}.elsewhere.example,twinbox-tmp"));
        let foreign = tmp.join("1700000000.M1P2.host");
        let offlineimap = tmp.join(format!("1700000000_2.{dead}.{host},U=3,FMD5=abc"));
        let in_new = folder.join(format!("new/1700000000_0.{dead}.{host},twinbox-tmp"));
        let in_cur = folder.join("cur/1700000000.M1P2.host:2,S");
        for file in [
            &ours_dead,
            &ours_alive,
            &other_host,
            &foreign,
            &offlineimap,
            &in_new,
            &in_cur,
        ] {
            fs::write(file, b"x").unwrap();
        }
        fs::create_dir(tmp.join("a-directory")).unwrap();

        // Now: only ours, from a process that is gone.
        let now = SystemTime::now();
        assert_eq!(clean_tmp(folder, now), vec![ours_dead.clone()]);
        for kept in [
            &ours_alive,
            &other_host,
            &foreign,
            &offlineimap,
            &in_new,
            &in_cur,
        ] {
            assert!(kept.exists(), "{} must be kept", kept.display());
        }

        // 35 hours on, the same; 37 hours on, everything in tmp/ is abandoned, even a
        // live process's file (nothing takes 36 hours to write); new/ and cur/ never.
        let later = |hours: u64| now + Duration::from_secs(hours * 3600);
        assert!(clean_tmp(folder, later(35)).is_empty());
        let mut removed = clean_tmp(folder, later(37));
        removed.sort();
        let mut expected = vec![ours_alive, other_host, foreign, offlineimap];
        expected.sort();
        assert_eq!(removed, expected);
        assert!(in_new.exists() && in_cur.exists());
        assert!(tmp.join("a-directory").is_dir());

        // A folder without tmp/ is fine.
        fs::remove_dir(tmp.join("a-directory")).unwrap();
        fs::remove_dir(&tmp).unwrap();
        assert!(clean_tmp(folder, now).is_empty());
    }
}
