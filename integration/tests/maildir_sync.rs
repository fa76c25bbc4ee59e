//! Two-way sync between two Maildirs, driven as a user drives it: the real `twinbox`
//! binary, the real Maildir plugin, and a "mail client" that drops files into `new/`,
//! renames them to change flags and unlinks them to delete.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use twinbox_integration::*;

/// Folder -> message content -> flag letters, as [`tree_map`] reads a Maildir.
type Tree = BTreeMap<String, BTreeMap<Vec<u8>, String>>;

/// Local: INBOX (3), Work.Projects (2), Archive (1, local only).
/// Remote: INBOX (2), Work.Projects (1), Lists (2, remote only).
/// Returns the expected tree after a sync.
fn populate(sandbox: &Sandbox) -> Tree {
    let local = sandbox.local();
    let remote = sandbox.remote();
    let mut expected: Tree = BTreeMap::new();
    let mut put = |root: &Path, folder: &str, tag: &str, flags: Option<&str>| {
        let dir = create_folder(&root.join(folder));
        let content = message(tag);
        match flags {
            None => deliver_new(&dir, &content),
            Some(flags) => deliver_cur(&dir, &content, flags),
        };
        expected
            .entry(folder.to_owned())
            .or_default()
            .insert(content, sorted_flags(flags.unwrap_or("")));
    };
    put(&local, "INBOX", "local-inbox-1", None);
    put(&local, "INBOX", "local-inbox-2", Some("S"));
    put(&local, "INBOX", "local-inbox-3", Some("FS"));
    put(&local, "Work.Projects", "local-work-1", Some("RS"));
    put(&local, "Work.Projects", "local-work-2", None);
    put(&local, "Archive", "local-archive-1", Some("S"));
    put(&remote, "INBOX", "remote-inbox-1", None);
    put(&remote, "INBOX", "remote-inbox-2", Some("DS"));
    put(&remote, "Work.Projects", "remote-work-1", Some("F"));
    put(&remote, "Lists", "remote-lists-1", Some("S"));
    put(&remote, "Lists", "remote-lists-2", None);
    expected
}

/// The local and the remote tree, which must be the same (see [`assert_same_tree`]).
#[track_caller]
fn same_trees(sandbox: &Sandbox) -> (Tree, Tree) {
    let local = tree_map(&sandbox.local());
    let remote = tree_map(&sandbox.remote());
    assert_same_tree(&local, &remote);
    (local, remote)
}

/// Every message file on both sides carries its UID (see [`assert_names_carry_uids`]).
#[track_caller]
fn assert_both_names_carry_uids(sandbox: &Sandbox) {
    assert_names_carry_uids(&sandbox.local());
    assert_names_carry_uids(&sandbox.remote());
}

/// A rerun of account `Test` over `folders` folders finds nothing to do.
#[track_caller]
fn assert_rerun_changes_nothing(sandbox: &Sandbox, folders: usize) {
    let outcome = sandbox.sync_ok(&[]);
    assert_eq!(
        outcome.stdout,
        format!("Account Test: synced {folders} folders: no changes\n"),
        "{outcome}"
    );
}

/// Changes the flags of the message [`message`]`(tag)` in `folder` as a mail client does.
#[track_caller]
fn reflag(folder: &Path, tag: &str, flags: &str) {
    set_flags(&find_message(folder, &message(tag)), flags);
}

/// Deletes the message [`message`]`(tag)` from `folder` as a mail client does.
#[track_caller]
fn delete(folder: &Path, tag: &str) {
    fs::remove_file(find_message(folder, &message(tag))).unwrap();
}

/// A sandbox whose two sides were populated and synced once.
fn synced_sandbox() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write_two_maildirs_config("");
    populate(&sandbox);
    sandbox.sync_ok(&[]);
    sandbox
}

#[test]
fn first_sync_copies_both_ways_creates_folders_and_a_rerun_changes_nothing() {
    let sandbox = Sandbox::new();
    sandbox.write_two_maildirs_config("");
    let expected = populate(&sandbox);

    let outcome = sandbox.sync_ok(&[]);
    assert_eq!(
        outcome.account_line("Test"),
        "Account Test: synced 4 folders: 11 messages copied (5 to local, 6 to remote), \
         0 flag updates, 0 deletions, 2 folders created",
        "{outcome}"
    );
    assert!(outcome.stdout.contains("created on remote"), "{outcome}");
    assert!(outcome.stdout.contains("created on local"), "{outcome}");

    let local = tree_map(&sandbox.local());
    let remote = tree_map(&sandbox.remote());
    // Contents are the map's keys: equal maps mean byte-identical copies and equal flags.
    assert_same_tree(&expected, &local);
    assert_same_tree(&expected, &remote);
    assert_eq!(
        folders(&sandbox.remote()),
        ["Archive", "INBOX", "Lists", "Work.Projects"]
    );
    assert_both_names_carry_uids(&sandbox);
    assert!(tmp_leftovers(&sandbox.local()).is_empty());
    assert!(tmp_leftovers(&sandbox.remote()).is_empty());

    let local_before = snapshot(&sandbox.local());
    let remote_before = snapshot(&sandbox.remote());
    assert_rerun_changes_nothing(&sandbox, 4);
    assert_same_snapshot(
        "the local Maildir",
        &local_before,
        &snapshot(&sandbox.local()),
    );
    assert_same_snapshot(
        "the remote Maildir",
        &remote_before,
        &snapshot(&sandbox.remote()),
    );
}

#[test]
fn a_flag_change_made_by_renaming_travels_to_the_other_side() {
    let sandbox = synced_sandbox();
    let local_inbox = sandbox.local().join("INBOX");
    let remote_inbox = sandbox.remote().join("INBOX");
    let remote_work = sandbox.remote().join("Work.Projects");

    // Local: read and flag a message that was in new/; unflag another.
    reflag(&local_inbox, "local-inbox-1", "FS");
    reflag(&local_inbox, "local-inbox-3", "S");
    // Remote: un-answer one message, answer another.
    reflag(&remote_work, "local-work-1", "S");
    reflag(&remote_work, "remote-work-1", "FRS");
    // Remote: mark one unread again.
    reflag(&remote_inbox, "local-inbox-2", "");

    let outcome = sandbox.sync_ok(&[]);
    assert_eq!(
        outcome.account_line("Test"),
        "Account Test: synced 4 folders: 0 messages copied (0 to local, 0 to remote), \
         5 flag updates, 0 deletions, 0 folders created",
        "{outcome}"
    );
    let (local, _) = same_trees(&sandbox);
    assert_eq!(local["INBOX"][&message("local-inbox-1")], "FS");
    assert_eq!(local["INBOX"][&message("local-inbox-2")], "");
    assert_eq!(local["INBOX"][&message("local-inbox-3")], "S");
    assert_eq!(local["Work.Projects"][&message("local-work-1")], "S");
    assert_eq!(local["Work.Projects"][&message("remote-work-1")], "FRS");
    assert_both_names_carry_uids(&sandbox);

    assert_rerun_changes_nothing(&sandbox, 4);
}

#[test]
fn a_deletion_by_unlinking_travels_to_the_other_side() {
    let sandbox = synced_sandbox();
    delete(&sandbox.local().join("INBOX"), "remote-inbox-1");
    delete(&sandbox.remote().join("Lists"), "remote-lists-2");
    delete(&sandbox.remote().join("Work.Projects"), "local-work-2");

    let outcome = sandbox.sync_ok(&[]);
    assert_eq!(
        outcome.account_line("Test"),
        "Account Test: synced 4 folders: 0 messages copied (0 to local, 0 to remote), \
         0 flag updates, 3 deletions, 0 folders created",
        "{outcome}"
    );
    let (local, remote) = same_trees(&sandbox);
    assert!(!remote["INBOX"].contains_key(&message("remote-inbox-1")));
    assert!(!local["Lists"].contains_key(&message("remote-lists-2")));
    assert!(!local["Work.Projects"].contains_key(&message("local-work-2")));
    assert_eq!(local.values().map(BTreeMap::len).sum::<usize>(), 8);

    assert_rerun_changes_nothing(&sandbox, 4);
}

#[test]
fn a_message_a_mail_client_delivered_gets_a_uid_and_is_synced() {
    let sandbox = synced_sandbox();
    let delivered_new = deliver_new(&sandbox.local().join("INBOX"), &message("client-new"));
    deliver_cur(&sandbox.remote().join("Lists"), &message("client-cur"), "S");

    let outcome = sandbox.sync_ok(&[]);
    assert_eq!(
        outcome.account_line("Test"),
        "Account Test: synced 4 folders: 2 messages copied (1 to local, 1 to remote), \
         0 flag updates, 0 deletions, 0 folders created",
        "{outcome}"
    );
    let (local, remote) = same_trees(&sandbox);
    assert_eq!(remote["INBOX"][&message("client-new")], "");
    assert_eq!(local["Lists"][&message("client-cur")], "S");
    // The client's file was renamed to carry a UID, its content untouched.
    assert!(
        !delivered_new.exists(),
        "the client's file keeps no UID-less name"
    );
    let renamed = find_message(&sandbox.local().join("INBOX"), &message("client-new"));
    let renamed_name = renamed.file_name().unwrap().to_str().unwrap();
    let original_name = delivered_new.file_name().unwrap().to_str().unwrap();
    assert!(
        renamed_name.starts_with(&format!("{original_name},U=")),
        "{renamed_name} should keep the client's unique part {original_name}"
    );
    assert_both_names_carry_uids(&sandbox);

    assert_rerun_changes_nothing(&sandbox, 4);
}

/// The part of a summary line after `synced` / `would sync`.
fn totals(line: &str, verb: &str) -> String {
    line.split_once(verb)
        .unwrap_or_else(|| panic!("{line:?} lacks {verb:?}"))
        .1
        .to_owned()
}

/// `twinbox sync FLAG` (`--dry-run` or `-n`), which must succeed and leave both Maildirs
/// and the metadata directory exactly as they were.
fn dry_run(sandbox: &Sandbox, flag: &str) -> Outcome {
    let frozen = Frozen::of(sandbox);
    let dry = sandbox.sync_ok(&[flag]);
    frozen.assert_unchanged();
    dry
}

/// Runs the real sync after `dry` and checks that it did exactly what the dry run announced.
#[track_caller]
fn assert_real_run_does_what_the_dry_run_said(sandbox: &Sandbox, dry: &Outcome) {
    let real = sandbox.sync_ok(&[]);
    assert_eq!(
        totals(dry.account_line("Test"), "would sync"),
        totals(real.account_line("Test"), "synced"),
        "dry run:\n{dry}\nreal run:\n{real}"
    );
}

#[test]
fn dry_run_of_a_first_sync_changes_nothing_and_says_what_it_would_do() {
    let sandbox = Sandbox::new();
    sandbox.write_two_maildirs_config("");
    populate(&sandbox);

    let dry = dry_run(&sandbox, "--dry-run");
    assert!(!sandbox.metadata().exists(), "a dry run creates no state");
    let dry_line = dry.account_line("Test");
    assert!(dry_line.starts_with("Account Test: would sync "), "{dry}");
    assert!(dry.stdout.contains("would create on remote"), "{dry}");

    // The dry run announced exactly what the real sync then does.
    assert_real_run_does_what_the_dry_run_said(&sandbox, &dry);
}

#[test]
fn dry_run_after_changes_on_both_sides_changes_nothing_and_says_what_it_would_do() {
    let sandbox = synced_sandbox();
    reflag(&sandbox.local().join("INBOX"), "local-inbox-1", "S");
    delete(&sandbox.remote().join("Lists"), "remote-lists-1");
    deliver_new(&sandbox.remote().join("INBOX"), &message("late"));
    create_folder(&sandbox.local().join("New.Folder"));
    deliver_cur(
        &sandbox.local().join("New.Folder"),
        &message("new-folder"),
        "S",
    );

    let dry = dry_run(&sandbox, "--dry-run");
    assert_eq!(
        dry.account_line("Test"),
        "Account Test: would sync 5 folders: 2 messages copied (1 to local, 1 to remote), \
         1 flag update, 1 deletion, 1 folder created",
        "{dry}"
    );

    assert_real_run_does_what_the_dry_run_said(&sandbox, &dry);
    same_trees(&sandbox);
}

#[test]
fn the_folder_option_limits_the_sync_to_those_folders() {
    let sandbox = synced_sandbox();
    deliver_new(&sandbox.local().join("INBOX"), &message("inbox-late"));
    deliver_new(
        &sandbox.local().join("Work.Projects"),
        &message("work-late"),
    );
    deliver_new(&sandbox.remote().join("Lists"), &message("lists-late"));

    let outcome = sandbox.sync_ok(&["-f", "INBOX"]);
    assert_eq!(
        outcome.account_line("Test"),
        "Account Test: synced 1 folder: 1 message copied (0 to local, 1 to remote), \
         0 flag updates, 0 deletions, 0 folders created",
        "{outcome}"
    );
    let remote = tree_map(&sandbox.remote());
    let local = tree_map(&sandbox.local());
    assert!(remote["INBOX"].contains_key(&message("inbox-late")));
    assert!(!remote["Work.Projects"].contains_key(&message("work-late")));
    assert!(!local["Lists"].contains_key(&message("lists-late")));

    // Folders are named as twinbox names them, with `/`, whatever the Maildir's `sep`.
    let outcome = sandbox.sync_ok(&["-f", "Work/Projects,Lists"]);
    assert_eq!(
        outcome.account_line("Test"),
        "Account Test: synced 2 folders: 2 messages copied (1 to local, 1 to remote), \
         0 flag updates, 0 deletions, 0 folders created",
        "{outcome}"
    );
    same_trees(&sandbox);
}

#[test]
fn plugins_lists_the_maildir_plugin_and_the_test_plugin() {
    let sandbox = Sandbox::new();
    let mut command = sandbox.bare_command();
    command
        .arg("--plugin-dir")
        .arg(target_dir())
        .arg("--plugin-dir")
        .arg(test_plugin_dir())
        .arg("plugins");
    let outcome = run_command(command);
    outcome.assert_success();

    let lines: Vec<&str> = outcome.stdout.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["TYPE", "VERSION", "INTERFACE", "PATH", "STATUS"],
        "{outcome}"
    );
    let row = |path: PathBuf| -> Vec<String> {
        let path = path.display().to_string();
        let found: Vec<&&str> = lines.iter().filter(|l| l.contains(&path)).collect();
        assert_eq!(found.len(), 1, "one row for {path}\n{outcome}");
        found[0].split_whitespace().map(str::to_owned).collect()
    };
    let is_version = |v: &str| {
        let parts: Vec<&str> = v.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok())
    };

    let maildir = row(target_dir().join(MAILDIR_PLUGIN));
    assert_eq!(maildir[0], "Maildir", "{outcome}");
    assert!(is_version(&maildir[1]), "a version like 0.1.0: {outcome}");
    assert!(maildir[2].starts_with("1."), "interface 1.x: {outcome}");
    assert_eq!(maildir[4..], ["ok"], "{outcome}");

    let panicking = row(test_plugin_dir().join(PANICKING_PLUGIN));
    assert_eq!(panicking[0], "Panicking", "{outcome}");
    assert!(is_version(&panicking[1]), "{outcome}");
    assert!(panicking[2].starts_with("1."), "interface 1.x: {outcome}");
    assert_eq!(panicking[4..], ["ok"], "{outcome}");
}

/// Issue 11: `cargo build --workspace` (the test command) builds the test plugins next to
/// `twinbox`, but `twinbox plugins` there lists only the four real ones, all loading.
#[test]
fn the_test_plugins_built_next_to_twinbox_are_not_plugins_there() {
    let sandbox = Sandbox::new();
    let outcome = run_command({
        let mut command = sandbox.bare_command();
        command.arg("plugins");
        command
    });
    outcome.assert_success();
    let mut types: Vec<&str> = outcome
        .stdout
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().next().unwrap_or(""))
        .collect();
    types.sort_unstable();
    assert_eq!(types, ["IMAP", "MH", "Maildir", "mbox"], "{outcome}");
    assert!(
        outcome.stdout.lines().skip(1).all(|l| l.ends_with(" ok")),
        "{outcome}"
    );
    assert!(
        target_dir().join("libtestplugin_panicking.so").is_file(),
        "the test plugins are built there"
    );
}

#[test]
fn nested_directories_with_a_slash_separator() {
    let sandbox = Sandbox::new();
    sandbox.write_two_maildirs_config("sep = /");
    let local = sandbox.local();
    deliver_new(&create_folder(&local.join("INBOX")), &message("inbox"));
    // `Work` is itself a folder, with folders below it; `Lists` only holds folders.
    deliver_cur(&create_folder(&local.join("Work")), &message("work"), "S");
    deliver_cur(
        &create_folder(&local.join("Work/Projects")),
        &message("projects"),
        "FS",
    );
    deliver_new(
        &create_folder(&local.join("Work/Projects/Old")),
        &message("old"),
    );
    deliver_new(
        &create_folder(&sandbox.remote().join("Lists/rust")),
        &message("rust"),
    );

    let outcome = sandbox.sync_ok(&[]);
    assert_eq!(
        outcome.account_line("Test"),
        "Account Test: synced 5 folders: 5 messages copied (1 to local, 4 to remote), \
         0 flag updates, 0 deletions, 5 folders created",
        "{outcome}"
    );
    let all = [
        "INBOX",
        "Lists/rust",
        "Work",
        "Work/Projects",
        "Work/Projects/Old",
    ];
    assert_eq!(folders(&sandbox.local()), all);
    assert_eq!(folders(&sandbox.remote()), all);
    let (local_tree, _) = same_trees(&sandbox);
    assert_eq!(local_tree["Work/Projects"][&message("projects")], "FS");
    assert_both_names_carry_uids(&sandbox);

    assert_rerun_changes_nothing(&sandbox, 5);
}

#[test]
fn a_nested_maildir_syncs_with_a_flat_one() {
    let sandbox = Sandbox::new();
    let config = sandbox.two_maildirs_config("").replace(
        &format!("localfolders = {}\n", sandbox.local().display()),
        &format!("localfolders = {}\nsep = /\n", sandbox.local().display()),
    );
    sandbox.write_config(&config);
    deliver_new(
        &create_folder(&sandbox.local().join("Work/Projects")),
        &message("nested"),
    );
    deliver_new(
        &create_folder(&sandbox.remote().join("Lists.rust")),
        &message("flat"),
    );

    sandbox.sync_ok(&[]);
    assert_eq!(folders(&sandbox.local()), ["Lists/rust", "Work/Projects"]);
    assert_eq!(folders(&sandbox.remote()), ["Lists.rust", "Work.Projects"]);
    let local = tree_map(&sandbox.local());
    let remote = tree_map(&sandbox.remote());
    assert_eq!(local["Work/Projects"], remote["Work.Projects"]);
    assert_eq!(local["Lists/rust"], remote["Lists.rust"]);
    assert_eq!(local["Lists/rust"].len(), 1);
    assert_both_names_carry_uids(&sandbox);
    assert_rerun_changes_nothing(&sandbox, 2);
}

#[test]
fn dry_run_of_flag_changes_and_deletions_changes_nothing() {
    // Every file already has its UID: the dry run has nothing to name either.
    let sandbox = synced_sandbox();
    reflag(&sandbox.local().join("INBOX"), "remote-inbox-1", "RS");
    delete(&sandbox.remote().join("Archive"), "local-archive-1");

    let dry = dry_run(&sandbox, "-n");
    assert_eq!(
        dry.account_line("Test"),
        "Account Test: would sync 4 folders: 0 messages copied (0 to local, 0 to remote), \
         1 flag update, 1 deletion, 0 folders created",
        "{dry}"
    );

    assert_real_run_does_what_the_dry_run_said(&sandbox, &dry);
    same_trees(&sandbox);
}
