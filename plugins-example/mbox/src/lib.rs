//! The mbox backend of twinbox, a plugin written the way an outside author would write
//! one: against `backend-api` alone (`type = mbox`).
//!
//! # Why it looks like this
//!
//! An mbox is one file per folder holding every message, each behind a `From ` line. It
//! has no UIDs, no UIDVALIDITY and no stable message names, and mail clients (mutt,
//! neomutt, Thunderbird) rewrite it whenever they change a flag or expunge. The engine
//! needs UIDs that keep naming the same message, so this plugin keeps them in a sidecar
//! index per mbox, and recognises messages *by content* whenever a client has rewritten
//! the file: a known message keeps its UID wherever it moved, an unknown one gets a new
//! UID, and a UID whose message is nowhere is a deletion. When the index itself cannot be
//! trusted (missing or damaged) the folder gets a new UIDVALIDITY: UIDs are never reused.
//!
//! Messages cross the interface byte for byte. On disk they carry what the mbox format
//! needs and nothing else: the `From ` line, mboxrd quoting (`>` before every line matching
//! `^>*From `), a blank line after each, and the flags in `Status:`/`X-Status:` header
//! fields as mutt writes them. Those fields, and the others mail clients rewrite as their
//! own bookkeeping, are set aside when a message is recognised, and the index keeps the
//! message's own copies of them, so `fetch` returns exactly the bytes appended (or first
//! found), whatever a client did to the headers since. See `format` for the rules.
//!
//! Writes are crash-safe and polite to other programs: the mbox is locked as mutt locks it
//! (`fcntl` and a dotlock); an append is announced in the index, written at the end and
//! fsynced, then recorded; flag changes and deletions are collected until `flush` and
//! written as one new mbox that is fsynced and renamed over the old one. A dry run
//! (read-only) changes nothing, not even the index.
//!
//! Layout: `layout` (folders to files, Thunderbird's `.sbd` directories), `format` (the
//! mbox format), `date` (`From ` line dates), `index` (the sidecar index), `lock`,
//! `folder` and `repository` (the interface traits); the durable file steps come from
//! `backend_kit`. Unix only, like mbox locking.

mod date;
mod folder;
mod format;
mod index;
mod layout;
mod lock;
mod repository;

use backend_api::{Backend, BackendError, Repository, RepositoryConfig};

pub use repository::MboxRepository;

/// The plugin: opens an [`MboxRepository`] from a `[Repository]` section.
///
/// Options: `localfolders` (required; the directory holding the mbox files, `~`
/// expanded, created if missing) and `locktimeout` (seconds to wait for another program's
/// lock on an mbox, 60 by default).
pub struct MboxBackend;

impl Backend for MboxBackend {
    const NAME: &'static str = "mbox";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn open(config: RepositoryConfig) -> Result<Box<dyn Repository>, BackendError> {
        Ok(Box::new(MboxRepository::open(&config)?))
    }
}

backend_api::export_backend!(MboxBackend);

#[cfg(test)]
mod tests;
