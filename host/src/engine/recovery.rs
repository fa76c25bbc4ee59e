//! Step 1: copies an interrupted run made but did not record.
//!
//! Before a message is appended, a pending entry records its destination's UIDNEXT, size
//! and MD5. A copy that landed has a UID at or above that UIDNEXT and the same size and
//! MD5, so it can be found again by content without any header of ours in the message;
//! found, it is paired, and the entry is dropped in the same transaction.
//!
//! A destination that stores other bytes than it is given and cannot tell new UIDs (an
//! IMAP server without UIDPLUS that rewrites messages) defeats that: a copy not found by
//! its bytes is then looked for by its original's Message-ID and INTERNALDATE among the
//! UIDs given since. One still not found while unmatched messages sit in that range is
//! uploaded once more at most; the next time, the folder stops with an error instead of
//! making a copy per run (and meanwhile those unmatched messages are not copied back as
//! new mail).

use std::collections::{HashMap, HashSet};

use backend_api::{FetchedMessage, MessageInfo, Uid, UnixTime};

use super::batches::batches;
use super::failure::FolderFailure;
use super::fingerprint::Fingerprint;
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
        let live: Vec<(u64, PendingCopy)> = copies
            .iter()
            .filter(|(_, copy)| !source_paired.contains(&copy.source_uid))
            .cloned()
            .collect();
        let mut found = self.find_copies(destination, &live, &candidates)?;
        if found.len() < live.len() {
            let unfound: Vec<(u64, PendingCopy)> = live
                .iter()
                .filter(|(id, _)| !found.contains_key(id))
                .cloned()
                .collect();
            let matched: HashSet<Uid> = found.values().copied().collect();
            let rest: Vec<&MessageInfo> = candidates
                .iter()
                .copied()
                .filter(|m| !matched.contains(&m.uid))
                .collect();
            found.extend(self.find_rewritten_copies(destination, &unfound, &rest)?);
        }
        let matched: HashSet<Uid> = found.values().copied().collect();

        let mut changes = Vec::new();
        let mut recovered = 0;
        for (id, copy) in &copies {
            if source_paired.contains(&copy.source_uid) {
                // The original is paired already: the entry is stale, nothing to look for.
                changes.push(StateChange::RemovePending { id: *id });
                continue;
            }
            let Some(uid) = found.get(id).copied().filter(|uid| !taken.contains(uid)) else {
                // Something the copy may be sits in its range, unmatched: it landed but
                // cannot be recognized (or another client added mail meanwhile).
                let suspects = candidates
                    .iter()
                    .any(|m| m.uid >= copy.destination_uid_next && !matched.contains(&m.uid));
                if unfound == Unfound::Drop {
                    if suspects && copy.retried {
                        return Err(FolderFailure::CopyNotFound {
                            account: self.account.to_owned(),
                            folder: self.path.clone(),
                            side: destination,
                            repository: self.repository_names[destination].to_owned(),
                            source_uid: copy.source_uid,
                        });
                    }
                    if suspects {
                        self.retrying.insert((destination, copy.source_uid));
                        let held = &mut self.held_back_from[destination];
                        *held = Some(held.map_or(copy.destination_uid_next, |uid| {
                            uid.min(copy.destination_uid_next)
                        }));
                    }
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
        self.for_each_fetched(destination, &wanted, |message| {
            let Some(same_size) = by_size.get_mut(&(message.bytes.len() as u64)) else {
                return;
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
        })?;
        Ok(found)
    }

    /// For pending copies not found by their bytes, a candidate whose Message-ID and
    /// INTERNALDATE are those of the copy's original, at or above the UIDNEXT recorded for
    /// it; each candidate to one copy at most, lowest id first. A message without a
    /// Message-ID is never matched this way.
    fn find_rewritten_copies(
        &mut self,
        destination: Side,
        copies: &[(u64, PendingCopy)],
        candidates: &[&MessageInfo],
    ) -> Result<HashMap<u64, Uid>, FolderFailure> {
        if copies.is_empty() || candidates.is_empty() {
            return Ok(HashMap::new());
        }
        let source = destination.other();
        let source_uids: Vec<Uid> = copies.iter().map(|(_, copy)| copy.source_uid).collect();
        // The originals are read for their keys only; the listing has no sizes for them
        // here, so one at a time bounds the memory as well as a batch would.
        let mut originals: HashMap<Uid, Key> = HashMap::new();
        for uid in source_uids {
            let fetched = self.folders[source]
                .folder
                .fetch_messages(&[uid])
                .map_err(FolderFailure::backend(source))?;
            originals.extend(fetched.iter().filter_map(|m| Some((m.uid, Key::of(m)?))));
        }
        let mut wanted: Vec<(u64, &PendingCopy, Key)> = copies
            .iter()
            .filter_map(|(id, copy)| Some((*id, copy, originals.remove(&copy.source_uid)?)))
            .collect();
        if wanted.is_empty() {
            return Ok(HashMap::new());
        }
        let lowest = wanted
            .iter()
            .map(|(_, copy, _)| copy.destination_uid_next)
            .min()
            .unwrap_or(1);
        let range: Vec<&MessageInfo> = candidates
            .iter()
            .copied()
            .filter(|m| m.uid >= lowest)
            .collect();
        let mut found = HashMap::new();
        self.for_each_fetched(destination, &range, |message| {
            let Some(key) = Key::of(&message) else {
                return;
            };
            let hit = wanted.iter().position(|(_, copy, wanted_key)| {
                message.uid >= copy.destination_uid_next && wanted_key.matches(&key)
            });
            if let Some(index) = hit {
                let (id, _, _) = wanted.remove(index);
                found.insert(id, message.uid);
            }
        })?;
        Ok(found)
    }

    /// Reads `messages` of `side` in batches bounded by bytes and hands each message to
    /// `each`, in UID order within a batch (the lowest candidate UID wins a match).
    fn for_each_fetched(
        &mut self,
        side: Side,
        messages: &[&MessageInfo],
        mut each: impl FnMut(FetchedMessage),
    ) -> Result<(), FolderFailure> {
        let chunks = batches(messages, self.batch_bytes);
        for (index, chunk) in chunks.iter().enumerate() {
            self.announce_batches(side, &chunks, index)?;
            let mut fetched = self.folders[side]
                .folder
                .fetch_messages(chunk)
                .map_err(FolderFailure::backend(side))?;
            fetched.sort_unstable_by_key(|message| message.uid);
            fetched.into_iter().for_each(&mut each);
        }
        Ok(())
    }
}

/// What a rewritten copy is recognized by: its Message-ID and INTERNALDATE.
struct Key {
    message_id: [u8; 16],
    internal_date: Option<UnixTime>,
}

impl Key {
    fn of(message: &FetchedMessage) -> Option<Key> {
        Some(Key {
            message_id: Fingerprint::of(&message.bytes).message_id?,
            internal_date: message.internal_date,
        })
    }

    /// The same Message-ID, and the same INTERNALDATE where both sides tell one.
    fn matches(&self, other: &Key) -> bool {
        self.message_id == other.message_id
            && match (self.internal_date, other.internal_date) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}
