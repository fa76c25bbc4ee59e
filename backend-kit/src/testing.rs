//! Helpers for the tests of file-based backends (a dev-dependency use, like
//! [`conformance`](crate::conformance)): a configuration naming a root, messages to
//! append, what a folder lists, the checks of the root option every such backend shares,
//! and a snapshot of a tree that shows whether anything on disk changed.
//!
//! They panic on any failure: they are meant to be called from `#[test]`s.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use backend_api::{
    BackendError, ErrorScope, Flags, Folder, FolderPath, LineEnding, NewMessage, Repository,
    RepositoryConfig, SystemFlag, Uid, UnixTime,
};

/// The section `[Repository NAME]` of a file-based store at `root` (`localfolders`).
pub fn file_config(name: &str, root: &Path) -> RepositoryConfig {
    let root = root.to_str().expect("test roots are UTF-8");
    RepositoryConfig::new(name).with("localfolders", root)
}

/// `config` for a dry run.
pub fn dry_run(config: RepositoryConfig) -> RepositoryConfig {
    RepositoryConfig {
        read_only: true,
        ..config
    }
}

/// The folder path `name`, which must be valid.
pub fn path(name: &str) -> FolderPath {
    FolderPath::new(name).expect("a valid folder path")
}

/// A message to append.
pub fn message(bytes: &[u8], flags: &[SystemFlag], date: Option<UnixTime>) -> NewMessage {
    NewMessage {
        bytes: bytes.to_vec().into(),
        flags: Flags::from_system(flags),
        internal_date: date,
    }
}

/// The UIDs `folder` lists, in its order.
pub fn uids(folder: &mut dyn Folder) -> Vec<Uid> {
    let listed = folder.list_messages().expect("the folder lists");
    listed.iter().map(|m| m.uid).collect()
}

/// The flags of every message `folder` lists.
pub fn flags_by_uid(folder: &mut dyn Folder) -> BTreeMap<Uid, Flags> {
    let listed = folder.list_messages().expect("the folder lists");
    listed.into_iter().map(|m| (m.uid, m.flags)).collect()
}

/// The bytes of the message `uid`, which must exist.
pub fn fetch_one(folder: &mut dyn Folder, uid: Uid) -> Vec<u8> {
    let mut fetched = folder.fetch_messages(&[uid]).expect("the folder fetches");
    assert_eq!(fetched.len(), 1, "UID {uid} fetched");
    fetched.remove(0).bytes.into_vec()
}

/// Checks what every file-based backend does with `localfolders`, through `open` (its
/// `Backend::open`) and `config` (a configuration naming a root), in the empty scratch
/// directory `root`: a missing option and a file in its place are repository-level errors
/// naming the option; a missing root is created, except in a dry run, which lists it as
/// empty; messages are stored with LF.
pub fn check_root_option(
    root: &Path,
    open: impl Fn(RepositoryConfig) -> Result<Box<dyn Repository>, BackendError>,
    config: impl Fn(&Path) -> RepositoryConfig,
) {
    let missing = open(RepositoryConfig::new("local")).err().expect("no root");
    assert_eq!(missing.scope, ErrorScope::Repository);
    assert!(
        missing.message.contains("'localfolders' is missing"),
        "{}",
        missing.message
    );

    let file = root.join("a-file");
    fs::write(&file, "").expect("a file");
    let error = open(config(&file)).err().expect("a file is no root");
    assert!(
        error.message.contains("option 'localfolders'")
            && error.message.contains("is a file, not a directory"),
        "{}",
        error.message
    );

    let nested = root.join("not/yet/there");
    let repository = open(dry_run(config(&nested))).expect("a dry run opens");
    assert!(!nested.exists(), "a dry run created the root");
    assert!(repository.list_folders().expect("it lists").is_empty());
    let repository = open(config(&nested)).expect("it opens");
    assert!(nested.is_dir(), "the root was not created");
    let info = repository.info().expect("info");
    assert_eq!(info.line_ending, LineEnding::Lf);
}

/// Everything below a root: per entry (relative path) its kind and modification time,
/// and its content (a link's target). The root's own mtime is included; directory mtimes
/// catch any name added, removed or renamed in them.
pub type Snapshot = BTreeMap<PathBuf, (String, Vec<u8>)>;

/// The [`Snapshot`] of `root` (empty if it does not exist): compare two to tell that
/// nothing on disk changed, e.g. in a dry run.
pub fn snapshot(root: &Path) -> Snapshot {
    fn walk(root: &Path, dir: &Path, out: &mut Snapshot) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let metadata = fs::symlink_metadata(&path).expect("stat");
            let mtime = format!("{:?}", metadata.modified().expect("an mtime"));
            let relative = path.strip_prefix(root).expect("below the root").to_owned();
            if metadata.is_symlink() {
                let target = fs::read_link(&path).expect("a link target");
                let target = target.into_os_string().into_encoded_bytes();
                out.insert(relative, (format!("link {mtime}"), target));
            } else if metadata.is_dir() {
                out.insert(relative, (format!("dir {mtime}"), Vec::new()));
                walk(root, &path, out);
            } else {
                let bytes = fs::read(&path).expect("a readable file");
                out.insert(relative, (format!("file {mtime}"), bytes));
            }
        }
    }
    let mut out = Snapshot::new();
    if let Ok(metadata) = fs::metadata(root) {
        let mtime = metadata.modified().expect("an mtime");
        out.insert(PathBuf::new(), (format!("root {mtime:?}"), Vec::new()));
    }
    walk(root, root, &mut out);
    out
}
