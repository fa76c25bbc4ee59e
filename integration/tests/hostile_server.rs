//! A hostile IMAP server (issue 12, deliver 4), played by the scripted fake server of
//! `twinbox_integration::fake_imap` (real-server tests stay on Dovecot). Each misdeed gets
//! a clear error for that folder or message: never a panic, an unbounded allocation, a
//! write outside `localfolders`, or escape sequences printed raw to the terminal.

use std::path::Path;
use std::time::{Duration, Instant};

use twinbox_integration::dovecot::{maildir_imap_sandbox, run_twinbox, sync_code, sync_ok};
use twinbox_integration::fake_imap::{FakeFolder, FakeImap, Quirk};
use twinbox_integration::*;

/// The stdout lines about `folder` (`  FOLDER  ERROR: ...`).
fn folder_lines<'a>(outcome: &'a Outcome, folder: &str) -> Vec<&'a str> {
    outcome
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with(&format!("{folder} ")))
        .collect()
}

fn crlf(message: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(message)
        .replace('\n', "\r\n")
        .into_bytes()
}

/// The contents of the message files of a local folder, sorted, with LF line ends.
fn local_contents(folder: &Path) -> Vec<Vec<u8>> {
    let mut contents: Vec<Vec<u8>> = messages(folder).into_iter().map(|m| m.content).collect();
    contents.sort();
    contents
}

/// What every run against a hostile server must never do.
fn assert_no_panic_and_no_raw_escapes(outcome: &Outcome) {
    let all = format!("{}{}", outcome.stdout, outcome.stderr);
    assert!(
        !all.contains("internal error") && !all.contains("panicked"),
        "twinbox panicked\n{outcome}"
    );
    assert!(
        !all.contains('\u{1b}') && !all.contains('\u{7}') && !all.contains('\0'),
        "control characters reached the terminal\n{outcome:?}"
    );
}

#[test]
fn each_misbehaving_folder_fails_alone_and_the_others_sync() {
    let inbox = [message("inbox-1"), message("inbox-2")].map(|m| crlf(&m));
    let one = [crlf(&message("quirky-1"))];
    let server = FakeImap::start(vec![
        FakeFolder::new("INBOX", &inbox),
        FakeFolder::new("Malformed", &one).with_quirk(Quirk::MalformedFetch),
        FakeFolder::new("Longer", &one).with_quirk(Quirk::LiteralLongerThanAnnounced),
        // 4 GB announced: refused before anything is allocated.
        FakeFolder::new("Huge", &one).with_quirk(Quirk::HugeLiteral(4_000_000_000)),
        FakeFolder::new("Line", &one).with_quirk(Quirk::EndlessLine),
        FakeFolder::new("Untagged", &one).with_quirk(Quirk::EndlessUntagged),
        FakeFolder::new("Zero", &one).with_quirk(Quirk::UidValidityZero),
    ]);
    let sandbox = maildir_imap_sandbox("", &server.repository());
    let local = sandbox.local();

    let started = Instant::now();
    let outcome = sync_code(&sandbox, &[], 1);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}\n{outcome}",
        started.elapsed()
    );
    assert_no_panic_and_no_raw_escapes(&outcome);
    for (folder, says) in [
        ("Malformed", "FETCH"),
        ("Longer", ""),
        ("Huge", "maxsize"),
        ("Line", "longer than"),
        ("Untagged", "untagged responses"),
        ("Zero", "UIDVALIDITY"),
    ] {
        let lines = folder_lines(&outcome, folder);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("ERROR") && l.contains(says)),
            "folder {folder} should fail with an error saying {says:?}\n{outcome}"
        );
        // Nothing of the spoiled folder arrived, least of all part of a message.
        assert!(
            messages(&local.join(folder)).is_empty(),
            "{folder}: {:?}",
            local_contents(&local.join(folder))
        );
    }
    let mut expected: Vec<Vec<u8>> = vec![message("inbox-1"), message("inbox-2")];
    expected.sort();
    assert_eq!(local_contents(&local.join("INBOX")), expected);
    assert!(
        tmp_leftovers(&local).is_empty(),
        "{:?}",
        tmp_leftovers(&local)
    );
    assert!(stray_files(&local).is_empty(), "{:?}", stray_files(&local));
}

#[test]
fn answers_for_uids_never_asked_for_or_given_twice_bring_nothing_foreign() {
    let two = [message("genuine-1"), message("genuine-2")].map(|m| crlf(&m));
    let mut twice = FakeFolder::new("Twice", &two).with_quirk(Quirk::DuplicateUids);
    // Only UID 1 is answered twice.
    twice.duplicate_only = Some(1);
    let server = FakeImap::start(vec![
        FakeFolder::new("INBOX", &[]),
        FakeFolder::new("Unasked", &two).with_quirk(Quirk::UnaskedUid),
        twice,
    ]);
    let sandbox = maildir_imap_sandbox("", &server.repository());
    let local = sandbox.local();
    let outcome = run_twinbox(&sandbox, &["sync"]);
    assert_no_panic_and_no_raw_escapes(&outcome);
    let mut genuine: Vec<Vec<u8>> = vec![message("genuine-1"), message("genuine-2")];
    genuine.sort();
    // The intruder (UID 4242) is dropped; the folder syncs.
    assert!(folder_lines(&outcome, "Unasked")
        .iter()
        .all(|l| !l.contains("ERROR")));
    assert_eq!(local_contents(&local.join("Unasked")), genuine, "{outcome}");
    // A UID answered twice with different bytes: neither version is copied, and the
    // message is named in an error; the other message of the folder is copied.
    let twice = local_contents(&local.join("Twice"));
    assert_eq!(twice, vec![message("genuine-2")], "{outcome}");
    assert!(
        folder_lines(&outcome, "Twice")
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("two different messages as UID 1")),
        "{outcome}"
    );
    // A second run changes nothing more.
    let again = run_twinbox(&sandbox, &["sync"]);
    assert_no_panic_and_no_raw_escapes(&again);
    assert_eq!(local_contents(&local.join("Unasked")), genuine);
    assert_eq!(local_contents(&local.join("Twice")), twice);
}

#[test]
fn hostile_folder_names_are_skipped_or_refused_by_name_and_nothing_is_written_outside() {
    let one = [crlf(&message("named"))];
    let names: Vec<&[u8]> = vec![
        b"INBOX",
        b"../../etc",
        b"/abs",
        b"..",
        b"a\0nul",
        b"bell\x07ctl",
        b"\x1b[31mred\x1b[0m",
        b"\x1b]0;owned\x07",
        b"Work",
        b"WORK",
        b"Fine",
    ];
    let server = FakeImap::start(
        names
            .iter()
            .map(|name| FakeFolder::new(name.to_vec(), &one))
            .collect(),
    );
    let sandbox = maildir_imap_sandbox("", &server.repository());
    let local = sandbox.local();
    let outcome = sync_code(&sandbox, &[], 1);
    assert_no_panic_and_no_raw_escapes(&outcome);
    // Names that cannot be folders are skipped with a warning naming them (escaped).
    assert!(outcome.stderr.contains("../../etc"), "{outcome}");
    assert!(
        outcome.stderr.contains("\\u{1b}[31mred"),
        "the escape should be shown, not sent\n{outcome}"
    );
    // Two names that one case-insensitive directory would hold are refused by name.
    for name in ["Work", "WORK"] {
        assert!(
            folder_lines(&outcome, name)
                .iter()
                .any(|l| l.contains("ERROR") && l.contains("only by case")),
            "{name}\n{outcome}"
        );
    }
    assert_eq!(folders(&local), vec!["Fine".to_owned(), "INBOX".to_owned()]);
    // Nothing outside localfolders: the sandbox holds only what it held, and no /abs.
    assert!(!Path::new("/abs").exists());
    for outside in ["etc", "abs", "nul", "red"] {
        assert!(
            !sandbox.path().join(outside).exists() && !local.join(outside).exists(),
            "{outside}"
        );
    }
    for entry in std::fs::read_dir(sandbox.path()).unwrap() {
        let name = entry.unwrap().file_name();
        let name = name.to_string_lossy();
        assert!(
            !name.contains("etc") && !name.contains("abs") && !name.contains('\u{1b}'),
            "{name}"
        );
    }
}

#[test]
fn ten_thousand_folders_are_listed_and_filtered_without_trouble() {
    let one = [crlf(&message("deep"))];
    let mut all = vec![FakeFolder::new("INBOX", &[])];
    all.extend((0..10_000).map(|n| FakeFolder::new(format!("F{n:05}"), &[])));
    all.push(FakeFolder::new("F10000", &one));
    let server = FakeImap::start(all);
    let remote = server.repository().set(
        "folderfilter",
        "lambda f: f in ['INBOX', 'F10000', 'F04242']",
    );
    let sandbox = maildir_imap_sandbox("", &remote);
    let started = Instant::now();
    let outcome = sync_ok(&sandbox, &[]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        folders(&sandbox.local()),
        vec!["F04242".to_owned(), "F10000".to_owned(), "INBOX".to_owned()],
        "{outcome}"
    );
    assert_eq!(
        local_contents(&sandbox.local().join("F10000")),
        vec![message("deep")]
    );
}

#[test]
fn maxsize_skips_a_100_mb_message_without_fetching_it() {
    let small = [crlf(&message("small"))];
    let server = FakeImap::start(vec![
        FakeFolder::new("INBOX", &small),
        // Its listing says 100 MB; the fake server answers BAD if its body is asked for.
        FakeFolder::new("Big", &[crlf(&message("big"))])
            .with_quirk(Quirk::ClaimedSize(100_000_000)),
    ]);
    let sandbox = maildir_imap_sandbox("maxsize = 50000000", &server.repository());
    for run in 0..2 {
        let outcome = sync_ok(&sandbox, &[]);
        assert!(
            outcome.stdout.contains("1 larger than maxsize not copied"),
            "run {run}\n{outcome}"
        );
        assert!(messages(&sandbox.local().join("Big")).is_empty());
        assert_eq!(
            local_contents(&sandbox.local().join("INBOX")),
            vec![message("small")]
        );
    }
    let asked_bodies: Vec<String> = server
        .commands()
        .into_iter()
        .filter(|c| c.contains("BODY"))
        .collect();
    assert_eq!(asked_bodies.len(), 1, "only INBOX's body: {asked_bodies:?}");
}

#[test]
fn uids_going_backwards_under_the_same_uidvalidity_fail_the_folder_and_delete_nothing() {
    let three = [message("back-1"), message("back-2"), message("back-3")].map(|m| crlf(&m));
    let server = FakeImap::start(vec![
        FakeFolder::new("INBOX", &[]),
        FakeFolder::new("Back", &three),
    ]);
    let sandbox = maildir_imap_sandbox("", &server.repository());
    let back = sandbox.local().join("Back");
    sync_ok(&sandbox, &[]);
    assert_eq!(messages(&back).len(), 3);
    // The server renumbers: same UIDVALIDITY, UIDs from 1 again, UIDNEXT lower than it was.
    let mut renumbered = FakeFolder::new("Back", &[crlf(&message("back-new"))]);
    renumbered.uid_validity = 1234;
    server.set_folders(vec![FakeFolder::new("INBOX", &[]), renumbered]);
    let before = local_contents(&back);
    for run in 0..2 {
        let outcome = run_twinbox(&sandbox, &["sync"]);
        assert_no_panic_and_no_raw_escapes(&outcome);
        assert!(
            folder_lines(&outcome, "Back")
                .iter()
                .any(|l| l.contains("ERROR")),
            "run {run}: the Back folder should fail\n{outcome}"
        );
        assert_eq!(
            local_contents(&back),
            before,
            "run {run}: local messages changed"
        );
    }
}

#[test]
fn a_greeting_that_never_ends_is_cut_off_before_login() {
    // The `imap` crate reads the greeting and buffers it whole: the connection's own
    // budget for what comes before login ends it.
    let server = FakeImap::start_with_endless_greeting();
    let sandbox = maildir_imap_sandbox("", &server.repository());
    let started = Instant::now();
    let outcome = run_twinbox(&sandbox, &["sync"]);
    assert_no_panic_and_no_raw_escapes(&outcome);
    assert_ne!(outcome.code, Some(0), "{outcome}");
    assert!(
        outcome.stdout.contains("before the login was done"),
        "{outcome}"
    );
    assert!(started.elapsed() < Duration::from_secs(20), "{outcome}");
    assert!(folders(&sandbox.local()).is_empty());
}

#[test]
fn a_server_without_sasl_ir_refuses_the_early_login_and_is_logged_in_as_its_greeting_says() {
    // twinbox sends AUTHENTICATE PLAIN with the credentials before the greeting (most
    // servers offer SASL-IR; it saves a round trip). This server offers no SASL mechanism
    // and refuses it: the connection is made again with LOGIN, and only once.
    let inbox = [crlf(&message("early-login"))];
    let server = FakeImap::start(vec![FakeFolder::new("INBOX", &inbox)]);
    let sandbox = maildir_imap_sandbox("", &server.repository());
    sync_ok(&sandbox, &[]);
    assert_eq!(
        local_contents(&sandbox.local().join("INBOX")),
        vec![message("early-login")]
    );
    let logins: Vec<String> = server
        .commands()
        .into_iter()
        .filter_map(|c| {
            let word = c.split(' ').nth(1)?.to_ascii_uppercase();
            (word == "AUTHENTICATE" || word == "LOGIN").then_some(word)
        })
        .collect();
    assert_eq!(
        logins.first().map(String::as_str),
        Some("AUTHENTICATE"),
        "{logins:?}"
    );
    assert_eq!(
        logins.iter().filter(|w| *w == "AUTHENTICATE").count(),
        1,
        "the early login is tried once per run: {logins:?}"
    );
    assert!(logins[1..].iter().all(|w| w == "LOGIN"), "{logins:?}");
}
