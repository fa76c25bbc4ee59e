//! The configuration file: OfflineIMAP's `~/.offlineimaprc` format, read into a typed view.
//!
//! # Why our own parser
//!
//! Users arrive with an OfflineIMAP configuration, written against Python's
//! `configparser`; its exact rules (no inline comments, continuation lines, `%(name)s`,
//! `[DEFAULT]`) decide what their files mean, and no INI crate follows all of them. The
//! [`ini`] module implements those rules and nothing else; this module gives the sections
//! we use a typed face:
//!
//! - `[general]`: `accounts` (comma-separated), `metadata`, `pluginpath`, `maxsyncaccounts`;
//! - `[Account NAME]`: `localrepository`, `remoterepository`, `createfolders`, and any other
//!   option, kept as text;
//! - `[Repository NAME]`: handed to the backend as a [`RepositoryConfig`]; its options are
//!   the backend's business, so an option we do not know is kept, never an error.
//!
//! `[mbnames]` is read by [`crate::mbnames`] (checked here, when the file is loaded).
//! Other sections (OfflineIMAP's `[ui.*]`, ...) are listed in [`Config::other_sections`].
//!
//! Every option written is looked up in the [`catalog`]: one that runs Python or cannot be
//! honoured is refused when the file is loaded, and one that has no effect (unknown, or
//! not in effect yet) gets a line in [`Config::warnings`] — never silence.
//!
//! Values are checked when the file is loaded wherever we know their type (booleans,
//! counts), so a typo is reported with its line before any mail moves.

pub mod catalog;
mod error;
pub mod ini;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use backend_api::RepositoryConfig;
pub use error::ConfigError;

use catalog::{SectionKind, Support};
use ini::{Ini, Value};

use crate::mbnames::{self, MbnamesConfig};
use crate::side::{PerSide, Side};

/// The section holding global options.
pub const GENERAL_SECTION: &str = "general";
/// OfflineIMAP's section for the mailbox list written for mutt.
pub const MBNAMES_SECTION: &str = "mbnames";
/// The prefix of account section names: `[Account NAME]`.
pub const ACCOUNT_PREFIX: &str = "Account ";
/// The prefix of repository section names: `[Repository NAME]`.
pub const REPOSITORY_PREFIX: &str = "Repository ";

/// The account options naming each side's repository section.
pub const REPOSITORY_OPTIONS: PerSide<&str> = PerSide::new("localrepository", "remoterepository");

/// A loaded configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The file it was read from, as given.
    pub path: PathBuf,
    pub general: General,
    /// The `[Account NAME]` sections, by `NAME`.
    pub accounts: BTreeMap<String, Account>,
    /// The `[Repository NAME]` sections, by `NAME`, with `account_options` empty
    /// ([`Config::repository_for`] fills them).
    pub repositories: BTreeMap<String, RepositoryConfig>,
    /// `[mbnames]`, when it is there with `enabled = yes`.
    pub mbnames: Option<MbnamesConfig>,
    /// Sections that are neither `[general]`, `[DEFAULT]`, `[Account ...]`,
    /// `[Repository ...]` nor `[mbnames]`: ignored, in file order.
    pub other_sections: Vec<String>,
    /// For each `[Repository NAME]`, the line each of its own options was written on, for
    /// messages about options read after loading (`folderfilter`, `nametrans`).
    pub repository_lines: BTreeMap<String, BTreeMap<String, usize>>,
    /// One line for each option that has no effect (unknown, or not yet in effect), in
    /// file order: the caller prints them, so that nothing is ignored silently.
    pub warnings: Vec<String>,
    /// `path` as shown in messages (`~` for the home directory).
    file: String,
}

/// The `[general]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct General {
    /// The accounts synced when none is named on the command line, in the order written,
    /// without duplicates. Never empty.
    pub accounts: Vec<String>,
    /// Where the sync state lives, if set; see [`General::metadata_dir`].
    pub metadata: Option<PathBuf>,
    /// Extra plugin directories, searched after `--plugin-dir`. Written colon-separated,
    /// like `$PATH`.
    pub pluginpath: Vec<PathBuf>,
    /// How many accounts are synced at once (default 1).
    pub maxsyncaccounts: usize,
    /// `socktimeout`: seconds before a silent server is given up on, checked to be a
    /// positive number; IMAP repositories get it as their `timeout` unless they set one.
    pub socktimeout: Option<String>,
    /// Every option of the section (with those of `[DEFAULT]`), interpolated.
    pub options: BTreeMap<String, String>,
}

impl General {
    /// The state directory: `metadata` if set, else `$XDG_DATA_HOME/twinbox`
    /// (`~/.local/share/twinbox` when that is unset).
    pub fn metadata_dir(&self) -> Result<PathBuf, ConfigError> {
        match &self.metadata {
            Some(dir) => Ok(dir.clone()),
            None => default_metadata_dir(),
        }
    }
}

/// One `[Account NAME]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    /// The name of each side's repository section (`localrepository`,
    /// `remoterepository`), if set.
    pub repositories: PerSide<Option<String>>,
    /// `createfolders` if set here: the default for both repositories, each of which may
    /// override it.
    pub createfolders: Option<bool>,
    /// `pairbymessageid`: pair messages found on both sides by Message-ID when their bytes
    /// differ (default no: only identical messages are paired).
    pub pairbymessageid: bool,
    /// `deletionguard`: the mass-deletion guard's limit in percent of a folder, `0` for
    /// off (default [`crate::engine::DEFAULT_DELETION_GUARD_PERCENT`]).
    pub deletionguard: u32,
    /// `maxsize`: messages larger than this many bytes are not copied (no limit if unset
    /// or 0, as in OfflineIMAP).
    pub maxsize: Option<u64>,
    /// Every option of the section (with those of `[DEFAULT]`), interpolated.
    pub options: BTreeMap<String, String>,
    /// The line each option was written on, for messages.
    lines: BTreeMap<String, usize>,
}

impl Account {
    /// The name of this side's repository section, or an error that says to set it.
    pub fn repository_name(&self, side: Side, file: &str) -> Result<&str, ConfigError> {
        self.repositories[side]
            .as_deref()
            .ok_or_else(|| ConfigError::MissingOption {
                file: file.to_owned(),
                section: format!("{ACCOUNT_PREFIX}{}", self.name),
                option: REPOSITORY_OPTIONS[side].to_owned(),
                fix: format!(
                    "set it to the NAME of the [Repository NAME] section holding this account's {side} mail"
                ),
            })
    }
}

impl Config {
    /// Reads and parses the file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let file = display_path(path);
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|error| {
            let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
            ConfigError::NotUtf8 {
                file: file.clone(),
                line: 1 + valid.iter().filter(|&&b| b == b'\n').count(),
            }
        })?;
        Config::parse(&text, path)
    }

    /// Parses `text` as if read from `path` (which names it in messages, and against
    /// whose directory relative `metadata` and `pluginpath` entries are resolved).
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let file = display_path(path);
        let ini = Ini::parse(text, &file)?;
        let base = expand_tilde(path)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();

        let general = match ini.section(GENERAL_SECTION) {
            Some(section) => Some((section, ini.resolve(section)?)),
            None => None,
        };
        let general = read_general(&file, &base, general)?;

        let mut accounts = BTreeMap::new();
        let mut repositories = BTreeMap::new();
        let mut repository_lines = BTreeMap::new();
        let mut other_sections = Vec::new();
        let mut mbnames = None;
        let mut warnings = Vec::new();
        for section in &ini.sections {
            let kind = if section.name == GENERAL_SECTION {
                Some(SectionKind::General)
            } else if section.name == mbnames::SECTION {
                mbnames = MbnamesConfig::from_section(&ini, section, &file, &base)?;
                Some(SectionKind::Mbnames)
            } else if let Some(name) = section.name.strip_prefix(ACCOUNT_PREFIX) {
                let options = ini.resolve(section)?;
                accounts.insert(name.to_owned(), read_account(&file, name, options)?);
                Some(SectionKind::Account)
            } else if let Some(name) = section.name.strip_prefix(REPOSITORY_PREFIX) {
                let options = ini.resolve(section)?;
                let repository = read_repository(&file, name, options)?;
                let lines: BTreeMap<String, usize> = section
                    .options
                    .iter()
                    .map(|option| (option.name.clone(), option.line))
                    .collect();
                // The Python options are read now, so that one we cannot read stops the
                // load with its line; they are read again, with the account's options,
                // when the account is prepared.
                crate::folder_names::NameRules::read(&repository, Some(&lines))?;
                repository_lines.insert(name.to_owned(), lines);
                repositories.insert(name.to_owned(), repository);
                None
            } else {
                other_sections.push(section.name.clone());
                None
            };
            match (kind, section.name.strip_prefix(REPOSITORY_PREFIX)) {
                (Some(kind), _) => check_options(&file, section, kind, &mut warnings)?,
                (None, Some(name)) => {
                    let kind = repositories
                        .get(name)
                        .and_then(|r: &RepositoryConfig| r.get("type"))
                        .unwrap_or("");
                    check_options(&file, section, SectionKind::Repository(kind), &mut warnings)?
                }
                (None, None) => warnings.push(format!(
                    "{}: section [{}] {}",
                    at(&file, section.line),
                    section.name,
                    if section.name.starts_with("ui.") {
                        "is ignored: twinbox has one user interface (a summary per account, \
                         -v for progress)"
                    } else {
                        "is not used by twinbox and is ignored; check its name or remove it"
                    }
                )),
            }
        }

        Ok(Config {
            path: path.to_owned(),
            general,
            accounts,
            repositories,
            mbnames,
            other_sections,
            repository_lines,
            warnings,
            file,
        })
    }

    /// The file as named in messages (`~` for the home directory).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The account called `name`, or an error listing the accounts there are.
    pub fn account(&self, name: &str) -> Result<&Account, ConfigError> {
        if let Some(account) = self.accounts.get(name) {
            return Ok(account);
        }
        if self.general.accounts.iter().any(|listed| listed == name) {
            return Err(ConfigError::MissingAccountSection {
                file: self.file.clone(),
                name: name.to_owned(),
            });
        }
        let known: Vec<&str> = self.accounts.keys().map(String::as_str).collect();
        Err(ConfigError::UnknownAccount {
            file: self.file.clone(),
            name: name.to_owned(),
            known: if known.is_empty() {
                "(none)".to_owned()
            } else {
                known.join(", ")
            },
        })
    }

    /// The accounts to sync: those named in `requested` (each entry may itself be a
    /// comma-separated list, as OfflineIMAP's `-a` takes), or `[general] accounts` when
    /// `requested` names none. In order, without duplicates; each must have a section.
    pub fn selected_accounts(&self, requested: &[String]) -> Result<Vec<&Account>, ConfigError> {
        let mut names = split_list(requested.iter().flat_map(|entry| entry.split(',')));
        if names.is_empty() {
            names = self.general.accounts.clone();
        }
        names.iter().map(|name| self.account(name)).collect()
    }

    /// The configuration of `account`'s repository on `side`, with the account's options
    /// in `account_options`.
    pub fn repository_for(
        &self,
        account: &str,
        side: Side,
    ) -> Result<RepositoryConfig, ConfigError> {
        let account = self.account(account)?;
        let name = account.repository_name(side, &self.file)?;
        let Some(repository) = self.repositories.get(name) else {
            return Err(ConfigError::MissingRepository {
                file: self.file.clone(),
                line: account
                    .lines
                    .get(REPOSITORY_OPTIONS[side])
                    .copied()
                    .unwrap_or(0),
                account: account.name.clone(),
                option: REPOSITORY_OPTIONS[side].to_owned(),
                repository: name.to_owned(),
            });
        };
        let mut repository = repository.clone();
        repository.account_options = account.options.clone();
        // OfflineIMAP's global socket timeout is the IMAP plugin's `timeout`; the
        // repository's own setting wins.
        if let Some(seconds) = &self.general.socktimeout {
            let imap = repository
                .get("type")
                .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("imap"));
            if imap && repository.get("timeout").is_none() {
                repository
                    .options
                    .insert("timeout".to_owned(), seconds.clone());
            }
        }
        Ok(repository)
    }
}

/// Typed access to the options of a [`RepositoryConfig`] the host itself reads.
pub trait RepositoryConfigExt {
    /// The `type` option (e.g. `Maildir`, `IMAP`), trimmed; an error says to set it.
    fn repository_type(&self) -> Result<&str, ConfigError>;

    /// Whether missing folders may be created in this repository: its own `createfolders`,
    /// else the account's, else yes.
    fn createfolders(&self) -> Result<bool, ConfigError>;

    /// `maxconnections`, if set: how many connections the backend may open at once.
    fn maxconnections(&self) -> Result<Option<usize>, ConfigError>;

    /// `readonly`: twinbox never writes to this repository (default no).
    fn readonly(&self) -> Result<bool, ConfigError>;

    /// `sync_deletes`: whether messages deleted in this repository are deleted on the
    /// other side too (default yes, as in OfflineIMAP).
    fn sync_deletes(&self) -> Result<bool, ConfigError>;
}

impl RepositoryConfigExt for RepositoryConfig {
    fn repository_type(&self) -> Result<&str, ConfigError> {
        match self.get("type").map(str::trim) {
            Some(kind) if !kind.is_empty() => Ok(kind),
            _ => Err(ConfigError::MissingOption {
                file: self.config_file.clone(),
                section: format!("{REPOSITORY_PREFIX}{}", self.name),
                option: "type".to_owned(),
                fix: "set it to the kind of repository, e.g. 'type = Maildir' or 'type = IMAP' \
                      ('twinbox plugins' lists the types installed)"
                    .to_owned(),
            }),
        }
    }

    fn createfolders(&self) -> Result<bool, ConfigError> {
        let (section, value) = match (
            self.get("createfolders"),
            self.account_options.get("createfolders"),
        ) {
            (Some(value), _) => (format!("{REPOSITORY_PREFIX}{}", self.name), value),
            (None, Some(value)) => ("the account of this repository".to_owned(), value.as_str()),
            (None, None) => return Ok(true),
        };
        parse_bool(value)
            .ok_or_else(|| bool_error(&self.config_file, section, "createfolders", value))
    }

    fn maxconnections(&self) -> Result<Option<usize>, ConfigError> {
        self.get("maxconnections")
            .map(|value| {
                parse_count(value).ok_or_else(|| {
                    count_error(
                        &self.config_file,
                        format!("{REPOSITORY_PREFIX}{}", self.name),
                        "maxconnections",
                        value,
                    )
                })
            })
            .transpose()
    }

    fn readonly(&self) -> Result<bool, ConfigError> {
        self.bool_option("readonly", false)
    }

    fn sync_deletes(&self) -> Result<bool, ConfigError> {
        self.bool_option("sync_deletes", true)
    }
}

trait BoolOption {
    fn bool_option(&self, option: &str, default: bool) -> Result<bool, ConfigError>;
}

impl BoolOption for RepositoryConfig {
    fn bool_option(&self, option: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(option) {
            None => Ok(default),
            Some(value) => parse_bool(value).ok_or_else(|| {
                bool_error(
                    &self.config_file,
                    format!("{REPOSITORY_PREFIX}{}", self.name),
                    option,
                    value,
                )
            }),
        }
    }
}

fn read_general(
    file: &str,
    base: &Path,
    section: Option<(&ini::Section, BTreeMap<String, Value>)>,
) -> Result<General, ConfigError> {
    let Some((_, options)) = section else {
        return Err(ConfigError::NoAccounts {
            file: file.to_owned(),
        });
    };
    let accounts = options
        .get("accounts")
        .map(|v| split_list(v.value.split(',')))
        .unwrap_or_default();
    if accounts.is_empty() {
        return Err(ConfigError::NoAccounts {
            file: file.to_owned(),
        });
    }
    let metadata = options
        .get("metadata")
        .map(|v| v.value.trim())
        .filter(|v| !v.is_empty())
        .map(|v| resolve_path(base, v));
    let pluginpath = options
        .get("pluginpath")
        .map(|v| {
            v.value
                .split(':')
                .map(str::trim)
                .filter(|dir| !dir.is_empty())
                .map(|dir| resolve_path(base, dir))
                .collect()
        })
        .unwrap_or_default();
    let maxsyncaccounts = match options.get("maxsyncaccounts") {
        None => 1,
        Some(v) => parse_count(&v.value).ok_or_else(|| {
            count_error(
                &at(file, v.line),
                GENERAL_SECTION.to_owned(),
                "maxsyncaccounts",
                &v.value,
            )
        })?,
    };
    let socktimeout = match options.get("socktimeout") {
        None => None,
        Some(v) => {
            let seconds = v.value.trim();
            match seconds.parse::<f64>() {
                Ok(n) if n.is_finite() && n > 0.0 && n <= 86_400.0 => Some(seconds.to_owned()),
                _ => {
                    return Err(ConfigError::InvalidValue {
                        at: at(file, v.line),
                        section: GENERAL_SECTION.to_owned(),
                        option: "socktimeout".to_owned(),
                        value: v.value.clone(),
                        expected: "write how many seconds to wait for a silent server, e.g. 60"
                            .to_owned(),
                    })
                }
            }
        }
    };
    Ok(General {
        accounts,
        metadata,
        pluginpath,
        maxsyncaccounts,
        socktimeout,
        options: plain(options),
    })
}

fn read_account(
    file: &str,
    name: &str,
    options: BTreeMap<String, Value>,
) -> Result<Account, ConfigError> {
    let section = format!("{ACCOUNT_PREFIX}{name}");
    let text = |option: &str| {
        options
            .get(option)
            .map(|v| v.value.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let createfolders = options
        .get("createfolders")
        .map(|v| {
            parse_bool(&v.value).ok_or_else(|| {
                bool_error(
                    &at(file, v.line),
                    section.clone(),
                    "createfolders",
                    &v.value,
                )
            })
        })
        .transpose()?;
    let pairbymessageid = options
        .get("pairbymessageid")
        .map(|v| {
            parse_bool(&v.value).ok_or_else(|| {
                bool_error(
                    &at(file, v.line),
                    section.clone(),
                    "pairbymessageid",
                    &v.value,
                )
            })
        })
        .transpose()?
        .unwrap_or(false);
    let deletionguard = options
        .get("deletionguard")
        .map(|v| {
            parse_percent(&v.value).ok_or_else(|| ConfigError::InvalidValue {
                at: at(file, v.line),
                section: section.clone(),
                option: "deletionguard".to_owned(),
                value: v.value.clone(),
                expected: "write a percentage from 0 to 100, e.g. 50 (0 turns the mass-deletion guard off)".to_owned(),
            })
        })
        .transpose()?
        .unwrap_or(crate::engine::DEFAULT_DELETION_GUARD_PERCENT);
    let maxsize = options
        .get("maxsize")
        .map(|v| {
            v.value
                .trim()
                .parse::<u64>()
                .map_err(|_| ConfigError::InvalidValue {
                    at: at(file, v.line),
                    section: section.clone(),
                    option: "maxsize".to_owned(),
                    value: v.value.clone(),
                    expected: "write a size in bytes, e.g. 10000000 (0 for no limit)".to_owned(),
                })
        })
        .transpose()?
        .filter(|&n| n > 0);
    Ok(Account {
        name: name.to_owned(),
        repositories: REPOSITORY_OPTIONS.map(text),
        createfolders,
        pairbymessageid,
        deletionguard,
        maxsize,
        lines: options
            .iter()
            .map(|(name, v)| (name.clone(), v.line))
            .collect(),
        options: plain(options),
    })
}

fn read_repository(
    file: &str,
    name: &str,
    options: BTreeMap<String, Value>,
) -> Result<RepositoryConfig, ConfigError> {
    let section = format!("{REPOSITORY_PREFIX}{name}");
    for option in ["createfolders", "readonly", "sync_deletes"] {
        if let Some(v) = options.get(option) {
            if parse_bool(&v.value).is_none() {
                return Err(bool_error(&at(file, v.line), section, option, &v.value));
            }
        }
    }
    if let Some(v) = options.get("maxconnections") {
        if parse_count(&v.value).is_none() {
            return Err(count_error(
                &at(file, v.line),
                section,
                "maxconnections",
                &v.value,
            ));
        }
    }
    Ok(RepositoryConfig {
        name: name.to_owned(),
        config_file: file.to_owned(),
        options: plain(options),
        account_options: BTreeMap::new(),
        read_only: false,
    })
}

/// Looks up each option written in `section` (not those it inherits from `[DEFAULT]`,
/// which hold shared values for `%(name)s` more often than options) in the catalog:
/// refused ones fail the load, the others that have no effect get a warning.
fn check_options(
    file: &str,
    section: &ini::Section,
    kind: SectionKind<'_>,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    for option in &section.options {
        let here = at(file, option.line);
        let name = &option.name;
        let header = &section.name;
        match catalog::lookup(kind, name) {
            Some(Support::Works) => {}
            Some(Support::NotYet(why)) => warnings.push(format!(
                "{here}: [{header}] option '{name}' has no effect yet: {why}"
            )),
            Some(Support::Ignored(why)) => warnings.push(format!(
                "{here}: [{header}] option '{name}' is ignored: {why}"
            )),
            Some(Support::Refused(instead)) => {
                return Err(ConfigError::Refused {
                    at: here,
                    section: header.clone(),
                    option: name.clone(),
                    instead: instead.to_owned(),
                })
            }
            None if catalog::knows_every_option_of(kind) => warnings.push(format!(
                "{here}: [{header}] option '{name}' is unknown to twinbox and has no effect; \
                 check its spelling, or remove it"
            )),
            // A third-party plugin's repository: the plugin reads what it knows.
            None => {}
        }
    }
    Ok(())
}

fn plain(options: BTreeMap<String, Value>) -> BTreeMap<String, String> {
    options
        .into_iter()
        .map(|(name, v)| (name, v.value))
        .collect()
}

fn at(file: &str, line: usize) -> String {
    format!("{file}:{line}")
}

/// Trimmed, non-empty items, first occurrence only.
fn split_list<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut list: Vec<String> = Vec::new();
    for item in items.map(str::trim).filter(|item| !item.is_empty()) {
        if !list.iter().any(|seen| seen == item) {
            list.push(item.to_owned());
        }
    }
    list
}

/// OfflineIMAP's boolean spellings, the same as [`RepositoryConfig::get_bool`] accepts.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A whole number of 1 or more.
/// `50` or `50%`, from 0 to 100.
fn parse_percent(value: &str) -> Option<u32> {
    let value = value.trim();
    let digits = value.strip_suffix('%').unwrap_or(value).trim();
    digits.parse().ok().filter(|&n: &u32| n <= 100)
}

fn parse_count(value: &str) -> Option<usize> {
    value.trim().parse().ok().filter(|&n: &usize| n >= 1)
}

fn bool_error(at: &str, section: String, option: &str, value: &str) -> ConfigError {
    ConfigError::InvalidValue {
        at: at.to_owned(),
        section,
        option: option.to_owned(),
        value: value.to_owned(),
        expected: "write yes or no".to_owned(),
    }
}

fn count_error(at: &str, section: String, option: &str, value: &str) -> ConfigError {
    ConfigError::InvalidValue {
        at: at.to_owned(),
        section,
        option: option.to_owned(),
        value: value.to_owned(),
        expected: "write a whole number of 1 or more".to_owned(),
    }
}

/// `value` with `~` expanded, and relative to `base` (the config file's directory) if it
/// is relative — so the meaning of the file does not depend on where twinbox is run from.
fn resolve_path(base: &Path, value: &str) -> PathBuf {
    base.join(RepositoryConfig::expand_path(value))
}

fn expand_tilde(path: &Path) -> PathBuf {
    match path.to_str() {
        Some(text) => RepositoryConfig::expand_path(text),
        None => path.to_owned(),
    }
}

/// The environment variables that decide the default locations, read once so that tests
/// can supply their own.
#[derive(Clone, Debug, Default)]
struct Env {
    home: Option<PathBuf>,
    xdg_config_home: Option<PathBuf>,
    xdg_data_home: Option<PathBuf>,
}

impl Env {
    fn current() -> Env {
        Env {
            home: std::env::var_os("HOME").and_then(non_empty),
            xdg_config_home: std::env::var_os("XDG_CONFIG_HOME").and_then(absolute),
            xdg_data_home: std::env::var_os("XDG_DATA_HOME").and_then(absolute),
        }
    }

    fn config_dir(&self) -> Option<PathBuf> {
        self.xdg_config_home
            .clone()
            .or_else(|| Some(self.home.as_ref()?.join(".config")))
    }

    /// The default config files, in the order they are tried; `None` where the home
    /// directory would be needed and is unknown.
    fn config_candidates(&self) -> [Option<PathBuf>; 2] {
        [
            self.config_dir()
                .map(|dir| dir.join("twinbox").join("config")),
            self.home.as_ref().map(|home| home.join(".twinboxrc")),
        ]
    }

    fn metadata_dir(&self) -> Result<PathBuf, ConfigError> {
        let data = self
            .xdg_data_home
            .clone()
            .or_else(|| Some(self.home.as_ref()?.join(".local").join("share")));
        data.map(|dir| dir.join("twinbox"))
            .ok_or_else(|| ConfigError::NoHome {
                what: "the state directory".to_owned(),
                how: "'metadata = DIR' in [general], or $XDG_DATA_HOME".to_owned(),
            })
    }

    fn display(&self, path: &Path) -> String {
        if let Some(home) = &self.home {
            if let Ok(rest) = path.strip_prefix(home) {
                if rest.as_os_str().is_empty() {
                    return "~".to_owned();
                }
                return format!("~/{}", rest.display());
            }
        }
        path.display().to_string()
    }
}

fn non_empty(value: OsString) -> Option<PathBuf> {
    (!value.is_empty()).then(|| PathBuf::from(value))
}

/// The XDG base directory spec says to ignore relative values.
fn absolute(value: OsString) -> Option<PathBuf> {
    non_empty(value).filter(|path| path.is_absolute())
}

/// The configuration file to use when none is given: `$XDG_CONFIG_HOME/twinbox/config`
/// (`~/.config/twinbox/config`) if it exists, else `~/.twinboxrc` if it exists, else an
/// error naming both.
pub fn default_config_path() -> Result<PathBuf, ConfigError> {
    default_config_path_in(&Env::current())
}

fn default_config_path_in(env: &Env) -> Result<PathBuf, ConfigError> {
    let [first, second] = env.config_candidates();
    if let Some(found) = [&first, &second]
        .into_iter()
        .flatten()
        .find(|path| path.exists())
    {
        return Ok(found.clone());
    }
    match (first, second) {
        (Some(first), Some(second)) => Err(ConfigError::NoDefaultConfig {
            first: env.display(&first),
            second: env.display(&second),
        }),
        _ => Err(ConfigError::NoHome {
            what: "the configuration file".to_owned(),
            how: "-c FILE".to_owned(),
        }),
    }
}

/// The state directory used when `[general] metadata` is not set:
/// `$XDG_DATA_HOME/twinbox`, or `~/.local/share/twinbox`.
pub fn default_metadata_dir() -> Result<PathBuf, ConfigError> {
    Env::current().metadata_dir()
}

/// `path` as shown in messages: under the home directory, written with `~`.
pub fn display_path(path: &Path) -> String {
    Env::current().display(path)
}

#[cfg(test)]
mod tests;
