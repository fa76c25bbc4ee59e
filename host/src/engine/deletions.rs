//! Step 3: deletions are applied, made durable, then recorded.
//!
//! A crash before the record leaves a pair whose message is gone from both sides, which
//! the next run's plan forgets.

use backend_api::Uid;

use super::failure::FolderFailure;
use super::folder::FolderSync;
use super::plan::FolderPlan;
use super::report::FolderReport;
use crate::side::Side;
use crate::state::StateChange;

impl FolderSync<'_> {
    pub(super) fn apply_deletions(
        &mut self,
        plan: &FolderPlan,
        report: &mut FolderReport,
    ) -> Result<(), FolderFailure> {
        let mut changes: Vec<StateChange> = plan
            .forget_pairs
            .iter()
            .map(|pair| StateChange::RemovePair(*pair))
            .collect();
        for side in Side::BOTH {
            let deletions = &plan.deletions[side];
            if deletions.is_empty() {
                continue;
            }
            let uids: Vec<Uid> = deletions.iter().map(|deletion| deletion.uid).collect();
            let folder = &mut self.folders[side].folder;
            folder
                .delete_messages(&uids)
                .map_err(FolderFailure::backend(side))?;
            self.flush(side)?;
            report.deleted_on[side] += uids.len();
            changes.extend(
                deletions
                    .iter()
                    .map(|deletion| StateChange::RemovePair(deletion.pair)),
            );
        }
        if !changes.is_empty() {
            self.make_listed_durable()?;
        }
        Ok(self.state.commit(self.path, &changes)?)
    }
}
