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

use crate::side::{PerSide, Side};
use crate::state::{Pair, PairKey};

/// A flag change to make on one side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagChange {
    pub uid: Uid,
    pub add: Flags,
    pub remove: Flags,
}

/// A message to delete on one side because its twin is gone from the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deletion {
    /// The message to delete, on the side whose deletions hold it.
    pub uid: Uid,
    /// The pair to remove from the state once the deletion is durable.
    pub pair: PairKey,
}

/// Everything to do for one folder pair, per side.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FolderPlan {
    /// Per destination side: the UIDs on the other side to copy there.
    pub copies: PerSide<Vec<Uid>>,
    /// Per side: the flag changes to make there.
    pub flag_changes: PerSide<Vec<FlagChange>>,
    /// The pairs whose merged flags differ from the recorded ones, with the merged flags
    /// (recorded after the flag changes are durable).
    pub updated_pairs: Vec<Pair>,
    /// Per side: the messages to delete there (their twin is gone from the other side).
    pub deletions: PerSide<Vec<Deletion>>,
    /// Pairs gone from both sides: forget them.
    pub forget_pairs: Vec<PairKey>,
}

impl FolderPlan {
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
        let blocked: HashSet<Uid> = self.flag_changes[side].iter().map(|c| c.uid).collect();
        self.copies[side].clear();
        self.flag_changes[side].clear();
        self.deletions[side].clear();
        self.updated_pairs
            .retain(|pair| !blocked.contains(&pair.uids[side]));
        self
    }

    /// The plan without deletions on `side`, for messages deleted on the other side whose
    /// repository has `sync_deletes = no`: the pairs stay recorded, so the twin is kept
    /// and never copied back.
    pub fn without_deletions_on(mut self, side: Side) -> FolderPlan {
        self.deletions[side].clear();
        self
    }

    /// Merges the flags of a pair present on both sides, planning the changes each side
    /// needs and the pair's new record.
    fn merge(&mut self, pair: &Pair, messages: PerSide<&MessageInfo>, common: &CommonFlags) {
        let base = common.restrict(&pair.flags);
        let current = messages.map(|message| common.restrict(&message.flags));
        let merged = merge_flags(&base, current.as_ref());
        for side in Side::BOTH {
            if merged != current[side] {
                self.flag_changes[side].push(FlagChange {
                    uid: pair.uids[side],
                    add: merged.difference(&current[side]),
                    remove: current[side].difference(&merged),
                });
            }
        }
        if merged != pair.flags {
            self.updated_pairs.push(Pair {
                flags: merged,
                ..pair.clone()
            });
        }
    }
}

/// The flags that both sides can store: the only ones the engine compares and changes.
#[derive(Clone, Debug)]
pub struct CommonFlags {
    storable: PerSide<PermanentFlags>,
}

impl CommonFlags {
    pub fn new(storable: PerSide<PermanentFlags>) -> Self {
        CommonFlags { storable }
    }

    pub fn restrict(&self, flags: &Flags) -> Flags {
        self.storable
            .iter()
            .fold(flags.clone(), |flags, side| side.storable(&flags))
    }
}

/// Computes the plan for one folder pair from each side's current listing and `pairs`,
/// the last synced state.
pub fn plan_folder(
    listings: PerSide<&[MessageInfo]>,
    pairs: &[Pair],
    common: &CommonFlags,
) -> FolderPlan {
    let by_uid: PerSide<HashMap<Uid, &MessageInfo>> =
        listings.map(|listing| listing.iter().map(|m| (m.uid, m)).collect());
    let mut paired: PerSide<HashSet<Uid>> =
        PerSide::from_fn(|_| HashSet::with_capacity(pairs.len()));
    let mut plan = FolderPlan::default();

    for pair in pairs {
        for side in Side::BOTH {
            paired[side].insert(pair.uids[side]);
        }
        let listed = PerSide::from_fn(|side| by_uid[side].get(&pair.uids[side]).copied());
        if let Some(messages) = listed.transpose() {
            plan.merge(pair, messages, common);
        } else if let Some(side) = Side::BOTH.into_iter().find(|&side| listed[side].is_some()) {
            // Gone from the other side only: deleted there, so deleted here.
            plan.deletions[side].push(Deletion {
                uid: pair.uids[side],
                pair: pair.key(),
            });
        } else {
            plan.forget_pairs.push(pair.key());
        }
    }

    let is_new = |message: &&MessageInfo, paired: &HashSet<Uid>| {
        !paired.contains(&message.uid) && !message.flags.contains(SystemFlag::Deleted)
    };
    for destination in Side::BOTH {
        let source = destination.other();
        plan.copies[destination] = listings[source]
            .iter()
            .filter(|m| is_new(m, &paired[source]))
            .map(|m| m.uid)
            .collect();
    }
    plan
}

/// The three-way merge of flag sets: each side's additions and removals against `base`,
/// all applied.
pub fn merge_flags(base: &Flags, sides: PerSide<&Flags>) -> Flags {
    let mut added = Flags::new();
    let mut removed = Flags::new();
    for flags in sides.iter() {
        added = added.union(&flags.difference(base));
        removed = removed.union(&base.difference(flags));
    }
    base.union(&added).difference(&removed)
}

#[cfg(test)]
mod tests {
    use super::*;
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
        CommonFlags::new(PerSide::from_fn(|_| PermanentFlags::everything()))
    }

    fn plan(
        local: &[MessageInfo],
        remote: &[MessageInfo],
        pairs: &[Pair],
        common: &CommonFlags,
    ) -> FolderPlan {
        plan_folder(PerSide::new(local, remote), pairs, common)
    }

    #[test]
    fn new_messages_are_copied_both_ways_except_deleted_ones() {
        let local = [message(1, &[]), message(2, &[Deleted])];
        let remote = [message(7, &[Seen])];
        let plan = plan(&local, &remote, &[], &everything());
        assert_eq!(plan.copies[Side::Remote], vec![1]);
        assert_eq!(plan.copies[Side::Local], vec![7]);
    }

    #[test]
    fn unchanged_pairs_plan_nothing() {
        let local = [message(1, &[Seen])];
        let remote = [message(5, &[Seen])];
        let plan = plan(&local, &remote, &[pair(1, 5, &[Seen])], &everything());
        assert!(plan.is_empty(), "{plan:?}");
    }

    #[test]
    fn flag_changes_travel_both_ways_and_merge() {
        // Local marked it seen; remote flagged it and removed answered.
        let local = [message(1, &[Seen, Answered])];
        let remote = [message(5, &[Flagged])];
        let plan = plan(&local, &remote, &[pair(1, 5, &[Answered])], &everything());
        assert_eq!(
            plan.flag_changes[Side::Local],
            vec![FlagChange {
                uid: 1,
                add: Flags::from_system(&[Flagged]),
                remove: Flags::from_system(&[Answered]),
            }]
        );
        assert_eq!(
            plan.flag_changes[Side::Remote],
            vec![FlagChange {
                uid: 5,
                add: Flags::from_system(&[Seen]),
                remove: Flags::new(),
            }]
        );
        assert_eq!(plan.updated_pairs, vec![pair(1, 5, &[Seen, Flagged])]);
    }

    #[test]
    fn the_same_change_on_both_sides_only_updates_the_state() {
        let local = [message(1, &[Seen])];
        let remote = [message(5, &[Seen])];
        let plan = plan(&local, &remote, &[pair(1, 5, &[])], &everything());
        assert!(
            plan.flag_changes[Side::Local].is_empty() && plan.flag_changes[Side::Remote].is_empty()
        );
        assert_eq!(plan.updated_pairs, vec![pair(1, 5, &[Seen])]);
    }

    #[test]
    fn deletions_travel_both_ways_and_win_over_flag_changes() {
        let local = [message(1, &[Flagged])];
        let remote = [message(6, &[])];
        let pairs = [pair(1, 5, &[]), pair(2, 6, &[]), pair(3, 7, &[])];
        let plan = plan(&local, &remote, &pairs, &everything());
        assert_eq!(
            plan.deletions[Side::Local],
            vec![Deletion {
                uid: 1,
                pair: pairs[0].key()
            }]
        );
        assert_eq!(
            plan.deletions[Side::Remote],
            vec![Deletion {
                uid: 6,
                pair: pairs[1].key()
            }]
        );
        assert_eq!(plan.forget_pairs, vec![pairs[2].key()]);
        assert!(plan.flag_changes[Side::Remote].is_empty());
        assert!(plan.copies[Side::Local].is_empty() && plan.copies[Side::Remote].is_empty());
    }

    #[test]
    fn a_read_only_side_is_never_changed_and_nothing_is_recorded_for_it() {
        let local = [message(1, &[Seen]), message(2, &[])];
        let remote = [message(5, &[]), message(8, &[])];
        let pairs = [pair(1, 5, &[]), pair(3, 7, &[])];
        let plan = plan(&local, &remote, &pairs, &everything()).without_changes_to(Side::Remote);
        assert!(
            plan.flag_changes[Side::Remote].is_empty() && plan.deletions[Side::Remote].is_empty()
        );
        assert!(plan.copies[Side::Remote].is_empty());
        assert!(
            plan.updated_pairs.is_empty(),
            "the seen flag was not synced: keep the old base"
        );
        assert_eq!(plan.copies[Side::Local], vec![8]);
        assert_eq!(plan.forget_pairs, vec![pairs[1].key()]);
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
        let common = CommonFlags::new(PerSide::new(local_can_store, PermanentFlags::everything()));
        let plan = plan(&local, &remote, &[pair(1, 5, &[Seen])], &common);
        assert!(plan.is_empty(), "{plan:?}");
    }
}
