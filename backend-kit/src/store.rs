//! The root directory of a file-based store (a Maildir, mbox or MH tree), and what every
//! such repository does with it before a format of its own comes into play.

use std::fs;
use std::io::{self, ErrorKind};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use backend_api::{
    BackendError, ErrorScope, FolderInfo, FolderPath, LineEnding, RepositoryConfig, RepositoryInfo,
};

use crate::durable::create_dir_durably;

/// The root of a file-based store as its repository holds it: the directory (option
/// `localfolders`) and whether this is a dry run. It reads nothing itself, so a repository
/// holding one can be shared by threads.
#[derive(Clone, Debug)]
pub struct FileRoot {
    path: PathBuf,
    /// The store in messages: "Maildir", "mbox", "MH".
    kind: &'static str,
    /// A dry run: nothing on disk is changed, not even a backend's own bookkeeping.
    read_only: bool,
}

impl FileRoot {
    /// Reads `localfolders` and makes sure the root exists, as [`root_directory`] does
    /// (a dry run leaves a missing root missing: an empty tree). `kind` names the store in
    /// messages ("Maildir" gives "the Maildir root"); `hint` says what the option should
    /// point at.
    pub fn open(
        config: &RepositoryConfig,
        kind: &'static str,
        hint: &str,
    ) -> Result<FileRoot, BackendError> {
        let what = format!("the {kind} root");
        Ok(FileRoot {
            path: root_directory(config, "localfolders", &what, hint)?,
            kind,
            read_only: config.read_only,
        })
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the repository was opened for a dry run.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// What a file-based repository says of itself: its files hold messages with LF line
    /// ends, as Unix mail programs write them.
    pub fn info(&self) -> RepositoryInfo {
        RepositoryInfo {
            line_ending: LineEnding::Lf,
        }
    }

    /// Whether there is no tree to list: a dry run on a root that does not exist yet.
    pub fn is_absent(&self) -> bool {
        self.read_only && fs::symlink_metadata(&self.path).is_err()
    }

    /// The folders `scan` finds under the root, or none when the root is absent (see
    /// [`FileRoot::is_absent`]).
    pub fn list_folders(
        &self,
        scan: impl FnOnce(&Path) -> Result<Vec<FolderInfo>, BackendError>,
    ) -> Result<Vec<FolderInfo>, BackendError> {
        if self.is_absent() {
            return Ok(Vec::new());
        }
        scan(&self.path)
    }

    /// Refuses to create `folder` in a dry run, with a repository-level error.
    pub fn check_can_create(&self, folder: &FolderPath) -> Result<(), BackendError> {
        if !self.read_only {
            return Ok(());
        }
        Err(BackendError::repository(format!(
            "cannot create folder {folder}: the {} tree {} is open read-only (a dry run)",
            self.kind,
            self.path.display()
        )))
    }

    /// The directories from the root down to `relative`, parents first (the root itself
    /// not included): what [`FileRoot::create_dirs`] takes for a folder at `relative`.
    pub fn dirs_to(&self, relative: &Path) -> Vec<PathBuf> {
        let mut directory = self.path.clone();
        relative
            .components()
            .map(|component| {
                directory.push(component);
                directory.clone()
            })
            .collect()
    }

    /// Creates each of `dirs` (parents first) that is missing, mode 0700, making each new
    /// name durable; an error names `folder`. Returns whether any was created.
    pub fn create_dirs<P: AsRef<Path>>(
        &self,
        folder: &FolderPath,
        dirs: impl IntoIterator<Item = P>,
    ) -> Result<bool, BackendError> {
        let mut created = false;
        for dir in dirs {
            let dir = dir.as_ref();
            created |= create_dir_durably(dir)
                .map_err(|e| folder_io_error(folder, "cannot create the directory", dir, &e))?;
        }
        Ok(created)
    }
}

/// Refuses the write `what` ("append messages") to `folder` when its store was opened for
/// a dry run, with a repository-level error naming the store (`kind`: "Maildir", "mbox",
/// "MH"). Every write method of a file-based folder starts with it.
pub fn check_writable(
    read_only: bool,
    kind: &str,
    folder: &FolderPath,
    what: &str,
) -> Result<(), BackendError> {
    if !read_only {
        return Ok(());
    }
    Err(BackendError::repository(format!(
        "folder {folder}: cannot {what}: the {kind} tree is open read-only (a dry run)"
    )))
}

/// The bytes of a backend's own small file in a folder (a state file, written with
/// [`replace_file`](crate::durable::replace_file)), or `None` when there is none yet. Any
/// other failure to read it is a folder-level error naming it.
pub fn read_state_file(path: &Path) -> Result<Option<Vec<u8>>, BackendError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(BackendError::io(
            ErrorScope::Folder,
            format!("cannot read {}", path.display()),
            &error,
        )),
    }
}

/// A folder-level error about the file or directory `at` of `folder`: "folder F: `what`
/// `at`: the I/O error", graded by [`BackendError::io`].
pub fn folder_io_error(
    folder: &FolderPath,
    what: &str,
    at: &Path,
    error: &io::Error,
) -> BackendError {
    BackendError::io(
        ErrorScope::Folder,
        format_args!("folder {folder}: {what} {}", at.display()),
        error,
    )
}

/// The root directory of a file-based store, named by `option` (e.g. `localfolders`),
/// `~` expanded. A missing directory is created (mode 0700, with its parents), except in
/// a dry run ([`RepositoryConfig::read_only`]), where it stands for an empty tree. A file
/// in its place, or a directory that cannot be used, is a repository-level error naming
/// the option. `what` names the directory in messages ("the Maildir root") and `hint`
/// says what the option should point at.
pub fn root_directory(
    config: &RepositoryConfig,
    option: &str,
    what: &str,
    hint: &str,
) -> Result<PathBuf, BackendError> {
    let root = RepositoryConfig::expand_path(config.require(option, hint)?.trim());
    let cannot = |verb: &str, error: &std::io::Error| {
        BackendError::io(
            ErrorScope::Repository,
            format!(
                "cannot {verb} {what} {} (option '{option}' of [Repository {}])",
                root.display(),
                config.name
            ),
            error,
        )
    };
    match std::fs::metadata(&root) {
        Ok(metadata) if metadata.is_dir() => {}
        Ok(_) => {
            return Err(config.error(
                option,
                &format!(
                    "is {}, which is a file, not a directory; point it at {hint}",
                    root.display()
                ),
            ))
        }
        Err(error) if error.kind() == ErrorKind::NotFound && config.read_only => {
            log::info!(
                "{what} {} does not exist yet (a dry run does not create it)",
                root.display()
            );
        }
        Err(error) if error.kind() == ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&root)
                .map_err(|error| cannot("create", &error))?;
            log::info!("created {what} {}", root.display());
        }
        Err(error) => return Err(cannot("use", &error)),
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(root: &Path) -> RepositoryConfig {
        RepositoryConfig::new("local").with("localfolders", root.to_str().unwrap())
    }

    #[test]
    fn a_dry_run_neither_creates_the_root_nor_folders() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("Mail");
        let mut dry = config(&missing);
        dry.read_only = true;
        let root = FileRoot::open(&dry, "MH", "the MH root").unwrap();
        assert!(root.is_absent() && !missing.exists());
        let folder = FolderPath::new("Work").unwrap();
        let error = root.check_can_create(&folder).unwrap_err();
        assert!(
            error.message.contains("the MH tree") && error.message.contains("dry run"),
            "{}",
            error.message
        );

        let root = FileRoot::open(&config(&missing), "MH", "the MH root").unwrap();
        assert!(missing.is_dir() && !root.is_absent());
        root.check_can_create(&folder).unwrap();
        let dirs = root.dirs_to(Path::new("a/b"));
        assert_eq!(dirs, [missing.join("a"), missing.join("a/b")]);
        assert!(root.create_dirs(&folder, &dirs).unwrap());
        assert!(!root.create_dirs(&folder, &dirs).unwrap());
        assert!(missing.join("a/b").is_dir());
    }

    #[test]
    fn writes_are_refused_in_a_dry_run_only() {
        let folder = FolderPath::new("Work").unwrap();
        check_writable(false, "MH", &folder, "append messages").unwrap();
        let error = check_writable(true, "MH", &folder, "append messages").unwrap_err();
        assert_eq!(error.scope, ErrorScope::Repository);
        assert_eq!(
            error.message,
            "folder Work: cannot append messages: the MH tree is open read-only (a dry run)"
        );
    }

    #[test]
    fn a_missing_state_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        assert_eq!(read_state_file(&path).unwrap(), None);
        fs::write(&path, "1 2\n").unwrap();
        assert_eq!(read_state_file(&path).unwrap().unwrap(), b"1 2\n");
        let error = read_state_file(dir.path()).unwrap_err();
        assert_eq!(error.scope, ErrorScope::Folder);
    }
}
