//! A repository's configuration as the host hands it to a backend.
//!
//! It crosses the ABI as a JSON string, so adding options never changes the ABI.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::BackendError;

/// One `[Repository NAME]` section, with option names lowercased (as OfflineIMAP's parser
/// does) and values already interpolated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryConfig {
    /// The `NAME` of `[Repository NAME]`.
    pub name: String,
    /// The config file the section came from, for error messages.
    pub config_file: String,
    /// The section's options.
    pub options: BTreeMap<String, String>,
    /// Options of the account using this repository that concern backends
    /// (e.g. `utf8foldernames`).
    pub account_options: BTreeMap<String, String>,
    /// The host will only read (a `--dry-run`): the backend must change nothing at all,
    /// not even its own bookkeeping (no UID assignment written, no state file created, no
    /// mailbox selected read-write); UIDs it would assign may be reported provisionally.
    /// Write methods may fail.
    #[serde(default)]
    pub read_only: bool,
}

impl RepositoryConfig {
    pub fn new(name: impl Into<String>) -> Self {
        RepositoryConfig {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Builder-style: sets an option.
    pub fn with(mut self, option: &str, value: impl Into<String>) -> Self {
        self.options
            .insert(option.to_ascii_lowercase(), value.into());
        self
    }

    pub fn get(&self, option: &str) -> Option<&str> {
        self.options.get(option).map(String::as_str)
    }

    /// The option's value, or an error that says to set it (`hint` says to what).
    pub fn require(&self, option: &str, hint: &str) -> Result<&str, BackendError> {
        match self.get(option) {
            Some(value) if !value.trim().is_empty() => Ok(value),
            _ => Err(self.error(option, &format!("is missing; set it to {hint}"))),
        }
    }

    /// A boolean option in OfflineIMAP's spellings (yes/no, true/false, on/off, 1/0).
    pub fn get_bool(&self, option: &str, default: bool) -> Result<bool, BackendError> {
        match self.get(option) {
            None => Ok(default),
            Some(value) => parse_bool(value)
                .ok_or_else(|| self.error(option, &format!("is {value:?}; write yes or no"))),
        }
    }

    /// An error about `option` of this repository, naming the file and section.
    pub fn error(&self, option: &str, problem: &str) -> BackendError {
        let file = if self.config_file.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.config_file)
        };
        BackendError::repository(format!(
            "{file}[Repository {}] option '{option}' {problem}",
            self.name
        ))
    }

    /// `~` and `~/...` expanded to the home directory, as OfflineIMAP does for paths.
    pub fn expand_path(value: &str) -> PathBuf {
        if value == "~" || value.starts_with("~/") {
            if let Some(home) = std::env::var_os("HOME") {
                let mut path = PathBuf::from(home);
                if value.len() > 2 {
                    path.push(&value[2..]);
                }
                return path;
            }
        }
        PathBuf::from(value)
    }
}

/// OfflineIMAP's (Python configparser's) boolean spellings.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}
