//! A Maildir root: its configuration, its folder tree.

use std::fs::DirBuilder;
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use backend_api::{
    BackendError, Folder, FolderInfo, FolderPath, Repository, RepositoryConfig, RepositoryInfo,
};
use backend_kit::durable::sync_dir;
use backend_kit::store::{folder_io_error, FileRoot};
use backend_kit::tree::is_maildir;

use crate::folder::MaildirFolder;
use crate::layout::{self, Layout, NameEncoding, Separator, Style};
use crate::names::folder_md5;
use crate::options::account_bool;

/// A tree of Maildir folders under one root directory (the `localfolders` option).
///
/// It holds only its configuration: every call reads the disk afresh, so the repository
/// can be shared by threads and folders opened from it are independent of each other.
#[derive(Clone, Debug)]
pub struct MaildirRepository {
    root: FileRoot,
    layout: Layout,
}

impl MaildirRepository {
    /// Reads `localfolders`, `layout`, `sep` and the account's `utf8foldernames`, and makes
    /// sure the root directory exists (unless read-only: a missing root is then an empty
    /// tree).
    pub fn open(config: &RepositoryConfig) -> Result<Self, BackendError> {
        let root = FileRoot::open(
            config,
            "Maildir",
            "the directory that holds your Maildir folders, e.g. ~/Mail",
        )?;
        let style = match config.get("layout").map(str::trim) {
            None => Style::OfflineImap,
            Some(value) => Style::from_option(value).ok_or_else(|| {
                config.error(
                    "layout",
                    &format!(
                        "is {value:?}; set it to offlineimap (the default: INBOX is a folder \
                         directory like the others, see sep) or maildir++ (Dovecot's and \
                         Courier's layout: INBOX is the root, Work/Projects is .Work.Projects)"
                    ),
                )
            })?,
        };
        let sep = match config.get("sep").map(str::trim) {
            None => Separator::Dot,
            // Maildir++ has one separator; a different one would be silently ignored.
            Some(value) if style == Style::MaildirPlusPlus && value != "." => {
                return Err(config.error(
                    "sep",
                    &format!(
                        "is {value:?}, but layout = maildir++ always separates with '.'; \
                         remove sep"
                    ),
                ))
            }
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
            layout: Layout {
                style,
                sep,
                encoding,
            },
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Repository for MaildirRepository {
    fn info(&self) -> Result<RepositoryInfo, BackendError> {
        Ok(self.root.info())
    }

    fn list_folders(&self) -> Result<Vec<FolderInfo>, BackendError> {
        self.root.list_folders(|root| {
            let found = layout::scan(root, self.layout)?.into_iter();
            Ok(found
                .map(|found| FolderInfo {
                    path: found.path,
                    selectable: found.selectable,
                })
                .collect())
        })
    }

    fn create_folder(&self, path: &FolderPath) -> Result<(), BackendError> {
        self.root.check_can_create(path)?;
        let relative = layout::resolve(self.root.path(), self.layout, path)?;
        self.root
            .create_dirs(path, self.root.dirs_to(Path::new(&relative)))?;
        let directory = self.root.path().join(&relative);
        let mut created = false;
        for sub in ["tmp", "new", "cur"] {
            let subdir = directory.join(sub);
            // Each one's own entries are empty; only its name in the folder needs syncing,
            // done once below.
            match DirBuilder::new().mode(0o700).create(&subdir) {
                Ok(()) => created = true,
                Err(error) if error.kind() == ErrorKind::AlreadyExists && subdir.is_dir() => {}
                Err(error) => {
                    return Err(folder_io_error(
                        path,
                        "cannot create the directory",
                        &subdir,
                        &error,
                    ))
                }
            }
        }
        if created && self.layout.style == Style::MaildirPlusPlus && !relative.is_empty() {
            // Maildir++ marks each subfolder so that a delivery agent (Courier's maildrop)
            // knows it is not a mailbox root; Dovecot writes the same empty file.
            let marker = directory.join("maildirfolder");
            std::fs::File::create(&marker).map_err(|error| {
                folder_io_error(path, "cannot create the file", &marker, &error)
            })?;
        }
        if created {
            sync_dir(&directory)
                .map_err(|e| folder_io_error(path, "cannot sync the directory", &directory, &e))?;
            log::info!("created folder {path} in {}", directory.display());
        }
        Ok(())
    }

    fn open_folder(&self, path: &FolderPath) -> Result<Box<dyn Folder>, BackendError> {
        let relative = layout::resolve(self.root.path(), self.layout, path)?;
        let directory = self.root.path().join(&relative);
        if !is_maildir(&directory) {
            return Err(BackendError::folder(format!(
                "folder {path} does not exist: {} is not a Maildir folder (a directory with \
                 cur/ and new/)",
                directory.display()
            )));
        }
        let fmd5 = folder_md5(&self.layout.fmd5_name(&relative));
        Ok(Box::new(MaildirFolder::open(
            path.clone(),
            directory,
            fmd5,
            self.root.read_only(),
        )?))
    }
}
