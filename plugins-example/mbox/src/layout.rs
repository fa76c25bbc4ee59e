//! Where a folder lives under the root: one mbox file per folder, a directory tree for
//! the hierarchy.
//!
//! Folders are laid out as Thunderbird does: `Work/Projects` is the file `Projects` in the
//! directory `Work.sbd`, beside the file `Work`. So a folder can hold messages and
//! subfolders at once, which IMAP allows and a plain directory tree cannot. mutt and
//! neomutt open such files like any other (`Work.sbd` is just a directory to them).
//!
//! The plain directory tree mutt users build by hand is read too: a directory `Work`
//! (without `.sbd`) holding mbox files is a folder `Work` that holds no messages (a
//! non-selectable container) with those files as its subfolders, and new subfolders of
//! `Work` go in that directory. Such a `Work` can never hold messages itself (a name is
//! a file or a directory, not both); creating it is refused with a hint to rename the
//! directory to `Work.sbd`. Where both `Work/` and `Work.sbd/` exist, `Work.sbd/` wins.
//!
//! `INBOX` is the top-level file `INBOX`, or any spelling of it (`inbox`, Thunderbird's
//! `Inbox`): the first found wins, the exact `INBOX` before others.
//!
//! Names are the folder names themselves, in UTF-8 (mutt and Thunderbird use them so on
//! Unix). Some names cannot be folder names here, because files of that name mean
//! something else beside an mbox: names starting with `.` (our index and temporary files,
//! and what mail clients hide) and names ending in `.sbd` (subfolder directories), `.lock`
//! (dotlocks) or `.msf` (Thunderbird's summaries).
//!
//! A file is an mbox if it is empty or starts with `From `; other files under the root
//! (Thunderbird's `filterlog.html`, say) are not folders. Directories that are Maildirs
//! (with `cur/` and `new/`) are skipped too.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use backend_api::{BackendError, FolderPath};
use backend_kit::tree::{self, is_maildir, spells_inbox};

use crate::format::FROM;

/// The suffix of Thunderbird's subfolder directories.
pub(crate) const SUBFOLDERS: &str = ".sbd";

const RESERVED_SUFFIXES: [&str; 3] = [SUBFOLDERS, ".lock", ".msf"];

/// Deeper than this, a tree is surely a loop of symbolic links or a mistake.
const MAX_DEPTH: usize = 64;

/// Why `component` cannot name a folder in an mbox tree, if it cannot.
fn unusable(component: &str) -> Option<String> {
    if component.starts_with('.') {
        return Some("it starts with '.' (hidden files are not folders)".to_owned());
    }
    RESERVED_SUFFIXES
        .iter()
        .find(|suffix| component.ends_with(*suffix))
        .map(|suffix| {
            format!("it ends in '{suffix}', which marks files that are not folders beside an mbox")
        })
}

/// Checks every component of `path`.
pub(crate) fn check(path: &FolderPath) -> Result<(), BackendError> {
    for component in path.components() {
        if let Some(reason) = unusable(component) {
            return Err(BackendError::folder(format!(
                "folder {path} cannot be stored in an mbox tree: its part {component:?} is not \
                 a usable file name: {reason}"
            )));
        }
    }
    Ok(())
}

/// Whether the file at `path` is an mbox: empty or starting with `From `.
pub(crate) fn looks_like_mbox(path: &Path) -> bool {
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let mut start = [0u8; 5];
    let mut read = 0;
    while read < start.len() {
        match file.read(&mut start[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    read == 0 || (read == start.len() && start == FROM)
}

/// What a name in a directory is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
}

fn kind_of(path: &Path) -> Option<Kind> {
    let metadata = fs::metadata(path).ok()?;
    if metadata.is_file() {
        Some(Kind::File)
    } else if metadata.is_dir() {
        Some(Kind::Dir)
    } else {
        None
    }
}

/// The names in `dir` that are some spelling of `INBOX` + `suffix` and are of `kind`,
/// the exact spelling first, then in name order. Empty if `dir` cannot be read.
fn inbox_spellings(dir: &Path, suffix: &str, kind: Kind) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let stems = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| Some(name.strip_suffix(suffix)?.to_owned()))
        .filter(|stem| {
            spells_inbox(stem) && kind_of(&dir.join(format!("{stem}{suffix}"))) == Some(kind)
        });
    tree::inbox_spellings(stems, "INBOX")
        .into_iter()
        .map(|stem| stem + suffix)
        .collect()
}

/// The file name of a folder's mbox in `dir` for `component`. At the top, `INBOX` is
/// matched in any spelling.
fn leaf_name(dir: &Path, component: &str, top: bool) -> String {
    if top && component == "INBOX" {
        if let Some(name) = inbox_spellings(dir, "", Kind::File).into_iter().next() {
            return name;
        }
    }
    component.to_owned()
}

/// The existing directory in `dir` holding the subfolders of `component`: `NAME.sbd`,
/// else a plain directory `NAME` (mutt's layout).
fn existing_children(dir: &Path, component: &str, top: bool) -> Option<PathBuf> {
    if top && component == "INBOX" {
        if let Some(name) = inbox_spellings(dir, SUBFOLDERS, Kind::Dir)
            .into_iter()
            .next()
        {
            return Some(dir.join(name));
        }
        return inbox_spellings(dir, "", Kind::Dir)
            .into_iter()
            .next()
            .map(|name| dir.join(name));
    }
    let sbd = dir.join(format!("{component}{SUBFOLDERS}"));
    if sbd.is_dir() {
        return Some(sbd);
    }
    let plain = dir.join(component);
    plain.is_dir().then_some(plain)
}

/// Where a folder is, or would be.
pub(crate) struct Location {
    /// The mbox file.
    pub file: PathBuf,
    /// The subfolder directories that do not exist yet, outermost first (empty when the
    /// folder's directory exists).
    pub missing_dirs: Vec<PathBuf>,
}

/// Finds where `path` is stored under `root`: existing directories are followed as they
/// are; missing ones would be `NAME.sbd`.
pub(crate) fn locate(root: &Path, path: &FolderPath) -> Result<Location, BackendError> {
    check(path)?;
    let components: Vec<&str> = path.components().collect();
    let (leaf, parents) = components
        .split_last()
        .ok_or_else(|| BackendError::folder("an empty folder name"))?;
    let mut dir = root.to_path_buf();
    let mut missing_dirs = Vec::new();
    for (depth, component) in parents.iter().enumerate() {
        let top = depth == 0;
        dir = match existing_children(&dir, component, top).filter(|_| missing_dirs.is_empty()) {
            Some(children) => children,
            None => {
                let name = leaf_name(&dir, component, top);
                let children = dir.join(format!("{name}{SUBFOLDERS}"));
                missing_dirs.push(children.clone());
                children
            }
        };
    }
    let name = if missing_dirs.is_empty() {
        leaf_name(&dir, leaf, parents.is_empty())
    } else {
        (*leaf).to_owned()
    };
    Ok(Location {
        file: dir.join(name),
        missing_dirs,
    })
}

/// Every folder under `root`: path -> selectable (holds messages).
pub(crate) fn scan(root: &Path) -> Result<BTreeMap<FolderPath, bool>, BackendError> {
    let mut found = BTreeMap::new();
    scan_dir(root, None, 0, &mut found)?;
    Ok(found)
}

fn scan_dir(
    dir: &Path,
    parent: Option<&FolderPath>,
    depth: usize,
    found: &mut BTreeMap<FolderPath, bool>,
) -> Result<(), BackendError> {
    if depth > MAX_DEPTH {
        log::warn!(
            "not looking for folders below {}: deeper than {MAX_DEPTH} levels (a loop?)",
            dir.display()
        );
        return Ok(());
    }
    let entries = fs::read_dir(dir).map_err(|error| {
        BackendError::io(
            backend_api::ErrorScope::Repository,
            format_args!("cannot list the folders in {}", dir.display()),
            &error,
        )
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| {
            BackendError::io(
                backend_api::ErrorScope::Repository,
                format_args!("cannot list the folders in {}", dir.display()),
                &error,
            )
        })?;
        match entry.file_name().into_string() {
            Ok(name) if !name.starts_with('.') => names.push(name),
            Ok(_) => {}
            Err(name) => log::warn!(
                "skipping {}: its name is not UTF-8",
                dir.join(name).display()
            ),
        }
    }
    names.sort();
    let top = parent.is_none();
    // At the top, only one spelling of INBOX of each kind counts.
    let inbox_file = top.then(|| inbox_spellings(dir, "", Kind::File));
    let inbox_children = top.then(|| {
        let mut dirs = inbox_spellings(dir, SUBFOLDERS, Kind::Dir);
        dirs.extend(inbox_spellings(dir, "", Kind::Dir));
        dirs
    });
    let child_path = |name: &str| -> Option<FolderPath> {
        let full = match parent {
            Some(parent) => format!("{parent}/{name}"),
            None => name.to_owned(),
        };
        match FolderPath::new(full) {
            Ok(path) => Some(path),
            Err(error) => {
                log::warn!("skipping {}: {error}", dir.join(name).display());
                None
            }
        }
    };
    let is_inbox = |name: &str| top && spells_inbox(name);
    for name in &names {
        let full = dir.join(name);
        match kind_of(&full) {
            Some(Kind::File) => {
                if unusable(name).is_some() || !looks_like_mbox(&full) {
                    continue;
                }
                if is_inbox(name) && inbox_file.as_ref().and_then(|n| n.first()) != Some(name) {
                    log::warn!(
                        "ignoring {}: {} is the INBOX",
                        full.display(),
                        inbox_file
                            .iter()
                            .flatten()
                            .next()
                            .map_or("", String::as_str)
                    );
                    continue;
                }
                if let Some(path) = child_path(name) {
                    found.insert(path, true);
                }
            }
            Some(Kind::Dir) => {
                let (folder, sbd) = match name.strip_suffix(SUBFOLDERS) {
                    Some(base) if !base.is_empty() => (base, true),
                    Some(_) => continue,
                    None => (name.as_str(), false),
                };
                if unusable(folder).is_some() {
                    continue;
                }
                if !sbd {
                    if names.contains(&format!("{name}{SUBFOLDERS}")) {
                        log::warn!(
                            "ignoring the directory {}: {name}{SUBFOLDERS} holds the \
                             subfolders of {name}",
                            full.display()
                        );
                        continue;
                    }
                    if is_maildir(&full) {
                        continue;
                    }
                }
                if is_inbox(folder) && inbox_children.as_ref().and_then(|n| n.first()) != Some(name)
                {
                    log::warn!(
                        "ignoring {}: another spelling holds INBOX's subfolders",
                        full.display()
                    );
                    continue;
                }
                let Some(path) = child_path(folder) else {
                    continue;
                };
                found.entry(path.clone()).or_insert(false);
                scan_dir(&full, Some(&path), depth + 1, found)?;
            }
            None => {}
        }
    }
    Ok(())
}
