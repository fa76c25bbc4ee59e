//! SIGTERM, SIGINT and SIGUSR1 as flags the daemon's loop reads.
//!
//! The handlers only store to atomics (all a signal handler may safely do); the loop polls
//! them every few hundred milliseconds. A second SIGTERM or SIGINT ends the process at
//! once, for when finishing the step in flight takes longer than the user will wait.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

/// Stop asked (SIGTERM, SIGINT), as an `Arc` the engine also reads (`SyncOptions::cancel`).
static STOP: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
static STOP_SIGNALS: AtomicU32 = AtomicU32::new(0);
static SYNC_NOW: AtomicBool = AtomicBool::new(false);

/// Exit status after a second stop signal: 128 + SIGTERM, as a shell reports it.
const FORCED_EXIT: i32 = 128 + libc::SIGTERM;

extern "C" fn on_stop(_: libc::c_int) {
    if let Some(stop) = STOP.get() {
        stop.store(true, Ordering::SeqCst);
    }
    if STOP_SIGNALS.fetch_add(1, Ordering::SeqCst) >= 1 {
        // SAFETY: _exit is async-signal-safe; the user asked twice.
        unsafe { libc::_exit(FORCED_EXIT) };
    }
}

extern "C" fn on_sync_now(_: libc::c_int) {
    SYNC_NOW.store(true, Ordering::SeqCst);
}

/// Installs the handlers; returns the stop flag.
pub fn install() -> Arc<AtomicBool> {
    let stop = Arc::clone(STOP.get_or_init(|| Arc::new(AtomicBool::new(false))));
    for (signal, handler) in [
        (libc::SIGTERM, on_stop as extern "C" fn(libc::c_int)),
        (libc::SIGINT, on_stop),
        (libc::SIGUSR1, on_sync_now),
    ] {
        // SAFETY: a zeroed sigaction is valid; the handlers only touch atomics (and
        // _exit), which is async-signal-safe. SA_RESTART keeps blocking reads of the
        // sync in flight from failing with EINTR.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                log::warn!(
                    "cannot handle signal {signal}: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
    stop
}

/// Whether a SIGUSR1 came since the last call.
pub fn take_sync_now() -> bool {
    SYNC_NOW.swap(false, Ordering::SeqCst)
}
