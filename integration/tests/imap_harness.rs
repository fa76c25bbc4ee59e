//! The Dovecot harness itself (integration/src/dovecot.rs): what the IMAP tests rely on
//! works, so a failure there is the plugin's, not the harness's.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use twinbox_integration::dovecot::{
    crlf_to_lf, Dovecot, DovecotOptions, ImapSession, ProxyOptions, ServerCertificate, StripSize,
    Value, MINIMAL_CAPABILITY,
};
use twinbox_integration::message;

/// Connects with TLS to `port`, verifying the certificate against `ca` for `host`; returns
/// the greeting or the handshake error.
fn tls_greeting(port: u16, ca: &std::path::Path, host: &str) -> Result<String, String> {
    let mut connector =
        SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
    connector.set_ca_file(ca).map_err(|e| e.to_string())?;
    connector.set_verify(SslVerifyMode::PEER);
    let connector = connector.build();
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let tls = connector.connect(host, tcp).map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(tls)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    Ok(line)
}

#[test]
fn deliver_fetch_flags_expunge_and_folders() {
    let dovecot = Dovecot::start_default();
    let a = message("harness-a");
    let uid_a = dovecot.deliver_dated(
        "alice",
        "INBOX",
        &a,
        &["\\Flagged"],
        Some("14-Nov-2023 22:13:20 +0000"),
    );
    let uid_b = dovecot.deliver("alice", "Caf\u{e9}/Z\u{fc}rich", &message("harness-b"), &[]);
    let inbox = dovecot.fetch_all("alice", "INBOX");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].uid, uid_a);
    assert_eq!(inbox[0].flag_letters(), "F");
    assert_eq!(inbox[0].internal_date_unix(), 1_700_000_000);
    assert_eq!(
        twinbox_integration::dovecot::crlf_to_lf(&inbox[0].body),
        a,
        "BODY[] is the message with CRLF"
    );
    let folders = dovecot.folders("alice");
    assert!(
        folders.contains(&"Caf\u{e9}/Z\u{fc}rich".to_owned()),
        "{folders:?}"
    );
    assert_eq!(
        dovecot.fetch_all("alice", "Caf\u{e9}/Z\u{fc}rich")[0].uid,
        uid_b
    );

    dovecot.set_flags("alice", "INBOX", uid_a, &["\\Seen", "\\Answered"]);
    assert_eq!(dovecot.fetch_all("alice", "INBOX")[0].flag_letters(), "RS");
    dovecot.expunge("alice", "INBOX", uid_a);
    assert!(dovecot.fetch_all("alice", "INBOX").is_empty());

    let before = dovecot.uidvalidity("alice", "Caf\u{e9}/Z\u{fc}rich");
    dovecot.delete_folder("alice", "Caf\u{e9}/Z\u{fc}rich");
    assert!(!dovecot
        .folders("alice")
        .contains(&"Caf\u{e9}/Z\u{fc}rich".to_owned()));
    dovecot.create_folder("alice", "Caf\u{e9}/Z\u{fc}rich");
    assert_ne!(
        dovecot.uidvalidity("alice", "Caf\u{e9}/Z\u{fc}rich"),
        before
    );
    assert!(dovecot
        .fetch_all("alice", "Caf\u{e9}/Z\u{fc}rich")
        .is_empty());
    // Users are separate.
    assert!(dovecot.fetch_all("bob", "INBOX").is_empty());
    assert!(dovecot.user_mail_dir("alice").join("cur").is_dir());
}

#[test]
fn certificates_verify_as_intended() {
    let valid = Dovecot::start_default();
    let ca = valid.ca_cert_path();
    for host in ["localhost", "127.0.0.1"] {
        let greeting = tls_greeting(valid.imaps_port(), &ca, host).expect("a verified TLS");
        assert!(greeting.starts_with("* OK"), "{greeting}");
    }
    assert_eq!(valid.cert_sha256_fingerprint().len(), 64);

    for kind in [ServerCertificate::Expired, ServerCertificate::WrongHost] {
        let dovecot = Dovecot::start(DovecotOptions {
            certificate: kind,
            ..DovecotOptions::default()
        });
        let error = tls_greeting(dovecot.imaps_port(), &dovecot.ca_cert_path(), "localhost")
            .expect_err("refused");
        let expected = match kind {
            ServerCertificate::Expired => "expired",
            _ => "mismatch",
        };
        assert!(error.contains(expected), "{kind:?}: {error}");
    }
}

#[test]
fn capability_and_starttls_options() {
    let dovecot = Dovecot::start(DovecotOptions {
        imap_capability: Some(MINIMAL_CAPABILITY.to_owned()),
        tls: false,
        ..DovecotOptions::default()
    });
    let mut session = ImapSession::connect(dovecot.imap_port());
    let pre = session.command("CAPABILITY").expect("CAPABILITY");
    let pre = format!("{:?}", pre.data);
    assert!(!pre.contains("STARTTLS"), "{pre}");
    let mut session = dovecot.session("bob");
    let post = format!(
        "{:?}",
        session.command("CAPABILITY").expect("CAPABILITY").data
    );
    assert!(
        !post.contains("UIDPLUS") && !post.contains("CONDSTORE"),
        "{post}"
    );

    let tls = Dovecot::start_default();
    let mut session = ImapSession::connect(tls.imap_port());
    let pre = format!(
        "{:?}",
        session.command("CAPABILITY").expect("CAPABILITY").data
    );
    assert!(pre.contains("STARTTLS"), "{pre}");
}

#[test]
fn proxy_cuts_mid_fetch_and_strips_uidplus() {
    let dovecot = Dovecot::start_default();
    let big: Vec<u8> = [message("big").as_slice(), &vec![b'x'; 100_000]].concat();
    dovecot.deliver("carol", "INBOX", &big, &[]);

    let proxy = dovecot.proxy(ProxyOptions {
        cut_after_fetch_bytes: Some(50_000),
        strip_uidplus: true,
        ..ProxyOptions::default()
    });
    let mut session = ImapSession::connect(proxy.port());
    session
        .command("LOGIN carol carol-secret")
        .expect("login through the proxy");
    let error = session
        .append("INBOX", &message("through"), &[], None)
        .expect_err("no APPENDUID through the stripping proxy");
    assert!(error.contains("no APPENDUID"), "{error}");
    session.select("INBOX");
    let cut = session
        .command("UID FETCH 1:* (BODY.PEEK[])")
        .expect_err("the connection is cut");
    assert!(cut.contains("closed") || cut.contains("read"), "{cut}");
    assert_eq!(proxy.cuts(), 1);

    proxy.set_cut_after_fetch_bytes(None);
    let mut session = ImapSession::connect(proxy.port());
    session.command("LOGIN carol carol-secret").expect("login");
    session.select("INBOX");
    let all = session.fetch_all();
    assert_eq!(all.len(), 2);
    assert_eq!(proxy.cuts(), 1);
}

#[test]
fn proxy_strips_rfc822_size_of_one_message() {
    let dovecot = Dovecot::start_default();
    for tag in ["first", "second", "third"] {
        dovecot.deliver("carol", "INBOX", &message(tag), &[]);
    }
    let proxy = dovecot.proxy(ProxyOptions {
        strip_rfc822_size: StripSize::Uid(2),
        ..ProxyOptions::default()
    });
    let mut session = ImapSession::connect(proxy.port());
    session.command("LOGIN carol carol-secret").expect("login");
    session.select("INBOX");
    let reply = session
        .command("UID FETCH 1:* (UID FLAGS RFC822.SIZE)")
        .expect("fetch");
    // Each line is [n, FETCH, (items)]: UID -> whether RFC822.SIZE is among the items.
    let mut sizes = BTreeMap::new();
    for values in &reply.data {
        let Some(Value::List(items)) = values.get(2) else {
            panic!("not a FETCH response: {values:?}");
        };
        let item = |name: &str| {
            items
                .iter()
                .position(|v| *v == Value::Atom(name.to_owned()))
                .map(|at| items[at + 1].clone())
        };
        sizes.insert(format!("{:?}", item("UID")), item("RFC822.SIZE").is_some());
    }
    let expected = BTreeMap::from([
        (format!("{:?}", Some(Value::Atom("1".into()))), true),
        (format!("{:?}", Some(Value::Atom("2".into()))), false),
        (format!("{:?}", Some(Value::Atom("3".into()))), true),
    ]);
    assert_eq!(sizes, expected, "{reply:?}");
    assert_eq!(proxy.sizes_stripped(), 1);
    // The message contents go through untouched.
    let all = session.fetch_all();
    assert_eq!(all.len(), 3);
    assert_eq!(crlf_to_lf(&all[1].body), message("second"));
}
