//! Pairing messages by content, for a folder pair whose state does not pair them (a first
//! sync of mail that is already on both sides, a lost or forgotten state, a `repair`).
//!
//! Two messages are paired only when their [`Fingerprint`]s are equal: the same bytes up
//! to line endings and the additions of other tools. Duplicates within one side pair one to
//! one, in UID order, so three copies on one side and two on the other give two pairs and
//! one message to copy. Messages with the same Message-ID but other bytes (a header
//! re-wrapped by OfflineIMAP) are near-duplicates: counted, and paired only under
//! [`NearDuplicates::PairByMessageId`].
//!
//! Fetching is the costly part. One side's unpaired messages are read in full: a store
//! with LF line ends (files: reading is cheap, and its listed sizes say nothing of the
//! CRLF size), or, when both store CRLF, the side with fewer bytes to read. Of the other
//! side, a CRLF store (IMAP, whose listed size is the CRLF size) has only the messages
//! read whose size can match ([`SizeWindow`]); nothing is downloaded twice for messages
//! that have no twin. Bodies are read to be hashed and dropped; nothing is stored again.
//!
//! The pairs are recorded in one transaction, before anything is copied, with the flags
//! both sides share as their last synced flags. The three-way plan then sees every flag
//! that only one side has as added there and adds it on the other: a paired message ends
//! with the union of both sides' flags (read on either side stays read, flagged stays
//! flagged, `\Deleted` on either side is spread too). Recording is the whole effect, so a
//! crash before or after it leaves nothing to undo: the next run pairs again or finds the
//! pairs.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use backend_api::{ErrorScope, Flags, LineEnding, MessageInfo, Uid};

use super::batches::batches;
use super::failure::FolderFailure;
use super::fingerprint::{Fingerprint, MAX_NORMALIZED_AWAY};
use super::folder::FolderSync;
use super::plan::CommonFlags;
use super::report::FolderReport;
use crate::side::{PerSide, Side};
use crate::state::{Pair, StateChange};

/// What to do with messages whose Message-ID matches but whose bytes do not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NearDuplicates {
    /// Count them; copy both (the default: only identical bytes are the same message).
    #[default]
    Count,
    /// Pair them by Message-ID, one to one in UID order (option `pairbymessageid`).
    PairByMessageId,
}

/// The outcome of pairing two sides' unpaired messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContentPairs {
    /// `(first side's UID, second side's UID)`, identical content.
    pub identical: Vec<(Uid, Uid)>,
    /// Pairs by Message-ID alone (only under [`NearDuplicates::PairByMessageId`]).
    pub by_message_id: Vec<(Uid, Uid)>,
    /// Messages left unpaired on the first side whose Message-ID is that of a message left
    /// unpaired on the second (counted one to one).
    pub near_duplicates: usize,
}

impl ContentPairs {
    /// Every pair, identical ones first.
    pub fn all(&self) -> impl Iterator<Item = (Uid, Uid)> + '_ {
        self.identical
            .iter()
            .chain(self.by_message_id.iter())
            .copied()
    }
}

/// Pairs the messages of two sides by content. Each input is in ascending UID order.
pub fn pair_by_content(
    first: &[(Uid, Fingerprint)],
    second: &[(Uid, Fingerprint)],
    near_duplicates: NearDuplicates,
) -> ContentPairs {
    let mut by_content: HashMap<([u8; 32], u64), VecDeque<Uid>> = HashMap::new();
    for (uid, fingerprint) in second {
        by_content
            .entry((fingerprint.digest, fingerprint.canonical_size))
            .or_default()
            .push_back(*uid);
    }
    let mut result = ContentPairs::default();
    let mut paired_second = BTreeSet::new();
    let mut unpaired_first = Vec::new();
    for (uid, fingerprint) in first {
        let twin = by_content
            .get_mut(&(fingerprint.digest, fingerprint.canonical_size))
            .and_then(VecDeque::pop_front);
        match twin {
            Some(twin) => {
                paired_second.insert(twin);
                result.identical.push((*uid, twin));
            }
            None => unpaired_first.push((*uid, fingerprint)),
        }
    }

    let mut by_message_id: HashMap<[u8; 16], VecDeque<Uid>> = HashMap::new();
    for (uid, fingerprint) in second {
        if let (Some(id), false) = (fingerprint.message_id, paired_second.contains(uid)) {
            by_message_id.entry(id).or_default().push_back(*uid);
        }
    }
    for (uid, fingerprint) in unpaired_first {
        let Some(id) = fingerprint.message_id else {
            continue;
        };
        if let Some(twin) = by_message_id.get_mut(&id).and_then(VecDeque::pop_front) {
            result.near_duplicates += 1;
            if near_duplicates == NearDuplicates::PairByMessageId {
                result.by_message_id.push((uid, twin));
            }
        }
    }
    result
}

impl FolderSync<'_> {
    /// Step 2: pairs by content the messages of both sides that `pairs` does not pair, and
    /// adds the new pairs to `pairs` (recorded, unless in a dry run).
    pub(super) fn pair_by_content(
        &mut self,
        listings: &PerSide<Vec<MessageInfo>>,
        pairs: &mut Vec<Pair>,
        common: &CommonFlags,
        report: &mut FolderReport,
    ) -> Result<(), FolderFailure> {
        let unpaired = PerSide::from_fn(|side| {
            let paired: HashSet<Uid> = pairs.iter().map(|pair| pair.uids[side]).collect();
            listings[side]
                .iter()
                .filter(|message| !paired.contains(&message.uid))
                .collect::<Vec<&MessageInfo>>()
        });
        if unpaired.iter().any(Vec::is_empty) {
            return Ok(());
        }
        let read_in_full = self.side_to_read_in_full(&unpaired);
        let other = read_in_full.other();
        let mut fingerprints = PerSide::<Vec<(Uid, Fingerprint)>>::default();
        fingerprints[read_in_full] = self.fingerprints(read_in_full, &unpaired[read_in_full])?;
        let candidates: Vec<&MessageInfo> = match self.folders[other].line_ending {
            LineEnding::CrLf => {
                let window = SizeWindow::new(fingerprints[read_in_full].iter().map(|(_, f)| *f));
                unpaired[other]
                    .iter()
                    .copied()
                    .filter(|message| window.may_match(message.size))
                    .collect()
            }
            LineEnding::Lf => unpaired[other].clone(),
        };
        fingerprints[other] = self.fingerprints(other, &candidates)?;

        let found = pair_by_content(
            &fingerprints[Side::Local],
            &fingerprints[Side::Remote],
            self.near_duplicates,
        );
        let flags = PerSide::from_fn(|side| {
            listings[side]
                .iter()
                .map(|message| (message.uid, &message.flags))
                .collect::<HashMap<Uid, _>>()
        });
        let no_flags = Flags::new();
        let new_pairs: Vec<Pair> = found
            .all()
            .map(|(local, remote)| {
                let uids = PerSide::new(local, remote);
                let [local_flags, remote_flags] = Side::BOTH.map(|side| {
                    common.restrict(flags[side].get(&uids[side]).copied().unwrap_or(&no_flags))
                });
                // The flags both have: the plan then adds to each side what only the
                // other has.
                let shared = local_flags.difference(&local_flags.difference(&remote_flags));
                Pair {
                    uids,
                    flags: shared,
                }
            })
            .collect();
        if !self.dry_run {
            let changes: Vec<StateChange> = new_pairs
                .iter()
                .cloned()
                .map(StateChange::PutPair)
                .collect();
            if !changes.is_empty() {
                self.make_listed_durable()?;
            }
            self.state.commit(self.path, &changes)?;
        }
        report.paired_by_content += new_pairs.len();
        if self.near_duplicates == NearDuplicates::Count {
            report.near_duplicates += found.near_duplicates;
        }
        pairs.extend(new_pairs);
        Ok(())
    }

    /// The side whose unpaired messages are all read: an LF store (cheap to read, and its
    /// listed sizes cannot be compared), else the side with fewer bytes.
    fn side_to_read_in_full(&self, unpaired: &PerSide<Vec<&MessageInfo>>) -> Side {
        let bytes = |side: Side| unpaired[side].iter().map(|m| m.size).sum::<u64>();
        let cost = |side: Side| match self.folders[side].line_ending {
            LineEnding::Lf => (0, bytes(side)),
            LineEnding::CrLf => (1, bytes(side)),
        };
        if cost(Side::Remote) < cost(Side::Local) {
            Side::Remote
        } else {
            Side::Local
        }
    }

    /// The fingerprints of `messages` of `side`, in UID order, fetched in bounded
    /// batches. A message that cannot be read is left out (it stays unpaired, and the
    /// copy step reports it).
    fn fingerprints(
        &mut self,
        side: Side,
        messages: &[&MessageInfo],
    ) -> Result<Vec<(Uid, Fingerprint)>, FolderFailure> {
        let mut fingerprints = Vec::with_capacity(messages.len());
        let batches = batches(messages, self.batch_bytes);
        for (index, batch) in batches.iter().enumerate() {
            self.announce_batches(side, &batches, index)?;
            let folder = &mut self.folders[side].folder;
            let fetched = match folder.fetch_messages(batch) {
                Ok(fetched) => fetched,
                Err(error) if error.scope == ErrorScope::Message => {
                    let mut one_by_one = Vec::new();
                    for uid in batch {
                        match folder.fetch_messages(&[*uid]) {
                            Ok(mut one) => one_by_one.append(&mut one),
                            Err(error) if error.scope == ErrorScope::Message => {}
                            Err(error) => return Err(FolderFailure::backend(side)(error)),
                        }
                    }
                    one_by_one
                }
                Err(error) => return Err(FolderFailure::backend(side)(error)),
            };
            fingerprints.extend(
                fetched
                    .into_iter()
                    .map(|message| (message.uid, Fingerprint::of(&message.bytes))),
            );
        }
        fingerprints.sort_unstable_by_key(|(uid, _)| *uid);
        fingerprints.dedup_by_key(|(uid, _)| *uid);
        Ok(fingerprints)
    }
}

/// Which listed sizes of a CRLF store can belong to a message with one of the canonical
/// sizes seen on the other side: at most [`MAX_NORMALIZED_AWAY`] bytes larger (what the
/// normalization removes), and within [`REWRAP_SLACK`] either way so that near-duplicates
/// (re-wrapped headers) are fetched and counted too.
#[derive(Clone, Debug, Default)]
pub struct SizeWindow {
    canonical_sizes: BTreeSet<u64>,
}

/// How far a re-wrapped header may move a near-duplicate's size.
pub const REWRAP_SLACK: u64 = 256;

impl SizeWindow {
    pub fn new(fingerprints: impl IntoIterator<Item = Fingerprint>) -> Self {
        SizeWindow {
            canonical_sizes: fingerprints.into_iter().map(|f| f.canonical_size).collect(),
        }
    }

    /// Whether a message listed with `size` (CRLF form) may match.
    pub fn may_match(&self, size: u64) -> bool {
        let low = size.saturating_sub(MAX_NORMALIZED_AWAY + REWRAP_SLACK);
        let high = size.saturating_add(REWRAP_SLACK);
        self.canonical_sizes.range(low..=high).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(subject: &str, id: &str) -> Fingerprint {
        Fingerprint::of(format!("Subject: {subject}\nMessage-ID: <{id}>\n\nbody\n").as_bytes())
    }

    #[test]
    fn identical_messages_pair_and_others_do_not() {
        let first = [(1, message("a", "a")), (2, message("b", "b"))];
        let second = [(10, message("b", "b")), (11, message("c", "c"))];
        let pairs = pair_by_content(&first, &second, NearDuplicates::Count);
        assert_eq!(pairs.identical, vec![(2, 10)]);
        assert_eq!(pairs.near_duplicates, 0);
    }

    #[test]
    fn duplicates_within_a_side_pair_one_to_one() {
        let same = message("x", "x");
        let first = [(1, same), (2, same), (3, same)];
        let second = [(7, same), (9, same)];
        let pairs = pair_by_content(&first, &second, NearDuplicates::Count);
        assert_eq!(pairs.identical, vec![(1, 7), (2, 9)]);
    }

    #[test]
    fn near_duplicates_are_counted_and_paired_only_when_asked() {
        let first = [(1, message("original", "id")), (2, message("z", "z"))];
        let second = [(5, message("re-wrapped", "id"))];
        let counted = pair_by_content(&first, &second, NearDuplicates::Count);
        assert!(counted.identical.is_empty() && counted.by_message_id.is_empty());
        assert_eq!(counted.near_duplicates, 1);
        let paired = pair_by_content(&first, &second, NearDuplicates::PairByMessageId);
        assert_eq!(paired.by_message_id, vec![(1, 5)]);
        assert_eq!(paired.all().collect::<Vec<_>>(), vec![(1, 5)]);
    }

    #[test]
    fn a_message_paired_identically_is_not_also_a_near_duplicate() {
        let a = message("a", "id");
        let b = message("b", "id");
        let pairs = pair_by_content(&[(1, a), (2, b)], &[(3, a)], NearDuplicates::Count);
        assert_eq!(pairs.identical, vec![(1, 3)]);
        assert_eq!(pairs.near_duplicates, 0);
    }

    #[test]
    fn the_size_window_admits_what_normalization_can_remove() {
        let long = Fingerprint::of(format!("Subject: a\n\n{}\n", "x".repeat(4000)).as_bytes());
        let window = SizeWindow::new([long]);
        let size = long.canonical_size;
        assert!(window.may_match(size));
        assert!(window.may_match(size + 22)); // an X-TUID line
        assert!(window.may_match(size + MAX_NORMALIZED_AWAY));
        assert!(!window.may_match(size + MAX_NORMALIZED_AWAY + REWRAP_SLACK + 1));
        assert!(window.may_match(size - REWRAP_SLACK));
        assert!(!window.may_match(size - REWRAP_SLACK - 1));
        assert!(!SizeWindow::default().may_match(size));
    }
}
