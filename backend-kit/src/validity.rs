//! Choosing a new UIDVALIDITY, for stores that keep their own (Maildir, mbox, MH).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use backend_api::UidValidity;

/// A new UIDVALIDITY: the current time in seconds, as IMAP servers do, above `previous`
/// (the one it replaces, if any) and strictly increasing within this process, so that two
/// folders, or one folder renumbered twice, made in the same second still differ.
pub fn new_uid_validity(previous: Option<UidValidity>) -> UidValidity {
    static LAST: AtomicU32 = AtomicU32::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |elapsed| {
            u32::try_from(elapsed.as_secs()).unwrap_or(u32::MAX)
        })
        .max(1);
    let floor = previous.map_or(now, |previous| now.max(previous.saturating_add(1)));
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let candidate = if floor > last {
            floor
        } else {
            last.checked_add(1).unwrap_or(1)
        };
        // Never give back the value being replaced (possible only after a wrap).
        let candidate = if Some(candidate) == previous {
            candidate.checked_add(1).unwrap_or(1)
        } else {
            candidate
        };
        match LAST.compare_exchange(last, candidate, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return candidate,
            Err(actual) => last = actual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_values_increase_and_pass_the_one_replaced() {
        let a = new_uid_validity(None);
        let b = new_uid_validity(None);
        assert!(a >= 1 && b > a);
        let ahead = b + 1_000_000;
        assert!(new_uid_validity(Some(ahead)) > ahead);
    }
}
