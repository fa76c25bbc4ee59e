//! The IMAP backend of twinbox, loaded as a plugin (`type = IMAP`).
//!
//! # Why it looks like this
//!
//! The engine owns every sync decision; this backend only translates the small
//! [`Repository`]/[`Folder`](backend_api::Folder) interface into IMAP commands and the
//! answers back. What makes it more than a wrapper around the `imap` crate is what a sync
//! cannot afford to get wrong:
//!
//! - **Bytes are never touched.** Messages are fetched with `BODY.PEEK[]` (so a sync never
//!   marks anything read) and handed over exactly as the literal arrived; APPEND sends the
//!   bytes as given with their flags and INTERNALDATE, and nothing is ever added to a
//!   header. The new UID comes from UIDPLUS when the server has it; otherwise `None`, and
//!   the engine finds the copy by content.
//! - **Names are mapped both ways without loss.** Modified UTF-7 (our own strict codec in
//!   `backend_kit::mutf7`), the server's delimiter and the `reference` prefix are handled
//!   in `names`; a server name that cannot be a folder path is skipped with a warning
//!   rather than bent into one that might collide. Everything we put on the wire is
//!   quoted by us (`wire`), since the crate sends mailbox names verbatim.
//! - **Security is not optional.** TLS is implicit by default; `ssl = no` means STARTTLS,
//!   which the server must offer; plain text needs an explicit `starttls = no`.
//!   Certificates are checked against the system store, a CA file, or pinned
//!   fingerprints, and a refusal shows the fingerprint so the user can pin it. Secrets
//!   never reach a log line or an error.
//! - **A network fault is an error, never a hang or a panic.** A command gets `timeout` as
//!   a whole (plus `timeout` for every 64 KiB that moves), not per read, so a stalled or
//!   trickling server is given up; what a server sends is bounded per line, response and
//!   message (`connection`, `link`). A connection that breaks is thrown away and reported
//!   as a folder-level error to retry later. We parse the server's answers ourselves (`response`), because
//!   the crate's typed parsers panic on some legal replies.
//! - **No round trip per message.** The `imap` crate only logs us in; after that, commands
//!   go over our own `link`, which writes several commands before reading their answers
//!   and reads each response once, message bodies straight into the buffers handed to the
//!   engine. A batch of bodies is one round trip, a batch of uploads one (MULTIAPPEND and
//!   LITERAL+, see `append`), flag changes and deletions one. With LITERAL+, a batch of
//!   uploads is sent while the batch before is stored (`start_append`, `finish_append`). A batch the engine announces
//!   (`prefetch_messages`) costs none: its `UID FETCH` goes out while the batch before is
//!   written, and its bytes wait in the socket until it is asked for. A server may run
//!   queued FETCHes at once and interleave their messages (Dovecot does with two or more
//!   queued), so bodies of a later batch that come early are kept for it, and a batch is
//!   handed over once all its messages came, its tagged answer read later.
//! - **No round trip per unchanged folder.** Right after the LIST, one pipelined round trip
//!   SELECTs every listed folder (`repository`); a folder opened soon after answers its
//!   status from that, takes a connection only when a call needs the mailbox, and, when its
//!   HIGHESTMODSEQ is the one the engine recorded, answers "no changes" without selecting
//!   at all. Reads that follow a SELECT go in its round trip; writes wait for the SELECT's
//!   answer, since they must not reach another mailbox generation (UIDVALIDITY). Login is
//!   no round trip of its own where the server allows: with PLAIN preferred (the
//!   default), `AUTHENTICATE PLAIN` with SASL-IR is sent right behind the TLS handshake
//!   and answered in the greeting's round trip; a greeting that offers no SASL-IR with
//!   PLAIN sends the connection again the way it says, once per repository.
//!   `-vv` logs one line per round trip (`round trip: ...`, command names only).
//!
//! Layout: `options` (the `[Repository]` section), `connection` (TCP, TLS, STARTTLS,
//! login, pipelined commands), `link` (tagged commands and responses on the raw stream),
//! `append` (APPEND batches), `sasl` (client strings), `names` (folder names), `wire`
//! (what we send: quoting, UID sets, flags, dates), `response` (what we read),
//! `repository` (the connection pool and folder tree), `folder` (one selected mailbox),
//! `changes` (what changed since a MODSEQ: QRESYNC, CONDSTORE).

mod append;
mod changes;
mod connection;
mod folder;
#[cfg(test)]
mod fuzz_tests;
#[doc(hidden)]
pub mod fuzzing;
mod link;
mod names;
mod options;
mod repository;
mod response;
mod sasl;
mod wire;

use backend_api::{Backend, BackendError, Repository, RepositoryConfig};

pub use repository::ImapRepository;

/// The plugin: opens an [`ImapRepository`] from a `[Repository]` section.
///
/// Options (OfflineIMAP's names): `remotehost` (required), `remoteport`, `remoteuser`,
/// `remotepass` / `remotepassfile` / `remotepasscommand` / `~/.netrc`, `ssl` (default
/// yes), `starttls` (default yes when `ssl = no`), `sslcacertfile`, `cert_fingerprint`,
/// `tls_level` (default tls1.2), `auth_mechanisms` (default `PLAIN, LOGIN, CRAM-MD5`),
/// `oauth2_access_token` / `oauth2_access_token_command`, `maxconnections` (default 3),
/// `subscribedonly`, `reference`, `readonly`, `expunge` (default yes; only matters for
/// servers without UIDPLUS), `timeout` (seconds, default 60).
pub struct ImapBackend;

impl Backend for ImapBackend {
    const NAME: &'static str = "IMAP";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn open(config: RepositoryConfig) -> Result<Box<dyn Repository>, BackendError> {
        Ok(Box::new(ImapRepository::open(&config)?))
    }
}

backend_api::export_backend!(ImapBackend);
