//! What goes wrong with a real IMAP server (issue 3, section 5): a folder whose UIDVALIDITY
//! changed, a wrong password, the connection cut in the middle of a FETCH, and a server
//! without UIDPLUS. Each is refused or survived without losing, duplicating or half-writing
//! a message.

use std::collections::BTreeMap;

use twinbox_integration::dovecot::*;
use twinbox_integration::*;

const USER: &str = "alice";

/// Both outputs of a run, for "the error says ..." checks.
fn said(outcome: &Outcome) -> String {
    format!("{}\n{}", outcome.stdout, outcome.stderr)
}

/// The stdout lines about `folder` (`  FOLDER  ERROR: ...`).
fn folder_lines<'a>(outcome: &'a Outcome, folder: &str) -> Vec<&'a str> {
    outcome
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with(&format!("{folder} ")))
        .collect()
}

#[test]
fn changed_uidvalidity_refuses_that_folder_deletes_nothing_and_syncs_the_others() {
    let dovecot = Dovecot::start_default();
    dovecot.deliver(USER, "INBOX", &message("inbox-1"), &[]);
    dovecot.deliver(USER, "Other", &message("other-1"), &["\\Seen"]);
    dovecot.deliver(USER, "Other", &message("other-2"), &[]);
    let sandbox = maildir_imap_sandbox("utf8foldernames = yes", &dovecot.tls_repository(USER));
    sync_ok(&sandbox, &[]);
    let local_other = sandbox.local().join("Other");
    assert_eq!(messages(&local_other).len(), 2);

    // The server recreates the folder: same name, new UIDVALIDITY, other messages.
    let before = dovecot.uidvalidity(USER, "Other");
    dovecot.delete_folder(USER, "Other");
    dovecot.create_folder(USER, "Other");
    dovecot.deliver(USER, "Other", &message("other-after-recreate"), &[]);
    assert_ne!(dovecot.uidvalidity(USER, "Other"), before);
    dovecot.deliver(USER, "INBOX", &message("inbox-2"), &[]);
    // A local change in the refused folder must not travel either.
    deliver_new(&local_other, &message("other-local-new"));
    let local_before = folder_map(&local_other);
    let server_before = dovecot.fetch_all(USER, "Other");

    for run in 1..=2 {
        let outcome = sync_code(&sandbox, &[], 1);
        let lines = folder_lines(&outcome, "Other");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("ERROR") && l.contains("UIDVALIDITY")),
            "run {run}: the Other folder should fail with a UIDVALIDITY error\n{outcome}"
        );
        // The same messages with the same flags (the Maildir plugin may name a client's
        // new file with a UID, as on every listing).
        assert_eq!(
            folder_map(&local_other),
            local_before,
            "run {run}: the local copy of the refused folder changed"
        );
        assert!(tmp_leftovers(&sandbox.local()).is_empty());
        assert_eq!(
            dovecot.fetch_all(USER, "Other"),
            server_before,
            "run {run}: the refused folder changed on the server"
        );
        assert_folder_matches(&dovecot, USER, "INBOX", &sandbox.local().join("INBOX"));
        assert_eq!(messages(&sandbox.local().join("INBOX")).len(), 2);
    }
}

#[test]
fn a_wrong_password_fails_clearly_and_changes_nothing() {
    let dovecot = Dovecot::start_default();
    dovecot.deliver(USER, "INBOX", &message("inbox-1"), &[]);
    let server_before = dovecot.fetch_all(USER, "INBOX");
    let wrong = "not-the-password-8472";
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER).set("remotepass", wrong));

    let outcome = sync_code(&sandbox, &[], 1);
    let text = said(&outcome);
    let lower = text.to_lowercase();
    assert!(
        ["authenticat", "login", "password", "credentials"]
            .iter()
            .any(|w| lower.contains(w)),
        "the error should say that the login failed\n{outcome}"
    );
    assert!(
        !text.contains(wrong),
        "the password must never be printed\n{outcome}"
    );
    assert!(
        outcome.account_line(ACCOUNT).contains("FAILED") || outcome.stdout.contains("ERROR"),
        "{outcome}"
    );
    assert!(
        folders(&sandbox.local()).is_empty(),
        "local folders were created"
    );
    assert_eq!(dovecot.fetch_all(USER, "INBOX"), server_before);
    // What Dovecot saw from twinbox's address (the harness logs in from HARNESS_ADDRESS,
    // and Dovecot may write those lines at any time): a failed login and no successful
    // one. Dovecot logs a failure when the connection closes, possibly after twinbox exited.
    let from_twinbox = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|line| line.contains("rip=127.0.0.1,"))
            .map(str::to_owned)
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let lines = loop {
        let lines = from_twinbox(&dovecot.log());
        if lines.iter().any(|l| l.contains("auth failed")) || std::time::Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        lines.iter().any(|l| l.contains("auth failed")),
        "Dovecot logged no failed login from 127.0.0.1:\n{}",
        dovecot.log()
    );
    assert!(
        !lines.iter().any(|l| l.contains("Login: user=<alice>")),
        "Dovecot logged a successful login from 127.0.0.1:\n{}",
        lines.join("\n")
    );
}

/// A message of about `size` bytes whose body is `tag` repeated on lines.
fn big_message(tag: &str, size: usize) -> Vec<u8> {
    let mut content = message(tag);
    let line = format!("{tag} padding line to make this message big enough.\n");
    while content.len() < size {
        content.extend_from_slice(line.as_bytes());
    }
    content
}

#[test]
fn a_connection_cut_mid_fetch_fails_the_folder_cleanly_and_the_next_run_completes() {
    let dovecot = Dovecot::start_default();
    dovecot.deliver(USER, "INBOX", &message("inbox-1"), &[]);
    for n in 0..4 {
        dovecot.deliver(USER, "Big", &big_message(&format!("big-{n}"), 200_000), &[]);
    }
    // Cut once the server has sent 300 KB of message data on a connection: in the middle
    // of the second big message, whatever the plugin fetches at once.
    let proxy = dovecot.proxy(ProxyOptions {
        cut_after_fetch_bytes: Some(300_000),
        strip_uidplus: false,
        ..ProxyOptions::default()
    });
    let sandbox = maildir_imap_sandbox("", &dovecot.plaintext_repository(USER, proxy.port()));
    let local = sandbox.local();

    let outcome = sync_code(&sandbox, &[], 1);
    assert!(
        proxy.cuts() >= 1,
        "the proxy never cut a connection\n{outcome}"
    );
    assert!(
        folder_lines(&outcome, "Big")
            .iter()
            .any(|l| l.contains("ERROR")),
        "the Big folder should fail\n{outcome}"
    );
    // INBOX is unaffected; Big holds only whole messages, nothing half-written anywhere.
    assert_folder_matches(&dovecot, USER, "INBOX", &local.join("INBOX"));
    assert_only_whole_messages(&dovecot, USER, "Big", &local);

    proxy.set_cut_after_fetch_bytes(None);
    let cuts = proxy.cuts();
    sync_ok(&sandbox, &[]);
    assert_eq!(proxy.cuts(), cuts);
    assert_folder_matches(&dovecot, USER, "Big", &local.join("Big"));
    assert_folder_matches(&dovecot, USER, "INBOX", &local.join("INBOX"));
    assert!(
        tmp_leftovers(&local).is_empty(),
        "{:?}",
        tmp_leftovers(&local)
    );
    assert_no_changes(&sandbox);
}

/// The engine announces the batches it will fetch (interface 1.3) and the IMAP backend
/// sends their `UID FETCH`es at once: a cut while several are answered at once must fail
/// the folder as cleanly as a cut in a single one, keep every whole message that landed
/// before, and leave a connection state from which the next run completes.
#[test]
fn a_connection_cut_while_batches_are_fetched_ahead_fails_cleanly_and_a_rerun_converges() {
    let dovecot = Dovecot::start_default();
    // 12 messages of 600 KB: batches of at most 8 MiB / 3 connections, so four or five
    // batches, all announced ahead at the start.
    for n in 0..12 {
        dovecot.deliver(
            USER,
            "Big",
            &big_message(&format!("ahead-{n}"), 600_000),
            &[],
        );
    }
    // Cut once 3.5 MB of message data went out: in the second or third batch, with the
    // later ones already asked for.
    let proxy = dovecot.proxy(ProxyOptions {
        cut_after_fetch_bytes: Some(3_500_000),
        strip_uidplus: false,
        ..ProxyOptions::default()
    });
    let sandbox = maildir_imap_sandbox("", &dovecot.plaintext_repository(USER, proxy.port()));
    let local = sandbox.local();

    let outcome = sync_code(&sandbox, &["-vv"], 1);
    assert!(
        proxy.cuts() >= 1,
        "the proxy never cut a connection\n{outcome}"
    );
    assert!(
        outcome.stderr.contains("sent ahead: UID FETCH"),
        "the batches were not fetched ahead\n{outcome}"
    );
    assert!(
        folder_lines(&outcome, "Big")
            .iter()
            .any(|l| l.contains("ERROR")),
        "the Big folder should fail\n{outcome}"
    );
    let landed = assert_only_whole_messages(&dovecot, USER, "Big", &local);
    assert!(
        landed > 0 && landed < 12,
        "the batch before the cut lands, the rest does not: {landed} files\n{outcome}"
    );

    proxy.set_cut_after_fetch_bytes(None);
    sync_ok(&sandbox, &[]);
    assert_folder_matches(&dovecot, USER, "Big", &local.join("Big"));
    assert!(
        tmp_leftovers(&local).is_empty(),
        "{:?}",
        tmp_leftovers(&local)
    );
    assert_no_changes(&sandbox);
}

#[test]
fn without_uidplus_uploads_pair_correctly_and_a_rerun_duplicates_nothing() {
    let dovecot = Dovecot::start(DovecotOptions {
        imap_capability: Some(MINIMAL_CAPABILITY.to_owned()),
        ..DovecotOptions::default()
    });
    dovecot.deliver(USER, "INBOX", &message("server-1"), &["\\Seen"]);
    // Dovecot sends APPENDUID whatever it advertises: the proxy removes it.
    let proxy = dovecot.proxy(ProxyOptions {
        cut_after_fetch_bytes: None,
        strip_uidplus: true,
        ..ProxyOptions::default()
    });
    let sandbox = maildir_imap_sandbox("", &dovecot.plaintext_repository(USER, proxy.port()));
    let inbox = create_folder(&sandbox.local().join("INBOX"));
    // Two messages share a Message-ID; one has none at all.
    let twin_a = message("twin");
    let twin_b = [message("twin").as_slice(), b"A different last line.\n"].concat();
    let no_id: Vec<u8> = String::from_utf8(message("no-id"))
        .expect("UTF-8")
        .lines()
        .filter(|l| !l.starts_with("Message-ID:"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes();
    deliver_cur(&inbox, &twin_a, "FS");
    deliver_cur(&inbox, &twin_b, "S");
    deliver_new(&inbox, &no_id);

    let outcome = sync_ok(&sandbox, &[]);
    assert!(
        outcome
            .account_line(ACCOUNT)
            .contains("4 messages copied (1 to local, 3 to remote)"),
        "{outcome}"
    );
    let expected: BTreeMap<Vec<u8>, String> = [
        (message("server-1"), "S"),
        (twin_a.clone(), "FS"),
        (twin_b.clone(), "S"),
        (no_id.clone(), ""),
    ]
    .into_iter()
    .map(|(c, f)| (c, f.to_owned()))
    .collect();
    assert_eq!(dovecot.folder_map(USER, "INBOX"), expected, "server");
    assert_eq!(folder_map(&inbox), expected, "local");
    assert_names_carry_uids(&sandbox.local());

    assert_no_changes(&sandbox);
    assert_eq!(
        dovecot.fetch_all(USER, "INBOX").len(),
        4,
        "duplicates on the server"
    );

    // The pairs are right: a flag set on each server copy reaches the right local file.
    for (content, letters) in [(&twin_b, "RS"), (&no_id, "F")] {
        let uid = dovecot
            .fetch_all(USER, "INBOX")
            .into_iter()
            .find(|m| crlf_to_lf(&m.body) == *content)
            .expect("on the server")
            .uid;
        dovecot.set_flags(USER, "INBOX", uid, &imap_flags(letters));
    }
    sync_ok(&sandbox, &[]);
    let mut expected = expected;
    expected.insert(twin_b, "RS".into());
    expected.insert(no_id, "F".into());
    assert_eq!(
        folder_map(&inbox),
        expected,
        "local after server flag changes"
    );
    assert_eq!(dovecot.folder_map(USER, "INBOX"), expected, "server");
    assert_no_changes(&sandbox);
}

#[test]
fn a_connection_cut_mid_pipelined_upload_fails_cleanly_and_a_rerun_converges() {
    let dovecot = Dovecot::start_default();
    let proxy = dovecot.proxy(ProxyOptions::default());
    let sandbox = maildir_imap_sandbox("", &dovecot.plaintext_repository(USER, proxy.port()));
    let inbox = create_folder(&sandbox.local().join("INBOX"));
    // 600 messages of 3 KB: the engine's batches of 256 go out as pipelined APPENDs
    // (one MULTIAPPEND each on Dovecot), each started while the one before is stored;
    // the cut falls in the second batch, when the first may be stored or not yet. Dovecot
    // stores the first even after the cut: the rerun must wait for it (without that wait
    // it found 256 duplicates, 856 messages).
    let mut expected: BTreeMap<Vec<u8>, String> = BTreeMap::new();
    for n in 0..600 {
        let content = big_message(&format!("upload-{n}"), 3_000);
        let letters = if n % 3 == 0 { "S" } else { "" };
        deliver_cur(&inbox, &content, letters);
        expected.insert(content, letters.to_owned());
    }
    proxy.set_cut_after_append_bytes(Some(1_200_000));
    // Long enough that the rerun, a moment later even on a busy machine, comes within it.
    sandbox.set_late_copy_grace(5);

    let started = std::time::Instant::now();
    let outcome = sync_code(&sandbox, &[], 1);
    assert!(
        proxy.cuts() >= 1,
        "the proxy never cut a connection\n{outcome}"
    );
    assert!(
        folder_lines(&outcome, "INBOX")
            .iter()
            .any(|l| l.contains("ERROR")),
        "INBOX should fail\n{outcome}"
    );
    // Whatever reached the server is whole, once, with its flags.
    let stored = dovecot.fetch_all(USER, "INBOX");
    let server = dovecot.folder_map(USER, "INBOX");
    assert_eq!(server.len(), stored.len(), "duplicates on the server");
    assert!(server.len() < 600, "{}", server.len());
    for (content, letters) in &server {
        assert_eq!(
            expected.get(content),
            Some(letters),
            "not a message we sent"
        );
    }

    proxy.set_cut_after_append_bytes(None);
    let cuts = proxy.cuts();
    // Copies are recorded in whole seconds: one started after `started` is younger than
    // the grace for sure while less than the grace minus a second has passed.
    let surely_recent = started.elapsed() < std::time::Duration::from_secs(4);
    let rerun = sync_code(&sandbox, &["-v"], 0);
    assert!(
        !surely_recent || said(&rerun).contains("was interrupted while copying"),
        "the rerun should wait for copies on their way\n{rerun}"
    );
    assert_eq!(proxy.cuts(), cuts);
    assert_eq!(
        dovecot.fetch_all(USER, "INBOX").len(),
        600,
        "lost or duplicated"
    );
    assert_eq!(dovecot.folder_map(USER, "INBOX"), expected, "server");
    assert_eq!(folder_map(&inbox), expected, "local");
    assert_names_carry_uids(&sandbox.local());
    assert_no_changes(&sandbox);
}

#[test]
fn a_message_the_server_refuses_in_a_multiappend_fails_alone_and_the_others_are_uploaded() {
    // Dovecot refuses a zero-byte message ("NO Can't save a zero byte message"), and with
    // it the whole MULTIAPPEND that carries it (RFC 3502: all or none).
    let dovecot = Dovecot::start_default();
    let sandbox =
        maildir_imap_sandbox("", &dovecot.plaintext_repository(USER, dovecot.imap_port()));
    let inbox = create_folder(&sandbox.local().join("INBOX"));
    let mut expected: BTreeMap<Vec<u8>, String> = BTreeMap::new();
    for n in 0..6 {
        let content = message(&format!("upload-{n}"));
        let letters = if n % 2 == 0 { "S" } else { "FS" };
        deliver_cur(&inbox, &content, letters);
        if n == 2 {
            deliver_cur(&inbox, b"", "S");
        }
        expected.insert(content, letters.to_owned());
    }

    for run in 1..=2 {
        let outcome = sync_code(&sandbox, &[], 1);
        let said = said(&outcome);
        assert!(
            said.contains("not copied") && said.contains("zero byte"),
            "run {run}: the refused message should be reported with the server's reason\n{outcome}"
        );
        assert!(
            said.contains("(0 bytes)"),
            "run {run}: the report names the message's size\n{outcome}"
        );
        if run == 1 {
            assert!(
                outcome
                    .account_line(ACCOUNT)
                    .contains("6 messages copied (0 to local, 6 to remote)"),
                "{outcome}"
            );
        }
        // Every other message is on the server once, with its flags; the run after
        // duplicates nothing.
        assert_eq!(dovecot.fetch_all(USER, "INBOX").len(), 6, "run {run}");
        assert_eq!(
            dovecot.folder_map(USER, "INBOX"),
            expected,
            "run {run}: server"
        );
    }
}
