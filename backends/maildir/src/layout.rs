//! Where a folder lives under the Maildir root: as OfflineIMAP lays it out, or as
//! Dovecot and Courier do (Maildir++).
//!
//! With `sep = .` (the default) every folder is a direct subdirectory of the root and the
//! path's components are joined with dots: `Work/Projects` is `Work.Projects`. With
//! `sep = /` folders nest: `Work/Projects` is `Work/Projects`, and `Work` is a directory
//! that may or may not be a folder itself. `INBOX` is the directory `INBOX` either way.
//!
//! Folder paths match `INBOX` case-insensitively while directory names are case-sensitive,
//! so a root holding `inbox` (some tools write it so) is resolved to that directory rather
//! than gaining a second, empty `INBOX` beside it.
//!
//! Each component of a folder path is one directory name (or one dot-separated part of
//! one), written in IMAP's modified UTF-7 unless the account says `utf8foldernames = yes`,
//! as OfflineIMAP does: `Ärger` is the directory `&AMQ-rger`, so Maildirs written by
//! OfflineIMAP keep their names. The rules about separators and reserved names apply to
//! the decoded component (what the user calls the folder); encoding never adds a `.` or a
//! `/`, so they hold for the directory name too.
//!
//! With `layout = maildir++` (Dovecot's default `maildir:~/Maildir`, Courier, mbsync's
//! `SubFolders Maildir++`) the root itself is `INBOX` (its `cur/`, `new/`, `tmp/` are at
//! the root) and every other folder is a directory at the root named `.` plus its
//! components joined with dots: `Work/Projects` is `.Work.Projects`, `INBOX/Sub` is
//! `.INBOX.Sub`. Names are encoded as above, which is what Dovecot writes unless its
//! `mail_location` says `UTF-8`. OfflineIMAP has no such layout, so nothing constrains
//! the FMD5 names: they are the IMAP-style names (`INBOX`, `Work.Projects`), the same as
//! with `sep = .`, so that moving a `sep = .` tree into this layout keeps every UID.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use backend_api::{BackendError, ErrorScope, FolderPath};
use backend_kit::mutf7;
use backend_kit::tree::{self, is_maildir};

use crate::uidstate::{OLD_STATE_FILE, STATE_FILE};

/// The Maildir subdirectories, which can never be folder names under `sep = /`.
const MAILDIR_SUBDIRS: [&str; 3] = ["cur", "new", "tmp"];

/// Deeper than this, a `sep = /` tree is surely a loop or a mistake.
const MAX_DEPTH: usize = 64;

/// How folder paths map to directories: the `sep` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Separator {
    /// `sep = .`: flat, `Work.Projects`.
    Dot,
    /// `sep = /`: nested directories.
    Slash,
}

impl Separator {
    /// The option's value (already trimmed), or `None` if it is neither `.` nor `/`.
    pub fn from_option(value: &str) -> Option<Separator> {
        match value {
            "." => Some(Separator::Dot),
            "/" => Some(Separator::Slash),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Separator::Dot => ".",
            Separator::Slash => "/",
        }
    }
}

/// Where folders go: the `layout` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// `layout = offlineimap` (the default): `INBOX` is a directory like any folder, and
    /// `sep` decides how paths become directories.
    OfflineImap,
    /// `layout = maildir++`: `INBOX` is the root, other folders `.A.B` at the root.
    MaildirPlusPlus,
}

impl Style {
    /// The option's value (already trimmed), or `None` if it is no layout we know.
    pub fn from_option(value: &str) -> Option<Style> {
        match value.to_ascii_lowercase().as_str() {
            "offlineimap" => Some(Style::OfflineImap),
            "maildir++" => Some(Style::MaildirPlusPlus),
            _ => None,
        }
    }
}

/// How a folder path component is spelled as a directory name: the account's
/// `utf8foldernames` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameEncoding {
    /// `utf8foldernames = yes`: the component itself.
    Utf8,
    /// `utf8foldernames = no` (the default): IMAP's modified UTF-7.
    ModifiedUtf7,
}

impl NameEncoding {
    fn encode(self, component: &str) -> Cow<'_, str> {
        match self {
            NameEncoding::Utf8 => Cow::Borrowed(component),
            NameEncoding::ModifiedUtf7 => Cow::Owned(mutf7::encode(component)),
        }
    }

    /// The component a directory name stands for, or why it stands for none.
    fn decode(self, name: &str) -> Result<String, String> {
        match self {
            NameEncoding::Utf8 => Ok(name.to_owned()),
            NameEncoding::ModifiedUtf7 => mutf7::decode(name).map_err(|error| error.to_string()),
        }
    }
}

/// Where folders live: the `layout`, `sep` and `utf8foldernames` options. With
/// [`Style::MaildirPlusPlus`], `sep` is always [`Separator::Dot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub style: Style,
    pub sep: Separator,
    pub encoding: NameEncoding,
}

impl Layout {
    /// The name FMD5 hashes for the folder in the directory `relative` (as [`resolve`]
    /// returns it): that directory name, except under Maildir++, where it is the
    /// IMAP-style name (`INBOX` for the root, `Work.Projects` for `.Work.Projects`).
    pub fn fmd5_name(self, relative: &str) -> String {
        match self.style {
            Style::OfflineImap => relative.to_owned(),
            Style::MaildirPlusPlus if relative.is_empty() => "INBOX".to_owned(),
            Style::MaildirPlusPlus => relative.strip_prefix('.').unwrap_or(relative).to_owned(),
        }
    }

    /// Decodes the on-disk `relative` name (components joined by the separator) into a
    /// folder path, or says (in a warning) why the directory is skipped.
    fn folder_path(self, directory: &Path, relative: &str) -> Option<FolderPath> {
        let mut components = Vec::new();
        for part in relative.split(self.sep.as_str()) {
            match self.encoding.decode(part) {
                Ok(component) => components.push(component),
                Err(reason) => {
                    log::warn!(
                        "skipping Maildir folder {}: its name is not valid modified UTF-7 \
                         ({reason}); with utf8foldernames = no (the default), directory names \
                         are IMAP's modified UTF-7, as OfflineIMAP writes them; if your folder \
                         names are plain UTF-8, set utf8foldernames = yes in the [Account] \
                         section",
                        directory.display()
                    );
                    return None;
                }
            }
        }
        match FolderPath::new(components.join("/")) {
            Ok(path) => Some(path),
            Err(error) => {
                log::warn!(
                    "skipping Maildir folder {} (with sep = {} it would be an {error})",
                    directory.display(),
                    self.sep.as_str()
                );
                None
            }
        }
    }
}

/// A folder found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FoundFolder {
    pub path: FolderPath,
    /// The directory relative to the root as it is on disk (encoded), with the
    /// separator: also what FMD5 hashes.
    pub relative: String,
    /// False for a `sep = /` directory that only holds folders below it.
    pub selectable: bool,
}

/// The path's components, or a folder-level error if this layout cannot store it.
fn components(path: &FolderPath, layout: Layout) -> Result<Vec<&str>, BackendError> {
    let sep = layout.sep;
    let components: Vec<&str> = path.components().collect();
    let refuse = |component: &str, why: &str| {
        Err(BackendError::folder(format!(
            "folder {path} cannot be stored in this Maildir: its part {component:?} {why}"
        )))
    };
    for (index, component) in components.iter().enumerate() {
        match sep {
            Separator::Dot if component.contains('.') => {
                return refuse(
                    component,
                    match layout.style {
                        Style::OfflineImap => {
                            "contains '.', the separator (sep = .); set sep = / for nested \
                             directories, or rename the folder"
                        }
                        // Dovecot's and Courier's separator: no other is possible.
                        Style::MaildirPlusPlus => {
                            "contains '.', the separator of the Maildir++ layout; rename \
                             the folder"
                        }
                    },
                );
            }
            Separator::Slash if MAILDIR_SUBDIRS.contains(component) => {
                return refuse(component, "is a Maildir subdirectory name")
            }
            Separator::Slash if *component == STATE_FILE || *component == OLD_STATE_FILE => {
                return refuse(component, "is the name of twinbox's UID state file")
            }
            Separator::Slash if index == 0 && component.starts_with('.') => {
                return refuse(
                    component,
                    "starts with '.', and hidden directories at the root are not folders",
                )
            }
            _ => {}
        }
    }
    Ok(components)
}

/// The spellings of `INBOX` other than `INBOX` found as first components at the root,
/// sorted; and whether `INBOX` itself is used.
fn inbox_spellings(root: &Path, sep: Separator) -> Result<(bool, Vec<String>), BackendError> {
    let firsts = read_root(root)?
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .map(|name| match sep {
            Separator::Dot => name.split('.').next().unwrap_or("").to_owned(),
            Separator::Slash => name,
        });
    let mut variants = tree::inbox_spellings(firsts, "INBOX");
    let exact = variants.first().is_some_and(|first| first == "INBOX");
    if exact {
        variants.remove(0);
    }
    Ok((exact, variants))
}

/// The directory (relative to the root, encoded) that holds `path`, whether or not it
/// exists yet; a folder-level error when this layout cannot store the path.
pub(crate) fn resolve(
    root: &Path,
    layout: Layout,
    path: &FolderPath,
) -> Result<String, BackendError> {
    let sep = layout.sep;
    let encoded: Vec<Cow<'_, str>> = components(path, layout)?
        .into_iter()
        .map(|component| layout.encoding.encode(component))
        .collect();
    let components: Vec<&str> = encoded.iter().map(|c| c.as_ref()).collect();
    let canonical = components.join(sep.as_str());
    if layout.style == Style::MaildirPlusPlus {
        // The root is INBOX, so no other spelling of it can be on disk; its subfolders
        // are `.INBOX.Sub`, as Dovecot names them.
        if path.is_inbox() {
            return Ok(String::new());
        }
        let directory = format!(".{canonical}");
        if directory == STATE_FILE || directory.starts_with(&format!("{STATE_FILE}.")) {
            // The root is INBOX's folder directory, where its UID state file lives.
            return Err(BackendError::folder(format!(
                "folder {path}: its Maildir++ directory would be {directory}, the name of \
                 INBOX's UID state file; rename the folder"
            )));
        }
        return Ok(directory);
    }
    if components.first() != Some(&"INBOX") || root.join(&canonical).is_dir() {
        return Ok(canonical);
    }
    let (exact, variants) = inbox_spellings(root, sep)?;
    let respelled = |first: &str| {
        std::iter::once(first)
            .chain(components[1..].iter().copied())
            .collect::<Vec<_>>()
            .join(sep.as_str())
    };
    for variant in &variants {
        let candidate = respelled(variant);
        if root.join(&candidate).is_dir() {
            return Ok(candidate);
        }
    }
    // A new folder: spell INBOX as the existing ones do.
    match variants.first() {
        Some(variant) if !exact => Ok(respelled(variant)),
        _ => Ok(canonical),
    }
}

fn read_root(root: &Path) -> Result<fs::ReadDir, BackendError> {
    fs::read_dir(root).map_err(|error| {
        BackendError::io(
            ErrorScope::Repository,
            format!("cannot list the Maildir root {}", root.display()),
            &error,
        )
    })
}

/// Every folder under `root`, each path once.
pub(crate) fn scan(root: &Path, layout: Layout) -> Result<Vec<FoundFolder>, BackendError> {
    let mut found = Vec::new();
    if layout.style == Style::MaildirPlusPlus {
        scan_plus_plus(root, layout, &mut found)?;
        return Ok(deduplicate(found));
    }
    match layout.sep {
        Separator::Dot => scan_flat(root, layout, &mut found)?,
        Separator::Slash => {
            let mut visited = HashSet::new();
            if let Ok(metadata) = fs::metadata(root) {
                visited.insert((metadata.dev(), metadata.ino()));
            }
            scan_nested(root, layout, root, None, 0, &mut visited, &mut found)?;
        }
    }
    Ok(deduplicate(found))
}

fn scan_flat(
    root: &Path,
    layout: Layout,
    found: &mut Vec<FoundFolder>,
) -> Result<(), BackendError> {
    for entry in read_root(root)? {
        let entry = entry.map_err(|error| {
            BackendError::io(
                ErrorScope::Repository,
                format!("cannot list the Maildir root {}", root.display()),
                &error,
            )
        })?;
        let directory = entry.path();
        if !is_maildir(&directory) {
            continue;
        }
        let Ok(name) = entry.file_name().into_string() else {
            log::warn!(
                "skipping Maildir folder {}: its name is not UTF-8",
                directory.display()
            );
            continue;
        };
        if let Some(path) = layout.folder_path(&directory, &name) {
            found.push(FoundFolder {
                path,
                relative: name,
                selectable: true,
            });
        }
    }
    Ok(())
}

/// Maildir++: the root is INBOX when it is a Maildir; every `.name` directory at the
/// root that is a Maildir is the folder `name` with dots as separators.
fn scan_plus_plus(
    root: &Path,
    layout: Layout,
    found: &mut Vec<FoundFolder>,
) -> Result<(), BackendError> {
    if is_maildir(root) {
        found.push(FoundFolder {
            path: FolderPath::inbox(),
            relative: String::new(),
            selectable: true,
        });
    }
    for entry in read_root(root)? {
        let entry = entry.map_err(|error| {
            BackendError::io(
                ErrorScope::Repository,
                format!("cannot list the Maildir root {}", root.display()),
                &error,
            )
        })?;
        let directory = entry.path();
        let name = entry.file_name();
        // `.` and `..` never come from read_dir; other names without the dot are the
        // root's own (cur, new, tmp) or not folders in this layout.
        let Some(dotted) = name.to_str().and_then(|name| name.strip_prefix('.')) else {
            if name.to_str().is_none() && name.as_encoded_bytes().starts_with(b".") {
                log::warn!(
                    "skipping Maildir folder {}: its name is not UTF-8",
                    directory.display()
                );
            }
            continue;
        };
        if !is_maildir(&directory) {
            continue;
        }
        let Some(path) = layout.folder_path(&directory, dotted) else {
            continue;
        };
        if path.is_inbox() {
            log::warn!(
                "skipping Maildir folder {}: with layout = maildir++ the INBOX is the root \
                 directory itself",
                directory.display()
            );
            continue;
        }
        found.push(FoundFolder {
            path,
            relative: format!(".{dotted}"),
            selectable: true,
        });
    }
    Ok(())
}

/// Scans `directory` (`relative` to the root, `None` for the root itself) and returns
/// whether any folder was found in or below it.
fn scan_nested(
    root: &Path,
    layout: Layout,
    directory: &Path,
    relative: Option<&str>,
    depth: usize,
    visited: &mut HashSet<(u64, u64)>,
    found: &mut Vec<FoundFolder>,
) -> Result<bool, BackendError> {
    let entries = match fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if relative.is_none() => {
            return Err(BackendError::io(
                ErrorScope::Repository,
                format!("cannot list the Maildir root {}", root.display()),
                &error,
            ))
        }
        Err(error) => {
            log::warn!("skipping {}: cannot list it: {error}", directory.display());
            return Ok(false);
        }
    };
    let mut any = false;
    for entry in entries.flatten() {
        let child = entry.path();
        let Ok(name) = entry.file_name().into_string() else {
            log::warn!("skipping {}: its name is not UTF-8", child.display());
            continue;
        };
        if MAILDIR_SUBDIRS.contains(&name.as_str()) || (relative.is_none() && name.starts_with('.'))
        {
            continue;
        }
        // Follows symbolic links, as a user may link a folder in; the visited set stops loops.
        let Ok(metadata) = fs::metadata(&child) else {
            continue;
        };
        if !metadata.is_dir() || !visited.insert((metadata.dev(), metadata.ino())) {
            continue;
        }
        let child_relative = match relative {
            Some(parent) => format!("{parent}/{name}"),
            None => name,
        };
        // A directory whose name does not decode is skipped with all below it: the
        // folders there would have no name.
        let Some(path) = layout.folder_path(&child, &child_relative) else {
            continue;
        };
        let selectable = is_maildir(&child);
        let below = if depth + 1 < MAX_DEPTH {
            scan_nested(
                root,
                layout,
                &child,
                Some(&child_relative),
                depth + 1,
                visited,
                found,
            )?
        } else {
            log::warn!(
                "not looking below {}: it is nested too deeply",
                child.display()
            );
            false
        };
        if selectable || below {
            found.push(FoundFolder {
                path,
                relative: child_relative,
                selectable,
            });
            any = true;
        }
    }
    Ok(any)
}

/// Keeps one directory per folder path. Only INBOX spellings can collide; the one
/// [`resolve`] opens wins: exactly `INBOX`, else the first spelling in sorted order. As
/// `INBOX` sorts before every other spelling of it, sorting by name picks that one.
fn deduplicate(mut found: Vec<FoundFolder>) -> Vec<FoundFolder> {
    found.sort_by(|a, b| {
        a.path
            .cmp(&b.path)
            .then_with(|| a.relative.cmp(&b.relative))
    });
    let mut kept: Vec<FoundFolder> = Vec::with_capacity(found.len());
    for folder in found {
        match kept.last() {
            Some(previous) if previous.path == folder.path => log::warn!(
                "ignoring directory {:?}: folder {} is already the directory {:?}",
                folder.relative,
                folder.path,
                previous.relative
            ),
            _ => kept.push(folder),
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOT: Layout = Layout {
        style: Style::OfflineImap,
        sep: Separator::Dot,
        encoding: NameEncoding::ModifiedUtf7,
    };
    const SLASH: Layout = Layout {
        style: Style::OfflineImap,
        sep: Separator::Slash,
        encoding: NameEncoding::ModifiedUtf7,
    };
    const PLUS_PLUS: Layout = Layout {
        style: Style::MaildirPlusPlus,
        sep: Separator::Dot,
        encoding: NameEncoding::ModifiedUtf7,
    };

    fn path(name: &str) -> FolderPath {
        FolderPath::new(name).unwrap()
    }

    fn maildir(root: &Path, relative: &str) {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(root.join(relative).join(sub)).unwrap();
        }
    }

    fn listed(root: &Path, layout: Layout) -> Vec<(String, bool)> {
        let mut list: Vec<_> = scan(root, layout)
            .unwrap()
            .into_iter()
            .map(|f| (f.path.to_string(), f.selectable))
            .collect();
        list.sort();
        list
    }

    #[test]
    fn dot_layout_is_flat_and_refuses_dots_in_names() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        assert_eq!(
            resolve(root, DOT, &path("Work/Projects")).unwrap(),
            "Work.Projects"
        );
        assert_eq!(resolve(root, DOT, &path("INBOX")).unwrap(), "INBOX");
        let error = resolve(root, DOT, &path("Work/v1.2")).unwrap_err();
        assert_eq!(error.scope, ErrorScope::Folder);
        assert!(error.message.contains("\"v1.2\""), "{}", error.message);

        maildir(root, "INBOX");
        maildir(root, "Work.Projects");
        maildir(root, ".Hidden"); // Maildir++: not a folder in OfflineIMAP's layout
        maildir(root, "a..b");
        fs::create_dir(root.join("notmaildir")).unwrap();
        fs::write(root.join("file"), "x").unwrap();
        assert_eq!(
            listed(root, DOT),
            vec![("INBOX".into(), true), ("Work/Projects".into(), true)]
        );
    }

    #[test]
    fn slash_layout_nests_and_reports_containers() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        assert_eq!(
            resolve(root, SLASH, &path("Work/Projects")).unwrap(),
            "Work/Projects"
        );
        assert_eq!(
            resolve(root, SLASH, &path("Work/v1.2")).unwrap(),
            "Work/v1.2"
        );
        for bad in ["Work/cur", "tmp", "A/twinbox-uidvalidity", ".hidden"] {
            assert!(resolve(root, SLASH, &path(bad)).is_err(), "{bad}");
        }

        maildir(root, "INBOX");
        maildir(root, "INBOX/Sub");
        maildir(root, "Work/Projects/Deep");
        maildir(root, "Lists/a.b");
        maildir(root, ".notmuch/xapian");
        fs::create_dir_all(root.join("Empty/Nothing")).unwrap();
        assert_eq!(
            listed(root, SLASH),
            vec![
                ("INBOX".into(), true),
                ("INBOX/Sub".into(), true),
                ("Lists".into(), false),
                ("Lists/a.b".into(), true),
                ("Work".into(), false),
                ("Work/Projects".into(), false),
                ("Work/Projects/Deep".into(), true),
            ]
        );
    }

    #[test]
    fn symlink_loops_end() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        maildir(root, "A");
        std::os::unix::fs::symlink(root.join("A"), root.join("A/loop")).unwrap();
        assert_eq!(listed(root, SLASH), vec![("A".into(), true)]);
    }

    #[test]
    fn inbox_spelled_otherwise_on_disk_is_found_not_duplicated() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        maildir(root, "inbox");
        maildir(root, "inbox.Sub");
        assert_eq!(resolve(root, DOT, &path("INBOX")).unwrap(), "inbox");
        assert_eq!(resolve(root, DOT, &path("INBOX/Sub")).unwrap(), "inbox.Sub");
        assert_eq!(resolve(root, DOT, &path("INBOX/New")).unwrap(), "inbox.New");
        let found = scan(root, DOT).unwrap();
        assert_eq!(found.len(), 2);
        assert!(found
            .iter()
            .any(|f| f.path.as_str() == "INBOX" && f.relative == "inbox"));

        // With both spellings, INBOX wins, in the listing and when opening.
        maildir(root, "INBOX");
        assert_eq!(resolve(root, DOT, &path("INBOX")).unwrap(), "INBOX");
        let found = scan(root, DOT).unwrap();
        let inboxes: Vec<_> = found.iter().filter(|f| f.path.is_inbox()).collect();
        assert_eq!(inboxes.len(), 1);
        assert_eq!(inboxes[0].relative, "INBOX");
    }

    #[test]
    fn maildir_plus_plus_has_inbox_at_the_root_and_dotted_folders() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        assert_eq!(resolve(root, PLUS_PLUS, &path("INBOX")).unwrap(), "");
        assert_eq!(
            resolve(root, PLUS_PLUS, &path("Work/Projects")).unwrap(),
            ".Work.Projects"
        );
        assert_eq!(
            resolve(root, PLUS_PLUS, &path("INBOX/Sub")).unwrap(),
            ".INBOX.Sub"
        );
        assert_eq!(
            resolve(root, PLUS_PLUS, &path("Ärger/Büro")).unwrap(),
            ".&AMQ-rger.B&APw-ro"
        );
        let error = resolve(root, PLUS_PLUS, &path("Work/v1.2")).unwrap_err();
        assert_eq!(error.scope, ErrorScope::Folder);
        assert!(error.message.contains("Maildir++"), "{}", error.message);
        assert!(!error.message.contains("sep = /"), "{}", error.message);

        // Before the root is a Maildir, there is no INBOX.
        maildir(root, ".Sent");
        assert_eq!(listed(root, PLUS_PLUS), vec![("Sent".into(), true)]);

        maildir(root, "");
        maildir(root, ".Work.Projects");
        maildir(root, ".INBOX.Sub");
        maildir(root, ".&AMQ-rger");
        maildir(root, ".INBOX"); // would be a second INBOX: skipped
        maildir(root, "Plain"); // not a folder in this layout
        maildir(root, ".a..b"); // an empty component: no folder path
        fs::create_dir(root.join(".notmuch")).unwrap(); // not a Maildir
        fs::write(root.join("dovecot-uidlist"), "3 V1 N1\n").unwrap();
        assert_eq!(
            listed(root, PLUS_PLUS),
            vec![
                ("INBOX".into(), true),
                ("INBOX/Sub".into(), true),
                ("Sent".into(), true),
                ("Work/Projects".into(), true),
                ("Ärger".into(), true),
            ]
        );
        let found = scan(root, PLUS_PLUS).unwrap();
        let relative = |name: &str| {
            found
                .iter()
                .find(|f| f.path.as_str() == name)
                .map(|f| f.relative.clone())
        };
        assert_eq!(relative("INBOX").as_deref(), Some(""));
        assert_eq!(relative("Work/Projects").as_deref(), Some(".Work.Projects"));
    }

    #[test]
    fn maildir_plus_plus_fmd5_names_are_those_of_sep_dot() {
        assert_eq!(PLUS_PLUS.fmd5_name(""), "INBOX");
        assert_eq!(PLUS_PLUS.fmd5_name(".Work.Projects"), "Work.Projects");
        assert_eq!(DOT.fmd5_name("Work.Projects"), "Work.Projects");
        assert_eq!(SLASH.fmd5_name("Work/Projects"), "Work/Projects");
    }
}
