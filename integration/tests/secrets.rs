//! No leaked secrets (issue 12): the password never appears in what twinbox prints, at
//! any `-v` level, in a dry run, or in the error of a failed login; and a network that
//! strips STARTTLS from the server's capabilities gets a clear refusal, never a login in
//! clear text.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use twinbox_integration::dovecot::*;
use twinbox_integration::*;

const USER: &str = "dave";

#[track_caller]
fn assert_no_password(outcome: &Outcome, password: &str) {
    assert!(
        !outcome.stdout.contains(password) && !outcome.stderr.contains(password),
        "the password is in the output:\n{outcome}"
    );
}

#[test]
fn the_password_is_never_printed_at_any_verbosity_nor_in_a_dry_run_or_a_failed_login() {
    let dovecot = Dovecot::start_default();
    dovecot.deliver(USER, "INBOX", &message("secret-1"), &[]);
    let password = dovecot.password(USER);
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER));
    for args in [
        &["sync", "-n", "-vvvv"][..],
        &["sync", "-vvvv"],
        &["sync", "-v"],
        &["sync", "-n"],
    ] {
        let outcome = run_twinbox(&sandbox, args);
        outcome.assert_code(0);
        assert_no_password(&outcome, password);
    }

    let wrong = "Wr0ng-S3cret-Passw0rd";
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER).set("remotepass", wrong));
    let outcome = run_twinbox(&sandbox, &["sync", "-vvvv"]);
    assert_ne!(outcome.code, Some(0), "{outcome}");
    assert_no_password(&outcome, wrong);
}

/// A proxy for one connection at a time that removes `STARTTLS` from whatever the server
/// says and records what the client sent.
fn starttls_stripping_proxy(server_port: u16) -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&sent);
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", server_port)) else {
                return;
            };
            let (mut client_in, mut server_out) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let recorded = Arc::clone(&recorded);
            thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = client_in.read(&mut buffer) {
                    if n == 0 || server_out.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                    recorded.lock().unwrap().extend_from_slice(&buffer[..n]);
                }
                let _ = server_out.shutdown(Shutdown::Both);
            });
            let mut buffer = [0u8; 4096];
            while let Ok(n) = server.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buffer[..n]).replace(" STARTTLS", "");
                if client.write_all(text.as_bytes()).is_err() {
                    break;
                }
            }
            let _ = client.shutdown(Shutdown::Both);
        }
    });
    (port, sent)
}

#[test]
fn a_network_that_strips_starttls_gets_a_refusal_not_a_clear_text_login() {
    let dovecot = Dovecot::start_default();
    let (port, sent) = starttls_stripping_proxy(dovecot.imap_port());
    let repository = dovecot
        .starttls_repository(USER)
        .set("remoteport", &port.to_string());
    let sandbox = maildir_imap_sandbox("", &repository);
    let outcome = run_twinbox(&sandbox, &["sync"]);
    assert_eq!(outcome.code, Some(1), "{outcome}");
    assert!(
        outcome.stdout.contains("does not offer it") && outcome.stdout.contains("STARTTLS"),
        "a clear error naming STARTTLS:\n{outcome}"
    );
    let sent = String::from_utf8_lossy(&sent.lock().unwrap()).into_owned();
    assert!(
        !sent.contains(dovecot.password(USER))
            && !sent.to_ascii_uppercase().contains("LOGIN ")
            && !sent.to_ascii_uppercase().contains("AUTHENTICATE"),
        "credentials went out in clear text: {sent:?}"
    );
}
