//! Where OfflineIMAP keeps its state, and its two small per-folder files.
//!
//! Under its `metadata` directory (`~/.offlineimap` by default) OfflineIMAP keeps, per
//! account, `Account-<A>/LocalStatus-sqlite/<folder>` (or the older plain-text
//! `LocalStatus/<folder>`: see `status.rs`), and per repository
//! `Repository-<R>/FolderValidity/<folder>` (the UIDVALIDITY it last saw, one decimal
//! line) and, for an IMAP repository on the local side, `Repository-<R>/UIDMapping/<folder>`
//! (`localuid:remoteuid` lines).
//!
//! `<folder>` is the same for all of them when no `nametrans` is set: the remote folder's
//! name with the server's separator replaced by `.` (OfflineIMAP's status repository has
//! `.` as separator, and its file names replace any `/` by `.`), a name that is exactly `.`
//! being spelled `dot`. The name is the server's own spelling: IMAP's modified UTF-7,
//! unless the account sets `utf8foldernames`.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use backend_api::{FolderPath, Uid, UidValidity};
use backend_kit::mutf7;

use super::ImportError;

/// OfflineIMAP's `metadata` directory.
#[derive(Clone, Debug)]
pub struct Metadata {
    pub dir: PathBuf,
}

impl Metadata {
    /// `Account-<account>`: the account's status files live below it.
    pub fn account_dir(&self, account: &str) -> PathBuf {
        self.dir.join(format!("Account-{account}"))
    }

    /// `Repository-<repository>`: its FolderValidity and UIDMapping files live below it.
    pub fn repository_dir(&self, repository: &str) -> PathBuf {
        self.dir.join(format!("Repository-{repository}"))
    }
}

/// The name OfflineIMAP gives the files of the folder twinbox calls `path`.
pub fn file_name(path: &FolderPath, utf8_folder_names: bool) -> String {
    let components: Vec<String> = path
        .components()
        .map(|component| {
            if utf8_folder_names {
                component.to_owned()
            } else {
                mutf7::encode(component)
            }
        })
        .collect();
    let name = components.join(".");
    // A file cannot be named `.`; OfflineIMAP spells that folder `dot`.
    if name == "." {
        "dot".to_owned()
    } else {
        name
    }
}

/// Reads a file that may be missing: `Ok(None)` then. Any other failure names the file.
pub fn read_optional(path: &Path) -> Result<Option<String>, ImportError> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| ImportError::damaged(path, "it is not text")),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(ImportError::unreadable(path, &error)),
    }
}

/// The UIDVALIDITY a `FolderValidity` file holds: its first line, a decimal number.
pub fn parse_folder_validity(path: &Path, text: &str) -> Result<UidValidity, ImportError> {
    let line = text.lines().next().unwrap_or("").trim();
    match line.parse::<UidValidity>() {
        Ok(value) if value != 0 => Ok(value),
        _ => Err(ImportError::damaged(
            path,
            &format!("its first line should be a UIDVALIDITY (a positive number), not {line:?}"),
        )),
    }
}

/// A `UIDMapping` file: remote UID -> local UID, from its `localuid:remoteuid` lines.
pub fn parse_uid_mapping(path: &Path, text: &str) -> Result<BTreeMap<Uid, Uid>, ImportError> {
    let mut mapping = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed = line
            .split_once(':')
            .and_then(|(local, remote)| Some((parse_uid(local)?, parse_uid(remote)?)));
        let Some((local, remote)) = parsed else {
            return Err(ImportError::damaged(
                path,
                &format!("line {} is {line:?}, not \"localuid:remoteuid\"", index + 1),
            ));
        };
        mapping.insert(remote, local);
    }
    Ok(mapping)
}

/// A positive UID written in decimal.
pub fn parse_uid(text: &str) -> Option<Uid> {
    text.trim().parse::<Uid>().ok().filter(|uid| *uid != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: &str) -> FolderPath {
        FolderPath::new(name).unwrap()
    }

    #[test]
    fn file_names_are_offlineimaps() {
        assert_eq!(file_name(&path("INBOX"), false), "INBOX");
        assert_eq!(file_name(&path("Work/Projects"), false), "Work.Projects");
        assert_eq!(file_name(&path("Ärger/Sub"), false), "&AMQ-rger.Sub");
        assert_eq!(file_name(&path("Ärger/Sub"), true), "Ärger.Sub");
    }

    #[test]
    fn folder_validity_is_one_decimal_line() {
        let file = Path::new("/m/Repository-R/FolderValidity/INBOX");
        assert_eq!(
            parse_folder_validity(file, "1700000001\n").unwrap(),
            1700000001
        );
        for bad in ["", "x\n", "0\n", "-3\n", "99999999999\n"] {
            let error = parse_folder_validity(file, bad).unwrap_err().to_string();
            assert!(
                error.starts_with("/m/Repository-R/FolderValidity/INBOX: "),
                "{error}"
            );
        }
    }

    #[test]
    fn uid_mappings_map_remote_to_local() {
        let file = Path::new("/m/UIDMapping/INBOX");
        let mapping = parse_uid_mapping(file, "1:10\n2:11\n\n").unwrap();
        assert_eq!(mapping.get(&10), Some(&1));
        assert_eq!(mapping.get(&11), Some(&2));
        let error = parse_uid_mapping(file, "1:10\n2-11\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2"), "{error}");
        assert!(error.starts_with("/m/UIDMapping/INBOX: "), "{error}");
    }
}
