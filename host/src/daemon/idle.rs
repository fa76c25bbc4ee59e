//! Watching `idlefolders` for new mail: one thread per folder, each with a repository and
//! a folder (an IMAP connection) of its own, blocked in [`Folder::wait_for_change`] (IMAP
//! IDLE) and telling the daemon's loop when the folder changed.
//!
//! The host knows no backend: whether a folder can be watched is the plugin's answer. A
//! plugin that cannot (a Maildir, an IMAP server without IDLE, a plugin built before
//! interface 1.2) answers `Unsupported`, and the account is then synced on its
//! `autorefresh` schedule only. A watcher that loses its connection reconnects with
//! backoff; one refused for good (bad password, no such folder) says so once and stops.
//!
//! Watchers are never joined: when the daemon exits, they end with the process (they hold
//! no state worth saving; at worst an IMAP server sees a connection drop).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use backend_api::{FolderChange, FolderPath, RepositoryConfig, Retry};

use crate::plugins::LoadedPlugin;

/// How long one wait lasts before it is renewed: RFC 2177 asks clients to re-issue IDLE
/// at least every 29 minutes; servers and NAT boxes often drop quiet connections sooner.
const WAIT: Duration = Duration::from_secs(5 * 60);

/// The first and the longest pause before reconnecting after a lost connection.
const RECONNECT_FIRST: Duration = Duration::from_secs(2);
const RECONNECT_MAX: Duration = Duration::from_secs(5 * 60);

/// A watched folder changed.
#[derive(Debug, Clone)]
pub struct Wakeup {
    /// The account's index in the daemon's list.
    pub account: usize,
    /// The folder under its twinbox name, when known (without `nametrans` it is the
    /// repository's name); `None` means "sync the whole account".
    pub folder: Option<FolderPath>,
    /// The folder as the repository names it, for messages.
    pub watched: FolderPath,
}

/// What to watch.
pub struct Watch {
    pub account: usize,
    pub account_name: String,
    pub plugin: LoadedPlugin,
    pub config: RepositoryConfig,
    pub folder: FolderPath,
    pub engine_name: Option<FolderPath>,
}

/// Starts a watcher thread.
pub fn spawn(watch: Watch, wakeups: Sender<Wakeup>, stop: Arc<AtomicBool>) {
    let name = format!("idle {} {}", watch.account_name, watch.folder);
    let started = std::thread::Builder::new()
        .name(name)
        .spawn(move || run(&watch, &wakeups, &stop));
    if let Err(error) = started {
        log::warn!("cannot start a thread to watch for new mail: {error}");
    }
}

fn run(watch: &Watch, wakeups: &Sender<Wakeup>, stop: &AtomicBool) {
    let account = &watch.account_name;
    let folder = &watch.folder;
    // Only reads: a watcher must never change anything (IMAP: EXAMINE, not SELECT).
    let config = RepositoryConfig {
        read_only: true,
        ..watch.config.clone()
    };
    let mut pause = RECONNECT_FIRST;
    while !stop.load(Ordering::SeqCst) {
        let error = match watch.plugin.open_repository(&config) {
            Err(error) => error,
            Ok(repository) => match repository.open_folder(folder) {
                Err(error) => error,
                Ok(mut opened) => loop {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    log::debug!("{account}: waiting for changes in {folder}");
                    match opened.wait_for_change(WAIT) {
                        Ok(FolderChange::Changed) => {
                            pause = RECONNECT_FIRST;
                            log::info!("{account}: new mail in {folder} (IDLE)");
                            let wakeup = Wakeup {
                                account: watch.account,
                                folder: watch.engine_name.clone(),
                                watched: folder.clone(),
                            };
                            if wakeups.send(wakeup).is_err() {
                                return; // the daemon is gone
                            }
                        }
                        Ok(FolderChange::TimedOut) => pause = RECONNECT_FIRST,
                        Ok(FolderChange::Unsupported) => {
                            log::info!(
                                "{account}: the {} repository cannot wait for changes in {folder} (no IMAP IDLE, or a plugin before interface 1.2); it is synced every autorefresh only",
                                config.name
                            );
                            return;
                        }
                        Err(error) => break error,
                    }
                },
            },
        };
        if error.retry == Retry::Never {
            log::error!(
                "{account}: cannot watch {folder} for new mail: {}; it is synced every autorefresh only",
                error.message
            );
            return;
        }
        log::warn!(
            "{account}: watching {folder} for new mail failed: {}; trying again in {} s",
            error.message,
            pause.as_secs()
        );
        sleep_unless_stopped(pause, stop);
        pause = (pause * 2).min(RECONNECT_MAX);
    }
}

/// Sleeps `duration` in short steps, returning early once `stop` is set.
pub fn sleep_unless_stopped(duration: Duration, stop: &AtomicBool) {
    let deadline = std::time::Instant::now() + duration;
    while !stop.load(Ordering::SeqCst) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(200)));
    }
}
