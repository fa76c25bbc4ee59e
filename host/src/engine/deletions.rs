//! Step 3: deletions are applied, made durable (with the flag changes, `flags.rs`), then
//! recorded.
//!
//! A crash before the record leaves a pair whose message is gone from both sides, which
//! the next run's plan forgets.

use backend_api::Uid;

use super::failure::FolderFailure;
use super::folder::FolderSync;
use super::plan::FolderPlan;
use crate::side::Side;
use crate::state::StateChange;

impl FolderSync<'_> {
    /// Sends `side`'s deletions (not flushed: see `apply_flags_and_deletions`); how many.
    pub(super) fn send_deletions(
        &mut self,
        plan: &FolderPlan,
        side: Side,
    ) -> Result<usize, FolderFailure> {
        let deletions = &plan.deletions[side];
        if deletions.is_empty() {
            return Ok(0);
        }
        let uids: Vec<Uid> = deletions.iter().map(|deletion| deletion.uid).collect();
        self.folders[side]
            .folder
            .delete_messages(&uids)
            .map_err(FolderFailure::backend(side))?;
        Ok(uids.len())
    }

    /// What the state records once the deletions are durable: the pairs forgotten (gone
    /// from both sides) and those whose twin was deleted.
    pub(super) fn deletion_records(&self, plan: &FolderPlan) -> Vec<StateChange> {
        let mut changes: Vec<StateChange> = plan
            .forget_pairs
            .iter()
            .map(|pair| StateChange::RemovePair(*pair))
            .collect();
        for side in Side::BOTH {
            changes.extend(
                plan.deletions[side]
                    .iter()
                    .map(|deletion| StateChange::RemovePair(deletion.pair)),
            );
        }
        changes
    }
}
