//! OfflineIMAP's LocalStatus: per folder, the remote UIDs it synced and the flags they had
//! then (Maildir letters), the common ancestor of its three-way merge, as twinbox's pairs
//! are.
//!
//! Two forms exist. `LocalStatus-sqlite/<folder>` is an SQLite database with a table
//! `status(id, flags, mtime, labels)` (`id` the remote UID; `mtime` and `labels` only
//! matter to Gmail labels). The older `LocalStatus/<folder>` is a text file whose first
//! line is `OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT <n>`, followed by
//! one line per message: `uid|flags|mtime|labels` in format 2, `uid:flags` in format 1.
//! OfflineIMAP reads the SQLite form and falls back on the text form when the database
//! does not exist; so does twinbox.
//!
//! Both are only ever read here, the database with SQLite's read-only mode, so an import
//! leaves OfflineIMAP able to run again as before.

use std::path::{Path, PathBuf};

use backend_api::{Flags, SystemFlag, Uid};
use rusqlite::{Connection, OpenFlags};

use super::metadata::{parse_uid, read_optional};
use super::ImportError;

/// The first line of a text LocalStatus file, before its format number.
const MAGIC: &str = "OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT ";

/// One message OfflineIMAP synced: its remote UID and the flags both sides had then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusEntry {
    pub remote_uid: Uid,
    pub flags: Flags,
}

/// A folder's LocalStatus as read, with the file it came from.
#[derive(Clone, Debug)]
pub struct FolderStatusFile {
    pub path: PathBuf,
    pub entries: Vec<StatusEntry>,
}

/// The folder's LocalStatus in `account_dir` (the SQLite form first, as OfflineIMAP
/// does), or `None` when OfflineIMAP has none for it.
pub fn read(account_dir: &Path, file_name: &str) -> Result<Option<FolderStatusFile>, ImportError> {
    let sqlite = account_dir.join("LocalStatus-sqlite").join(file_name);
    if sqlite.exists() {
        let entries = read_sqlite(&sqlite)?;
        return Ok(Some(FolderStatusFile {
            path: sqlite,
            entries,
        }));
    }
    let plain = account_dir.join("LocalStatus").join(file_name);
    match read_optional(&plain)? {
        Some(text) => Ok(Some(FolderStatusFile {
            entries: parse_plain(&plain, &text)?,
            path: plain,
        })),
        None => Ok(None),
    }
}

/// The flags of OfflineIMAP's Maildir letters. Other letters (the lowercase ones of a
/// `keywordmap`) are left out: twinbox's Maildir does not store them either.
pub fn flags_of_letters(letters: &str) -> Flags {
    let mut flags = Flags::new();
    for letter in letters.chars() {
        match letter {
            'D' => flags.insert(SystemFlag::Draft),
            'F' => flags.insert(SystemFlag::Flagged),
            'R' => flags.insert(SystemFlag::Answered),
            'S' => flags.insert(SystemFlag::Seen),
            'T' => flags.insert(SystemFlag::Deleted),
            'P' => flags.insert_keyword("$Forwarded"),
            _ => {}
        }
    }
    flags
}

fn read_sqlite(path: &Path) -> Result<Vec<StatusEntry>, ImportError> {
    let damaged = |error: rusqlite::Error| {
        ImportError::damaged(
            path,
            &format!("it is not a LocalStatus database OfflineIMAP can read ({error})"),
        )
    };
    // Read-only and without creating anything: OfflineIMAP keeps using the file.
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(damaged)?;
    let mut statement = connection
        .prepare("SELECT id, flags FROM status ORDER BY id")
        .map_err(damaged)?;
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Option<String>>(1)?))
        })
        .map_err(damaged)?;
    let mut entries = Vec::new();
    for row in rows {
        let (id, letters) = row.map_err(damaged)?;
        let remote_uid = Uid::try_from(id)
            .ok()
            .filter(|uid| *uid != 0)
            .ok_or_else(|| {
                ImportError::damaged(
                    path,
                    &format!("it holds the UID {id}, which no IMAP UID is"),
                )
            })?;
        entries.push(StatusEntry {
            remote_uid,
            flags: flags_of_letters(letters.as_deref().unwrap_or("")),
        });
    }
    Ok(entries)
}

fn parse_plain(path: &Path, text: &str) -> Result<Vec<StatusEntry>, ImportError> {
    let mut lines = text.lines().enumerate();
    let Some((_, first)) = lines.next() else {
        // OfflineIMAP itself reads an empty file as an empty folder (with a warning).
        return Ok(Vec::new());
    };
    let format = first.trim().strip_prefix(MAGIC).map(str::trim);
    let split: fn(&str) -> Option<(&str, &str)> = match format {
        Some("2") => |line| {
            let mut fields = line.split('|');
            let (uid, flags) = (fields.next()?, fields.next()?);
            // mtime and labels: Gmail's, not needed here, but a line must have them.
            fields.next()?;
            fields.next()?;
            fields.next().is_none().then_some((uid, flags))
        },
        Some("1") => |line| line.split_once(':'),
        _ => {
            return Err(ImportError::damaged(
                path,
                &format!(
                    "its first line is {first:?}, not OfflineIMAP's \"{MAGIC}1\" or \"{MAGIC}2\""
                ),
            ))
        }
    };
    let mut entries = Vec::new();
    for (index, line) in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let entry = split(line).and_then(|(uid, letters)| {
            Some(StatusEntry {
                remote_uid: parse_uid(uid)?,
                flags: flags_of_letters(letters),
            })
        });
        match entry {
            Some(entry) => entries.push(entry),
            None => {
                return Err(ImportError::damaged(
                    path,
                    &format!(
                        "line {} is {line:?}, which OfflineIMAP would not read",
                        index + 1
                    ),
                ))
            }
        }
    }
    entries.sort_by_key(|entry| entry.remote_uid);
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uid: Uid, letters: &str) -> StatusEntry {
        StatusEntry {
            remote_uid: uid,
            flags: flags_of_letters(letters),
        }
    }

    #[test]
    fn letters_are_maildir_flags() {
        let flags = flags_of_letters("DFPRSTa");
        assert!(SystemFlag::ALL.iter().all(|flag| flags.contains(*flag)));
        assert!(flags.contains_keyword("$Forwarded"));
        assert_eq!(flags.keywords().count(), 1);
        assert!(flags_of_letters("").is_empty());
    }

    #[test]
    fn plain_files_of_both_formats_are_read() {
        let file = Path::new("/m/LocalStatus/INBOX");
        let v2 = format!("{MAGIC}2\n3|FS|0|\n1||1700000000|a, b\n\n");
        assert_eq!(
            parse_plain(file, &v2).unwrap(),
            vec![entry(1, ""), entry(3, "FS")]
        );
        let v1 = format!("{MAGIC}1\n5:RS\n");
        assert_eq!(parse_plain(file, &v1).unwrap(), vec![entry(5, "RS")]);
        assert_eq!(parse_plain(file, "").unwrap(), vec![]);
    }

    #[test]
    fn damaged_plain_files_are_named_with_the_line() {
        let file = Path::new("/m/LocalStatus/INBOX");
        for (text, what) in [
            ("garbage\n1|S|0|\n".to_owned(), "first line"),
            (format!("{MAGIC}3\n"), "first line"),
            (format!("{MAGIC}2\n1|S|0|\n2|S\n"), "line 3"),
            (format!("{MAGIC}2\nx|S|0|\n"), "line 2"),
            (format!("{MAGIC}2\n0|S|0|\n"), "line 2"),
            (format!("{MAGIC}1\n7\n"), "line 2"),
        ] {
            let error = parse_plain(file, &text).unwrap_err().to_string();
            assert!(error.starts_with("/m/LocalStatus/INBOX: "), "{error}");
            assert!(error.contains(what), "{error}");
        }
    }

    fn sqlite_status(path: &Path, rows: &[(i64, &str)]) {
        let connection = Connection::open(path).unwrap();
        // The schema OfflineIMAP creates (format 2).
        connection
            .execute_batch(
                "CREATE TABLE metadata (key VARCHAR(50) PRIMARY KEY, value VARCHAR(128));
                 INSERT INTO metadata VALUES('db_version', '2');
                 CREATE TABLE status (id INTEGER PRIMARY KEY, flags VARCHAR(50), mtime INTEGER, labels VARCHAR(256));",
            )
            .unwrap();
        for (id, flags) in rows {
            connection
                .execute(
                    "INSERT INTO status (id, flags, mtime, labels) VALUES (?1, ?2, 0, '')",
                    rusqlite::params![id, flags],
                )
                .unwrap();
        }
    }

    #[test]
    fn sqlite_status_is_read_and_preferred_and_left_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite_dir = dir.path().join("LocalStatus-sqlite");
        let plain_dir = dir.path().join("LocalStatus");
        std::fs::create_dir_all(&sqlite_dir).unwrap();
        std::fs::create_dir_all(&plain_dir).unwrap();
        assert!(read(dir.path(), "INBOX").unwrap().is_none());

        std::fs::write(plain_dir.join("INBOX"), format!("{MAGIC}2\n9|S|0|\n")).unwrap();
        let plain = read(dir.path(), "INBOX").unwrap().unwrap();
        assert_eq!(plain.entries, vec![entry(9, "S")]);
        assert_eq!(plain.path, plain_dir.join("INBOX"));

        sqlite_status(&sqlite_dir.join("INBOX"), &[(4, "FS"), (2, "")]);
        let before = std::fs::read(sqlite_dir.join("INBOX")).unwrap();
        let status = read(dir.path(), "INBOX").unwrap().unwrap();
        assert_eq!(status.entries, vec![entry(2, ""), entry(4, "FS")]);
        assert_eq!(status.path, sqlite_dir.join("INBOX"));
        assert_eq!(std::fs::read(sqlite_dir.join("INBOX")).unwrap(), before);
        let leftovers: Vec<_> = std::fs::read_dir(&sqlite_dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no journal or other file is created");
    }

    #[test]
    fn a_damaged_database_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite_dir = dir.path().join("LocalStatus-sqlite");
        std::fs::create_dir_all(&sqlite_dir).unwrap();
        std::fs::write(sqlite_dir.join("INBOX"), "this is no database, just text").unwrap();
        let error = read(dir.path(), "INBOX").unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}: ", sqlite_dir.join("INBOX").display())),
            "{error}"
        );

        let other = sqlite_dir.join("Other");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE unrelated (x INTEGER);")
            .unwrap();
        let error = read(dir.path(), "Other").unwrap_err().to_string();
        assert!(error.contains("not a LocalStatus database"), "{error}");

        sqlite_status(&sqlite_dir.join("Negative"), &[(-1, "S")]);
        let error = read(dir.path(), "Negative").unwrap_err().to_string();
        assert!(error.contains("UID -1"), "{error}");
    }
}
