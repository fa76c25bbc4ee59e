//! Engine tests of the safety rules (issue 8): mail already on both sides is paired by
//! content and never copied twice, mass deletions wait for a confirmation, a store that
//! gives out UIDs again is refused, and `repair` re-pairs without copying. Each scenario
//! that writes is also interrupted after every write and resumed, as in `tests.rs`.

use backend_api::{Flags, FolderPath, LineEnding, SystemFlag};
use backend_kit::memory::MemoryRepository;

use super::tests::{
    assert_in_sync, assert_interrupted_anywhere_converges, contents, message, repair, seen, sync,
    sync_with,
};
use super::*;
use crate::side::PerSide;
use crate::state::SyncState;

fn flagged() -> Flags {
    Flags::from_system(&[SystemFlag::Flagged])
}

fn crlf(bytes: &[u8]) -> Vec<u8> {
    backend_kit::line_endings::lf_to_crlf(bytes)
}

/// An IMAP-like remote (CRLF) and an LF local side holding the same three messages, as
/// after a sync whose state was lost; plus one message only on each side.
fn mail_on_both_sides_without_state() -> (MemoryRepository, MemoryRepository, SyncState) {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new().with_line_ending(LineEnding::CrLf);
    for n in 0..3 {
        local.deliver("INBOX", &message(n), seen());
        remote.deliver("INBOX", &crlf(&message(n)), Flags::new());
    }
    local.deliver("INBOX", &message(10), Flags::new());
    remote.deliver("INBOX", &crlf(&message(20)), flagged());
    (local, remote, SyncState::in_memory().unwrap())
}

#[test]
fn mail_on_both_sides_is_paired_by_content_not_copied_twice() {
    let (local, remote, state) = mail_on_both_sides_without_state();
    let report = sync(&local, &remote, &state);
    assert!(!report.failed(), "{report:?}");
    let inbox = &report.folders[0];
    assert_eq!(inbox.paired_by_content, 3, "{inbox:?}");
    assert_eq!(inbox.copied_to, PerSide::new(1, 1), "only the new ones");
    assert_eq!(local.messages("INBOX").len(), 5);
    assert_eq!(remote.messages("INBOX").len(), 5);
    assert_in_sync(&local, &remote);
    assert!(!sync(&local, &remote, &state).changed_anything());
}

#[test]
fn a_paired_message_keeps_the_flags_of_both_sides() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new();
    local.deliver("INBOX", &message(1), seen());
    let mut both = flagged();
    both.insert(SystemFlag::Answered);
    remote.deliver("INBOX", &message(1), both);
    let state = SyncState::in_memory().unwrap();
    let report = sync(&local, &remote, &state);
    assert_eq!(report.folders[0].paired_by_content, 1);
    let union = Flags::from_system(&[SystemFlag::Seen, SystemFlag::Flagged, SystemFlag::Answered]);
    assert_eq!(local.messages("INBOX")[0].1.flags, union);
    assert_eq!(remote.messages("INBOX")[0].1.flags, union);
    // The union is now the synced state: removing a flag on one side travels as usual.
    let uid = local.messages("INBOX")[0].0;
    local.set_flags("INBOX", uid, seen());
    sync(&local, &remote, &state);
    assert_eq!(remote.messages("INBOX")[0].1.flags, seen());
}

#[test]
fn duplicates_within_a_side_pair_one_to_one() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new();
    for _ in 0..3 {
        local.deliver("INBOX", &message(1), Flags::new());
    }
    for _ in 0..2 {
        remote.deliver("INBOX", &message(1), Flags::new());
    }
    let state = SyncState::in_memory().unwrap();
    let report = sync(&local, &remote, &state);
    assert_eq!(report.folders[0].paired_by_content, 2);
    assert_eq!(report.folders[0].copied_to, PerSide::new(0, 1));
    assert_eq!(remote.messages("INBOX").len(), 3);
}

#[test]
fn same_message_id_and_size_but_other_bytes_are_never_paired() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new();
    local.deliver(
        "INBOX",
        b"Message-ID: <x@y>\nSubject: aaaa\n\nbody\n",
        Flags::new(),
    );
    remote.deliver(
        "INBOX",
        b"Message-ID: <x@y>\nSubject: bbbb\n\nbody\n",
        Flags::new(),
    );
    let state = SyncState::in_memory().unwrap();
    let report = sync(&local, &remote, &state);
    let inbox = &report.folders[0];
    assert_eq!(inbox.paired_by_content, 0);
    assert_eq!(inbox.near_duplicates, 1);
    assert_eq!(
        inbox.copied_to,
        PerSide::new(1, 1),
        "both kept, on both sides"
    );
    assert_in_sync(&local, &remote);
}

#[test]
fn near_duplicates_are_paired_by_message_id_when_asked() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new();
    local.deliver(
        "INBOX",
        b"Message-ID: <x@y>\nSubject: a long\n line\n\nbody\n",
        seen(),
    );
    remote.deliver(
        "INBOX",
        b"Message-ID: <x@y>\nSubject: a long line\n\nbody\n",
        Flags::new(),
    );
    let state = SyncState::in_memory().unwrap();
    let options = SyncOptions {
        near_duplicates: NearDuplicates::PairByMessageId,
        ..SyncOptions::default()
    };
    let report = sync_with(&local, &remote, &state, options);
    let inbox = &report.folders[0];
    assert_eq!(inbox.paired_by_content, 1, "{inbox:?}");
    assert_eq!(inbox.copied_to, PerSide::new(0, 0));
    assert_eq!(remote.messages("INBOX")[0].1.flags, seen(), "flags merged");
}

#[test]
fn a_dry_run_counts_the_pairs_and_changes_nothing() {
    let (local, remote, state) = mail_on_both_sides_without_state();
    let before = (contents(&local), contents(&remote));
    let options = SyncOptions {
        dry_run: true,
        ..SyncOptions::default()
    };
    let report = sync_with(&local, &remote, &state, options);
    assert_eq!(report.folders[0].paired_by_content, 3);
    assert_eq!(report.folders[0].copied_to, PerSide::new(1, 1));
    assert_eq!((contents(&local), contents(&remote)), before);
    assert!(state.folders().unwrap().is_empty());
}

#[test]
fn pairing_by_content_interrupted_anywhere_converges() {
    assert_interrupted_anywhere_converges(
        mail_on_both_sides_without_state,
        SyncOptions::default(),
        12,
    );
}

/// A folder of `count` messages synced to both sides.
fn synced_folder(count: usize) -> (MemoryRepository, MemoryRepository, SyncState) {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new();
    for n in 0..count {
        remote.deliver("Archive", &message(n), Flags::new());
    }
    remote.deliver("INBOX", &message(1000), Flags::new());
    let state = SyncState::in_memory().unwrap();
    sync(&local, &remote, &state);
    (local, remote, state)
}

fn empty(repository: &MemoryRepository, folder: &str) {
    for (uid, _) in repository.messages(folder) {
        repository.expunge(folder, uid);
    }
}

#[test]
fn an_emptied_folder_does_not_empty_the_other_side_without_a_confirmation() {
    let (local, remote, state) = synced_folder(25);
    empty(&local, "Archive");
    remote.deliver("INBOX", &message(1001), Flags::new());
    let report = sync(&local, &remote, &state);
    assert!(report.failed());
    let archive = report
        .folders
        .iter()
        .find(|f| f.folder == Some(FolderPath::new("Archive").unwrap()))
        .unwrap();
    let error = &archive.errors[0];
    assert!(
        error.contains("deletion guard: 25 of 25 messages of folder Archive would be deleted on the remote side"),
        "{error}"
    );
    assert!(
        error.contains("twinbox sync -a test -f Archive --allow-deletions"),
        "{error}"
    );
    assert_eq!(remote.messages("Archive").len(), 25, "nothing deleted");
    assert_eq!(local.messages("INBOX").len(), 2, "other folders go on");

    // Confirmed: exactly those deletions are applied.
    let allowed = SyncOptions {
        allow_deletions: true,
        ..SyncOptions::default()
    };
    let report = sync_with(&local, &remote, &state, allowed);
    assert!(!report.failed(), "{report:?}");
    assert!(remote.messages("Archive").is_empty());
    assert!(!sync(&local, &remote, &state).changed_anything());
}

#[test]
fn a_confirmation_covers_only_the_deletions_the_guard_showed() {
    let (local, remote, state) = synced_folder(30);
    let uids: Vec<_> = local
        .messages("Archive")
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    for uid in &uids[..20] {
        local.expunge("Archive", *uid);
    }
    assert!(
        sync(&local, &remote, &state).failed(),
        "20 of 30 is over 50%"
    );
    // One more goes missing before the confirmation: the guard asks again.
    local.expunge("Archive", uids[20]);
    let allowed = SyncOptions {
        allow_deletions: true,
        ..SyncOptions::default()
    };
    let report = sync_with(&local, &remote, &state, allowed.clone());
    assert!(report.failed(), "{report:?}");
    assert!(
        report.folders[0].errors[0].contains("21 of 30"),
        "{report:?}"
    );
    assert_eq!(remote.messages("Archive").len(), 30);
    let report = sync_with(&local, &remote, &state, allowed);
    assert!(!report.failed(), "{report:?}");
    assert_eq!(remote.messages("Archive").len(), 9);
}

#[test]
fn the_guard_works_both_ways_and_can_be_turned_off() {
    // Both ways: the test once emptied only the remote side, so "both ways" was never
    // checked.
    for emptied in Side::BOTH {
        let (local, remote, state) = synced_folder(6);
        let sides = PerSide::new(&local, &remote);
        empty(sides[emptied], "Archive");
        let report = sync(&local, &remote, &state);
        assert!(report.failed(), "{emptied:?} emptied: {report:?}");
        assert_eq!(
            sides[emptied.other()].messages("Archive").len(),
            6,
            "{emptied:?} emptied: the other side keeps everything"
        );
        let off = SyncOptions {
            deletion_guard_percent: 0,
            ..SyncOptions::default()
        };
        assert!(!sync_with(&local, &remote, &state, off).failed());
        assert!(sides[emptied.other()].messages("Archive").is_empty());
    }
}

#[test]
fn small_deletions_pass_the_guard() {
    let (local, remote, state) = synced_folder(25);
    let uids: Vec<_> = local
        .messages("Archive")
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    for uid in &uids[..12] {
        local.expunge("Archive", *uid);
    }
    assert!(
        !sync(&local, &remote, &state).failed(),
        "12 of 25 is under 50%"
    );
    assert_eq!(remote.messages("Archive").len(), 13);
}

/// A Maildir-like store restored from a backup: the same folder (same UIDVALIDITY) with
/// the messages and the UID counter it had before.
fn restored(messages: &[Vec<u8>]) -> MemoryRepository {
    let local = MemoryRepository::new();
    local.add_folder("INBOX");
    for bytes in messages {
        local.deliver("INBOX", bytes, Flags::new());
    }
    local
}

#[test]
fn a_store_that_gives_out_uids_again_is_refused_then_repaired() {
    let before: Vec<Vec<u8>> = (0..2).map(message).collect();
    let local = restored(&before);
    let remote = MemoryRepository::new();
    let state = SyncState::in_memory().unwrap();
    sync(&local, &remote, &state);
    for n in 2..5 {
        local.deliver("INBOX", &message(n), Flags::new());
    }
    sync(&local, &remote, &state);
    assert_eq!(remote.messages("INBOX").len(), 5);

    // The backup taken before the three deliveries comes back, and one new message.
    let local = restored(&before);
    local.deliver("INBOX", &message(9), Flags::new());
    let report = sync(&local, &remote, &state);
    assert!(report.failed());
    let error = &report.folders[0].errors[0];
    assert!(error.contains("UIDNEXT went back from 6 to 4"), "{error}");
    assert!(error.contains("twinbox repair -a test -f INBOX"), "{error}");
    assert_eq!(remote.messages("INBOX").len(), 5, "nothing deleted");

    let report = sync_with(&local, &remote, &state, repair(Repair::Broken));
    assert!(!report.failed(), "{report:?}");
    assert_eq!(report.folders[0].paired_by_content, 2);
    assert_eq!(report.folders[0].copied_to, PerSide::new(3, 1));
    assert_eq!(local.messages("INBOX").len(), 6);
    assert_in_sync(&local, &remote);
    assert!(!sync(&local, &remote, &state).changed_anything());
}

#[test]
fn a_uid_the_state_pairs_above_the_uidnext_is_refused() {
    let before: Vec<Vec<u8>> = (0..2).map(message).collect();
    let local = restored(&before);
    let remote = MemoryRepository::new();
    let state = SyncState::in_memory().unwrap();
    for n in 2..5 {
        local.deliver("INBOX", &message(n), Flags::new());
    }
    sync(&local, &remote, &state);
    // A state written before UIDNEXTs were recorded: only the pairs tell.
    let inbox = FolderPath::inbox();
    let mut record = state.folder(&inbox).unwrap().unwrap();
    record.uid_next = PerSide::default();
    state
        .commit(&inbox, &[crate::state::StateChange::SetFolder(record)])
        .unwrap();
    let local = restored(&before);
    let report = sync(&local, &remote, &state);
    let error = &report.folders[0].errors[0];
    assert!(error.contains("UIDNEXT went back from 6 to 3"), "{error}");
}

#[test]
fn repair_interrupted_anywhere_converges() {
    let setup = || {
        let local = MemoryRepository::new();
        let remote = MemoryRepository::new().with_line_ending(LineEnding::CrLf);
        for n in 0..4 {
            remote.deliver("INBOX", &crlf(&message(n)), Flags::new());
        }
        let state = SyncState::in_memory().unwrap();
        sync(&local, &remote, &state);
        remote.renumber("INBOX");
        remote.deliver("INBOX", &crlf(&message(7)), seen());
        local.deliver("INBOX", &message(8), Flags::new());
        (local, remote, state)
    };
    let (local, remote, state) = setup();
    assert!(
        sync(&local, &remote, &state).failed(),
        "refused before repair"
    );
    let report = sync_with(&local, &remote, &state, repair(Repair::Broken));
    assert!(!report.failed(), "{report:?}");
    assert_eq!(report.folders[0].paired_by_content, 4);
    // Resumed with a plain sync: a repair that stopped half-way needs no second repair.
    assert_interrupted_anywhere_converges(setup, repair(Repair::Broken), 8);
}

#[test]
fn repair_of_named_folders_starts_them_over_even_when_they_look_fine() {
    let (local, remote, state) = mail_on_both_sides_without_state();
    sync(&local, &remote, &state);
    let options = SyncOptions {
        folders: Some(vec![FolderPath::inbox()]),
        ..repair(Repair::Every)
    };
    let report = sync_with(&local, &remote, &state, options);
    assert!(!report.failed(), "{report:?}");
    assert_eq!(report.folders[0].paired_by_content, 5);
    assert_eq!(report.folders[0].copied_to, PerSide::new(0, 0));
}
