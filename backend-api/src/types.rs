//! The plain-Rust types that backends and the engine exchange.
//!
//! These never cross the ABI themselves: `ffi` has a `#[repr(C)]` twin of each one and the
//! adapters convert at the boundary, so neither side ever handles an `R*` type.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A message UID within one folder of one repository. Never zero.
pub type Uid = u32;

/// A folder's UIDVALIDITY: while it stays the same, UIDs keep naming the same messages.
pub type UidValidity = u32;

/// Seconds since the Unix epoch (UTC): a message's internal date.
pub type UnixTime = i64;

/// A folder's path inside a repository: UTF-8, components separated by `/`.
///
/// The first component `INBOX` is matched case-insensitively (as IMAP does) and always
/// spelled `INBOX`. Each backend maps paths onto its own naming (Maildir `sep`, IMAP's
/// delimiter and modified UTF-7); the engine only ever sees this form.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FolderPath(String);

/// Why a string is not a valid folder path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid folder name {name:?}: {reason}")]
pub struct InvalidFolderPath {
    pub name: String,
    pub reason: &'static str,
}

impl FolderPath {
    /// Checks and normalizes `name`: no empty, `.` or `..` components, no NUL or
    /// control characters, no leading or trailing `/`.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidFolderPath> {
        let name = name.into();
        let invalid = |reason| InvalidFolderPath {
            name: name.clone(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("the name is empty"));
        }
        if name.chars().any(|c| c.is_control()) {
            return Err(invalid("it contains a control character"));
        }
        let mut components = Vec::new();
        for component in name.split('/') {
            match component {
                "" => {
                    return Err(invalid(
                        "it has an empty component (a leading, trailing or double '/')",
                    ))
                }
                "." | ".." => return Err(invalid("it has a '.' or '..' component")),
                _ => components.push(component),
            }
        }
        if components[0].eq_ignore_ascii_case("INBOX") {
            components[0] = "INBOX";
        }
        Ok(FolderPath(components.join("/")))
    }

    /// The INBOX.
    pub fn inbox() -> Self {
        FolderPath("INBOX".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The components from the top of the hierarchy down.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The enclosing folder, if this one is not at the top.
    pub fn parent(&self) -> Option<FolderPath> {
        self.0
            .rsplit_once('/')
            .map(|(parent, _)| FolderPath(parent.to_owned()))
    }

    pub fn is_inbox(&self) -> bool {
        self.0 == "INBOX"
    }
}

impl TryFrom<String> for FolderPath {
    type Error = InvalidFolderPath;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        FolderPath::new(value)
    }
}

impl From<FolderPath> for String {
    fn from(value: FolderPath) -> Self {
        value.0
    }
}

impl fmt::Display for FolderPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for FolderPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// The five IMAP system flags that every backend can store.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum SystemFlag {
    Seen,
    Answered,
    Flagged,
    Deleted,
    Draft,
}

impl SystemFlag {
    pub const ALL: [SystemFlag; 5] = [
        SystemFlag::Seen,
        SystemFlag::Answered,
        SystemFlag::Flagged,
        SystemFlag::Deleted,
        SystemFlag::Draft,
    ];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The IMAP spelling, e.g. `\Seen`.
    pub fn imap_name(self) -> &'static str {
        match self {
            SystemFlag::Seen => "\\Seen",
            SystemFlag::Answered => "\\Answered",
            SystemFlag::Flagged => "\\Flagged",
            SystemFlag::Deleted => "\\Deleted",
            SystemFlag::Draft => "\\Draft",
        }
    }
}

/// A message's flags: system flags plus keywords (`$Forwarded`, `$Junk`, user words).
///
/// Keywords are compared case-sensitively as stored; backends that cannot store a keyword
/// leave it out of their folder's `permanent_flags`, and the engine never asks them to.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Flags {
    system: u8,
    keywords: BTreeSet<String>,
}

impl Flags {
    pub fn new() -> Self {
        Flags::default()
    }

    pub fn from_system(flags: &[SystemFlag]) -> Self {
        let mut result = Flags::new();
        for flag in flags {
            result.insert(*flag);
        }
        result
    }

    /// Every system flag and no keyword.
    pub fn all_system() -> Self {
        Flags::from_system(&SystemFlag::ALL)
    }

    pub fn contains(&self, flag: SystemFlag) -> bool {
        self.system & flag.bit() != 0
    }

    pub fn insert(&mut self, flag: SystemFlag) {
        self.system |= flag.bit();
    }

    pub fn remove(&mut self, flag: SystemFlag) {
        self.system &= !flag.bit();
    }

    pub fn set(&mut self, flag: SystemFlag, on: bool) {
        if on {
            self.insert(flag)
        } else {
            self.remove(flag)
        }
    }

    pub fn contains_keyword(&self, keyword: &str) -> bool {
        self.keywords.contains(keyword)
    }

    pub fn insert_keyword(&mut self, keyword: impl Into<String>) {
        self.keywords.insert(keyword.into());
    }

    pub fn remove_keyword(&mut self, keyword: &str) {
        self.keywords.remove(keyword);
    }

    pub fn system_flags(&self) -> impl Iterator<Item = SystemFlag> + '_ {
        SystemFlag::ALL.into_iter().filter(|f| self.contains(*f))
    }

    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.keywords.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.system == 0 && self.keywords.is_empty()
    }

    /// Flags in `self` or in `other`.
    pub fn union(&self, other: &Flags) -> Flags {
        Flags {
            system: self.system | other.system,
            keywords: self.keywords.union(&other.keywords).cloned().collect(),
        }
    }

    /// Flags in `self` but not in `other`.
    pub fn difference(&self, other: &Flags) -> Flags {
        Flags {
            system: self.system & !other.system,
            keywords: self.keywords.difference(&other.keywords).cloned().collect(),
        }
    }

    /// Flags in both.
    pub fn intersection(&self, other: &Flags) -> Flags {
        Flags {
            system: self.system & other.system,
            keywords: self
                .keywords
                .intersection(&other.keywords)
                .cloned()
                .collect(),
        }
    }

    pub(crate) fn system_bits(&self) -> u8 {
        self.system
    }

    pub(crate) fn from_parts(system: u8, keywords: impl IntoIterator<Item = String>) -> Self {
        Flags {
            system: system & 0x1f,
            keywords: keywords.into_iter().collect(),
        }
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Flags {
    /// IMAP style: `(\Seen \Flagged $Forwarded)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .system_flags()
            .map(|flag| flag.imap_name())
            .chain(self.keywords.iter().map(String::as_str))
            .collect();
        write!(f, "({})", names.join(" "))
    }
}

/// Which flags a folder can store, as IMAP's PERMANENTFLAGS says it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermanentFlags {
    /// Flags (system flags and known keywords) the folder stores.
    pub flags: Flags,
    /// Whether any other keyword can be stored too (IMAP's `\*`).
    pub any_keyword: bool,
}

impl PermanentFlags {
    /// All system flags and any keyword.
    pub fn everything() -> Self {
        PermanentFlags {
            flags: Flags::all_system(),
            any_keyword: true,
        }
    }

    /// The part of `flags` this folder can store.
    pub fn storable(&self, flags: &Flags) -> Flags {
        let mut result = flags.intersection(&self.flags);
        if self.any_keyword {
            for keyword in flags.keywords() {
                result.insert_keyword(keyword);
            }
        }
        result
    }
}

/// How lines end in the messages a repository stores and returns.
///
/// Messages cross the interface in the repository's native form; the engine converts
/// only when the two sides of a pair differ, and only line endings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LineEnding {
    /// Bare `\n`, as in Maildir, mbox and MH files.
    Lf,
    /// `\r\n`, as on the IMAP wire.
    CrLf,
}

/// What the engine needs to know about a repository as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryInfo {
    pub line_ending: LineEnding,
}

/// One folder as a repository lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderInfo {
    pub path: FolderPath,
    /// False for a pure container that holds no messages (IMAP `\Noselect`).
    pub selectable: bool,
}

/// A folder's state when it was opened or last listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderStatus {
    pub uid_validity: UidValidity,
    /// Greater than every UID in the folder; the next message appended gets a UID at or
    /// above it.
    pub uid_next: Uid,
    /// IMAP CONDSTORE's HIGHESTMODSEQ, where the backend keeps one.
    pub highest_modseq: Option<u64>,
    /// How many messages the folder holds (IMAP's EXISTS). The engine checks the listing
    /// that follows against it: a listing with fewer messages may have left some out, and
    /// a message left out would read as deleted, so the folder is not synced.
    pub message_count: u32,
    pub permanent_flags: PermanentFlags,
}

/// One message as a folder lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageInfo {
    pub uid: Uid,
    pub flags: Flags,
    /// Size in bytes of the message in the repository's native line endings.
    pub size: u64,
    pub modseq: Option<u64>,
}

/// What changed in a folder since a MODSEQ: the answer of [`crate::Folder::list_changes`].
///
/// Together with what the caller knew of the folder at that MODSEQ, it gives the folder's
/// full listing: the messages known then, minus the vanished ones, with the changed ones
/// replaced or added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FolderChanges {
    /// Every message now in the folder that was added, or whose flags changed, after the
    /// MODSEQ, with its current flags and size, in strictly ascending UID order. It may hold
    /// unchanged messages too (harmless: they are listed as they are).
    pub changed: Vec<MessageInfo>,
    /// The UIDs of the messages expunged after the MODSEQ, in strictly ascending order, none
    /// of them in `changed`. It may also hold UIDs expunged earlier or never used (IMAP
    /// QRESYNC allows both). `None` when the backend cannot tell which were expunged (IMAP
    /// CONDSTORE without QRESYNC): the caller must then find out by other means, such as
    /// counting.
    pub vanished: Option<Vec<Uid>>,
}

/// A message's bytes: an `abi_stable` `RVec`, so that a body crosses the plugin boundary
/// by moving its buffer, never by a copy, whichever library allocated it (turning an
/// `RVec` allocated by another library into a `Vec` copies it). Make one from a `Vec` with
/// `.into()` (no copy); read it as a `&[u8]`; a CRLF to LF conversion shrinks it in place
/// (`backend_kit::line_endings`).
pub type Body = abi_stable::std_types::RVec<u8>;

/// What [`crate::Folder::wait_for_change`] saw (interface 1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FolderChange {
    /// The folder may have changed: sync it.
    Changed,
    /// Nothing happened before the timeout.
    TimedOut,
    /// This backend (or a plugin built for an interface before 1.2) cannot wait for
    /// changes; poll instead.
    Unsupported,
}

/// A message's content as fetched.
#[derive(Clone, PartialEq, Eq)]
pub struct FetchedMessage {
    pub uid: Uid,
    /// The message exactly as stored, in the repository's native line endings.
    pub bytes: Body,
    /// The internal date (IMAP INTERNALDATE; a file's mtime), where known.
    pub internal_date: Option<UnixTime>,
}

impl fmt::Debug for FetchedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchedMessage")
            .field("uid", &self.uid)
            .field("len", &self.bytes.len())
            .field("internal_date", &self.internal_date)
            .finish()
    }
}

/// A message to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    /// The content in the destination repository's native line endings.
    pub bytes: Body,
    pub flags: Flags,
    pub internal_date: Option<UnixTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_paths_are_normalized_and_checked() {
        assert_eq!(FolderPath::new("inbox/Sub").unwrap().as_str(), "INBOX/Sub");
        assert_eq!(
            FolderPath::new("Work/Ärger").unwrap().as_str(),
            "Work/Ärger"
        );
        assert!(FolderPath::new("").is_err());
        assert!(FolderPath::new("/abs").is_err());
        assert!(FolderPath::new("a//b").is_err());
        assert!(FolderPath::new("a/../b").is_err());
        assert!(FolderPath::new("a\0b").is_err());
        assert_eq!(
            FolderPath::new("a/b/c").unwrap().parent(),
            Some(FolderPath::new("a/b").unwrap())
        );
    }

    #[test]
    fn flag_set_algebra() {
        let mut a = Flags::from_system(&[SystemFlag::Seen, SystemFlag::Flagged]);
        a.insert_keyword("$Forwarded");
        let b = Flags::from_system(&[SystemFlag::Seen]);
        assert_eq!(a.difference(&b).to_string(), "(\\Flagged $Forwarded)");
        assert_eq!(a.intersection(&b), b);
        let permanent = PermanentFlags {
            flags: Flags::all_system(),
            any_keyword: false,
        };
        assert!(!permanent.storable(&a).contains_keyword("$Forwarded"));
    }
}
