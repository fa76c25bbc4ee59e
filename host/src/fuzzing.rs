//! Entry points for fuzzing (issue 12): the config parser and the state's decoding. Each
//! takes any input, must never panic, and panics only when a property is broken. The
//! property tests in `fuzz_tests.rs` drive them on the stable toolchain in CI; `fuzz/` at
//! the top of the repository drives the same functions under `cargo fuzz` by hand. Not an
//! API.

use std::path::Path;

use crate::config::Config;
use crate::state::{FolderRecord, PendingCopy, SyncState};

/// A config file: parsed or refused with an error, never a panic; an error names the
/// file.
pub fn config(text: &str) {
    if let Err(error) = Config::parse(text, "/fuzz/twinboxrc") {
        let said = error.to_string();
        assert!(!said.is_empty());
    }
}

/// A stored record's bytes: decoded or refused; what decodes is written back and read
/// again as the same record.
pub fn state_records(bytes: &[u8]) {
    if let Ok(record) = serde_json::from_slice::<FolderRecord>(bytes) {
        let again = serde_json::to_vec(&record).expect("a record encodes");
        let reread: FolderRecord = serde_json::from_slice(&again).expect("and decodes again");
        assert_eq!(reread, record);
    }
    if let Ok(copy) = serde_json::from_slice::<PendingCopy>(bytes) {
        let again = serde_json::to_vec(&copy).expect("a pending copy encodes");
        let reread: PendingCopy = serde_json::from_slice(&again).expect("and decodes again");
        assert_eq!(reread, copy);
    }
}

/// A damaged state file (`template` with `edits` applied at their offsets, modulo its
/// length), written as `path`: opening and reading it gives data or an error, never a
/// panic that escapes. redb panics on some damaged files; the sync guards every use of
/// the state (`accounts::guarded`), and so does this.
pub fn state_file(template: &[u8], edits: &[(usize, u8)], path: &Path) {
    let mut bytes = template.to_vec();
    if !bytes.is_empty() {
        let length = bytes.len();
        for (at, value) in edits {
            bytes[at % length] = *value;
        }
    }
    std::fs::write(path, &bytes).expect("write the damaged state");
    let read = || {
        let Ok(state) = SyncState::open_read_only(path) else {
            return;
        };
        let Ok(folders) = state.folders() else {
            return;
        };
        for (folder, _) in folders {
            let _ = state.pairs(&folder);
            let _ = state.pending(&folder);
        }
    };
    if let Err(error) = crate::accounts::guarded(path, read) {
        assert!(error.contains("probably damaged"), "{error}");
    }
}
