//! The sidecar index of one mbox: its UIDVALIDITY, next UID, and per message its UID,
//! where its record is, what it is (its fingerprint) and how to give back its exact bytes.
//!
//! It lives beside the mbox as a hidden file, `.NAME.twinbox-index` (mutt's browser and
//! Thunderbird both skip dot files). It also records the mbox's *stamp* (inode, size,
//! modification and change times) as it was when the index was written: while the stamp
//! still matches, the offsets are trusted without reading the mbox; when it does not, a
//! mail client changed the file and the folder re-indexes it by content.
//!
//! The file is text, one line per message, and ends with the MD5 of everything before
//! that line: a torn, truncated or hand-edited index is recognised as damaged (and the
//! folder then takes a new UIDVALIDITY rather than trust its UIDs). It is written to a
//! temporary file, fsynced and renamed over the old one, so it is always whole.
//!
//! ```text
//! twinbox-mbox-index 1
//! uidvalidity 1700000000
//! uidnext 3
//! mbox <inode> <size> <mtime s.ns> <ctime s.ns>
//! m <uid> <offset> <length> <size> <date|-> <flags|-> <md5 of core> <trailing> <envelope|-> <removed|->
//! p ...   (a pending append: reserved, maybe not written yet; see the folder)
//! end <md5>
//! ```

use std::collections::HashSet;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use backend_api::{Flags, SystemFlag, Uid, UidValidity, UnixTime};
use backend_kit::durable::replace_file;

const MAGIC: &str = "twinbox-mbox-index 1";

/// Enough of a file's `stat` to tell whether anyone wrote it since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub inode: u64,
    pub size: u64,
    pub mtime: (i64, i64),
    /// Set by the kernel on every change; no program can set it back.
    pub ctime: (i64, i64),
}

impl Stamp {
    pub fn of(metadata: &Metadata) -> Stamp {
        Stamp {
            inode: metadata.ino(),
            size: metadata.size(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }

    fn render(&self) -> String {
        format!(
            "{} {} {}.{} {}.{}",
            self.inode, self.size, self.mtime.0, self.mtime.1, self.ctime.0, self.ctime.1
        )
    }

    fn parse(words: &[&str]) -> Option<Stamp> {
        let [inode, size, mtime, ctime] = words else {
            return None;
        };
        let time = |text: &str| -> Option<(i64, i64)> {
            let (seconds, nanos) = text.split_once('.')?;
            Some((seconds.parse().ok()?, nanos.parse().ok()?))
        };
        Some(Stamp {
            inode: inode.parse().ok()?,
            size: size.parse().ok()?,
            mtime: time(mtime)?,
            ctime: time(ctime)?,
        })
    }
}

/// One message of the mbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub uid: Uid,
    /// Where its record (`From ` line to the next record) starts in the mbox, and its
    /// length.
    pub offset: u64,
    pub len: u64,
    /// The length of the message as fetched (the size the folder reports).
    pub size: u64,
    /// Its internal date: the one it was appended with, or its `From ` line's.
    pub date: Option<UnixTime>,
    /// Its flags as its record says them.
    pub flags: Flags,
    /// The MD5 (hex) of its core, see `format::Normalized`.
    pub fingerprint: String,
    /// How many newlines followed the core in the message.
    pub trailing: u32,
    /// The message's own first line when it was a `From ` line (written as the record's
    /// `From ` line, so it is not part of the core).
    pub envelope: Option<Vec<u8>>,
    /// The format fields taken out of the message: (offset, bytes).
    pub removed: Vec<(u64, Vec<u8>)>,
}

/// The whole index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Index {
    pub uid_validity: UidValidity,
    /// Greater than every UID ever handed out under this UIDVALIDITY.
    pub uid_next: Uid,
    /// The mbox as the entries describe it; `None` before it was first read.
    pub stamp: Option<Stamp>,
    /// The messages, in file order.
    pub entries: Vec<Entry>,
    /// Appends announced but not yet confirmed, in file order.
    pub pending: Vec<Entry>,
}

impl Index {
    pub fn new(uid_validity: UidValidity) -> Index {
        Index {
            uid_validity,
            uid_next: 1,
            stamp: None,
            entries: Vec::new(),
            pending: Vec::new(),
        }
    }

    fn render(&self) -> String {
        let mut text = format!(
            "{MAGIC}\nuidvalidity {}\nuidnext {}\nmbox {}\n",
            self.uid_validity,
            self.uid_next,
            self.stamp
                .map_or_else(|| "-".to_owned(), |stamp| stamp.render())
        );
        for (kind, entries) in [("m", &self.entries), ("p", &self.pending)] {
            for entry in entries {
                text.push_str(kind);
                text.push(' ');
                text.push_str(&render_entry(entry));
                text.push('\n');
            }
        }
        let checksum = format!("{:x}", md5::compute(text.as_bytes()));
        text.push_str("end ");
        text.push_str(&checksum);
        text.push('\n');
        text
    }
}

const FLAG_LETTERS: [(SystemFlag, char); 5] = [
    (SystemFlag::Seen, 'S'),
    (SystemFlag::Answered, 'A'),
    (SystemFlag::Flagged, 'F'),
    (SystemFlag::Deleted, 'D'),
    (SystemFlag::Draft, 'T'),
];

fn render_flags(flags: &Flags) -> String {
    let letters: String = FLAG_LETTERS
        .iter()
        .filter(|(flag, _)| flags.contains(*flag))
        .map(|(_, letter)| *letter)
        .collect();
    if letters.is_empty() {
        "-".to_owned()
    } else {
        letters
    }
}

fn parse_flags(text: &str) -> Option<Flags> {
    let mut flags = Flags::new();
    if text == "-" {
        return Some(flags);
    }
    for letter in text.chars() {
        let (flag, _) = FLAG_LETTERS.iter().find(|(_, l)| *l == letter)?;
        flags.insert(*flag);
    }
    Some(flags)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn render_entry(entry: &Entry) -> String {
    let removed = if entry.removed.is_empty() {
        "-".to_owned()
    } else {
        entry
            .removed
            .iter()
            .map(|(offset, bytes)| format!("{offset}:{}", hex(bytes)))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "{} {} {} {} {} {} {} {} {} {}",
        entry.uid,
        entry.offset,
        entry.len,
        entry.size,
        entry.date.map_or_else(|| "-".to_owned(), |d| d.to_string()),
        render_flags(&entry.flags),
        entry.fingerprint,
        entry.trailing,
        entry
            .envelope
            .as_deref()
            .map_or_else(|| "-".to_owned(), hex),
        removed
    )
}

fn parse_entry(words: &[&str]) -> Option<Entry> {
    let [uid, offset, len, size, date, flags, fingerprint, trailing, envelope, removed] = words
    else {
        return None;
    };
    if fingerprint.len() != 32 || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let removed = if *removed == "-" {
        Vec::new()
    } else {
        removed
            .split(',')
            .map(|part| {
                let (offset, bytes) = part.split_once(':')?;
                let bytes = unhex(bytes)?;
                (!bytes.is_empty()).then_some(())?;
                Some((offset.parse().ok()?, bytes))
            })
            .collect::<Option<Vec<_>>>()?
    };
    Some(Entry {
        uid: uid.parse().ok().filter(|&uid| uid != 0)?,
        offset: offset.parse().ok()?,
        len: len.parse().ok()?,
        size: size.parse().ok()?,
        date: if *date == "-" {
            None
        } else {
            Some(date.parse().ok()?)
        },
        flags: parse_flags(flags)?,
        fingerprint: fingerprint.to_ascii_lowercase(),
        trailing: trailing.parse().ok()?,
        envelope: if *envelope == "-" {
            None
        } else {
            Some(unhex(envelope).filter(|line| !line.is_empty())?)
        },
        removed,
    })
}

/// What reading an index found.
#[derive(Debug)]
pub(crate) enum Loaded {
    /// There is none: the folder is new to twinbox.
    Missing,
    /// There is one, but it cannot be trusted. `uid_validity` is what it seemed to say,
    /// so that the new one can be made greater.
    Damaged {
        reason: String,
        uid_validity: Option<UidValidity>,
    },
    Valid(Index),
}

fn parse(text: &str) -> Result<Index, String> {
    let body_end = text
        .trim_end_matches('\n')
        .rfind('\n')
        .map(|i| i + 1)
        .ok_or("it is too short")?;
    let (body, last) = text.split_at(body_end);
    let checksum = last
        .strip_suffix('\n')
        .and_then(|line| line.strip_prefix("end "))
        .ok_or("its last line is not its checksum (was it cut short?)")?;
    if checksum != format!("{:x}", md5::compute(body.as_bytes())) {
        return Err("its checksum does not match its content".to_owned());
    }
    let mut lines = body.lines();
    if lines.next() != Some(MAGIC) {
        return Err(format!("it does not start with {MAGIC:?}"));
    }
    let mut value = |name: &str| -> Result<Vec<&str>, String> {
        let line = lines.next().unwrap_or("");
        let mut words = line.split(' ');
        if words.next() != Some(name) {
            return Err(format!("its line {line:?} should start with {name:?}"));
        }
        Ok(words.collect())
    };
    let uid_validity = match value("uidvalidity")?.as_slice() {
        [number] => number.parse::<UidValidity>().ok().filter(|&v| v != 0),
        _ => None,
    }
    .ok_or("its UIDVALIDITY is not a positive number")?;
    let uid_next = match value("uidnext")?.as_slice() {
        [number] => number.parse::<Uid>().ok().filter(|&v| v != 0),
        _ => None,
    }
    .ok_or("its next UID is not a positive number")?;
    let stamp = match value("mbox")?.as_slice() {
        ["-"] => None,
        words => Some(Stamp::parse(words).ok_or("its mbox line does not parse")?),
    };
    let mut index = Index {
        uid_validity,
        uid_next,
        stamp,
        entries: Vec::new(),
        pending: Vec::new(),
    };
    let mut seen = HashSet::new();
    for line in lines {
        let words: Vec<&str> = line.split(' ').collect();
        let (list, rest) = match words.split_first() {
            Some((&"m", rest)) => (&mut index.entries, rest),
            Some((&"p", rest)) => (&mut index.pending, rest),
            _ => return Err(format!("its line {line:?} is not a message")),
        };
        let entry = parse_entry(rest).ok_or_else(|| format!("its line {line:?} does not parse"))?;
        if entry.uid >= uid_next || !seen.insert(entry.uid) {
            return Err(format!(
                "UID {} is listed twice or not below the next UID {uid_next}",
                entry.uid
            ));
        }
        list.push(entry);
    }
    Ok(index)
}

/// The UIDVALIDITY a damaged index seems to hold, if any line says one.
fn salvage_uid_validity(text: &str) -> Option<UidValidity> {
    text.lines()
        .find_map(|line| line.strip_prefix("uidvalidity "))
        .and_then(|number| number.trim().parse().ok())
}

/// Reads the index at `path`, and the stamp of the file it read (to tell later whether
/// another writer replaced it). Only I/O errors other than a missing file are errors.
pub(crate) fn read(path: &Path) -> io::Result<(Loaded, Option<Stamp>)> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Ok((Loaded::Missing, None))
        }
        Err(error) => return Err(error),
    };
    let stamp = Stamp::of(&file.metadata()?);
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let loaded = match parse(&text) {
        Ok(index) => Loaded::Valid(index),
        Err(reason) => Loaded::Damaged {
            reason,
            uid_validity: salvage_uid_validity(&text),
        },
    };
    Ok((loaded, Some(stamp)))
}

/// Replaces the index at `path` with `index` ([`replace_file`] through `tmp`). The rename
/// is durable once the directory is synced, which the caller does.
pub(crate) fn write(path: &Path, tmp: &Path, index: &Index) -> io::Result<()> {
    replace_file(path, tmp, index.render().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn sample() -> Index {
        let mut index = Index::new(1_700_000_000);
        index.uid_next = 9;
        index.stamp = Some(Stamp {
            inode: 42,
            size: 1234,
            mtime: (1_700_000_001, 5),
            ctime: (1_700_000_002, 999_999_999),
        });
        index.entries.push(Entry {
            uid: 3,
            offset: 0,
            len: 100,
            size: 60,
            date: Some(-5),
            flags: Flags::from_system(&[SystemFlag::Seen, SystemFlag::Draft]),
            fingerprint: "0123456789abcdef0123456789abcdef".into(),
            trailing: 1,
            envelope: Some(b"From a@b Thu Jan  1 00:00:00 1970\n".to_vec()),
            removed: vec![(0, b"Status: RO\n".to_vec()), (30, b"Lines: 2\n".to_vec())],
        });
        index.pending.push(Entry {
            uid: 8,
            offset: 100,
            len: 50,
            size: 20,
            date: None,
            flags: Flags::new(),
            fingerprint: "fedcba9876543210fedcba9876543210".into(),
            trailing: 0,
            envelope: None,
            removed: Vec::new(),
        });
        index
    }

    #[test]
    fn an_index_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".INBOX.twinbox-index");
        let tmp = dir.path().join(".INBOX.twinbox-index.tmp");
        assert!(matches!(read(&path).unwrap(), (Loaded::Missing, None)));
        write(&path, &tmp, &sample()).unwrap();
        assert!(!tmp.exists());
        match read(&path).unwrap() {
            (Loaded::Valid(index), Some(_)) => assert_eq!(index, sample()),
            other => panic!("{other:?}"),
        }
        let mut fresh = Index::new(7);
        fresh.uid_next = 1;
        write(&path, &tmp, &fresh).unwrap();
        match read(&path).unwrap() {
            (Loaded::Valid(index), _) => assert_eq!(index, fresh),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn damage_is_recognised_and_the_uid_validity_salvaged() {
        let good = sample().render();
        let damaged = [
            good[..good.len() - 10].to_owned(),
            good.replace("uidnext 9", "uidnext 8"),
            good.replace("m 3 ", "m 9 "),
            String::new(),
            "garbage".to_owned(),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        for text in damaged {
            fs::write(&path, &text).unwrap();
            match read(&path).unwrap() {
                (Loaded::Damaged { uid_validity, .. }, _) => {
                    let want = text.contains("uidvalidity").then_some(1_700_000_000);
                    assert_eq!(uid_validity, want, "{text:?}");
                }
                other => panic!("{text:?} read as {other:?}"),
            }
        }
        // A checksum made over a bad body still does not make it valid.
        let mut bad = Index::new(5);
        bad.uid_next = 2;
        bad.entries = sample().entries;
        let text = bad.render();
        fs::write(&path, text).unwrap();
        assert!(matches!(read(&path).unwrap().0, Loaded::Damaged { .. }));
    }
}
