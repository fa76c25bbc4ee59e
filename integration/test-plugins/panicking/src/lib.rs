//! A deliberately faulty backend plugin, for the integration tests only.
//!
//! It exists to prove one promise of the plugin boundary: a panic inside a plugin becomes
//! an ordinary repository-level error in the host, and the host neither aborts nor loses
//! the other account's work. A panic that unwinds across an `extern "C"` boundary would
//! end the process, so the export adapters in `backend-api` catch it on the plugin's side;
//! this plugin gives them something to catch.
//!
//! Its type is `Panicking`. Opening a repository succeeds and `info` answers (so the
//! engine gets as far as listing), then every other repository method panics with
//! `deliberate test panic`. Set `panicin = open` in the `[Repository ...]` section to
//! make opening itself panic instead.

use backend_api::{
    BackendError, FolderInfo, FolderPath, LineEnding, Repository, RepositoryConfig, RepositoryInfo,
};

/// The message every deliberate panic carries; tests look for it in the host's error.
pub const PANIC_MESSAGE: &str = "deliberate test panic";

/// The faulty backend: see the crate documentation.
pub struct PanickingBackend;

impl backend_api::Backend for PanickingBackend {
    const NAME: &'static str = "Panicking";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn open(config: RepositoryConfig) -> Result<Box<dyn Repository>, BackendError> {
        if config.get("panicin").is_some_and(|v| v.trim() == "open") {
            panic!("{PANIC_MESSAGE}");
        }
        Ok(Box::new(PanickingRepository))
    }
}

/// A repository that answers `info` and panics in everything else.
struct PanickingRepository;

impl Repository for PanickingRepository {
    fn info(&self) -> Result<RepositoryInfo, BackendError> {
        Ok(RepositoryInfo {
            line_ending: LineEnding::Lf,
        })
    }

    fn list_folders(&self) -> Result<Vec<FolderInfo>, BackendError> {
        panic!("{PANIC_MESSAGE}");
    }

    fn create_folder(&self, _path: &FolderPath) -> Result<(), BackendError> {
        panic!("{PANIC_MESSAGE}");
    }

    fn open_folder(
        &self,
        _path: &FolderPath,
    ) -> Result<Box<dyn backend_api::Folder>, BackendError> {
        panic!("{PANIC_MESSAGE}");
    }
}

backend_api::export_backend!(PanickingBackend);
