//! "Nothing changed on disk" checks: a snapshot of every entry below a directory, and
//! [`Frozen`], the snapshots of a sandbox's Maildirs and metadata.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::Sandbox;

/// One entry of a [`snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File(Vec<u8>),
    Symlink(PathBuf),
}

/// Everything below `root` (names relative to it, file contents, symlink targets), for
/// "nothing changed" checks. A missing root is an empty snapshot.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("read a directory entry").path();
            let relative = path.strip_prefix(root).expect("below the root").to_owned();
            let metadata = fs::symlink_metadata(&path).expect("stat an entry");
            if metadata.is_symlink() {
                let target = fs::read_link(&path).expect("read a symlink");
                out.insert(relative, Entry::Symlink(target));
            } else if metadata.is_dir() {
                out.insert(relative, Entry::Dir);
                walk(root, &path, out);
            } else {
                let content = fs::read(&path).expect("read a file");
                out.insert(relative, Entry::File(content));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Panics, naming what differs, unless two snapshots are equal.
#[track_caller]
pub fn assert_same_snapshot(
    what: &str,
    before: &BTreeMap<PathBuf, Entry>,
    after: &BTreeMap<PathBuf, Entry>,
) {
    let mut differences = Vec::new();
    for (path, entry) in before {
        match after.get(path) {
            None => differences.push(format!("removed: {}", path.display())),
            Some(other) if other != entry => {
                differences.push(format!("changed: {}", path.display()))
            }
            Some(_) => {}
        }
    }
    for path in after.keys() {
        if !before.contains_key(path) {
            differences.push(format!("added: {}", path.display()));
        }
    }
    assert!(
        differences.is_empty(),
        "{what} changed on disk:\n  {}",
        differences.join("\n  ")
    );
}

/// Both Maildirs and the metadata directory as they were, to check nothing changed.
pub struct Frozen {
    roots: Vec<(PathBuf, BTreeMap<PathBuf, Entry>)>,
}

impl Frozen {
    pub fn take(roots: &[PathBuf]) -> Frozen {
        Frozen {
            roots: roots.iter().map(|r| (r.clone(), snapshot(r))).collect(),
        }
    }

    pub fn of(sandbox: &Sandbox) -> Frozen {
        Frozen::take(&[sandbox.local(), sandbox.remote(), sandbox.metadata()])
    }

    #[track_caller]
    pub fn assert_unchanged(&self) {
        for (root, before) in &self.roots {
            assert_same_snapshot(&root.display().to_string(), before, &snapshot(root));
        }
    }
}
