//! Step 0b: each side's listing, from the changes since the last sync where the side can
//! tell them (IMAP QRESYNC or CONDSTORE), else in full.
//!
//! The plan needs a current listing of each side. After a run that applied all of a
//! folder's steps, the state knows every message of each side exactly: the pairs, each
//! with the flags both sides then had (restricted to the flags both store). That run
//! recorded the HIGHESTMODSEQ each side reported before it listed; every change after it
//! (flags changed, by anyone, including the run's own stores and appends) has a higher
//! MODSEQ. So the current listing is the pairs, minus the vanished messages, with the
//! changed messages replaced or added: O(changes) from the server instead of O(folder).
//!
//! Where that is not certain, the side is listed in full, with a debug log saying why:
//! - no HIGHESTMODSEQ recorded (the first sync, or a run that was not clean, below);
//! - a HIGHESTMODSEQ now lower than recorded, or none (NOMODSEQ): the side lost its MODSEQ
//!   state; the recorded value is then forgotten at once, so that the side's new sequence
//!   passing the old value later cannot make old changes look seen;
//! - a changed UIDVALIDITY (the status check stops such a folder before this anyway);
//! - the backend declines (`list_changes` answers `None`, a plugin of interface 1.0);
//! - the rebuilt listing does not hold as many messages as the status counted: messages
//!   were expunged and the side cannot say which (CONDSTORE without QRESYNC), or the
//!   folder changed between the status and the changes.
//!
//! A run records each side's HIGHESTMODSEQ only when it leaves the state exact for that
//! side ([`Cleanliness`]): every flag change applied (none held back by a read-only side),
//! every message paired (none left behind: a `\Deleted` message not copied, a message
//! skipped on an error). Otherwise the HIGHESTMODSEQ recorded earlier stays, which is still
//! a safe starting point: whatever the run left unsynced changed after it.

use std::collections::{BTreeMap, HashSet};

use backend_api::{FolderChanges, FolderStatus, MessageInfo, Uid};

use super::failure::FolderFailure;
use super::folder::FolderSync;
use super::plan::FolderPlan;
use crate::side::{PerSide, Side};
use crate::state::{FolderRecord, Pair, StateChange};

impl FolderSync<'_> {
    /// The listing of `side`: rebuilt from `pairs` and the changes since the HIGHESTMODSEQ
    /// `record` holds for it where that is certain, else listed in full.
    pub(super) fn list_side(
        &mut self,
        side: Side,
        status: &FolderStatus,
        record: &FolderRecord,
        pairs: &[Pair],
    ) -> Result<Vec<MessageInfo>, FolderFailure> {
        if let Some(listing) = self.listing_from_changes(side, status, record, pairs)? {
            return Ok(listing);
        }
        self.folders[side]
            .folder
            .list_messages()
            .map_err(FolderFailure::backend(side))
    }

    fn listing_from_changes(
        &mut self,
        side: Side,
        status: &FolderStatus,
        record: &FolderRecord,
        pairs: &[Pair],
    ) -> Result<Option<Vec<MessageInfo>>, FolderFailure> {
        let Some(since) = record.highest_modseq[side] else {
            return Ok(None);
        };
        let full = |reason: String| {
            log::debug!(
                "{}: {}: listing the {side} side in full: {reason}",
                self.account,
                self.path
            );
            Ok(None)
        };
        if record.uid_validity[side] != status.uid_validity {
            return full(format!(
                "UIDVALIDITY {} instead of {}",
                status.uid_validity, record.uid_validity[side]
            ));
        }
        match status.highest_modseq {
            None => return full("it reports no HIGHESTMODSEQ now".into()),
            Some(highest) if highest < since => {
                return full(format!(
                    "its HIGHESTMODSEQ {highest} is below the {since} recorded"
                ))
            }
            Some(_) => {}
        }
        let changes = self.folders[side]
            .folder
            .list_changes(since)
            .map_err(FolderFailure::backend(side))?;
        let Some(changes) = changes else {
            return full(format!("it cannot list the changes since MODSEQ {since}"));
        };
        let (changed, vanished) = (
            changes.changed.len(),
            changes.vanished.as_ref().map(Vec::len),
        );
        let listing = rebuilt_listing(side, pairs, changes);
        if listing.len() != status.message_count as usize {
            return full(format!(
                "the state and the changes since MODSEQ {since} make {} messages, the folder holds {} (expunges it cannot name, or changes meanwhile)",
                listing.len(),
                status.message_count
            ));
        }
        log::debug!(
            "{}: {}: {side} side: {changed} messages changed and {} vanished since MODSEQ {since}",
            self.account,
            self.path,
            vanished.map_or_else(|| "unknown".to_owned(), |n| n.to_string())
        );
        Ok(Some(listing))
    }

    /// Forgets, in `record` and in the state at once (not in a dry run), the HIGHESTMODSEQ
    /// of a side that now reports a lower one or none: its MODSEQs started over, and once
    /// they pass the recorded value, changes made in between would look already seen.
    pub(super) fn forget_lost_modseqs(
        &self,
        statuses: &PerSide<FolderStatus>,
        record: &mut FolderRecord,
        recorded: &mut Option<FolderRecord>,
    ) -> Result<(), FolderFailure> {
        let mut lost = false;
        for side in Side::BOTH {
            let Some(since) = record.highest_modseq[side] else {
                continue;
            };
            if statuses[side]
                .highest_modseq
                .is_some_and(|highest| highest >= since)
            {
                continue;
            }
            log::debug!(
                "{}: {}: the {side} side lost its MODSEQs (HIGHESTMODSEQ {:?}, {since} recorded); forgotten",
                self.account,
                self.path,
                statuses[side].highest_modseq
            );
            record.highest_modseq[side] = None;
            if let Some(stored) = recorded.as_mut() {
                stored.highest_modseq[side] = None;
            }
            lost = true;
        }
        if let (true, false, Some(stored)) = (lost, self.dry_run, recorded.as_ref()) {
            self.state
                .commit(self.path, &[StateChange::SetFolder(*stored)])?;
        }
        Ok(())
    }
}

/// `side`'s listing from the pairs (what it held at the recorded MODSEQ, with the pairs'
/// flags) and what changed since. Messages known only from the state are listed with size
/// 0 and no MODSEQ: the engine reads sizes only of unpaired messages, which are all among
/// the changed ones.
pub(super) fn rebuilt_listing(
    side: Side,
    pairs: &[Pair],
    changes: FolderChanges,
) -> Vec<MessageInfo> {
    let vanished: HashSet<Uid> = changes.vanished.into_iter().flatten().collect();
    let mut listing: BTreeMap<Uid, MessageInfo> = pairs
        .iter()
        .map(|pair| pair.uids[side])
        .zip(pairs)
        .filter(|(uid, _)| !vanished.contains(uid))
        .map(|(uid, pair)| {
            let info = MessageInfo {
                uid,
                flags: pair.flags.clone(),
                size: 0,
                modseq: None,
            };
            (uid, info)
        })
        .collect();
    for message in changes.changed {
        listing.insert(message.uid, message);
    }
    listing.into_values().collect()
}

/// What a run must have done for its HIGHESTMODSEQs to be recorded: see the module
/// documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Cleanliness {
    /// No change of the plan was held back (a read-only side).
    pub plan_complete: bool,
    /// Per side, whether every listed message is paired or about to be copied.
    pub all_paired: PerSide<bool>,
}

impl Cleanliness {
    /// Judges the plan made from `listings` and `pairs` (after recovery and content
    /// pairing), with `unrestricted` the plan before read-only sides were taken out.
    pub fn of(
        listings: &PerSide<Vec<MessageInfo>>,
        pairs: &[Pair],
        unrestricted: &FolderPlan,
        plan: &FolderPlan,
    ) -> Self {
        let all_paired = PerSide::from_fn(|side| {
            let paired: HashSet<Uid> = pairs.iter().map(|pair| pair.uids[side]).collect();
            let copied: HashSet<Uid> = plan.copies[side.other()].iter().copied().collect();
            listings[side]
                .iter()
                .all(|m| paired.contains(&m.uid) || copied.contains(&m.uid))
        });
        Cleanliness {
            plan_complete: unrestricted == plan,
            all_paired,
        }
    }

    /// Sets each side's HIGHESTMODSEQ in `record` to the one read before the listing, if
    /// the run (which applied every step, with `errors_free` saying that nothing was
    /// skipped on the way) left the state exact for that side; else leaves it as it was.
    pub fn record(
        &self,
        errors_free: bool,
        statuses: &PerSide<FolderStatus>,
        record: &mut FolderRecord,
    ) {
        for side in Side::BOTH {
            if self.plan_complete && errors_free && self.all_paired[side] {
                record.highest_modseq[side] = statuses[side].highest_modseq;
            }
        }
    }
}
