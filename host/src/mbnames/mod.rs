//! `[mbnames]`: after a sync, the list of local folders written to a file for mutt or
//! neomutt (`mailboxes "+Personal/INBOX" ...`), byte for byte as OfflineIMAP writes it.
//!
//! # How OfflineIMAP does it, and so we do
//!
//! - Each account that synced at least one folder (and did not fail as a whole) records
//!   its folders in an intermediate file `<metadata>/mbnames/<account>.json`: one entry
//!   per folder, `{accountname, foldername, localfolders}`, kept when `folderfilter`
//!   accepts `(accountname, foldername)`. An account that failed keeps its previous file.
//! - The mailbox file is then made from *every* `*.json` file there (so accounts not
//!   synced this time, or no longer configured, stay listed), sorted by account name then
//!   folder name (code point order, as Python compares strings), each entry formatted with
//!   `peritem`: `header + sep.join(items) + footer`.
//! - `incremental = yes` writes the file after each account; otherwise once at the end.
//! - `foldername` is the folder's name in the local repository: its directory relative to
//!   `localfolders` for a Maildir (`Work.Projects` with the default `sep = .`), in
//!   modified UTF-7 unless the account sets `utf8foldernames`.
//!
//! The values are Python: `header`, `sep` and `footer` are string literals evaluated by
//! OfflineIMAP (after configparser's `%` interpolation); `peritem` is read raw (its `%(..)s`
//! are not configparser's) and applied with `%` — *not* evaluated, so quotes in it are
//! written as they are, as mutt wants them; `folderfilter` is a lambda. We read the literal
//! forms ([`crate::python`], [`python`], [`filter`]) and refuse other Python when the file
//! is loaded.
//!
//! Where we differ: the file is replaced atomically (written beside it, fsynced, renamed),
//! where OfflineIMAP truncates and rewrites it; and a sync limited with `-f` adds its
//! folders to the account's previous list instead of replacing the list with them.

mod filter;
mod python;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use backend_api::{FolderPath, RepositoryConfig};
use backend_kit::durable::{replace_file, sync_dir};

use crate::accounts::PreparedAccount;
use crate::config::ini::{Ini, Section};
use crate::config::ConfigError;
use crate::engine::AccountReport;
use crate::side::Side;

pub use filter::FolderFilter;
use python::Piece;

/// The section's name.
pub const SECTION: &str = "mbnames";

/// The names `peritem` may use, as OfflineIMAP stores them for each folder.
const KEYS: [&str; 3] = ["accountname", "foldername", "localfolders"];

/// The default `sort_keyfunc`, the only one we follow, with blanks removed.
const DEFAULT_SORT_KEYS: [&str; 2] = [
    "lambdad:(d['accountname'],d['foldername'])",
    "lambdad:(d[\"accountname\"],d[\"foldername\"])",
];

/// An enabled `[mbnames]` section, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MbnamesConfig {
    /// The file to write, `~` and `$VARS` expanded.
    pub filename: PathBuf,
    header: String,
    peritem: Vec<Piece>,
    sep: String,
    footer: String,
    folderfilter: Option<FolderFilter>,
    /// Write the file after each account rather than once at the end.
    pub incremental: bool,
}

impl MbnamesConfig {
    /// Reads `[mbnames]` from `ini`: `None` when `enabled` is not yes (OfflineIMAP's
    /// default). `file` names the configuration in errors; a relative `filename` is
    /// taken relative to `base`, the configuration's directory.
    pub fn from_section(
        ini: &Ini,
        section: &Section,
        file: &str,
        base: &Path,
    ) -> Result<Option<MbnamesConfig>, ConfigError> {
        let invalid =
            |option: &str, value: &str, line: usize, expected: String| ConfigError::InvalidValue {
                at: format!("{file}:{line}"),
                section: SECTION.to_owned(),
                option: option.to_owned(),
                value: value.to_owned(),
                expected,
            };
        let boolean = |option: &str| -> Result<bool, ConfigError> {
            match ini.resolve_option(section, option)? {
                None => Ok(false),
                Some(v) => crate::config::parse_bool(&v.value)
                    .ok_or_else(|| invalid(option, &v.value, v.line, "write yes or no".to_owned())),
            }
        };
        if !boolean("enabled")? {
            return Ok(None);
        }
        let required = |option: &str, example: &str| -> Result<(String, usize), ConfigError> {
            // peritem's %(..)s belong to mbnames, not to configparser: read it raw.
            let value = if option == "peritem" {
                ini.raw_option(section, option)
                    .map(|raw| (raw.value.clone(), raw.line))
            } else {
                ini.resolve_option(section, option)?
                    .map(|v| (v.value, v.line))
            };
            value.ok_or_else(|| ConfigError::MissingOption {
                file: file.to_owned(),
                section: SECTION.to_owned(),
                option: option.to_owned(),
                fix: format!(
                    "with enabled = yes, set it (e.g. {option} = {example}), or \"\" for nothing"
                ),
            })
        };
        let literal = |option: &str, example: &str| -> Result<String, ConfigError> {
            let (value, line) = required(option, example)?;
            crate::python::string_expression(&value)
                .map_err(|why| invalid(option, &value, line, why))
        };
        let header = literal("header", "\"mailboxes \"")?;
        let sep = literal("sep", "\" \"")?;
        let footer = literal("footer", "\"\\n\"")?;
        let (peritem, line) = required("peritem", "+%(accountname)s/%(foldername)s")?;
        let peritem = python::dict_template(&peritem, &KEYS)
            .map_err(|why| invalid("peritem", &peritem, line, why))?;
        let (filename, _) = required("filename", "~/.mutt/mailboxes")?;
        let filename = python::expand_vars(
            RepositoryConfig::expand_path(filename.trim())
                .to_string_lossy()
                .as_ref(),
            |name| std::env::var(name).ok(),
        );
        let filename = base.join(filename);
        let folderfilter = match ini.resolve_option(section, "folderfilter")? {
            None => None,
            Some(v) => Some(
                FolderFilter::parse(&v.value)
                    .map_err(|why| invalid("folderfilter", &v.value, v.line, why))?,
            ),
        };
        if let Some(v) = ini.resolve_option(section, "sort_keyfunc")? {
            let compact: String = v.value.chars().filter(|c| !c.is_whitespace()).collect();
            if !DEFAULT_SORT_KEYS.contains(&compact.as_str()) {
                return Err(invalid(
                    "sort_keyfunc",
                    &v.value,
                    v.line,
                    "twinbox sorts by account, then folder name (the default \
                     lambda d: (d['accountname'], d['foldername'])) and runs no other \
                     Python; remove the option"
                        .to_owned(),
                ));
            }
        }
        Ok(Some(MbnamesConfig {
            filename,
            header,
            peritem,
            sep,
            footer,
            folderfilter,
            incremental: boolean("incremental")?,
        }))
    }

    /// One folder's line, as `peritem % entry`.
    fn item(&self, entry: &Entry) -> String {
        let mut item = String::new();
        for piece in &self.peritem {
            match piece {
                Piece::Text(text) => item.push_str(text),
                Piece::Key(key) => item.push_str(match key.as_str() {
                    "accountname" => &entry.accountname,
                    "foldername" => &entry.foldername,
                    _ => &entry.localfolders,
                }),
            }
        }
        item
    }

    /// The whole file for these entries (sorted here).
    fn render(&self, mut entries: Vec<Entry>) -> String {
        // A stable sort, as Python's: equal keys keep their order.
        entries
            .sort_by(|a, b| (&a.accountname, &a.foldername).cmp(&(&b.accountname, &b.foldername)));
        let items: Vec<String> = entries.iter().map(|entry| self.item(entry)).collect();
        format!("{}{}{}", self.header, items.join(&self.sep), self.footer)
    }
}

/// One folder in an intermediate file, with OfflineIMAP's field names, so that either
/// program reads the other's files when they share a metadata directory.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Entry {
    accountname: String,
    foldername: String,
    localfolders: String,
}

/// Why the mailbox list or an account's intermediate file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("[mbnames]: cannot {action} {}: {source}; {fix}", path.display())]
pub struct MbnamesError {
    action: &'static str,
    path: PathBuf,
    #[source]
    source: io::Error,
    fix: &'static str,
}

/// Writes the mailbox list during one run of `twinbox sync`.
pub struct Mbnames<'c> {
    config: &'c MbnamesConfig,
    /// `<metadata>/mbnames`, where the intermediate files are.
    dir: PathBuf,
    /// Accounts finish on several threads; their writes take turns.
    lock: Mutex<()>,
}

impl<'c> Mbnames<'c> {
    pub fn new(config: &'c MbnamesConfig, metadata: &Path) -> Self {
        Mbnames {
            config,
            dir: metadata.join(SECTION),
            lock: Mutex::new(()),
        }
    }

    /// After an account's sync: records its folders, and with `incremental` writes the
    /// file. An account that failed as a whole, or synced no folder, changes nothing (its
    /// previous list stays), as in OfflineIMAP.
    pub fn account_synced(
        &self,
        account: &PreparedAccount<'_>,
        report: &AccountReport,
    ) -> Result<(), MbnamesError> {
        let folders: Vec<&FolderPath> = report
            .folders
            .iter()
            .filter_map(|folder| folder.folder.as_ref())
            .collect();
        if report.error.is_some() || folders.is_empty() {
            return Ok(());
        }
        let local = &account.repositories[Side::Local].0;
        let names: Vec<String> = folders
            .iter()
            .map(|folder| local_folder_name(local, folder))
            .collect();
        let _turn = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let partial = account.options.folders.is_some();
        self.write_intermediate(&account.name, local_root(local), names, partial)?;
        if self.config.incremental {
            self.write_file()?;
        }
        Ok(())
    }

    /// After every account: writes the file, unless `incremental` did already.
    pub fn finish(&self) -> Result<(), MbnamesError> {
        if self.config.incremental {
            return Ok(());
        }
        let _turn = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.write_file()
    }

    fn intermediate_path(&self, account: &str) -> PathBuf {
        // OfflineIMAP names it after the account as is; a '/' would leave the directory.
        self.dir
            .join(format!("{}.json", account.replace('/', "%2F")))
    }

    fn write_intermediate(
        &self,
        account: &str,
        localfolders: String,
        names: Vec<String>,
        partial: bool,
    ) -> Result<(), MbnamesError> {
        let path = self.intermediate_path(account);
        let mut all: Vec<String> = Vec::new();
        if partial {
            // `-f` synced some folders only: the others are still there.
            all.extend(
                read_entries(&path)
                    .into_iter()
                    .flatten()
                    .filter(|entry| entry.accountname == account)
                    .map(|entry| entry.foldername),
            );
        }
        for name in names {
            if !all.contains(&name) {
                all.push(name);
            }
        }
        let entries: Vec<Entry> = all
            .into_iter()
            .filter(|name| {
                self.config
                    .folderfilter
                    .as_ref()
                    .is_none_or(|filter| filter.accepts(account, name))
            })
            .map(|foldername| Entry {
                accountname: account.to_owned(),
                foldername,
                localfolders: localfolders.clone(),
            })
            .collect();
        let error = |action, path: &Path, source| MbnamesError {
            action,
            path: path.to_owned(),
            source,
            fix: "check that the metadata directory is writable",
        };
        fs::create_dir_all(&self.dir).map_err(|e| error("create", &self.dir, e))?;
        let json = serde_json::to_vec(&entries)
            .map_err(|e| error("encode", &path, io::Error::other(e)))?;
        replace(&path, &json).map_err(|e| error("write", &path, e))
    }

    /// Merges every intermediate file into the mailbox list.
    fn write_file(&self) -> Result<(), MbnamesError> {
        let mut entries = Vec::new();
        let listing = match fs::read_dir(&self.dir) {
            Ok(listing) => listing.flatten().collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(MbnamesError {
                    action: "list",
                    path: self.dir.clone(),
                    source,
                    fix: "check that the metadata directory is readable",
                })
            }
        };
        for entry in listing {
            let path = entry.path();
            let is_json = entry.file_name().to_string_lossy().ends_with(".json");
            if is_json && path.is_file() {
                // OfflineIMAP reports an unreadable file and lists the others.
                match read_entries(&path) {
                    Ok(found) => entries.extend(found),
                    Err(why) => log::warn!(
                        "[mbnames]: skipping {}: {why}; remove it, the next sync of its \
                         account writes it again",
                        path.display()
                    ),
                }
            }
        }
        let text = self.config.render(entries);
        let path = &self.config.filename;
        replace(path, text.as_bytes()).map_err(|source| MbnamesError {
            action: "write",
            path: path.clone(),
            source,
            fix: "check that its directory exists and is writable ([mbnames] filename)",
        })
    }
}

/// The entries of an intermediate file, or why it cannot be read.
fn read_entries(path: &Path) -> Result<Vec<Entry>, String> {
    let bytes = fs::read(path).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not an mbnames list ({e})"))
}

/// Replaces `path` atomically: a temporary file beside it, fsynced, renamed over it, and
/// the directory synced, so a reader (mutt starting) sees the old list or the new one.
fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    // Not ending in .json, so never read as an intermediate file; the pid keeps two
    // twinbox processes apart.
    let tmp = path.with_file_name(format!(
        ".{}.twinbox-{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    replace_file(path, &tmp, bytes)?;
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    sync_dir(parent)
}

/// `localfolders` as OfflineIMAP gives it to `peritem`: `~` expanded.
fn local_root(local: &RepositoryConfig) -> String {
    local
        .get("localfolders")
        .map(|root| {
            RepositoryConfig::expand_path(root.trim())
                .to_string_lossy()
                .into_owned()
        })
        .unwrap_or_default()
}

/// The name OfflineIMAP gives `folder` in the local repository: for a Maildir, its
/// directory relative to `localfolders` (components joined by `sep`, `.` by default; with
/// `layout = maildir++`, `.Work.Projects`, and the root, INBOX, is the empty name); for
/// other types, joined by `sep` if set, else `/`. Each component is in modified UTF-7
/// unless the account sets `utf8foldernames`, as OfflineIMAP stores names.
pub fn local_folder_name(local: &RepositoryConfig, folder: &FolderPath) -> String {
    let utf8 = local
        .account_options
        .get("utf8foldernames")
        .and_then(|value| crate::config::parse_bool(value))
        .unwrap_or(false);
    let components: Vec<String> = folder
        .components()
        .map(|component| {
            if utf8 {
                component.to_owned()
            } else {
                backend_kit::mutf7::encode(component)
            }
        })
        .collect();
    let maildir = local
        .get("type")
        .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("maildir"));
    let plus_plus = local
        .get("layout")
        .is_some_and(|layout| layout.trim().eq_ignore_ascii_case("maildir++"));
    if maildir && plus_plus {
        if folder.is_inbox() {
            return String::new();
        }
        return format!(".{}", components.join("."));
    }
    let sep = match local.get("sep").map(str::trim) {
        Some(sep) if !sep.is_empty() => sep,
        _ if maildir => ".",
        _ => "/",
    };
    components.join(sep)
}

#[cfg(test)]
mod tests;
