//! How a sync shows itself: the observers of the engine's events and the end-of-run text.
//!
//! # Why it works this way
//!
//! The engine reports counts and events (`engine/report.rs`) and never formats them; the
//! binary's edge picks one [`Style`] and everything a run shows goes through [`Output`]:
//!
//! - on a terminal, a progress line per account (`progress.rs`, mbsync's progress line
//!   with a bar), then the summary (`summary.rs`);
//! - elsewhere (cron, systemd, a pipe), no escape codes: the summary, and with `-v` a
//!   plain log line per folder, as OfflineIMAP's `ui = basic` does;
//! - `-q`: nothing unless something failed, and then only what failed, on stderr
//!   (OfflineIMAP's `ui = quiet`);
//! - `--json`: one JSON object per event on stdout and a final `summary` object
//!   (`json.rs`), whatever stdout is.

pub mod json;
pub mod progress;

use std::time::Instant;

use serde_json::json;

use crate::engine::{AccountReport, SyncEvent, SyncObserver};
use crate::summary;
use progress::Progress;

/// How a run shows itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// The summary, and log lines with `-v`.
    Plain,
    /// A progress display on stderr, then the summary.
    Progress,
    /// Only what failed.
    Quiet,
    /// JSON lines on stdout.
    Json,
}

impl Style {
    /// The style for the command line's `--json`, `-q` and `-v`, and whether stderr is a
    /// terminal. `-v` asks for log lines, which a progress display would draw over, so it
    /// gives plain output on a terminal too.
    pub fn choose(json: bool, quiet: bool, verbose: u8, stderr_is_terminal: bool) -> Style {
        if json {
            Style::Json
        } else if quiet {
            Style::Quiet
        } else if stderr_is_terminal && verbose == 0 {
            Style::Progress
        } else {
            Style::Plain
        }
    }
}

/// Everything a sync shows, in the chosen [`Style`]. Shared by the threads that sync
/// accounts and folders.
pub struct Output {
    style: Style,
    progress: Option<Progress>,
    started: Instant,
}

impl Output {
    pub fn new(style: Style) -> Output {
        Output {
            style,
            progress: (style == Style::Progress).then(Progress::new),
            started: Instant::now(),
        }
    }

    pub fn style(&self) -> Style {
        self.style
    }

    /// The run begins: `command` (`sync`, `repair`) over `accounts`.
    pub fn start(&self, command: &str, dry_run: bool, accounts: &[&str]) {
        if self.style == Style::Json {
            json::emit(
                "start",
                json!({
                    "schema": json::SCHEMA,
                    "version": env!("CARGO_PKG_VERSION"),
                    "command": command,
                    "dry_run": dry_run,
                    "accounts": accounts,
                }),
            );
        }
    }

    /// An account's sync begins (before its repositories are opened).
    pub fn account_started(&self, account: &str) {
        match self.style {
            Style::Json => json::emit("account_started", json!({ "account": account })),
            Style::Progress => {
                if let Some(progress) = &self.progress {
                    progress.account_started(account);
                }
            }
            Style::Plain => log::info!("{account}: starting"),
            Style::Quiet => {}
        }
    }

    /// An account's sync ended (it may have failed as a whole: `report.error`).
    pub fn account_finished(&self, report: &AccountReport) {
        match self.style {
            Style::Json => json::emit("account_finished", json::account_finished(report)),
            Style::Progress => {
                if let Some(progress) = &self.progress {
                    progress.account_finished(&report.account);
                }
            }
            Style::Plain | Style::Quiet => {}
        }
    }

    /// The end of the run: the summaries of `reports` (in config order), the `problems`
    /// outside any account, and the exit code.
    pub fn finish(&self, reports: &[AccountReport], problems: &[String], exit_code: u8) {
        match self.style {
            Style::Json => {
                for problem in problems {
                    json::emit("error", json!({ "message": problem }));
                }
                json::emit(
                    "summary",
                    json::summary(
                        reports,
                        problems,
                        exit_code,
                        self.started.elapsed().as_secs_f64(),
                    ),
                );
            }
            Style::Plain | Style::Progress => {
                for report in reports {
                    print!("{}", summary::render(report));
                }
                for problem in problems {
                    eprintln!("twinbox: {problem}");
                }
            }
            Style::Quiet => {
                for report in reports.iter().filter(|r| r.failed()) {
                    eprint!("{}", summary::render_failures(report));
                }
                for problem in problems {
                    eprintln!("twinbox: {problem}");
                }
            }
        }
    }
}

impl SyncObserver for Output {
    fn event(&self, event: &SyncEvent<'_>) {
        match self.style {
            Style::Json => {
                let (name, fields) = json::event(event);
                json::emit(name, fields);
            }
            Style::Progress => {
                if let Some(progress) = &self.progress {
                    progress.event(event);
                }
            }
            Style::Plain | Style::Quiet => log_event(event),
        }
    }
}

/// The plain log line of an event: info (`-v`) for progress, debug (`-vv`) for copies,
/// warn for a skipped message.
fn log_event(event: &SyncEvent<'_>) {
    match event {
        SyncEvent::FoldersPlanned { account, folders } => log::info!(
            "{account}: {} to sync",
            summary::counted(*folders, "folder", "folders")
        ),
        SyncEvent::FolderStarted { account, folder } => log::info!("{account}: syncing {folder}"),
        SyncEvent::CopiesPlanned {
            account,
            folder,
            to,
            messages,
            bytes,
        } => log::debug!(
            "{account}: {folder}: copying {} ({bytes} bytes) to {to}",
            summary::counted(*messages, "message", "messages")
        ),
        SyncEvent::MessagesCopied {
            account,
            folder,
            to,
            messages,
            ..
        } => log::debug!(
            "{account}: {folder}: {} copied to {to}",
            summary::counted(*messages, "message", "messages")
        ),
        SyncEvent::MessageSkipped {
            account,
            folder,
            error,
        } => log::warn!("{account}: {folder}: {error}"),
        SyncEvent::FolderFinished { account, report } => {
            if let Some(folder) = &report.folder {
                let changes = summary::folder_changes(report, false);
                if changes.is_empty() {
                    log::info!("{account}: {folder} done: no changes");
                } else {
                    log::info!("{account}: {folder} done: {changes}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_style_follows_the_flags_and_the_terminal() {
        assert_eq!(Style::choose(true, true, 2, true), Style::Json);
        assert_eq!(Style::choose(false, true, 0, true), Style::Quiet);
        assert_eq!(Style::choose(false, false, 0, true), Style::Progress);
        assert_eq!(Style::choose(false, false, 1, true), Style::Plain);
        assert_eq!(Style::choose(false, false, 0, false), Style::Plain);
    }
}
