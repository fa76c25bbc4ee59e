//! Step 1: copies an interrupted run made but did not record.
//!
//! Before a message is appended, a pending entry records its destination's UIDNEXT, size
//! and MD5. A copy that landed has a UID at or above that UIDNEXT and the same size and
//! MD5, so it can be found again by content without any header of ours in the message;
//! found, it is paired, and the entry is dropped in the same transaction.

use std::collections::{HashMap, HashSet};

use backend_api::{MessageInfo, Uid};

use super::batches::batches;
use super::failure::FolderFailure;
use super::folder::FolderSync;
use crate::side::Side;
use crate::state::{ContentDigest, Pair, PendingCopy, StateChange};

/// What becomes of a pending copy that is not found in its destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unfound {
    /// At the start of a run: the copy was never made, or not durably. The entry is
    /// dropped, and the original, still unpaired, is copied again by this run.
    Drop,
    /// Right after a batch whose destination could not tell the new UIDs: the entry stays
    /// pending, for the next run to look for again.
    KeepPending,
}

impl FolderSync<'_> {
    /// Finds the copies to `destination` that were made but not recorded, among the
    /// messages of `listing` (the destination's), and records their pairs, adding them to
    /// `pairs`. Returns how many it found; what becomes of a copy not found is `unfound`'s
    /// choice.
    pub(super) fn resolve_pending(
        &mut self,
        destination: Side,
        listing: &[MessageInfo],
        pairs: &mut Vec<Pair>,
        unfound: Unfound,
    ) -> Result<usize, FolderFailure> {
        let copies: Vec<(u64, PendingCopy)> = self
            .state
            .pending(self.path)?
            .into_iter()
            .filter(|(_, copy)| copy.destination == destination)
            .collect();
        if copies.is_empty() {
            return Ok(0);
        }
        let source_paired: HashSet<Uid> =
            pairs.iter().map(|p| p.uids[destination.other()]).collect();
        let mut taken: HashSet<Uid> = pairs.iter().map(|p| p.uids[destination]).collect();
        let lowest = copies
            .iter()
            .map(|(_, c)| c.destination_uid_next)
            .min()
            .unwrap_or(1);
        let candidates: Vec<&MessageInfo> = listing
            .iter()
            .filter(|m| m.uid >= lowest && !taken.contains(&m.uid))
            .collect();
        let found = self.find_copies(destination, &copies, &candidates)?;

        let mut changes = Vec::new();
        let mut recovered = 0;
        for (id, copy) in &copies {
            if source_paired.contains(&copy.source_uid) {
                // The original is paired already: the entry is stale, nothing to look for.
                changes.push(StateChange::RemovePending { id: *id });
                continue;
            }
            let Some(uid) = found.get(id).copied().filter(|uid| !taken.contains(uid)) else {
                if unfound == Unfound::Drop {
                    changes.push(StateChange::RemovePending { id: *id });
                }
                continue;
            };
            changes.push(StateChange::RemovePending { id: *id });
            taken.insert(uid);
            let pair = copy.pair(uid);
            changes.push(StateChange::PutPair(pair.clone()));
            pairs.push(pair);
            recovered += 1;
        }
        if recovered > 0 {
            // What was found may be what a run that died left unflushed.
            self.make_listed_durable()?;
        }
        self.state.commit(self.path, &changes)?;
        Ok(recovered)
    }

    /// For each pending copy, the UID of a candidate with the same size and digest, at or
    /// above the UIDNEXT recorded for it; each candidate is given to one copy at most.
    fn find_copies(
        &mut self,
        destination: Side,
        copies: &[(u64, PendingCopy)],
        candidates: &[&MessageInfo],
    ) -> Result<HashMap<u64, Uid>, FolderFailure> {
        // The copies by size: only candidates of a size some copy has are read.
        let mut by_size: HashMap<u64, Vec<&(u64, PendingCopy)>> = HashMap::new();
        for copy in copies {
            by_size.entry(copy.1.size).or_default().push(copy);
        }
        let wanted: Vec<&MessageInfo> = candidates
            .iter()
            .copied()
            .filter(|m| by_size.contains_key(&m.size))
            .collect();
        let mut found = HashMap::new();
        for chunk in batches(&wanted, self.batch_bytes) {
            let mut fetched = self.folders[destination]
                .folder
                .fetch_messages(&chunk)
                .map_err(FolderFailure::backend(destination))?;
            fetched.sort_unstable_by_key(|message| message.uid);
            for message in fetched {
                let Some(same_size) = by_size.get_mut(&(message.bytes.len() as u64)) else {
                    continue;
                };
                // The first copy still unfound that this candidate can be: lowest id first,
                // as the copies were appended in that order.
                let digest = ContentDigest::of(&message.bytes);
                let hit = same_size.iter().position(|(id, copy)| {
                    !found.contains_key(id)
                        && message.uid >= copy.destination_uid_next
                        && match &copy.digest {
                            ContentDigest::Xxh3(_) => copy.digest == digest,
                            ContentDigest::Md5(_) => copy.digest.matches(&message.bytes),
                        }
                });
                if let Some(index) = hit {
                    let (id, _) = same_size.remove(index);
                    found.insert(*id, message.uid);
                }
            }
        }
        Ok(found)
    }
}
