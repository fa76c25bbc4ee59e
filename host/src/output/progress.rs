//! The progress display on a terminal: one line per account being synced, like mbsync's
//! progress line, with a bar over the messages to copy:
//!
//! ```text
//! Personal [=========>          ] 120/250 messages, 3/17 folders, 12.1 MiB/25.3 MiB
//! ```
//!
//! The totals grow as folders are listed (a folder's copies are known only once both of
//! its sides are), so the bar can step back; mbsync's counters do the same. Lines vanish
//! when their account is done: the summary printed after them says what happened.

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::SyncEvent;

/// What one account's line counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub folders_done: usize,
    pub folders: usize,
    pub messages_done: u64,
    pub messages: u64,
    pub bytes_done: u64,
    pub bytes: u64,
}

impl Counts {
    /// Counts `event` in.
    pub fn add(&mut self, event: &SyncEvent<'_>) {
        match event {
            SyncEvent::FoldersPlanned { folders, .. } => self.folders = *folders,
            SyncEvent::FolderFinished { .. } => self.folders_done += 1,
            SyncEvent::CopiesPlanned {
                messages, bytes, ..
            } => {
                self.messages += *messages as u64;
                self.bytes += bytes;
            }
            SyncEvent::MessagesCopied {
                messages, bytes, ..
            } => {
                self.messages_done += *messages as u64;
                // The destination's line endings may make a copy a little larger than the
                // source said: the total grows with it rather than showing more than 100%.
                self.bytes_done += bytes;
                self.bytes = self.bytes.max(self.bytes_done);
            }
            SyncEvent::FolderStarted { .. } | SyncEvent::MessageSkipped { .. } => {}
        }
    }

    /// The text after the bar's `done/total messages, `.
    pub fn message(&self) -> String {
        format!(
            "{}/{} folders, {}/{}",
            self.folders_done,
            self.folders,
            HumanBytes(self.bytes_done),
            HumanBytes(self.bytes)
        )
    }
}

/// The progress lines of the accounts being synced, drawn on stderr.
pub struct Progress {
    lines: MultiProgress,
    accounts: Mutex<HashMap<String, (ProgressBar, Counts)>>,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            lines: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// Adds the line of `account`.
    pub fn account_started(&self, account: &str) {
        let style =
            ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {pos}/{len} messages, {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        let bar = self.lines.add(ProgressBar::new(0));
        bar.set_style(style);
        bar.set_prefix(account.to_owned());
        bar.set_message(Counts::default().message());
        if let Ok(mut accounts) = self.accounts.lock() {
            accounts.insert(account.to_owned(), (bar, Counts::default()));
        }
    }

    pub fn event(&self, event: &SyncEvent<'_>) {
        let account = match event {
            SyncEvent::FoldersPlanned { account, .. }
            | SyncEvent::FolderStarted { account, .. }
            | SyncEvent::CopiesPlanned { account, .. }
            | SyncEvent::MessagesCopied { account, .. }
            | SyncEvent::MessageSkipped { account, .. }
            | SyncEvent::FolderFinished { account, .. } => *account,
        };
        let Ok(mut accounts) = self.accounts.lock() else {
            return;
        };
        let Some((bar, counts)) = accounts.get_mut(account) else {
            return;
        };
        counts.add(event);
        if let SyncEvent::MessageSkipped { folder, error, .. } = event {
            // Above the bars, so it is not drawn over.
            bar.println(format!("twinbox: warning: {account}: {folder}: {error}"));
        }
        bar.set_length(counts.messages);
        bar.set_position(counts.messages_done);
        bar.set_message(counts.message());
    }

    /// Removes the line of `account`: its summary follows.
    pub fn account_finished(&self, account: &str) {
        if let Ok(mut accounts) = self.accounts.lock() {
            if let Some((bar, _)) = accounts.remove(account) {
                bar.finish_and_clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::side::Side;
    use backend_api::FolderPath;

    #[test]
    fn counts_folders_messages_and_bytes() {
        let inbox = FolderPath::inbox();
        let mut counts = Counts::default();
        counts.add(&SyncEvent::FoldersPlanned {
            account: "A",
            folders: 3,
        });
        counts.add(&SyncEvent::CopiesPlanned {
            account: "A",
            folder: &inbox,
            to: Side::Local,
            messages: 4,
            bytes: 4096,
        });
        counts.add(&SyncEvent::MessagesCopied {
            account: "A",
            folder: &inbox,
            to: Side::Local,
            messages: 1,
            bytes: 1024,
        });
        let report = crate::engine::FolderReport::for_folder(&inbox);
        counts.add(&SyncEvent::FolderFinished {
            account: "A",
            report: &report,
        });
        assert_eq!(
            counts,
            Counts {
                folders_done: 1,
                folders: 3,
                messages_done: 1,
                messages: 4,
                bytes_done: 1024,
                bytes: 4096,
            }
        );
        assert_eq!(counts.message(), "1/3 folders, 1.00 KiB/4.00 KiB");
    }
}
