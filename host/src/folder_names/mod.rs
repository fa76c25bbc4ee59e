//! Folder names as OfflineIMAP users configure them: `folderfilter`, `nametrans` and
//! `folderincludes`, applied around a repository so that the engine never learns of them.
//!
//! # The names a lambda sees
//!
//! OfflineIMAP hands these Python functions a folder's name as the repository itself
//! spells it: a Maildir's with its `sep` (default `.`, so `Work.Projects`), an IMAP
//! server's with the server's delimiter, and in modified UTF-7 unless the account sets
//! `utf8foldernames`. Configs are written against those spellings (`re.sub(r'^INBOX\.',
//! ...)`), so [`NameRules`] rebuilds them from our folder paths (UTF-8, `/`): components
//! joined with the repository's separator and encoded as OfflineIMAP would. The separator
//! is the `sep` option — the Maildir plugin's own, default `.`; for other types it is read
//! by the host alone (default `/`), because the plugin interface does not tell the host an
//! IMAP server's delimiter: a server whose delimiter is `.` needs `sep = .` for lambdas
//! written against OfflineIMAP's names.
//!
//! # Whose name the engine sees
//!
//! As in OfflineIMAP, a pair of folders is named by the local repository's name:
//! the remote's `nametrans` maps a remote name to its local name, the local's maps a local
//! name to the remote one, and the state keys folders by the local name. So the local
//! side's folders reach the engine unchanged and the remote's through its `nametrans`; a
//! folder created on the local side gets the remote's translated name, and one created on
//! the remote side gets the local `nametrans` of its name, which the remote `nametrans`
//! must map back ([`AccountNames::check`]).
//!
//! `folderfilter` sees the untranslated name of its own repository (OfflineIMAP's
//! `ffilter_name`), and a pair is synced only if both repositories' filters keep their
//! folder; `folderincludes` names folders kept whatever the filter says.

mod repository;

use std::collections::BTreeMap;

use backend_api::{FolderPath, RepositoryConfig};
use backend_kit::mutf7;

use crate::config::{parse_bool, ConfigError, REPOSITORY_PREFIX};
use crate::python::{self, Lambda, Signature, Type};
use crate::side::{PerSide, Side};
pub use repository::NamedRepository;

/// The side whose folder names the engine and the state use.
pub const NAMING_SIDE: Side = Side::Local;

/// One Python option as read: the function and where it was written.
#[derive(Clone, Debug)]
struct Written<T> {
    value: T,
    /// `file:line`, for messages.
    at: String,
}

/// A repository's `folderfilter`, `nametrans` and `folderincludes`, with the spelling of
/// names they see.
#[derive(Clone, Debug)]
pub struct NameRules {
    /// `[Repository NAME]`, for messages.
    section: String,
    folderfilter: Option<Written<Lambda>>,
    nametrans: Option<Written<Lambda>>,
    /// As written: names in this repository's spelling.
    folderincludes: Vec<String>,
    /// The hierarchy separator of the names the lambdas see.
    sep: String,
    /// Whether `sep` is written in the section (else it is the type's default).
    sep_written: bool,
    /// Whether those names are in modified UTF-7 (OfflineIMAP's default for IMAP and
    /// Maildir, unless `utf8foldernames`).
    modified_utf7: bool,
}

impl NameRules {
    /// A hint for an IMAP repository whose lambdas saw `name` with `/` between levels
    /// only because the section sets no `sep`: the plugin interface does not tell the host
    /// the server's delimiter, and OfflineIMAP showed the server's (often `.`).
    fn separator_hint(&self, name: &str) -> String {
        if self.sep_written || !name.contains('/') {
            return String::new();
        }
        format!(
            " (the lambdas of [{}] see levels separated by /; if the server's delimiter is \
             ., as on Dovecot and Courier, set sep = . there)",
            self.section
        )
    }

    /// Reads the options of `config`; `lines` gives the line of each option written in
    /// its section (see [`crate::config::Config::repository_lines`]). A lambda outside the
    /// forms we read is an error naming file:line, section and option.
    pub fn read(
        config: &RepositoryConfig,
        lines: Option<&BTreeMap<String, usize>>,
    ) -> Result<NameRules, ConfigError> {
        let section = format!("{REPOSITORY_PREFIX}{}", config.name);
        let at = |option: &str| match lines.and_then(|lines| lines.get(option)) {
            Some(line) => format!("{}:{line}", config.config_file),
            None => config.config_file.clone(),
        };
        let python_error = |option: &str, problem: String| ConfigError::Python {
            at: at(option),
            section: section.clone(),
            option: option.to_owned(),
            problem,
        };
        let lambda = |option: &str, gives: Type| -> Result<Option<Written<Lambda>>, ConfigError> {
            let Some(text) = config.get(option) else {
                return Ok(None);
            };
            let value = Lambda::parse(
                text,
                Signature {
                    params: &["foldername"],
                    gives,
                },
            )
            .map_err(|problem| python_error(option, format!("{problem}; {}", python::SUPPORTED)))?;
            Ok(Some(Written {
                value,
                at: at(option),
            }))
        };
        let folderfilter = lambda("folderfilter", Type::Truth)?;
        let nametrans = lambda("nametrans", Type::Str)?;
        let folderincludes = match config.get("folderincludes") {
            None => Vec::new(),
            Some(text) => python::parse_string_list(text)
                .map_err(|problem| python_error("folderincludes", problem))?,
        };
        let kind = config
            .get("type")
            .map(|kind| kind.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let written_sep = config.get("sep").map(str::trim).filter(|s| !s.is_empty());
        let sep = match written_sep {
            Some(sep) => sep.to_owned(),
            None if kind == "maildir" => ".".to_owned(),
            None => "/".to_owned(),
        };
        let utf8 = config
            .account_options
            .get("utf8foldernames")
            .and_then(|value| parse_bool(value))
            .unwrap_or(false);
        Ok(NameRules {
            section,
            folderfilter,
            nametrans,
            folderincludes,
            sep,
            sep_written: written_sep.is_some(),
            modified_utf7: (kind == "imap" || kind == "maildir") && !utf8,
        })
    }

    /// Whether any of the three options is set (else the repository needs no wrapper).
    pub fn is_set(&self) -> bool {
        self.folderfilter.is_some() || self.nametrans.is_some() || !self.folderincludes.is_empty()
    }

    /// `path` as OfflineIMAP would name it in this repository.
    pub fn spelling(&self, path: &FolderPath) -> String {
        let components: Vec<String> = path
            .components()
            .map(|component| {
                if self.modified_utf7 {
                    mutf7::encode(component)
                } else {
                    component.to_owned()
                }
            })
            .collect();
        components.join(&self.sep)
    }

    /// The folder path a name spelled as in this repository stands for.
    pub fn path_of(&self, spelled: &str) -> Result<FolderPath, String> {
        let mut components = Vec::new();
        for component in spelled.split(self.sep.as_str()) {
            if self.modified_utf7 {
                components.push(mutf7::decode(component).map_err(|e| e.to_string())?);
            } else {
                components.push(component.to_owned());
            }
        }
        FolderPath::new(components.join("/")).map_err(|e| e.reason.to_owned())
    }

    /// Whether the folder `path` of this repository is synced: it is in
    /// `folderincludes`, or `folderfilter` keeps it (or is not set).
    pub fn keeps(&self, path: &FolderPath) -> bool {
        let spelled = self.spelling(path);
        self.folderincludes.contains(&spelled)
            || self
                .folderfilter
                .as_ref()
                .is_none_or(|filter| filter.value.test(&[&spelled]))
    }

    /// `path` through this repository's `nametrans` (itself without one).
    pub fn translate(&self, path: &FolderPath) -> Result<FolderPath, String> {
        let Some(nametrans) = &self.nametrans else {
            return Ok(path.clone());
        };
        let spelled = self.spelling(path);
        let translated = nametrans.value.translate(&[&spelled]);
        self.path_of(&translated).map_err(|reason| {
            format!(
                "{}: [{}] option 'nametrans' turns folder {spelled:?} into {translated:?}, which \
                 is not a folder name ({reason}); change the nametrans, or exclude the folder \
                 with folderfilter",
                nametrans.at, self.section
            )
        })
    }

    /// The folders of `folderincludes`, as paths.
    pub fn includes(&self) -> Vec<Result<FolderPath, String>> {
        self.folderincludes
            .iter()
            .map(|spelled| {
                self.path_of(spelled).map_err(|reason| {
                    format!(
                        "[{}] option 'folderincludes' lists {spelled:?}, which is not a folder \
                         name ({reason})",
                        self.section
                    )
                })
            })
            .collect()
    }

    /// `nametrans` and where it is written, or a note that it is not set, for messages.
    fn describe_nametrans(&self) -> String {
        match &self.nametrans {
            Some(nametrans) => format!("[{}] nametrans ({})", self.section, nametrans.at),
            None => format!("[{}] (no nametrans: names kept)", self.section),
        }
    }
}

/// Both repositories' rules: how a folder of either side is named for the engine.
#[derive(Clone, Debug)]
pub struct AccountNames {
    pub rules: PerSide<NameRules>,
}

impl AccountNames {
    /// Whether either repository sets any of the options.
    pub fn is_set(&self) -> bool {
        self.rules.iter().any(NameRules::is_set)
    }

    /// The engine's name of the folder `native` of `side`.
    pub fn engine_name(&self, side: Side, native: &FolderPath) -> Result<FolderPath, String> {
        if side == NAMING_SIDE {
            Ok(native.clone())
        } else {
            self.rules[side].translate(native)
        }
    }

    /// The folder of `side` that the engine calls `name` (the local `nametrans` gives
    /// the remote name of a local one).
    pub fn native_name(&self, side: Side, name: &FolderPath) -> Result<FolderPath, String> {
        if side == NAMING_SIDE {
            Ok(name.clone())
        } else {
            self.rules[NAMING_SIDE].translate(name)
        }
    }

    /// Whether the pair the engine calls `name`, which is `native` on `side`, is synced:
    /// both repositories' filters keep their folder (the other side's folder being the
    /// one its name maps to).
    pub fn keeps(
        &self,
        side: Side,
        native: &FolderPath,
        name: &FolderPath,
    ) -> Result<bool, String> {
        let other = side.other();
        let other_native = self.native_name(other, name)?;
        Ok(self.rules[side].keeps(native) && self.rules[other].keeps(&other_native))
    }

    /// Checks, before anything is synced, that the engine names are unique per side and,
    /// when folders may be created on the remote side (so the local `nametrans` is used),
    /// that the two `nametrans` undo each other on every folder listed on either side —
    /// as OfflineIMAP's check against infinite folder creation, but for the folders
    /// present rather than only those about to be created. `listed` holds each side's
    /// synced folders as (native, engine name).
    pub fn check(
        &self,
        listed: &PerSide<Vec<(FolderPath, FolderPath)>>,
        creates_on_remote: bool,
    ) -> Result<(), String> {
        for side in Side::BOTH {
            let mut seen: BTreeMap<&FolderPath, &FolderPath> = BTreeMap::new();
            for (native, name) in &listed[side] {
                if let Some(first) = seen.insert(name, native) {
                    return Err(format!(
                        "folders {first} and {native} of the {side} repository both become \
                         {name} by {}; a nametrans must give distinct names (or exclude one \
                         folder with folderfilter)",
                        self.rules[side].describe_nametrans()
                    ));
                }
            }
        }
        if !creates_on_remote || self.rules.iter().all(|rules| rules.nametrans.is_none()) {
            return Ok(());
        }
        let remote = NAMING_SIDE.other();
        for side in Side::BOTH {
            for (native, _) in &listed[side] {
                // Once through each side's nametrans, starting with this side's.
                let there = self.rules[side].translate(native)?;
                let back = self.rules[side.other()].translate(&there)?;
                if &back != native {
                    let (local_rules, remote_rules) =
                        (&self.rules[NAMING_SIDE], &self.rules[remote]);
                    return Err(format!(
                        "the nametrans of the two repositories do not undo each other: folder \
                         {native} of the {side} repository becomes {there} by {}, which {} \
                         turns into {back}, not back into {native}; make {} and {} reverse \
                         each other, or exclude the folder with folderfilter{}",
                        self.rules[side].describe_nametrans(),
                        self.rules[side.other()].describe_nametrans(),
                        local_rules.describe_nametrans(),
                        remote_rules.describe_nametrans(),
                        remote_rules.separator_hint(&native.to_string()),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
