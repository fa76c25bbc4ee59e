//! `[mbnames]` byte for byte as OfflineIMAP writes it: the real `offlineimap` (Debian's
//! `offlineimap3`) and twinbox run the same configuration (two accounts on a test Dovecot,
//! the mutt example of OfflineIMAP's documentation, a folderfilter) each into its own
//! Maildirs, metadata and mailbox file, and the two files must be equal. (issue 10,
//! Deliver item 3)

use std::fs;
use std::path::{Path, PathBuf};

use twinbox_integration::dovecot::{sync_ok, Dovecot, DovecotOptions};
use twinbox_integration::{message, run_offlineimap, Sandbox};

/// Where one tool keeps its mail, state and mailbox list.
struct Paths {
    maildirs: PathBuf,
    metadata: PathBuf,
    mailboxes: PathBuf,
}

impl Paths {
    /// Paths under `dir`, which is created (OfflineIMAP creates its metadata directory
    /// but not its parent).
    fn under(dir: &Path) -> Paths {
        fs::create_dir_all(dir).expect("create a tool's directory");
        Paths {
            maildirs: dir.join("mail"),
            metadata: dir.join("metadata"),
            mailboxes: dir.join("mailboxes"),
        }
    }
}

/// The configuration both tools read, differing only in `paths`.
fn offlineimaprc(dovecot: &Dovecot, paths: &Paths) -> String {
    let remote = |name: &str, user: &str| {
        format!(
            "[Repository {name}]\n\
             type = IMAP\n\
             remotehost = 127.0.0.1\n\
             remoteport = {port}\n\
             remoteuser = {user}\n\
             remotepass = {password}\n\
             ssl = no\n\
             starttls = no\n\n",
            port = dovecot.imap_port(),
            password = dovecot.password(user),
        )
    };
    let local = |name: &str, dir: &str| {
        format!(
            "[Repository {name}]\ntype = Maildir\nlocalfolders = {}\n\n",
            paths.maildirs.join(dir).display()
        )
    };
    format!(
        "[general]\n\
         accounts = Personal, Work\n\
         metadata = {metadata}\n\
         \n\
         [Account Personal]\n\
         localrepository = PersonalLocal\n\
         remoterepository = PersonalRemote\n\
         \n\
         [Account Work]\n\
         localrepository = WorkLocal\n\
         remoterepository = WorkRemote\n\
         \n\
         {}{}{}{}\
         [mbnames]\n\
         enabled = yes\n\
         filename = {mailboxes}\n\
         header = \"mailboxes \"\n\
         peritem = \"+%(accountname)s/%(foldername)s\"\n\
         sep = \" \"\n\
         footer = \"\\n\"\n\
         folderfilter = lambda accountname, foldername: foldername not in ['Spam', 'Trash']\n",
        local("PersonalLocal", "personal"),
        remote("PersonalRemote", "alice"),
        local("WorkLocal", "work"),
        remote("WorkRemote", "bob"),
        metadata = paths.metadata.display(),
        mailboxes = paths.mailboxes.display(),
    )
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn the_mailbox_list_is_offlineimaps_byte_for_byte() {
    let dovecot = Dovecot::start(DovecotOptions {
        tls: false,
        ..DovecotOptions::default()
    });
    for folder in ["INBOX", "Sent", "Work/Projects", "Ärger", "Spam", "archive"] {
        dovecot.deliver("alice", folder, &message(&format!("alice-{folder}")), &[]);
    }
    for folder in ["INBOX", "Lists/rust", "Trash"] {
        dovecot.deliver("bob", folder, &message(&format!("bob-{folder}")), &[]);
    }

    let sandbox = Sandbox::new();
    let theirs = Paths::under(&sandbox.path().join("offlineimap"));
    let ours = Paths::under(&sandbox.path().join("twinbox"));
    let rc = sandbox.path().join("offlineimaprc");
    fs::write(&rc, offlineimaprc(&dovecot, &theirs)).expect("write offlineimaprc");
    sandbox.write_config(&offlineimaprc(&dovecot, &ours));

    run_offlineimap(&sandbox, &rc, &[]);
    sync_ok(&sandbox, &[]);
    let expected = "mailboxes \"+Personal/&AMQ-rger\" \"+Personal/INBOX\" \
                    \"+Personal/Sent\" \"+Personal/Work.Projects\" \"+Personal/archive\" \
                    \"+Work/INBOX\" \"+Work/Lists.rust\"\n";
    assert_eq!(
        read(&theirs.mailboxes),
        expected,
        "OfflineIMAP's list changed"
    );
    assert_eq!(read(&ours.mailboxes), read(&theirs.mailboxes));

    // A folder appears and one account alone is synced: the other stays listed.
    dovecot.deliver("bob", "Lists/tokio", &message("bob-tokio"), &[]);
    dovecot.deliver("alice", "Drafts", &message("alice-drafts"), &[]);
    run_offlineimap(&sandbox, &rc, &["-a", "Work"]);
    sync_ok(&sandbox, &["-a", "Work"]);
    assert!(read(&theirs.mailboxes).contains("\"+Work/Lists.tokio\""));
    assert!(!read(&theirs.mailboxes).contains("Drafts"));
    assert_eq!(read(&ours.mailboxes), read(&theirs.mailboxes));

    // A dry run writes nothing, in both.
    fs::remove_file(&ours.mailboxes).expect("remove the list");
    sync_ok(&sandbox, &["--dry-run"]);
    assert!(!ours.mailboxes.exists());
}
