//! Engine tests of the prefetch hint (interface 1.3): the source hears of every batch
//! before it is asked for it, in the order it will be asked, at most `BATCHES_AHEAD`
//! ahead, and a source that drops or ignores the hint syncs the same.

use backend_api::{Flags, Repository, Uid};
use backend_kit::memory::MemoryRepository;

use super::batches::{BATCHES_AHEAD, BATCH_MESSAGES};
use super::recording::{Call, Recording};
use super::tests::{assert_in_sync, message};
use super::*;
use crate::side::PerSide;
use crate::state::SyncState;

#[test]
fn every_batch_is_announced_in_order_and_at_most_batches_ahead_before_it_is_fetched() {
    let remote = MemoryRepository::new();
    let count = BATCH_MESSAGES * 5 + 7;
    for n in 0..count {
        remote.deliver("INBOX", &message(n), Flags::new());
    }
    let recording = Recording::new(remote.clone());
    let local = MemoryRepository::new();
    let state = SyncState::in_memory().unwrap();
    let account = Account {
        name: "test",
        repositories: PerSide::new(&local as &dyn Repository, &recording as &dyn Repository),
        repository_names: PerSide::new("TestLocal", "TestRemote"),
        state: &state,
        options: SyncOptions::default(),
    };
    let report = sync_account(&account, &NoObserver);
    assert!(!report.failed(), "{report:?}");
    assert_in_sync(&local, &remote);

    let calls = recording.take();
    let announced: Vec<&Vec<Uid>> = calls
        .iter()
        .filter_map(|call| match call {
            Call::Prefetch(uids) => Some(uids),
            _ => None,
        })
        .collect();
    let fetched: Vec<&Vec<Uid>> = calls
        .iter()
        .filter_map(|call| match call {
            Call::Fetch(uids) => Some(uids),
            _ => None,
        })
        .collect();
    assert_eq!(fetched.len(), 6, "six batches: {calls:?}");
    assert_eq!(announced, fetched, "each batch announced once, in order");
    let all: Vec<Uid> = fetched
        .iter()
        .flat_map(|batch| batch.iter().copied())
        .collect();
    assert_eq!(all.len(), count, "every message fetched once");
    // Before its k-th fetch the source has heard of batches 0..=k and of at most
    // BATCHES_AHEAD more.
    let mut heard = 0;
    let mut asked = 0;
    for call in &calls {
        match call {
            Call::Prefetch(_) => heard += 1,
            Call::Fetch(_) => {
                assert!(
                    heard > asked,
                    "batch {asked} fetched before it was announced"
                );
                assert!(
                    heard <= asked + 1 + BATCHES_AHEAD,
                    "batch {asked}: {heard} announced, more than {BATCHES_AHEAD} ahead"
                );
                asked += 1;
            }
            Call::List | Call::Changes => {}
        }
    }
}

/// Uploads of several batches to a destination that starts appends (as IMAP with
/// LITERAL+ is used: a batch travels while the next is read and started), interrupted
/// after any write or durable step, converge on the end state of an uninterrupted run.
#[test]
fn started_appends_of_several_batches_interrupted_anywhere_converge() {
    let setup = || {
        let local = MemoryRepository::new();
        let remote = MemoryRepository::new()
            .with_line_ending(backend_api::LineEnding::CrLf)
            .starting_appends(true);
        for n in 0..BATCH_MESSAGES * 2 + 3 {
            local.deliver("INBOX", &message(n), Flags::new());
        }
        remote.deliver(
            "INBOX",
            &backend_kit::line_endings::lf_to_crlf(&message(100_000)),
            Flags::new(),
        );
        (local, remote, SyncState::in_memory().unwrap())
    };
    super::tests::assert_interrupted_anywhere_converges(setup, SyncOptions::default(), 6);
}

/// A message refused in a started batch while the next batch travels: the next is
/// finished first, then the refused batch is appended one message at a time; the
/// refused message alone stays uncopied.
#[test]
fn a_refusal_in_a_started_batch_leaves_the_batch_behind_it_whole() {
    let local = MemoryRepository::new();
    let remote = MemoryRepository::new()
        .starting_appends(true)
        .refusing_empty_messages(true);
    let count = BATCH_MESSAGES * 2 + 3;
    for n in 0..count {
        let bytes = if n == 5 { Vec::new() } else { message(n) };
        local.deliver("INBOX", &bytes, Flags::new());
    }
    let state = SyncState::in_memory().unwrap();
    let report = super::tests::sync(&local, &remote, &state);
    assert_eq!(
        remote.messages("INBOX").len(),
        count - 1,
        "every message but the refused one: {report:?}"
    );
    let again = super::tests::sync(&local, &remote, &state);
    assert_eq!(remote.messages("INBOX").len(), count - 1, "{again:?}");
}
