//! The IMAP backend against a real Dovecot (one per test, from the end-to-end harness in
//! `integration/`), linked directly rather than loaded as a plugin: the conformance suite,
//! TLS and login paths, names, the connection pool and network faults, each checked at the
//! backend's own interface. Runs as root (the harness starts Dovecot).

use std::sync::Arc;
use std::time::{Duration, Instant};

use backend_api::{
    Backend, ErrorScope, Flags, FolderPath, NewMessage, Repository, RepositoryConfig, Retry,
    SystemFlag,
};
use twinbox_imap::ImapBackend;
use twinbox_integration::dovecot::{
    Dovecot, DovecotOptions, ProxyOptions, ServerCertificate, MINIMAL_CAPABILITY,
};

fn config(pairs: &[(&str, String)]) -> RepositoryConfig {
    let mut config = RepositoryConfig::new("Remote");
    for (option, value) in pairs {
        config = config.with(option, value.clone());
    }
    config
}

fn tls_config(dovecot: &Dovecot, user: &str) -> RepositoryConfig {
    config(&[
        ("remotehost", "127.0.0.1".into()),
        ("remoteport", dovecot.imaps_port().to_string()),
        ("remoteuser", user.into()),
        ("remotepass", dovecot.password(user).into()),
        (
            "sslcacertfile",
            dovecot.ca_cert_path().display().to_string(),
        ),
        ("timeout", "20".into()),
    ])
}

fn plain_config(dovecot: &Dovecot, user: &str, port: u16) -> RepositoryConfig {
    config(&[
        ("remotehost", "127.0.0.1".into()),
        ("remoteport", port.to_string()),
        ("remoteuser", user.into()),
        ("remotepass", dovecot.password(user).into()),
        ("ssl", "no".into()),
        ("starttls", "no".into()),
        ("timeout", "20".into()),
    ])
}

fn open(config: &RepositoryConfig) -> Box<dyn Repository> {
    ImapBackend::open(config.clone()).expect("open the repository")
}

fn path(name: &str) -> FolderPath {
    FolderPath::new(name).expect("a valid folder path")
}

fn message(subject: &str) -> Vec<u8> {
    format!("From: a@example.org\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.org>\r\n\r\nbody of {subject}\r\n")
        .into_bytes()
}

#[test]
fn passes_the_conformance_suite_over_implicit_tls() {
    let dovecot = Dovecot::start_default();
    let config = tls_config(&dovecot, "alice");
    backend_kit::conformance::check_repository(&|| open(&config));
}

#[test]
fn passes_the_conformance_suite_on_an_old_server_with_slash_separator() {
    // No UIDPLUS, CONDSTORE or LITERAL+ advertised; '/' as the hierarchy delimiter.
    let dovecot = Dovecot::start(DovecotOptions {
        separator: '/',
        imap_capability: Some(MINIMAL_CAPABILITY.into()),
        ..Default::default()
    });
    let config = plain_config(&dovecot, "bob", dovecot.imap_port());
    backend_kit::conformance::check_repository(&|| open(&config));
}

#[test]
fn starttls_is_used_and_required() {
    let dovecot = Dovecot::start_default();
    let starttls = config(&[
        ("remotehost", "127.0.0.1".into()),
        ("remoteport", dovecot.imap_port().to_string()),
        ("remoteuser", "alice".into()),
        ("remotepass", dovecot.password("alice").into()),
        ("ssl", "no".into()),
        (
            "sslcacertfile",
            dovecot.ca_cert_path().display().to_string(),
        ),
    ]);
    open(&starttls).list_folders().expect("list over STARTTLS");

    let no_tls = Dovecot::start(DovecotOptions {
        tls: false,
        ..Default::default()
    });
    let refused = starttls
        .clone()
        .with("remoteport", no_tls.imap_port().to_string());
    let error = open(&refused).list_folders().unwrap_err();
    assert_eq!(
        (error.scope, error.retry),
        (ErrorScope::Repository, Retry::Never)
    );
    assert!(error.message.contains("does not offer"), "{error}");
    assert!(error.message.contains("STARTTLS"), "{error}");
    // Plain text only when asked for explicitly.
    let plain = refused.with("starttls", "no");
    open(&plain)
        .list_folders()
        .expect("plaintext with starttls = no");
}

#[test]
fn certificates_are_verified_or_pinned() {
    let dovecot = Dovecot::start_default();
    let fingerprint = dovecot.cert_sha256_fingerprint();
    let mut untrusted = tls_config(&dovecot, "alice");
    untrusted.options.remove("sslcacertfile");
    let error = open(&untrusted).list_folders().unwrap_err();
    assert_eq!(
        (error.scope, error.retry),
        (ErrorScope::Repository, Retry::Never)
    );
    assert!(
        error.message.contains(&fingerprint),
        "the refusal shows the fingerprint: {error}"
    );
    assert!(error.message.contains("cert_fingerprint"), "{error}");

    // Pinned (with colons, uppercase, next to a wrong one): accepted without the CA.
    let colons: Vec<String> = fingerprint
        .as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).to_uppercase())
        .collect();
    let pinned = untrusted.clone().with(
        "cert_fingerprint",
        format!("{}, {}", "00".repeat(32), colons.join(":")),
    );
    open(&pinned)
        .list_folders()
        .expect("pinned fingerprint accepted");
    // A pin replaces the host name check too.
    let by_name = pinned.clone().with("remotehost", "localhost");
    open(&by_name)
        .list_folders()
        .expect("pinned, by another name");

    let wrong = untrusted.with("cert_fingerprint", "ab".repeat(32));
    let error = open(&wrong).list_folders().unwrap_err();
    assert!(error.message.contains("not in cert_fingerprint"), "{error}");
    assert!(error.message.contains(&fingerprint), "{error}");

    for certificate in [ServerCertificate::Expired, ServerCertificate::WrongHost] {
        let bad = Dovecot::start(DovecotOptions {
            certificate,
            ..Default::default()
        });
        let error = open(&tls_config(&bad, "alice")).list_folders().unwrap_err();
        assert_eq!(
            error.scope,
            ErrorScope::Repository,
            "{certificate:?}: {error}"
        );
        assert!(
            error.message.contains("not trusted"),
            "{certificate:?}: {error}"
        );
    }
}

#[test]
fn every_login_mechanism_and_a_refused_login() {
    let dovecot = Dovecot::start_default();
    for mechanism in ["PLAIN", "LOGIN", "CRAM-MD5"] {
        let config = tls_config(&dovecot, "carol").with("auth_mechanisms", mechanism);
        open(&config)
            .list_folders()
            .unwrap_or_else(|e| panic!("{mechanism}: {e}"));
    }
    let wrong = tls_config(&dovecot, "carol").with("remotepass", "not-the-password");
    let error = open(&wrong).list_folders().unwrap_err();
    assert_eq!(
        (error.scope, error.retry),
        (ErrorScope::Repository, Retry::Never)
    );
    assert!(error.message.contains("carol"), "{error}");
    assert!(error.message.contains("127.0.0.1"), "{error}");
    assert!(!error.message.contains("not-the-password"), "{error}");
    assert!(!error.message.contains("carol-secret"), "{error}");

    let oauth_only = tls_config(&dovecot, "carol")
        .with("auth_mechanisms", "XOAUTH2")
        .with("oauth2_access_token", "token");
    let error = open(&oauth_only).list_folders().unwrap_err();
    assert!(error.message.contains("'auth_mechanisms'"), "{error}");
    assert!(error.message.contains("offers none"), "{error}");
}

#[test]
fn folder_names_map_both_ways_and_odd_ones_are_skipped() {
    let dovecot = Dovecot::start_default(); // separator '.'
                                            // Names twinbox cannot represent, made on the server behind our back (Dovecot lists
                                            // Maildir++ directories as they are): an empty level and a control character.
    let root = dovecot.user_mail_dir("dave");
    for name in [".dot..dot", ".tab&AAk-x"] {
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(root.join(name).join(sub)).unwrap();
        }
        // The whole Maildir: it did not exist before this test made it, as root.
        let status = std::process::Command::new("chown")
            .args(["-R", twinbox_integration::dovecot::MAIL_USER])
            .arg(&root)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let repository = open(&tls_config(&dovecot, "dave"));
    for name in ["Ärger/Größe", "Tom & Jerry", "日本語", "a/b/c", "INBOX/Sub"] {
        repository
            .create_folder(&path(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        repository
            .create_folder(&path(name))
            .expect("creating twice is fine");
    }
    let listed: Vec<String> = repository
        .list_folders()
        .expect("list")
        .into_iter()
        .map(|f| f.path.to_string())
        .collect();
    for name in [
        "INBOX",
        "Ärger",
        "Ärger/Größe",
        "Tom & Jerry",
        "日本語",
        "a",
        "a/b",
        "a/b/c",
        "INBOX/Sub",
    ] {
        assert!(listed.contains(&name.to_owned()), "{name} in {listed:?}");
    }
    assert!(
        listed.contains(&"dot".to_owned()),
        "the valid parent stays: {listed:?}"
    );
    assert!(
        !listed
            .iter()
            .any(|n| n.contains("dot/") || n.contains("tab")),
        "{listed:?}"
    );
    let folders = dovecot.folders("dave");
    assert!(folders.contains(&"Ärger/Größe".to_owned()), "{folders:?}");
    // A level holding the server's delimiter cannot be created.
    let error = repository.create_folder(&path("v1.2")).unwrap_err();
    assert!(error.message.contains("delimiter"), "{error}");

    // Quotes and backslashes are escaped in every command, APPEND included.
    let odd = path("Say \"hi\" \\ bye");
    repository
        .create_folder(&odd)
        .expect("create a quoted name");
    assert!(repository
        .list_folders()
        .unwrap()
        .iter()
        .any(|f| f.path == odd));
    let mut folder = repository.open_folder(&odd).expect("open a quoted name");
    let appended = folder
        .append_messages(vec![NewMessage {
            bytes: message("quoted").into(),
            flags: Flags::from_system(&[SystemFlag::Seen]),
            internal_date: None,
        }])
        .expect("append to a quoted name");
    assert!(appended[0].is_some());
    assert_eq!(folder.list_messages().unwrap().len(), 1);
    drop(folder);

    // Messages go where the name says.
    let mut folder = repository.open_folder(&path("Ärger/Größe")).expect("open");
    folder
        .append_messages(vec![NewMessage {
            bytes: message("umlaut").into(),
            flags: Flags::new(),
            internal_date: Some(1_700_000_000),
        }])
        .expect("append");
    let on_server = dovecot.fetch_all("dave", "Ärger/Größe");
    assert_eq!(on_server.len(), 1);
    assert_eq!(on_server[0].body, message("umlaut"));
    assert_eq!(on_server[0].internal_date_unix(), 1_700_000_000);
}

#[test]
fn reference_and_subscribedonly() {
    let dovecot = Dovecot::start_default();
    dovecot.create_folder("alice", "Mail/Kept");
    dovecot.create_folder("alice", "Outside");
    let base = tls_config(&dovecot, "alice");
    let referenced = open(&base.clone().with("reference", "Mail"));
    let listed: Vec<String> = referenced
        .list_folders()
        .unwrap()
        .into_iter()
        .map(|f| f.path.to_string())
        .collect();
    assert_eq!(listed, vec!["Kept".to_owned()]);
    referenced.create_folder(&path("New/Deep")).unwrap();
    assert!(dovecot
        .folders("alice")
        .contains(&"Mail/New/Deep".to_owned()));

    let subscribed = open(&base.with("subscribedonly", "yes"));
    subscribed.create_folder(&path("Subscribed")).unwrap();
    let listed: Vec<String> = subscribed
        .list_folders()
        .unwrap()
        .into_iter()
        .map(|f| f.path.to_string())
        .collect();
    assert!(listed.contains(&"Subscribed".to_owned()), "{listed:?}");
    assert!(!listed.contains(&"Outside".to_owned()), "{listed:?}");
}

#[test]
fn readonly_refuses_every_write_and_never_marks_seen() {
    let dovecot = Dovecot::start_default();
    let uid = dovecot.deliver("bob", "INBOX", &message("kept"), &[]);
    let repository = open(&tls_config(&dovecot, "bob").with("readonly", "yes"));
    let mut inbox = repository.open_folder(&FolderPath::inbox()).expect("open");
    assert_eq!(inbox.list_messages().unwrap().len(), 1);
    let fetched = inbox.fetch_messages(&[uid]).unwrap();
    assert_eq!(fetched[0].bytes, message("kept"));
    let errors = [
        inbox
            .append_messages(vec![NewMessage {
                bytes: message("x").into(),
                flags: Flags::new(),
                internal_date: None,
            }])
            .unwrap_err(),
        inbox
            .update_flags(
                &[uid],
                &Flags::from_system(&[SystemFlag::Flagged]),
                &Flags::new(),
            )
            .unwrap_err(),
        inbox.delete_messages(&[uid]).unwrap_err(),
        repository.create_folder(&path("New")).unwrap_err(),
    ];
    for error in errors {
        assert_eq!(error.scope, ErrorScope::Repository, "{error}");
        assert!(error.message.contains("'readonly'"), "{error}");
    }
    repository
        .create_folder(&FolderPath::inbox())
        .expect("an existing folder is fine");
    assert_eq!(
        dovecot.fetch_all("bob", "INBOX")[0].flag_letters(),
        "",
        "not \\Seen"
    );
}

#[test]
fn status_follows_appends_and_fetch_does_not_mark_seen() {
    let dovecot = Dovecot::start_default();
    let repository = open(&tls_config(&dovecot, "carol"));
    let mut inbox = repository.open_folder(&FolderPath::inbox()).unwrap();
    let before = inbox.status().unwrap();
    assert!(before.highest_modseq.is_some(), "CONDSTORE is used");
    let uids = inbox
        .append_messages(
            (0..3)
                .map(|i| NewMessage {
                    bytes: message(&format!("m{i}")).into(),
                    flags: Flags::new(),
                    internal_date: None,
                })
                .collect(),
        )
        .unwrap();
    assert!(
        uids.iter().all(Option::is_some),
        "UIDPLUS gives every UID: {uids:?}"
    );
    let after = inbox.status().unwrap();
    assert_eq!(after.message_count, 3);
    assert_eq!(
        after.uid_next,
        uids[2].unwrap() + 1,
        "UIDNEXT is current after appends"
    );
    let all: Vec<u32> = uids.iter().flatten().copied().collect();
    let fetched = inbox.fetch_messages(&[all[1], all[1], all[0]]).unwrap();
    assert_eq!(
        fetched.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![all[1], all[1], all[0]]
    );
    for message in dovecot.fetch_all("carol", "INBOX") {
        assert_eq!(message.flag_letters(), "", "BODY.PEEK never sets \\Seen");
    }
    // Keywords round-trip.
    let mut keyword = Flags::new();
    keyword.insert_keyword("$Forwarded");
    keyword.insert_keyword("Custom_1");
    inbox.update_flags(&all, &keyword, &Flags::new()).unwrap();
    let listing = inbox.list_messages().unwrap();
    assert!(listing.iter().all(|m| m.flags.contains_keyword("Custom_1")));
    assert!(listing.iter().all(|m| m.modseq.is_some()));
}

#[test]
fn a_cut_connection_fails_the_folder_cleanly_and_the_next_call_reconnects() {
    let dovecot = Dovecot::start_default();
    let big = {
        let mut bytes = message("big");
        bytes.extend(std::iter::repeat_n(b"0123456789abcdef\r\n".as_slice(), 20_000).flatten());
        bytes
    };
    let uid = dovecot.deliver("alice", "INBOX", &big, &[]);
    let proxy = dovecot.proxy(ProxyOptions {
        cut_after_fetch_bytes: Some(50_000),
        ..Default::default()
    });
    let repository = open(&plain_config(&dovecot, "alice", proxy.port()));
    let mut inbox = repository.open_folder(&FolderPath::inbox()).unwrap();
    let error = inbox.fetch_messages(&[uid]).unwrap_err();
    assert_eq!(
        (error.scope, error.retry),
        (ErrorScope::Folder, Retry::Later),
        "{error}"
    );
    assert!(
        error.message.contains("INBOX") && error.message.contains("127.0.0.1"),
        "{error}"
    );
    assert!(proxy.cuts() >= 1);
    proxy.set_cut_after_fetch_bytes(None);
    let fetched = inbox.fetch_messages(&[uid]).expect("reconnected");
    assert_eq!(fetched[0].bytes, big);
    assert_eq!(dovecot.fetch_all("alice", "INBOX")[0].flag_letters(), "");
}

#[test]
fn a_silent_server_times_out() {
    // A listener that accepts and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _held = std::thread::spawn(move || {
        let connections: Vec<_> = listener.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(5));
        drop(connections);
    });
    let config = config(&[
        ("remotehost", "127.0.0.1".into()),
        ("remoteport", port.to_string()),
        ("remoteuser", "x".into()),
        ("remotepass", "y".into()),
        ("timeout", "0.5".into()),
    ]);
    let started = Instant::now();
    let error = open(&config).list_folders().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        (error.scope, error.retry),
        (ErrorScope::Repository, Retry::Later),
        "{error}"
    );
}

#[test]
fn the_pool_bounds_connections_and_shares_them_between_threads() {
    let dovecot = Dovecot::start_default();
    for name in ["One", "Two", "Three"] {
        dovecot.create_folder("bob", name);
    }
    let repository: Arc<dyn Repository> = Arc::from(open(
        &tls_config(&dovecot, "bob").with("maxconnections", "1"),
    ));
    let first = repository.open_folder(&path("One")).unwrap();
    let waiter = {
        let repository = Arc::clone(&repository);
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut folder = repository.open_folder(&path("Two")).unwrap();
            folder.status().unwrap();
            started.elapsed()
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    drop(first);
    let waited = waiter.join().unwrap();
    assert!(
        waited >= Duration::from_millis(250),
        "the second open waited: {waited:?}"
    );
    std::thread::scope(|scope| {
        for name in ["One", "Two", "Three"] {
            let repository = &repository;
            scope.spawn(move || {
                for _ in 0..3 {
                    let mut folder = repository.open_folder(&path(name)).unwrap();
                    folder.list_messages().unwrap();
                }
            });
        }
    });
}

/// Messages for the append tests: odd shapes (8-bit bytes, an empty body, one larger than
/// the connection's buffers, a 100,000-byte line), flags and dates varied.
fn upload_batch(count: usize) -> Vec<NewMessage> {
    (0..count)
        .map(|i| {
            let mut bytes = message(&format!("up-{i}"));
            match i % 50 {
                7 => bytes.extend_from_slice(b"caf\xc3\xa9 \xe6\x97\xa5 \xff\r\n"),
                13 => bytes
                    .extend(std::iter::repeat_n(b"0123456789\r\n".as_slice(), 20_000).flatten()),
                21 => {
                    bytes.extend(std::iter::repeat_n(b'x', 100_000));
                    bytes.extend_from_slice(b"\r\n");
                }
                _ => {}
            }
            let mut flags = Flags::new();
            if i % 2 == 0 {
                flags.insert(SystemFlag::Seen);
            }
            if i % 5 == 0 {
                flags.insert(SystemFlag::Flagged);
                flags.insert_keyword("$Forwarded");
            }
            NewMessage {
                bytes: bytes.into(),
                flags,
                internal_date: (i % 3 != 0).then_some(1_500_000_000 + i as i64 * 61),
            }
        })
        .collect()
}

/// Every way of sending a batch (MULTIAPPEND and LITERAL+, each, neither) stores every
/// message byte for byte with its flags and date, and returns the new UIDs in order.
#[test]
fn appends_are_pipelined_or_not_and_give_the_uids_in_order() {
    let base = "IMAP4rev1 SASL-IR ID ENABLE IDLE NAMESPACE CHILDREN UNSELECT UIDPLUS CONDSTORE";
    // 520 messages: more than one MULTIAPPEND command's worth.
    let batch = upload_batch(520);
    for extra in ["MULTIAPPEND LITERAL+", "MULTIAPPEND", "LITERAL+", ""] {
        let dovecot = Dovecot::start(DovecotOptions {
            imap_capability: Some(format!("{base} {extra}")),
            tls: false,
            ..DovecotOptions::default()
        });
        let repository = open(&plain_config(&dovecot, "alice", dovecot.imap_port()));
        let mut inbox = repository.open_folder(&FolderPath::inbox()).unwrap();
        // Something there already, so the new UIDs do not start at 1.
        inbox.append_messages(upload_batch(1)).unwrap();
        let uids = inbox.append_messages(batch.clone()).unwrap();
        let uids: Vec<u32> = uids
            .iter()
            .map(|uid| uid.unwrap_or_else(|| panic!("[{extra}] UIDPLUS gives every UID")))
            .collect();
        assert!(uids.windows(2).all(|w| w[0] < w[1]), "[{extra}] in order");
        assert_eq!(inbox.status().unwrap().uid_next, uids[519] + 1, "[{extra}]");
        let fetched = inbox.fetch_messages(&uids).unwrap();
        assert_eq!(fetched.len(), 520, "[{extra}]");
        for ((sent, got), uid) in batch.iter().zip(&fetched).zip(&uids) {
            assert_eq!(got.uid, *uid, "[{extra}]");
            assert!(got.bytes == sent.bytes, "[{extra}] UID {uid}: bytes differ");
            if let Some(date) = sent.internal_date {
                assert_eq!(got.internal_date, Some(date), "[{extra}] UID {uid}");
            }
        }
        let listing = inbox.list_messages().unwrap();
        for (sent, uid) in batch.iter().zip(&uids) {
            let listed = listing.iter().find(|m| m.uid == *uid).expect("listed");
            assert_eq!(listed.flags, sent.flags, "[{extra}] UID {uid}");
        }
        assert_eq!(listing.len(), 521, "[{extra}] nothing more, nothing less");
    }
}

#[test]
fn a_connection_cut_in_a_pipelined_append_fails_the_folder_and_the_next_call_reconnects() {
    let dovecot = Dovecot::start_default();
    let proxy = dovecot.proxy(ProxyOptions {
        cut_after_append_bytes: Some(60_000),
        ..Default::default()
    });
    let repository = open(&plain_config(&dovecot, "alice", proxy.port()));
    let mut inbox = repository.open_folder(&FolderPath::inbox()).unwrap();
    let batch = upload_batch(300);
    let error = inbox.append_messages(batch.clone()).unwrap_err();
    assert_eq!(
        (error.scope, error.retry),
        (ErrorScope::Folder, Retry::Later),
        "{error}"
    );
    assert!(proxy.cuts() >= 1);
    // One MULTIAPPEND is all or nothing: the cut one left nothing behind.
    assert!(dovecot.fetch_all("alice", "INBOX").is_empty());
    proxy.set_cut_after_append_bytes(None);
    let uids = inbox.append_messages(batch.clone()).expect("reconnected");
    assert!(uids.iter().all(Option::is_some));
    let stored = dovecot.fetch_all("alice", "INBOX");
    assert_eq!(stored.len(), 300);
    for (sent, got) in batch.iter().zip(&stored) {
        assert!(sent.bytes == got.body, "UID {}: bytes differ", got.uid);
    }
}
