//! The host side of the boundary: makes a plugin's FFI objects look like plain
//! [`Repository`] and [`Folder`] values, and checks what the plugin returns, so that a
//! buggy plugin yields a clear error instead of corrupting the sync.

use abi_stable::std_types::{RResult, RVec};

use backend_api::ffi::{FfiError, FfiFolderBox, FfiRepositoryBox};
use backend_api::{
    BackendError, FetchedMessage, Flags, Folder, FolderInfo, FolderPath, FolderStatus, LineEnding,
    MessageInfo, NewMessage, Repository, RepositoryInfo, Uid,
};

fn result<T>(value: RResult<T, FfiError>) -> Result<T, BackendError> {
    value.into_result().map_err(BackendError::from)
}

/// A repository opened through a plugin.
pub struct ImportedRepository {
    inner: FfiRepositoryBox,
    plugin: String,
}

impl ImportedRepository {
    pub(super) fn new(inner: FfiRepositoryBox, plugin: String) -> Self {
        ImportedRepository { inner, plugin }
    }

    fn broken(&self, what: String) -> BackendError {
        BackendError::repository(format!(
            "plugin {} broke the interface contract: {what}",
            self.plugin
        ))
    }
}

impl Repository for ImportedRepository {
    fn info(&self) -> Result<RepositoryInfo, BackendError> {
        let info = result(self.inner.info())?;
        let line_ending = match info.line_ending {
            0 => LineEnding::Lf,
            1 => LineEnding::CrLf,
            other => return Err(self.broken(format!("unknown line ending code {other}"))),
        };
        Ok(RepositoryInfo { line_ending })
    }

    fn list_folders(&self) -> Result<Vec<FolderInfo>, BackendError> {
        let listed = result(self.inner.list_folders())?;
        let mut folders = Vec::with_capacity(listed.len());
        for folder in listed {
            // RString promises UTF-8, but the promise is the plugin's: check the bytes
            // before anything reads them as text.
            let name = folder.path.into_bytes().into_vec();
            let name = String::from_utf8(name).map_err(|e| {
                self.broken(format!(
                    "it listed a folder name that is not UTF-8 ({:?})",
                    String::from_utf8_lossy(e.as_bytes())
                ))
            })?;
            let path =
                FolderPath::new(name).map_err(|e| self.broken(format!("it listed an {e}")))?;
            folders.push(FolderInfo {
                path,
                selectable: folder.selectable,
            });
        }
        Ok(folders)
    }

    fn create_folder(&self, path: &FolderPath) -> Result<(), BackendError> {
        result(self.inner.create_folder(path.as_str().into()))
    }

    fn open_folder(&self, path: &FolderPath) -> Result<Box<dyn Folder>, BackendError> {
        let inner = result(self.inner.open_folder(path.as_str().into()))?;
        Ok(Box::new(ImportedFolder {
            inner,
            plugin: self.plugin.clone(),
            path: path.clone(),
        }))
    }
}

struct ImportedFolder {
    inner: FfiFolderBox,
    plugin: String,
    path: FolderPath,
}

impl ImportedFolder {
    fn broken(&self, what: String) -> BackendError {
        BackendError::folder(format!(
            "plugin {} broke the interface contract in folder {}: {what}",
            self.plugin, self.path
        ))
    }
}

impl Folder for ImportedFolder {
    fn status(&mut self) -> Result<FolderStatus, BackendError> {
        let status: FolderStatus = result(self.inner.status())?.into();
        if status.uid_validity == 0 {
            return Err(self.broken("UIDVALIDITY 0".into()));
        }
        Ok(status)
    }

    fn list_messages(&mut self) -> Result<Vec<MessageInfo>, BackendError> {
        let listed = result(self.inner.list_messages())?;
        let mut messages: Vec<MessageInfo> = Vec::with_capacity(listed.len());
        for message in listed {
            let previous = messages.last().map_or(0, |m| m.uid);
            if message.uid == 0 {
                return Err(self.broken("it listed a message with UID 0".into()));
            }
            if message.uid <= previous {
                return Err(self.broken(format!(
                    "UIDs not strictly ascending ({} after {previous})",
                    message.uid
                )));
            }
            messages.push(message.into());
        }
        Ok(messages)
    }

    fn fetch_messages(&mut self, uids: &[Uid]) -> Result<Vec<FetchedMessage>, BackendError> {
        let fetched = result(self.inner.fetch_messages(RVec::from(uids)))?;
        let fetched: Vec<FetchedMessage> = fetched.into_iter().map(Into::into).collect();
        let asked: std::collections::HashSet<Uid> = uids.iter().copied().collect();
        if let Some(stray) = fetched.iter().find(|m| !asked.contains(&m.uid)) {
            return Err(self.broken(format!(
                "it returned UID {} which was not asked for",
                stray.uid
            )));
        }
        Ok(fetched)
    }

    fn append_messages(
        &mut self,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Option<Uid>>, BackendError> {
        let count = messages.len();
        let messages: RVec<_> = messages.into_iter().map(Into::into).collect();
        let uids: Vec<Option<Uid>> = result(self.inner.append_messages(messages))?
            .into_iter()
            .map(Into::into)
            .collect();
        if uids.len() != count {
            return Err(self.broken(format!(
                "{count} messages appended but {} UIDs returned",
                uids.len()
            )));
        }
        if uids.contains(&Some(0)) {
            return Err(self.broken("an appended message got UID 0".into()));
        }
        Ok(uids)
    }

    fn update_flags(
        &mut self,
        uids: &[Uid],
        add: &Flags,
        remove: &Flags,
    ) -> Result<(), BackendError> {
        result(
            self.inner
                .update_flags(RVec::from(uids), add.into(), remove.into()),
        )
    }

    fn delete_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        result(self.inner.delete_messages(RVec::from(uids)))
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        result(self.inner.flush())
    }
}
