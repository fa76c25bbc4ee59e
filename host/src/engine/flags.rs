//! Step 2: flag changes are applied to both sides, made durable, then recorded.

use std::collections::HashMap;

use backend_api::{Flags, Uid};

use super::failure::FolderFailure;
use super::folder::FolderSync;
use super::plan::{FlagChange, FolderPlan};
use super::report::FolderReport;
use crate::side::Side;
use crate::state::StateChange;

impl FolderSync<'_> {
    pub(super) fn apply_flags(
        &mut self,
        plan: &FolderPlan,
        report: &mut FolderReport,
    ) -> Result<(), FolderFailure> {
        // Not only when some pair is to be recorded: under `readonly`, a pair whose
        // read-only side would change is not recorded, yet the other side's changes of
        // the same pair must still be made.
        if plan.updated_pairs.is_empty()
            && Side::BOTH.iter().all(|&s| plan.flag_changes[s].is_empty())
        {
            return Ok(());
        }
        for side in Side::BOTH {
            let changes = &plan.flag_changes[side];
            if changes.is_empty() {
                continue;
            }
            let folder = &mut self.folders[side].folder;
            for (add, remove, uids) in grouped(changes) {
                folder
                    .update_flags(&uids, add, remove)
                    .map_err(FolderFailure::backend(side))?;
            }
            self.flush(side)?;
            report.flags_on[side] += changes.len();
        }
        self.make_listed_durable()?;
        let changes: Vec<StateChange> = plan
            .updated_pairs
            .iter()
            .cloned()
            .map(StateChange::PutPair)
            .collect();
        Ok(self.state.commit(self.path, &changes)?)
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
