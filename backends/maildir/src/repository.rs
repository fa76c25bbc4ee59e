//! A Maildir root: its configuration, its folder tree.

use std::fs::{self, DirBuilder};
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use backend_api::{
    BackendError, ErrorScope, Folder, FolderInfo, FolderPath, LineEnding, Repository,
    RepositoryConfig, RepositoryInfo,
};
use backend_kit::durable::{create_dir_durably, sync_dir};
use backend_kit::tree::is_maildir;

use crate::folder::MaildirFolder;
use crate::layout::{self, Layout, NameEncoding, Separator};
use crate::names::folder_md5;
use crate::options::account_bool;

/// A tree of Maildir folders under one root directory (the `localfolders` option).
///
/// It holds only its configuration: every call reads the disk afresh, so the repository
/// can be shared by threads and folders opened from it are independent of each other.
#[derive(Clone, Debug)]
pub struct MaildirRepository {
    root: PathBuf,
    layout: Layout,
    /// A dry run: nothing on disk is changed, not even twinbox's own bookkeeping.
    read_only: bool,
}

impl MaildirRepository {
    /// Reads `localfolders`, `sep` and the account's `utf8foldernames`, and makes sure the
    /// root directory exists (unless read-only: a missing root is then an empty tree).
    pub fn open(config: &RepositoryConfig) -> Result<Self, BackendError> {
        let root = backend_kit::store::root_directory(
            config,
            "localfolders",
            "the Maildir root",
            "the directory that holds your Maildir folders, e.g. ~/Mail",
        )?;
        let sep = match config.get("sep").map(str::trim) {
            None => Separator::Dot,
            Some(value) => Separator::from_option(value).ok_or_else(|| {
                config.error(
                    "sep",
                    &format!(
                        "is {value:?}; set it to . (folder Work/Projects is the directory \
                         Work.Projects) or / (nested directories Work/Projects)"
                    ),
                )
            })?,
        };
        let encoding = if account_bool(config, "utf8foldernames", false)? {
            NameEncoding::Utf8
        } else {
            NameEncoding::ModifiedUtf7
        };
        Ok(MaildirRepository {
            root,
            layout: Layout { sep, encoding },
            read_only: config.read_only,
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn io_error(
        &self,
        path: &FolderPath,
        what: &str,
        at: &Path,
        error: &std::io::Error,
    ) -> BackendError {
        BackendError::io(
            ErrorScope::Folder,
            format_args!("folder {path}: {what} {}", at.display()),
            error,
        )
    }

    /// Creates `directory` and any missing parents below the root, syncing the parent of
    /// each one created.
    fn create_dirs(&self, path: &FolderPath, relative: &str) -> Result<(), BackendError> {
        let mut directory = self.root.clone();
        for component in relative.split('/') {
            directory.push(component);
            create_dir_durably(&directory)
                .map_err(|e| self.io_error(path, "cannot create the directory", &directory, &e))?;
        }
        Ok(())
    }
}

impl Repository for MaildirRepository {
    fn info(&self) -> Result<RepositoryInfo, BackendError> {
        Ok(RepositoryInfo {
            line_ending: LineEnding::Lf,
        })
    }

    fn list_folders(&self) -> Result<Vec<FolderInfo>, BackendError> {
        if self.read_only && fs::symlink_metadata(&self.root).is_err() {
            return Ok(Vec::new());
        }
        Ok(layout::scan(&self.root, self.layout)?
            .into_iter()
            .map(|found| FolderInfo {
                path: found.path,
                selectable: found.selectable,
            })
            .collect())
    }

    fn create_folder(&self, path: &FolderPath) -> Result<(), BackendError> {
        if self.read_only {
            return Err(BackendError::repository(format!(
                "cannot create folder {path}: the Maildir {} is open read-only (a dry run)",
                self.root.display()
            )));
        }
        let relative = layout::resolve(&self.root, self.layout, path)?;
        self.create_dirs(path, &relative)?;
        let directory = self.root.join(&relative);
        let mut created = false;
        for sub in ["tmp", "new", "cur"] {
            let subdir = directory.join(sub);
            // Each one's own entries are empty; only its name in the folder needs syncing,
            // done once below.
            match DirBuilder::new().mode(0o700).create(&subdir) {
                Ok(()) => created = true,
                Err(error) if error.kind() == ErrorKind::AlreadyExists && subdir.is_dir() => {}
                Err(error) => {
                    return Err(self.io_error(path, "cannot create the directory", &subdir, &error))
                }
            }
        }
        if created {
            sync_dir(&directory)
                .map_err(|e| self.io_error(path, "cannot sync the directory", &directory, &e))?;
            log::info!("created folder {path} in {}", directory.display());
        }
        Ok(())
    }

    fn open_folder(&self, path: &FolderPath) -> Result<Box<dyn Folder>, BackendError> {
        let relative = layout::resolve(&self.root, self.layout, path)?;
        let directory = self.root.join(&relative);
        if !is_maildir(&directory) {
            return Err(BackendError::folder(format!(
                "folder {path} does not exist: {} is not a Maildir folder (a directory with \
                 cur/ and new/)",
                directory.display()
            )));
        }
        let fmd5 = folder_md5(&relative);
        Ok(Box::new(MaildirFolder::open(
            path.clone(),
            directory,
            fmd5,
            self.read_only,
        )?))
    }
}
