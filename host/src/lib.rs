//! twinbox: keeps two mail repositories in sync, two-way, without changing a byte.
//!
//! The binary (`main.rs`) is a thin shell over this library: `config` reads the
//! OfflineIMAP-style configuration, `plugins` finds and loads backend plugins, `side` names
//! an account's two repositories and holds data per side, `state` keeps what the last sync
//! saw, `engine` decides and applies what to do, `python` reads the Python expressions of
//! OfflineIMAP's options (the lambdas of `folder_names` and `mbnames`), `mbnames` writes
//! the mailbox list for mutt after a sync, and `offlineimap_import` turns OfflineIMAP's
//! sync state into ours.

pub mod account_lock;
pub mod accounts;
pub mod allocator;
pub mod check;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod folder_names;
#[cfg(test)]
mod fuzz_tests;
#[doc(hidden)]
pub mod fuzzing;
pub mod mbnames;
pub mod offlineimap_import;
pub mod output;
pub mod plugins;
pub mod python;
pub mod side;
pub mod state;
pub mod summary;
pub mod terminal;
