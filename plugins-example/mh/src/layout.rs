//! Where a folder lives under the MH root, as nmh lays it out.
//!
//! Every directory under the root is a folder, and its subdirectories are its subfolders:
//! the folder `work/projects` is the directory `work/projects` (nmh's `+work/projects`).
//! No `.folders` index is needed or written; nmh's `folders` command builds the same tree
//! from the directories. Directory names are used as they are (UTF-8, as nmh and mh-e
//! show them); a name that is not UTF-8 cannot be a folder path and is skipped with a
//! warning.
//!
//! The INBOX is nmh's default inbox, the directory `inbox`, matched case-insensitively:
//! a root holding `Inbox` uses that one rather than gaining a second `inbox` beside it.
//!
//! Not folders: directories whose names start with `.` (hidden, as for nmh) and those
//! named only by digits (nmh would take them for messages). Folder paths with such
//! components are refused rather than created where nmh would not find them.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use backend_api::{BackendError, ErrorScope, FolderPath};
use backend_kit::tree::{self, spells_inbox};

/// nmh's default inbox folder name (`Inbox:` in the profile).
pub(crate) const INBOX_DIR: &str = "inbox";

/// Deeper than this, a tree is surely a loop of symbolic links or a mistake.
const MAX_DEPTH: usize = 64;

/// Whether `name` (one path component) is a message number as nmh names messages: a
/// positive decimal number without leading zeros.
pub(crate) fn message_number(name: &str) -> Option<u32> {
    if name.is_empty() || name.starts_with('0') || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// Why a directory name is not a folder name, if it is not.
fn not_a_folder(name: &str) -> Option<&'static str> {
    if name.starts_with('.') {
        Some("it starts with '.', and hidden directories are not MH folders")
    } else if name.bytes().all(|b| b.is_ascii_digit()) {
        Some("it is all digits, which MH reads as a message number")
    } else {
        None
    }
}

/// The directory of the INBOX at `root`: the one named `inbox` in any case, preferring
/// `inbox` itself, or `inbox` when there is none.
fn inbox_dir_name(root: &Path) -> String {
    let directories: Vec<String> = match fs::read_dir(root) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| spells_inbox(name) && root.join(name).is_dir())
            .collect(),
        Err(_) => Vec::new(),
    };
    tree::inbox_spellings(directories, INBOX_DIR)
        .into_iter()
        .next()
        .unwrap_or_else(|| INBOX_DIR.to_owned())
}

/// The directory of `path`, relative to `root`; a folder-level error if MH cannot hold
/// such a folder.
pub(crate) fn resolve(root: &Path, path: &FolderPath) -> Result<PathBuf, BackendError> {
    let mut relative = PathBuf::new();
    for (index, component) in path.components().enumerate() {
        // FolderPath spells a first component INBOX in any case as `INBOX`.
        if index == 0 && component == "INBOX" {
            relative.push(inbox_dir_name(root));
            continue;
        }
        if let Some(why) = not_a_folder(component) {
            return Err(BackendError::folder(format!(
                "folder {path} cannot be stored in MH: its part {component:?} cannot be a \
                 folder name ({why}); rename the folder"
            )));
        }
        relative.push(component);
    }
    Ok(relative)
}

/// Every folder under `root`, sorted.
pub(crate) fn scan(root: &Path) -> Result<Vec<FolderPath>, BackendError> {
    let mut found = Vec::new();
    let mut ancestors = HashSet::new();
    if let Ok(metadata) = fs::metadata(root) {
        ancestors.insert((metadata.dev(), metadata.ino()));
    }
    let inbox = inbox_dir_name(root);
    walk(root, &[], 0, &inbox, &mut ancestors, &mut found)?;
    found.sort();
    Ok(found)
}

fn walk(
    directory: &Path,
    prefix: &[String],
    depth: usize,
    inbox: &str,
    ancestors: &mut HashSet<(u64, u64)>,
    found: &mut Vec<FolderPath>,
) -> Result<(), BackendError> {
    let entries = fs::read_dir(directory).map_err(|error| {
        let scope = if depth == 0 {
            ErrorScope::Repository
        } else {
            ErrorScope::Folder
        };
        BackendError::io(
            scope,
            format!("cannot list the MH folders in {}", directory.display()),
            &error,
        )
    })?;
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let child = entry.path();
        // Follows symbolic links: a linked folder is a folder.
        let Ok(metadata) = fs::metadata(&child) else {
            continue;
        };
        if !metadata.is_dir() {
            continue;
        }
        let Ok(name) = entry.file_name().into_string() else {
            log::warn!(
                "skipping MH folder {}: its name is not UTF-8",
                child.display()
            );
            continue;
        };
        if not_a_folder(&name).is_some() {
            continue;
        }
        if depth == 0 && spells_inbox(&name) && name != inbox {
            log::warn!(
                "skipping MH folder {}: {} is the INBOX already (folder names match INBOX \
                 in any case); merge the two",
                child.display(),
                directory.join(inbox).display()
            );
            continue;
        }
        names.push((name, child, (metadata.dev(), metadata.ino())));
    }
    for (name, child, identity) in names {
        let mut components = prefix.to_vec();
        components.push(name);
        let path = match FolderPath::new(components.join("/")) {
            Ok(path) => path,
            Err(error) => {
                log::warn!("skipping MH folder {}: {error}", child.display());
                continue;
            }
        };
        found.push(path);
        if depth + 1 >= MAX_DEPTH || !ancestors.insert(identity) {
            log::warn!(
                "not looking inside {}: it is a symbolic link to a folder above it, or more \
                 than {MAX_DEPTH} levels deep",
                child.display()
            );
            continue;
        }
        let result = walk(&child, &components, depth + 1, inbox, ancestors, found);
        ancestors.remove(&identity);
        if let Err(error) = result {
            log::warn!("{error}; its subfolders are left out");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: &str) -> FolderPath {
        FolderPath::new(name).unwrap()
    }

    #[test]
    fn message_numbers_are_canonical_positive_decimals() {
        assert_eq!(message_number("1"), Some(1));
        assert_eq!(message_number("4294967295"), Some(u32::MAX));
        for name in [
            "0",
            "007",
            ",3",
            "#3",
            "3.bak",
            "",
            "4294967296",
            ".mh_sequences",
        ] {
            assert_eq!(message_number(name), None, "{name}");
        }
    }

    #[test]
    fn folder_paths_map_to_directories() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(
            resolve(root.path(), &path("work/projects")).unwrap(),
            PathBuf::from("work/projects")
        );
        assert_eq!(
            resolve(root.path(), &path("INBOX/sub")).unwrap(),
            PathBuf::from("inbox/sub")
        );
        fs::create_dir(root.path().join("Inbox")).unwrap();
        assert_eq!(
            resolve(root.path(), &path("inbox")).unwrap(),
            PathBuf::from("Inbox")
        );
        fs::create_dir(root.path().join("inbox")).unwrap();
        assert_eq!(
            resolve(root.path(), &path("INBOX")).unwrap(),
            PathBuf::from("inbox")
        );
        for bad in ["work/.hidden", "2024", "a/12"] {
            let error = resolve(root.path(), &path(bad)).unwrap_err();
            assert_eq!(error.scope, ErrorScope::Folder);
            assert!(
                error.message.contains("rename the folder"),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn the_tree_is_read_from_directories() {
        let root = tempfile::tempdir().unwrap();
        for dir in [
            "inbox",
            "INBOX",
            "work/projects/deep",
            "Ärger",
            ".hidden/x",
            "2024",
            "drafts",
        ] {
            fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        fs::write(root.path().join("context"), "Current-Folder: inbox\n").unwrap();
        fs::write(root.path().join("drafts/1"), "x").unwrap();
        std::os::unix::fs::symlink(root.path(), root.path().join("work/loop")).unwrap();
        let found: Vec<String> = scan(root.path())
            .unwrap()
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            found,
            vec![
                "INBOX",
                "drafts",
                "work",
                "work/loop",
                "work/projects",
                "work/projects/deep",
                "Ärger"
            ]
        );
    }
}
