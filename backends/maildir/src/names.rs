//! Message file names in OfflineIMAP's scheme:
//! `<unique>,U=<uid>,FMD5=<md5 of the folder name>:2,<flags>`.
//!
//! The name is the only place a Maildir can keep a message's UID and flags, so it is parsed
//! leniently (anything a mail client or another tool wrote must survive a rename) and
//! written strictly (so OfflineIMAP, mutt, Dovecot and notmuch read ours as they are).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use backend_api::{Flags, SystemFlag, Uid};

/// The one keyword with a standard Maildir letter (`P`, "passed").
pub(crate) const FORWARDED: &str = "$Forwarded";

/// The letters twinbox maps to IMAP flags. Every other letter in an info part (lowercase
/// ones are Dovecot's keywords) is kept as it is when the flags change.
fn letter_meaning(letter: char) -> Option<Result<SystemFlag, &'static str>> {
    match letter {
        'D' => Some(Ok(SystemFlag::Draft)),
        'F' => Some(Ok(SystemFlag::Flagged)),
        'P' => Some(Err(FORWARDED)),
        'R' => Some(Ok(SystemFlag::Answered)),
        'S' => Some(Ok(SystemFlag::Seen)),
        'T' => Some(Ok(SystemFlag::Deleted)),
        _ => None,
    }
}

/// The MD5 (lowercase hex) that tags every file name of the folder whose directory name,
/// relative to the Maildir root, is `folder_name` (e.g. `INBOX`, `Work.Projects`).
///
/// OfflineIMAP hashes its folder's visible name, which for a Maildir is exactly this
/// relative name with the repository's own separator; hashing the same string is what
/// lets us read its Maildirs without renaming a single file.
pub(crate) fn folder_md5(folder_name: &str) -> String {
    format!("{:x}", md5::compute(folder_name.as_bytes()))
}

/// A message file's name taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MessageName {
    /// Everything before the info part, exactly as on disk.
    stem: String,
    /// The text after the `:` when it is a Maildir info part (`2,...` or `1,...`).
    info: Option<String>,
    /// The `U=` field, when present and a valid UID.
    pub uid: Option<Uid>,
    /// The `FMD5=` field, when present.
    pub fmd5: Option<String>,
}

impl MessageName {
    /// Parses any file name; never fails (a name without fields is a bare unique part).
    pub fn parse(file_name: &str) -> MessageName {
        let (stem, info) = match file_name.rsplit_once(':') {
            Some((stem, info)) if info.starts_with("2,") || info.starts_with("1,") => {
                (stem, Some(info.to_owned()))
            }
            _ => (file_name, None),
        };
        let mut uid = None;
        let mut fmd5 = None;
        for field in stem.split(',').skip(1) {
            if let Some(value) = field.strip_prefix("U=") {
                if uid.is_none() {
                    uid = value.parse::<Uid>().ok().filter(|uid| *uid != 0);
                }
            } else if let Some(value) = field.strip_prefix("FMD5=") {
                if fmd5.is_none() {
                    fmd5 = Some(value.to_owned());
                }
            }
        }
        MessageName {
            stem: stem.to_owned(),
            info,
            uid,
            fmd5,
        }
    }

    /// The name of a new message of `size` bytes: no info part when it has no flags (it
    /// goes to `new/`).
    ///
    /// The size goes into the name as Dovecot writes it (`,S=<bytes>`), so that listing
    /// the folder needs no `stat` per file (see [`size_in_name`]). Dovecot, mutt and
    /// notmuch read such names; OfflineIMAP ignores fields it does not know.
    pub fn for_new_message(
        unique: &str,
        size: u64,
        uid: Uid,
        fmd5: &str,
        flags: &Flags,
    ) -> MessageName {
        let letters = flag_letters(flags, "");
        MessageName {
            stem: format!("{unique},S={size},U={uid},FMD5={fmd5}"),
            info: (!letters.is_empty()).then(|| format!("2,{letters}")),
            uid: Some(uid),
            fmd5: Some(fmd5.to_owned()),
        }
    }

    /// The file name on disk.
    pub fn file_name(&self) -> String {
        match &self.info {
            Some(info) => format!("{}:{info}", self.stem),
            None => self.stem.clone(),
        }
    }

    /// Whether the UID in the name is ours: present and tagged with `fmd5`.
    pub fn uid_for(&self, fmd5: &str) -> Option<Uid> {
        match &self.fmd5 {
            Some(tag) if tag.eq_ignore_ascii_case(fmd5) => self.uid,
            _ => None,
        }
    }

    /// The letters of a `2,` info part (empty without one).
    fn letters(&self) -> &str {
        self.info
            .as_deref()
            .and_then(|info| info.strip_prefix("2,"))
            .unwrap_or("")
    }

    /// Whether the name has an info part (files in `cur/` should).
    #[cfg(test)]
    pub fn has_info(&self) -> bool {
        self.info.is_some()
    }

    /// The IMAP flags the name carries.
    pub fn flags(&self) -> Flags {
        let mut flags = Flags::new();
        for letter in self.letters().chars() {
            match letter_meaning(letter) {
                Some(Ok(flag)) => flags.insert(flag),
                Some(Err(keyword)) => flags.insert_keyword(keyword),
                None => {}
            }
        }
        flags
    }

    /// This name with its flags set to `flags` (those with a letter), keeping every letter
    /// twinbox does not know.
    pub fn with_flags(&self, flags: &Flags) -> MessageName {
        let unknown: String = self
            .letters()
            .chars()
            .filter(|letter| letter_meaning(*letter).is_none())
            .collect();
        MessageName {
            info: Some(format!("2,{}", flag_letters(flags, &unknown))),
            ..self.clone()
        }
    }

    /// This name with `,U=<uid>,FMD5=<fmd5>` in place of any old ones; the unique part,
    /// other fields (e.g. Dovecot's `S=`) and the info part are kept.
    pub fn with_uid(&self, uid: Uid, fmd5: &str) -> MessageName {
        let mut stem = String::with_capacity(self.stem.len() + 48);
        for (index, field) in self.stem.split(',').enumerate() {
            if index > 0 {
                if field.starts_with("U=") || field.starts_with("FMD5=") {
                    continue;
                }
                stem.push(',');
            }
            stem.push_str(field);
        }
        stem.push_str(&format!(",U={uid},FMD5={fmd5}"));
        // A name with a `:` but no info part (`x:2`, from some other program) would end in
        // `:2,U=...`, which reads as an info part whose letters are flags (the F of FMD5
        // as \Flagged) and hides the UID. An empty info part keeps the fields in the stem.
        let info = match &self.info {
            None if stem.contains(':') => Some("2,".to_owned()),
            info => info.clone(),
        };
        MessageName {
            stem,
            info,
            uid: Some(uid),
            fmd5: Some(fmd5.to_owned()),
        }
    }
}

/// The size in bytes a file name states (`,S=<bytes>` before the info part, as Dovecot
/// and twinbox write it), if it states one. Cheaper than [`MessageName::parse`]: the
/// listing asks it of every file.
pub(crate) fn size_in_name(file_name: &str) -> Option<u64> {
    let stem = match file_name.rsplit_once(':') {
        Some((stem, info)) if info.starts_with("2,") || info.starts_with("1,") => stem,
        _ => file_name,
    };
    stem.split(',')
        .skip(1)
        .find_map(|field| field.strip_prefix("S="))
        .and_then(|value| value.parse().ok())
}

/// The info letters for `flags` plus `unknown`, in ASCII order without repeats, as the
/// Maildir specification requires.
fn flag_letters(flags: &Flags, unknown: &str) -> String {
    let mut letters: Vec<char> = unknown.chars().collect();
    for (letter, on) in [
        ('D', flags.contains(SystemFlag::Draft)),
        ('F', flags.contains(SystemFlag::Flagged)),
        ('P', flags.contains_keyword(FORWARDED)),
        ('R', flags.contains(SystemFlag::Answered)),
        ('S', flags.contains(SystemFlag::Seen)),
        ('T', flags.contains(SystemFlag::Deleted)),
    ] {
        if on {
            letters.push(letter);
        }
    }
    letters.sort_unstable();
    letters.dedup();
    letters.into_iter().collect()
}

/// A fresh unique part, `<unix secs>_<seq>.<pid>.<hostname>`. The sequence number counts
/// every name this process makes, so two names from one process never collide.
pub(crate) fn unique_part() -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!("{seconds}_{sequence}.{}.{}", std::process::id(), hostname())
}

/// The field that ends the name of every file twinbox writes into `tmp/`. No mail client
/// names a file so, which is what lets twinbox recognise (and clean up) its own leftovers
/// without touching anyone else's.
const TMP_MARKER: &str = "twinbox-tmp";

/// The name in `tmp/` of a message being written: `<unique>,twinbox-tmp`, where `unique`
/// comes from [`unique_part`] and so names the writing process and host.
pub(crate) fn tmp_file_name(unique: &str) -> String {
    format!("{unique},{TMP_MARKER}")
}

/// The process that wrote a `tmp/` file, if twinbox wrote it: `(pid, host)`. `None` for
/// every name [`tmp_file_name`] cannot have made.
pub(crate) fn tmp_file_writer(file_name: &str) -> Option<(u32, &str)> {
    let unique = file_name.strip_suffix(TMP_MARKER)?.strip_suffix(',')?;
    let (time_and_sequence, rest) = unique.split_once('.')?;
    let (pid, host) = rest.split_once('.')?;
    let (time, sequence) = time_and_sequence.split_once('_')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(time) || !digits(sequence) || !digits(pid) || host.is_empty() {
        return None;
    }
    Some((pid.parse().ok()?, host))
}

/// This machine's name as it appears in the names twinbox writes.
pub(crate) fn this_host() -> &'static str {
    hostname()
}

/// This machine's name, made safe for a Maildir file name: `/` would make a path, `:`
/// starts the info part and `,` a field, so each becomes `-` (as OfflineIMAP does for `/`).
fn hostname() -> &'static str {
    static HOSTNAME: OnceLock<String> = OnceLock::new();
    HOSTNAME.get_or_init(|| {
        let mut buffer = [0u8; 256];
        // SAFETY: the buffer is valid for `buffer.len()` bytes; gethostname writes at most
        // that many and we read only up to the first NUL (or the whole buffer).
        let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
        let raw = if result == 0 {
            let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
            String::from_utf8_lossy(&buffer[..end]).into_owned()
        } else {
            String::new()
        };
        sanitize_hostname(&raw)
    })
}

fn sanitize_hostname(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .map(|c| if matches!(c, '/' | ':' | ',') { '-' } else { c })
        .collect();
    if cleaned.is_empty() {
        "localhost".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(system: &[SystemFlag], keywords: &[&str]) -> Flags {
        let mut flags = Flags::from_system(system);
        for keyword in keywords {
            flags.insert_keyword(*keyword);
        }
        flags
    }

    #[test]
    fn folder_md5_matches_offlineimap() {
        // `printf INBOX | md5sum`: what OfflineIMAP writes into every INBOX file name.
        assert_eq!(folder_md5("INBOX"), "7e33429f656f1e6e9d79b29c3f82c57e");
        assert_eq!(
            folder_md5("Work.Projects"),
            "1ee37f97da7b507d0b784184401472e5"
        );
        assert_eq!(folder_md5(""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn offlineimap_names_are_read_as_they_are() {
        let fmd5 = folder_md5("INBOX");
        let file = format!("1700000000_3.4242.mail.example.org,U=17,FMD5={fmd5}:2,FS");
        let name = MessageName::parse(&file);
        assert_eq!(name.uid, Some(17));
        assert_eq!(name.uid_for(&fmd5), Some(17));
        assert_eq!(name.uid_for(&folder_md5("Sent")), None);
        assert_eq!(
            name.flags(),
            flags(&[SystemFlag::Flagged, SystemFlag::Seen], &[])
        );
        assert_eq!(name.file_name(), file);
        // OfflineIMAP writes unseen messages to new/ with an empty info part.
        let unseen = MessageName::parse(&format!("1_0.1.h,U=3,FMD5={fmd5}:2,"));
        assert!(unseen.flags().is_empty());
        assert!(unseen.has_info());
    }

    #[test]
    fn new_names_round_trip() {
        let fmd5 = folder_md5("Work.Projects");
        let all = flags(&SystemFlag::ALL, &[FORWARDED, "$Junk"]);
        let name = MessageName::for_new_message("1_2.3.host", 1234, 9, &fmd5, &all);
        assert_eq!(
            name.file_name(),
            format!("1_2.3.host,S=1234,U=9,FMD5={fmd5}:2,DFPRST")
        );
        assert_eq!(size_in_name(&name.file_name()), Some(1234));
        let parsed = MessageName::parse(&name.file_name());
        assert_eq!(parsed, name);
        // $Junk has no letter: it is not stored.
        assert_eq!(parsed.flags(), flags(&SystemFlag::ALL, &[FORWARDED]));

        let plain = MessageName::for_new_message("1_2.3.host", 0, 10, &fmd5, &Flags::new());
        assert_eq!(
            plain.file_name(),
            format!("1_2.3.host,S=0,U=10,FMD5={fmd5}")
        );
        assert_eq!(size_in_name(&plain.file_name()), Some(0));
        assert!(!plain.has_info());
        assert_eq!(MessageName::parse(&plain.file_name()), plain);
    }

    #[test]
    fn flag_changes_keep_unknown_letters_in_ascii_order() {
        let name = MessageName::parse("123.M1P2.host,S=100,W=102:2,Sac");
        assert_eq!(name.flags(), flags(&[SystemFlag::Seen], &[]));
        let changed = name.with_flags(&flags(&[SystemFlag::Answered, SystemFlag::Draft], &[]));
        assert_eq!(changed.file_name(), "123.M1P2.host,S=100,W=102:2,DRac");
        let cleared = changed.with_flags(&Flags::new());
        assert_eq!(cleared.file_name(), "123.M1P2.host,S=100,W=102:2,ac");
        // A name without info gains one.
        let bare = MessageName::parse("123.M1P2.host");
        assert_eq!(
            bare.with_flags(&flags(&[SystemFlag::Seen], &[FORWARDED]))
                .file_name(),
            "123.M1P2.host:2,PS"
        );
    }

    #[test]
    fn new_uid_replaces_old_fields_and_keeps_the_rest() {
        let ours = folder_md5("INBOX");
        let theirs = folder_md5("Sent");
        let moved = MessageName::parse(&format!("5_1.9.h,U=4,FMD5={theirs},S=12:2,RS"));
        assert_eq!(moved.uid_for(&ours), None);
        let fixed = moved.with_uid(30, &ours);
        assert_eq!(
            fixed.file_name(),
            format!("5_1.9.h,S=12,U=30,FMD5={ours}:2,RS")
        );
        assert_eq!(
            MessageName::parse(&fixed.file_name()).uid_for(&ours),
            Some(30)
        );

        let delivered = MessageName::parse("1700000000.M5P6.host");
        assert_eq!(delivered.uid, None);
        assert_eq!(
            delivered.with_uid(1, &ours).file_name(),
            format!("1700000000.M5P6.host,U=1,FMD5={ours}")
        );
    }

    #[test]
    fn sizes_are_read_from_the_names_that_state_them() {
        // Dovecot's names: S= is the file size, W= the size with CRLF line endings.
        assert_eq!(
            size_in_name("1700000000.M1P2.host,S=4512,W=4630:2,S"),
            Some(4512)
        );
        assert_eq!(
            size_in_name("1700000000.M1P2.host,W=4630,S=4512"),
            Some(4512)
        );
        // The info part is not the stem; no S=, or not a number: no size.
        for none in [
            "1700000000.M1P2.host",
            "1700000000.M1P2.host:2,S=12",
            "x,S=",
            "x,S=12a",
            "x,S=-1",
            "S=12",
            "x,U=1,FMD5=abc",
        ] {
            assert_eq!(size_in_name(none), None, "{none}");
        }
    }

    #[test]
    fn odd_names_never_fail() {
        for odd in [
            "",
            ",",
            ":",
            ":2,",
            "a:b",
            ",U=",
            ",U=0,FMD5=",
            "x,U=99999999999",
            "ü,U=1:2,ü",
        ] {
            let name = MessageName::parse(odd);
            assert_eq!(name.file_name(), odd, "{odd:?} must survive unchanged");
        }
        assert_eq!(MessageName::parse("x,U=0").uid, None);
        assert_eq!(MessageName::parse("x,U=99999999999").uid, None);
        // A colon that does not start an info part belongs to the stem.
        let colon = MessageName::parse("host:odd,U=2");
        assert_eq!(colon.uid, Some(2));
        assert!(!colon.has_info());
    }

    #[test]
    fn tmp_names_say_who_wrote_them() {
        let unique = unique_part();
        let name = tmp_file_name(&unique);
        assert_eq!(
            tmp_file_writer(&name),
            Some((std::process::id(), this_host()))
        );
        assert_eq!(
            tmp_file_writer("1700000000_3.4242.mail.example.org,twinbox-tmp"),
            Some((4242, "mail.example.org"))
        );
        for foreign in [
            // Other writers' names: a classic delivery, OfflineIMAP's, ours without the
            // marker (a finished name), malformed ones.
            "1700000000.M1P2.host",
            "1700000000_3.4242.host,U=1,FMD5=abc",
            "1700000000_3.4242.host",
            "twinbox-tmp",
            ",twinbox-tmp",
            "x_3.4242.host,twinbox-tmp",
            "1700000000_3.42a.host,twinbox-tmp",
            "1700000000_3.4242.,twinbox-tmp",
            "1700000000_3.4242.host,twinbox-tmp:2,S",
            "1700000000_3.99999999999.host,twinbox-tmp",
        ] {
            assert_eq!(tmp_file_writer(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn unique_parts_differ_and_have_no_separators() {
        let a = unique_part();
        let b = unique_part();
        assert_ne!(a, b);
        assert!(!a.contains(['/', ':', ',']));
        assert_eq!(sanitize_hostname("a/b:c,d e"), "a-b-c-de");
        assert_eq!(sanitize_hostname(""), "localhost");
    }

    /// Found by fuzzing (issue 12): a name with a `:` but no info part got its UID fields
    /// after the `:`, where they read as flags (F of FMD5 = \Flagged) and the UID was lost.
    #[test]
    fn a_uid_added_to_a_name_with_a_colon_but_no_info_part_stays_a_uid() {
        let fmd5 = "0123456789abcdef0123456789abcdef";
        for name in ["x:2", ":2,U=:", "1700000000.a.host:1"] {
            let parsed = MessageName::parse(name);
            let renamed = parsed.with_uid(5, fmd5).file_name();
            let reread = MessageName::parse(&renamed);
            assert_eq!(reread.uid_for(fmd5), Some(5), "{name} -> {renamed}");
            assert_eq!(reread.flags(), Flags::new(), "{name} -> {renamed}");
        }
    }
}
