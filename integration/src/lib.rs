//! Helpers for the end-to-end tests: they drive twinbox exactly as a user does.
//!
//! # Why the tests look like this
//!
//! Every test runs the real `twinbox` binary, which loads the real plugins with `dlopen`,
//! against real directories; nothing is linked in. That is the only way to see what a user
//! sees: the exit code, the one line on stderr, the summary on stdout, and what is left on
//! disk. The helpers therefore do what a user or a mail client would do (write a config
//! file, drop a message into `new/`, rename a file to change its flags, unlink it to
//! delete it) and read the result back the same way, from file names and contents.
//!
//! Each test gets a [`Sandbox`]: a temporary directory holding `HOME`,
//! `XDG_CONFIG_HOME`, `XDG_DATA_HOME`, both Maildir roots and the metadata directory, so
//! nothing touches the real home and tests can run in parallel.
//!
//! The binaries are not built by `cargo test -p twinbox-integration` (plugins are
//! `cdylib`s that no test links); run `cargo build --workspace` first. [`target_dir`]
//! says so when they are missing.
//!
//! # Where things are
//!
//! Everything is re-exported here, so a test needs only `use twinbox_integration::*`.
//!
//! - `sandbox`: the binary, the plugins, the [`Sandbox`] and the configs written into it.
//! - `outcome`: what one run said ([`Outcome`]) and the checks made on it.
//! - `maildir`: a mail client's view of a Maildir (deliver, rename, read back, compare).
//! - `python`: Python's `mailbox` module as an independent reader of mbox and MH.
//! - `snapshot`: "nothing changed on disk" ([`snapshot`], [`Frozen`]).
//! - [`dovecot`] and [`corpus`]: a real IMAP server, and mail in bulk for it.

pub mod corpus;
pub mod dovecot;
mod maildir;
mod outcome;
mod peers;
mod python;
mod sandbox;
mod snapshot;

pub use maildir::{
    assert_names_carry_uids, assert_same_tree, create_folder, deliver_cur, deliver_new,
    files_by_inode, find_message, flags_of, folder_map, folders, message_files, messages,
    set_flags, sorted_flags, stray_files, tmp_leftovers, tree_map, MessageFile, SUBDIRS,
};
pub use outcome::Outcome;
pub use peers::{run_offlineimap, run_peer, OFFLINEIMAP};
pub use python::{from_hex, run_python};
pub use sandbox::{
    maildir_section, repository_section, run_command, target_dir, test_plugin_dir, twinbox_bin,
    MixedAccounts, Sandbox, FUTURE_PLUGIN, MAILDIR_PLUGIN, PANICKING_PLUGIN, PANIC_MESSAGE,
};
pub use snapshot::{assert_same_snapshot, snapshot, Entry, Frozen};

/// A small, distinct, realistic message; `tag` makes it unique.
pub fn message(tag: &str) -> Vec<u8> {
    format!(
        "Return-Path: <alice@example.org>\n\
         From: Alice <alice@example.org>\n\
         To: Bob <bob@example.net>\n\
         Subject: test message {tag}\n\
         Date: Tue, 14 Nov 2023 22:13:20 +0000\n\
         Message-ID: <{tag}@example.org>\n\
         MIME-Version: 1.0\n\
         Content-Type: text/plain; charset=utf-8\n\
         \n\
         This is message {tag}.\n\
         It has a second line, and an 8-bit one: caf\u{e9}.\n"
    )
    .into_bytes()
}
