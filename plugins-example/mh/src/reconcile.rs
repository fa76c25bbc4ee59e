//! Deciding, at each listing, what every message number on disk now stands for.
//!
//! The last listing's fingerprints (see `state`) are compared with the files found. Each
//! file is one of:
//!
//! - **the same message** under a known number: its `stat` is unchanged, or its identity
//!   is (`anno` rewrote it in place; the fingerprint is refreshed);
//! - **new**, at a number above the highest ever used: its number becomes its UID;
//! - **at a used number**: a known number whose file is now another message, or an
//!   unknown number at or below the highest ever used (`rmm` freed the top number and
//!   `inc` took it again). Its number cannot be its UID, as the UID was used before, so
//!   the message is renumbered above the highest (the old UID reads as deleted);
//! - **moved**: a file whose identity is that of another known number that vanished or
//!   changed. Messages were renumbered (`folder -pack`, `sortm`): numbers no longer name
//!   what they named, the folder gets a new UIDVALIDITY and every file keeps its number.
//!
//! This module only decides; the folder carries the decision out (or, in a dry run,
//! reports it without touching anything).

use std::collections::{BTreeMap, HashMap, HashSet};

use backend_api::Uid;

use crate::identity::Identity;
use crate::state::{Fingerprint, FolderState, Stamp};

/// A message file found by a scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FoundFile {
    pub number: Uid,
    pub stamp: Stamp,
}

/// What reading a file for its identity gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IdentityRead {
    Read(Identity),
    /// Removed since the directory was listed: as if never found.
    Vanished,
    /// It cannot be read (permissions, say); the caller has said why in the log.
    Unreadable,
}

/// The decision for one scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Messages were renumbered: the folder needs a new UIDVALIDITY, and `keep` holds
    /// every file under its number (`renumber` is empty).
    pub repacked: bool,
    /// Files whose number is their UID, with their current fingerprints.
    pub keep: BTreeMap<Uid, Fingerprint>,
    /// Files at a number already used by another message, ascending: each needs a new
    /// number above `highest`.
    pub renumber: Vec<(Uid, Fingerprint)>,
    /// The highest number ever used, files found included (renumbering not included).
    pub highest: Uid,
}

/// Decides what the files `found` are, given the state of the last listing (`None` for a
/// folder new to twinbox: every number is then its UID). `identify` reads a file's
/// identity and is called only when needed: for files not known, or whose `stat`
/// changed.
pub(crate) fn reconcile(
    stored: Option<&FolderState>,
    found: &[FoundFile],
    identify: &mut dyn FnMut(Uid) -> IdentityRead,
) -> Plan {
    let highest_found = found.iter().map(|f| f.number).max().unwrap_or(0);
    let empty = BTreeMap::new();
    let (known, highest_used) = match stored {
        Some(state) => (&state.known, state.highest),
        None => (&empty, 0),
    };
    let mut keep = BTreeMap::new();
    // Files that are not the message their number names (changed, or at a used number).
    let mut suspects: Vec<(Uid, Fingerprint)> = Vec::new();
    // Known numbers whose message left them (changed or vanished): where a moved message
    // could have come from, by identity.
    let mut left: HashMap<Identity, Vec<Uid>> = HashMap::new();
    let mut seen: HashSet<Uid> = HashSet::new();

    for file in found {
        let number = file.number;
        seen.insert(number);
        match known.get(&number) {
            Some(old) if old.stamp == file.stamp => {
                keep.insert(number, *old);
            }
            Some(old) => match identify(number) {
                IdentityRead::Read(identity) if identity == old.identity => {
                    keep.insert(
                        number,
                        Fingerprint {
                            stamp: file.stamp,
                            identity,
                        },
                    );
                }
                IdentityRead::Read(identity) => {
                    left.entry(old.identity).or_default().push(number);
                    suspects.push((
                        number,
                        Fingerprint {
                            stamp: file.stamp,
                            identity,
                        },
                    ));
                }
                IdentityRead::Vanished => {
                    seen.remove(&number);
                }
                // Cannot tell: assume it is still the message it was, so nothing is
                // taken for deleted or new.
                IdentityRead::Unreadable => {
                    keep.insert(number, *old);
                }
            },
            None => match identify(number) {
                IdentityRead::Read(identity) => {
                    let fingerprint = Fingerprint {
                        stamp: file.stamp,
                        identity,
                    };
                    if number > highest_used {
                        keep.insert(number, fingerprint);
                    } else {
                        suspects.push((number, fingerprint));
                    }
                }
                // Not listed until it can be read: it has no UID yet, so nothing is lost.
                IdentityRead::Vanished | IdentityRead::Unreadable => {
                    seen.remove(&number);
                }
            },
        }
    }
    for (number, old) in known {
        if !seen.contains(number) {
            left.entry(old.identity).or_default().push(*number);
        }
    }

    let moved = suspects.iter().any(|(number, fingerprint)| {
        left.get(&fingerprint.identity)
            .is_some_and(|from| from.iter().any(|n| n != number))
    });
    let highest = highest_used.max(highest_found);
    if moved {
        let mut keep = keep;
        keep.extend(suspects);
        return Plan {
            repacked: true,
            keep,
            renumber: Vec::new(),
            highest: highest_found,
        };
    }
    suspects.sort_by_key(|(number, _)| *number);
    Plan {
        repacked: false,
        keep,
        renumber: suspects,
        highest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(inode: u64) -> Stamp {
        Stamp {
            inode,
            size: 100 + inode,
            mtime: 1_700_000_000,
            mtime_nsec: 0,
        }
    }

    fn id(tag: u8) -> Identity {
        [tag; 16]
    }

    /// A folder state: (number, inode = identity tag).
    fn state(highest: Uid, messages: &[(Uid, u8)]) -> FolderState {
        FolderState {
            uid_validity: 1,
            highest,
            known: messages
                .iter()
                .map(|&(number, tag)| {
                    (
                        number,
                        Fingerprint {
                            stamp: stamp(u64::from(tag)),
                            identity: id(tag),
                        },
                    )
                })
                .collect(),
        }
    }

    /// Files on disk: (number, inode, identity tag).
    fn run(stored: Option<&FolderState>, files: &[(Uid, u64, u8)]) -> (Plan, Vec<Uid>) {
        let found: Vec<FoundFile> = files
            .iter()
            .map(|&(number, inode, _)| FoundFile {
                number,
                stamp: stamp(inode),
            })
            .collect();
        let mut read = Vec::new();
        let plan = reconcile(stored, &found, &mut |number| {
            read.push(number);
            match files.iter().find(|f| f.0 == number) {
                Some(&(_, _, tag)) => IdentityRead::Read(id(tag)),
                None => IdentityRead::Vanished,
            }
        });
        (plan, read)
    }

    fn keys(plan: &Plan) -> Vec<Uid> {
        plan.keep.keys().copied().collect()
    }

    #[test]
    fn a_new_folder_keeps_every_number() {
        let (plan, read) = run(None, &[(1, 1, 1), (5, 5, 5)]);
        assert!(!plan.repacked);
        assert_eq!(keys(&plan), vec![1, 5]);
        assert_eq!(plan.highest, 5);
        assert_eq!(read, vec![1, 5]);
    }

    #[test]
    fn unchanged_files_are_not_read_and_deletions_are_just_deletions() {
        let stored = state(9, &[(1, 1), (2, 2), (9, 9)]);
        let (plan, read) = run(Some(&stored), &[(1, 1, 1), (2, 2, 2)]);
        assert!(!plan.repacked && plan.renumber.is_empty());
        assert_eq!(keys(&plan), vec![1, 2]);
        assert_eq!(plan.highest, 9, "the highest number used stays");
        assert!(read.is_empty());
    }

    #[test]
    fn an_annotated_message_keeps_its_number() {
        let stored = state(2, &[(1, 1), (2, 2)]);
        // Message 2 rewritten (new inode) with the same identity.
        let (plan, read) = run(Some(&stored), &[(1, 1, 1), (2, 20, 2)]);
        assert!(!plan.repacked && plan.renumber.is_empty());
        assert_eq!(plan.keep[&2].stamp, stamp(20));
        assert_eq!(read, vec![2]);
    }

    #[test]
    fn new_messages_above_the_highest_keep_their_numbers() {
        let stored = state(3, &[(1, 1), (3, 3)]);
        let (plan, _) = run(Some(&stored), &[(1, 1, 1), (3, 3, 3), (4, 4, 4)]);
        assert_eq!(keys(&plan), vec![1, 3, 4]);
        assert_eq!(plan.highest, 4);
    }

    #[test]
    fn a_reused_number_is_renumbered() {
        // 3 was deleted (rmm) and inc put a new message at 3 again, and at 2 (never
        // known to us but at or below the highest used).
        let stored = state(3, &[(1, 1)]);
        let (plan, _) = run(Some(&stored), &[(1, 1, 1), (2, 7, 7), (3, 8, 8)]);
        assert!(!plan.repacked);
        assert_eq!(keys(&plan), vec![1]);
        assert_eq!(
            plan.renumber.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(plan.highest, 3);

        // A known number whose file is now another message: the same.
        let stored = state(3, &[(1, 1), (3, 3)]);
        let (plan, _) = run(Some(&stored), &[(1, 1, 1), (3, 30, 8)]);
        assert!(!plan.repacked);
        assert_eq!(plan.renumber.len(), 1);
        assert_eq!(plan.renumber[0].0, 3);
    }

    #[test]
    fn folder_pack_and_sortm_are_detected() {
        // folder -pack: 1 3 5 -> 1 2 3.
        let stored = state(5, &[(1, 1), (3, 3), (5, 5)]);
        let (plan, _) = run(Some(&stored), &[(1, 1, 1), (2, 3, 3), (3, 5, 5)]);
        assert!(plan.repacked);
        assert_eq!(keys(&plan), vec![1, 2, 3]);
        assert!(plan.renumber.is_empty());
        assert_eq!(plan.highest, 3);

        // Only into gaps we never knew: 1 2 5 -> 1 2 3.
        let stored = state(5, &[(1, 1), (2, 2), (5, 5)]);
        let (plan, _) = run(Some(&stored), &[(1, 1, 1), (2, 2, 2), (3, 5, 5)]);
        assert!(plan.repacked);

        // sortm swapping two messages.
        let stored = state(2, &[(1, 1), (2, 2)]);
        let (plan, _) = run(Some(&stored), &[(1, 2, 2), (2, 1, 1)]);
        assert!(plan.repacked);
    }

    #[test]
    fn a_duplicate_of_a_message_that_stayed_is_not_a_move() {
        // 2 (identity 2) deleted, and a copy of message 1 (identity 1) arrives at 2.
        let stored = state(2, &[(1, 1), (2, 2)]);
        let (plan, _) = run(Some(&stored), &[(1, 1, 1), (2, 21, 1)]);
        assert!(!plan.repacked);
        assert_eq!(plan.renumber.len(), 1);
    }

    #[test]
    fn unreadable_files_change_nothing() {
        let stored = state(2, &[(1, 1)]);
        let found = [
            FoundFile {
                number: 1,
                stamp: stamp(10),
            },
            FoundFile {
                number: 3,
                stamp: stamp(3),
            },
        ];
        let plan = reconcile(Some(&stored), &found, &mut |_| IdentityRead::Unreadable);
        assert!(!plan.repacked);
        assert_eq!(
            keys(&plan),
            vec![1],
            "a known one stays, an unknown one waits"
        );
        assert_eq!(plan.keep[&1], stored.known[&1]);
    }
}
