//! Step 3: the mass-deletion guard.
//!
//! A message gone from one side is deleted on the other: that is what two-way sync means,
//! and it is also how a mistake spreads (a folder emptied by `rm`, a server that answered
//! with an empty folder, a mount that was not there). Before anything of a folder is
//! changed, its plan is checked: deletions that would remove every message of a side's
//! folder (at least [`ALL_MINIMUM`] of them), or more than `deletionguard` percent of a
//! folder above [`SHARE_MINIMUM`] messages, stop the folder with nothing changed on either
//! side. The refused deletions are recorded (their count and a digest of their UIDs), and
//! `--allow-deletions` then applies exactly those: if more messages went missing since, the
//! guard refuses again and says so.

use backend_api::MessageInfo;

use super::failure::FolderFailure;
use super::folder::FolderSync;
use super::plan::FolderPlan;
use crate::side::{PerSide, Side};
use crate::state::{FolderRecord, GuardedDeletions};

/// Deleting every message of a folder trips the guard from this many messages on; a
/// folder of two drafts that were both sent may empty without a question.
pub const ALL_MINIMUM: usize = 5;
/// The share limit applies to folders holding more than this many messages.
pub const SHARE_MINIMUM: usize = 20;

/// Whether deleting `deletions` of a side's `messages` needs a confirmation.
pub fn needs_confirmation(deletions: usize, messages: usize, percent: u32) -> bool {
    if percent == 0 || deletions == 0 {
        return false;
    }
    let all = deletions >= messages && deletions >= ALL_MINIMUM;
    let share = messages > SHARE_MINIMUM && deletions * 100 > messages * percent as usize;
    all || share
}

impl FolderSync<'_> {
    /// Checks the plan's deletions on each side. A side whose deletions need a
    /// confirmation that was not given stops the folder; what it refused is put in
    /// `record` (the caller saves it).
    pub(super) fn check_deletion_guard(
        &self,
        plan: &FolderPlan,
        listings: &PerSide<Vec<MessageInfo>>,
        record: &mut FolderRecord,
    ) -> Result<(), FolderFailure> {
        let mut refused = None;
        for side in Side::BOTH {
            let deletions = &plan.deletions[side];
            let messages = listings[side].len();
            if !needs_confirmation(deletions.len(), messages, self.deletion_guard_percent) {
                record.guarded_deletions[side] = None;
                continue;
            }
            let these = GuardedDeletions::of(deletions.iter().map(|deletion| deletion.uid));
            if self.allow_deletions && record.guarded_deletions[side] == Some(these) {
                continue;
            }
            record.guarded_deletions[side] = Some(these);
            refused.get_or_insert(FolderFailure::DeletionGuard {
                account: self.account.to_owned(),
                folder: self.path.clone(),
                side,
                repository: self.repository_names[side].to_owned(),
                deletions: deletions.len(),
                messages,
                percent: self.deletion_guard_percent,
            });
        }
        match refused {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emptying_a_folder_needs_a_confirmation_from_a_few_messages_on() {
        assert!(needs_confirmation(5, 5, 50));
        assert!(!needs_confirmation(4, 4, 50));
        assert!(!needs_confirmation(1, 1, 50));
    }

    #[test]
    fn a_large_share_of_a_large_folder_needs_a_confirmation() {
        assert!(needs_confirmation(11, 21, 50));
        assert!(!needs_confirmation(10, 21, 50));
        assert!(
            !needs_confirmation(11, 20, 50),
            "small folders only by the all rule"
        );
        assert!(needs_confirmation(3, 21, 10));
    }

    #[test]
    fn zero_turns_the_guard_off() {
        assert!(!needs_confirmation(100, 100, 0));
    }
}
