//! Recognising things in a directory tree of mail: a Maildir folder, the spellings of
//! `INBOX`.

use std::path::Path;

/// Whether `dir` is a Maildir folder: it has `cur/` and `new/` (a missing `tmp/` is made
/// when the first message is appended). Trees of other formats skip such directories.
pub fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && dir.join("new").is_dir()
}

/// Whether `name` spells `INBOX` in some letter case (`inbox`, Thunderbird's `Inbox`).
pub fn spells_inbox(name: &str) -> bool {
    name.eq_ignore_ascii_case("INBOX")
}

/// The spellings of `INBOX` among `names` (e.g. a directory's entries), each once: the
/// spelling `preferred` first when it is there, then the others in name order. The first
/// one is the INBOX a backend uses; the others are set aside (and usually warned about).
pub fn inbox_spellings(names: impl IntoIterator<Item = String>, preferred: &str) -> Vec<String> {
    let mut spellings: Vec<String> = names.into_iter().filter(|n| spells_inbox(n)).collect();
    spellings.sort_by(|a, b| (a != preferred, a).cmp(&(b != preferred, b)));
    spellings.dedup();
    spellings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_put_the_preferred_one_first_then_the_rest_in_order() {
        let names = ["inbox", "Work", "INBOX", "Inbox", "inbox", "INBOXES"].map(String::from);
        assert_eq!(
            inbox_spellings(names.clone(), "INBOX"),
            ["INBOX", "Inbox", "inbox"]
        );
        assert_eq!(inbox_spellings(names, "inbox"), ["inbox", "INBOX", "Inbox"]);
        assert!(inbox_spellings(["Work".to_owned()], "INBOX").is_empty());
    }

    #[test]
    fn a_maildir_has_cur_and_new() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_maildir(dir.path()));
        std::fs::create_dir(dir.path().join("cur")).unwrap();
        std::fs::create_dir(dir.path().join("new")).unwrap();
        assert!(is_maildir(dir.path()));
    }
}
