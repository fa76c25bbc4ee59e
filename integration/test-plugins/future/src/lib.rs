//! A plugin from the future, for the integration tests only: it claims interface 2.0, so
//! the host must list it with an error naming both versions and never use it.

use backend_api::{BackendError, Repository, RepositoryConfig};

pub struct FutureBackend;

impl backend_api::Backend for FutureBackend {
    const NAME: &'static str = "Future";
    const VERSION: &'static str = "9.9.9";
    const INTERFACE: (u32, u32) = (backend_api::INTERFACE_VERSION.0 + 1, 0);

    fn open(_config: RepositoryConfig) -> Result<Box<dyn Repository>, BackendError> {
        Err(BackendError::repository(
            "the future plugin must never be opened: the host should have refused it",
        ))
    }
}

backend_api::export_backend!(FutureBackend);
