//! Switching from OfflineIMAP without a re-download (issue 10, point 2): the real
//! `offlineimap` syncs a Dovecot account into a Maildir, `twinbox import-offlineimap`
//! turns its state into twinbox's, and the first `twinbox sync` then transfers nothing,
//! renames and rewrites no file and changes nothing on the server; flag changes made
//! afterwards on either side reach the other (so the imported pairs are the right ones).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

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
        run_offlineimap(&sandbox, &rc, &[]);

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
            "Account {ACCOUNT}: synced 1 folder: 0 messages copied (0 to local, 0 to remote), \
             0 flag updates, 1 deletion, 0 folders created"
        ),
        "{sync}"
    );
    assert!(!switch.server_view()["INBOX"].contains_key(&message("inbox-seen")));
    assert_eq!(switch.local_view()["INBOX"], switch.server_view()["INBOX"]);
}

/// A real-world style `~/.offlineimaprc`, read unchanged by both tools: two accounts on
/// the test Dovecot (separator `.`), a `folderfilter` with `not in [...]` and a
/// `nametrans` `re.sub` pair on the first, a `folderfilter` on the second, `[mbnames]`.
/// (`sep = .` tells twinbox the server's delimiter, which the lambdas see; OfflineIMAP
/// asks the server and ignores the option.)
fn real_world_offlineimaprc(dovecot: &Dovecot, sandbox: &Sandbox) -> String {
    let remote = |name: &str, user: &str, extra: &str| {
        format!(
            "[Repository {name}]\n\
             type = IMAP\n\
             remotehost = 127.0.0.1\n\
             remoteport = {port}\n\
             remoteuser = {user}\n\
             remotepass = {password}\n\
             ssl = no\n\
             starttls = no\n\
             sep = .\n\
             {extra}\n",
            port = dovecot.imap_port(),
            password = dovecot.password(user),
        )
    };
    let mail = sandbox.path().join("mail");
    format!(
        "[general]\n\
         accounts = Personal, Work\n\
         metadata = {metadata}\n\
         \n\
         [mbnames]\n\
         enabled = yes\n\
         filename = {mailboxes}\n\
         header = \"mailboxes \"\n\
         peritem = \"+%(accountname)s/%(foldername)s\"\n\
         sep = \" \"\n\
         footer = \"\\n\"\n\
         \n\
         [Account Personal]\n\
         localrepository = PersonalLocal\n\
         remoterepository = PersonalRemote\n\
         \n\
         [Repository PersonalLocal]\n\
         type = Maildir\n\
         localfolders = {personal}\n\
         nametrans = lambda folder: re.sub(r'^ml\\.', 'Lists.', folder)\n\
         \n\
         {}\
         [Account Work]\n\
         localrepository = WorkLocal\n\
         remoterepository = WorkRemote\n\
         \n\
         [Repository WorkLocal]\n\
         type = Maildir\n\
         localfolders = {work}\n\
         \n\
         {}",
        remote(
            "PersonalRemote",
            "alice",
            "folderfilter = lambda f: f not in ['Trash',\n                                   'Spam']\n\
             nametrans = lambda folder: re.sub(r'^Lists\\.', 'ml.', folder)\n"
        ),
        remote(
            "WorkRemote",
            "bob",
            "folderfilter = lambda folder: folder in ['INBOX', 'Reports']\n"
        ),
        metadata = sandbox.metadata().display(),
        mailboxes = sandbox.path().join("mailboxes").display(),
        personal = mail.join("personal").display(),
        work = mail.join("work").display(),
    )
}

/// Issue 10's "Done when": OfflineIMAP syncs two accounts with a folderfilter and a
/// nametrans pair; `twinbox import-offlineimap` with the same config file, then the first
/// sync transfers nothing and changes nothing on either side (same file names, inodes and
/// bytes; the server as it was); the excluded folders stay unsynced; the mailbox list is
/// OfflineIMAP's.
#[test]
fn a_real_world_offlineimaprc_with_nametrans_switches_without_a_transfer() {
    let dovecot = Dovecot::start(DovecotOptions {
        tls: false,
        ..DovecotOptions::default()
    });
    let alice = ["INBOX", "Sent", "Trash", "Spam", "Lists/rust"];
    let bob = ["INBOX", "Reports", "Junk"];
    for (user, folders) in [("alice", &alice[..]), ("bob", &bob[..])] {
        for folder in folders {
            dovecot.create_folder(user, folder);
            for (n, flags) in [(1, &["\\Seen"][..]), (2, &[][..])] {
                let tag = format!("{user}-{folder}-{n}");
                dovecot.deliver(user, folder, &message(&tag), flags);
            }
        }
    }

    let sandbox = Sandbox::new();
    sandbox.write_config(&real_world_offlineimaprc(&dovecot, &sandbox));
    run_offlineimap(&sandbox, &sandbox.config_path(), &[]);

    let personal = sandbox.path().join("mail/personal");
    let work = sandbox.path().join("mail/work");
    let dirs = |root: &Path| {
        let mut names: Vec<String> = fs::read_dir(root)
            .expect("list a Maildir root")
            .map(|entry| entry.expect("an entry").file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    assert_eq!(dirs(&personal), ["INBOX", "Sent", "ml.rust"]);
    assert_eq!(dirs(&work), ["INBOX", "Reports"]);
    let mailboxes = sandbox.path().join("mailboxes");
    let theirs = fs::read_to_string(&mailboxes).expect("OfflineIMAP's mailbox list");
    assert!(
        theirs.starts_with("mailboxes \"+Personal/INBOX\"")
            && theirs.contains("\"+Work/Reports\"")
            && !theirs.contains("Trash"),
        "{theirs}"
    );
    fs::remove_file(&mailboxes).expect("remove OfflineIMAP's mailbox list");

    let files = (message_files(&personal), message_files(&work));
    assert_eq!((files.0.len(), files.1.len()), (6, 4));
    let server_before = (
        dovecot.server_snapshot("alice", &alice),
        dovecot.server_snapshot("bob", &bob),
    );
    let metadata = sandbox.metadata();
    // OfflineIMAP's sync state (its mbnames/ directory twinbox's mbnames shares).
    let offlineimap_state: Vec<PathBuf> = fs::read_dir(&metadata)
        .expect("list the metadata directory")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("Account-") || name.starts_with("Repository-")
        })
        .collect();
    assert_eq!(offlineimap_state.len(), 6, "{offlineimap_state:?}");
    let offlineimap_state = Frozen::take(&offlineimap_state);

    // The same config file: OfflineIMAP's state is where its metadata option says.
    let import = run_twinbox(&sandbox, &["import-offlineimap"]);
    import.assert_success();
    assert_eq!(
        import.account_line("Personal"),
        "Account Personal: imported 3 folders (6 pairs), 0 left as they were, 0 without \
         OfflineIMAP state, 0 failed",
        "{import}"
    );
    assert!(
        import
            .folder_line("ml/rust")
            .contains("LocalStatus-sqlite/ml.rust "),
        "{import}"
    );
    assert_eq!(
        import.account_line("Work"),
        "Account Work: imported 2 folders (4 pairs), 0 left as they were, 0 without \
         OfflineIMAP state, 0 failed",
        "{import}"
    );
    assert_eq!((message_files(&personal), message_files(&work)), files);
    offlineimap_state.assert_unchanged();
    // OfflineIMAP tagged ml.rust's files with the MD5 of its visible name Lists.rust:
    // the Maildir plugin accepted that FMD5 for the folder (its state's third word).
    let state = fs::read_to_string(personal.join("ml.rust/.twinbox-uidvalidity"))
        .expect("the Maildir plugin's state of ml.rust");
    assert_eq!(state.split_whitespace().count(), 3, "{state}");
    let state = fs::read_to_string(personal.join("INBOX/.twinbox-uidvalidity"))
        .expect("the Maildir plugin's state of INBOX");
    assert_eq!(state.split_whitespace().count(), 2, "{state}");

    for _ in 0..2 {
        let sync = sync_ok(&sandbox, &[]);
        for account in ["Personal", "Work"] {
            assert!(
                sync.account_line(account).ends_with(": no changes"),
                "the first sync after the import should change nothing\n{sync}"
            );
        }
    }
    assert_eq!(
        (message_files(&personal), message_files(&work)),
        files,
        "same names, inodes and bytes"
    );
    assert_eq!(
        dirs(&personal),
        ["INBOX", "Sent", "ml.rust"],
        "no Trash, no Spam"
    );
    assert_eq!(dirs(&work), ["INBOX", "Reports"], "no Junk");
    assert_eq!(
        (
            dovecot.server_snapshot("alice", &alice),
            dovecot.server_snapshot("bob", &bob),
        ),
        server_before,
        "nothing changed on the server"
    );
    offlineimap_state.assert_unchanged();
    assert_eq!(
        fs::read_to_string(&mailboxes).expect("twinbox's mailbox list"),
        theirs
    );
}
