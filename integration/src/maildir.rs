//! A mail client's view of a Maildir, independent of the plugin: delivering a message,
//! renaming it to change flags, and reading folders, messages and flags back from file
//! names and contents, with the assertions built on them.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The Maildir subdirectories.
pub const SUBDIRS: [&str; 3] = ["cur", "new", "tmp"];

/// Creates a Maildir folder (`cur/`, `new/`, `tmp/`) at `dir`, with its parents.
pub fn create_folder(dir: &Path) -> PathBuf {
    for sub in SUBDIRS {
        fs::create_dir_all(dir.join(sub)).expect("create a Maildir folder");
    }
    dir.to_owned()
}

/// A unique part in the classic `time.MmPp.host` style, as mail clients write it.
fn client_unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("1700000000.M{n}P{}.testhost", std::process::id())
}

/// Delivers `content` into `folder/new/` as a mail delivery agent does: a fresh name,
/// no UID, no info part. Returns the file's path.
pub fn deliver_new(folder: &Path, content: &[u8]) -> PathBuf {
    let path = folder.join("new").join(client_unique());
    fs::write(&path, content).expect("deliver a message into new/");
    path
}

/// Stores `content` into `folder/cur/` with `flags` (e.g. `"S"`) as a mail client does:
/// a fresh name, no UID, an info part `:2,FLAGS`. Returns the file's path.
pub fn deliver_cur(folder: &Path, content: &[u8], flags: &str) -> PathBuf {
    let path = folder
        .join("cur")
        .join(format!("{}:2,{flags}", client_unique()));
    fs::write(&path, content).expect("store a message into cur/");
    path
}

/// The flag letters of a message file name: what follows `:2,` (empty without it).
pub fn flags_of(file_name: &str) -> String {
    match file_name.rsplit_once(":2,") {
        Some((_, flags)) => flags.to_owned(),
        None => String::new(),
    }
}

/// `flags` with its letters sorted and deduplicated, for comparisons.
pub fn sorted_flags(flags: &str) -> String {
    let mut letters: Vec<char> = flags.chars().collect();
    letters.sort_unstable();
    letters.dedup();
    letters.into_iter().collect()
}

/// One message file of a folder.
#[derive(Clone, Debug)]
pub struct MessageFile {
    pub path: PathBuf,
    pub content: Vec<u8>,
    /// The letters after `:2,`, as in the name.
    pub flags: String,
}

/// Every message file in `folder`'s `new/` and `cur/`, sorted by path. Panics on an
/// unreadable one (a test that plants one reads the folder itself).
pub fn messages(folder: &Path) -> Vec<MessageFile> {
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        let dir = folder.join(sub);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("read a Maildir directory entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("a UTF-8 file name")
                .to_owned();
            let content = fs::read(&path)
                .unwrap_or_else(|e| panic!("cannot read message {}: {e}", path.display()));
            files.push(MessageFile {
                path,
                content,
                flags: flags_of(&name),
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// A folder as content -> flag letters (sorted). Panics if two files hold the same content:
/// the tests give every message a distinct content, so a duplicate is a sync bug.
pub fn folder_map(folder: &Path) -> BTreeMap<Vec<u8>, String> {
    let mut map = BTreeMap::new();
    for message in messages(folder) {
        if let Some(previous) = map.insert(message.content.clone(), sorted_flags(&message.flags)) {
            panic!(
                "duplicate message in {} (flags {previous:?} and {:?}, file {}):\n{}",
                folder.display(),
                message.flags,
                message.path.display(),
                String::from_utf8_lossy(&message.content)
            );
        }
    }
    map
}

/// The folders under a Maildir root, by directory relative to the root (`INBOX`,
/// `Work.Projects`, or `Work/Projects` with nested directories): every directory that has
/// `cur/` and `new/`.
pub fn folders(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("read a directory entry").path();
            if !path.is_dir() || path.is_symlink() {
                continue;
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if SUBDIRS.contains(&name) && dir != root {
                continue;
            }
            if path.join("cur").is_dir() && path.join("new").is_dir() {
                let relative = path
                    .strip_prefix(root)
                    .expect("below the root")
                    .to_str()
                    .expect("a UTF-8 folder name")
                    .to_owned();
                out.push(relative);
            }
            walk(root, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// A whole Maildir tree: folder -> content -> flags. See [`folder_map`].
pub fn tree_map(root: &Path) -> BTreeMap<String, BTreeMap<Vec<u8>, String>> {
    folders(root)
        .into_iter()
        .map(|folder| {
            let map = folder_map(&root.join(&folder));
            (folder, map)
        })
        .collect()
}

/// Panics, showing the first difference, unless two trees hold the same folders with the
/// same messages and flags.
#[track_caller]
pub fn assert_same_tree(
    a: &BTreeMap<String, BTreeMap<Vec<u8>, String>>,
    b: &BTreeMap<String, BTreeMap<Vec<u8>, String>>,
) {
    let names_a: Vec<&String> = a.keys().collect();
    let names_b: Vec<&String> = b.keys().collect();
    assert_eq!(names_a, names_b, "the two sides hold different folders");
    for (folder, messages_a) in a {
        let messages_b = &b[folder];
        for (content, flags) in messages_a {
            match messages_b.get(content) {
                None => panic!(
                    "folder {folder}: a message is only on the first side (flags {flags:?}):\n{}",
                    String::from_utf8_lossy(content)
                ),
                Some(other) => assert_eq!(
                    flags,
                    other,
                    "folder {folder}: flags differ for:\n{}",
                    String::from_utf8_lossy(content)
                ),
            }
        }
        for content in messages_b.keys() {
            assert!(
                messages_a.contains_key(content),
                "folder {folder}: a message is only on the second side:\n{}",
                String::from_utf8_lossy(content)
            );
        }
    }
}

/// Every message file under `root` is named `<unique>,U=<uid>,FMD5=<md5 of its folder>`
/// (plus `:2,FLAGS` in `cur/`, nothing in `new/`), and the UIDs of a folder are distinct.
#[track_caller]
pub fn assert_names_carry_uids(root: &Path) {
    for folder in folders(root) {
        let fmd5 = format!("{:x}", md5::compute(folder.as_bytes()));
        let mut uids = Vec::new();
        for message in messages(&root.join(&folder)) {
            let name = message
                .path
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let subdir = message.path.parent().unwrap().file_name().unwrap();
            let stem = match name.rsplit_once(":2,") {
                Some((stem, _)) => {
                    assert_eq!(subdir, "cur", "{name}: a file with flags belongs in cur/");
                    stem
                }
                None => name.as_str(),
            };
            let fields: Vec<&str> = stem.split(',').collect();
            let uid = fields
                .iter()
                .find_map(|f| f.strip_prefix("U="))
                .unwrap_or_else(|| panic!("{}: no U= field", message.path.display()));
            let uid: u32 = uid
                .parse()
                .unwrap_or_else(|_| panic!("{}: U= is not a number", message.path.display()));
            assert!(uid > 0, "{}: UID 0", message.path.display());
            assert!(
                fields.contains(&format!("FMD5={fmd5}").as_str()),
                "{}: expected FMD5={fmd5} (md5 of {folder:?})",
                message.path.display()
            );
            uids.push(uid);
        }
        let count = uids.len();
        uids.sort_unstable();
        uids.dedup();
        assert_eq!(uids.len(), count, "{folder}: two files share a UID");
    }
}

/// The files left in any `tmp/` of the Maildir tree at `root`.
pub fn tmp_leftovers(root: &Path) -> Vec<PathBuf> {
    let mut left = Vec::new();
    for folder in folders(root) {
        if let Ok(entries) = fs::read_dir(root.join(&folder).join("tmp")) {
            left.extend(entries.map(|e| e.expect("read tmp/").path()));
        }
    }
    left.sort();
    left
}

/// Files in the folder directories of the Maildir tree at `root` that are neither a
/// Maildir subdirectory, nor a folder below it, nor the folder's `.twinbox-uidvalidity`:
/// what an interrupted write could leave behind.
pub fn stray_files(root: &Path) -> Vec<PathBuf> {
    let mut stray = Vec::new();
    for folder in folders(root) {
        let dir = root.join(&folder);
        for entry in fs::read_dir(&dir).expect("read a folder directory") {
            let path = entry.expect("read a folder directory entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !path.is_dir() && name != ".twinbox-uidvalidity" {
                stray.push(path);
            }
        }
    }
    stray.sort();
    stray
}

/// Changes a message's flags as a mail client does: renames it into `cur/` with the info
/// part `:2,FLAGS`. Returns the new path.
pub fn set_flags(path: &Path, flags: &str) -> PathBuf {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a UTF-8 file name");
    let stem = match name.rsplit_once(":2,") {
        Some((stem, _)) => stem,
        None => name,
    };
    let folder = path
        .parent()
        .and_then(Path::parent)
        .expect("a message inside <folder>/cur or <folder>/new");
    let target = folder.join("cur").join(format!("{stem}:2,{flags}"));
    fs::rename(path, &target).expect("rename a message to change its flags");
    target
}

/// The file in `folder` whose content is `content`. Panics unless there is exactly one.
#[track_caller]
pub fn find_message(folder: &Path, content: &[u8]) -> PathBuf {
    let found: Vec<MessageFile> = messages(folder)
        .into_iter()
        .filter(|m| m.content == content)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "exactly one file in {} should hold:\n{}",
        folder.display(),
        String::from_utf8_lossy(content)
    );
    found[0].path.clone()
}

/// Every message file of the Maildir tree at `root` (the `new/` and `cur/` of every folder),
/// by path relative to the root: (inode, content). Equal maps before and after a run mean
/// no message file was written, renamed, copied or removed.
pub fn message_files(root: &Path) -> BTreeMap<PathBuf, (u64, Vec<u8>)> {
    let mut files = BTreeMap::new();
    for folder in folders(root) {
        for message in messages(&root.join(&folder)) {
            let inode = fs::metadata(&message.path)
                .unwrap_or_else(|e| panic!("stat {}: {e}", message.path.display()))
                .ino();
            let relative = message
                .path
                .strip_prefix(root)
                .expect("below the root")
                .to_owned();
            files.insert(relative, (inode, message.content));
        }
    }
    files
}

/// Every message file of the Maildir tree at `root` by inode: (folder, content). Equal maps
/// before and after a run mean no message was rewritten, copied, removed or moved to another
/// folder; renames within a folder (flags, a UID added to the name) are allowed.
pub fn files_by_inode(root: &Path) -> BTreeMap<u64, (String, Vec<u8>)> {
    message_files(root)
        .into_iter()
        .map(|(path, (inode, content))| {
            let folder = path
                .parent()
                .and_then(Path::parent)
                .and_then(Path::to_str)
                .expect("<folder>/cur/<file>")
                .to_owned();
            (inode, (folder, content))
        })
        .collect()
}
