//! `maxsize` (an `[Account]` option, as in OfflineIMAP): messages larger than the limit
//! are not copied either way. They stay where they are, unpaired, and each run leaves them
//! out again and says so in its summary; nothing about them is recorded, so raising or
//! removing the limit later copies them as usual.
//!
//! The limit is applied to the plan, before anything is fetched: a message over it is
//! never read into memory. Since the plan is then narrower than the listings call for,
//! the folder is not recorded as clean (its HIGHESTMODSEQ stays as it was), so the next
//! run lists it in full again.

use backend_api::{MessageInfo, Uid};

use super::folder::FolderSync;
use super::plan::FolderPlan;
use super::report::FolderReport;
use crate::side::{PerSide, Side};

impl FolderSync<'_> {
    /// Removes from `plan` the copies of messages larger than `maxsize`, counting them
    /// in `report.too_big`.
    pub(super) fn leave_out_too_big(
        &self,
        plan: &mut FolderPlan,
        listings: &PerSide<Vec<MessageInfo>>,
        report: &mut FolderReport,
    ) {
        let Some(limit) = self.max_size else {
            return;
        };
        for destination in Side::BOTH {
            let source = destination.other();
            let too_big: Vec<Uid> = listings[source]
                .iter()
                .filter(|m| m.size > limit)
                .map(|m| m.uid)
                .collect();
            if too_big.is_empty() {
                continue;
            }
            let before = plan.copies[destination].len();
            plan.copies[destination].retain(|uid| !too_big.contains(uid));
            let left_out = before - plan.copies[destination].len();
            if left_out > 0 {
                log::info!(
                    "{}: {}: {left_out} messages on the {source} side are larger than maxsize \
                     ({limit} bytes) and are not copied to the {destination} side",
                    self.account,
                    self.path
                );
            }
            report.too_big += left_out;
        }
    }
}

#[cfg(test)]
mod tests {
    use backend_api::Flags;
    use backend_kit::memory::MemoryRepository;

    use crate::engine::tests::{sync, sync_with};
    use crate::engine::SyncOptions;
    use crate::state::SyncState;

    fn bodies(repository: &MemoryRepository) -> Vec<Vec<u8>> {
        let mut bodies: Vec<Vec<u8>> = repository
            .messages("INBOX")
            .into_iter()
            .map(|(_, m)| backend_kit::line_endings::crlf_to_lf(&m.bytes).to_vec())
            .collect();
        bodies.sort();
        bodies
    }

    #[test]
    fn messages_over_maxsize_are_left_out_both_ways_and_the_rest_syncs() {
        let (local, remote) = (MemoryRepository::new(), MemoryRepository::new());
        let small = b"Subject: small\n\nhi\n".to_vec();
        let big_local = [b"Subject: big local\n\n".as_slice(), &[b'x'; 5000]].concat();
        let big_remote = [b"Subject: big remote\n\n".as_slice(), &[b'y'; 5000]].concat();
        local.deliver("INBOX", &big_local, Flags::new());
        remote.deliver("INBOX", &small, Flags::new());
        remote.deliver("INBOX", &big_remote, Flags::new());
        let state = SyncState::in_memory().unwrap();
        let options = SyncOptions {
            max_size: Some(1000),
            ..Default::default()
        };
        for run in 0..2 {
            let report = sync_with(&local, &remote, &state, options.clone());
            assert!(!report.failed(), "{report:?}");
            let folder = &report.folders[0];
            assert_eq!(folder.too_big, 2, "run {run}: {report:?}");
            let copied: usize = folder.copied_to.iter().sum();
            assert_eq!(copied, usize::from(run == 0), "run {run}: {report:?}");
            // Each side keeps its own big message; only the small one travelled.
            assert_eq!(bodies(&local), vec![big_local.clone(), small.clone()]);
            assert_eq!(bodies(&remote), vec![big_remote.clone(), small.clone()]);
        }
        // Without the limit the big messages are copied as usual.
        let report = sync(&local, &remote, &state);
        assert!(!report.failed(), "{report:?}");
        assert_eq!(report.folders[0].too_big, 0);
        assert_eq!(report.folders[0].copied_to.iter().sum::<usize>(), 2);
        assert_eq!(bodies(&local), bodies(&remote));
    }
}
