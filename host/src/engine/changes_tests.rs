//! Engine tests of the incremental listing (`changes.rs`) on memory repositories keeping
//! MODSEQs as QRESYNC and CONDSTORE servers do: the tier is used where it can be, falls
//! back where it cannot, and every scenario ends exactly as with full listings.

use backend_api::{Flags, Repository, SystemFlag, Uid};
use backend_kit::memory::{ChangeTracking, MemoryRepository};

use super::recording::{Call, Recording};
use super::tests::{assert_in_sync, contents, message, seen};
use super::*;
use crate::side::PerSide;
use crate::state::SyncState;

/// A memory repository that counts its folders' full listings and change queries.
struct Counting(Recording);

impl Counting {
    fn new(tracking: ChangeTracking) -> Self {
        Counting(Recording::new(
            MemoryRepository::new().with_change_tracking(tracking),
        ))
    }

    /// (full listings, changes asked) since the last call.
    fn take(&self) -> (usize, usize) {
        let calls = self.0.take();
        let count = |wanted: Call| calls.iter().filter(|call| **call == wanted).count();
        (count(Call::List), count(Call::Changes))
    }
}

impl std::ops::Deref for Counting {
    type Target = Recording;
    fn deref(&self) -> &Recording {
        &self.0
    }
}

fn sync_counted(
    local: &Counting,
    remote: &Counting,
    state: &SyncState,
    options: SyncOptions,
) -> AccountReport {
    let account = Account {
        name: "test",
        repositories: PerSide::new(&local.0 as &dyn Repository, &remote.0 as &dyn Repository),
        repository_names: PerSide::new("TestLocal", "TestRemote"),
        state,
        options,
    };
    let report = sync_account(&account, &NoObserver);
    assert!(!report.failed(), "{report:?}");
    report
}

fn sync(local: &Counting, remote: &Counting, state: &SyncState) -> AccountReport {
    sync_counted(local, remote, state, SyncOptions::default())
}

fn uids(repository: &MemoryRepository) -> Vec<Uid> {
    repository
        .messages("INBOX")
        .into_iter()
        .map(|(uid, _)| uid)
        .collect()
}

fn flagged() -> Flags {
    Flags::from_system(&[SystemFlag::Flagged])
}

/// Two repositories with `tracking`, five messages synced between them.
fn synced_pair(tracking: PerSide<ChangeTracking>) -> (Counting, Counting, SyncState) {
    let local = Counting::new(tracking[Side::Local]);
    let remote = Counting::new(tracking[Side::Remote]);
    for n in 0..5 {
        remote.inner.deliver("INBOX", &message(n), Flags::new());
    }
    let state = SyncState::in_memory().unwrap();
    sync(&local, &remote, &state);
    local.take();
    remote.take();
    (local, remote, state)
}

#[test]
fn a_no_change_resync_lists_nothing_in_full() {
    for tracking in [ChangeTracking::Changed, ChangeTracking::ChangedAndVanished] {
        let (local, remote, state) = synced_pair(PerSide::new(tracking, tracking));
        // The first sync's own copies changed the local side: the second run sees them
        // among the changes, and records the MODSEQs again.
        let report = sync(&local, &remote, &state);
        assert!(!report.changed_anything(), "{report:?}");
        assert_eq!(
            (local.take(), remote.take()),
            ((0, 1), (0, 1)),
            "{tracking:?}"
        );
        let record = state.folder(&FolderPath::inbox()).unwrap().unwrap();
        assert!(
            record.highest_modseq.iter().all(Option::is_some),
            "{record:?}"
        );

        let report = sync(&local, &remote, &state);
        assert!(!report.changed_anything(), "{report:?}");
        assert_eq!((local.take(), remote.take()), ((0, 1), (0, 1)));
    }
}

#[test]
fn without_modseqs_every_resync_lists_in_full() {
    let (local, remote, state) =
        synced_pair(PerSide::new(ChangeTracking::None, ChangeTracking::None));
    sync(&local, &remote, &state);
    assert_eq!((local.take(), remote.take()), ((1, 0), (1, 0)));
    let record = state.folder(&FolderPath::inbox()).unwrap().unwrap();
    assert_eq!(record.highest_modseq, PerSide::new(None, None));
}

/// Changes on both sides: flags, new mail, expunges, including a flag change on one side
/// and an expunge of the same message on the other.
fn change_both_sides(local: &MemoryRepository, remote: &MemoryRepository) {
    let (l, r) = (uids(local), uids(remote));
    remote.set_flags("INBOX", r[0], seen());
    local.set_flags("INBOX", l[1], flagged());
    remote.expunge("INBOX", r[2]);
    local.expunge("INBOX", l[3]);
    local.set_flags("INBOX", l[4], seen());
    remote.expunge("INBOX", r[4]);
    remote.deliver("INBOX", &message(10), flagged());
    local.deliver("INBOX", &message(11), Flags::new());
}

#[test]
fn every_tier_ends_as_full_listings_do() {
    let tiers = [
        ChangeTracking::None,
        ChangeTracking::Changed,
        ChangeTracking::ChangedAndVanished,
    ];
    let mut ends = Vec::new();
    for local_tier in tiers {
        for remote_tier in tiers {
            let (local, remote, state) = synced_pair(PerSide::new(local_tier, remote_tier));
            sync(&local, &remote, &state); // records the MODSEQs after the first copies
            change_both_sides(&local.inner, &remote.inner);
            let report = sync(&local, &remote, &state);
            assert_in_sync(&local.inner, &remote.inner);
            let inbox = &report.folders[0];
            ends.push((
                (local_tier, remote_tier),
                contents(&local.inner),
                inbox.copied_to,
                inbox.flags_on,
                inbox.deleted_on,
            ));
            assert!(!sync(&local, &remote, &state).changed_anything());
        }
    }
    let (_, first_contents, copied, flags, deleted) = &ends[0];
    for (tiers, contents, c, f, d) in &ends[1..] {
        assert_eq!(
            (contents, c, f, d),
            (first_contents, copied, flags, deleted),
            "{tiers:?} ends as full listings do"
        );
    }
}

#[test]
fn a_vanished_message_is_deleted_on_the_other_side_without_a_full_listing() {
    let tracking = ChangeTracking::ChangedAndVanished;
    let (local, remote, state) = synced_pair(PerSide::new(tracking, tracking));
    sync(&local, &remote, &state);
    local.take();
    remote.take();
    let gone = uids(&remote.inner)[1];
    remote.inner.expunge("INBOX", gone);
    let report = sync(&local, &remote, &state);
    assert_eq!(report.folders[0].deleted_on, PerSide::new(1, 0));
    assert_eq!(local.inner.messages("INBOX").len(), 4);
    assert_eq!((local.take(), remote.take()), ((0, 1), (0, 1)));
}

#[test]
fn an_expunge_a_condstore_side_cannot_name_is_found_by_a_full_listing() {
    let tracking = ChangeTracking::Changed;
    let (local, remote, state) = synced_pair(PerSide::new(tracking, tracking));
    sync(&local, &remote, &state);
    local.take();
    remote.take();
    remote.inner.expunge("INBOX", uids(&remote.inner)[1]);
    let report = sync(&local, &remote, &state);
    assert_eq!(report.folders[0].deleted_on, PerSide::new(1, 0));
    assert_eq!((local.take(), remote.take()), ((0, 1), (1, 1)));
    assert_in_sync(&local.inner, &remote.inner);
}

#[test]
fn a_lowered_highestmodseq_falls_back_and_is_forgotten() {
    let tracking = ChangeTracking::ChangedAndVanished;
    let (local, remote, state) = synced_pair(PerSide::new(tracking, tracking));
    sync(&local, &remote, &state);
    local.take();
    remote.take();
    let recorded = state.folder(&FolderPath::inbox()).unwrap().unwrap();
    let before = recorded.highest_modseq[Side::Remote].unwrap();

    // The server restored from a backup: MODSEQs start over, and a flag change made
    // since has a MODSEQ below the recorded one.
    remote.inner.lose_modseqs("INBOX");
    remote
        .inner
        .set_flags("INBOX", uids(&remote.inner)[0], flagged());
    let report = sync(&local, &remote, &state);
    assert_eq!(
        report.folders[0].flags_on,
        PerSide::new(1, 0),
        "the change is not skipped"
    );
    assert_in_sync(&local.inner, &remote.inner);
    assert_eq!(
        remote.take(),
        (1, 0),
        "listed in full, not asked for changes"
    );
    let after = state.folder(&FolderPath::inbox()).unwrap().unwrap();
    assert!(after.highest_modseq[Side::Remote].is_some_and(|m| m < before));

    // NOMODSEQ: the same, and nothing is recorded for that side.
    remote.inner.set_change_tracking(ChangeTracking::None);
    remote
        .inner
        .set_flags("INBOX", uids(&remote.inner)[1], seen());
    let report = sync(&local, &remote, &state);
    assert_eq!(report.folders[0].flags_on, PerSide::new(1, 0));
    assert_eq!(remote.take(), (1, 0));
    let after = state.folder(&FolderPath::inbox()).unwrap().unwrap();
    assert_eq!(after.highest_modseq[Side::Remote], None);
}

#[test]
fn a_lost_modseq_history_is_forgotten_even_if_the_run_then_fails() {
    let tracking = ChangeTracking::ChangedAndVanished;
    let (local, remote, state) = synced_pair(PerSide::new(tracking, tracking));
    sync(&local, &remote, &state);
    remote.inner.lose_modseqs("INBOX");
    remote
        .inner
        .set_flags("INBOX", uids(&remote.inner)[0], flagged());
    // The run stops at its first write; by then the recorded MODSEQ must be gone, or the
    // server's new sequence passing it would hide the change above for good.
    local.inner.inject_fault(backend_kit::memory::Fault {
        after_writes: 0,
        effect_applied: false,
    });
    let account = Account {
        name: "test",
        repositories: PerSide::new(&local.0 as &dyn Repository, &remote.0 as &dyn Repository),
        repository_names: PerSide::new("TestLocal", "TestRemote"),
        state: &state,
        options: SyncOptions::default(),
    };
    assert!(sync_account(&account, &NoObserver).failed());
    let record = state.folder(&FolderPath::inbox()).unwrap().unwrap();
    assert_eq!(record.highest_modseq[Side::Remote], None);
    local.inner.clear_fault();
    for n in 0..20 {
        remote
            .inner
            .deliver("Other", &message(100 + n), Flags::new());
    }
    sync(&local, &remote, &state);
    assert_in_sync(&local.inner, &remote.inner);
}

#[test]
fn a_message_left_unpaired_keeps_the_sides_modseq_where_it_was() {
    let tracking = ChangeTracking::ChangedAndVanished;
    let (local, remote, state) = synced_pair(PerSide::new(tracking, tracking));
    let first = state.folder(&FolderPath::inbox()).unwrap().unwrap();
    // A message marked \Deleted is not copied, so the state does not know it: the local
    // MODSEQ must not pass it, or the next runs would lose sight of it.
    local.inner.deliver(
        "INBOX",
        &message(20),
        Flags::from_system(&[SystemFlag::Deleted]),
    );
    for _ in 0..2 {
        let report = sync(&local, &remote, &state);
        assert!(!report.changed_anything(), "{report:?}");
        let record = state.folder(&FolderPath::inbox()).unwrap().unwrap();
        assert_eq!(
            record.highest_modseq[Side::Local],
            first.highest_modseq[Side::Local]
        );
        assert_eq!((local.take(), remote.take()), ((0, 1), (0, 1)));
    }
    // Undeleted, it is copied at last, and the local MODSEQ moves on.
    let uid = *uids(&local.inner).last().unwrap();
    local.inner.set_flags("INBOX", uid, Flags::new());
    let report = sync(&local, &remote, &state);
    assert_eq!(report.folders[0].copied_to, PerSide::new(0, 1));
    let record = state.folder(&FolderPath::inbox()).unwrap().unwrap();
    assert!(record.highest_modseq[Side::Local] > first.highest_modseq[Side::Local]);
    assert_in_sync(&local.inner, &remote.inner);
}

#[test]
fn a_read_only_side_holding_back_a_change_records_no_modseq() {
    let tracking = ChangeTracking::ChangedAndVanished;
    let (local, remote, state) = synced_pair(PerSide::new(tracking, tracking));
    sync(&local, &remote, &state);
    let before = state.folder(&FolderPath::inbox()).unwrap().unwrap();
    local
        .inner
        .set_flags("INBOX", uids(&local.inner)[0], seen());
    let options = SyncOptions {
        read_only: PerSide::new(false, true),
        ..SyncOptions::default()
    };
    sync_counted(&local, &remote, &state, options.clone());
    let after = state.folder(&FolderPath::inbox()).unwrap().unwrap();
    assert_eq!(after.highest_modseq, before.highest_modseq);
    // Writable again, the held-back change still travels.
    let report = sync(&local, &remote, &state);
    assert_eq!(report.folders[0].flags_on, PerSide::new(0, 1));
    assert_in_sync(&local.inner, &remote.inner);
}
