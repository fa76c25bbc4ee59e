//! Syncing one folder pair: the four steps in an order that survives a crash anywhere.
//!
//! 1. Interrupted copies of an earlier run (pending entries in the state) are resolved
//!    first (`recovery.rs`): the copy is looked for at or above the UIDNEXT recorded
//!    before it, by size and MD5; found, it is paired; not found, the entry is dropped and
//!    the message, still unpaired, is copied again below. So no copy is lost or made
//!    twice.
//! 2. Flag changes are applied to both sides, made durable, then recorded (`flags.rs`).
//! 3. Deletions are applied, made durable, then recorded (`deletions.rs`).
//! 4. New messages are copied in batches (`copy.rs`): pending entries recorded, messages
//!    appended, flushed, then pairs recorded and pending entries dropped in one
//!    transaction.
//!
//! This module holds the order; each step lives in the file named above.

use backend_api::{Folder, FolderPath, FolderStatus, LineEnding};

use super::failure::FolderFailure;
use super::plan::{plan_folder, CommonFlags, FolderPlan};
use super::recovery::Unfound;
use super::report::{FolderReport, SyncObserver};
use crate::side::{PerSide, Side};
use crate::state::{FolderRecord, StateChange, SyncState};

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
    pub observer: &'a dyn SyncObserver,
}

/// The side read first: when reading it fails (a server is the usual place for a changed
/// UIDVALIDITY or a lost connection, and servers are usually configured as the remote
/// side), the other side has not been read at all.
const READ_FIRST: Side = Side::Remote;

impl FolderSync<'_> {
    /// Runs the sync, filling `report`; an error stops the folder (what was done and
    /// recorded before it stays done).
    pub fn run(mut self, report: &mut FolderReport) -> Result<(), FolderFailure> {
        let statuses = self.checked_statuses()?;
        let common = CommonFlags::new(statuses.map(|status| status.permanent_flags));
        let listings = PerSide::try_from_fn_starting_with(READ_FIRST, |side| {
            self.folders[side]
                .folder
                .list_messages()
                .map_err(FolderFailure::backend(side))
        })?;
        let mut pairs = self.state.pairs(self.path)?;
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

        let mut plan = plan_folder(listings.as_ref().map(Vec::as_slice), &pairs, &common);
        for side in Side::BOTH {
            if self.read_only[side] {
                plan = plan.without_changes_to(side);
            }
        }
        if self.dry_run {
            count_plan(&plan, report);
            return Ok(());
        }
        self.apply_flags(&plan, report)?;
        self.apply_deletions(&plan, report)?;
        for destination in Side::BOTH {
            self.copy_messages(
                destination,
                &plan.copies[destination],
                &listings[destination.other()],
                &common,
                report,
            )?;
        }
        Ok(())
    }

    /// Reads each side's status and compares its UIDVALIDITY with the recorded one,
    /// [`READ_FIRST`] first: a side whose UIDVALIDITY changed stops the folder before the
    /// other side is read (reading a status may change a store: the Maildir plugin gives
    /// UIDs to files a mail client delivered).
    fn checked_statuses(&mut self) -> Result<PerSide<FolderStatus>, FolderFailure> {
        let recorded = self.state.folder(self.path)?;
        let statuses = PerSide::try_from_fn_starting_with(READ_FIRST, |side| {
            self.checked_status(side, recorded)
        })?;
        if recorded.is_none() && !self.dry_run {
            let record = FolderRecord {
                uid_validity: statuses.as_ref().map(|status| status.uid_validity),
            };
            self.state
                .commit(self.path, &[StateChange::SetFolder(record)])?;
        }
        Ok(statuses)
    }

    fn checked_status(
        &mut self,
        side: Side,
        recorded: Option<FolderRecord>,
    ) -> Result<FolderStatus, FolderFailure> {
        let status = self.folders[side]
            .folder
            .status()
            .map_err(FolderFailure::backend(side))?;
        match recorded {
            Some(recorded) if recorded.uid_validity[side] != status.uid_validity => {
                Err(FolderFailure::UidValidityChanged {
                    account: self.account.to_owned(),
                    folder: self.path.clone(),
                    side,
                    repository: self.repository_names[side].to_owned(),
                    recorded: recorded.uid_validity[side],
                    found: status.uid_validity,
                })
            }
            _ => Ok(status),
        }
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
