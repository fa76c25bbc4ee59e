//! The fuzzing entry points of [`crate::fuzzing`] on random input, a few seconds in CI.

use std::sync::OnceLock;

use backend_api::{Flags, FolderPath, SystemFlag};
use proptest::prelude::*;

use crate::side::PerSide;
use crate::state::{ContentDigest, FolderRecord, Pair, PendingCopy, StateChange, SyncState};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        // PROPTEST_CASES runs longer by hand.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Lines that config files are made of, so random files reach the parser's cases.
const CONFIG_LINE: &str = "\\[(general|Account A|Repository [LR]|DEFAULT|mbnames)\\]\n\
    |(accounts|localrepository|remoterepository|type|localfolders|remotehost|remotepass|folderfilter|nametrans|sep|maxsize|deletionguard|timeout) ?[=:] ?[ -~]{0,20}\n\
    |[ \t]+[ -~]{0,12}\n|[#;][ -~]{0,10}\n|%\\([a-z]{1,6}\\)s|%%|%[ -~]|lambda f: f [ -~]{0,12}\n|\n";

/// A small state file with a folder, a pair and a pending copy.
fn template() -> &'static [u8] {
    static TEMPLATE: OnceLock<Vec<u8>> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        let state = SyncState::open(&path).unwrap();
        let folder = FolderPath::new("Work/Ärger").unwrap();
        let copy = PendingCopy {
            destination: crate::side::Side::Local,
            source_uid: 9,
            size: 120,
            digest: ContentDigest::of(b"hello"),
            destination_uid_next: 4,
            flags: Flags::from_system(&[SystemFlag::Seen]),
            retried: false,
            started_at: Some(1_790_000_000),
        };
        state
            .commit(
                &folder,
                &[
                    StateChange::SetFolder(FolderRecord::new(PerSide::new(7, 8))),
                    StateChange::PutPair(Pair {
                        uids: PerSide::new(1, 2),
                        flags: Flags::from_system(&[SystemFlag::Flagged]),
                    }),
                    StateChange::AddPending { id: 1, copy },
                ],
            )
            .unwrap();
        drop(state);
        std::fs::read(&path).unwrap()
    })
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn any_config_text(text in any::<String>()) {
        crate::fuzzing::config(&text);
    }

    #[test]
    fn config_files_of_config_lines(
        lines in proptest::collection::vec(proptest::string::string_regex(CONFIG_LINE).unwrap(), 0..30),
    ) {
        crate::fuzzing::config(&lines.concat());
    }

    #[test]
    fn any_record_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        crate::fuzzing::state_records(&bytes);
    }

    /// Valid records with a few bytes changed.
    #[test]
    fn damaged_records(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let record = serde_json::to_vec(&FolderRecord::new(PerSide::new(7, 8))).unwrap();
        for mut bytes in [record] {
            let length = bytes.len();
            for (at, value) in &edits {
                bytes[at % length] = *value;
            }
            crate::fuzzing::state_records(&bytes);
        }
    }
}

proptest! {
    // Each case writes and opens a file: fewer of them.
    #![proptest_config(config(300))]

    /// redb 4.6 panics on damaged files (`Malformed allocator state`, slice bounds in
    /// btree pages, `unwrap` of a UTF-8 key) in `open` and in reads, even in
    /// `check_integrity`; this found it within a second. The sync guards its use of the
    /// state, and the property is that no panic gets past that guard.
    #[test]
    fn damaged_state_files(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        crate::fuzzing::state_file(template(), &edits, &dir.path().join("state.redb"));
    }
}

/// The first damage the fuzzer found (one byte of the template zeroed): redb panics, and
/// the guard turns it into an error that says what to do.
#[test]
fn a_damaged_state_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    crate::fuzzing::state_file(
        template(),
        &[(17_088_611_814_394_970_129, 0)],
        &dir.path().join("state.redb"),
    );
}
