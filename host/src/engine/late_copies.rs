//! Copies that land after their run ended.
//!
//! A store reached over a connection may still store what it had received in full when
//! the connection dropped: Dovecot commits an APPEND whose bytes all came even after the
//! client is gone, and with APPENDs pipelined a whole batch may wait behind the one being
//! stored. A run started a moment later that looked for those copies (`recovery.rs`)
//! before they landed would not find them and copy their originals again; the late ones
//! would then be duplicates. So a run that finds copies in the state started less than
//! [`SyncOptions::late_copy_grace`](super::SyncOptions::late_copy_grace) ago first waits
//! until they are that old, before it lists anything.
//!
//! Only a run right after an interrupted one waits: every run that completes leaves no
//! pending copy behind.

use std::time::{Duration, SystemTime};

use crate::state::SyncState;

/// How long after a copy was started a run waits before looking for it: long enough for
/// a server to store a batch whose bytes were on their way when the connection dropped.
pub const LATE_COPY_GRACE: Duration = Duration::from_secs(10);

/// The hidden test switch: `TWINBOX_TEST_LATE_COPY_GRACE_SECONDS=N` sets the grace, so
/// that tests which interrupt runs over and over can keep it short.
pub const LATE_COPY_GRACE_VARIABLE: &str = "TWINBOX_TEST_LATE_COPY_GRACE_SECONDS";

/// The grace this process uses: [`LATE_COPY_GRACE`] unless the test switch says otherwise.
pub fn late_copy_grace() -> Duration {
    std::env::var(LATE_COPY_GRACE_VARIABLE)
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .map_or(LATE_COPY_GRACE, Duration::from_secs)
}

/// Now, in seconds since the Unix epoch (what pending copies record).
pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// How long to wait before looking for copies, the newest of which was started at
/// `newest` (seconds), when it is `now`: what is left of `grace` since then, if anything.
/// A start in the future (the clock was set back) counts as now.
fn left_to_wait(newest: Option<u64>, now: u64, grace: Duration) -> Option<Duration> {
    let age = now.saturating_sub(newest?);
    let left = grace.as_secs().saturating_sub(age);
    (left > 0).then(|| Duration::from_secs(left))
}

/// Waits until the copies an interrupted run left pending in `state` are `grace` old, or
/// until `cancelled` says to stop. A state that cannot be read is not waited for: the
/// folders' syncs report it.
pub(super) fn wait_out(
    state: &SyncState,
    grace: Duration,
    account: &str,
    cancelled: impl Fn() -> bool,
) {
    let Ok(newest) = state.newest_pending_start() else {
        return;
    };
    let Some(left) = left_to_wait(newest, now(), grace) else {
        return;
    };
    // Said with -v: the warnings of the interrupted run said what happened.
    log::info!(
        "{account}: the last run was interrupted while copying {} s ago; waiting {} s for \
         the servers to store what was on its way before looking for those copies",
        grace.as_secs() - left.as_secs(),
        left.as_secs()
    );
    let until = std::time::Instant::now() + left;
    while std::time::Instant::now() < until && !cancelled() {
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(10);

    #[test]
    fn nothing_pending_or_nothing_recent_is_not_waited_for() {
        assert_eq!(left_to_wait(None, 1_000, GRACE), None);
        assert_eq!(left_to_wait(Some(990), 1_000, GRACE), None);
        assert_eq!(left_to_wait(Some(100), 1_000, GRACE), None);
        assert_eq!(left_to_wait(Some(1_000), 1_000, Duration::ZERO), None);
    }

    #[test]
    fn a_recent_copy_is_waited_for_until_it_is_the_grace_old() {
        assert_eq!(
            left_to_wait(Some(1_000), 1_000, GRACE),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            left_to_wait(Some(997), 1_000, GRACE),
            Some(Duration::from_secs(7))
        );
        // A clock set back makes the copy look started in the future: a full grace.
        assert_eq!(
            left_to_wait(Some(1_005), 1_000, GRACE),
            Some(Duration::from_secs(10))
        );
    }
}
