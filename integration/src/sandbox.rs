//! The temporary world of one test and how twinbox runs in it: where the binary and the
//! plugins are, the sandbox's directories and environment, and the configs the tests write.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{assert_same_tree, create_folder, deliver_new, message, tree_map, Outcome};

/// The file name of the Maildir plugin, as `cargo build --workspace` leaves it.
pub const MAILDIR_PLUGIN: &str = "libtwinbox_maildir.so";

/// The file name of the test plugin whose repositories panic (type `Panicking`), in
/// [`test_plugin_dir`].
pub const PANICKING_PLUGIN: &str = "libtwinbox_test_panicking.so";

/// A test plugin that claims a future major interface version (type `Future`), in
/// [`test_plugin_dir`].
pub const FUTURE_PLUGIN: &str = "libtwinbox_test_future.so";

/// The test plugins (`integration/test-plugins`): cargo builds each as
/// `libtestplugin_<name>.so` next to twinbox, a name twinbox never loads, so that they
/// cannot pass for real plugins there; [`test_plugin_dir`] gives them plugin names.
const TEST_PLUGINS: [&str; 5] = ["panicking", "future", "garbage", "bad_layout", "frozen_v1"];

/// A directory of the test plugins under plugin names (`libtwinbox_test_<name>.so`,
/// symlinks to what cargo built): `target/debug/test-plugins`, made on first use. The
/// commands of [`Sandbox::command`] search it after `target/debug`.
pub fn test_plugin_dir() -> PathBuf {
    let dir = target_dir().join("test-plugins");
    fs::create_dir_all(&dir).expect("create target/debug/test-plugins");
    for name in TEST_PLUGINS {
        let link = dir.join(format!("libtwinbox_test_{name}.so"));
        let built = Path::new("..").join(format!("libtestplugin_{name}.so"));
        match std::os::unix::fs::symlink(&built, &link) {
            Ok(()) => {}
            // Made by an earlier test, or by another test process right now.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => panic!("cannot link {}: {error}", link.display()),
        }
    }
    dir
}

/// The message every panic of the `Panicking` plugin carries.
/// The test switch for the wait after an interrupted run (twinbox's
/// `engine::late_copies::LATE_COPY_GRACE_VARIABLE`).
pub const LATE_COPY_GRACE_VARIABLE: &str = "TWINBOX_TEST_LATE_COPY_GRACE_SECONDS";

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
    remove_stale_test_plugins(&dir);
    for file in ["twinbox", MAILDIR_PLUGIN, "libtestplugin_panicking.so"] {
        assert!(
            dir.join(file).is_file(),
            "{} is missing: run `cargo build --workspace` before `cargo test -p twinbox-integration` \
             (the end-to-end tests run the real binary and plugins)",
            dir.join(file).display()
        );
    }
    dir
}

/// Removes the test plugins an older build left in `dir` under plugin names
/// (`libtwinbox_test_*.so`, before they were named `libtestplugin_*.so`): cargo never
/// removes them, and twinbox would load them from there as plugins.
fn remove_stale_test_plugins(dir: &Path) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for name in TEST_PLUGINS {
            let _ = fs::remove_file(dir.join(format!("libtwinbox_test_{name}.so")));
        }
    });
}

/// The `twinbox` executable under test.
pub fn twinbox_bin() -> PathBuf {
    target_dir().join("twinbox")
}

/// A temporary world for one test: home, XDG directories, two Maildir roots, a metadata
/// directory and a config file. Everything is removed when it is dropped.
pub struct Sandbox {
    dir: tempfile::TempDir,
    /// Seconds of twinbox's wait after an interrupted run (see [`Sandbox::bare_command_for`]).
    late_copy_grace: std::sync::atomic::AtomicU64,
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
        Sandbox {
            dir,
            late_copy_grace: std::sync::atomic::AtomicU64::new(1),
        }
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

    /// A `twinbox` command with `-c <config> --plugin-dir <target/debug> --plugin-dir
    /// <the test plugins>` and `args`, its environment confined to the sandbox, stdin
    /// closed, output piped.
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
            .arg("--plugin-dir")
            .arg(test_plugin_dir())
            .args(args);
        command
    }

    /// Seconds a run right after an interrupted one waits for copies still on their way:
    /// 1 unless set with [`Sandbox::set_late_copy_grace`].
    pub fn late_copy_grace(&self) -> u64 {
        self.late_copy_grace
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sets [`Sandbox::late_copy_grace`] for the runs from now on.
    pub fn set_late_copy_grace(&self, seconds: u64) {
        self.late_copy_grace
            .store(seconds, std::sync::atomic::Ordering::SeqCst);
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
            // A run right after an interrupted one waits for copies still on their way
            // (host/src/engine/late_copies.rs); Dovecot on 127.0.0.1 stores them within
            // milliseconds, so a second is plenty here, and keeps the kill tests short.
            .env(LATE_COPY_GRACE_VARIABLE, self.late_copy_grace().to_string())
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
        for file in ["twinbox", MAILDIR_PLUGIN] {
            fs::copy(target_dir().join(file), dir.join(file)).expect("copy a built file");
        }
        fs::copy(
            test_plugin_dir().join(PANICKING_PLUGIN),
            dir.join(PANICKING_PLUGIN),
        )
        .expect("copy the test plugin");
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

/// A `[Repository NAME]` section of a Maildir rooted at `root`, with no other options.
pub fn maildir_section(name: &str, root: &Path) -> String {
    repository_section(
        name,
        &format!("type = Maildir\nlocalfolders = {}\n", root.display()),
    )
}

/// Reads `pipe` to its end on a thread of its own.
fn drain<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// How long one run of twinbox may take in a test before it is killed and the test fails:
/// a run that hangs (a config with `autorefresh` keeps `twinbox sync` running, a server
/// that never answers) must fail its test, not stall the whole suite. Far above any run
/// of the suite; `TWINBOX_TEST_RUN_TIMEOUT` (seconds) changes it.
fn run_timeout() -> std::time::Duration {
    let seconds = std::env::var("TWINBOX_TEST_RUN_TIMEOUT")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(600);
    std::time::Duration::from_secs(seconds)
}

/// Runs a prepared command to the end and collects what it said; kills it and panics,
/// with what it had said, if it runs longer than [`run_timeout`].
pub fn run_command(mut command: Command) -> Outcome {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run twinbox");
    // Both pipes are drained while the process runs, or a chatty run would block on a
    // full pipe and look like a hang.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let limit = run_timeout();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for twinbox") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let said = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
            panic!(
                "twinbox ran longer than {limit:?} and was killed (TWINBOX_TEST_RUN_TIMEOUT \
                 changes the limit)\nstdout:\n{}\nstderr:\n{}",
                said(stdout.join().unwrap_or_default()),
                said(stderr.join().unwrap_or_default())
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    Outcome::from_output(std::process::Output {
        status,
        stdout: stdout.join().expect("read twinbox's stdout"),
        stderr: stderr.join().expect("read twinbox's stderr"),
    })
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
        let mut config = format!(
            "[general]\naccounts = {}\nmetadata = {}\n\n\
             [Account Good]\nlocalrepository = GoodLocal\nremoterepository = GoodRemote\n\n{}\n{}\n{}",
            names.join(", "),
            sandbox.metadata().display(),
            maildir_section("GoodLocal", &accounts.good_local),
            maildir_section("GoodRemote", &accounts.good_remote),
            maildir_section("BadLocal", &accounts.bad_local),
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
    /// Checks what a run over these accounts must show whatever the bad accounts did: it
    /// exited with 1 (an account failed; nothing crashed), reported no internal error, and
    /// `Good` copied its one message, leaving its two Maildirs the same.
    #[track_caller]
    pub fn assert_good_account_unharmed(&self, outcome: &Outcome) {
        assert_eq!(outcome.code, Some(1), "{outcome}");
        assert!(!outcome.stderr.contains("internal error"), "{outcome}");
        assert!(
            outcome
                .account_line("Good")
                .starts_with("Account Good: synced 1 folder: 1 message copied"),
            "{outcome}"
        );
        assert_same_tree(&tree_map(&self.good_local), &tree_map(&self.good_remote));
    }
}
