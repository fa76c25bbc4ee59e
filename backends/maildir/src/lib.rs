//! The Maildir backend of twinbox, loaded as a plugin (`type = Maildir`).
//!
//! # Why it looks like this
//!
//! A Maildir stores one message per file and nothing else: no UIDs, no UIDVALIDITY, no
//! index. The sync engine needs all three, so this backend keeps them where OfflineIMAP
//! kept them, in the file names (`<unique>,U=<uid>,FMD5=<md5 of folder name>:2,<flags>`),
//! plus one small state file per folder for the UIDVALIDITY and the next UID. Reading
//! OfflineIMAP's names as they are means a user switching from it keeps every UID, so the
//! first sync copies nothing; writing the same names means mutt, notmuch or Dovecot see
//! ordinary Maildir files.
//!
//! The file system is shared with mail clients, which deliver files without UIDs, move
//! files between folders (the FMD5 then names another folder) and rename files to change
//! flags. Each of those is detected when listing and answered the way IMAP would: a file
//! new to the folder gets a fresh UID; a UID that vanished is a deletion; a renamed file is
//! found again by rescanning. A message's bytes are never touched, only its name.
//!
//! Durability follows the interface: effects are batched and made durable at `flush`
//! (one fsync per directory touched), except where a crash would make a UID lie. New
//! UIDs are recorded durably before any file carries them, and the next UID can never
//! fall behind the names on disk because every scan raises it above the highest it sees.
//!
//! Layout: `names` (the file name scheme), `layout` (folder paths to directories, the
//! `sep` option), `uidstate` (the state file), `folder` and `repository` (the interface
//! traits), `fsutil` (syncing). Unix only, like Maildir itself.

mod folder;
mod fsutil;
mod layout;
mod names;
mod repository;
mod uidstate;

use backend_api::{Backend, BackendError, Repository, RepositoryConfig};

pub use repository::MaildirRepository;

/// The plugin: opens a [`MaildirRepository`] from a `[Repository]` section.
///
/// Options: `localfolders` (required; the Maildir root, `~` expanded, created if
/// missing) and `sep` (`.` by default, or `/` for nested directories).
pub struct MaildirBackend;

impl Backend for MaildirBackend {
    const NAME: &'static str = "Maildir";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn open(config: RepositoryConfig) -> Result<Box<dyn Repository>, BackendError> {
        Ok(Box::new(MaildirRepository::open(&config)?))
    }
}

backend_api::export_backend!(MaildirBackend);

#[cfg(test)]
mod tests;
