//! Running all day (issue 11): `twinbox daemon` against a real Dovecot picks up new mail
//! by IMAP IDLE within 2 s, syncs every account on SIGUSR1 and exits 0 soon after SIGTERM;
//! a second twinbox on one of its accounts is refused naming its pid while another account
//! syncs; hooks run around a sync and one that hangs is killed at its timeout.
//!
//! The daemon's output goes to files, read while it runs; every wait is bounded, and a
//! daemon still running when its test ends is killed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use twinbox_integration::dovecot::*;
use twinbox_integration::*;

const USER: &str = "alice";

/// A `twinbox -vv daemon` (or `sync`) running in a sandbox.
struct Running {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Running {
    fn start(sandbox: &Sandbox, args: &[&str]) -> Running {
        require_imap_plugin();
        Running::spawn(sandbox, sandbox.command(args))
    }

    fn spawn(sandbox: &Sandbox, mut command: std::process::Command) -> Running {
        let n = fs::read_dir(sandbox.path()).map_or(0, |d| d.count());
        let stdout = sandbox.path().join(format!("daemon-{n}.out"));
        let stderr = sandbox.path().join(format!("daemon-{n}.err"));
        command
            .stdout(Stdio::from(fs::File::create(&stdout).unwrap()))
            .stderr(Stdio::from(fs::File::create(&stderr).unwrap()));
        Running {
            child: command.spawn().expect("start twinbox"),
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn output(&self) -> String {
        format!(
            "--- stdout\n{}--- stderr\n{}",
            fs::read_to_string(&self.stdout).unwrap_or_default(),
            fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    /// Waits (at most `limit`) until `done` holds, with everything it said on failure.
    #[track_caller]
    fn wait_for(&self, what: &str, limit: Duration, mut done: impl FnMut(&str) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let output = self.output();
            if done(&output) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {limit:?}\n{output}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let sent = unsafe { libc::kill(self.pid() as i32, signal) };
        assert_eq!(sent, 0, "send signal {signal}");
    }

    /// Waits at most `limit` for the process to exit; its exit code.
    #[track_caller]
    fn exit_within(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "still running after {limit:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many summary lines of `account` the output holds: one per finished run.
fn runs(output: &str, account: &str) -> usize {
    output
        .lines()
        .filter(|l| l.starts_with(&format!("Account {account}: ")))
        .count()
}

fn has_message(folder: &Path, content: &[u8]) -> bool {
    folder.is_dir() && folder_map(folder).contains_key(content)
}

#[test]
fn the_daemon_syncs_on_idle_and_sigusr1_and_stops_cleanly_on_sigterm() {
    let dovecot = Dovecot::start_default();
    dovecot.deliver(USER, "INBOX", &message("before"), &[]);
    dovecot.create_folder(USER, "Work");
    // An hour between scheduled runs: whatever syncs below comes from IDLE or SIGUSR1.
    let sandbox = maildir_imap_sandbox("autorefresh = 60", &dovecot.tls_repository(USER));
    let inbox = sandbox.local().join("INBOX");
    let work = sandbox.local().join("Work");

    // `sync` with autorefresh set keeps running, as OfflineIMAP does.
    let mut daemon = Running::start(&sandbox, &["-vv", "sync"]);
    daemon.wait_for(
        "the first sync and the IDLE watcher",
        Duration::from_secs(30),
        |out| runs(out, ACCOUNT) == 1 && out.contains("waiting for changes in INBOX"),
    );
    assert!(
        has_message(&inbox, &message("before")),
        "{}",
        daemon.output()
    );

    // New mail on the server: IDLE, then a sync of INBOX alone, in under 2 s.
    let delivered = Instant::now();
    dovecot.deliver(USER, "INBOX", &message("pushed"), &[]);
    while !has_message(&inbox, &message("pushed")) {
        assert!(
            delivered.elapsed() < Duration::from_secs(2),
            "the new message did not arrive within 2 s\n{}",
            daemon.output()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    daemon.wait_for("the IDLE run's summary", Duration::from_secs(5), |out| {
        runs(out, ACCOUNT) == 2
    });

    // Work is not watched: its new message waits for the schedule, or for SIGUSR1.
    dovecot.deliver(USER, "Work", &message("usr1"), &[]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!has_message(&work, &message("usr1")), "{}", daemon.output());
    daemon.signal(libc::SIGUSR1);
    let signalled = Instant::now();
    while !has_message(&work, &message("usr1")) {
        assert!(
            signalled.elapsed() < Duration::from_secs(5),
            "SIGUSR1 did not sync Work within 5 s\n{}",
            daemon.output()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    daemon.wait_for("the SIGUSR1 run's summary", Duration::from_secs(5), |out| {
        runs(out, ACCOUNT) == 3
    });

    daemon.signal(libc::SIGTERM);
    let code = daemon.exit_within(Duration::from_secs(5));
    let output = daemon.output();
    assert_eq!(code, Some(0), "{output}");
    assert!(
        !output.contains("panicked") && !output.contains("internal error"),
        "{output}"
    );
    assert!(output.contains("stopping"), "{output}");

    // The state is intact: a sync finds nothing to do.
    let outcome = sync_ok(&sandbox, &["-o"]);
    assert!(
        outcome.account_line(ACCOUNT).contains("no changes"),
        "{outcome}"
    );
}

/// Two accounts, each two Maildirs: `A` and `B`.
fn two_accounts(sandbox: &Sandbox, extra_a: &str) -> String {
    let root = sandbox.path();
    let maildir = |name: &str| {
        let dir = root.join(name);
        create_folder(&dir.join("INBOX"));
        repository_section(
            name,
            &format!("type = Maildir\nlocalfolders = {}\n", dir.display()),
        )
    };
    format!(
        "[general]\naccounts = A, B\nmetadata = {}\n\n\
         [Account A]\nlocalrepository = ALocal\nremoterepository = ARemote\n{extra_a}\n\n\
         [Account B]\nlocalrepository = BLocal\nremoterepository = BRemote\n\n\
         {}\n{}\n{}\n{}",
        sandbox.metadata().display(),
        maildir("ALocal"),
        maildir("ARemote"),
        maildir("BLocal"),
        maildir("BRemote"),
    )
}

#[test]
fn a_second_twinbox_on_a_locked_account_is_refused_naming_the_holder_while_others_run() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&two_accounts(&sandbox, ""));
    deliver_new(&sandbox.path().join("BRemote/INBOX"), &message("b-1"));

    let mut daemon = Running::start(&sandbox, &["-v", "daemon", "-a", "A"]);
    daemon.wait_for("the daemon's first sync", Duration::from_secs(20), |out| {
        runs(out, "A") == 1
    });
    let pid = daemon.pid().to_string();

    let lock = sandbox.metadata().join("Account-A.lock");
    let mode = std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&lock).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "{}", lock.display());

    // A one-off sync of A: refused, one line naming the daemon's pid; nothing synced.
    let refused = sandbox.run(&["sync", "-a", "A"]);
    refused.assert_code(1);
    let line = refused.account_line("A");
    assert!(
        line.contains("another twinbox") && line.contains(&format!("pid {pid}")),
        "{refused}"
    );
    // A second daemon on A: refused at once.
    let second = sandbox.run(&["daemon", "-a", "A"]);
    second.assert_code(1);
    assert!(second.stderr.contains(&format!("pid {pid}")), "{second}");
    assert_eq!(second.stderr.lines().count(), 1, "{second}");

    // B is not locked: it syncs meanwhile.
    let other = sandbox.run(&["sync", "-a", "B"]);
    other.assert_success();
    assert!(
        has_message(&sandbox.path().join("BLocal/INBOX"), &message("b-1")),
        "{other}"
    );

    daemon.signal(libc::SIGINT);
    assert_eq!(
        daemon.exit_within(Duration::from_secs(5)),
        Some(0),
        "{}",
        daemon.output()
    );
    // Released with the daemon: A syncs again.
    sandbox.run(&["sync", "-a", "A"]).assert_success();
}

#[test]
fn hooks_run_around_a_sync_and_one_that_hangs_is_killed_at_its_timeout() {
    let sandbox = Sandbox::new();
    let log = sandbox.path().join("hooks.log");
    let record = |what: &str| format!("echo {what} $OFFLINEIMAPSYNCMODE >> {}", log.display());
    let hooks = format!(
        "presynchook = {}\npostsynchook = {}\nnewmail_hook = {}\nquick = -1",
        record("pre"),
        record("post"),
        record("new")
    );
    sandbox.write_config(&two_accounts(&sandbox, &hooks));
    let remote_inbox = sandbox.path().join("ARemote/INBOX");

    // No new mail: no newmail_hook.
    sandbox.run(&["sync", "-a", "A"]).assert_success();
    assert_eq!(fs::read_to_string(&log).unwrap(), "pre quick\npost quick\n");

    deliver_new(&remote_inbox, &message("a-1"));
    sandbox.run(&["sync", "-a", "A"]).assert_success();
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "pre quick\npost quick\npre quick\nnew quick\npost quick\n"
    );

    // A dry run calls none.
    deliver_new(&remote_inbox, &message("a-2"));
    sandbox.run(&["sync", "-n", "-a", "A"]).assert_code(0);
    assert_eq!(fs::read_to_string(&log).unwrap().lines().count(), 5);

    // A hook that hangs (and a failing one) is reported, killed at hooktimeout, and the
    // sync goes on.
    let hanging = "presynchook = sleep 60\npostsynchook = echo broken >&2; exit 4\nhooktimeout = 1";
    sandbox.write_config(&two_accounts(&sandbox, hanging));
    let started = Instant::now();
    let outcome = sandbox.run(&["sync", "-a", "A"]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}\n{outcome}",
        started.elapsed()
    );
    outcome.assert_code(0);
    assert!(
        outcome.account_line("A").contains("1 message copied")
            || outcome.account_line("A").contains("1 messages copied"),
        "{outcome}"
    );
    let warnings: Vec<&str> = outcome.stderr.lines().collect();
    assert_eq!(warnings.len(), 2, "{outcome}");
    assert!(
        warnings[0].contains("presynchook `sleep 60` did not finish within 1 s and was killed"),
        "{outcome}"
    );
    assert!(
        warnings[1]
            .contains("postsynchook `echo broken >&2; exit 4` failed (exit status 4): broken"),
        "{outcome}"
    );

    // OfflineIMAP's Python newmail_hook is refused with the fix.
    sandbox.write_config(&two_accounts(
        &sandbox,
        "newmail_hook = lambda: os.system('play ding.wav')",
    ));
    let refused = sandbox.run(&["sync", "-a", "A"]);
    refused.assert_code(2);
    assert!(
        refused.stderr.contains("write the shell command itself"),
        "{refused}"
    );
}

#[test]
fn a_server_that_cannot_be_reached_or_refuses_the_login_is_retried_with_backoff_not_in_a_loop() {
    let dovecot = Dovecot::start_default();
    // Nothing listens on the first account's port; the second's password is wrong.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let sandbox = Sandbox::new();
    let unreachable = dovecot
        .plaintext_repository(USER, closed_port)
        .section("Unreachable");
    let refused = dovecot
        .tls_repository(USER)
        .set("remotepass", "wrong")
        .section("Refused");
    let maildir = |name: &str| maildir_section(name, &sandbox.path().join(name));
    sandbox.write_config(&format!(
        "[general]\naccounts = Down, Denied\nmetadata = {}\n\n\
         [Account Down]\nlocalrepository = DownLocal\nremoterepository = Unreachable\n\n\
         [Account Denied]\nlocalrepository = DeniedLocal\nremoterepository = Refused\n\n\
         {}\n{}\n{unreachable}\n{refused}",
        sandbox.metadata().display(),
        maildir("DownLocal"),
        maildir("DeniedLocal"),
    ));

    let mut daemon = Running::start(&sandbox, &["-v", "daemon"]);
    daemon.wait_for(
        "both accounts failed once",
        Duration::from_secs(20),
        |out| runs(out, "Down") == 1 && runs(out, "Denied") == 1,
    );
    // Give a busy loop the time to show itself: still one run each.
    std::thread::sleep(Duration::from_secs(2));
    let output = daemon.output();
    assert_eq!(
        (runs(&output, "Down"), runs(&output, "Denied")),
        (1, 1),
        "{output}"
    );
    assert!(
        output
            .contains("Down: the sync failed (the connection or the server); trying again in 15 s"),
        "{output}"
    );
    assert!(
        output.contains("Denied: the sync failed (the server refused for good"),
        "{output}"
    );
    assert!(output.contains("trying again in 300 s"), "{output}");
    // The IDLE watcher of the refused account gives up once, with the reason (its own
    // login waits out the server's delay after a failed one, like the sync's).
    daemon.wait_for(
        "the refused watcher's message",
        Duration::from_secs(15),
        |out| out.contains("cannot watch INBOX for new mail"),
    );
    let output = daemon.output();
    assert_eq!(
        output.matches("cannot watch INBOX for new mail").count(),
        1,
        "{output}"
    );

    // Stopping during the pause is immediate.
    daemon.signal(libc::SIGTERM);
    assert_eq!(
        daemon.exit_within(Duration::from_secs(3)),
        Some(0),
        "{}",
        daemon.output()
    );
}

#[test]
fn an_old_plugin_that_cannot_wait_for_changes_is_synced_on_the_schedule_only() {
    let sandbox = Sandbox::new();
    let installed = sandbox.install();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/libtwinbox_test_frozen_v1_1.so");
    fs::copy(fixture, installed.join("libtwinbox_test_frozen_v1_1.so")).unwrap();
    sandbox.write_config(&sandbox.account_config(
        "Old",
        "",
        &maildir_section("Local", &sandbox.local()),
        &repository_section("Remote", "type = FrozenV1_1\nidlefolders = ['INBOX']\n"),
    ));
    let mut command = sandbox.bare_command_for(&installed.join("twinbox"));
    command
        .arg("-c")
        .arg(sandbox.config_path())
        .arg("--plugin-dir")
        .arg(&installed)
        .args(["-v", "daemon"]);
    let mut daemon = Running::spawn(&sandbox, command);
    daemon.wait_for(
        "the first sync and the watcher's answer",
        Duration::from_secs(20),
        |out| runs(out, "Old") == 1 && out.contains("cannot wait for changes in INBOX"),
    );
    assert_eq!(
        folder_map(&sandbox.local().join("INBOX")).len(),
        2,
        "{}",
        daemon.output()
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(runs(&daemon.output(), "Old"), 1, "{}", daemon.output());
    daemon.signal(libc::SIGTERM);
    assert_eq!(
        daemon.exit_within(Duration::from_secs(3)),
        Some(0),
        "{}",
        daemon.output()
    );
}
