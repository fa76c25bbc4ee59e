//! An mbox tree: its configuration, its folders.

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use backend_api::{
    BackendError, Folder, FolderInfo, FolderPath, Repository, RepositoryConfig, RepositoryInfo,
};
use backend_kit::durable::{parent_of, sync_dir};
use backend_kit::store::{folder_io_error, FileRoot};

use crate::folder::MboxFolder;
use crate::layout::{self, SUBFOLDERS};

/// How long a write waits for another program's lock by default (option `locktimeout`).
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// A tree of mbox files under one root directory (the `localfolders` option).
///
/// It holds only its configuration: every call reads the disk afresh, so it can be shared
/// by threads, and the folders opened from it are independent of each other.
#[derive(Clone, Debug)]
pub struct MboxRepository {
    /// The root; in a dry run nothing on disk is changed, not even the index.
    root: FileRoot,
    lock_timeout: Duration,
}

impl MboxRepository {
    /// Reads `localfolders` and `locktimeout`, and makes sure the root exists (unless
    /// read-only: a missing root is then an empty tree).
    pub fn open(config: &RepositoryConfig) -> Result<Self, BackendError> {
        let root = FileRoot::open(
            config,
            "mbox",
            "the directory that holds your mbox files, e.g. ~/Mail",
        )?;
        let lock_timeout = match config.get("locktimeout").map(str::trim) {
            None => DEFAULT_LOCK_TIMEOUT,
            Some(value) => value
                .parse::<u64>()
                .ok()
                .filter(|&seconds| seconds > 0)
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    config.error(
                        "locktimeout",
                        &format!(
                            "is {value:?}; set it to how many seconds to wait for another \
                             program's lock on an mbox, e.g. 60"
                        ),
                    )
                })?,
        };
        Ok(MboxRepository { root, lock_timeout })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Repository for MboxRepository {
    fn info(&self) -> Result<RepositoryInfo, BackendError> {
        Ok(self.root.info())
    }

    fn list_folders(&self) -> Result<Vec<FolderInfo>, BackendError> {
        self.root.list_folders(|root| {
            let found = layout::scan(root)?.into_iter();
            Ok(found
                .map(|(path, selectable)| FolderInfo { path, selectable })
                .collect())
        })
    }

    fn create_folder(&self, path: &FolderPath) -> Result<(), BackendError> {
        self.root.check_can_create(path)?;
        let location = layout::locate(self.root.path(), path)?;
        self.root.create_dirs(path, &location.missing_dirs)?;
        let file = &location.file;
        match fs::metadata(file) {
            Ok(metadata) if metadata.is_file() => {
                if !layout::looks_like_mbox(file) {
                    return Err(BackendError::folder(format!(
                        "folder {path}: {} exists but is not an mbox (it does not start with \
                         a \"From \" line)",
                        file.display()
                    )));
                }
                return Ok(());
            }
            Ok(metadata) if metadata.is_dir() => {
                let name = file.file_name().unwrap_or_default().to_string_lossy();
                return Err(BackendError::folder(format!(
                    "folder {path} cannot hold messages: {} is a directory of folders \
                     (mutt's layout), and a name cannot be both a file and a directory; \
                     rename the directory to {name}{SUBFOLDERS} (Thunderbird's layout) and \
                     twinbox keeps the messages in a file {name} beside it",
                    file.display()
                )));
            }
            Ok(_) => {
                return Err(BackendError::folder(format!(
                    "folder {path}: {} exists and is not a regular file",
                    file.display()
                )))
            }
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => return Err(folder_io_error(path, "cannot use", file, &error)),
        }
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(file);
        match created {
            Ok(handle) => {
                handle
                    .sync_all()
                    .map_err(|e| folder_io_error(path, "cannot sync", file, &e))?;
                let dir = parent_of(file);
                sync_dir(dir).map_err(|e| folder_io_error(path, "cannot sync", dir, &e))?;
                log::info!("created folder {path} as {}", file.display());
                Ok(())
            }
            // Another writer made it meanwhile: it exists, as asked.
            Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(()),
            Err(error) => Err(folder_io_error(path, "cannot create", file, &error)),
        }
    }

    fn open_folder(&self, path: &FolderPath) -> Result<Box<dyn Folder>, BackendError> {
        let location = layout::locate(self.root.path(), path)?;
        let file = location.file;
        let is_file = location.missing_dirs.is_empty()
            && fs::metadata(&file).is_ok_and(|metadata| metadata.is_file());
        if !is_file {
            return Err(BackendError::folder(format!(
                "folder {path} does not exist: there is no mbox file {}",
                file.display()
            )));
        }
        if !layout::looks_like_mbox(&file) {
            return Err(BackendError::folder(format!(
                "folder {path}: {} is not an mbox (it does not start with a \"From \" line)",
                file.display()
            )));
        }
        Ok(Box::new(MboxFolder::open(
            path.clone(),
            file,
            self.root.read_only(),
            self.lock_timeout,
        )?))
    }
}
