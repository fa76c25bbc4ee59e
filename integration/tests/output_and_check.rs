//! Issue 11, what a new user meets and what a job runner reads: `sync --json` parsed
//! event by event, `twinbox check --connect` naming the repository whose login fails, a
//! failed login that leaves nothing on disk, `ssl = yes` against a plaintext port
//! explained, notmuch reading a synced Maildir without a warning, and `scripts/install`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use twinbox_integration::dovecot::*;
use twinbox_integration::*;

const USER: &str = "bob";

/// Each line of `--json` output as a JSON object; panics on a line that is not one.
fn json_events(outcome: &Outcome) -> Vec<Value> {
    outcome
        .stdout
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}\n{outcome}"));
            assert!(value["event"].is_string(), "no event name: {line}");
            assert!(value["time"].is_string(), "no time: {line}");
            value
        })
        .collect()
}

fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

/// The entries under `dir`, or none if it does not exist.
fn entries(dir: &Path) -> Vec<PathBuf> {
    match fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.expect("an entry").path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn json_output_is_one_object_per_event_and_a_final_summary() {
    let dovecot = Dovecot::start_default();
    dovecot.create_folder(USER, "Work");
    for tag in ["inbox-1", "inbox-2"] {
        dovecot.deliver(USER, "INBOX", &message(tag), &["\\Seen"]);
    }
    dovecot.deliver(USER, "Work", &message("work-1"), &[]);
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER));

    let outcome = run_twinbox(&sandbox, &["sync", "--json"]);
    outcome.assert_success();
    let events = json_events(&outcome);
    let first = &events[0];
    assert_eq!(first["event"], "start", "{outcome}");
    assert_eq!(first["schema"], 1);
    assert_eq!(first["command"], "sync");
    assert_eq!(first["accounts"], serde_json::json!([ACCOUNT]));
    assert_eq!(named(&events, "account_started").len(), 1, "{outcome}");
    assert_eq!(named(&events, "folders_planned")[0]["folders"], 2);
    // Every folder starts and finishes once.
    let mut finished: Vec<&str> = named(&events, "folder_finished")
        .iter()
        .map(|e| e["folder"].as_str().expect("a folder name"))
        .collect();
    finished.sort_unstable();
    assert_eq!(finished, ["INBOX", "Work"], "{outcome}");
    assert_eq!(named(&events, "folder_started").len(), 2, "{outcome}");
    // The copies add up, in messages and bytes, to what was planned.
    let total = |name: &str, field: &str| -> u64 {
        named(&events, name)
            .iter()
            .map(|e| {
                assert_eq!(e["to"], "local", "{e}");
                e[field].as_u64().expect("a count")
            })
            .sum()
    };
    assert_eq!(total("copies_planned", "messages"), 3, "{outcome}");
    assert_eq!(total("copied", "messages"), 3, "{outcome}");
    assert!(total("copied", "bytes") > 0, "{outcome}");
    let account = named(&events, "account_finished")[0];
    assert_eq!(account["account"], ACCOUNT);
    assert_eq!(account["ok"], true);
    assert_eq!(account["copied"]["local"], 3);
    // The last line is the summary, and nothing else is printed on stdout.
    let summary = events.last().expect("a summary");
    assert_eq!(summary["event"], "summary", "{outcome}");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["accounts"], 1);
    assert_eq!(summary["folders"], 2);
    assert_eq!(
        summary["copied"],
        serde_json::json!({"local": 3, "remote": 0})
    );
    assert_eq!(summary["folders_created"], 2);
    assert_eq!(summary["failed_accounts"], serde_json::json!([]));

    // A rerun: the same stream, with nothing copied.
    let outcome = run_twinbox(&sandbox, &["sync", "--json"]);
    outcome.assert_success();
    let events = json_events(&outcome);
    assert!(named(&events, "copied").is_empty(), "{outcome}");
    let summary = events.last().expect("a summary");
    assert_eq!(
        summary["copied"],
        serde_json::json!({"local": 0, "remote": 0})
    );

    // A failed account: exit code 1, its error in account_finished and in the summary.
    let sandbox =
        maildir_imap_sandbox("", &dovecot.tls_repository(USER).set("remotepass", "wrong"));
    let outcome = run_twinbox(&sandbox, &["sync", "--json"]);
    outcome.assert_code(1);
    let events = json_events(&outcome);
    let account = named(&events, "account_finished")[0];
    assert_eq!(account["ok"], false, "{outcome}");
    assert!(account["error"].is_string(), "{outcome}");
    let summary = events.last().expect("a summary");
    assert_eq!(summary["exit_code"], 1, "{outcome}");
    assert_eq!(summary["failed_accounts"], serde_json::json!([ACCOUNT]));

    // Bad usage (exit code 2) still ends the stream with a summary.
    let outcome = run_twinbox(&sandbox, &["sync", "--json", "-a", "NoSuchAccount"]);
    outcome.assert_code(2);
    let events = json_events(&outcome);
    assert_eq!(events.len(), 1, "{outcome}");
    assert_eq!(events[0]["event"], "summary");
    assert_eq!(events[0]["exit_code"], 2);
    assert!(
        events[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("NoSuchAccount")),
        "{outcome}"
    );
}

#[test]
fn a_failed_login_creates_nothing_and_check_connect_names_the_repository() {
    let dovecot = Dovecot::start_default();
    dovecot.deliver(USER, "INBOX", &message("check-1"), &[]);
    let wrong = dovecot.tls_repository(USER).set("remotepass", "wrong");
    let sandbox = maildir_imap_sandbox("", &wrong);
    let nothing_on_disk = |outcome: &Outcome| {
        assert!(
            !sandbox.local().exists(),
            "the Maildir root was created\n{outcome}"
        );
        assert!(
            entries(&sandbox.metadata()).is_empty(),
            "a state file was created: {:?}\n{outcome}",
            entries(&sandbox.metadata())
        );
    };

    // check without --connect: the configuration is fine.
    let outcome = run_twinbox(&sandbox, &["check"]);
    outcome.assert_code(0);
    assert!(outcome.stdout.contains("configuration ok"), "{outcome}");
    nothing_on_disk(&outcome);

    // check --connect: the login fails, and the line names the repository.
    let outcome = run_twinbox(&sandbox, &["check", "--connect"]);
    outcome.assert_code(1);
    let problem = outcome
        .stdout
        .lines()
        .find(|l| l.contains("PROBLEM"))
        .unwrap_or_else(|| panic!("no problem listed\n{outcome}"));
    assert!(problem.contains("[Repository Remote]"), "{outcome}");
    assert!(
        outcome.stdout.contains("check: 1 problem found"),
        "{outcome}"
    );
    assert!(
        !outcome.stdout.contains("wrong"),
        "the password was printed\n{outcome}"
    );
    nothing_on_disk(&outcome);

    // A sync with that login fails the account and leaves nothing on disk either.
    let outcome = sync_code(&sandbox, &[], 1);
    assert!(
        outcome.account_line(ACCOUNT).contains("FAILED"),
        "{outcome}"
    );
    nothing_on_disk(&outcome);

    // ssl = yes (the default) against the plaintext port: a message that says so.
    let plain_port = dovecot
        .tls_repository(USER)
        .set("remoteport", &dovecot.imap_port().to_string());
    let sandbox = maildir_imap_sandbox("", &plain_port);
    let outcome = sync_code(&sandbox, &[], 1);
    let line = outcome.account_line(ACCOUNT);
    for part in ["plaintext IMAP port", "ssl = no", "993"] {
        assert!(line.contains(part), "{part:?} missing\n{outcome}");
    }
    assert!(!sandbox.local().exists(), "{outcome}");

    // With the right password every repository checks out, and still nothing is created.
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER));
    let outcome = run_twinbox(&sandbox, &["check", "--connect"]);
    outcome.assert_code(0);
    assert!(
        outcome
            .stdout
            .contains("[Repository Remote] (IMAP, remote): ok, 1 folder"),
        "{outcome}"
    );
    assert!(
        outcome.stdout.contains("check: no problems found"),
        "{outcome}"
    );
    assert!(!sandbox.local().exists(), "{outcome}");
    assert!(entries(&sandbox.metadata()).is_empty(), "{outcome}");

    // A repository type with no plugin is a configuration problem: exit code 2.
    sandbox.write_config(&maildir_imap_config(
        &sandbox,
        "",
        &dovecot.tls_repository(USER).set("type", "Nonesuch"),
    ));
    let outcome = run_twinbox(&sandbox, &["check"]);
    outcome.assert_code(2);
    assert!(
        outcome.stdout.contains("PROBLEM") && outcome.stdout.contains("Nonesuch"),
        "{outcome}"
    );
}

/// A notmuch configuration indexing the Maildir tree `root`, with the one line the README
/// tells notmuch users to add: notmuch notes "Ignoring non-mail file" for every file it
/// cannot read as mail, hidden or not (0.37 does so for mbsync's `.uidvalidity` too),
/// unless `new.ignore` names it.
fn notmuch_config(sandbox: &Sandbox, root: &Path) -> PathBuf {
    let path = sandbox.path().join("notmuch-config");
    fs::write(
        &path,
        format!(
            "[database]\npath={}\n\n[user]\nname=Bob\nprimary_email=bob@example.net\n\n\
             [new]\ntags=unread;inbox;\nignore=.twinbox-uidvalidity\n\n[maildir]\nsynchronize_flags=true\n",
            root.display()
        ),
    )
    .expect("write the notmuch config");
    path
}

/// Runs `notmuch ARGS` with `config`; panics unless it succeeds. Returns stdout and stderr
/// together.
fn notmuch(sandbox: &Sandbox, config: &Path, args: &[&str]) -> String {
    let program = "/usr/bin/notmuch";
    assert!(
        Path::new(program).exists(),
        "notmuch is not installed: run scripts/test (it installs it)"
    );
    let output = Command::new(program)
        .args(args)
        .env("NOTMUCH_CONFIG", config)
        .env("HOME", sandbox.home())
        .output()
        .expect("run notmuch");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "notmuch {args:?} failed:\n{said}");
    said
}

#[test]
fn notmuch_reads_what_the_server_holds_without_a_warning() {
    let dovecot = Dovecot::start_default();
    dovecot.create_folder(USER, "Work");
    dovecot.create_folder(USER, "Work/Projects");
    let mut subjects = Vec::new();
    for (folder, tag) in [
        ("INBOX", "nm-inbox-1"),
        ("INBOX", "nm-inbox-2"),
        ("Work", "nm-work-1"),
        ("Work/Projects", "nm-projects-1"),
    ] {
        dovecot.deliver(USER, folder, &message(tag), &["\\Seen"]);
        subjects.push(format!("test message {tag}"));
    }
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER));
    sync_ok(&sandbox, &[]);

    // A folder synced by an earlier version, whose state file has the old name: it is
    // read, and renamed by the next sync, which changes nothing else.
    let inbox = sandbox.local().join("INBOX");
    fs::rename(
        inbox.join(".twinbox-uidvalidity"),
        inbox.join("twinbox-uidvalidity"),
    )
    .expect("the state file has its new name");
    assert_no_changes(&sandbox);
    assert!(inbox.join(".twinbox-uidvalidity").is_file());
    assert!(!inbox.join("twinbox-uidvalidity").exists());

    let config = notmuch_config(&sandbox, &sandbox.local());
    let said = notmuch(&sandbox, &config, &["new"]);
    assert!(
        !said.contains("Ignoring") && !said.to_lowercase().contains("warning"),
        "notmuch complained about the synced Maildir:\n{said}"
    );
    let count = notmuch(&sandbox, &config, &["count", "--output=messages", "*"]);
    assert_eq!(count.trim(), "4", "notmuch found other messages:\n{said}");
    let found = notmuch(&sandbox, &config, &["search", "--output=summary", "*"]);
    for subject in &subjects {
        assert!(
            found.contains(subject.as_str()),
            "{subject} missing:\n{found}"
        );
    }
    // The \Seen flag reached notmuch as a missing `unread` tag, through the file names.
    let unread = notmuch(&sandbox, &config, &["count", "tag:unread"]);
    assert_eq!(unread.trim(), "0", "{found}");
    // The files notmuch indexed are twinbox's, in the folders the server has.
    let files = notmuch(
        &sandbox,
        &config,
        &["search", "--output=files", "folder:Work.Projects"],
    );
    assert_eq!(files.lines().count(), 1, "{files}");
}

#[test]
fn scripts_install_installs_the_binary_and_only_the_four_plugins() {
    let sandbox = Sandbox::new();
    let prefix = sandbox.path().join("prefix");
    let profile = target_dir()
        .file_name()
        .and_then(|name| name.to_str())
        .expect("the profile directory's name")
        .to_owned();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install");
    let output = Command::new(&script)
        .args(["--no-build", "--profile", &profile])
        .arg(&prefix)
        .env("HOME", sandbox.home())
        .output()
        .expect("run scripts/install");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "scripts/install failed:\n{said}");
    assert!(prefix.join("bin/twinbox").is_file(), "{said}");
    let mut installed: Vec<String> = entries(&prefix.join("lib/twinbox"))
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    installed.sort_unstable();
    assert_eq!(
        installed,
        [
            "libtwinbox_imap.so",
            "libtwinbox_maildir.so",
            "libtwinbox_mbox.so",
            "libtwinbox_mh.so"
        ],
        "{said}"
    );
    // The installed binary finds them under PREFIX/lib/twinbox, and nothing else.
    let mut command = sandbox.bare_command_for(&prefix.join("bin/twinbox"));
    command.arg("plugins");
    let outcome = run_command(command);
    outcome.assert_success();
    assert_eq!(outcome.stdout.lines().count(), 5, "{outcome}");
    assert!(
        outcome.stdout.lines().skip(1).all(|l| l.ends_with(" ok")),
        "{outcome}"
    );
}
