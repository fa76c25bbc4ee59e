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
//! (one fsync per directory touched), except where a crash would make a UID lie. The
//! files of an append are written to `tmp/` and made durable together (fsyncs in
//! parallel, which the file system commits at once) before any is renamed into place,
//! so a crash leaves each message absent or complete, never torn. New
//! UIDs are recorded durably before any file carries them, and the next UID can never
//! fall behind the names on disk because every scan raises it above the highest it sees.
//!
//! Folder names are IMAP's modified UTF-7 on disk unless the account sets
//! `utf8foldernames = yes`, again as OfflineIMAP does, and FMD5 hashes the name on disk:
//! an OfflineIMAP Maildir with non-ASCII folder names is read without renaming anything.
//!
//! A dry run opens the repository read-only and must leave every byte as it was, our own
//! bookkeeping included. UIDs it would assign are reported provisionally, for one listing,
//! so that the engine can say what a real run would do; the real run then assigns the same
//! ones to the same files. A file that cannot be read (a dangling symbolic link) is
//! treated the same way in every run if it has no UID yet: it is listed, so the engine
//! reports it, but never renamed, since it cannot be copied.
//!
//! A process killed while writing leaves a file in `tmp/`. Ours are named so that their
//! writer can be recognised; opening a folder for writing removes those whose writer is
//! gone, and anyone's older than 36 hours (the Maildir convention).
//!
//! Layout: `names` (the file name scheme), `layout` (folder paths to directories, the
//! `layout` and `sep` options, name encoding), `options` (account options), `uidstate` (the state
//! file), `leftovers` (abandoned `tmp/` files), `folder` and `repository` (the interface
//! traits); the durable file steps come from `backend_kit`. Unix only, like Maildir itself.

mod folder;
#[doc(hidden)]
pub mod fuzzing;
mod layout;
mod leftovers;
mod names;
mod options;
mod repository;
mod uidstate;

use backend_api::{Backend, BackendError, Repository, RepositoryConfig};

pub use repository::MaildirRepository;

/// The plugin: opens a [`MaildirRepository`] from a `[Repository]` section.
///
/// Options: `localfolders` (required; the Maildir root, `~` expanded, created if
/// missing), `layout` (`offlineimap` by default; `maildir++` for Dovecot's and Courier's
/// layout, INBOX at the root and `.Work.Projects` beside it) and `sep` (`.` by default,
/// or `/` for nested directories; only `.` with `maildir++`); from the account,
/// `utf8foldernames` (`no` by default: directory names in modified UTF-7, as OfflineIMAP
/// writes them; `yes`: in UTF-8).
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
mod fuzz_tests;
#[cfg(test)]
mod tests;
