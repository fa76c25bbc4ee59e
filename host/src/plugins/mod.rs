//! Finding and loading backend plugins.
//!
//! # Why it works this way
//!
//! Every repository type, even Maildir, is a plugin, so a twinbox without its plugins can
//! do nothing; finding them must be predictable and, when it fails, explain itself. The
//! directories are searched in a fixed order, most explicit first:
//!
//! 1. `--plugin-dir DIR` (repeatable), then `[general] pluginpath`;
//! 2. `$TWINBOX_PLUGIN_PATH` (colon-separated, like `$PATH`);
//! 3. the directory of the running executable (so `cargo build` output works as is);
//! 4. `<prefix>/lib/twinbox`, where `<prefix>` is the parent of that directory
//!    (`/usr/local/bin/twinbox` → `/usr/local/lib/twinbox`).
//!
//! Every file named `libtwinbox_*.so` ([`PLUGIN_FILE_PREFIX`], the platform's library
//! suffix) in those directories is loaded and asked its type. Only those: loading a
//! library runs its code, so other libraries in a directory (the test plugins cargo
//! builds next to `twinbox`, broken on purpose and named `libtestplugin_*.so`, or
//! anything else) are never touched. A sync goes further ([`PluginCatalog::discover_for`]):
//! it loads only the plugins of the types its accounts use, found by their file names
//! (`libtwinbox_imap.so` for `type = IMAP`), and loads every library only when a type has
//! no file of its name (so for a sync, a file named after its type wins over an earlier one
//! named otherwise). When two files implement the same type, the first in search order
//! wins and the other is listed as shadowed — so `--plugin-dir` can override an installed
//! plugin. A missing directory is skipped; everything that fails (an unreadable directory,
//! a library that is not a plugin or speaks another interface) is kept in
//! [`PluginCatalog::broken`] for `twinbox plugins` to show, and never stops the others.
//!
//! Loading runs no plugin code beyond its hello, which the plugin's export adapter guards
//! against panics; nothing here panics on what a library or a directory contains.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

mod imported;
mod library;

pub use imported::ImportedRepository;
pub use library::{load_plugin, LoadError, LoadedPlugin};

/// How a plugin library's file name starts (`libtwinbox_maildir.so`): a crate's
/// `[lib] name = "twinbox_<type>"` gives it.
pub const PLUGIN_FILE_PREFIX: &str = "libtwinbox_";

/// The environment variable holding extra plugin directories, colon-separated.
pub const PLUGIN_PATH_VAR: &str = "TWINBOX_PLUGIN_PATH";

/// Why a directory is on the search path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirSource {
    /// `--plugin-dir DIR`.
    CommandLine,
    /// `[general] pluginpath`.
    ConfigFile,
    /// `$TWINBOX_PLUGIN_PATH`.
    Environment,
    /// The directory of the running executable.
    ExecutableDir,
    /// `<prefix>/lib/twinbox`.
    InstallPrefix,
}

impl fmt::Display for DirSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DirSource::CommandLine => "--plugin-dir",
            DirSource::ConfigFile => "[general] pluginpath",
            DirSource::Environment => "$TWINBOX_PLUGIN_PATH",
            DirSource::ExecutableDir => "the executable's directory",
            DirSource::InstallPrefix => "the install prefix",
        })
    }
}

/// One directory of the search path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginDir {
    pub path: PathBuf,
    pub source: DirSource,
}

/// The directories to search, in order, without duplicates: `cli_dirs` (from
/// `--plugin-dir`), `config_dirs` (from `[general] pluginpath`), `$TWINBOX_PLUGIN_PATH`,
/// the executable's directory and `<prefix>/lib/twinbox`.
pub fn search_path(cli_dirs: &[PathBuf], config_dirs: &[PathBuf]) -> Vec<PluginDir> {
    search_path_with(
        cli_dirs,
        config_dirs,
        std::env::var_os(PLUGIN_PATH_VAR),
        std::env::current_exe().ok(),
    )
}

fn search_path_with(
    cli_dirs: &[PathBuf],
    config_dirs: &[PathBuf],
    env_value: Option<OsString>,
    exe: Option<PathBuf>,
) -> Vec<PluginDir> {
    let mut dirs = Vec::new();
    let mut add = |path: PathBuf, source| {
        if path.as_os_str().is_empty() {
            return;
        }
        // The same directory reached two ways is searched once, at its first place.
        let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        let duplicate = dirs
            .iter()
            .any(|(seen, _): &(PathBuf, PluginDir)| *seen == key);
        if !duplicate {
            dirs.push((key, PluginDir { path, source }));
        }
    };
    for dir in cli_dirs {
        add(dir.clone(), DirSource::CommandLine);
    }
    for dir in config_dirs {
        add(dir.clone(), DirSource::ConfigFile);
    }
    if let Some(value) = env_value {
        for dir in std::env::split_paths(&value) {
            add(dir, DirSource::Environment);
        }
    }
    if let Some(exe_dir) = exe.as_deref().and_then(Path::parent) {
        add(exe_dir.to_owned(), DirSource::ExecutableDir);
        if let Some(prefix) = exe_dir.parent() {
            add(prefix.join("lib").join("twinbox"), DirSource::InstallPrefix);
        }
    }
    dirs.into_iter().map(|(_, dir)| dir).collect()
}

/// Why a file or directory on the search path yielded no plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginProblem {
    /// The library could not be loaded or is not a usable plugin.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A directory on the search path, or a library in it, could not be read.
    #[error("{}: cannot read it: {source}; fix its permissions or take it off the plugin path", .path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A plugin found after another of the same type: listed, never used.
#[derive(Clone, Debug)]
pub struct ShadowedPlugin {
    pub plugin: LoadedPlugin,
    /// The library that is used instead.
    pub by: PathBuf,
}

/// A repository type no plugin provides.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    #[error("no plugin for repository type {type_name:?} (available: {available}; searched: {searched}{broken_note}); install or build the plugin for {type_name:?} into one of those directories, or point --plugin-dir at it; 'twinbox plugins' lists the installed types")]
    UnknownType {
        type_name: String,
        /// The types there are, comma-separated, or "none".
        available: String,
        /// The directories searched, comma-separated.
        searched: String,
        /// Empty, or a note that some libraries failed to load.
        broken_note: String,
    },
}

/// Every plugin found on the search path.
#[derive(Debug, Default)]
pub struct PluginCatalog {
    /// The directories searched, in order.
    pub searched: Vec<PluginDir>,
    /// The plugins in use: one per type, in search order.
    pub found: Vec<LoadedPlugin>,
    /// Plugins of a type found earlier in the search order.
    pub shadowed: Vec<ShadowedPlugin>,
    /// What failed, each with the file or directory at fault.
    pub broken: Vec<(PathBuf, PluginProblem)>,
}

impl PluginCatalog {
    /// Loads every plugin library in `dirs`, in order. Never fails: whatever cannot be
    /// used is recorded in [`PluginCatalog::broken`].
    pub fn discover(dirs: Vec<PluginDir>) -> PluginCatalog {
        let mut catalog = PluginCatalog::default();
        let mut loaded: HashSet<PathBuf> = HashSet::new();
        for dir in &dirs {
            for file in catalog.libraries_in(&dir.path) {
                catalog.load(&file, &mut loaded);
            }
        }
        catalog.searched = dirs;
        catalog
    }

    /// Loads the plugins of the repository types `types` from `dirs`, and no others when
    /// their files are named after them: for each type, the first file in search order
    /// named `libtwinbox_<type>.so` (the type in lowercase, as a crate's `[lib] name =
    /// "twinbox_<type>"` gives it) that loads and declares that type. Only when a type has
    /// no such file is every library loaded, as [`PluginCatalog::discover`] does, so that a
    /// plugin whose file is named otherwise is still found and an unknown type's error
    /// lists every type there is. A file named after its type therefore takes precedence
    /// over an earlier one named otherwise that declares the same type.
    ///
    /// Why: every library loaded is mapped, relocated and partly paged in (about 0.7-2 MB
    /// of resident memory each, issue 9), and runs its initialisers; a sync needs only the
    /// types its accounts use. Never fails, like `discover`.
    pub fn discover_for<'t>(
        dirs: Vec<PluginDir>,
        types: impl IntoIterator<Item = &'t str>,
    ) -> PluginCatalog {
        let mut catalog = PluginCatalog::default();
        let mut files = Vec::new();
        for dir in &dirs {
            files.extend(catalog.libraries_in(&dir.path));
        }
        let mut loaded: HashSet<PathBuf> = HashSet::new();
        let mut all_found = true;
        for wanted in types {
            let wanted = wanted.trim().to_lowercase();
            if catalog.lookup(&wanted).is_some() {
                continue;
            }
            let named = files.iter().filter(|file| {
                file.file_name()
                    .and_then(|name| name.to_str())
                    .and_then(|name| name.strip_prefix(PLUGIN_FILE_PREFIX))
                    .and_then(|name| name.strip_suffix(std::env::consts::DLL_SUFFIX))
                    .is_some_and(|stem| stem.to_lowercase() == wanted)
            });
            for file in named {
                catalog.load(file, &mut loaded);
                if catalog.lookup(&wanted).is_some() {
                    break;
                }
            }
            all_found &= catalog.lookup(&wanted).is_some();
        }
        if !all_found {
            for file in &files {
                catalog.load(file, &mut loaded);
            }
        }
        catalog.searched = dirs;
        catalog
    }

    /// Loads `file` unless `loaded` has it: the same library reached through a symlink
    /// or a second directory is loaded once.
    fn load(&mut self, file: &Path, loaded: &mut HashSet<PathBuf>) {
        let key = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
        if !loaded.insert(key) {
            return;
        }
        match load_plugin(file) {
            Ok(plugin) => self.add(plugin),
            Err(error) => self.broken.push((file.to_owned(), error.into())),
        }
    }

    /// The library files in `dir`, sorted by name; problems go to `broken`.
    fn libraries_in(&mut self, dir: &Path) -> Vec<PathBuf> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(source) => {
                self.unreadable(dir, source);
                return Vec::new();
            }
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(source) => {
                    self.unreadable(dir, source);
                    continue;
                }
            };
            let path = entry.path();
            let is_library = path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| {
                    name.len() > PLUGIN_FILE_PREFIX.len() + std::env::consts::DLL_SUFFIX.len()
                        && name.starts_with(PLUGIN_FILE_PREFIX)
                        && name.ends_with(std::env::consts::DLL_SUFFIX)
                });
            if !is_library {
                continue;
            }
            // Follows symlinks: a dangling one is reported, a directory named `x.so` is not
            // a library.
            match std::fs::metadata(&path) {
                Ok(metadata) if metadata.is_file() => files.push(path),
                Ok(_) => {}
                Err(source) => self.unreadable(&path, source),
            }
        }
        files.sort();
        files
    }

    fn unreadable(&mut self, path: &Path, source: std::io::Error) {
        self.broken.push((
            path.to_owned(),
            PluginProblem::Unreadable {
                path: path.to_owned(),
                source,
            },
        ));
    }

    fn add(&mut self, plugin: LoadedPlugin) {
        match self.lookup(&plugin.hello.name) {
            Some(first) => {
                let by = first.path.clone();
                self.shadowed.push(ShadowedPlugin { plugin, by });
            }
            None => self.found.push(plugin),
        }
    }

    fn lookup(&self, type_name: &str) -> Option<&LoadedPlugin> {
        let wanted = type_name.trim().to_lowercase();
        self.found
            .iter()
            .find(|plugin| plugin.hello.name.to_lowercase() == wanted)
    }

    /// The plugin for repository type `type_name` (compared case-insensitively), or an
    /// error listing the types there are, where we looked, and what to do.
    pub fn find(&self, type_name: &str) -> Result<&LoadedPlugin, PluginError> {
        if let Some(plugin) = self.lookup(type_name) {
            return Ok(plugin);
        }
        let available: Vec<&str> = self.found.iter().map(|p| p.hello.name.as_str()).collect();
        let searched: Vec<String> = self
            .searched
            .iter()
            .map(|dir| dir.path.display().to_string())
            .collect();
        Err(PluginError::UnknownType {
            type_name: type_name.trim().to_owned(),
            available: if available.is_empty() {
                "none".to_owned()
            } else {
                available.join(", ")
            },
            searched: if searched.is_empty() {
                "no directories".to_owned()
            } else {
                searched.join(", ")
            },
            broken_note: match self.broken.len() {
                0 => String::new(),
                1 => "; 1 library failed to load".to_owned(),
                n => format!("; {n} libraries failed to load"),
            },
        })
    }

    /// One row per library: the plugins in use, then the shadowed ones, then the failures.
    pub fn describe(&self) -> Vec<PluginRow> {
        let row = |plugin: &LoadedPlugin, status: String| PluginRow {
            name: plugin.hello.name.clone(),
            plugin_version: plugin.hello.plugin_version.clone(),
            interface_version: format!(
                "{}.{}",
                plugin.hello.interface_version.0, plugin.hello.interface_version.1
            ),
            path: plugin.path.clone(),
            status,
        };
        let mut rows: Vec<PluginRow> = self
            .found
            .iter()
            .map(|plugin| row(plugin, "ok".to_owned()))
            .collect();
        rows.extend(self.shadowed.iter().map(|shadowed| {
            row(
                &shadowed.plugin,
                format!("shadowed by {}", shadowed.by.display()),
            )
        }));
        rows.extend(
            self.broken
                .iter()
                .map(|(path, problem)| broken_row(path, problem)),
        );
        rows
    }
}

fn broken_row(path: &Path, problem: &PluginProblem) -> PluginRow {
    let (name, plugin_version, interface_version) = match problem {
        PluginProblem::Load(LoadError::IncompatibleInterface {
            name,
            plugin_version,
            interface,
            ..
        }) => (
            name.clone(),
            plugin_version.clone(),
            format!("{}.{}", interface.0, interface.1),
        ),
        _ => ("-".to_owned(), "-".to_owned(), "-".to_owned()),
    };
    // The path has its own column; the message names it (dlopen's reason even twice).
    let status = problem
        .to_string()
        .replace(&format!("{}: ", path.display()), "");
    PluginRow {
        name,
        plugin_version,
        interface_version,
        path: path.to_owned(),
        status: format!("error: {status}"),
    }
}

/// One line of `twinbox plugins`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginRow {
    /// The repository type, or `-` when the library did not say.
    pub name: String,
    pub plugin_version: String,
    /// `major.minor`.
    pub interface_version: String,
    pub path: PathBuf,
    /// `ok`, `shadowed by PATH`, or `error: ...`.
    pub status: String,
}

/// `rows` as a table with a header line, columns aligned, one row per line, each line
/// ending in `\n`. The last column (status) is not padded.
pub fn render_table(rows: &[PluginRow]) -> String {
    let header = ["TYPE", "VERSION", "INTERFACE", "PATH", "STATUS"];
    let lines: Vec<[String; 5]> = std::iter::once(header.map(str::to_owned))
        .chain(rows.iter().map(|row| {
            [
                row.name.clone(),
                row.plugin_version.clone(),
                row.interface_version.clone(),
                row.path.display().to_string(),
                row.status.clone(),
            ]
        }))
        .collect();
    let mut widths = [0usize; 5];
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in &lines {
        for (column, cell) in line.iter().enumerate() {
            if column + 1 == line.len() {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                let pad = widths[column] - cell.chars().count() + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(paths: &[&Path]) -> Vec<PluginDir> {
        paths
            .iter()
            .map(|path| PluginDir {
                path: path.to_path_buf(),
                source: DirSource::CommandLine,
            })
            .collect()
    }

    #[test]
    fn search_order_and_duplicates() {
        let cli = [PathBuf::from("/p/cli"), PathBuf::from("/p/cli")];
        let config = [PathBuf::from("/p/conf"), PathBuf::from("/p/cli")];
        let env = OsString::from("/p/env1::/p/env2:/p/conf");
        let exe = PathBuf::from("/usr/local/bin/twinbox");
        let found = search_path_with(&cli, &config, Some(env), Some(exe));
        let expected = [
            ("/p/cli", DirSource::CommandLine),
            ("/p/conf", DirSource::ConfigFile),
            ("/p/env1", DirSource::Environment),
            ("/p/env2", DirSource::Environment),
            ("/usr/local/bin", DirSource::ExecutableDir),
            ("/usr/local/lib/twinbox", DirSource::InstallPrefix),
        ];
        let found: Vec<(PathBuf, DirSource)> = found
            .into_iter()
            .map(|dir| (dir.path, dir.source))
            .collect();
        let expected: Vec<(PathBuf, DirSource)> = expected
            .iter()
            .map(|(path, source)| (PathBuf::from(path), *source))
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn search_path_without_environment_or_executable() {
        let found = search_path_with(&[], &[], None, None);
        assert!(found.is_empty());
        let found = search_path_with(&[], &[], None, Some(PathBuf::from("/twinbox")));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].source, DirSource::ExecutableDir);
    }

    #[test]
    fn the_same_directory_by_two_names_is_searched_once() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        let found = search_path_with(&[real.clone(), dir.path().join("link")], &[], None, None);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, real);
    }

    #[test]
    fn missing_directories_are_skipped_silently() {
        let catalog = PluginCatalog::discover(dirs(&[Path::new("/nonexistent/twinbox/plugins")]));
        assert!(catalog.found.is_empty());
        assert!(catalog.broken.is_empty());
        assert_eq!(catalog.searched.len(), 1);
    }

    #[test]
    fn failures_are_recorded_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("file");
        std::fs::write(&not_a_dir, "x").unwrap();
        let libs = dir.path().join("libs");
        std::fs::create_dir(&libs).unwrap();
        let fake = libs.join("libtwinbox_fake.so");
        std::fs::write(&fake, "not an ELF file").unwrap();
        std::fs::write(libs.join("README"), "ignored").unwrap();
        std::fs::write(libs.join("libtwinbox_.so"), "no name: ignored").unwrap();
        std::fs::write(libs.join("libother.so"), "not a plugin's name: ignored").unwrap();
        std::fs::create_dir(libs.join("libtwinbox_dir.so")).unwrap();
        let dangling = libs.join("libtwinbox_dangling.so");
        std::os::unix::fs::symlink(libs.join("gone"), &dangling).unwrap();

        let catalog = PluginCatalog::discover(dirs(&[&not_a_dir, &libs]));
        assert!(catalog.found.is_empty());
        let broken: Vec<&Path> = catalog
            .broken
            .iter()
            .map(|(path, _)| path.as_path())
            .collect();
        assert_eq!(
            broken,
            [not_a_dir.as_path(), dangling.as_path(), fake.as_path()]
        );
        assert!(matches!(
            catalog.broken[0].1,
            PluginProblem::Unreadable { .. }
        ));
        assert!(matches!(
            catalog.broken[2].1,
            PluginProblem::Load(LoadError::Open { .. })
        ));

        let rows = catalog.describe();
        assert_eq!(rows.len(), 3);
        assert!(rows
            .iter()
            .all(|row| row.name == "-" && row.status.starts_with("error: ")));
        // The path has its own column; the status does not repeat it.
        let path = fake.display().to_string();
        assert!(!rows[2].status.contains(&path), "{}", rows[2].status);
        for row in &rows {
            assert!(!row.status.contains('\n'), "{}", row.status);
        }

        let message = catalog.find("IMAP").unwrap_err().to_string();
        assert!(
            message.starts_with("no plugin for repository type \"IMAP\""),
            "{message}"
        );
        assert!(message.contains("available: none"), "{message}");
        assert!(message.contains(&libs.display().to_string()), "{message}");
        assert!(message.contains("3 libraries failed to load"), "{message}");
        assert!(message.contains("--plugin-dir"), "{message}");
        assert!(!message.contains('\n'));
    }

    #[test]
    fn find_with_nothing_searched() {
        let message = PluginCatalog::default()
            .find("Maildir")
            .unwrap_err()
            .to_string();
        assert!(message.contains("searched: no directories"), "{message}");
        assert!(!message.contains("failed to load"), "{message}");
    }

    /// The test plugin as built by `cargo build --workspace`, if it has been.
    fn built_test_plugin() -> Option<PathBuf> {
        // The test binary is target/<profile>/deps/twinbox-<hash>.
        let exe = std::env::current_exe().ok()?;
        let profile_dir = exe.parent()?.parent()?;
        let name = format!(
            "{}testplugin_panicking{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        let path = profile_dir.join(name);
        path.is_file().then_some(path)
    }

    #[test]
    fn real_plugins_shadowing_and_symlinks() {
        let Some(built) = built_test_plugin() else {
            eprintln!("skipped: build the test plugin with `cargo build --workspace` first");
            return;
        };
        let root = tempfile::tempdir().unwrap();
        let (first, second, links) = (
            root.path().join("first"),
            root.path().join("second"),
            root.path().join("links"),
        );
        for dir in [&first, &second, &links] {
            std::fs::create_dir(dir).unwrap();
        }
        std::fs::copy(&built, first.join("libtwinbox_panicking.so")).unwrap();
        std::fs::copy(&built, second.join("libtwinbox_panicking.so")).unwrap();
        std::os::unix::fs::symlink(
            first.join("libtwinbox_panicking.so"),
            links.join("libtwinbox_link.so"),
        )
        .unwrap();

        let catalog = PluginCatalog::discover(dirs(&[&first, &links, &second]));
        assert!(catalog.broken.is_empty(), "{:?}", catalog.broken);
        assert_eq!(catalog.found.len(), 1);
        assert_eq!(catalog.found[0].path, first.join("libtwinbox_panicking.so"));
        // The symlink is the same library: loaded once, not reported as shadowed.
        assert_eq!(catalog.shadowed.len(), 1);
        assert_eq!(
            catalog.shadowed[0].plugin.path,
            second.join("libtwinbox_panicking.so")
        );
        assert_eq!(
            catalog.shadowed[0].by,
            first.join("libtwinbox_panicking.so")
        );

        let plugin = catalog.find(" PANICKING ").unwrap();
        assert_eq!(plugin.hello.name, "Panicking");
        let message = catalog.find("imap").unwrap_err().to_string();
        assert!(message.contains("available: Panicking"), "{message}");

        // What the plugin is for: its panics come back as errors, the host goes on.
        let repository = plugin
            .open_repository(&backend_api::RepositoryConfig::new("P"))
            .unwrap();
        let error = repository.list_folders().unwrap_err();
        assert!(error.message.contains("deliberate test panic"), "{error}");
        let config = backend_api::RepositoryConfig::new("P").with("panicin", "open");
        let error = plugin.open_repository(&config).err().unwrap();
        assert!(error.message.contains("deliberate test panic"), "{error}");

        let rows = catalog.describe();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].status, "ok");
        assert_eq!(
            rows[0].interface_version,
            format!(
                "{}.{}",
                backend_api::INTERFACE_VERSION.0,
                backend_api::INTERFACE_VERSION.1
            )
        );
        assert!(
            rows[1].status.starts_with("shadowed by "),
            "{}",
            rows[1].status
        );
        let table = render_table(&rows);
        assert!(table.starts_with("TYPE       VERSION"), "{table}");
        assert_eq!(table.lines().count(), 3);
    }

    /// Issue 9: a sync loads the plugins of the types its accounts use and no other
    /// library, when the files are named after their types; otherwise it loads them all.
    #[test]
    fn only_the_plugins_of_the_types_asked_for_are_loaded() {
        let Some(built) = built_test_plugin() else {
            eprintln!("skipped: build the test plugin with `cargo build --workspace` first");
            return;
        };
        let root = tempfile::tempdir().unwrap();
        let (first, second) = (root.path().join("first"), root.path().join("second"));
        for dir in [&first, &second] {
            std::fs::create_dir(dir).unwrap();
        }
        // Named after its type, in the second directory; an earlier file of another name
        // declares the same type; a library that fails if it is ever loaded.
        let named = second.join("libtwinbox_panicking.so");
        std::fs::copy(&built, &named).unwrap();
        std::fs::copy(&built, first.join("libtwinbox_another_name.so")).unwrap();
        let broken = first.join("libtwinbox_broken.so");
        std::fs::write(&broken, "not an ELF file: fails if loaded").unwrap();

        let catalog = PluginCatalog::discover_for(dirs(&[&first, &second]), ["PANICKING"]);
        assert_eq!(catalog.find("panicking").unwrap().path, named);
        assert_eq!(catalog.found.len(), 1);
        assert!(catalog.broken.is_empty(), "{:?}", catalog.broken);
        assert!(catalog.shadowed.is_empty(), "{:?}", catalog.shadowed);
        assert_eq!(catalog.searched.len(), 2);

        // Nothing asked for: nothing loaded.
        let catalog = PluginCatalog::discover_for(dirs(&[&first, &second]), []);
        assert!(catalog.found.is_empty() && catalog.broken.is_empty());

        // A type no file is named after: every library is loaded, as `discover` does, so
        // the error lists what there is and what failed.
        let catalog =
            PluginCatalog::discover_for(dirs(&[&first, &second]), ["panicking", "Nowhere"]);
        assert_eq!(catalog.find("panicking").unwrap().path, named);
        assert_eq!(catalog.shadowed.len(), 1);
        assert_eq!(
            catalog.shadowed[0].plugin.path,
            first.join("libtwinbox_another_name.so")
        );
        assert_eq!(catalog.broken.len(), 1);
        assert_eq!(catalog.broken[0].0, broken);
        let message = catalog.find("Nowhere").unwrap_err().to_string();
        assert!(message.contains("available: Panicking"), "{message}");
        assert!(message.contains("1 library failed to load"), "{message}");

        // A plugin whose file is named otherwise is still found.
        std::fs::remove_file(&named).unwrap();
        let catalog = PluginCatalog::discover_for(dirs(&[&first, &second]), ["Panicking"]);
        assert_eq!(
            catalog.find("Panicking").unwrap().path,
            first.join("libtwinbox_another_name.so")
        );
    }

    #[test]
    fn table_alignment() {
        let rows = [
            PluginRow {
                name: "Maildir".into(),
                plugin_version: "0.1.0".into(),
                interface_version: "1.0".into(),
                path: PathBuf::from("/lib/libtwinbox_maildir.so"),
                status: "ok".into(),
            },
            PluginRow {
                name: "-".into(),
                plugin_version: "-".into(),
                interface_version: "-".into(),
                path: PathBuf::from("/x.so"),
                status: "error: not a twinbox plugin".into(),
            },
        ];
        let table = render_table(&rows);
        let expected = "\
TYPE     VERSION  INTERFACE  PATH                        STATUS
Maildir  0.1.0    1.0        /lib/libtwinbox_maildir.so  ok
-        -        -          /x.so                       error: not a twinbox plugin
";
        assert_eq!(table, expected);
        assert_eq!(
            render_table(&[]),
            "TYPE  VERSION  INTERFACE  PATH  STATUS\n"
        );
    }
}
