//! How many messages are fetched into memory at once.

use backend_api::{MessageInfo, Uid};

/// Messages are fetched in batches of at most this many messages...
pub const BATCH_MESSAGES: usize = 256;

/// ... and at most this many bytes for the whole account at once, shared by the folders
/// synced in parallel ([`BodyBudget`]), so that memory does not grow with
/// `maxconnections`. A body is read
/// into one buffer that is moved, never copied, to the destination (see
/// `backend_api::Body`), so this is what the bodies in flight take; the allocator's
/// fragmentation adds about as much again. Measured on an initial sync of 10,000 messages
/// (1.1 GB) with one malloc arena (see `crate::allocator`): 40 MiB peak RSS with 12 MiB
/// here, 32.5-35 MiB with 8 MiB, against a goal of 32 MiB; a third of 8 MiB per folder
/// still carries a few dozen typical messages per round trip.
pub const ACCOUNT_BATCH_BYTES: u64 = 8 * 1024 * 1024;

/// How many batches beyond the one being fetched are announced to the source
/// ([`backend_api::Folder::prefetch_messages`]) while it is read and written: an IMAP
/// backend sends their `UID FETCH` at once, so through a slow link the next batches arrive
/// while this one is written instead of one round trip after it. The bytes announced wait
/// in the socket (flow control holds the server back), not in our memory, except where a
/// server runs queued FETCHes at once and interleaves their messages: Dovecot does when
/// two or more are queued, and the backend then holds the early messages of a later
/// batch. Measured on 10,000 messages (1.1 GB) through a 50 ms round trip, against
/// mbsync's 10.1 s: one ahead 6.1-6.7 s, two 5.0-5.3 s, three 4.1 s; peak RSS on loopback
/// 31.6-32.8 MB, 30.7-32.9 MB and 31.9-35.0 MB. Two keeps memory within its goal.
pub const BATCHES_AHEAD: usize = 2;

/// The bytes of message bodies that the folders of one account hold at once
/// ([`ACCOUNT_BATCH_BYTES`]). Each folder's batches are sized to its share of it
/// ([`folder_batch_bytes`]), but one message larger than that makes a batch of its own,
/// whatever its size: a folder takes the bytes of its batch before fetching it and gives
/// them back once the batch is written, so that the big messages of several folders are
/// not in memory at once. A batch larger than the whole budget waits until it has all of
/// it. A folder holds one share at a time, so no folder waits for one that waits.
///
/// In the generated mail of bench/run, 183 messages of 10,000 are 1 MiB or more and hold
/// 45% of the bytes (92 are over a folder's share of 2.7 MiB). Without the budget three
/// folders could hold one each: the peak RSS of a TLS initial sync on loopback was
/// 35.2-37.6 MiB (four runs), with it 32.3-34.5 MiB, in the same time.
pub struct BodyBudget {
    total: u64,
    taken: std::sync::Mutex<u64>,
    given_back: std::sync::Condvar,
}

/// Bytes taken from a [`BodyBudget`], given back when dropped.
pub struct BudgetShare<'a> {
    budget: &'a BodyBudget,
    bytes: u64,
}

impl BodyBudget {
    pub fn new(total: u64) -> BodyBudget {
        BodyBudget {
            total,
            taken: std::sync::Mutex::new(0),
            given_back: std::sync::Condvar::new(),
        }
    }

    /// Takes `bytes` (the whole budget at most), waiting while the other folders hold too
    /// much of it.
    pub fn take(&self, bytes: u64) -> BudgetShare<'_> {
        let bytes = bytes.min(self.total);
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        while *taken + bytes > self.total {
            taken = self
                .given_back
                .wait(taken)
                .unwrap_or_else(|e| e.into_inner());
        }
        *taken += bytes;
        BudgetShare {
            budget: self,
            bytes,
        }
    }
}

impl Drop for BudgetShare<'_> {
    fn drop(&mut self) {
        let mut taken = self.budget.taken.lock().unwrap_or_else(|e| e.into_inner());
        *taken -= self.bytes;
        self.budget.given_back.notify_all();
    }
}

/// The byte budget of one folder's batches when `threads` folders are synced at once.
pub fn folder_batch_bytes(threads: usize) -> u64 {
    (ACCOUNT_BATCH_BYTES / threads.max(1) as u64).max(1024 * 1024)
}

/// The UIDs of `messages` in batches of at most [`BATCH_MESSAGES`] messages and, unless
/// one message alone is larger, `max_bytes` bytes: what is fetched into memory at once.
pub fn batches(messages: &[&MessageInfo], max_bytes: u64) -> Vec<Vec<Uid>> {
    let mut batches = Vec::new();
    let mut batch = Vec::new();
    let mut bytes = 0;
    for message in messages {
        if !batch.is_empty() && (batch.len() >= BATCH_MESSAGES || bytes + message.size > max_bytes)
        {
            batches.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        batch.push(message.uid);
        bytes += message.size;
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use backend_api::Flags;

    fn sized(uid: Uid, size: u64) -> MessageInfo {
        MessageInfo {
            uid,
            flags: Flags::new(),
            size,
            modseq: None,
        }
    }

    #[test]
    fn a_share_waits_until_the_others_gave_back_enough() {
        let budget = std::sync::Arc::new(BodyBudget::new(10));
        let first = budget.take(6);
        let (sender, receiver) = std::sync::mpsc::channel();
        let waiting = {
            let budget = std::sync::Arc::clone(&budget);
            std::thread::spawn(move || {
                // More than the whole budget: it waits for all of it.
                let _all = budget.take(50);
                sender.send(()).unwrap();
            })
        };
        let taken_within = |millis| {
            receiver
                .recv_timeout(std::time::Duration::from_millis(millis))
                .is_ok()
        };
        let small = budget.take(4);
        assert!(!taken_within(100), "taken while 10 of 10 bytes were held");
        drop(first);
        assert!(!taken_within(100), "taken while 4 of 10 bytes were held");
        drop(small);
        assert!(taken_within(10_000), "not taken once all was given back");
        waiting.join().unwrap();
        assert_eq!(*budget.taken.lock().unwrap(), 0);
    }

    #[test]
    fn batches_are_bounded_by_count_and_bytes() {
        const BATCH_BYTES: u64 = 16 * 1024 * 1024;
        let big = BATCH_BYTES / 2 + 1;
        let messages = [
            sized(1, big),
            sized(2, big),
            sized(3, 10),
            sized(4, 5 * BATCH_BYTES),
        ];
        let refs: Vec<&MessageInfo> = messages.iter().collect();
        assert_eq!(
            batches(&refs, BATCH_BYTES),
            vec![vec![1], vec![2, 3], vec![4]]
        );
        let many: Vec<MessageInfo> = (1..=(BATCH_MESSAGES as u32 + 1))
            .map(|uid| sized(uid, 1))
            .collect();
        let refs: Vec<&MessageInfo> = many.iter().collect();
        let split = batches(&refs, BATCH_BYTES);
        assert_eq!(split.len(), 2);
        assert_eq!(split[0].len(), BATCH_MESSAGES);
    }

    #[test]
    fn the_account_budget_is_shared_by_the_folders_in_flight() {
        assert_eq!(folder_batch_bytes(1), ACCOUNT_BATCH_BYTES);
        assert_eq!(folder_batch_bytes(3), ACCOUNT_BATCH_BYTES / 3);
        assert_eq!(folder_batch_bytes(1000), 1024 * 1024, "never below 1 MiB");
    }
}
