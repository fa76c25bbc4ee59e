//! The few file-system steps that make an effect durable.

pub(crate) use backend_kit::durable::{create_dir_durably, parent_of, sync_dir};
