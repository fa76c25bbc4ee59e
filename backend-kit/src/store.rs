//! The root directory of a file-based store (a Maildir, mbox or MH tree).

use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use backend_api::{BackendError, ErrorScope, RepositoryConfig};

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
