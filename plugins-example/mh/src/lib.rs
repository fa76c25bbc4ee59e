//! An MH backend for twinbox, loaded as a plugin (`type = MH`), written only against the
//! `backend-api` crate, as any third-party backend would be.
//!
//! # Why it looks like this
//!
//! MH (nmh, mh-e) keeps one message per file, named by its number in the folder: a
//! folder is a directory, its subfolders are subdirectories, and flags live in
//! `.mh_sequences` as named sets of numbers. This plugin reads and writes exactly that,
//! so nmh and mh-e go on working on the same tree while it is synced.
//!
//! **Numbers are UIDs.** They already are positive and increasing, and `inc` adds above
//! the highest. What MH lacks is a UIDVALIDITY and a memory of numbers used before, so
//! the plugin keeps both in a small file of its own in each folder (`state`): the
//! UIDVALIDITY, the highest number ever used, and a fingerprint of each message it listed.
//! With these a listing tells apart what nmh did in between (`reconcile`): a message
//! annotated in place is the same message; a number freed by `rmm` and taken again by
//! `inc` holds a new message, which is renumbered above every number used so that no
//! UID ever names two messages; and messages moved to other numbers (`folder -pack`,
//! `sortm`) mean the numbers no longer name what they named, which the plugin reports,
//! as IMAP would, with a new UIDVALIDITY. It never reuses one.
//!
//! **Flags are sequences** (`options`): `\Seen` is *not* being in `unseen`, `\Flagged`
//! is `flagged`, `\Answered` is `replied`; the interface asks every backend to store all
//! five system flags, so `\Draft` and `\Deleted` get sequences `draft` and `deleted`.
//! Every name is configurable. Keywords are not stored. Other sequences (`cur`, the
//! user's own) are kept byte for byte, except that a message we delete leaves every
//! sequence but `cur`, as `rmm` does (`sequences`). The file is changed under nmh's own
//! locks, and replaced atomically (`locking`).
//!
//! **Bytes are never changed**, and lines end in LF, as MH files do; the internal date is
//! the file's mtime. A new message is written to a temporary dot-file, fsynced, and
//! renamed to its number without ever replacing a file; deleting a message removes its
//! file (nmh's `rmm` would rename it to `,N`; a sync deletes as OfflineIMAP does, for
//! good). Effects are durable at `flush`, one directory fsync per batch.
//!
//! **A dry run** (read-only) changes nothing at all: no state file, no sequence, no lock
//! file. What a real run would assign is reported provisionally.
//!
//! Layout: `layout` (folder paths to directories), `options`, `sequences`
//! (`.mh_sequences`), `identity` (what makes two files the same message), `state` (the
//! plugin's file), `reconcile` (what each number stands for now), `locking`, and the
//! interface traits in `folder` and `repository`; the durable file steps come from
//! `backend_kit`. Unix only, like MH.

mod folder;
mod identity;
mod layout;
mod locking;
mod options;
mod reconcile;
mod repository;
mod sequences;
mod state;

use backend_api::{Backend, BackendError, Repository, RepositoryConfig};

pub use repository::MhRepository;

/// The plugin: opens an [`MhRepository`] from a `[Repository]` section.
///
/// Options: `localfolders` (required; the MH root, nmh's `Path`, `~` expanded, created
/// if missing); `mh_sequences_unseen`, `mh_sequences_flagged`, `mh_sequences_replied`,
/// `mh_sequences_draft`, `mh_sequences_deleted` (the sequence of each flag; by default
/// `unseen`, `flagged`, `replied`, `draft`, `deleted`).
pub struct MhBackend;

impl Backend for MhBackend {
    const NAME: &'static str = "MH";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn open(config: RepositoryConfig) -> Result<Box<dyn Repository>, BackendError> {
        Ok(Box::new(MhRepository::open(&config)?))
    }
}

backend_api::export_backend!(MhBackend);

#[cfg(test)]
mod tests;
