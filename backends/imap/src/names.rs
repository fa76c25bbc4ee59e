//! Folder paths (UTF-8, `/`) to and from mailbox names on the wire (modified UTF-7, the
//! server's hierarchy delimiter, under the `reference` prefix).
//!
//! The mapping must be injective both ways: two server mailboxes must never become one
//! folder of ours. So a server name that cannot be written as a [`FolderPath`] is refused
//! (its folder is skipped, with a warning naming it) instead of being bent into shape:
//! invalid modified UTF-7, empty components, `.` or `..`, control characters, or a `/`
//! inside a component when the server's delimiter is something else.

use backend_api::FolderPath;
use backend_kit::mutf7;

/// How one server names its mailboxes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NameMap {
    /// The hierarchy delimiter from LIST; `None` for a flat server.
    delimiter: Option<char>,
    /// The `reference` option (UTF-8), without a trailing delimiter.
    reference: Option<String>,
}

impl NameMap {
    pub fn new(delimiter: Option<char>, reference: Option<&str>) -> NameMap {
        let reference = reference
            .map(|r| match delimiter {
                Some(d) => r.trim_end_matches(d),
                None => r,
            })
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        NameMap {
            delimiter,
            reference,
        }
    }

    /// The LIST pattern for every mailbox of ours (encoded, unquoted).
    pub fn list_pattern(&self) -> String {
        match (&self.reference, self.delimiter) {
            (Some(reference), Some(d)) => format!("{}{d}*", mutf7::encode(reference)),
            _ => "*".to_owned(),
        }
    }

    /// The encoded mailbox name of `path`, or why the server cannot hold it.
    pub fn encode(&self, path: &FolderPath) -> Result<String, String> {
        let components: Vec<&str> = path.components().collect();
        let joined = match self.delimiter {
            None if components.len() > 1 => {
                return Err(format!(
                    "folder {path} is nested, but the server has no folder hierarchy"
                ))
            }
            None => components.concat(),
            Some(d) => {
                if d != '/' {
                    if let Some(component) = components.iter().find(|c| c.contains(d)) {
                        return Err(format!(
                            "folder {path}: the name {component:?} contains {d:?}, the server's \
                             hierarchy delimiter, so the server would read it as nested folders"
                        ));
                    }
                }
                components.join(&d.to_string())
            }
        };
        let full = match (&self.reference, self.delimiter) {
            (Some(reference), Some(d)) => format!("{reference}{d}{joined}"),
            (Some(reference), None) => format!("{reference}{joined}"),
            (None, _) => joined,
        };
        Ok(mutf7::encode(&full))
    }

    /// The folder path of a mailbox the server listed: `Ok(None)` when it lies outside
    /// `reference` (not ours), `Err` with the reason when it cannot be a folder path.
    pub fn decode(&self, wire: &[u8]) -> Result<Option<FolderPath>, String> {
        let wire = std::str::from_utf8(wire)
            .map_err(|_| "the name is not ASCII (modified UTF-7 expected)".to_owned())?;
        let name = mutf7::decode(wire).map_err(|e| e.to_string())?;
        let relative = match &self.reference {
            None => name.as_str(),
            Some(reference) => {
                let prefix = match self.delimiter {
                    Some(d) => format!("{reference}{d}"),
                    None => reference.clone(),
                };
                let matches = name.len() > prefix.len()
                    && name.is_char_boundary(prefix.len())
                    && if reference.eq_ignore_ascii_case("INBOX") {
                        name[..prefix.len()].eq_ignore_ascii_case(&prefix)
                    } else {
                        name.starts_with(&prefix)
                    };
                if !matches {
                    return Ok(None);
                }
                &name[prefix.len()..]
            }
        };
        let components: Vec<&str> = match self.delimiter {
            Some(d) => relative.split(d).collect(),
            None => vec![relative],
        };
        for component in &components {
            if component.is_empty() {
                return Err(
                    "it has an empty level (a leading, trailing or doubled delimiter)".into(),
                );
            }
            if *component == "." || *component == ".." {
                return Err("it has a '.' or '..' level".into());
            }
            if component.chars().any(char::is_control) {
                return Err("it contains a control character".into());
            }
            if component.contains('/') {
                return Err(format!(
                    "the level {component:?} contains '/', which twinbox uses between folder levels"
                ));
            }
        }
        FolderPath::new(components.join("/"))
            .map(Some)
            .map_err(|e| e.reason.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: &str) -> FolderPath {
        FolderPath::new(name).unwrap()
    }

    #[test]
    fn slash_delimiter() {
        let map = NameMap::new(Some('/'), None);
        assert_eq!(map.encode(&path("Work/Ärger")).unwrap(), "Work/&AMQ-rger");
        assert_eq!(map.encode(&path("inbox")).unwrap(), "INBOX");
        assert_eq!(map.encode(&path("INBOX/Sub")).unwrap(), "INBOX/Sub");
        assert_eq!(
            map.decode(b"Work/&AMQ-rger").unwrap(),
            Some(path("Work/Ärger"))
        );
        assert_eq!(map.decode(b"inbox").unwrap(), Some(FolderPath::inbox()));
        assert_eq!(map.decode(b"Inbox/x").unwrap(), Some(path("INBOX/x")));
        assert_eq!(map.list_pattern(), "*");
        // A component may hold a '.' when the delimiter is '/'.
        assert_eq!(map.decode(b"a.b/c").unwrap(), Some(path("a.b/c")));
        assert_eq!(map.encode(&path("a.b/c")).unwrap(), "a.b/c");
    }

    #[test]
    fn dot_delimiter() {
        let map = NameMap::new(Some('.'), None);
        assert_eq!(map.encode(&path("Work/Projects")).unwrap(), "Work.Projects");
        assert_eq!(
            map.decode(b"Work.Projects").unwrap(),
            Some(path("Work/Projects"))
        );
        assert_eq!(map.encode(&path("Tom & Jerry")).unwrap(), "Tom &- Jerry");
        // A '.' inside a level cannot be sent: the server would read two levels.
        assert!(map
            .encode(&path("v1.2"))
            .unwrap_err()
            .contains("hierarchy delimiter"));
    }

    #[test]
    fn refused_server_names() {
        let dot = NameMap::new(Some('.'), None);
        for (wire, reason) in [
            (&b"a/b"[..], "contains '/'"),
            (b"..", "empty level"),
            (b"a..b", "empty level"),
            (b".hidden", "empty level"),
            (b"trailing.", "empty level"),
            (b"&AAk-tab", "control character"),
            (b"&AMQ", "not valid modified UTF-7"),
            (b"\xc3\x84", "printable US-ASCII"),
            (b"\xff", "not ASCII"),
        ] {
            let error = dot.decode(wire).unwrap_err();
            assert!(
                error.contains(reason),
                "{:?}: {error}",
                String::from_utf8_lossy(wire)
            );
        }
        let slash = NameMap::new(Some('/'), None);
        for wire in [&b"a/../b"[..], b"/abs", b"a//b", b"./x", b"a\x00"] {
            assert!(
                slash.decode(wire).is_err(),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn flat_server() {
        let map = NameMap::new(None, None);
        assert_eq!(map.encode(&path("Archive")).unwrap(), "Archive");
        assert!(map
            .encode(&path("a/b"))
            .unwrap_err()
            .contains("no folder hierarchy"));
        assert_eq!(map.decode(b"a.b").unwrap(), Some(path("a.b")));
        assert!(map.decode(b"a/b").is_err());
    }

    #[test]
    fn reference_prefix_is_added_and_stripped() {
        let map = NameMap::new(Some('.'), Some("INBOX."));
        assert_eq!(map.list_pattern(), "INBOX.*");
        assert_eq!(map.encode(&path("Sent")).unwrap(), "INBOX.Sent");
        assert_eq!(map.encode(&path("a/b")).unwrap(), "INBOX.a.b");
        assert_eq!(map.decode(b"INBOX.Sent").unwrap(), Some(path("Sent")));
        assert_eq!(map.decode(b"inbox.Sent").unwrap(), Some(path("Sent")));
        assert_eq!(map.decode(b"INBOX.a.b").unwrap(), Some(path("a/b")));
        // The prefix itself and names outside it are not ours.
        assert_eq!(map.decode(b"INBOX").unwrap(), None);
        assert_eq!(map.decode(b"Other").unwrap(), None);

        let map = NameMap::new(Some('/'), Some("Mail/Ärger"));
        assert_eq!(map.list_pattern(), "Mail/&AMQ-rger/*");
        assert_eq!(map.encode(&path("x")).unwrap(), "Mail/&AMQ-rger/x");
        assert_eq!(
            map.decode(b"Mail/&AMQ-rger/x/y").unwrap(),
            Some(path("x/y"))
        );
        assert_eq!(map.decode(b"mail/&AMQ-rger/x").unwrap(), None);
    }
}
