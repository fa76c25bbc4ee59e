//! `[mbnames] folderfilter`: a Python `lambda accountname, foldername: ...` deciding which
//! folders are listed, read as [`crate::python`] reads the repositories' `folderfilter`
//! (every form it reads, the same refusals), never by running Python.

use crate::python::{Lambda, Signature, Type, SUPPORTED};

/// What OfflineIMAP passes the filter: the account's name and the folder's.
const SIGNATURE: Signature = Signature {
    params: &["accountname", "foldername"],
    gives: Type::Truth,
};

/// A parsed filter. Two filters are equal when their sources are.
#[derive(Clone, Debug)]
pub struct FolderFilter {
    source: String,
    lambda: Lambda,
}

impl PartialEq for FolderFilter {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for FolderFilter {}

impl FolderFilter {
    /// Parses `lambda a, f: EXPRESSION`; the error says what is wrong and what is read.
    pub fn parse(source: &str) -> Result<FolderFilter, String> {
        let lambda = Lambda::parse(source, SIGNATURE)
            .map_err(|problem| format!("the filter {problem}; {SUPPORTED}"))?;
        Ok(FolderFilter {
            source: source.to_owned(),
            lambda,
        })
    }

    /// Whether the folder is listed.
    pub fn accepts(&self, account: &str, folder: &str) -> bool {
        self.lambda.test(&[account, folder])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(source: &str, account: &str, folder: &str) -> bool {
        FolderFilter::parse(source)
            .unwrap_or_else(|e| panic!("{source}: {e}"))
            .accepts(account, folder)
    }

    #[test]
    fn the_common_forms() {
        assert!(accepts("lambda a, f: True", "A", "x"));
        assert!(!accepts("lambda accountname, foldername: False", "A", "x"));
        let not_in = "lambda a, f: f not in ['Trash', 'Spam']";
        assert!(accepts(not_in, "A", "INBOX"));
        assert!(!accepts(not_in, "A", "Spam"));
        let tuple = "lambda a, f: f in ('INBOX', \"Sent\")";
        assert!(accepts(tuple, "A", "Sent") && !accepts(tuple, "A", "Spam"));
        let by_account = "lambda acc, f: acc == 'Work' and f != 'Junk' or acc != 'Work'";
        assert!(accepts(by_account, "Work", "INBOX"));
        assert!(!accepts(by_account, "Work", "Junk"));
        assert!(accepts(by_account, "Home", "Junk"));
        let search = "lambda a, f: not re.search(r'^(Trash|Spam)$', f)";
        assert!(accepts(search, "A", "Trashy") && !accepts(search, "A", "Spam"));
        let matched = "lambda a, f: re.match('lists', f, re.I)";
        assert!(accepts(matched, "A", "Lists.rust") && !accepts(matched, "A", "x.lists"));
        let affix = "lambda a, f: f.startswith(('INBOX', 'Work')) and not f.endswith('.old')";
        assert!(accepts(affix, "A", "Work.x") && !accepts(affix, "A", "Work.old"));
        assert!(accepts("lambda a, f: 'Lists' in f", "A", "My.Lists.x"));
        assert!(accepts("lambda a, f: (f == 'a' or f == 'b')", "A", "b"));
    }

    /// What the repositories' `folderfilter` reads, this one reads too.
    #[test]
    fn the_forms_of_the_repositories_folderfilter() {
        assert!(accepts("lambda a, f: f.lower() == 'x'", "A", "X"));
        // Adjacent literals are one string, as in Python.
        assert!(accepts("lambda a, f: f in ['a' 'b']", "A", "ab"));
        assert!(!accepts("lambda a, f: f in ['a' 'b']", "A", "a"));
        let sub = r"lambda acc, f: re.sub(r'^INBOX\.', '', f) + acc in ['SentWork']";
        assert!(accepts(sub, "Work", "INBOX.Sent") && !accepts(sub, "Home", "INBOX.Sent"));
        let conditional = "lambda a, f: f != 'Junk' if a == 'Work' else True";
        assert!(!accepts(conditional, "Work", "Junk") && accepts(conditional, "Home", "Junk"));
        assert!(accepts(
            "lambda a, f: re.fullmatch('inbox', f, flags=re.I)",
            "A",
            "INBOX"
        ));
        assert!(!accepts(
            "lambda a, f: f.startswith('Old') == True",
            "A",
            "INBOX"
        ));
    }

    #[test]
    fn other_python_is_refused_in_one_line() {
        for source in [
            "mbnames_folderfilter",
            "lambda f: True",
            "lambda a, f: len(f) > 3",
            "lambda a, f: __import__('os').system('x')",
            "lambda a, f: f in allowed",
            "lambda a, f: re.search(pattern, f)",
            "lambda a, f: True extra",
        ] {
            let error = FolderFilter::parse(source).unwrap_err();
            assert!(!error.contains('\n'), "{source}: {error}");
        }
    }
}
