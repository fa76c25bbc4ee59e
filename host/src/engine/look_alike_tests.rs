//! Folders whose names differ only by case or Unicode normalization are refused by name
//! (issue 12): a case-insensitive or normalizing file system would merge them.

use backend_api::Flags;
use backend_kit::memory::MemoryRepository;

use super::tests::{message, sync};
use crate::state::SyncState;

#[test]
fn folders_differing_only_by_case_or_normalization_are_refused_not_merged() {
    let (local, remote) = (MemoryRepository::new(), MemoryRepository::new());
    remote.deliver("INBOX", &message(1), Flags::new());
    remote.deliver("Work", &message(2), Flags::new());
    remote.deliver("WORK", &message(3), Flags::new());
    // "Café" precomposed (NFC) and decomposed (NFD, as macOS writes it).
    remote.deliver("Caf\u{e9}", &message(4), Flags::new());
    remote.deliver("Cafe\u{301}", &message(5), Flags::new());
    remote.deliver("Other", &message(6), Flags::new());
    let state = SyncState::in_memory().unwrap();

    for run in 0..2 {
        let report = sync(&local, &remote, &state);
        let errors: Vec<(String, &Vec<String>)> = report
            .folders
            .iter()
            .filter(|f| !f.errors.is_empty())
            .map(|f| (f.folder.as_ref().unwrap().to_string(), &f.errors))
            .collect();
        let refused: Vec<&str> = errors.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            refused,
            vec!["Cafe\u{301}", "Caf\u{e9}", "WORK", "Work"],
            "run {run}: {report:?}"
        );
        for (name, error) in &errors {
            assert!(
                error[0].contains("only by case or Unicode normalization"),
                "{name}: {error:?}"
            );
        }
        // WORK's error names Work, and the other way round.
        let work = &errors.iter().find(|(n, _)| n == "WORK").unwrap().1[0];
        assert!(work.contains("\"Work\""), "{work}");
        // Nothing of them reached the local side; the other folders synced.
        assert_eq!(local.folder_names(), vec!["INBOX", "Other"], "run {run}");
        assert_eq!(local.messages("Other").len(), 1);
    }
}
