//! TLS and logins against a real Dovecot (issue 3, section 5): implicit TLS verified with
//! `sslcacertfile`, certificate pinning, STARTTLS required and enforced, expired and
//! wrong-host certificates refused, PLAIN and CRAM-MD5 logins.
//!
//! A refused connection must leave everything as it was, and the password must not have
//! reached the server: Dovecot's log tells whether a login happened and how.

use twinbox_integration::dovecot::*;
use twinbox_integration::*;

const USER: &str = "bob";

/// A Dovecot with one message in bob's INBOX.
fn server(options: DovecotOptions) -> Dovecot {
    let dovecot = Dovecot::start(options);
    dovecot.deliver(USER, "INBOX", &message("tls-inbox-1"), &["\\Seen"]);
    dovecot
}

/// Syncs, checks the INBOX arrived, and returns the lines Dovecot logged for twinbox's
/// logins (the harness logs in too, but never while twinbox runs).
#[track_caller]
fn assert_syncs(dovecot: &Dovecot, remote: &ImapRepository) -> Vec<String> {
    let sandbox = maildir_imap_sandbox("", remote);
    let before = logins(dovecot).len();
    sync_ok(&sandbox, &[]);
    let logins = logins(dovecot).split_off(before);
    assert!(!logins.is_empty(), "twinbox synced without logging in?");
    assert_folder_matches(dovecot, USER, "INBOX", &sandbox.local().join("INBOX"));
    logins
}

/// Syncs, expecting exit 1 with nothing synced, no login on the server, and an error that
/// contains one of `words` (case-insensitive). Returns what twinbox said.
#[track_caller]
fn assert_refused(dovecot: &Dovecot, remote: &ImapRepository, words: &[&str]) -> String {
    let sandbox = maildir_imap_sandbox("", remote);
    let before = logins(dovecot);
    let outcome = sync_code(&sandbox, &[], 1);
    let said = format!("{}\n{}", outcome.stdout, outcome.stderr);
    let lower = said.to_lowercase();
    assert!(
        words.iter().any(|w| lower.contains(&w.to_lowercase())),
        "the error should mention one of {words:?}\n{outcome}"
    );
    assert!(
        messages(&sandbox.local().join("INBOX")).is_empty(),
        "a message was synced over a refused connection\n{outcome}"
    );
    assert_eq!(
        logins(dovecot),
        before,
        "twinbox logged in over a connection it should have refused\n{outcome}"
    );
    assert!(
        !said.contains(dovecot.password(USER)),
        "the password was printed\n{outcome}"
    );
    said
}

/// The lines of Dovecot's log recording a login of USER by twinbox (the harness's own
/// sessions come from another address).
fn logins(dovecot: &Dovecot) -> Vec<String> {
    dovecot
        .log()
        .lines()
        .filter(|l| l.contains(&format!("Login: user=<{USER}>")) && l.contains("rip=127.0.0.1,"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn implicit_tls_verified_with_the_test_ca_by_ip_and_by_name() {
    let dovecot = server(DovecotOptions::default());
    for remote in [
        dovecot.tls_repository(USER),
        dovecot.tls_repository(USER).set("remotehost", "localhost"),
    ] {
        let logins = assert_syncs(&dovecot, &remote);
        assert!(logins.iter().all(|l| l.contains(", TLS,")), "{logins:?}");
    }
}

#[test]
fn an_unknown_certificate_is_refused_and_its_fingerprint_shown() {
    let dovecot = server(DovecotOptions::default());
    // No sslcacertfile: the OS trust store does not know the test CA.
    let said = assert_refused(
        &dovecot,
        &dovecot.tls_repository(USER).unset("sslcacertfile"),
        &["certificate", "verify"],
    );
    let normalized = said.to_lowercase().replace(':', "");
    assert!(
        normalized.contains(&dovecot.cert_sha256_fingerprint()),
        "the error should show the certificate's SHA-256 fingerprint {} so it can be pinned:\n{said}",
        dovecot.cert_sha256_fingerprint()
    );
}

#[test]
fn a_wrong_fingerprint_is_refused_and_the_right_one_accepted() {
    let dovecot = server(DovecotOptions::default());
    let pinned = |fingerprint: &str| {
        dovecot
            .tls_repository(USER)
            .unset("sslcacertfile")
            .set("cert_fingerprint", fingerprint)
    };
    assert_refused(&dovecot, &pinned(&"ab".repeat(32)), &["fingerprint"]);
    // The right one replaces CA verification, alone or among others (rollover).
    assert_syncs(&dovecot, &pinned(&dovecot.cert_sha256_fingerprint()));
    assert_syncs(
        &dovecot,
        &pinned(&format!(
            "{}, {}",
            "cd".repeat(32),
            dovecot.cert_sha256_fingerprint().to_uppercase()
        )),
    );
}

#[test]
fn a_pinned_certificate_is_accepted_whatever_its_host_name() {
    let dovecot = server(DovecotOptions {
        certificate: ServerCertificate::WrongHost,
        ..DovecotOptions::default()
    });
    assert_syncs(
        &dovecot,
        &dovecot
            .tls_repository(USER)
            .unset("sslcacertfile")
            .set("cert_fingerprint", &dovecot.cert_sha256_fingerprint()),
    );
}

#[test]
fn starttls_is_used_and_verified() {
    let dovecot = server(DovecotOptions::default());
    let logins = assert_syncs(&dovecot, &dovecot.starttls_repository(USER));
    assert!(
        logins.iter().all(|l| l.contains(", TLS,")),
        "a login did not happen inside STARTTLS: {logins:?}"
    );
}

#[test]
fn a_server_without_starttls_is_refused_unless_plaintext_is_explicit() {
    let dovecot = server(DovecotOptions {
        tls: false,
        ..DovecotOptions::default()
    });
    assert_refused(&dovecot, &dovecot.starttls_repository(USER), &["STARTTLS"]);
    // `starttls = no` is the explicit way to plaintext.
    assert_syncs(
        &dovecot,
        &dovecot.plaintext_repository(USER, dovecot.imap_port()),
    );
}

#[test]
fn an_expired_certificate_is_refused() {
    let dovecot = server(DovecotOptions {
        certificate: ServerCertificate::Expired,
        ..DovecotOptions::default()
    });
    assert_refused(&dovecot, &dovecot.tls_repository(USER), &["expired"]);
    assert_refused(&dovecot, &dovecot.starttls_repository(USER), &["expired"]);
}

#[test]
fn a_certificate_for_another_host_is_refused() {
    let dovecot = server(DovecotOptions {
        certificate: ServerCertificate::WrongHost,
        ..DovecotOptions::default()
    });
    let words = ["hostname", "host name", "mismatch", "does not match"];
    assert_refused(&dovecot, &dovecot.tls_repository(USER), &words);
    assert_refused(
        &dovecot,
        &dovecot.tls_repository(USER).set("remotehost", "localhost"),
        &words,
    );
}

#[test]
fn cram_md5_and_plain_logins() {
    let dovecot = server(DovecotOptions::default());
    for (mechanism, logged) in [("CRAM-MD5", "method=CRAM-MD5"), ("PLAIN", "method=PLAIN")] {
        let logins = assert_syncs(
            &dovecot,
            &dovecot
                .tls_repository(USER)
                .set("auth_mechanisms", mechanism),
        );
        assert!(
            logins.iter().all(|l| l.contains(logged)),
            "{mechanism}: {logins:?}"
        );
    }
}

#[test]
fn the_password_can_come_from_a_file_or_a_command() {
    let dovecot = server(DovecotOptions::default());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("password");
    std::fs::write(&file, format!("{}\n", dovecot.password(USER))).expect("write");
    // Private, as it should be (one readable by others gets a warning on stderr).
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod 600");
    assert_syncs(
        &dovecot,
        &dovecot
            .tls_repository(USER)
            .unset("remotepass")
            .set("remotepassfile", &file.display().to_string()),
    );
    assert_syncs(
        &dovecot,
        &dovecot.tls_repository(USER).unset("remotepass").set(
            "remotepasscommand",
            &format!("echo {}; echo second line", dovecot.password(USER)),
        ),
    );
}

#[test]
fn a_dry_run_changes_nothing_and_never_shows_the_password() {
    let dovecot = server(DovecotOptions::default());
    dovecot.deliver(USER, "Lists", &message("tls-lists-1"), &[]);
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER));
    let local = sandbox.local().join("INBOX");
    create_folder(&local);
    deliver_new(&local, &message("tls-local-1"));
    let local_before = snapshot(&sandbox.local());
    let server_before = (
        dovecot.folders(USER),
        dovecot.fetch_all(USER, "INBOX"),
        dovecot.fetch_all(USER, "Lists"),
    );

    let outcome = run_twinbox(&sandbox, &["-vvv", "sync", "--dry-run"]);
    outcome.assert_code(0);
    assert!(
        outcome.stdout.contains("would"),
        "a dry run says what it would do\n{outcome}"
    );
    let said = format!("{}{}", outcome.stdout, outcome.stderr);
    assert!(
        !said.contains(dovecot.password(USER)),
        "the password was printed\n{outcome}"
    );
    assert_same_snapshot(
        "the local Maildir",
        &local_before,
        &snapshot(&sandbox.local()),
    );
    let server_after = (
        dovecot.folders(USER),
        dovecot.fetch_all(USER, "INBOX"),
        dovecot.fetch_all(USER, "Lists"),
    );
    assert_eq!(
        server_after, server_before,
        "the dry run changed the server"
    );
}
