//! How many messages are fetched into memory at once.

use backend_api::{MessageInfo, Uid};

/// Messages are fetched in batches of at most this many messages...
const BATCH_MESSAGES: usize = 256;
/// ... or this many bytes, whichever comes first, so memory stays bounded.
const BATCH_BYTES: u64 = 16 * 1024 * 1024;

/// The UIDs of `messages` in batches of at most [`BATCH_MESSAGES`] messages and, unless
/// one message alone is larger, [`BATCH_BYTES`] bytes: what is fetched into memory at once.
pub fn batches(messages: &[&MessageInfo]) -> Vec<Vec<Uid>> {
    let mut batches = Vec::new();
    let mut batch = Vec::new();
    let mut bytes = 0;
    for message in messages {
        if !batch.is_empty()
            && (batch.len() >= BATCH_MESSAGES || bytes + message.size > BATCH_BYTES)
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
    fn batches_are_bounded_by_count_and_bytes() {
        let big = BATCH_BYTES / 2 + 1;
        let messages = [
            sized(1, big),
            sized(2, big),
            sized(3, 10),
            sized(4, 5 * BATCH_BYTES),
        ];
        let refs: Vec<&MessageInfo> = messages.iter().collect();
        assert_eq!(batches(&refs), vec![vec![1], vec![2, 3], vec![4]]);
        let many: Vec<MessageInfo> = (1..=(BATCH_MESSAGES as u32 + 1))
            .map(|uid| sized(uid, 1))
            .collect();
        let refs: Vec<&MessageInfo> = many.iter().collect();
        let split = batches(&refs);
        assert_eq!(split.len(), 2);
        assert_eq!(split[0].len(), BATCH_MESSAGES);
    }
}
