//! An MH root: its configuration, its folder tree.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use backend_api::{
    BackendError, ErrorScope, Folder, FolderInfo, FolderPath, LineEnding, Repository,
    RepositoryConfig, RepositoryInfo,
};
use backend_kit::durable::create_dir_durably;

use crate::folder::MhFolder;
use crate::layout;
use crate::options::SequenceNames;

/// A tree of MH folders under one root directory (the `localfolders` option).
///
/// It holds only its configuration: every call reads the disk afresh, so it can be
/// shared by threads and the folders opened from it are independent of each other.
#[derive(Clone, Debug)]
pub struct MhRepository {
    root: PathBuf,
    sequences: Arc<SequenceNames>,
    /// A dry run: nothing on disk is changed, not even twinbox's own bookkeeping.
    read_only: bool,
}

impl MhRepository {
    /// Reads the options and makes sure the root exists (unless read-only: a missing root
    /// is then an empty tree).
    pub fn open(config: &RepositoryConfig) -> Result<Self, BackendError> {
        let root = backend_kit::store::root_directory(
            config,
            "localfolders",
            "the MH root",
            "the directory that holds your MH folders (nmh's Path, e.g. ~/Mail)",
        )?;
        let sequences = Arc::new(SequenceNames::from_config(config)?);
        Ok(MhRepository {
            root,
            sequences,
            read_only: config.read_only,
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Repository for MhRepository {
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
            .map(|path| FolderInfo {
                path,
                selectable: true,
            })
            .collect())
    }

    fn create_folder(&self, path: &FolderPath) -> Result<(), BackendError> {
        if self.read_only {
            return Err(BackendError::repository(format!(
                "cannot create folder {path}: the MH tree {} is open read-only (a dry run)",
                self.root.display()
            )));
        }
        let relative = layout::resolve(&self.root, path)?;
        let mut directory = self.root.clone();
        let mut created = false;
        for component in relative.components() {
            directory.push(component);
            created |= create_dir_durably(&directory).map_err(|error| {
                BackendError::io(
                    ErrorScope::Folder,
                    format_args!(
                        "folder {path}: cannot create the directory {}",
                        directory.display()
                    ),
                    &error,
                )
            })?;
        }
        if created {
            log::info!("created folder {path} in {}", directory.display());
        }
        Ok(())
    }

    fn open_folder(&self, path: &FolderPath) -> Result<Box<dyn Folder>, BackendError> {
        let directory = self.root.join(layout::resolve(&self.root, path)?);
        if !directory.is_dir() {
            return Err(BackendError::folder(format!(
                "folder {path} does not exist: {} is not a directory",
                directory.display()
            )));
        }
        Ok(Box::new(MhFolder::open(
            path.clone(),
            directory,
            Arc::clone(&self.sequences),
            self.read_only,
        )?))
    }
}
