//! A real Dovecot for the IMAP end-to-end tests, one private server per test.
//!
//! # Why it looks like this
//!
//! The IMAP plugin must be right against a real server, never a mock, so every IMAP test
//! starts its own Dovecot (Debian's `dovecot-imapd`, installed by `scripts/test`) with a
//! generated, self-contained config in a temporary directory: its own `base_dir`,
//! `state_dir`, log, users, mail homes, certificates and free loopback ports. Starting one
//! takes a few milliseconds, so tests never share a server and run in parallel freely.
//!
//! Dovecot runs as root here and its mail processes refuse to, so the harness creates one
//! system user ([`MAIL_USER`], uid >= 5000) once and makes every directory down to the mail
//! store traversable by it. A Dovecot that outlives its test (the test process was killed)
//! is stopped by a small watchdog shell process.
//!
//! The harness reads and writes the server through its own minimal IMAP client
//! ([`ImapSession`]), written here rather than borrowed from the `imap` crate the plugin
//! uses, so a bug there cannot hide itself; folder management goes through `doveadm`, which
//! takes UTF-8 names. Folder names in this module are twinbox's: UTF-8 with `/` between
//! levels; the helpers translate to the server's separator and modified UTF-7.
//!
//! [`Proxy`] sits between twinbox and Dovecot for the network-fault tests: it can cut a
//! connection in the middle of a `FETCH`, hide the UIDPLUS response codes (Dovecot sends
//! `APPENDUID` even when `imap_capability` hides UIDPLUS) and leave `RFC822.SIZE` out of
//! FETCH responses.
//!
//! # Where things are
//!
//! One file per concern; everything is re-exported here, so tests name
//! `twinbox_integration::dovecot::X` whichever file `X` lives in.
//!
//! - `server`: options, config, start and stop, ports, the watchdog.
//! - `users` and `certificates`: who may log in, and the TLS the server presents.
//! - `mailboxes`: reading and changing a user's folders and messages on the server.
//! - `session` and `response`: the harness's IMAP client and its response parser.
//! - `conversions`: Maildir <-> IMAP spellings (flags, dates, line ends, folder names).
//! - `proxy`: the fault-injecting TCP proxy.
//! - `twinbox_config`, `runs` and `compare`: twinbox's side: repository sections, running
//!   it with a timeout, and comparing the local Maildir with the server.

mod certificates;
mod compare;
mod conversions;
mod mailboxes;
mod proxy;
mod response;
mod runs;
mod server;
mod session;
mod twinbox_config;
mod users;

pub use certificates::{hex, ServerCertificate};
pub use compare::{
    assert_folder_matches, assert_only_whole_messages, local_folder_dir, mtime_unix, set_mtime_unix,
};
pub use conversions::{
    crlf_to_lf, flag_letter, format_internal_date, imap_flags, lf_to_crlf, mutf7_encode,
    parse_internal_date, quote,
};
pub use mailboxes::ServerMessage;
pub use proxy::{Proxy, ProxyOptions, Slow, StripSize};
pub use response::Value;
pub use runs::{
    assert_no_changes, require_imap_plugin, run_twinbox, sync_code, sync_ok, IMAP_PLUGIN,
    RUN_TIMEOUT,
};
pub use server::{Dovecot, DovecotOptions, MINIMAL_CAPABILITY};
pub use session::{ImapSession, Reply, HARNESS_ADDRESS};
pub use twinbox_config::{
    imap_imap_config, maildir_imap_config, maildir_imap_sandbox, ImapRepository, ACCOUNT,
};
pub use users::{MAIL_USER, USERS};
