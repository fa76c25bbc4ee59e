//! An mbox tree: its configuration, its folders.

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use backend_api::{
    BackendError, ErrorScope, Folder, FolderInfo, FolderPath, LineEnding, Repository,
    RepositoryConfig, RepositoryInfo,
};
use backend_kit::durable::{create_dir_durably, parent_of, sync_dir};

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
    root: PathBuf,
    /// A dry run: nothing on disk is changed, not even the index.
    read_only: bool,
    lock_timeout: Duration,
}

impl MboxRepository {
    /// Reads `localfolders` and `locktimeout`, and makes sure the root exists (unless
    /// read-only: a missing root is then an empty tree).
    pub fn open(config: &RepositoryConfig) -> Result<Self, BackendError> {
        let root = backend_kit::store::root_directory(
            config,
            "localfolders",
            "the mbox root",
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
        Ok(MboxRepository {
            root,
            read_only: config.read_only,
            lock_timeout,
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn io_error(path: &FolderPath, what: &str, at: &Path, error: &std::io::Error) -> BackendError {
        BackendError::io(
            ErrorScope::Folder,
            format_args!("folder {path}: {what} {}", at.display()),
            error,
        )
    }
}

impl Repository for MboxRepository {
    fn info(&self) -> Result<RepositoryInfo, BackendError> {
        Ok(RepositoryInfo {
            line_ending: LineEnding::Lf,
        })
    }

    fn list_folders(&self) -> Result<Vec<FolderInfo>, BackendError> {
        if self.read_only && fs::symlink_metadata(&self.root).is_err() {
            return Ok(Vec::new());
        }
        Ok(layout::scan(&self.root)?
            .into_iter()
            .map(|(path, selectable)| FolderInfo { path, selectable })
            .collect())
    }

    fn create_folder(&self, path: &FolderPath) -> Result<(), BackendError> {
        if self.read_only {
            return Err(BackendError::repository(format!(
                "cannot create folder {path}: the mbox tree {} is open read-only (a dry run)",
                self.root.display()
            )));
        }
        let location = layout::locate(&self.root, path)?;
        for dir in &location.missing_dirs {
            create_dir_durably(dir)
                .map_err(|e| Self::io_error(path, "cannot create the directory", dir, &e))?;
        }
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
            Err(error) => return Err(Self::io_error(path, "cannot use", file, &error)),
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
                    .map_err(|e| Self::io_error(path, "cannot sync", file, &e))?;
                let dir = parent_of(file);
                sync_dir(dir).map_err(|e| Self::io_error(path, "cannot sync", dir, &e))?;
                log::info!("created folder {path} as {}", file.display());
                Ok(())
            }
            // Another writer made it meanwhile: it exists, as asked.
            Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(()),
            Err(error) => Err(Self::io_error(path, "cannot create", file, &error)),
        }
    }

    fn open_folder(&self, path: &FolderPath) -> Result<Box<dyn Folder>, BackendError> {
        let location = layout::locate(&self.root, path)?;
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
            self.read_only,
            self.lock_timeout,
        )?))
    }
}
