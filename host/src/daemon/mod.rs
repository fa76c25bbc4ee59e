//! Running all day: `twinbox daemon`, and `twinbox sync` when an account sets
//! `autorefresh`, as OfflineIMAP does.
//!
//! # Why it looks like this
//!
//! One loop on the main thread decides which account syncs when, and syncs one account at
//! a time with the same code as a single `twinbox sync` ([`run_account`]). Everything else
//! only tells the loop something: the IDLE watchers ([`idle`]) that a folder changed, the
//! signal handlers ([`signals`]) that the user wants a sync now (SIGUSR1) or wants it to
//! stop (SIGTERM, SIGINT). So there is one place where syncs start, and no two syncs of an
//! account ever overlap.
//!
//! The schedule is OfflineIMAP's: every account syncs at start, then every `autorefresh`
//! minutes, with `quick` deciding which of those runs are quick ones; a folder of
//! `idlefolders` (default INBOX on an IMAP remote) that changes is synced at once, alone.
//! A run that fails is tried again with backoff, by the retry class the backend gave: a
//! lost connection soon, then less and less often, never faster than every second; a
//! refusal for good (a wrong password) only at the next refresh, so a daemon never
//! hammers a server or spins.
//!
//! Stopping: the stop flag is also the engine's cancel flag, so a sync in flight finishes
//! the folders it is in (each step recorded in the state as usual) and skips the rest; the
//! loop then returns and the process exits 0.
//!
//! Each account's lock ([`crate::account_lock`]) is held from start to exit, so a second
//! twinbox on one of the daemon's accounts is refused, naming the daemon's pid.

pub mod hooks;
pub mod idle;
pub mod signals;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use backend_api::{FolderPath, Retry};

use crate::accounts::{self, PreparedAccount};
use crate::config::Config;
use crate::engine::{AccountReport, SyncObserver};
use crate::side::Side;
pub use hooks::{Hook, Hooks};

/// How often `twinbox daemon` syncs an account that sets no `autorefresh`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(5 * 60);

/// How often the loop looks at the signal flags when nothing else wakes it.
const TICK: Duration = Duration::from_millis(100);

/// The first pause after a failed run, by retry class, and the longest.
const BACKOFF_NOW: Duration = Duration::from_secs(1);
const BACKOFF_LATER: Duration = Duration::from_secs(15);
const BACKOFF_MAX: Duration = Duration::from_secs(30 * 60);

/// What kind of run: OFFLINEIMAPSYNCMODE for the hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Full,
    Quick,
    /// A folder of `idlefolders` changed: only it is synced.
    Idle,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Quick => "quick",
            Mode::Idle => "idle",
        }
    }
}

/// When and what an account syncs, from its options.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// `autorefresh`, in minutes in the config; `None` when unset or 0.
    pub refresh: Option<Duration>,
    /// `quick`: 0 never, -1 always, n: n quick runs between full ones.
    pub quick: i64,
    /// `idlefolders` of the remote repository, as that repository names them.
    pub idle_folders: Vec<FolderPath>,
}

impl Schedule {
    /// Reads `autorefresh` and `quick` from `[Account account]` and `idlefolders` from its
    /// remote repository (default INBOX when that is an IMAP repository).
    pub fn read(config: &Config, account: &str) -> Result<Schedule, String> {
        let section = config.account(account).map_err(|e| e.to_string())?;
        let file = config.file();
        let option = |name: &str| section.options.get(name).map(|v| v.trim().to_owned());
        let refresh = match option("autorefresh").as_deref() {
            None | Some("") => None,
            Some(value) => match value.parse::<f64>() {
                Ok(minutes) if minutes.is_finite() && minutes > 0.0 => {
                    // Never more often than every second, whatever is written.
                    Some(Duration::from_secs_f64((minutes * 60.0).max(1.0)))
                }
                Ok(minutes) if minutes.is_finite() => None,
                _ => {
                    return Err(format!(
                        "{file}: [Account {account}] autorefresh = {value}: not a number of \
                         minutes; set it to how often to sync (e.g. 5), or remove it"
                    ))
                }
            },
        };
        let quick = match option("quick").as_deref() {
            None | Some("") => 0,
            Some(value) => value.parse::<i64>().map_err(|_| {
                format!(
                    "{file}: [Account {account}] quick = {value}: not a whole number; set it to \
                     0 (never), -1 (always) or how many quick runs come between full ones"
                )
            })?,
        };
        let remote = config
            .repository_for(account, Side::Remote)
            .map_err(|e| e.to_string())?;
        let idle_folders = match remote.options.get("idlefolders") {
            Some(value) => parse_folder_list(value).map_err(|problem| {
                format!(
                    "{file}: [Repository {}] idlefolders = {value}: {problem}; write a list \
                     of folder names, e.g. ['INBOX', 'Lists/rust']",
                    remote.name
                )
            })?,
            None => {
                let kind = remote.options.get("type").map(|t| t.to_ascii_lowercase());
                if matches!(kind.as_deref(), Some("imap" | "gmail")) {
                    vec![FolderPath::inbox()]
                } else {
                    Vec::new()
                }
            }
        };
        Ok(Schedule {
            refresh,
            quick,
            idle_folders,
        })
    }
}

/// `['INBOX', 'Lists/rust']` (OfflineIMAP's Python list) or `INBOX, Lists/rust`.
fn parse_folder_list(value: &str) -> Result<Vec<FolderPath>, String> {
    let value = value.trim();
    let inner = match value.strip_prefix('[') {
        Some(rest) => rest
            .strip_suffix(']')
            .ok_or("a list that opens with [ must close with ]")?,
        None => value,
    };
    let mut folders = Vec::new();
    for item in inner.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let name = ['\'', '"']
            .iter()
            .find_map(|q| item.strip_prefix(*q).and_then(|i| i.strip_suffix(*q)))
            .unwrap_or(item);
        let path =
            FolderPath::new(name).map_err(|e| format!("folder name {name:?}: {}", e.reason))?;
        folders.push(path);
    }
    Ok(folders)
}

/// Which runs are quick: OfflineIMAP's counter (`quick` = n: a full run, then n quick
/// ones, then a full one again).
#[derive(Clone, Debug, Default)]
pub struct QuickCounter {
    count: i64,
}

impl QuickCounter {
    pub fn next(&mut self, quick: i64) -> Mode {
        if quick < 0 {
            return Mode::Quick;
        }
        if quick == 0 {
            return Mode::Full;
        }
        if self.count == 0 || self.count > quick {
            self.count = 1;
            Mode::Full
        } else {
            self.count += 1;
            Mode::Quick
        }
    }

    /// The next run is a full one (after SIGUSR1, as OfflineIMAP's "skip sleep").
    pub fn reset(&mut self) {
        self.count = 0;
    }
}

/// One account's sync with its hooks: `presynchook`, the sync, `newmail_hook` if it
/// brought new mail into the local INBOX, `postsynchook`.
///
/// Every twinbox sync changes only what changed since the last one (asking servers with
/// CONDSTORE/QRESYNC for just that), so a quick run syncs like a full one; `mode` is what
/// the hooks are told.
pub fn run_account(
    account: &PreparedAccount<'_>,
    hooks: &Hooks,
    mode: Mode,
    observer: &dyn SyncObserver,
) -> AccountReport {
    let dry_run = account.options.dry_run;
    log::info!("{}: {} sync", account.name, mode.name());
    hooks.call(Hook::PreSync, &account.name, mode.name(), dry_run);
    let report = accounts::sync(account, observer);
    if brought_new_mail(&report) {
        hooks.call(Hook::NewMail, &account.name, mode.name(), dry_run);
    }
    hooks.call(Hook::PostSync, &account.name, mode.name(), dry_run);
    report
}

/// Whether messages were copied into the local INBOX (OfflineIMAP's `newmail_hook` fires
/// when its INBOX receives messages from the remote side).
fn brought_new_mail(report: &AccountReport) -> bool {
    report.folders.iter().any(|folder| {
        folder.folder.as_ref().is_some_and(|f| f.is_inbox()) && folder.copied_to[Side::Local] > 0
    })
}

/// An account as the daemon runs it.
pub struct DaemonAccount<'c> {
    pub prepared: PreparedAccount<'c>,
    pub hooks: Hooks,
    pub schedule: Schedule,
}

/// The loop's bookkeeping for one account.
struct Slot {
    /// When the next scheduled run is due; `None`: no more (`sync` with an account that
    /// sets no `autorefresh` syncs it once).
    next: Option<Instant>,
    /// Folders the watchers reported changed (`None`: the whole account).
    pending: BTreeSet<Option<FolderPath>>,
    quick: QuickCounter,
    failures: u32,
    /// No run before this, after a failure.
    backoff_until: Option<Instant>,
}

impl Slot {
    fn due(&self, now: Instant) -> bool {
        let wanted = self.next.is_some_and(|t| t <= now) || !self.pending.is_empty();
        wanted && self.backoff_until.is_none_or(|t| t <= now)
    }

    fn wakes_at(&self) -> Option<Instant> {
        let wanted = if self.pending.is_empty() {
            self.next?
        } else {
            Instant::now()
        };
        Some(self.backoff_until.map_or(wanted, |t| t.max(wanted)))
    }
}

/// Runs the daemon until SIGTERM or SIGINT (or, for `sync` with some accounts only
/// syncing once, until nothing is left to do). `default_refresh`: the refresh of accounts
/// without `autorefresh` (`twinbox daemon`), or `None` to sync those once (`twinbox sync`).
/// `before` and `after` are called around every run (output, summary, mailbox list).
///
/// Fails only at start: an account locked by another twinbox.
pub fn run(
    mut accounts: Vec<DaemonAccount<'_>>,
    default_refresh: Option<Duration>,
    observer: &dyn SyncObserver,
    before: &dyn Fn(&PreparedAccount<'_>),
    after: &dyn Fn(&PreparedAccount<'_>, &AccountReport),
) -> Result<(), String> {
    let stop = signals::install();
    let mut locks = Vec::new();
    for account in &accounts {
        let lock = crate::account_lock::lock(&account.prepared.name, &account.prepared.state_path)
            .map_err(|e| e.to_string())?;
        locks.push(lock);
    }
    let (wakeups, woken) = mpsc::channel();
    let now = Instant::now();
    let mut slots = Vec::new();
    for (index, account) in accounts.iter_mut().enumerate() {
        account.prepared.options.cancel = Some(Arc::clone(&stop));
        let refresh = account.schedule.refresh.or(default_refresh);
        account.schedule.refresh = refresh;
        if refresh.is_some() {
            watch(index, account, &wakeups, &stop);
        }
        slots.push(Slot {
            next: Some(now),
            pending: BTreeSet::new(),
            quick: QuickCounter::default(),
            failures: 0,
            backoff_until: None,
        });
    }
    log::info!(
        "daemon started (pid {}): {} account(s)",
        std::process::id(),
        accounts.len()
    );
    while !stop.load(Ordering::SeqCst) {
        if signals::take_sync_now() {
            log::info!("SIGUSR1: syncing every account now");
            for (slot, account) in slots.iter_mut().zip(&accounts) {
                if account.schedule.refresh.is_some() {
                    slot.next = Some(Instant::now());
                    slot.backoff_until = None;
                    slot.quick.reset();
                }
            }
        }
        while let Ok(wakeup) = woken.try_recv() {
            note(&mut slots, wakeup);
        }
        let now = Instant::now();
        if let Some(index) = slots.iter().position(|slot| slot.due(now)) {
            sync_slot(
                &mut accounts[index],
                &mut slots[index],
                observer,
                before,
                after,
            );
            continue;
        }
        let Some(wake) = slots.iter().filter_map(Slot::wakes_at).min() else {
            break; // nothing will ever be due again
        };
        let wait = wake.saturating_duration_since(now).min(TICK);
        if let Ok(wakeup) = woken.recv_timeout(wait) {
            note(&mut slots, wakeup);
        }
    }
    if stop.load(Ordering::SeqCst) {
        log::info!("stopping: state saved, exiting");
    }
    drop(locks);
    Ok(())
}

fn note(slots: &mut [Slot], wakeup: idle::Wakeup) {
    if let Some(slot) = slots.get_mut(wakeup.account) {
        slot.pending.insert(wakeup.folder);
    }
}

/// Starts the watchers of an account's `idlefolders`.
fn watch(
    index: usize,
    account: &DaemonAccount<'_>,
    wakeups: &mpsc::Sender<idle::Wakeup>,
    stop: &Arc<AtomicBool>,
) {
    let (config, plugin) = &account.prepared.repositories[Side::Remote];
    for folder in &account.schedule.idle_folders {
        let engine_name = match &account.prepared.names {
            None => Some(folder.clone()),
            // Under the account's nametrans; a folder it cannot name syncs the account.
            Some(names) => names.engine_name(Side::Remote, folder).ok(),
        };
        idle::spawn(
            idle::Watch {
                account: index,
                account_name: account.prepared.name.clone(),
                plugin: (*plugin).clone(),
                config: config.clone(),
                folder: folder.clone(),
                engine_name,
            },
            wakeups.clone(),
            Arc::clone(stop),
        );
    }
}

/// One run of an account: the folders the watchers reported alone, or a scheduled run.
fn sync_slot(
    account: &mut DaemonAccount<'_>,
    slot: &mut Slot,
    observer: &dyn SyncObserver,
    before: &dyn Fn(&PreparedAccount<'_>),
    after: &dyn Fn(&PreparedAccount<'_>, &AccountReport),
) {
    let now = Instant::now();
    let scheduled = slot.next.is_some_and(|t| t <= now);
    let pending = std::mem::take(&mut slot.pending);
    let mode = if scheduled {
        slot.quick.next(account.schedule.quick)
    } else {
        Mode::Idle
    };
    let configured_folders = account.prepared.options.folders.clone();
    if !scheduled && !pending.contains(&None) {
        let only: Vec<FolderPath> = pending.iter().flatten().cloned().collect();
        // Within what the command line asked for.
        let only = match &configured_folders {
            Some(asked) => only.into_iter().filter(|f| asked.contains(f)).collect(),
            None => only,
        };
        if only.is_empty() {
            return;
        }
        account.prepared.options.folders = Some(only);
    }
    before(&account.prepared);
    let report = run_account(&account.prepared, &account.hooks, mode, observer);
    account.prepared.options.folders = configured_folders;
    after(&account.prepared, &report);

    if scheduled {
        slot.next = account.schedule.refresh.map(|refresh| now + refresh);
    }
    if report.failed() {
        slot.failures += 1;
        let (pause, why) = backoff(&report, slot.failures, account.schedule.refresh);
        slot.backoff_until = Some(Instant::now() + pause);
        if slot.next.is_none() && !scheduled {
            // A watcher's folder failed: try it again after the pause.
            slot.pending = pending;
        } else if slot.next.is_some() {
            slot.next = Some(slot.next.map_or(now, |t| t.min(now)));
        }
        log::warn!(
            "{}: the sync failed ({why}); trying again in {} s",
            account.prepared.name,
            pause.as_secs()
        );
    } else {
        slot.failures = 0;
        slot.backoff_until = None;
    }
}

/// How long to wait after the `failures`-th failed run in a row.
fn backoff(
    report: &AccountReport,
    failures: u32,
    refresh: Option<Duration>,
) -> (Duration, &'static str) {
    let ceiling = refresh.unwrap_or(BACKOFF_MAX).min(BACKOFF_MAX);
    let (first, why) = match report.retry {
        Some(Retry::Never) => {
            return (
                ceiling.max(BACKOFF_LATER),
                "the server refused for good: fix the cause; retried at the refresh only",
            )
        }
        Some(Retry::Now) => (BACKOFF_NOW, "a passing error"),
        _ => (BACKOFF_LATER, "the connection or the server"),
    };
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    (first.saturating_mul(factor).min(ceiling.max(first)), why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_runs_come_between_full_ones_as_in_offlineimap() {
        let mut counter = QuickCounter::default();
        let modes: Vec<_> = (0..7).map(|_| counter.next(2)).collect();
        use Mode::*;
        assert_eq!(modes, [Full, Quick, Quick, Full, Quick, Quick, Full]);
        counter.next(2);
        counter.reset();
        assert_eq!(counter.next(2), Full);
        assert_eq!(QuickCounter::default().next(0), Full);
        assert_eq!(QuickCounter::default().next(-1), Quick);
    }

    #[test]
    fn idlefolders_are_a_python_list_or_a_plain_one() {
        let names = |v: &str| -> Vec<String> {
            parse_folder_list(v)
                .unwrap()
                .into_iter()
                .map(String::from)
                .collect()
        };
        assert_eq!(names("['INBOX', \"Lists/rust\"]"), ["INBOX", "Lists/rust"]);
        assert_eq!(names("INBOX, Work"), ["INBOX", "Work"]);
        assert!(names("[]").is_empty());
        assert!(parse_folder_list("['INBOX'").is_err());
    }

    #[test]
    fn backoff_grows_and_is_bounded_and_a_refusal_waits_for_the_refresh() {
        let failed = |retry| AccountReport {
            error: Some("x".into()),
            retry,
            ..Default::default()
        };
        let refresh = Some(Duration::from_secs(600));
        let later = failed(Some(Retry::Later));
        let pauses: Vec<u64> = (1..=8)
            .map(|n| backoff(&later, n, refresh).0.as_secs())
            .collect();
        assert_eq!(pauses, [15, 30, 60, 120, 240, 480, 600, 600]);
        assert_eq!(
            backoff(&failed(Some(Retry::Now)), 1, refresh).0.as_secs(),
            1
        );
        assert_eq!(
            backoff(&failed(Some(Retry::Never)), 1, refresh).0.as_secs(),
            600
        );
        assert_eq!(backoff(&failed(None), 100, None).0, BACKOFF_MAX);
    }
}
