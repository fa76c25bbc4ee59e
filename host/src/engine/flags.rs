//! Step 2: flag changes are applied to both sides, made durable (with the deletions of
//! step 3, one flush per side), then recorded.

use std::collections::HashMap;

use backend_api::{Flags, Uid};

use super::failure::FolderFailure;
use super::folder::FolderSync;
use super::plan::{FlagChange, FolderPlan};
use super::report::FolderReport;
use crate::side::Side;
use crate::state::StateChange;

impl FolderSync<'_> {
    /// Steps 2 and 3 together: on each side, the flag changes and then the deletions are
    /// applied and made durable by one flush (one round trip on IMAP, where the flag
    /// changes wait for the flush), then all of it is recorded in one transaction. A crash
    /// before the record leaves changes made on both sides and not recorded, which the
    /// next run's plan records without changing anything (the same flags on both sides; a
    /// pair gone from both sides is forgotten).
    pub(super) fn apply_flags_and_deletions(
        &mut self,
        plan: &FolderPlan,
        report: &mut FolderReport,
    ) -> Result<(), FolderFailure> {
        for side in Side::BOTH {
            let flagged = self.send_flags(plan, side)?;
            let deleted = self.send_deletions(plan, side)?;
            if flagged + deleted > 0 {
                self.flush(side)?;
            }
            report.flags_on[side] += flagged;
            report.deleted_on[side] += deleted;
        }
        let mut records: Vec<StateChange> = plan
            .updated_pairs
            .iter()
            .cloned()
            .map(StateChange::PutPair)
            .collect();
        records.extend(self.deletion_records(plan));
        if records.is_empty() {
            return Ok(());
        }
        self.make_listed_durable()?;
        Ok(self.state.commit(self.path, &records)?)
    }

    /// Sends `side`'s flag changes (not flushed); how many messages they change. Not only
    /// when some pair is to be recorded: under `readonly`, a pair whose read-only side
    /// would change is not recorded, yet the other side's changes of the same pair must
    /// still be made.
    fn send_flags(&mut self, plan: &FolderPlan, side: Side) -> Result<usize, FolderFailure> {
        let changes = &plan.flag_changes[side];
        let folder = &mut self.folders[side].folder;
        for (add, remove, uids) in grouped(changes) {
            folder
                .update_flags(&uids, add, remove)
                .map_err(FolderFailure::backend(side))?;
        }
        Ok(changes.len())
    }
}

/// The UIDs of `changes` grouped by (add, remove), in the order each group first appears:
/// one call per group, which IMAP turns into one UID STORE.
fn grouped(changes: &[FlagChange]) -> Vec<(&Flags, &Flags, Vec<Uid>)> {
    let mut groups: Vec<(&Flags, &Flags, Vec<Uid>)> = Vec::new();
    let mut index: HashMap<(&Flags, &Flags), usize> = HashMap::new();
    for FlagChange { uid, add, remove } in changes {
        let at = *index.entry((add, remove)).or_insert_with(|| {
            groups.push((add, remove, Vec::new()));
            groups.len() - 1
        });
        groups[at].2.push(*uid);
    }
    groups
}
