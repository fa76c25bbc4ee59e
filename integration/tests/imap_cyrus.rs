//! A representative part of the IMAP end-to-end suite against a second server, Cyrus IMAP
//! (issue 12, deliver 7): sync both ways, flags both ways, deletions both ways, a changed
//! UIDVALIDITY, and a corpus of tricky messages whose bytes must arrive exactly. The rest
//! of the suite runs against Dovecot only.

use std::collections::BTreeMap;

use twinbox_integration::cyrus::{cyrus_available, Cyrus};
use twinbox_integration::dovecot::{maildir_imap_sandbox, sync_code, sync_ok};
use twinbox_integration::*;

const USER: &str = "alice";

/// Skips (with a note on stderr) where `cyrus-imapd` is missing; `scripts/test` installs it.
fn cyrus() -> Option<Cyrus> {
    if !cyrus_available() {
        // CI runs scripts/test, which installs it: there, missing is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "cyrus-imapd is not installed; scripts/test installs it"
        );
        eprintln!("cyrus-imapd is not installed (scripts/test installs it); test skipped");
        return None;
    }
    Some(Cyrus::start(&[USER]))
}

fn assert_same(cyrus: &Cyrus, folder: &str, local: &std::path::Path) {
    assert_eq!(
        folder_map(local),
        cyrus.folder_map(USER, folder),
        "local {} and Cyrus {folder} differ",
        local.display()
    );
}

#[test]
fn cyrus_sync_both_ways_flags_and_deletions() {
    let Some(cyrus) = cyrus() else { return };
    cyrus.deliver(USER, "INBOX", &message("server-1"), &["\\Seen"]);
    cyrus.deliver(USER, "INBOX", &message("server-2"), &[]);
    cyrus.deliver(USER, "Work/Projects", &message("server-3"), &["\\Flagged"]);
    let sandbox = maildir_imap_sandbox("utf8foldernames = yes", &cyrus.repository(USER));
    let local = sandbox.local();
    let inbox = create_folder(&local.join("INBOX"));
    deliver_cur(&inbox, &message("local-1"), "S");
    deliver_new(&inbox, &message("local-2"));
    create_folder(&local.join("Caf\u{e9}"));
    deliver_cur(&local.join("Caf\u{e9}"), &message("local-3"), "FR");

    let outcome = sync_ok(&sandbox, &[]);
    assert!(
        outcome
            .account_line(dovecot::ACCOUNT)
            .contains("6 messages copied (3 to local, 3 to remote)"),
        "{outcome}"
    );
    assert_same(&cyrus, "INBOX", &inbox);
    assert_same(&cyrus, "Work/Projects", &local.join("Work.Projects"));
    assert_same(&cyrus, "Caf\u{e9}", &local.join("Caf\u{e9}"));
    assert_names_carry_uids(&local);
    dovecot::assert_no_changes(&sandbox);

    // Flags both ways, and a deletion on each side.
    let server = cyrus.fetch_all(USER, "INBOX");
    let uid_of = |content: &[u8]| {
        server
            .iter()
            .find(|m| dovecot::crlf_to_lf(&m.body) == content)
            .expect("on the server")
            .uid
    };
    cyrus.set_flags(USER, "INBOX", uid_of(&message("server-2")), &["\\Answered"]);
    cyrus.expunge(USER, "INBOX", uid_of(&message("local-2")));
    set_flags(&find_message(&inbox, &message("server-1")), "FS");
    std::fs::remove_file(find_message(&inbox, &message("local-1"))).unwrap();
    sync_ok(&sandbox, &[]);
    let expected: BTreeMap<Vec<u8>, String> =
        [(message("server-1"), "FS"), (message("server-2"), "R")]
            .into_iter()
            .map(|(c, f)| (c, f.to_owned()))
            .collect();
    assert_eq!(folder_map(&inbox), expected, "local");
    assert_eq!(cyrus.folder_map(USER, "INBOX"), expected, "Cyrus");
    dovecot::assert_no_changes(&sandbox);
}

#[test]
fn cyrus_changed_uidvalidity_refuses_the_folder() {
    let Some(cyrus) = cyrus() else { return };
    cyrus.deliver(USER, "Other", &message("other-1"), &[]);
    let sandbox = maildir_imap_sandbox("", &cyrus.repository(USER));
    sync_ok(&sandbox, &[]);
    let before = cyrus.uidvalidity(USER, "Other");
    cyrus.delete_folder(USER, "Other");
    cyrus.create_folder(USER, "Other");
    cyrus.deliver(USER, "Other", &message("other-2"), &[]);
    assert_ne!(cyrus.uidvalidity(USER, "Other"), before);
    let local_before = folder_map(&sandbox.local().join("Other"));
    let outcome = sync_code(&sandbox, &[], 1);
    assert!(
        outcome
            .stdout
            .lines()
            .any(|l| l.contains("Other") && l.contains("ERROR") && l.contains("UIDVALIDITY")),
        "{outcome}"
    );
    assert_eq!(folder_map(&sandbox.local().join("Other")), local_before);
}

#[test]
fn cyrus_keeps_the_bytes_of_tricky_messages_both_ways() {
    let Some(cyrus) = cyrus() else { return };
    // Long lines, 8-bit and NUL-free binary-ish bodies, a header without a body, a
    // message without a final line end, MIME parts.
    let tricky: Vec<Vec<u8>> = vec![
        [message("long").as_slice(), "x".repeat(5000).as_bytes(), b"\n"].concat(),
        "From: a@example.org\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\nMessage-ID: <8bit@x>\n\n\
         \u{e4}\u{f6}\u{fc} \u{20ac} \u{1f600}\n"
            .as_bytes()
            .to_vec(),
        b"From: a@example.org\nSubject: no body\nMessage-ID: <nobody@x>\n\n".to_vec(),
        b"From: a@example.org\nSubject: no final newline\nMessage-ID: <nonl@x>\n\nlast line"
            .to_vec(),
        b"From: a@example.org\nMIME-Version: 1.0\nMessage-ID: <mime@x>\n\
          Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n\
          part one\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n\
          AAECAwQFBgcICQ==\n--b--\n"
            .to_vec(),
    ];
    for (n, content) in tricky.iter().enumerate() {
        cyrus.deliver(
            USER,
            "Server",
            content,
            if n % 2 == 0 { &["\\Seen"] } else { &[] },
        );
    }
    let sandbox = maildir_imap_sandbox("", &cyrus.repository(USER));
    let uploads = create_folder(&sandbox.local().join("Uploads"));
    for (n, content) in tricky.iter().enumerate() {
        let mut own = content.clone();
        own.extend_from_slice(format!("upload {n}\n").as_bytes());
        deliver_cur(&uploads, &own, "S");
    }
    sync_ok(&sandbox, &[]);
    assert_same(&cyrus, "Server", &sandbox.local().join("Server"));
    assert_same(&cyrus, "Uploads", &uploads);
    assert_eq!(
        messages(&sandbox.local().join("Server")).len(),
        tricky.len()
    );
    dovecot::assert_no_changes(&sandbox);
}
