//! Helpers for writing twinbox backends: what several backends share but the interface
//! does not need.
//!
//! # Why a second crate
//!
//! `twinbox-backend-api` is the contract between the host and every plugin: the types that
//! cross the boundary, the `Repository` and `Folder` traits, and the adapters that carry
//! them through `abi_stable`. Everything in it is something every backend and the host
//! must agree on, and every change to it is a change to that contract. A helper that only
//! some backends use (an fsync of a directory, a modified UTF-7 codec) has no business
//! there: it would grow the contract, and fixing it would look like an interface change.
//! So, as ripgrep keeps `grep-matcher` tiny and puts its searcher and printers beside it,
//! the helpers live here, in a crate that depends on the interface crate and nothing else
//! of twinbox.
//!
//! # What belongs here
//!
//! Code that at least two backends (or a backend and the host) would otherwise each write,
//! and that a third-party author would want too:
//!
//! - the file-system steps that make an effect durable on a file-based store ([`durable`]),
//!   and its root directory as the configuration names it ([`store`]);
//! - what a tree of mail folders holds that several formats must recognise: a Maildir
//!   folder, the spellings of `INBOX` ([`tree`]);
//! - choosing a UIDVALIDITY for stores that keep their own ([`new_uid_validity`]);
//! - IMAP's modified UTF-7 for folder names ([`mutf7`]);
//! - the one transformation of message bytes, line endings ([`line_endings`]), which the
//!   host's engine applies between stores;
//! - test support for plugin authors, used as a dev-dependency: an in-memory reference
//!   repository ([`memory`]), the executable form of the contracts, and the conformance
//!   suite every backend passes ([`conformance::check_repository`]), and the helpers the
//!   tests of file-based backends share ([`testing`]).
//!
//! What does not belong: anything the host and a plugin exchange (that is the interface
//! crate), and anything one backend alone needs (that stays in the backend). Using the kit
//! is optional for a plugin; nothing here crosses the plugin boundary, so a plugin may use
//! any version of it.

pub mod calendar;
pub mod conformance;
pub mod durable;
pub mod line_endings;
pub mod memory;
pub mod mutf7;
pub mod store;
pub mod testing;
pub mod tree;
mod validity;

pub use validity::new_uid_validity;
