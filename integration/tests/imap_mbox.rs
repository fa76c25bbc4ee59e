//! IMAP <-> mbox through the third-party mbox plugin (`plugins-example/mbox`), checked with
//! an independent reader: Python's `mailbox.mbox` must read every message back identical
//! to the server's copy (CRLF -> LF, plus the mbox format's own quoting and status
//! headers), and flag changes and deletions made through it must reach the server.

use std::collections::BTreeMap;
use std::path::Path;

use twinbox_integration::dovecot::*;
use twinbox_integration::*;

/// The messages of one mbox file as Python reads them: the stored bytes with the mbox
/// format's own additions undone (the `Status:`/`X-Status:` header lines it writes for
/// mutt, one level of mboxrd `>From ` quoting), with the flags Python reports.
fn read_mbox_with_python(file: &Path) -> Option<BTreeMap<Vec<u8>, String>> {
    let script = r#"
import mailbox, sys
box = mailbox.mbox(sys.argv[1], create=False)
for key in box.keys():
    print(box.get_bytes(key).hex() + "\t" + "".join(sorted(box.get_message(key).get_flags())))
"#;
    let mut messages = BTreeMap::new();
    for line in run_python(script, file)?.lines() {
        let (hex, flags) = line.split_once('\t').expect("two fields");
        messages.insert(unframe(&from_hex(hex)), flags.to_owned());
    }
    Some(messages)
}

/// Undoes what the mbox format adds to a message: its status header lines and one `>` of
/// mboxrd quoting on `>*From ` lines.
fn unframe(stored: &[u8]) -> Vec<u8> {
    let text = stored;
    let mut out = Vec::with_capacity(text.len());
    let mut in_header = true;
    for line in text.split_inclusive(|&b| b == b'\n') {
        if in_header && (line == b"\n") {
            in_header = false;
        }
        if in_header && (line.starts_with(b"Status: ") || line.starts_with(b"X-Status: ")) {
            continue;
        }
        let quoted = line.iter().take_while(|&&b| b == b'>').count();
        if !in_header && quoted > 0 && line[quoted..].starts_with(b"From ") {
            out.extend_from_slice(&line[1..]);
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

/// Python's mbox flag letters for an IMAP message: R read, O old, A answered, F flagged,
/// D deleted, T draft (sorted as Python's `get_flags` is, here).
fn python_flags(message: &ServerMessage) -> String {
    let mut letters = Vec::new();
    for flag in &message.flags {
        match flag.as_str() {
            "\\Seen" => letters.extend(['R', 'O']),
            "\\Answered" => letters.push('A'),
            "\\Flagged" => letters.push('F'),
            "\\Deleted" => letters.push('D'),
            "\\Draft" => letters.push('T'),
            _ => {}
        }
    }
    letters.sort();
    letters.into_iter().collect()
}

fn server_view(dovecot: &Dovecot, folder: &str) -> BTreeMap<Vec<u8>, String> {
    dovecot
        .fetch_all("alice", folder)
        .iter()
        .map(|m| (crlf_to_lf(&m.body), python_flags(m)))
        .collect()
}

#[test]
fn imap_to_mbox_reads_back_identical_and_syncs_two_way() {
    let dovecot = Dovecot::start_default();
    let quoted_body = b"Subject: quoting\r\nMessage-ID: <q@example.org>\r\n\r\nFrom the start of a line\r\n>From already quoted\r\n".to_vec();
    dovecot.deliver("alice", "INBOX", &lf_to_crlf(&message("plain")), &[]);
    dovecot.deliver("alice", "INBOX", &lf_to_crlf(&message("seen")), &["\\Seen"]);
    dovecot.deliver("alice", "INBOX", &quoted_body, &["\\Flagged", "\\Answered"]);
    dovecot.deliver(
        "alice",
        "Work/Projects",
        &lf_to_crlf(&message("plan")),
        &["\\Seen"],
    );

    let sandbox = Sandbox::new();
    let config = sandbox.account_config(
        ACCOUNT,
        "",
        &repository_section(
            "Local",
            &format!(
                "type = mbox\nlocalfolders = {}\n",
                sandbox.local().display()
            ),
        ),
        &dovecot.tls_repository("alice").section("Remote"),
    );
    sandbox.write_config(&config);
    let first = run_twinbox(&sandbox, &["sync"]);
    first.assert_success();
    assert!(
        first
            .account_line(ACCOUNT)
            .contains("4 messages copied (4 to local, 0 to remote)"),
        "{first}"
    );

    let inbox_file = sandbox.local().join("INBOX");
    let work_file = sandbox.local().join("Work.sbd/Projects");
    let Some(inbox) = read_mbox_with_python(&inbox_file) else {
        eprintln!("python3 is missing: skipping the independent mbox reader");
        return;
    };
    assert_eq!(
        inbox,
        server_view(&dovecot, "INBOX"),
        "INBOX as Python reads it\n{first}"
    );
    assert_eq!(
        read_mbox_with_python(&work_file).expect("python3 ran before"),
        server_view(&dovecot, "Work/Projects"),
        "{first}"
    );

    // A mail client (Python's mailbox module, with mutt's locks) flags one message and
    // deletes another; the server follows.
    let script = r#"
import mailbox, sys
box = mailbox.mbox(sys.argv[1], create=False)
box.lock()
for key in list(box.keys()):
    message = box.get_message(key)
    subject = message["Subject"]
    if subject == "test message plain":
        message.add_flag("F")
        box[key] = message
    elif subject == "test message seen":
        box.remove(key)
box.flush()
box.unlock()
"#;
    run_python(script, &inbox_file).expect("python3 ran before");
    let second = run_twinbox(&sandbox, &["sync"]);
    second.assert_success();
    assert!(
        second
            .account_line(ACCOUNT)
            .contains("1 flag update, 1 deletion"),
        "{second}"
    );
    let server = dovecot.fetch_all("alice", "INBOX");
    assert_eq!(server.len(), 2, "the deletion reached the server\n{second}");
    let plain = server
        .iter()
        .find(|m| crlf_to_lf(&m.body) == message("plain"))
        .expect("the flagged message is on the server");
    assert!(plain.flags.iter().any(|f| f == "\\Flagged"), "{second}");
    assert_eq!(
        read_mbox_with_python(&inbox_file).expect("python3 ran before"),
        server_view(&dovecot, "INBOX"),
        "{second}"
    );

    let third = run_twinbox(&sandbox, &["sync"]);
    third.assert_success();
    assert!(
        third.account_line(ACCOUNT).ends_with("no changes"),
        "{third}"
    );
}
