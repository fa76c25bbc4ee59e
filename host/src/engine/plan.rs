//! The three-way comparison of one folder pair: a pure function from the two listings and
//! the last synced state to the list of things to do.
//!
//! For each pair in the state:
//! - present on both sides: flags are merged flag by flag. A flag a side changed since the
//!   last sync takes that side's value; a flag neither changed keeps its value. A boolean
//!   flag changed on both sides was necessarily changed the same way (it can only flip away
//!   from the shared ancestor), so there are no conflicts: additions and removals from both
//!   sides are all applied. Only flags that both sides can store are compared.
//! - gone from one side: it was deleted there, so it is deleted on the other side (deletion
//!   wins over a flag change made meanwhile on the other side, as in mbsync and OfflineIMAP).
//! - gone from both: the pair is forgotten.
//!
//! A message with no pair is new and is copied to the other side, unless it is marked
//! `\Deleted` (about to be expunged; OfflineIMAP does not copy those either).

use std::collections::{HashMap, HashSet};

use backend_api::{Flags, MessageInfo, PermanentFlags, SystemFlag, Uid};

use crate::side::Side;
use crate::state::Pair;

/// A flag change to make on one side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagChange {
    pub uid: Uid,
    pub add: Flags,
    pub remove: Flags,
}

/// Everything to do for one folder pair, per side.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FolderPlan {
    /// UIDs on the local side to copy to the remote side.
    pub copy_to_remote: Vec<Uid>,
    /// UIDs on the remote side to copy to the local side.
    pub copy_to_local: Vec<Uid>,
    pub flags_on_local: Vec<FlagChange>,
    pub flags_on_remote: Vec<FlagChange>,
    /// Pairs whose merged flags differ from the recorded ones (recorded after the flag
    /// changes are durable).
    pub new_pair_flags: Vec<Pair>,
    /// Local UIDs to delete (their remote twin is gone), with the pair's remote UID.
    pub delete_on_local: Vec<(Uid, Uid)>,
    /// Remote UIDs to delete (their local twin is gone), with the pair's remote UID.
    pub delete_on_remote: Vec<(Uid, Uid)>,
    /// Pairs gone from both sides, by remote UID: forget them.
    pub forget_pairs: Vec<Uid>,
}

impl FolderPlan {
    pub fn copies_to(&self, side: Side) -> &[Uid] {
        match side {
            Side::Local => &self.copy_to_local,
            Side::Remote => &self.copy_to_remote,
        }
    }

    pub fn flag_changes_on(&self, side: Side) -> &[FlagChange] {
        match side {
            Side::Local => &self.flags_on_local,
            Side::Remote => &self.flags_on_remote,
        }
    }

    pub fn deletions_on(&self, side: Side) -> &[(Uid, Uid)] {
        match side {
            Side::Local => &self.delete_on_local,
            Side::Remote => &self.delete_on_remote,
        }
    }

    pub fn is_empty(&self) -> bool {
        self == &FolderPlan::default()
    }

    /// The plan without any change to `side`, for a repository configured `readonly`.
    ///
    /// What cannot be applied there is not recorded either: a pair whose flags the
    /// read-only side would have needed keeps its recorded flags, so the change is neither
    /// lost nor reverted, just not made. A message deleted on the other side stays paired
    /// (and is not copied back).
    pub fn without_changes_to(mut self, side: Side) -> FolderPlan {
        let blocked: HashSet<Uid> = self.flag_changes_on(side).iter().map(|c| c.uid).collect();
        match side {
            Side::Local => {
                self.copy_to_local.clear();
                self.flags_on_local.clear();
                self.delete_on_local.clear();
            }
            Side::Remote => {
                self.copy_to_remote.clear();
                self.flags_on_remote.clear();
                self.delete_on_remote.clear();
            }
        }
        self.new_pair_flags
            .retain(|pair| !blocked.contains(&pair.uids[side]));
        self
    }
}

/// The flags that both sides can store: the only ones the engine compares and changes.
#[derive(Clone, Debug)]
pub struct CommonFlags {
    local: PermanentFlags,
    remote: PermanentFlags,
}

impl CommonFlags {
    pub fn new(local: PermanentFlags, remote: PermanentFlags) -> Self {
        CommonFlags { local, remote }
    }

    pub fn restrict(&self, flags: &Flags) -> Flags {
        self.local.storable(&self.remote.storable(flags))
    }
}

/// Computes the plan for one folder pair. `local` and `remote` are the current listings,
/// `pairs` the last synced state.
pub fn plan_folder(
    local: &[MessageInfo],
    remote: &[MessageInfo],
    pairs: &[Pair],
    common: &CommonFlags,
) -> FolderPlan {
    let local_by_uid: HashMap<Uid, &MessageInfo> = local.iter().map(|m| (m.uid, m)).collect();
    let remote_by_uid: HashMap<Uid, &MessageInfo> = remote.iter().map(|m| (m.uid, m)).collect();
    let mut paired_local = HashSet::with_capacity(pairs.len());
    let mut paired_remote = HashSet::with_capacity(pairs.len());
    let mut plan = FolderPlan::default();

    for pair in pairs {
        paired_local.insert(pair.uids[Side::Local]);
        paired_remote.insert(pair.uids[Side::Remote]);
        match (
            local_by_uid.get(&pair.uids[Side::Local]),
            remote_by_uid.get(&pair.uids[Side::Remote]),
        ) {
            (Some(local), Some(remote)) => {
                let base = common.restrict(&pair.flags);
                let local_flags = common.restrict(&local.flags);
                let remote_flags = common.restrict(&remote.flags);
                let merged = merge_flags(&base, &local_flags, &remote_flags);
                if merged != local_flags {
                    plan.flags_on_local.push(FlagChange {
                        uid: pair.uids[Side::Local],
                        add: merged.difference(&local_flags),
                        remove: local_flags.difference(&merged),
                    });
                }
                if merged != remote_flags {
                    plan.flags_on_remote.push(FlagChange {
                        uid: pair.uids[Side::Remote],
                        add: merged.difference(&remote_flags),
                        remove: remote_flags.difference(&merged),
                    });
                }
                if merged != pair.flags {
                    plan.new_pair_flags.push(Pair {
                        flags: merged,
                        ..pair.clone()
                    });
                }
            }
            (Some(_), None) => plan
                .delete_on_local
                .push((pair.uids[Side::Local], pair.uids[Side::Remote])),
            (None, Some(_)) => plan
                .delete_on_remote
                .push((pair.uids[Side::Remote], pair.uids[Side::Remote])),
            (None, None) => plan.forget_pairs.push(pair.uids[Side::Remote]),
        }
    }

    let is_new = |message: &&MessageInfo, paired: &HashSet<Uid>| {
        !paired.contains(&message.uid) && !message.flags.contains(SystemFlag::Deleted)
    };
    plan.copy_to_remote = local
        .iter()
        .filter(|m| is_new(m, &paired_local))
        .map(|m| m.uid)
        .collect();
    plan.copy_to_local = remote
        .iter()
        .filter(|m| is_new(m, &paired_remote))
        .map(|m| m.uid)
        .collect();
    plan
}

/// The three-way merge of flag sets: each side's additions and removals against `base`,
/// all applied.
pub fn merge_flags(base: &Flags, local: &Flags, remote: &Flags) -> Flags {
    let added = local.difference(base).union(&remote.difference(base));
    let removed = base.difference(local).union(&base.difference(remote));
    base.union(&added).difference(&removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::side::PerSide;
    use SystemFlag::*;

    fn message(uid: Uid, flags: &[SystemFlag]) -> MessageInfo {
        MessageInfo {
            uid,
            flags: Flags::from_system(flags),
            size: 10,
            modseq: None,
        }
    }

    fn pair(local: Uid, remote: Uid, flags: &[SystemFlag]) -> Pair {
        Pair {
            uids: PerSide::new(local, remote),
            flags: Flags::from_system(flags),
        }
    }

    fn everything() -> CommonFlags {
        CommonFlags::new(PermanentFlags::everything(), PermanentFlags::everything())
    }

    #[test]
    fn new_messages_are_copied_both_ways_except_deleted_ones() {
        let local = [message(1, &[]), message(2, &[Deleted])];
        let remote = [message(7, &[Seen])];
        let plan = plan_folder(&local, &remote, &[], &everything());
        assert_eq!(plan.copy_to_remote, vec![1]);
        assert_eq!(plan.copy_to_local, vec![7]);
    }

    #[test]
    fn unchanged_pairs_plan_nothing() {
        let local = [message(1, &[Seen])];
        let remote = [message(5, &[Seen])];
        let plan = plan_folder(&local, &remote, &[pair(1, 5, &[Seen])], &everything());
        assert!(plan.is_empty(), "{plan:?}");
    }

    #[test]
    fn flag_changes_travel_both_ways_and_merge() {
        // Local marked it seen; remote flagged it and removed answered.
        let local = [message(1, &[Seen, Answered])];
        let remote = [message(5, &[Flagged])];
        let plan = plan_folder(&local, &remote, &[pair(1, 5, &[Answered])], &everything());
        assert_eq!(
            plan.flags_on_local,
            vec![FlagChange {
                uid: 1,
                add: Flags::from_system(&[Flagged]),
                remove: Flags::from_system(&[Answered]),
            }]
        );
        assert_eq!(
            plan.flags_on_remote,
            vec![FlagChange {
                uid: 5,
                add: Flags::from_system(&[Seen]),
                remove: Flags::new(),
            }]
        );
        assert_eq!(plan.new_pair_flags, vec![pair(1, 5, &[Seen, Flagged])]);
    }

    #[test]
    fn the_same_change_on_both_sides_only_updates_the_state() {
        let local = [message(1, &[Seen])];
        let remote = [message(5, &[Seen])];
        let plan = plan_folder(&local, &remote, &[pair(1, 5, &[])], &everything());
        assert!(plan.flags_on_local.is_empty() && plan.flags_on_remote.is_empty());
        assert_eq!(plan.new_pair_flags, vec![pair(1, 5, &[Seen])]);
    }

    #[test]
    fn deletions_travel_both_ways_and_win_over_flag_changes() {
        let local = [message(1, &[Flagged])];
        let remote = [message(6, &[])];
        let pairs = [pair(1, 5, &[]), pair(2, 6, &[]), pair(3, 7, &[])];
        let plan = plan_folder(&local, &remote, &pairs, &everything());
        assert_eq!(plan.delete_on_local, vec![(1, 5)]);
        assert_eq!(plan.delete_on_remote, vec![(6, 6)]);
        assert_eq!(plan.forget_pairs, vec![7]);
        assert!(plan.flags_on_remote.is_empty());
        assert!(plan.copy_to_local.is_empty() && plan.copy_to_remote.is_empty());
    }

    #[test]
    fn a_read_only_side_is_never_changed_and_nothing_is_recorded_for_it() {
        let local = [message(1, &[Seen]), message(2, &[])];
        let remote = [message(5, &[]), message(8, &[])];
        let pairs = [pair(1, 5, &[]), pair(3, 7, &[])];
        let plan =
            plan_folder(&local, &remote, &pairs, &everything()).without_changes_to(Side::Remote);
        assert!(plan.flags_on_remote.is_empty() && plan.delete_on_remote.is_empty());
        assert!(plan.copy_to_remote.is_empty());
        assert!(
            plan.new_pair_flags.is_empty(),
            "the seen flag was not synced: keep the old base"
        );
        assert_eq!(plan.copy_to_local, vec![8]);
        assert_eq!(plan.forget_pairs, vec![7]);
    }

    #[test]
    fn flags_one_side_cannot_store_are_left_alone() {
        let mut with_keyword = Flags::from_system(&[Seen]);
        with_keyword.insert_keyword("$Junk");
        let local = [message(1, &[Seen])];
        let remote = [MessageInfo {
            flags: with_keyword,
            ..message(5, &[])
        }];
        let local_can_store = PermanentFlags {
            flags: Flags::all_system(),
            any_keyword: false,
        };
        let common = CommonFlags::new(local_can_store, PermanentFlags::everything());
        let plan = plan_folder(&local, &remote, &[pair(1, 5, &[Seen])], &common);
        assert!(plan.is_empty(), "{plan:?}");
    }
}
