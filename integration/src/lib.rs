//! Helpers for the end-to-end tests: they drive twinbox exactly as a user does.
//!
//! # Why the tests look like this
//!
//! Every test runs the real `twinbox` binary, which loads the real plugins with `dlopen`,
//! against real directories; nothing is linked in. That is the only way to see what a user
//! sees: the exit code, the one line on stderr, the summary on stdout, and what is left on
//! disk. The helpers therefore do what a user or a mail client would do (write a config
//! file, drop a message into `new/`, rename a file to change its flags, unlink it to
//! delete it) and read the result back the same way, from file names and contents.
//!
//! Each test gets a [`Sandbox`]: a temporary directory holding `HOME`,
//! `XDG_CONFIG_HOME`, `XDG_DATA_HOME`, both Maildir roots and the metadata directory, so
//! nothing touches the real home and tests can run in parallel.
//!
//! The binaries are not built by `cargo test -p twinbox-integration` (plugins are
//! `cdylib`s that no test links); run `cargo build --workspace` first. [`target_dir`]
//! says so when they are missing.

pub mod corpus;
pub mod dovecot;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// The Maildir subdirectories.
pub const SUBDIRS: [&str; 3] = ["cur", "new", "tmp"];

/// The file name of the Maildir plugin, as `cargo build --workspace` leaves it.
pub const MAILDIR_PLUGIN: &str = "libtwinbox_maildir.so";

/// The file name of the test plugin whose repositories panic (type `Panicking`).
pub const PANICKING_PLUGIN: &str = "libtwinbox_test_panicking.so";

/// A test plugin that claims a future major interface version (type `Future`).
pub const FUTURE_PLUGIN: &str = "libtwinbox_test_future.so";

/// The message every panic of the `Panicking` plugin carries.
pub const PANIC_MESSAGE: &str = "deliberate test panic";

/// `target/debug` (or whichever profile directory the test runs from): the test binary is
/// `<dir>/deps/<name>-<hash>`. Panics, saying what to run, if `twinbox` or the plugins are
/// not there.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test executable");
    let deps = exe.parent().expect("the test executable's directory");
    let dir = if deps.file_name().is_some_and(|name| name == "deps") {
        deps.parent().expect("the directory above deps/").to_owned()
    } else {
        deps.to_owned()
    };
    for file in ["twinbox", MAILDIR_PLUGIN, PANICKING_PLUGIN] {
        assert!(
            dir.join(file).is_file(),
            "{} is missing: run `cargo build --workspace` before `cargo test -p twinbox-integration` \
             (the end-to-end tests run the real binary and plugins)",
            dir.join(file).display()
        );
    }
    dir
}

/// The `twinbox` executable under test.
pub fn twinbox_bin() -> PathBuf {
    target_dir().join("twinbox")
}

/// What one run of twinbox did.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The exit code; `None` if a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    fn from_output(output: Output) -> Outcome {
        Outcome {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with everything twinbox said unless it exited with `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Outcome {
        assert_eq!(self.code, Some(code), "unexpected exit status\n{self}");
        self
    }

    /// Panics unless the exit code is 0 and stderr is empty.
    #[track_caller]
    pub fn assert_success(&self) -> &Outcome {
        self.assert_code(0);
        assert_eq!(
            self.stderr, "",
            "a successful sync should print nothing on stderr\n{self}"
        );
        self
    }

    /// The stdout line of account `account`'s total (`Account NAME: ...`).
    #[track_caller]
    pub fn account_line(&self, account: &str) -> &str {
        let prefix = format!("Account {account}: ");
        let lines: Vec<&str> = self
            .stdout
            .lines()
            .filter(|line| line.starts_with(&prefix))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "one summary line for account {account}\n{self}"
        );
        lines[0]
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit status: {:?}\n--- stdout ---\n{}--- stderr ---\n{}--------------",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A temporary world for one test: home, XDG directories, two Maildir roots, a metadata
/// directory and a config file. Everything is removed when it is dropped.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// An empty sandbox: `home/`, `config/`, `data/` exist; the Maildir roots and the
    /// metadata directory do not yet.
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("twinbox-e2e-")
            .tempdir()
            .expect("a temporary directory");
        for sub in ["home", "config", "data"] {
            fs::create_dir(dir.path().join(sub)).expect("create a sandbox directory");
        }
        Sandbox { dir }
    }

    /// The sandbox's root directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `$HOME` of every run.
    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    /// The local Maildir root of [`Sandbox::write_two_maildirs_config`].
    pub fn local(&self) -> PathBuf {
        self.path().join("local")
    }

    /// The remote Maildir root of [`Sandbox::write_two_maildirs_config`].
    pub fn remote(&self) -> PathBuf {
        self.path().join("remote")
    }

    /// The metadata directory (`[general] metadata`).
    pub fn metadata(&self) -> PathBuf {
        self.path().join("state")
    }

    /// The config file [`Sandbox::write_config`] writes and [`Sandbox::run`] passes.
    pub fn config_path(&self) -> PathBuf {
        self.path().join("twinboxrc")
    }

    /// Writes the config file.
    pub fn write_config(&self, text: &str) {
        fs::write(self.config_path(), text).expect("write the config file");
    }

    /// The config of one account `account` syncing the repository sections `local` and
    /// `remote` (as made by [`repository_section`], named `Local` and `Remote`);
    /// `account_options` lines go into `[Account]`.
    pub fn account_config(
        &self,
        account: &str,
        account_options: &str,
        local: &str,
        remote: &str,
    ) -> String {
        format!(
            "[general]\n\
             accounts = {account}\n\
             metadata = {metadata}\n\
             \n\
             [Account {account}]\n\
             localrepository = Local\n\
             remoterepository = Remote\n\
             {account_options}\n\
             \n\
             {local}\n\
             {remote}",
            metadata = self.metadata().display(),
        )
    }

    /// The config of one account `Test` syncing the Maildir [`Sandbox::local`] with the
    /// Maildir [`Sandbox::remote`]; `extra` lines go into both repository sections.
    pub fn two_maildirs_config(&self, extra: &str) -> String {
        let maildir = |root: PathBuf| {
            format!(
                "type = Maildir\nlocalfolders = {}\n{extra}\n",
                root.display()
            )
        };
        self.account_config(
            "Test",
            "",
            &repository_section("Local", &maildir(self.local())),
            &repository_section("Remote", &maildir(self.remote())),
        )
    }

    /// Writes [`Sandbox::two_maildirs_config`].
    pub fn write_two_maildirs_config(&self, extra: &str) {
        self.write_config(&self.two_maildirs_config(extra));
    }

    /// A `twinbox` command with `-c <config> --plugin-dir <target/debug>` and `args`, its
    /// environment confined to the sandbox, stdin closed, output piped.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = self.bare_command();
        command
            .arg("-c")
            .arg(self.config_path())
            .arg("--plugin-dir")
            .arg(target_dir())
            .args(args);
        command
    }

    /// A `twinbox` command with only the sandbox's environment, no arguments.
    pub fn bare_command(&self) -> Command {
        self.bare_command_for(&twinbox_bin())
    }

    /// `program` (a copy of twinbox, see [`Sandbox::install`]) with only the sandbox's
    /// environment, no arguments.
    pub fn bare_command_for(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(self.path())
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_DATA_HOME", self.path().join("data"))
            .env_remove("TWINBOX_PLUGIN_PATH")
            .env_remove("RUST_LOG")
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs `twinbox -c <config> --plugin-dir <target/debug> ARGS` to the end.
    pub fn run(&self, args: &[&str]) -> Outcome {
        run_command(self.command(args))
    }

    /// Runs `twinbox sync` (plus `args`) and panics unless it succeeded.
    #[track_caller]
    pub fn sync_ok(&self, args: &[&str]) -> Outcome {
        let mut all = vec!["sync"];
        all.extend_from_slice(args);
        let outcome = self.run(&all);
        outcome.assert_success();
        outcome
    }
}

impl Sandbox {
    /// Copies `twinbox` and the two plugins into `<sandbox>/bin`, as an installation
    /// holding nothing else, so tests that depend on exactly which libraries are found
    /// (error messages, `twinbox plugins`) do not see whatever else `target/debug` holds.
    /// Returns the directory; the copied binary is `<dir>/twinbox`.
    pub fn install(&self) -> PathBuf {
        let dir = self.path().join("bin");
        fs::create_dir_all(&dir).expect("create the installation directory");
        for file in ["twinbox", MAILDIR_PLUGIN, PANICKING_PLUGIN] {
            fs::copy(target_dir().join(file), dir.join(file)).expect("copy a built file");
        }
        dir
    }

    /// Runs the installed copy in `dir` (see [`Sandbox::install`]) with
    /// `-c <config> --plugin-dir <dir> ARGS`.
    pub fn run_installed(&self, dir: &Path, args: &[&str]) -> Outcome {
        let mut command = self.bare_command_for(&dir.join("twinbox"));
        command
            .arg("-c")
            .arg(self.config_path())
            .arg("--plugin-dir")
            .arg(dir)
            .args(args);
        run_command(command)
    }
}

/// A `[Repository NAME]` section holding the option lines `options`.
pub fn repository_section(name: &str, options: &str) -> String {
    format!("[Repository {name}]\n{options}")
}

/// Runs a prepared command to the end and collects what it said.
pub fn run_command(mut command: Command) -> Outcome {
    let output = command.output().expect("run twinbox");
    Outcome::from_output(output)
}

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
/// Maildir subdirectory, nor a folder below it, nor the folder's `twinbox-uidvalidity`:
/// what an interrupted write could leave behind.
pub fn stray_files(root: &Path) -> Vec<PathBuf> {
    let mut stray = Vec::new();
    for folder in folders(root) {
        let dir = root.join(&folder);
        for entry in fs::read_dir(&dir).expect("read a folder directory") {
            let path = entry.expect("read a folder directory entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !path.is_dir() && name != "twinbox-uidvalidity" {
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

/// A small, distinct, realistic message; `tag` makes it unique.
pub fn message(tag: &str) -> Vec<u8> {
    format!(
        "Return-Path: <alice@example.org>\n\
         From: Alice <alice@example.org>\n\
         To: Bob <bob@example.net>\n\
         Subject: test message {tag}\n\
         Date: Tue, 14 Nov 2023 22:13:20 +0000\n\
         Message-ID: <{tag}@example.org>\n\
         MIME-Version: 1.0\n\
         Content-Type: text/plain; charset=utf-8\n\
         \n\
         This is message {tag}.\n\
         It has a second line, and an 8-bit one: caf\u{e9}.\n"
    )
    .into_bytes()
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

/// Several accounts in one config, for tests where a faulty repository must fail only its
/// own account. `Good` syncs the Maildirs `good-local` (its INBOX holds one message) and
/// `good-remote`; each entry of `bad` (account name, option lines of its remote repository)
/// syncs the Maildir `bad-local` (its INBOX holds one message) with that repository. The
/// bad accounts come first in `[general] accounts`.
pub struct MixedAccounts {
    pub good_local: PathBuf,
    pub good_remote: PathBuf,
    pub bad_local: PathBuf,
}

impl MixedAccounts {
    pub fn write(sandbox: &Sandbox, bad: &[(&str, &str)]) -> MixedAccounts {
        let accounts = MixedAccounts {
            good_local: sandbox.path().join("good-local"),
            good_remote: sandbox.path().join("good-remote"),
            bad_local: sandbox.path().join("bad-local"),
        };
        deliver_new(
            &create_folder(&accounts.good_local.join("INBOX")),
            &message("good"),
        );
        deliver_new(
            &create_folder(&accounts.bad_local.join("INBOX")),
            &message("bad"),
        );
        let names: Vec<&str> = bad.iter().map(|(name, _)| *name).chain(["Good"]).collect();
        let maildir = |root: &Path| format!("type = Maildir\nlocalfolders = {}\n", root.display());
        let mut config = format!(
            "[general]\naccounts = {}\nmetadata = {}\n\n\
             [Account Good]\nlocalrepository = GoodLocal\nremoterepository = GoodRemote\n\n{}\n{}\n{}",
            names.join(", "),
            sandbox.metadata().display(),
            repository_section("GoodLocal", &maildir(&accounts.good_local)),
            repository_section("GoodRemote", &maildir(&accounts.good_remote)),
            repository_section("BadLocal", &maildir(&accounts.bad_local)),
        );
        for (name, options) in bad {
            config.push_str(&format!(
                "\n[Account {name}]\nlocalrepository = BadLocal\nremoterepository = {name}Remote\n\n{}",
                repository_section(&format!("{name}Remote"), options)
            ));
        }
        sandbox.write_config(&config);
        accounts
    }
}
