//! Switching from OfflineIMAP without a re-download (issue 10, point 2): the real
//! `offlineimap` syncs a Dovecot account into a Maildir, `twinbox import-offlineimap`
//! turns its state into twinbox's, and the first `twinbox sync` then transfers nothing,
//! renames and rewrites no file and changes nothing on the server; flag changes made
//! afterwards on either side reach the other (so the imported pairs are the right ones).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use twinbox_integration::dovecot::*;
use twinbox_integration::*;

const USER: &str = "alice";

/// Nested folders, and one whose name is not ASCII (modified UTF-7 on disk).
const FOLDERS: [&str; 4] = ["INBOX", "Work", "Work/Projects", "Ärger"];

/// The server's mail: folder -> (tag, Maildir flag letters).
const FIXTURE: [(&str, &str, &str); 8] = [
    ("INBOX", "inbox-unread", ""),
    ("INBOX", "inbox-seen", "S"),
    ("INBOX", "inbox-flagged", "FS"),
    ("INBOX", "inbox-answered", "RS"),
    ("Work", "work", "S"),
    ("Work/Projects", "projects-seen", "S"),
    ("Work/Projects", "projects-unread", ""),
    ("Ärger", "aerger", "F"),
];

/// A message whose first line is an mbox `From ` line, which OfflineIMAP drops when it
/// stores the message: its local copy differs from the server's, so pairing by content
/// could not find it; the import pairs it by UID.
fn from_line_message() -> Vec<u8> {
    [
        b"From alice@example.org Tue Nov 14 22:13:20 2023\n".as_slice(),
        &message("inbox-from-line"),
    ]
    .concat()
}

/// `content` without a leading mbox `From ` line.
fn without_from_line(content: &[u8]) -> Vec<u8> {
    if content.starts_with(b"From ") {
        if let Some(end) = content.iter().position(|b| *b == b'\n') {
            return content[end + 1..].to_vec();
        }
    }
    content.to_vec()
}

/// Runs the real OfflineIMAP in the sandbox (its own HOME), panicking with its output
/// unless it succeeds.
fn run_offlineimap(sandbox: &Sandbox, rc: &Path) {
    let program = "/usr/bin/offlineimap";
    assert!(
        Path::new(program).exists(),
        "{program} is not installed: run scripts/test (it installs offlineimap3)"
    );
    let output = Command::new(program)
        .args([
            "-c",
            rc.to_str().expect("a UTF-8 path"),
            "-o",
            "-u",
            "quiet",
        ])
        .current_dir(sandbox.path())
        .env("HOME", sandbox.home())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        output.status.success(),
        "offlineimap failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One switch from OfflineIMAP: the server, the Maildir and OfflineIMAP's state as it
/// left them, and a twinbox config for the same account and Maildir.
struct Switch {
    dovecot: Dovecot,
    sandbox: Sandbox,
    /// OfflineIMAP's metadata directory.
    offlineimap: PathBuf,
    /// The Maildir's `sep` (as both tools are configured).
    nested: bool,
}

impl Switch {
    /// Dovecot with `separator`, OfflineIMAP run once with the Maildir's `sep` `/` if
    /// `nested` (else `.`), and twinbox configured alike.
    fn new(separator: char, nested: bool) -> Switch {
        let dovecot = Dovecot::start(DovecotOptions {
            tls: false,
            separator,
            ..DovecotOptions::default()
        });
        for folder in FOLDERS {
            dovecot.create_folder(USER, folder);
        }
        for (folder, tag, letters) in FIXTURE {
            dovecot.deliver(USER, folder, &message(tag), &imap_flags(letters));
        }
        dovecot.deliver(USER, "INBOX", &from_line_message(), &["\\Seen"]);

        let sandbox = Sandbox::new();
        let root = sandbox.local();
        let offlineimap = sandbox.path().join("offlineimap");
        let sep = if nested { "/" } else { "." };
        let rc = sandbox.path().join("offlineimaprc");
        fs::write(
            &rc,
            format!(
                "[general]\n\
                 accounts = {ACCOUNT}\n\
                 metadata = {metadata}\n\
                 \n\
                 [Account {ACCOUNT}]\n\
                 localrepository = Local\n\
                 remoterepository = Remote\n\
                 \n\
                 [Repository Local]\n\
                 type = Maildir\n\
                 localfolders = {root}\n\
                 sep = {sep}\n\
                 \n\
                 [Repository Remote]\n\
                 type = IMAP\n\
                 remotehost = 127.0.0.1\n\
                 remoteport = {port}\n\
                 remoteuser = {USER}\n\
                 remotepass = {password}\n\
                 ssl = no\n\
                 starttls = no\n",
                metadata = offlineimap.display(),
                root = root.display(),
                port = dovecot.imap_port(),
                password = dovecot.password(USER),
            ),
        )
        .expect("write the OfflineIMAP config");
        run_offlineimap(&sandbox, &rc);

        let remote = dovecot.plaintext_repository(USER, dovecot.imap_port());
        let local = repository_section(
            "Local",
            &format!(
                "type = Maildir\nlocalfolders = {}\nsep = {sep}\n",
                root.display()
            ),
        );
        sandbox.write_config(&sandbox.account_config(
            ACCOUNT,
            "",
            &local,
            &remote.section("Remote"),
        ));
        Switch {
            dovecot,
            sandbox,
            offlineimap,
            nested,
        }
    }

    fn folder_dir(&self, folder: &str) -> PathBuf {
        let root = self.sandbox.local();
        if self.nested {
            root.join(mutf7_encode(folder))
        } else {
            local_folder_dir(&root, folder, false)
        }
    }

    fn import(&self, extra: &[&str]) -> Outcome {
        let metadata = self.offlineimap.display().to_string();
        let mut args = vec!["import-offlineimap", "--metadata", metadata.as_str()];
        args.extend_from_slice(extra);
        let outcome = run_twinbox(&self.sandbox, &args);
        outcome.assert_success();
        outcome
    }

    /// Every folder's messages on the server as (content without a `From ` line ->
    /// flags), as OfflineIMAP's copies compare.
    fn server_view(&self) -> BTreeMap<String, BTreeMap<Vec<u8>, String>> {
        FOLDERS
            .iter()
            .map(|folder| {
                let messages = self
                    .dovecot
                    .fetch_all(USER, folder)
                    .into_iter()
                    .map(|m| {
                        let letters = m.flag_letters();
                        (without_from_line(&crlf_to_lf(&m.body)), letters)
                    })
                    .collect();
                (folder.to_string(), messages)
            })
            .collect()
    }

    fn local_view(&self) -> BTreeMap<String, BTreeMap<Vec<u8>, String>> {
        FOLDERS
            .iter()
            .map(|folder| (folder.to_string(), folder_map(&self.folder_dir(folder))))
            .collect()
    }
}

fn switch_from_offlineimap(separator: char, nested: bool) {
    let switch = Switch::new(separator, nested);
    let root = switch.sandbox.local();
    let messages = FIXTURE.len() + 1;
    let files = message_files(&root);
    assert_eq!(files.len(), messages, "OfflineIMAP's Maildir: {files:?}");
    assert!(
        files
            .values()
            .any(|(_, content)| *content == message("inbox-from-line")),
        "OfflineIMAP kept the From line: the test no longer covers it"
    );
    assert!(
        switch
            .offlineimap
            .join(format!("Account-{ACCOUNT}/LocalStatus-sqlite/INBOX"))
            .is_file(),
        "OfflineIMAP wrote no SQLite LocalStatus"
    );
    assert_eq!(switch.local_view(), switch.server_view());
    let server_before = switch.dovecot.server_snapshot(USER, &FOLDERS);
    let offlineimap_state = Frozen::take(std::slice::from_ref(&switch.offlineimap));

    // A dry run says what it would import and changes nothing anywhere.
    let everything = Frozen::take(&[
        root.clone(),
        switch.sandbox.metadata(),
        switch.offlineimap.clone(),
    ]);
    let dry = switch.import(&["--dry-run"]);
    assert_eq!(
        dry.account_line(ACCOUNT),
        format!(
            "Account {ACCOUNT}: would import 4 folders ({messages} pairs), 0 left as they were, \
             0 without OfflineIMAP state, 0 failed"
        ),
        "{dry}"
    );
    everything.assert_unchanged();

    let import = switch.import(&[]);
    assert_eq!(
        import.account_line(ACCOUNT),
        format!(
            "Account {ACCOUNT}: imported 4 folders ({messages} pairs), 0 left as they were, \
             0 without OfflineIMAP state, 0 failed"
        ),
        "{import}"
    );
    assert!(
        import
            .folder_line("INBOX")
            .contains(" imported 5 pairs from "),
        "{import}"
    );
    assert!(
        import
            .folder_line("Ärger")
            .contains("LocalStatus-sqlite/&AMQ-rger "),
        "{import}"
    );
    // Not a message file renamed or rewritten; OfflineIMAP's state as it was.
    assert_eq!(message_files(&root), files);
    offlineimap_state.assert_unchanged();

    // A second import leaves every folder as the first one made it.
    let again = switch.import(&[]);
    assert_eq!(
        again.account_line(ACCOUNT),
        format!(
            "Account {ACCOUNT}: imported 0 folders (0 pairs), 4 left as they were, \
             0 without OfflineIMAP state, 0 failed"
        ),
        "{again}"
    );

    // The first sync: nothing to do at all, and a second one neither.
    assert_no_changes(&switch.sandbox);
    assert_no_changes(&switch.sandbox);
    assert_eq!(message_files(&root), files, "same names, inodes and bytes");
    assert_eq!(
        switch.dovecot.server_snapshot(USER, &FOLDERS),
        server_before,
        "nothing changed on the server"
    );
    offlineimap_state.assert_unchanged();

    // A flag change on each side reaches the other, on the message it was made on.
    let unread = find_message(&switch.folder_dir("INBOX"), &message("inbox-unread"));
    set_flags(&unread, "S");
    let projects_unread = switch
        .dovecot
        .fetch_all(USER, "Work/Projects")
        .into_iter()
        .find(|m| crlf_to_lf(&m.body) == message("projects-unread"))
        .expect("projects-unread on the server");
    switch
        .dovecot
        .set_flags(USER, "Work/Projects", projects_unread.uid, &["\\Flagged"]);
    let outcome = sync_ok(&switch.sandbox, &[]);
    assert_eq!(
        outcome.account_line(ACCOUNT),
        format!(
            "Account {ACCOUNT}: synced 4 folders: 0 messages copied (0 to local, 0 to remote), \
             2 flag updates, 0 deletions, 0 folders created"
        ),
        "{outcome}"
    );
    assert_eq!(switch.local_view(), switch.server_view());
    assert_eq!(switch.server_view()["INBOX"][&message("inbox-unread")], "S");
    assert_eq!(
        switch.local_view()["Work/Projects"][&message("projects-unread")],
        "F"
    );
    assert_no_changes(&switch.sandbox);
}

#[test]
fn switching_from_offlineimap_transfers_nothing_and_keeps_the_pairs() {
    switch_from_offlineimap('.', false);
}

#[test]
fn switching_from_offlineimap_with_nested_folders_and_a_slash_separator() {
    switch_from_offlineimap('/', true);
}

/// Copies the files of `from` into `to` (a tree of directories and files).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create a directory");
    for entry in fs::read_dir(from).expect("list a directory") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

#[test]
fn missing_or_damaged_offlineimap_state_is_named_with_the_fix() {
    let switch = Switch::new('.', false);
    let everything = Frozen::take(&[
        switch.sandbox.local(),
        switch.sandbox.metadata(),
        switch.offlineimap.clone(),
    ]);

    // No state for the account where it is looked for: usage error, nothing opened.
    let elsewhere = switch.sandbox.path().join("nowhere");
    let outcome = run_twinbox(
        &switch.sandbox,
        &[
            "import-offlineimap",
            "--metadata",
            elsewhere.to_str().unwrap(),
        ],
    );
    outcome.assert_code(2);
    assert_eq!(outcome.stderr.lines().count(), 1, "{outcome}");
    assert!(
        outcome.stderr.contains(&format!(
            "{}/Account-{ACCOUNT} does not exist",
            elsewhere.display()
        )) && outcome.stderr.contains("--metadata DIR"),
        "{outcome}"
    );

    // A damaged LocalStatus database: that folder fails, naming the file; the others are
    // imported.
    let damaged = switch.sandbox.path().join("damaged");
    copy_tree(&switch.offlineimap, &damaged);
    let file = damaged.join(format!("Account-{ACCOUNT}/LocalStatus-sqlite/Work"));
    fs::write(
        &file,
        "not a database at all, but long enough to be read as one...",
    )
    .expect("damage a status file");
    let outcome = run_twinbox(
        &switch.sandbox,
        &[
            "import-offlineimap",
            "--metadata",
            damaged.to_str().unwrap(),
            "--dry-run",
        ],
    );
    outcome.assert_code(1);
    let errors = outcome.folder_errors("Work");
    assert_eq!(errors.len(), 1, "{outcome}");
    assert!(
        errors[0].contains(&format!("ERROR: {}: ", file.display()))
            && errors[0].contains("move the file aside"),
        "{outcome}"
    );
    assert_eq!(
        outcome.account_line(ACCOUNT),
        format!(
            "Account {ACCOUNT}: would import 3 folders (8 pairs), 0 left as they were, \
             0 without OfflineIMAP state, 1 failed"
        ),
        "{outcome}"
    );
    everything.assert_unchanged();
}

#[test]
fn messages_deleted_locally_after_offlineimaps_last_run() {
    let switch = Switch::new('.', false);
    // In INBOX a message below the newest: its pair is imported, and the first sync
    // deletes it on the server, as OfflineIMAP's next run would have.
    fs::remove_file(find_message(
        &switch.folder_dir("INBOX"),
        &message("inbox-seen"),
    ))
    .expect("delete a message locally");
    // In Work/Projects the newest: the Maildir could give its UID to a new message, so
    // the folder is refused with what to do.
    fs::remove_file(find_message(
        &switch.folder_dir("Work/Projects"),
        &message("projects-unread"),
    ))
    .expect("delete a message locally");

    let metadata = switch.offlineimap.display().to_string();
    let outcome = run_twinbox(
        &switch.sandbox,
        &["import-offlineimap", "--metadata", metadata.as_str()],
    );
    outcome.assert_code(1);
    assert!(
        outcome
            .folder_line("INBOX")
            .contains("imported 5 pairs from ")
            && outcome.folder_line("INBOX").contains(
                "; 1 deleted locally since OfflineIMAP's last sync: the next sync deletes \
                 them on the remote side"
            ),
        "{outcome}"
    );
    let refused = outcome.folder_errors("Work/Projects");
    assert_eq!(refused.len(), 1, "{outcome}");
    assert!(
        refused[0].contains("LocalStatus-sqlite/Work.Projects pairs local UIDs (2)")
            && refused[0].contains("run offlineimap once more"),
        "{outcome}"
    );

    let sync = sync_ok(&switch.sandbox, &["-f", "INBOX"]);
    assert_eq!(
        sync.account_line(ACCOUNT),
        format!(
            "Account {ACCOUNT}: synced 1 folders: 0 messages copied (0 to local, 0 to remote), \
             0 flag updates, 1 deletions, 0 folders created"
        ),
        "{sync}"
    );
    assert!(!switch.server_view()["INBOX"].contains_key(&message("inbox-seen")));
    assert_eq!(switch.local_view()["INBOX"], switch.server_view()["INBOX"]);
}
