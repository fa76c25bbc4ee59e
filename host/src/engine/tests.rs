//! Engine tests on in-memory repositories, mbsync-style: each scenario runs normally, then
//! interrupted after every write and after every durable step, with what was not flushed
//! lost (the memory repository's crash model), and resumed (it must reach the same end
//! state), then once more (it must change nothing).

use backend_api::{Flags, FolderPath, LineEnding, PermanentFlags, SystemFlag};
use backend_kit::memory::{Fault, MemoryRepository};

use super::*;
use crate::side::PerSide;
use crate::state::SyncState;

pub(super) fn sync(
    local: &MemoryRepository,
    remote: &MemoryRepository,
    state: &SyncState,
) -> AccountReport {
    sync_with(local, remote, state, SyncOptions::default())
}

pub(super) fn sync_with(
    local: &MemoryRepository,
    remote: &MemoryRepository,
    state: &SyncState,
    options: SyncOptions,
) -> AccountReport {
    let account = Account {
        name: "test",
        repositories: PerSide::new(local, remote),
        repository_names: PerSide::new("TestLocal", "TestRemote"),
        state,
        options,
    };
    sync_account(&account, &NoObserver)
}

pub(super) fn seen() -> Flags {
    Flags::from_system(&[SystemFlag::Seen])
}

/// Each folder's messages as (text with LF line ends, flags), sorted: what a user sees,
/// UIDs and line endings aside.
pub(super) fn contents(repository: &MemoryRepository) -> Vec<(String, Vec<(String, Flags)>)> {
    repository
        .folder_names()
        .into_iter()
        .map(|name| {
            let mut messages: Vec<(String, Flags)> = repository
                .messages(&name)
                .into_iter()
                .map(|(_, m)| {
                    let text = backend_kit::line_endings::crlf_to_lf(&m.bytes);
                    (String::from_utf8_lossy(&text).into_owned(), m.flags)
                })
                .collect();
            messages.sort_by(|a, b| a.0.cmp(&b.0));
            (name, messages)
        })
        .collect()
}

pub(super) fn assert_in_sync(local: &MemoryRepository, remote: &MemoryRepository) {
    assert_eq!(
        contents(local),
        contents(remote),
        "both sides hold the same messages and flags"
    );
}

pub(super) fn message(n: usize) -> Vec<u8> {
    format!(
        "From: a@example.org\nSubject: message {n}\nMessage-ID: <{n}@example.org>\n\nbody {n}\n"
    )
    .into_bytes()
}

#[test]
fn first_sync_copies_both_ways_and_creates_folders() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new();
    local.deliver("INBOX", &message(1), seen());
    remote.deliver("INBOX", &message(2), Flags::new());
    remote.deliver(
        "Work/Projects",
        &message(3),
        Flags::from_system(&[SystemFlag::Flagged]),
    );
    let state = SyncState::in_memory().unwrap();

    let report = sync(&local, &remote, &state);
    assert!(!report.failed(), "{report:?}");
    assert_in_sync(&local, &remote);
    assert_eq!(local.messages("INBOX").len(), 2);
    let work = report
        .folders
        .iter()
        .find(|f| f.folder.as_ref().map(FolderPath::as_str) == Some("Work/Projects"))
        .unwrap();
    assert_eq!(work.created_on, Some(Side::Local));

    let again = sync(&local, &remote, &state);
    assert!(
        !again.changed_anything(),
        "a rerun with no change changes nothing: {again:?}"
    );
}

#[test]
fn flags_and_deletions_travel_both_ways() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new();
    for n in 0..4 {
        remote.deliver("INBOX", &message(n), Flags::new());
    }
    let state = SyncState::in_memory().unwrap();
    sync(&local, &remote, &state);
    let local_uids: Vec<_> = local
        .messages("INBOX")
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    let remote_uids: Vec<_> = remote
        .messages("INBOX")
        .into_iter()
        .map(|(u, _)| u)
        .collect();

    local.set_flags("INBOX", local_uids[0], seen());
    remote.set_flags(
        "INBOX",
        remote_uids[1],
        Flags::from_system(&[SystemFlag::Flagged]),
    );
    local.expunge("INBOX", local_uids[2]);
    remote.expunge("INBOX", remote_uids[3]);
    let report = sync(&local, &remote, &state);
    assert!(!report.failed(), "{report:?}");
    assert_in_sync(&local, &remote);
    let inbox = &report.folders[0];
    assert_eq!(inbox.flags_on, PerSide::new(1, 1));
    assert_eq!(inbox.deleted_on, PerSide::new(1, 1));
    assert_eq!(remote.messages("INBOX").len(), 2);
    assert!(!sync(&local, &remote, &state).changed_anything());
}

#[test]
fn line_endings_are_converted_and_nothing_else() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new().with_line_ending(LineEnding::CrLf);
    remote.deliver(
        "INBOX",
        b"Subject: x\r\n\r\nbody\r\nlone\rCR\r\n",
        Flags::new(),
    );
    local.deliver("INBOX", b"Subject: y\n\n8-bit \xff\n", Flags::new());
    let state = SyncState::in_memory().unwrap();
    sync(&local, &remote, &state);
    let local_bytes: Vec<Vec<u8>> = local
        .messages("INBOX")
        .into_iter()
        .map(|(_, m)| m.bytes)
        .collect();
    let remote_bytes: Vec<Vec<u8>> = remote
        .messages("INBOX")
        .into_iter()
        .map(|(_, m)| m.bytes)
        .collect();
    assert!(local_bytes.contains(&b"Subject: x\n\nbody\nlone\rCR\n".to_vec()));
    assert!(remote_bytes.contains(&b"Subject: y\r\n\r\n8-bit \xff\r\n".to_vec()));
}

#[test]
fn a_changed_uidvalidity_stops_only_that_folder_and_changes_nothing() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new();
    remote.deliver("INBOX", &message(1), Flags::new());
    remote.deliver("Other", &message(2), Flags::new());
    let state = SyncState::in_memory().unwrap();
    sync(&local, &remote, &state);

    remote.renumber("INBOX");
    remote.deliver("Other", &message(3), Flags::new());
    let before_local = contents(&local);
    let report = sync(&local, &remote, &state);
    assert!(report.failed());
    let inbox = &report.folders[0];
    assert!(inbox.errors[0].contains("UIDVALIDITY changed"), "{inbox:?}");
    assert!(
        inbox.errors[0].contains("folder INBOX in repository TestRemote (remote)"),
        "names the folder and the repository whose UIDVALIDITY changed: {inbox:?}"
    );
    assert!(
        inbox.errors[0].contains("`twinbox repair -a test -f INBOX`"),
        "says what to run: {inbox:?}"
    );
    assert!(
        !inbox.errors[0].contains("local copy"),
        "does not assume the local side is a local store: {inbox:?}"
    );
    let after_local = contents(&local);
    assert_eq!(after_local[0], before_local[0], "INBOX untouched locally");
    assert_eq!(after_local[0].1.len(), 1, "nothing deleted or duplicated");
    assert_eq!(remote.messages("INBOX").len(), 1);
    assert_eq!(local.messages("Other").len(), 2, "other folders still sync");

    // `twinbox repair` pairs INBOX again by content: nothing copied either way.
    let repaired = sync_with(&local, &remote, &state, repair(Repair::Broken));
    assert!(!repaired.failed(), "{repaired:?}");
    assert_eq!(repaired.folders[0].paired_by_content, 1, "{repaired:?}");
    assert_eq!(repaired.folders[0].copied_to.iter().sum::<usize>(), 0);
    assert_eq!(contents(&local), contents(&remote));
    assert!(!sync(&local, &remote, &state).changed_anything());
}

pub(super) fn repair(scope: Repair) -> SyncOptions {
    SyncOptions {
        repair: Some(scope),
        ..SyncOptions::default()
    }
}

#[test]
fn a_vanished_folder_is_refused_not_deleted() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new();
    remote.deliver("Lists", &message(1), Flags::new());
    let state = SyncState::in_memory().unwrap();
    sync(&local, &remote, &state);
    remote.remove_folder("Lists");
    let report = sync(&local, &remote, &state);
    assert!(report.failed());
    assert!(report.folders[0].errors[0].contains("vanished"));
    assert_eq!(local.messages("Lists").len(), 1);
}

#[test]
fn dry_run_changes_nothing_and_counts_what_it_would_do() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new();
    remote.deliver("INBOX", &message(1), Flags::new());
    remote.deliver("New", &message(2), Flags::new());
    local.add_folder("INBOX");
    let state = SyncState::in_memory().unwrap();
    let options = SyncOptions {
        dry_run: true,
        ..Default::default()
    };
    let report = sync_with(&local, &remote, &state, options);
    assert!(!report.failed(), "{report:?}");
    assert_eq!(
        report
            .folders
            .iter()
            .map(|f| f.copied_to[Side::Local])
            .sum::<usize>(),
        2
    );
    assert_eq!(local.folder_names(), vec!["INBOX"]);
    assert!(local.messages("INBOX").is_empty());
    assert!(state.folders().unwrap().is_empty());
}

#[test]
fn flags_a_side_cannot_store_do_not_cause_endless_updates() {
    let local = MemoryRepository::new().with_permanent_flags(PermanentFlags {
        flags: Flags::all_system(),
        any_keyword: false,
    });
    let remote = MemoryRepository::new();
    let mut junk = seen();
    junk.insert_keyword("$Junk");
    remote.deliver("INBOX", &message(1), junk);
    let state = SyncState::in_memory().unwrap();
    sync(&local, &remote, &state);
    assert!(!sync(&local, &remote, &state).changed_anything());
    assert!(
        remote.messages("INBOX")[0]
            .1
            .flags
            .contains_keyword("$Junk"),
        "the keyword stays on the side that has it"
    );
}

/// A scenario with changes on both sides, to be interrupted anywhere.
fn scenario(uidplus: bool) -> (MemoryRepository, MemoryRepository, SyncState) {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new()
        .with_line_ending(LineEnding::CrLf)
        .reporting_append_uids(uidplus);
    for n in 0..6 {
        remote.deliver(
            "INBOX",
            &backend_kit::line_endings::lf_to_crlf(&message(n)),
            Flags::new(),
        );
        local.deliver("Sent", &message(100 + n), seen());
    }
    let state = SyncState::in_memory().unwrap();
    sync(&local, &remote, &state);
    // Changes on both sides since the first sync.
    let local_inbox: Vec<_> = local
        .messages("INBOX")
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    let remote_sent: Vec<_> = remote
        .messages("Sent")
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    local.set_flags("INBOX", local_inbox[0], seen());
    local.expunge("INBOX", local_inbox[1]);
    remote.set_flags("Sent", remote_sent[0], Flags::new());
    remote.expunge("Sent", remote_sent[1]);
    for n in 0..5 {
        local.deliver("INBOX", &message(200 + n), Flags::new());
        remote.deliver(
            "Sent",
            &backend_kit::line_endings::lf_to_crlf(&message(300 + n)),
            seen(),
        );
    }
    (local, remote, state)
}

fn interrupted_anywhere_converges(uidplus: bool) {
    assert_interrupted_anywhere_converges(|| scenario(uidplus), SyncOptions::default(), 30);
}

/// What a crash does to the writes a store had not flushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Loss {
    /// Nothing lost: the process died, the machine did not, and what was not flushed is
    /// still there and still not durable.
    Nothing,
    /// Every unflushed write lost.
    Everything,
    /// Every other one lost, the first kept (a disk writes back in no particular order).
    EveryOther,
}

impl Loss {
    const ALL: [Loss; 3] = [Loss::Nothing, Loss::Everything, Loss::EveryOther];

    fn strike(self, repository: &MemoryRepository) {
        match self {
            Loss::Nothing => repository.restart(),
            Loss::Everything => repository.crash(),
            Loss::EveryOther => repository.crash_keeping(|index| index % 2 == 0),
        }
    }
}

/// Where a run stops.
#[derive(Clone, Copy, Debug)]
pub(super) enum Interruption {
    /// A write on one side fails after `after` writes succeeded (the failing one applied
    /// or not, as a connection that dropped after or before the server did the work);
    /// the run goes on with what it can, then the process crashes.
    Writes {
        side: Side,
        after: usize,
        applied: bool,
        loss: Loss,
    },
    /// The process dies right after its `after`th durable step (a commit or a flush).
    Steps { after: u64, loss: Loss },
}

/// Runs the scenario `setup` makes once more with `options`, stopped at each of
/// `interruptions` in turn (each followed by a crash), then resumed with a plain sync.
/// Returns the end state, or `None` if some interruption came after the end of its run.
fn interrupted_run(
    setup: &impl Fn() -> (MemoryRepository, MemoryRepository, SyncState),
    options: &SyncOptions,
    interruptions: &[Interruption],
) -> Option<(MemoryRepository, MemoryRepository, SyncState)> {
    let (local, remote, state) = setup();
    for interruption in interruptions {
        let loss = match *interruption {
            Interruption::Writes {
                side,
                after,
                applied,
                loss,
            } => {
                let faulty = PerSide::new(&local, &remote)[side];
                faulty.inject_fault(Fault {
                    after_writes: after,
                    effect_applied: applied,
                });
                sync_with(&local, &remote, &state, options.clone());
                faulty.clear_fault();
                loss
            }
            Interruption::Steps { after, loss } => {
                let (halt_local, halt_remote) = (local.clone(), remote.clone());
                state.crash_after_steps(after, move || {
                    halt_local.halt();
                    halt_remote.halt();
                });
                sync_with(&local, &remote, &state, options.clone());
                let crashed = state.crashed();
                state.restart();
                if !crashed {
                    return None;
                }
                loss
            }
        };
        loss.strike(&local);
        loss.strike(&remote);
    }
    Some((local, remote, state))
}

/// Runs the scenario `setup` makes with `options`, uninterrupted, for the expected end
/// state; then again from scratch, interrupted and resumed with a plain sync, which must
/// reach the same end state (and a third run must change nothing):
/// - a write failing after each of the first `writes` writes on each side (with and
///   without its effect applied), then a crash losing all, none or some of what was not
///   flushed;
/// - the process dying after each durable step, losing all or some of what was not
///   flushed;
/// - both: a write failing with its effect applied and kept, then the resuming run
///   dying after each of its durable steps with everything unflushed lost (what
///   recovery found must be durable before it is recorded).
pub(super) fn assert_interrupted_anywhere_converges(
    setup: impl Fn() -> (MemoryRepository, MemoryRepository, SyncState),
    options: SyncOptions,
    writes: usize,
) {
    let (local, remote, state) = setup();
    let reference = sync_with(&local, &remote, &state, options.clone());
    assert!(!reference.failed(), "{reference:?}");
    let expected = (contents(&local), contents(&remote));
    assert_in_sync(&local, &remote);

    let check = |interruptions: &[Interruption]| -> bool {
        let Some((local, remote, state)) = interrupted_run(&setup, &options, interruptions) else {
            return false;
        };
        let resumed = sync(&local, &remote, &state);
        assert!(
            !resumed.failed(),
            "resumed after {interruptions:?}: {resumed:?}"
        );
        let got = (contents(&local), contents(&remote));
        assert_eq!(
            got, expected,
            "interrupted {interruptions:?}, resumed: not the uninterrupted end state"
        );
        let again = sync(&local, &remote, &state);
        assert!(
            !again.changed_anything(),
            "interrupted {interruptions:?}: a third run changes nothing: {again:?}"
        );
        true
    };
    let write_faults = || {
        (0..writes).flat_map(|after| {
            [false, true].into_iter().flat_map(move |applied| {
                Side::BOTH
                    .into_iter()
                    .map(move |side| (side, after, applied))
            })
        })
    };

    for (side, after, applied) in write_faults() {
        for loss in Loss::ALL {
            check(&[Interruption::Writes {
                side,
                after,
                applied,
                loss,
            }]);
        }
    }
    for loss in [Loss::Everything, Loss::EveryOther] {
        for after in 1.. {
            if !check(&[Interruption::Steps { after, loss }]) {
                break;
            }
        }
    }
    for (side, after, _) in write_faults().filter(|(_, _, applied)| *applied) {
        let first = Interruption::Writes {
            side,
            after,
            applied: true,
            loss: Loss::Nothing,
        };
        for step in 1.. {
            let second = Interruption::Steps {
                after: step,
                loss: Loss::Everything,
            };
            if !check(&[first, second]) {
                break;
            }
        }
    }
}

#[test]
fn interrupted_anywhere_and_resumed_reaches_the_same_state() {
    interrupted_anywhere_converges(true);
}

#[test]
fn interrupted_anywhere_without_uidplus_reaches_the_same_state() {
    interrupted_anywhere_converges(false);
}

#[test]
fn without_uidplus_copies_are_found_by_content() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new().reporting_append_uids(false);
    for n in 0..3 {
        local.deliver("INBOX", &message(n), Flags::new());
    }
    // Two identical messages must still give two copies, each paired once.
    local.deliver("INBOX", &message(0), Flags::new());
    let state = SyncState::in_memory().unwrap();
    let report = sync(&local, &remote, &state);
    assert!(!report.failed(), "{report:?}");
    assert_eq!(state.pairs(&FolderPath::inbox()).unwrap().len(), 4);
    assert!(state.pending(&FolderPath::inbox()).unwrap().is_empty());
    assert!(!sync(&local, &remote, &state).changed_anything());
    assert_in_sync(&local, &remote);
}

#[test]
fn a_read_only_side_is_never_written() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new();
    remote.deliver("INBOX", &message(1), Flags::new());
    local.deliver("Drafts", &message(2), Flags::new());
    let state = SyncState::in_memory().unwrap();
    let options = SyncOptions {
        read_only: PerSide::new(false, true),
        ..Default::default()
    };
    let report = sync_with(&local, &remote, &state, options.clone());
    assert!(!report.failed(), "{report:?}");
    assert_eq!(
        local.messages("INBOX").len(),
        1,
        "the read-only side is still read"
    );
    assert_eq!(
        remote.folder_names(),
        vec!["INBOX"],
        "no folder created there"
    );
    let uid = local.messages("INBOX")[0].0;
    local.set_flags("INBOX", uid, seen());
    let report = sync_with(&local, &remote, &state, options);
    assert!(!report.changed_anything(), "{report:?}");
    assert!(remote.messages("INBOX")[0].1.flags.is_empty());
}

#[test]
fn sync_deletes_off_keeps_that_sides_deletions_to_itself() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new();
    for n in 0..3 {
        remote.deliver("INBOX", &message(n), Flags::new());
    }
    let state = SyncState::in_memory().unwrap();
    // `sync_deletes = no` on the local repository.
    let options = SyncOptions {
        sync_deletes: PerSide::new(false, true),
        ..Default::default()
    };
    sync_with(&local, &remote, &state, options.clone());
    let local_uid = local.messages("INBOX")[0].0;
    local.expunge("INBOX", local_uid);
    let remote_uid = remote.messages("INBOX")[2].0;
    remote.expunge("INBOX", remote_uid);
    let report = sync_with(&local, &remote, &state, options.clone());
    assert!(!report.failed(), "{report:?}");
    assert_eq!(report.folders[0].deleted_on, PerSide::new(1, 0));
    assert_eq!(
        remote.messages("INBOX").len(),
        2,
        "the local deletion stays local"
    );
    assert_eq!(
        local.messages("INBOX").len(),
        1,
        "the remote deletion travels"
    );
    // The kept twin is neither deleted later nor copied back.
    let report = sync_with(&local, &remote, &state, options);
    assert!(!report.changed_anything(), "{report:?}");
    assert_eq!(local.messages("INBOX").len(), 1);
}

#[test]
fn a_message_the_destination_refuses_fails_alone() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new().refusing_empty_messages(true);
    for n in 0..5 {
        local.deliver("INBOX", &message(n), seen());
        if n == 2 {
            local.deliver("INBOX", b"", Flags::new());
        }
    }
    let state = SyncState::in_memory().unwrap();

    for run in 1..=2 {
        let report = sync(&local, &remote, &state);
        let inbox = &report.folders[0];
        assert_eq!(inbox.errors.len(), 1, "run {run}: {report:?}");
        assert!(
            inbox.errors[0].contains("message UID 4 of the local repository (0 bytes)")
                && inbox.errors[0].contains("zero byte"),
            "run {run}: {:?}",
            inbox.errors
        );
        assert_eq!(
            inbox.copied_to[Side::Remote],
            if run == 1 { 5 } else { 0 },
            "run {run}"
        );
        let stored: Vec<Vec<u8>> = remote
            .messages("INBOX")
            .into_iter()
            .map(|(_, m)| m.bytes)
            .collect();
        assert_eq!(stored.len(), 5, "run {run}: each good message once");
        for n in 0..5 {
            assert!(stored.contains(&message(n)), "run {run}: message {n}");
        }
        assert!(state.pending(&FolderPath::inbox()).unwrap().is_empty());
    }
}

#[test]
fn a_read_only_side_still_gets_the_flags_changed_on_the_other_side() {
    // Issue 12: the pair whose read-only side would change is not recorded, and the flag
    // changes left for the writable side were dropped with it when no other pair changed.
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new();
    remote.deliver("INBOX", &message(1), Flags::new());
    let state = SyncState::in_memory().unwrap();
    let options = SyncOptions {
        read_only: PerSide::new(false, true),
        ..Default::default()
    };
    sync_with(&local, &remote, &state, options.clone());
    let local_uid = local.messages("INBOX")[0].0;
    let remote_uid = remote.messages("INBOX")[0].0;
    local.set_flags("INBOX", local_uid, seen());
    let flagged = Flags::from_system(&[SystemFlag::Flagged]);
    remote.set_flags("INBOX", remote_uid, flagged);

    let report = sync_with(&local, &remote, &state, options.clone());
    assert!(!report.failed(), "{report:?}");
    assert_eq!(
        local.messages("INBOX")[0].1.flags,
        Flags::from_system(&[SystemFlag::Seen, SystemFlag::Flagged]),
        "the remote +Flagged reaches the local side"
    );
    assert_eq!(
        remote.messages("INBOX")[0].1.flags,
        Flags::from_system(&[SystemFlag::Flagged]),
        "the read-only side is not written"
    );
    let again = sync_with(&local, &remote, &state, options);
    assert!(!again.changed_anything(), "{again:?}");
}

/// A server that stores a header line of its own in every message it is given (as some
/// archiving servers do): neither the exact bytes nor the content fingerprint match.
fn add_a_server_header(bytes: &[u8]) -> Vec<u8> {
    [b"X-Archived-By: server\r\n".as_slice(), bytes].concat()
}

fn rewriting_server_without_uidplus() -> MemoryRepository {
    MemoryRepository::new()
        .with_line_ending(LineEnding::CrLf)
        .reporting_append_uids(false)
        .rewriting_appends(add_a_server_header)
}

#[test]
fn a_server_without_uidplus_that_rewrites_messages_gets_no_endless_duplicates() {
    // Issue 12: the copy was not found again by its bytes, so it stayed pending, was
    // copied again on the next run, and the server's copy came back as new mail. Found
    // by Message-ID and INTERNALDATE among the UIDs given since, it is paired.
    let local = MemoryRepository::new();
    let remote = rewriting_server_without_uidplus();
    local.deliver("INBOX", &message(1), Flags::new());
    local.deliver("INBOX", &message(2), seen());
    let state = SyncState::in_memory().unwrap();
    for run in 0..3 {
        let report = sync(&local, &remote, &state);
        assert!(!report.failed(), "run {run}: {report:?}");
        assert_eq!(remote.messages("INBOX").len(), 2, "run {run}: {report:?}");
        assert_eq!(local.messages("INBOX").len(), 2, "run {run}: {report:?}");
    }
    assert_eq!(state.pairs(&FolderPath::inbox()).unwrap().len(), 2);
    assert!(state.pending(&FolderPath::inbox()).unwrap().is_empty());
    assert!(!sync(&local, &remote, &state).changed_anything());
}

#[test]
fn a_copy_that_cannot_be_found_again_is_uploaded_again_once_then_the_folder_stops() {
    // Without a Message-ID nothing can find the rewritten copy: one more upload (the first
    // may never have landed), then a clear error instead of a copy per run.
    let local = MemoryRepository::new();
    let remote = rewriting_server_without_uidplus();
    local.deliver("INBOX", b"Subject: no id\n\nbody\n", Flags::new());
    let state = SyncState::in_memory().unwrap();
    let first = sync(&local, &remote, &state);
    assert!(!first.failed(), "{first:?}");
    assert_eq!(remote.messages("INBOX").len(), 1);
    let second = sync(&local, &remote, &state);
    assert_eq!(
        remote.messages("INBOX").len(),
        2,
        "one more upload: {second:?}"
    );
    assert_eq!(
        local.messages("INBOX").len(),
        1,
        "the unrecognized copy does not come back as new mail: {second:?}"
    );
    for run in 0..3 {
        let report = sync(&local, &remote, &state);
        assert!(report.failed(), "run {run}: {report:?}");
        let error = &report.folders[0].errors[0];
        assert!(
            error.contains("uploaded twice") && error.contains("twinbox repair -a test -f INBOX"),
            "{error}"
        );
        assert_eq!(remote.messages("INBOX").len(), 2, "never a third upload");
        assert_eq!(local.messages("INBOX").len(), 1);
    }
}
