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
//! make opening itself panic instead, or `panicin = drop` for a repository that lists one
//! folder, fails to read it, and panics when the folder and the repository are dropped
//! (as the IMAP backend's logout in `Drop` could).

use backend_api::{
    BackendError, FetchedMessage, Flags, Folder, FolderInfo, FolderPath, FolderStatus, LineEnding,
    MessageInfo, NewMessage, Repository, RepositoryConfig, RepositoryInfo, Uid,
};

/// The message every deliberate panic carries; tests look for it in the host's error.
pub const PANIC_MESSAGE: &str = "deliberate test panic";

/// The faulty backend: see the crate documentation.
pub struct PanickingBackend;

impl backend_api::Backend for PanickingBackend {
    const NAME: &'static str = "Panicking";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn open(config: RepositoryConfig) -> Result<Box<dyn Repository>, BackendError> {
        match config.get("panicin").map(str::trim) {
            Some("open") => panic!("{PANIC_MESSAGE}"),
            Some("drop") => Ok(Box::new(PanickingOnDrop)),
            _ => Ok(Box::new(PanickingRepository)),
        }
    }
}

/// A repository with one folder that cannot be read; both panic when dropped.
struct PanickingOnDrop;

impl Drop for PanickingOnDrop {
    fn drop(&mut self) {
        panic!("{PANIC_MESSAGE} (dropping the repository)");
    }
}

impl Repository for PanickingOnDrop {
    fn info(&self) -> Result<RepositoryInfo, BackendError> {
        Ok(RepositoryInfo {
            line_ending: LineEnding::Lf,
        })
    }

    fn list_folders(&self) -> Result<Vec<FolderInfo>, BackendError> {
        Ok(vec![FolderInfo {
            path: FolderPath::inbox(),
            selectable: true,
        }])
    }

    fn create_folder(&self, _path: &FolderPath) -> Result<(), BackendError> {
        Ok(())
    }

    fn open_folder(&self, _path: &FolderPath) -> Result<Box<dyn Folder>, BackendError> {
        Ok(Box::new(UnreadableFolder))
    }
}

struct UnreadableFolder;

impl Drop for UnreadableFolder {
    fn drop(&mut self) {
        panic!("{PANIC_MESSAGE} (dropping a folder)");
    }
}

fn unreadable<T>() -> Result<T, BackendError> {
    Err(BackendError::folder("this test folder cannot be read"))
}

impl Folder for UnreadableFolder {
    fn status(&mut self) -> Result<FolderStatus, BackendError> {
        unreadable()
    }
    fn list_messages(&mut self) -> Result<Vec<MessageInfo>, BackendError> {
        unreadable()
    }
    fn fetch_messages(&mut self, _uids: &[Uid]) -> Result<Vec<FetchedMessage>, BackendError> {
        unreadable()
    }
    fn append_messages(
        &mut self,
        _messages: Vec<NewMessage>,
    ) -> Result<Vec<Option<Uid>>, BackendError> {
        unreadable()
    }
    fn update_flags(&mut self, _: &[Uid], _: &Flags, _: &Flags) -> Result<(), BackendError> {
        unreadable()
    }
    fn delete_messages(&mut self, _uids: &[Uid]) -> Result<(), BackendError> {
        unreadable()
    }
    fn flush(&mut self) -> Result<(), BackendError> {
        Ok(())
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
