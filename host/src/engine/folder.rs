//! Syncing one folder pair: the steps in an order that survives a crash anywhere.
//!
//! 0. Each side's status is checked against the state: a changed UIDVALIDITY or a UIDNEXT
//!    gone back stops the folder (or, under `repair`, the folder's state is forgotten and
//!    it starts over). Each side is listed, from the state and the changes since the last
//!    sync where the side can tell them, else in full (`changes.rs`); a listing shorter
//!    than the folder says it is stops the folder.
//! 1. Interrupted copies of an earlier run (pending entries in the state) are resolved
//!    first (`recovery.rs`): the copy is looked for at or above the UIDNEXT recorded
//!    before it, by size and MD5; found, it is paired; not found, the entry is dropped and
//!    the message, still unpaired, is copied again below. So no copy is lost or made
//!    twice.
//! 2. Messages on both sides that the state does not pair are paired by content
//!    (`content_pairing.rs`), so that mail already on both sides is never copied twice.
//! 3. The plan is checked by the mass-deletion guard (`deletion_guard.rs`).
//! 4. Flag changes are applied to both sides (`flags.rs`), and
//! 5. deletions (`deletions.rs`); both made durable by one flush per side, then recorded
//!    in one transaction.
//! 6. New messages are copied in batches (`copy.rs`): pending entries recorded, messages
//!    appended, flushed, then pairs recorded and pending entries dropped in one
//!    transaction.
//! 7. Each side's HIGHESTMODSEQ, as read before its listing, is recorded with the folder,
//!    if the run left the state exact for that side (`changes.rs`).
//!
//! This module holds the order; each step lives in the file named above.

use backend_api::{Folder, FolderPath, FolderStatus, LineEnding, MessageInfo, Uid};

use super::batches::{BodyBudget, BATCHES_AHEAD};
use super::changes::Cleanliness;
use super::content_pairing::NearDuplicates;
use super::failure::FolderFailure;
use super::plan::{plan_folder, CommonFlags, FolderPlan};
use super::recovery::Unfound;
use super::report::{FolderReport, SyncObserver};
use super::Repair;
use crate::side::{PerSide, Side};
use crate::state::{FolderRecord, Pair, StateChange, SyncState};

/// A side's folder with what the engine needs to know of it.
pub struct OpenFolder {
    pub folder: Box<dyn Folder>,
    pub line_ending: LineEnding,
}

/// The sync of one folder pair.
pub struct FolderSync<'a> {
    pub account: &'a str,
    pub path: &'a FolderPath,
    /// The folder on each side.
    pub folders: PerSide<OpenFolder>,
    /// The config name of each side's repository, for messages.
    pub repository_names: PerSide<&'a str>,
    pub state: &'a SyncState,
    pub dry_run: bool,
    /// Per side: configured `readonly`, so never changed.
    pub read_only: PerSide<bool>,
    /// Per side: whether deletions made there are propagated (`sync_deletes`).
    pub sync_deletes: PerSide<bool>,
    /// What to do with messages that share a Message-ID but not their bytes.
    pub near_duplicates: NearDuplicates,
    /// The mass-deletion guard's limit in percent; 0 turns the guard off.
    pub deletion_guard_percent: u32,
    /// Apply the deletions the guard refused last time (exactly those).
    pub allow_deletions: bool,
    /// Under `twinbox repair`: which folders start over.
    pub repair: Option<Repair>,
    /// `maxsize`: messages larger than this are not copied.
    pub max_size: Option<u64>,
    /// How many bytes of messages this folder fetches into memory at once.
    pub batch_bytes: u64,
    /// The account's budget of bytes of bodies in memory, which the copies take from.
    pub body_budget: &'a BodyBudget,
    pub observer: &'a dyn SyncObserver,
    /// The id the next pending copy gets, once the state was read for it.
    pub(super) pending_ids_from: Option<u64>,
    /// Whether what the listings showed is known durable (see [`Self::make_listed_durable`]).
    pub(super) listed_durable: bool,
    /// (destination, source UID) of the originals whose earlier copy could not be found
    /// again: their next copy is their last (see `recovery.rs`).
    pub(super) retrying: std::collections::HashSet<(Side, Uid)>,
    /// Per side: the lowest UID from which its unpaired messages may be such unfound
    /// copies; they are not copied back as new mail while their originals are retried.
    pub(super) held_back_from: PerSide<Option<Uid>>,
}

/// What the state holds for a folder, once checked against both sides.
pub(super) struct CheckedFolder {
    pub statuses: PerSide<FolderStatus>,
    /// The folder's record as it should be after this run (UIDNEXTs raised to what the
    /// statuses say), and as it was read (to write it only when it changed).
    pub record: FolderRecord,
    pub recorded: Option<FolderRecord>,
    pub pairs: Vec<Pair>,
}

/// The side read first: when reading it fails (a server is the usual place for a changed
/// UIDVALIDITY or a lost connection, and servers are usually configured as the remote
/// side), the other side has not been read at all.
const READ_FIRST: Side = Side::Remote;

impl FolderSync<'_> {
    /// Runs the sync, filling `report`; an error stops the folder (what was done and
    /// recorded before it stays done).
    pub fn run(mut self, report: &mut FolderReport) -> Result<(), FolderFailure> {
        let CheckedFolder {
            statuses,
            mut record,
            mut recorded,
            mut pairs,
        } = self.checked_folder()?;
        let errors_before = report.errors.len();
        self.forget_lost_modseqs(&statuses, &mut record, &mut recorded)?;
        let common = CommonFlags::new(
            statuses
                .as_ref()
                .map(|status| status.permanent_flags.clone()),
        );
        let listings = PerSide::try_from_fn_starting_with(READ_FIRST, |side| {
            self.list_side(side, &statuses[side], &record, &pairs)
        })?;
        self.check_listings_complete(&statuses, &listings)?;
        if !self.dry_run {
            for destination in Side::BOTH {
                report.recovered += self.resolve_pending(
                    destination,
                    &listings[destination],
                    &mut pairs,
                    Unfound::Drop,
                )?;
            }
        }
        self.pair_by_content(&listings, &mut pairs, &common, report)?;

        let unrestricted = plan_folder(listings.as_ref().map(Vec::as_slice), &pairs, &common);
        let mut plan = unrestricted.clone();
        for side in Side::BOTH {
            if self.read_only[side] {
                plan = plan.without_changes_to(side);
            }
            if !self.sync_deletes[side] {
                plan = plan.without_deletions_on(side.other());
            }
            if let Some(from) = self.held_back_from[side] {
                plan.copies[side.other()].retain(|uid| *uid < from);
            }
        }
        self.leave_out_too_big(&mut plan, &listings, report);
        let cleanliness = Cleanliness::of(&listings, &pairs, &unrestricted, &plan);
        let guard = self.check_deletion_guard(&plan, &listings, &mut record);
        if guard.is_err() && !self.dry_run {
            // What the guard refused is recorded, for `--allow-deletions` to confirm.
            self.save_record(&record, recorded.as_ref())?;
        }
        guard?;
        if self.dry_run {
            count_plan(&plan, report);
            return Ok(());
        }
        self.apply_flags_and_deletions(&plan, report)?;
        for destination in Side::BOTH {
            self.copy_messages(
                destination,
                &plan.copies[destination],
                &listings[destination.other()],
                statuses[destination].uid_next,
                &common,
                report,
            )?;
        }
        record.guarded_deletions = PerSide::default();
        cleanliness.record(report.errors.len() == errors_before, &statuses, &mut record);
        self.save_record(&record, recorded.as_ref())
    }

    /// Makes `side`'s effects so far durable: one durable step (see
    /// [`SyncState::durable_step`], which the crash tests stop at).
    pub(super) fn flush(&mut self, side: Side) -> Result<(), FolderFailure> {
        self.folders[side]
            .folder
            .flush()
            .map_err(FolderFailure::backend(side))?;
        Ok(self.state.durable_step()?)
    }

    /// Tells `side` of the batches it will be asked for next, before batch `index` of
    /// `batches` is fetched, so that it is always told of those up to [`BATCHES_AHEAD`]
    /// past the one fetched: all of them before the first, then one more each time.
    /// Batches must then be fetched in order.
    pub(super) fn announce_batches(
        &mut self,
        side: Side,
        batches: &[Vec<Uid>],
        index: usize,
    ) -> Result<(), FolderFailure> {
        let first = if index == 0 { 0 } else { index + BATCHES_AHEAD };
        for batch in batches.iter().take(index + BATCHES_AHEAD + 1).skip(first) {
            self.folders[side]
                .folder
                .prefetch_messages(batch)
                .map_err(FolderFailure::backend(side))?;
        }
        Ok(())
    }

    /// Makes durable what the listings showed, before anything read from them is
    /// recorded (a pair found or merged, flags, a UIDNEXT or MODSEQ): an earlier run may
    /// have died between its effects and their flush, and what it left, though listed now,
    /// could still vanish in a power cut; a pair recorded for a copy that then vanished
    /// would delete its original as a deletion. Once per folder sync, and only when
    /// something is recorded (a sync that changes nothing flushes nothing). A read-only
    /// side is never written, so it is not flushed either.
    pub(super) fn make_listed_durable(&mut self) -> Result<(), FolderFailure> {
        if self.listed_durable {
            return Ok(());
        }
        for side in Side::BOTH {
            if !self.read_only[side] {
                self.folders[side]
                    .folder
                    .flush()
                    .map_err(FolderFailure::backend(side))?;
            }
        }
        self.listed_durable = true;
        Ok(())
    }

    /// Writes the folder's record if it differs from the one read at the start.
    fn save_record(
        &mut self,
        record: &FolderRecord,
        recorded: Option<&FolderRecord>,
    ) -> Result<(), FolderFailure> {
        if recorded != Some(record) {
            self.make_listed_durable()?;
            self.state
                .commit(self.path, &[StateChange::SetFolder(*record)])?;
        }
        Ok(())
    }

    /// Reads each side's status and checks it against the state, [`READ_FIRST`] first: a
    /// side whose UIDVALIDITY changed, or whose UIDNEXT went back, stops the folder before
    /// the other side is read (reading a status may change a store: the Maildir plugin
    /// gives UIDs to files a mail client delivered). Under `repair`, such a folder (or
    /// every folder, for [`Repair::Every`]) is forgotten instead and starts over.
    fn checked_folder(&mut self) -> Result<CheckedFolder, FolderFailure> {
        let mut recorded = self.state.folder(self.path)?;
        let mut pairs = self.state.pairs(self.path)?;
        if self.repair == Some(Repair::Every) {
            self.start_over(&mut recorded, &mut pairs)?;
        }
        let checked = PerSide::try_from_fn_starting_with(READ_FIRST, |side| {
            self.checked_status(side, recorded.as_ref(), &pairs)
        });
        let statuses = match checked {
            Ok(statuses) => statuses,
            Err(failure) if self.repair.is_some() && failure.is_repairable() => {
                log::info!("{}: {}: repairing: {failure}", self.account, self.path);
                self.start_over(&mut recorded, &mut pairs)?;
                PerSide::try_from_fn_starting_with(READ_FIRST, |side| {
                    self.checked_status(side, None, &[])
                })?
            }
            Err(failure) => return Err(failure),
        };
        let mut record = recorded.unwrap_or_else(|| {
            FolderRecord::new(statuses.as_ref().map(|status| status.uid_validity))
        });
        if recorded.is_none() && !self.dry_run {
            self.state
                .commit(self.path, &[StateChange::SetFolder(record)])?;
            recorded = Some(record);
        }
        for side in Side::BOTH {
            let seen = statuses[side].uid_next;
            record.uid_next[side] = Some(record.uid_next[side].map_or(seen, |n| n.max(seen)));
        }
        Ok(CheckedFolder {
            statuses,
            record,
            recorded,
            pairs,
        })
    }

    /// Forgets everything the state knows of the folder (in a dry run, only for this run).
    /// Nothing is lost if the run stops right after: a folder the state does not know is
    /// paired by content on the next run, as here.
    fn start_over(
        &self,
        recorded: &mut Option<FolderRecord>,
        pairs: &mut Vec<Pair>,
    ) -> Result<(), FolderFailure> {
        if !self.dry_run {
            self.state.forget_folder(self.path)?;
        }
        *recorded = None;
        pairs.clear();
        Ok(())
    }

    fn checked_status(
        &mut self,
        side: Side,
        recorded: Option<&FolderRecord>,
        pairs: &[Pair],
    ) -> Result<FolderStatus, FolderFailure> {
        let status = self.folders[side]
            .folder
            .status()
            .map_err(FolderFailure::backend(side))?;
        let Some(recorded) = recorded else {
            return Ok(status);
        };
        if recorded.uid_validity[side] != status.uid_validity {
            return Err(FolderFailure::UidValidityChanged {
                account: self.account.to_owned(),
                folder: self.path.clone(),
                side,
                repository: self.repository_names[side].to_owned(),
                recorded: recorded.uid_validity[side],
                found: status.uid_validity,
            });
        }
        // A UID the state pairs is below the UIDNEXT of its time, so both are lower bounds
        // of any honest UIDNEXT since.
        let highest_paired = pairs.iter().map(|pair| pair.uids[side]).max();
        let lower_bound: Option<Uid> = [recorded.uid_next[side], highest_paired.map(|uid| uid + 1)]
            .into_iter()
            .flatten()
            .max();
        match lower_bound {
            Some(bound) if status.uid_next < bound => Err(FolderFailure::UidNextWentBack {
                account: self.account.to_owned(),
                folder: self.path.clone(),
                side,
                repository: self.repository_names[side].to_owned(),
                recorded: bound,
                found: status.uid_next,
            }),
            _ => Ok(status),
        }
    }

    /// A listing with fewer messages than the folder's status counted may have left some
    /// out, and a message left out reads as deleted: refuse it. (More is fine: mail
    /// arrived in between.)
    fn check_listings_complete(
        &self,
        statuses: &PerSide<FolderStatus>,
        listings: &PerSide<Vec<MessageInfo>>,
    ) -> Result<(), FolderFailure> {
        for side in Side::BOTH {
            let holds = statuses[side].message_count;
            if (listings[side].len() as u64) < u64::from(holds) {
                return Err(FolderFailure::ListingIncomplete {
                    side,
                    repository: self.repository_names[side].to_owned(),
                    listed: listings[side].len(),
                    holds,
                });
            }
        }
        Ok(())
    }
}

/// What a dry run reports: what the plan would do.
fn count_plan(plan: &FolderPlan, report: &mut FolderReport) {
    for side in Side::BOTH {
        report.copied_to[side] = plan.copies[side].len();
        report.flags_on[side] = plan.flag_changes[side].len();
        report.deleted_on[side] = plan.deletions[side].len();
    }
}
