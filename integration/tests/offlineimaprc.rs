//! A real-world style `~/.offlineimaprc` run unchanged (issue 10): two accounts, a
//! `folderfilter` with `not in [...]`, a `nametrans` `re.sub` pair, `[mbnames]`,
//! `autorefresh`, UI options. Two Maildirs stand for the server and the local copy of each
//! account: the names are OfflineIMAP's (Maildir `sep = .`), so what lands on disk is what
//! OfflineIMAP would have made.

use std::path::Path;

use twinbox_integration::*;

/// The account `Personal` syncs `remote` (the "server": INBOX, Sent, Trash, Spam,
/// Lists.rust) with `local`; the account `Work` syncs two more Maildirs under the sandbox.
fn offlineimaprc(sandbox: &Sandbox) -> String {
    let root = sandbox.path();
    format!(
        "\
# ~/.offlineimaprc of a long-time OfflineIMAP user
[general]
accounts = Personal, Work
metadata = {metadata}
ui = ttyui
maxsyncaccounts = 1
socktimeout = 60

[mbnames]
enabled = yes
filename = {root}/mutt-mailboxes
header = \"mailboxes \"
peritem = \"+%(accountname)s/%(foldername)s\"
sep = \" \"
footer = \"\\n\"

[Account Personal]
localrepository = PersonalLocal
remoterepository = PersonalRemote
autorefresh = 5
quick = 10
synclabels = yes

[Repository PersonalLocal]
type = Maildir
localfolders = {local}
nametrans = lambda folder: re.sub(r'^ml\\.', 'Lists.', folder)

[Repository PersonalRemote]
type = Maildir
localfolders = {remote}
folderfilter = lambda f: f not in ['Trash',
                                   'Spam']
nametrans = lambda folder: re.sub(r'^Lists\\.', 'ml.', folder)

[Account Work]
localrepository = WorkLocal
remoterepository = WorkRemote

[Repository WorkLocal]
type = Maildir
localfolders = {root}/work-local
folderfilter = lambda folder: folder in ['INBOX', 'Reports']

[Repository WorkRemote]
type = Maildir
localfolders = {root}/work-remote
sync_deletes = no
",
        metadata = sandbox.metadata().display(),
        root = root.display(),
        local = sandbox.local().display(),
        remote = sandbox.remote().display(),
    )
}

fn put(root: &Path, folder: &str, tag: &str) {
    deliver_new(&create_folder(&root.join(folder)), &message(tag));
}

fn contents(root: &Path, folder: &str) -> Vec<Vec<u8>> {
    folder_map(&root.join(folder)).into_keys().collect()
}

#[test]
fn a_real_world_offlineimaprc_runs_unchanged() {
    let sandbox = Sandbox::new();
    let (local, remote) = (sandbox.local(), sandbox.remote());
    let (work_local, work_remote) = (
        sandbox.path().join("work-local"),
        sandbox.path().join("work-remote"),
    );
    for folder in ["INBOX", "Sent", "Trash", "Spam", "Lists.rust"] {
        put(&remote, folder, &format!("remote-{folder}"));
    }
    // Local-only: ml.go goes to the server as Lists.go; the local Trash maps to the
    // server's Trash, which the server's folderfilter excludes, so it stays local.
    put(&local, "ml.go", "local-ml.go");
    put(&local, "Trash", "local-Trash");
    for folder in ["INBOX", "Reports", "Private"] {
        put(&work_remote, folder, &format!("work-{folder}"));
    }
    sandbox.write_config(&offlineimaprc(&sandbox));

    // -o: once, although Personal sets autorefresh (which would keep it running).
    let outcome = sandbox.run(&["sync", "-o"]);
    outcome.assert_code(0);

    // Warnings name the option and its section, one line each.
    let config = sandbox.config_path().display().to_string();
    for (option, section, what) in [
        ("ui", "general", "is ignored"),
        ("synclabels", "Account Personal", "is unknown to twinbox"),
    ] {
        let line = outcome
            .stderr
            .lines()
            .find(|line| line.contains(&format!("[{section}] option '{option}'")))
            .unwrap_or_else(|| panic!("no warning about {option}\n{outcome}"));
        assert!(
            line.starts_with(&format!("twinbox: warning: {config}:")),
            "{line}"
        );
        assert!(line.contains(what), "{line}");
    }
    assert_eq!(outcome.stderr.lines().count(), 2, "{outcome}");

    // The server's names, translated as OfflineIMAP translates them; Trash and Spam
    // excluded on both sides.
    assert_eq!(
        folders(&local),
        ["INBOX", "Sent", "Trash", "ml.go", "ml.rust"]
    );
    assert_eq!(
        folders(&remote),
        ["INBOX", "Lists.go", "Lists.rust", "Sent", "Spam", "Trash"]
    );
    assert_eq!(contents(&local, "ml.rust"), [message("remote-Lists.rust")]);
    assert_eq!(contents(&remote, "Lists.go"), [message("local-ml.go")]);
    assert_eq!(contents(&local, "Trash"), [message("local-Trash")]);
    assert_eq!(contents(&remote, "Trash"), [message("remote-Trash")]);

    // Work: the local folderfilter keeps INBOX and Reports only.
    assert_eq!(folders(&work_local), ["INBOX", "Reports"]);

    // sync_deletes = no on the Work server: a message deleted there stays locally.
    let reports = work_remote.join("Reports");
    for file in messages(&reports) {
        std::fs::remove_file(&file.path).expect("delete a message on the server");
    }
    let outcome = sandbox.run(&["sync", "-o"]);
    outcome.assert_code(0);
    assert_eq!(contents(&work_local, "Reports"), [message("work-Reports")]);
    assert!(contents(&work_remote, "Reports").is_empty());

    // A third run changes nothing.
    let outcome = sandbox.run(&["sync", "-o"]);
    outcome.assert_code(0);
    assert!(
        outcome
            .stdout
            .contains("Account Personal: synced 4 folders: no changes"),
        "{outcome}"
    );
}

#[test]
fn python_is_refused_with_one_line_and_exit_2() {
    let sandbox = Sandbox::new();
    let text = offlineimaprc(&sandbox).replace(
        "[Repository PersonalRemote]\n",
        "[Repository PersonalRemote]\nremotepasseval = get_password('imap.example.org')\n",
    );
    sandbox.write_config(&text);
    let outcome = sandbox.run(&["sync"]);
    outcome.assert_code(2);
    let errors: Vec<&str> = outcome
        .stderr
        .lines()
        .filter(|line| !line.starts_with("twinbox: warning:"))
        .collect();
    assert_eq!(errors.len(), 1, "{outcome}");
    let line = sandbox.config_path().display().to_string();
    assert!(
        errors[0].starts_with(&format!("twinbox: {line}:")),
        "{outcome}"
    );
    assert!(
        errors[0].contains("[Repository PersonalRemote] option 'remotepasseval' is not supported")
            && errors[0].contains("remotepasscommand"),
        "{outcome}"
    );
    assert!(!sandbox.local().exists(), "nothing was synced");

    // A lambda outside the forms twinbox reads is refused the same way.
    let text = offlineimaprc(&sandbox).replace(
        "folderfilter = lambda folder: folder in ['INBOX', 'Reports']",
        "folderfilter = lambda folder: folder in get_folders()",
    );
    sandbox.write_config(&text);
    let outcome = sandbox.run(&["sync"]);
    outcome.assert_code(2);
    assert!(
        outcome
            .stderr
            .contains("[Repository WorkLocal] option 'folderfilter' refers to \"get_folders\""),
        "{outcome}"
    );
}

#[test]
fn a_nametrans_pair_that_does_not_round_trip_fails_the_account_before_syncing() {
    let sandbox = Sandbox::new();
    put(&sandbox.remote(), "Lists.rust", "remote-lists");
    // The local nametrans no longer undoes the remote one.
    let text = offlineimaprc(&sandbox).replace(
        "nametrans = lambda folder: re.sub(r'^ml\\.', 'Lists.', folder)",
        "nametrans = lambda folder: folder",
    );
    sandbox.write_config(&text);
    let outcome = sandbox.run(&["sync", "-o", "-a", "Personal"]);
    outcome.assert_code(1);
    let line = outcome.account_line("Personal");
    assert!(
        line.contains("folder Lists/rust of the remote repository becomes ml/rust")
            && line.contains("[Repository PersonalRemote] nametrans")
            && line.contains("[Repository PersonalLocal] nametrans"),
        "{outcome}"
    );
    assert!(folders(&sandbox.local()).is_empty(), "nothing was synced");
}
