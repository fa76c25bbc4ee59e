//! An MH root: its configuration, its folder tree.

use std::path::Path;
use std::sync::Arc;

use backend_api::{
    BackendError, Folder, FolderInfo, FolderPath, Repository, RepositoryConfig, RepositoryInfo,
};
use backend_kit::store::FileRoot;

use crate::folder::MhFolder;
use crate::layout;
use crate::options::SequenceNames;

/// A tree of MH folders under one root directory (the `localfolders` option).
///
/// It holds only its configuration: every call reads the disk afresh, so it can be
/// shared by threads and the folders opened from it are independent of each other.
#[derive(Clone, Debug)]
pub struct MhRepository {
    root: FileRoot,
    sequences: Arc<SequenceNames>,
}

impl MhRepository {
    /// Reads the options and makes sure the root exists (unless read-only: a missing root
    /// is then an empty tree).
    pub fn open(config: &RepositoryConfig) -> Result<Self, BackendError> {
        let root = FileRoot::open(
            config,
            "MH",
            "the directory that holds your MH folders (nmh's Path, e.g. ~/Mail)",
        )?;
        let sequences = Arc::new(SequenceNames::from_config(config)?);
        Ok(MhRepository { root, sequences })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Repository for MhRepository {
    fn info(&self) -> Result<RepositoryInfo, BackendError> {
        Ok(self.root.info())
    }

    fn list_folders(&self) -> Result<Vec<FolderInfo>, BackendError> {
        self.root.list_folders(|root| {
            let paths = layout::scan(root)?.into_iter();
            Ok(paths
                .map(|path| FolderInfo {
                    path,
                    selectable: true,
                })
                .collect())
        })
    }

    fn create_folder(&self, path: &FolderPath) -> Result<(), BackendError> {
        self.root.check_can_create(path)?;
        let relative = layout::resolve(self.root.path(), path)?;
        if self.root.create_dirs(path, self.root.dirs_to(&relative))? {
            log::info!(
                "created folder {path} in {}",
                self.root.path().join(&relative).display()
            );
        }
        Ok(())
    }

    fn open_folder(&self, path: &FolderPath) -> Result<Box<dyn Folder>, BackendError> {
        let directory = self
            .root
            .path()
            .join(layout::resolve(self.root.path(), path)?);
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
            self.root.read_only(),
        )?))
    }
}
