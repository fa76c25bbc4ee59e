//! A repository seen through its account's folder-name rules: the decorator that keeps
//! `folderfilter`, `nametrans` and `folderincludes` out of the engine.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use backend_api::{BackendError, Folder, FolderInfo, FolderPath, Repository, RepositoryInfo};

use super::AccountNames;
use crate::side::Side;

/// The synced folders by engine name: (native path, selectable).
type Listing = BTreeMap<FolderPath, (FolderPath, bool)>;

/// One side's repository, listing only the folders its account syncs, under the names
/// the engine uses (see the module documentation of [`super`]).
///
/// The first listing is kept for the life of the value (one sync): the check that runs
/// before the sync and the engine then see the same folders, and the server is asked once.
pub struct NamedRepository {
    inner: Box<dyn Repository>,
    side: Side,
    names: Arc<AccountNames>,
    /// The synced folders by engine name: (native path, selectable), once listed; folders
    /// created since are added.
    listing: Mutex<Option<Listing>>,
}

impl NamedRepository {
    pub fn new(inner: Box<dyn Repository>, side: Side, names: Arc<AccountNames>) -> Self {
        NamedRepository {
            inner,
            side,
            names,
            listing: Mutex::new(None),
        }
    }

    /// The synced folders as (native path, engine name), listing them if not yet done.
    pub fn synced_folders(&self) -> Result<Vec<(FolderPath, FolderPath)>, BackendError> {
        let mut listing = self.listing()?;
        let listing = self.fill(&mut listing)?;
        Ok(listing
            .iter()
            .map(|(name, (native, _))| (native.clone(), name.clone()))
            .collect())
    }

    fn listing(&self) -> Result<MutexGuard<'_, Option<Listing>>, BackendError> {
        // A panic while holding the lock leaves a listing that is still whole (it is
        // replaced in one assignment), so a poisoned lock is safe to use.
        Ok(self
            .listing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    fn fill<'a>(&self, listing: &'a mut Option<Listing>) -> Result<&'a Listing, BackendError> {
        if listing.is_none() {
            *listing = Some(self.list_synced()?);
        }
        Ok(listing.get_or_insert_with(BTreeMap::new))
    }

    /// Lists the inner repository and keeps the folders the rules sync, by engine name.
    /// Two folders with one engine name are an error (the check before the sync reports
    /// them with more detail).
    fn list_synced(&self) -> Result<Listing, BackendError> {
        let rules = &self.names.rules[self.side];
        let mut found: Vec<FolderInfo> = self.inner.list_folders()?;
        // folderincludes may name folders the listing lacks (unsubscribed, outside the
        // reference): they are synced if they can be opened, as OfflineIMAP does.
        for include in rules.includes() {
            let path = include.map_err(BackendError::repository)?;
            if found.iter().any(|info| info.path == path) {
                continue;
            }
            match self.inner.open_folder(&path) {
                Ok(_) => found.push(FolderInfo {
                    path,
                    selectable: true,
                }),
                Err(error) => log::warn!(
                    "[{}] option 'folderincludes' lists {}, which cannot be opened ({error}); \
                     it is not synced",
                    rules.section,
                    rules.spelling(&path)
                ),
            }
        }
        let mut synced = BTreeMap::new();
        for info in found {
            let name = self
                .names
                .engine_name(self.side, &info.path)
                .map_err(BackendError::repository)?;
            if !self
                .names
                .keeps(self.side, &info.path, &name)
                .map_err(BackendError::repository)?
            {
                log::debug!(
                    "folder {} of the {} repository is filtered out",
                    info.path,
                    self.side
                );
                continue;
            }
            if let Some((first, _)) = synced.get(&name) {
                return Err(BackendError::repository(format!(
                    "folders {first} and {} of the {} repository both become {name}; a \
                     nametrans must give distinct names (or exclude one folder with folderfilter)",
                    info.path, self.side
                )));
            }
            synced.insert(name, (info.path, info.selectable));
        }
        Ok(synced)
    }

    /// The native path of the folder the engine calls `name`: from the listing, else
    /// through the rules (a folder created since, or named with `-f`).
    fn native(&self, name: &FolderPath) -> Result<FolderPath, BackendError> {
        if let Some(Some(listing)) = self.listing()?.as_ref().map(|l| l.get(name).cloned()) {
            return Ok(listing.0);
        }
        self.names
            .native_name(self.side, name)
            .map_err(BackendError::repository)
    }
}

impl Repository for NamedRepository {
    fn info(&self) -> Result<RepositoryInfo, BackendError> {
        self.inner.info()
    }

    fn list_folders(&self) -> Result<Vec<FolderInfo>, BackendError> {
        let mut listing = self.listing()?;
        Ok(self
            .fill(&mut listing)?
            .iter()
            .map(|(name, (_, selectable))| FolderInfo {
                path: name.clone(),
                selectable: *selectable,
            })
            .collect())
    }

    /// Creates the folder the engine calls `name` under this side's name for it; on the
    /// remote side, only if the remote `nametrans` maps that name back to `name` and its
    /// `folderfilter` keeps it (OfflineIMAP's checks before creating a folder).
    fn create_folder(&self, name: &FolderPath) -> Result<(), BackendError> {
        let native = self
            .names
            .native_name(self.side, name)
            .map_err(BackendError::repository)?;
        let back = self
            .names
            .engine_name(self.side, &native)
            .map_err(BackendError::repository)?;
        if &back != name {
            return Err(BackendError::repository(format!(
                "folder {name} would be created as {native} in the {} repository, which its \
                 nametrans turns into {back}, not back into {name}; make the two nametrans \
                 reverse each other, or exclude the folder with folderfilter",
                self.side
            )));
        }
        if !self.names.rules[self.side].keeps(&native) {
            return Err(BackendError::repository(format!(
                "folder {name} would be created as {native} in the {} repository, whose \
                 folderfilter excludes it; exclude it on the other side too",
                self.side
            )));
        }
        self.inner.create_folder(&native)?;
        if let Some(listing) = self.listing()?.as_mut() {
            listing.insert(name.clone(), (native, true));
        }
        Ok(())
    }

    fn open_folder(&self, name: &FolderPath) -> Result<Box<dyn Folder>, BackendError> {
        let native = self.native(name)?;
        self.inner.open_folder(&native)
    }
}
