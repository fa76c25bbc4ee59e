//! The few file-system steps that make an effect durable.

use std::path::Path;

pub(crate) use backend_kit::durable::{create_dir_durably, sync_dir};

/// Whether `dir` is a Maildir folder: it has `cur/` and `new/` (a missing `tmp/` is made
/// when the first message is appended).
pub(crate) fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && dir.join("new").is_dir()
}
