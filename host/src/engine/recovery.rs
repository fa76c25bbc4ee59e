//! Step 1: copies an interrupted run made but did not record.
//!
//! Before a message is appended, a pending entry records its destination's UIDNEXT, size
//! and MD5. A copy that landed has a UID at or above that UIDNEXT and the same size and
//! MD5, so it can be found again by content without any header of ours in the message;
//! found, it is paired, and the entry is dropped in the same transaction.

use std::collections::{BTreeMap, HashMap, HashSet};

use backend_api::{MessageInfo, Uid};

use super::batches::batches;
use super::failure::FolderFailure;
use super::folder::FolderSync;
use crate::side::Side;
use crate::state::{Pair, PendingCopy, StateChange};

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

/// The MD5 (hex) of a message's bytes: with its size, what a pending copy is found by.
pub fn md5_hex(bytes: &[u8]) -> String {
    format!("{:x}", md5::compute(bytes))
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
        self.state.commit(self.path, &changes)?;
        Ok(recovered)
    }

    /// For each pending copy, the UID of a candidate with the same size and MD5, at or
    /// above the UIDNEXT recorded for it; each candidate is given to one copy at most.
    fn find_copies(
        &mut self,
        destination: Side,
        copies: &[(u64, PendingCopy)],
        candidates: &[&MessageInfo],
    ) -> Result<HashMap<u64, Uid>, FolderFailure> {
        let sizes: HashSet<u64> = copies.iter().map(|(_, c)| c.size).collect();
        let wanted: Vec<&MessageInfo> = candidates
            .iter()
            .copied()
            .filter(|m| sizes.contains(&m.size))
            .collect();
        let mut digests: BTreeMap<Uid, String> = BTreeMap::new();
        for chunk in batches(&wanted) {
            let fetched = self.folders[destination]
                .folder
                .fetch_messages(&chunk)
                .map_err(FolderFailure::backend(destination))?;
            for message in fetched {
                digests.insert(message.uid, md5_hex(&message.bytes));
            }
        }
        let mut found = HashMap::new();
        let mut used = HashSet::new();
        for (id, copy) in copies {
            let hit = digests.iter().find(|(uid, digest)| {
                **digest == copy.md5 && *uid >= &copy.destination_uid_next && !used.contains(*uid)
            });
            if let Some((uid, _)) = hit {
                used.insert(*uid);
                found.insert(*id, *uid);
            }
        }
        Ok(found)
    }
}
