//! Bad input: every mistake gets a clear one-line error and its documented exit code
//! (2 for usage and configuration, 1 when a folder or account failed), and a mistake that
//! stops a sync before it starts changes nothing on disk.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use twinbox_integration::*;

/// A sandbox synced once (so there is state), then given work the next sync would do:
/// a message a client delivered on each side, a flag change and a deletion.
fn sandbox_with_pending_work() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write_two_maildirs_config("");
    let local_inbox = create_folder(&sandbox.local().join("INBOX"));
    let remote_inbox = create_folder(&sandbox.remote().join("INBOX"));
    deliver_new(&local_inbox, &message("one"));
    deliver_cur(&local_inbox, &message("two"), "S");
    deliver_new(
        &create_folder(&sandbox.remote().join("Lists")),
        &message("three"),
    );
    sandbox.sync_ok(&[]);
    deliver_new(&local_inbox, &message("four"));
    deliver_new(&remote_inbox, &message("five"));
    set_flags(&find_message(&remote_inbox, &message("one")), "FS");
    fs::remove_file(find_message(&local_inbox, &message("two"))).unwrap();
    sandbox
}

/// A configuration error: exit 2, nothing on stdout, one line on stderr starting
/// `twinbox: `. Returns that line.
#[track_caller]
fn config_error(outcome: &Outcome) -> String {
    outcome.assert_code(2);
    assert_eq!(outcome.stdout, "", "{outcome}");
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr\n{outcome}");
    assert!(lines[0].starts_with("twinbox: "), "{outcome}");
    lines[0].to_owned()
}

#[test]
fn a_missing_config_file_is_named() {
    let sandbox = sandbox_with_pending_work();
    let frozen = Frozen::of(&sandbox);
    let missing = sandbox.path().join("no-such-config");
    let mut command = sandbox.bare_command();
    command
        .arg("-c")
        .arg(&missing)
        .arg("--plugin-dir")
        .arg(target_dir())
        .arg("sync");
    let outcome = run_command(command);
    let line = config_error(&outcome);
    assert!(line.contains(&missing.display().to_string()), "{line}");
    frozen.assert_unchanged();
}

#[test]
fn an_unparsable_config_line_is_named_by_file_and_line() {
    let sandbox = sandbox_with_pending_work();
    let frozen = Frozen::of(&sandbox);
    let good = sandbox.two_maildirs_config("");
    // Line 3 (after "[general]" and "accounts = Test") becomes garbage.
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(2, "this line is garbage");
    sandbox.write_config(&lines.join("\n"));

    let line = config_error(&sandbox.run(&["sync"]));
    let place = format!("{}:3", sandbox.config_path().display());
    assert!(line.contains(&place), "{line:?} should name {place}");
    assert!(line.contains("this line is garbage"), "{line}");
    frozen.assert_unchanged();
}

#[test]
fn an_unknown_account_is_refused_with_the_list_of_accounts() {
    let sandbox = sandbox_with_pending_work();
    let second = "\n[Account Second]\nlocalrepository = Local\nremoterepository = Remote\n";
    let config = sandbox
        .two_maildirs_config("")
        .replace("accounts = Test", "accounts = Test, Second")
        + second;
    sandbox.write_config(&config);
    let frozen = Frozen::of(&sandbox);

    let line = config_error(&sandbox.run(&["sync", "-a", "Nope"]));
    assert!(line.contains("Nope"), "{line}");
    assert!(line.contains("Test") && line.contains("Second"), "{line}");
    // One unknown name among known ones stops the whole run, before anything is synced.
    let line = config_error(&sandbox.run(&["sync", "-a", "Test,Nope"]));
    assert!(line.contains("Nope"), "{line}");
    frozen.assert_unchanged();
}

#[test]
fn an_unknown_repository_type_is_named_with_how_to_see_the_plugins() {
    let sandbox = sandbox_with_pending_work();
    let installed = sandbox.install();
    sandbox.write_config(&sandbox.two_maildirs_config("").replace(
        "[Repository Remote]\ntype = Maildir",
        "[Repository Remote]\ntype = Nosuch",
    ));
    let frozen = Frozen::of(&sandbox);

    let line = config_error(&sandbox.run_installed(&installed, &["sync"]));
    assert!(line.contains("Nosuch"), "{line}");
    assert!(
        line.contains("Remote"),
        "names the repository section: {line}"
    );
    assert!(
        line.contains("Maildir"),
        "lists the types there are: {line}"
    );
    assert!(
        line.contains("twinbox plugins"),
        "says how to see the installed plugins: {line}"
    );
    frozen.assert_unchanged();
}

#[test]
fn a_missing_section_or_option_is_named() {
    let sandbox = sandbox_with_pending_work();
    let frozen = Frozen::of(&sandbox);
    let good = sandbox.two_maildirs_config("");

    sandbox.write_config(&good.replace("remoterepository = Remote\n", ""));
    let line = config_error(&sandbox.run(&["sync"]));
    assert!(line.contains("remoterepository"), "{line}");

    let without_remote = good
        .split_once("[Repository Remote]")
        .map(|(head, _)| head.to_owned())
        .unwrap();
    sandbox.write_config(&without_remote);
    let line = config_error(&sandbox.run(&["sync"]));
    assert!(line.contains("Repository Remote"), "{line}");

    sandbox.write_config(&good.replace(
        "[Repository Local]\ntype = Maildir\n",
        "[Repository Local]\n",
    ));
    let line = config_error(&sandbox.run(&["sync"]));
    assert!(line.contains("type"), "{line}");
    frozen.assert_unchanged();
}

#[test]
fn bad_usage_exits_2() {
    let sandbox = sandbox_with_pending_work();
    let frozen = Frozen::of(&sandbox);
    for args in [
        &["sync", "--no-such-option"][..],
        &["no-such-command"][..],
        &[][..],
        &["forget", "-a", "Test"][..],
    ] {
        let outcome = sandbox.run(args);
        outcome.assert_code(2);
        assert!(
            !outcome.stderr.is_empty(),
            "{args:?} explains itself\n{outcome}"
        );
    }
    frozen.assert_unchanged();
}

#[test]
fn help_and_version_exit_0() {
    let sandbox = Sandbox::new();
    for flag in ["--help", "-h"] {
        let mut command = sandbox.bare_command();
        command.arg(flag);
        let outcome = run_command(command);
        outcome.assert_success();
        assert!(outcome.stdout.contains("Usage: twinbox"), "{outcome}");
        for subcommand in ["sync", "plugins", "forget"] {
            assert!(outcome.stdout.contains(subcommand), "{outcome}");
        }
    }
    let mut command = sandbox.bare_command();
    command.args(["sync", "--help"]);
    let outcome = run_command(command);
    outcome.assert_success();
    assert!(outcome.stdout.contains("--dry-run"), "{outcome}");

    for flag in ["--version", "-V"] {
        let mut command = sandbox.bare_command();
        command.arg(flag);
        let outcome = run_command(command);
        outcome.assert_success();
        assert_eq!(
            outcome.stdout,
            format!("twinbox {}\n", env!("CARGO_PKG_VERSION")),
            "{outcome}"
        );
    }
}

#[test]
fn libraries_that_are_not_plugins_are_listed_with_an_error_and_ignored() {
    let sandbox = sandbox_with_pending_work();
    let installed = sandbox.install();
    fs::write(
        installed.join("libtwinbox_bogus.so"),
        "this is not a shared library\n",
    )
    .unwrap();
    // A real shared library that is no twinbox plugin.
    let libz = [
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
    ]
    .into_iter()
    .map(Path::new)
    .find(|p| p.exists())
    .expect("zlib (libz.so.1) is installed");
    fs::copy(libz, installed.join("libtwinbox_ztest.so")).unwrap();
    // A library not named like a plugin is never loaded, so never listed.
    fs::copy(libz, installed.join("libz-test.so")).unwrap();

    let outcome = sandbox.run_installed(&installed, &["plugins"]);
    outcome.assert_code(0);
    let row = |file: &str| -> String {
        let path = installed.join(file).display().to_string();
        let rows: Vec<&str> = outcome
            .stdout
            .lines()
            .filter(|l| l.contains(&format!("{path} ")) || l.ends_with(&path))
            .collect();
        assert_eq!(rows.len(), 1, "one row for {path}\n{outcome}");
        rows[0].to_owned()
    };
    let maildir = row(MAILDIR_PLUGIN);
    assert!(maildir.starts_with("Maildir "), "{outcome}");
    assert!(maildir.ends_with(" ok"), "{outcome}");
    assert!(row(PANICKING_PLUGIN).ends_with(" ok"), "{outcome}");
    for bad in ["libtwinbox_bogus.so", "libtwinbox_ztest.so"] {
        let line = row(bad);
        assert!(
            line.contains("error: "),
            "{bad} is reported as an error\n{outcome}"
        );
    }
    assert_eq!(
        outcome.stdout.lines().count(),
        5,
        "a header and four rows\n{outcome}"
    );

    // The broken libraries do not stop a sync.
    let outcome = sandbox.run_installed(&installed, &["sync"]);
    outcome.assert_success();
    assert!(
        outcome.account_line("Test").contains("2 messages copied"),
        "{outcome}"
    );
    assert_same_tree(&tree_map(&sandbox.local()), &tree_map(&sandbox.remote()));
}

#[test]
fn a_plugin_built_for_another_interface_version_is_refused_by_name() {
    let sandbox = sandbox_with_pending_work();
    let installed = sandbox.install();
    fs::copy(
        test_plugin_dir().join(FUTURE_PLUGIN),
        installed.join(FUTURE_PLUGIN),
    )
    .unwrap();

    let outcome = sandbox.run_installed(&installed, &["plugins"]);
    outcome.assert_code(0);
    let future: Vec<&str> = outcome
        .stdout
        .lines()
        .filter(|l| l.contains(FUTURE_PLUGIN))
        .collect();
    assert_eq!(future.len(), 1, "{outcome}");
    // The host's minor grows with the interface; its major is what the refusal is about.
    for part in ["Future 9.9.9", "interface 2.0", "this twinbox speaks 1."] {
        assert!(
            future[0].contains(part),
            "{part:?} in {:?}\n{outcome}",
            future[0]
        );
    }

    // A repository of that type is refused before anything is synced.
    sandbox.write_config(&sandbox.two_maildirs_config("").replacen(
        "type = Maildir",
        "type = Future",
        1,
    ));
    let frozen = Frozen::of(&sandbox);
    let outcome = sandbox.run_installed(&installed, &["sync"]);
    outcome.assert_code(2);
    assert!(outcome.stderr.contains("\"Future\""), "{outcome}");
    assert!(outcome.stderr.contains("failed to load"), "{outcome}");
    frozen.assert_unchanged();
}

#[test]
fn localfolders_that_is_a_file_fails_the_account_naming_the_option() {
    let sandbox = sandbox_with_pending_work();
    let file = sandbox.path().join("not-a-directory");
    fs::write(&file, "I am a file\n").unwrap();
    sandbox.write_config(&sandbox.two_maildirs_config("").replace(
        &format!("localfolders = {}\n", sandbox.remote().display()),
        &format!("localfolders = {}\n", file.display()),
    ));
    let frozen = Frozen::take(&[sandbox.local(), sandbox.remote(), sandbox.metadata(), file]);

    let outcome = sandbox.run(&["sync"]);
    outcome.assert_code(1);
    let line = outcome.account_line("Test");
    assert!(line.starts_with("Account Test: FAILED: "), "{outcome}");
    assert!(line.contains("localfolders"), "{outcome}");
    assert!(line.contains("not-a-directory"), "{outcome}");
    assert!(!outcome.stderr.contains("internal error"), "{outcome}");
    frozen.assert_unchanged();
}

#[test]
fn an_unreadable_message_is_reported_and_everything_else_is_synced() {
    let sandbox = Sandbox::new();
    sandbox.write_two_maildirs_config("");
    let inbox = create_folder(&sandbox.local().join("INBOX"));
    let work = create_folder(&sandbox.local().join("Work"));
    deliver_new(&inbox, &message("inbox-1"));
    deliver_cur(&inbox, &message("inbox-2"), "S");
    deliver_new(&work, &message("work-1"));
    deliver_new(
        &create_folder(&sandbox.remote().join("INBOX")),
        &message("remote-1"),
    );
    // Root can read any file, so an unreadable message is a dangling symlink.
    let bad = inbox.join("cur").join("1700000000.M999P1.badhost:2,S");
    symlink(sandbox.path().join("vanished-target"), &bad).unwrap();

    let outcome = sandbox.run(&["sync"]);
    outcome.assert_code(1);
    let errors: Vec<&str> = outcome
        .stdout
        .lines()
        .filter(|l| l.contains("ERROR: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error, for the bad message\n{outcome}");
    assert!(errors[0].trim_start().starts_with("INBOX "), "{outcome}");
    assert!(
        errors[0].contains("1700000000.M999P1.badhost"),
        "names the file\n{outcome}"
    );
    assert!(
        outcome.account_line("Test").ends_with(", 1 error"),
        "{outcome}"
    );
    assert!(!outcome.stderr.contains("internal error"), "{outcome}");

    // Everything else went through.
    let local = tree_map_without(&sandbox.local(), &inbox);
    let remote = tree_map(&sandbox.remote());
    assert_same_tree(&local, &remote);
    assert_eq!(remote["INBOX"].len(), 3, "inbox-1, inbox-2 and remote-1");
    assert_eq!(remote["Work"].len(), 1);
    // The bad file is left exactly as it was: same name, same target.
    let names: Vec<String> = fs::read_dir(inbox.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("badhost"))
        .collect();
    assert_eq!(
        names,
        ["1700000000.M999P1.badhost:2,S"],
        "the unreadable file must not be renamed"
    );
    assert_eq!(
        fs::read_link(&bad).ok(),
        Some(sandbox.path().join("vanished-target")),
        "the dangling symlink is untouched"
    );

    // A second run reports it again and copies nothing twice.
    let outcome = sandbox.run(&["sync"]);
    outcome.assert_code(1);
    assert!(
        outcome.account_line("Test").contains("no changes, 1 error"),
        "{outcome}"
    );
    assert_same_tree(
        &tree_map_without(&sandbox.local(), &inbox),
        &tree_map(&sandbox.remote()),
    );
}

/// [`tree_map`] of `root` without the symlinks in `folder` (which cannot be read): they
/// are moved aside for the reading and put back.
fn tree_map_without(
    root: &Path,
    folder: &Path,
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<Vec<u8>, String>> {
    let aside = root.with_extension("aside");
    fs::create_dir_all(&aside).unwrap();
    let mut moved = Vec::new();
    for sub in ["cur", "new"] {
        for entry in fs::read_dir(folder.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_symlink() {
                let parked = aside.join(format!("{sub}-{}", moved.len()));
                fs::rename(&path, &parked).unwrap();
                moved.push((path, parked));
            }
        }
    }
    let map = tree_map(root);
    for (path, parked) in moved {
        fs::rename(parked, path).unwrap();
    }
    map
}

#[test]
fn a_panicking_plugin_fails_its_account_only() {
    let sandbox = Sandbox::new();
    let accounts = MixedAccounts::write(
        &sandbox,
        &[
            ("Bad", "type = Panicking\n"),
            ("BadOpen", "type = Panicking\npanicin = open\n"),
        ],
    );
    let frozen = Frozen::take(std::slice::from_ref(&accounts.bad_local));

    let outcome = sandbox.run(&["sync"]);
    assert_eq!(
        outcome.code,
        Some(1),
        "a plugin's panic is an account failure, not a crash\n{outcome}"
    );
    for account in ["Bad", "BadOpen"] {
        let line = outcome.account_line(account);
        assert!(
            line.starts_with(&format!("Account {account}: FAILED: ")),
            "{outcome}"
        );
        assert!(line.contains("panic"), "{outcome}");
        assert!(line.contains(PANIC_MESSAGE), "{outcome}");
    }
    assert_eq!(
        outcome.account_line("Good"),
        "Account Good: synced 1 folder: 1 message copied (0 to local, 1 to remote), \
         0 flag updates, 0 deletions, 1 folder created",
        "{outcome}"
    );
    accounts.assert_good_account_unharmed(&outcome);
    frozen.assert_unchanged();
}

#[test]
fn a_plugin_that_panics_while_closing_does_not_abort_twinbox() {
    // Issue 12: dropping a plugin's folder or repository runs plugin code outside the
    // guarded calls; a panic there aborted the host.
    let sandbox = Sandbox::new();
    let accounts = MixedAccounts::write(
        &sandbox,
        &[("BadDrop", "type = Panicking\npanicin = drop\n")],
    );
    let outcome = sandbox.run(&["sync"]);
    assert_eq!(
        outcome.code,
        Some(1),
        "a panic while closing is logged, not a crash\n{outcome}"
    );
    assert!(
        outcome.account_line("BadDrop").ends_with("1 error")
            && outcome.stdout.contains("this test folder cannot be read"),
        "{outcome}"
    );
    assert!(
        outcome.stderr.contains("panicked while closing"),
        "{outcome}"
    );
    accounts.assert_good_account_unharmed(&outcome);
}
