//! IMAP syntax that we write and read ourselves: quoted strings, UID sets, flag lists and
//! INTERNALDATE.
//!
//! The `imap` crate passes most arguments through verbatim, so whatever reaches the wire
//! is built (and checked) here.

use backend_api::{Flags, PermanentFlags, SystemFlag, Uid, UnixTime};
use chrono::{DateTime, FixedOffset};

/// `value` as an IMAP quoted string. Callers pass printable ASCII only (encoded mailbox
/// names are); `\` and `"` are escaped.
pub(crate) fn quoted(value: &str) -> String {
    format!("\"{}\"", quoted_inner(value))
}

fn quoted_inner(value: &str) -> String {
    debug_assert!(
        value.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "only printable ASCII is quoted: {value:?}"
    );
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Sorted, de-duplicated UIDs as inclusive ranges.
pub(crate) fn uid_ranges(uids: &[Uid]) -> Vec<(Uid, Uid)> {
    let mut sorted: Vec<Uid> = uids.iter().copied().filter(|u| *u != 0).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<(Uid, Uid)> = Vec::new();
    for uid in sorted {
        match ranges.last_mut() {
            Some((_, last)) if *last + 1 == uid => *last = uid,
            _ => ranges.push((uid, uid)),
        }
    }
    ranges
}

/// Longest UID set we put in one command. Servers accept far longer lines (Dovecot 64 KB);
/// this keeps every command comfortably short.
pub(crate) const MAX_SET_CHARS: usize = 4000;

/// `uids` as compressed IMAP sets (`1:5,9`), split so that each set names at most
/// `max_uids` UIDs and is at most [`MAX_SET_CHARS`] long. Empty input gives no sets.
pub(crate) fn uid_sets(uids: &[Uid], max_uids: usize) -> Vec<String> {
    let max_uids = max_uids.max(1);
    let mut sets = Vec::new();
    let mut current = String::new();
    let mut count = 0usize;
    for (first, last) in uid_ranges(uids) {
        let mut start = first;
        loop {
            let room = (max_uids - count) as u64;
            let span = u64::from(last - start) + 1;
            let end = if span > room {
                // `room` >= 1 here, so the end stays within the range.
                start + (room - 1) as u32
            } else {
                last
            };
            let piece = if start == end {
                start.to_string()
            } else {
                format!("{start}:{end}")
            };
            if !current.is_empty() && current.len() + 1 + piece.len() > MAX_SET_CHARS {
                sets.push(std::mem::take(&mut current));
                count = 0;
                continue;
            }
            if !current.is_empty() {
                current.push(',');
            }
            current.push_str(&piece);
            count += (u64::from(end - start) + 1) as usize;
            if count >= max_uids {
                sets.push(std::mem::take(&mut current));
                count = 0;
            }
            if end == last {
                break;
            }
            start = end + 1;
        }
    }
    if !current.is_empty() {
        sets.push(current);
    }
    sets
}

fn system_flag(name: &str) -> Option<SystemFlag> {
    SystemFlag::ALL
        .into_iter()
        .find(|flag| flag.imap_name().eq_ignore_ascii_case(name))
}

/// A FETCH FLAGS list as our flags: the five system flags (any case), `\Recent` and
/// other `\` flags dropped, every other atom a keyword, kept as the server spells it.
pub(crate) fn flags_from_imap<S: AsRef<str>>(names: &[S]) -> Flags {
    let mut flags = Flags::new();
    for name in names {
        let name = name.as_ref();
        if let Some(flag) = system_flag(name) {
            flags.insert(flag);
        } else if name.starts_with('\\') {
            // \Recent, or a server's own system flag we cannot store elsewhere.
        } else if !name.is_empty() {
            flags.insert_keyword(name);
        }
    }
    flags
}

/// Whether `keyword` can be sent as an IMAP flag-keyword (an atom).
pub(crate) fn is_valid_keyword(keyword: &str) -> bool {
    !keyword.is_empty()
        && keyword.bytes().all(|b| {
            (0x21..=0x7e).contains(&b)
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
        })
}

/// Our flags as IMAP flag atoms. Keywords that IMAP cannot carry (spaces, parentheses,
/// non-ASCII) are left out with a warning: no server could store them.
pub(crate) fn flag_atoms(flags: &Flags) -> Vec<String> {
    let mut atoms: Vec<String> = flags
        .system_flags()
        .map(|flag| flag.imap_name().to_owned())
        .collect();
    for keyword in flags.keywords() {
        if is_valid_keyword(keyword) {
            atoms.push(keyword.to_owned());
        } else {
            log::warn!("keyword {keyword:?} cannot be stored on an IMAP server; left out");
        }
    }
    atoms
}

/// PERMANENTFLAGS (or, without it, FLAGS): `\*` allows any keyword.
pub(crate) fn permanent_flags<S: AsRef<str>>(names: &[S]) -> PermanentFlags {
    let any_keyword = names.iter().any(|n| n.as_ref() == "\\*");
    PermanentFlags {
        flags: flags_from_imap(names),
        any_keyword,
    }
}

/// RFC 3501's `date-time` (without the quotes) for chrono: `17-Jul-1996 02:44:25 -0700`.
pub(crate) const DATE_TIME_FORMAT: &str = "%d-%b-%Y %H:%M:%S %z";

/// A Unix time as the APPEND date (in UTC), or `None` if chrono cannot represent it;
/// written with [`DATE_TIME_FORMAT`].
pub(crate) fn append_date(time: UnixTime) -> Option<DateTime<FixedOffset>> {
    let utc = FixedOffset::east_opt(0)?;
    DateTime::from_timestamp(time, 0).map(|date| date.with_timezone(&utc))
}

/// An INTERNALDATE as the server sends it (`"17-Jul-1996 02:44:25 -0700"`, the day
/// possibly space-padded) as a Unix time.
pub(crate) fn parse_internal_date(text: &str) -> Option<UnixTime> {
    let text = text.trim();
    DateTime::parse_from_str(text, "%d-%b-%Y %H:%M:%S %z")
        .ok()
        .map(|date| date.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPEND_DATE_FORMAT: &str = DATE_TIME_FORMAT;

    fn flag_list(flags: &Flags) -> String {
        format!("({})", flag_atoms(flags).join(" "))
    }

    #[test]
    fn quoting_escapes_backslash_and_quote() {
        assert_eq!(quoted("INBOX"), "\"INBOX\"");
        assert_eq!(quoted("a\\b\"c"), "\"a\\\\b\\\"c\"");
        assert_eq!(quoted_inner("x\"y"), "x\\\"y");
        assert_eq!(quoted(""), "\"\"");
    }

    #[test]
    fn uid_sets_are_compressed() {
        assert_eq!(uid_sets(&[1, 2, 3, 4, 5, 9], 1000), vec!["1:5,9"]);
        assert_eq!(uid_sets(&[9, 3, 1, 2, 3, 0, 10], 1000), vec!["1:3,9:10"]);
        assert_eq!(uid_sets(&[7], 1000), vec!["7"]);
        assert!(uid_sets(&[], 1000).is_empty());
        assert_eq!(uid_ranges(&[5, 4, 4, 1]), vec![(1, 1), (4, 5)]);
        assert_eq!(
            uid_sets(&[u32::MAX - 1, u32::MAX], 1000),
            vec![format!("{}:{}", u32::MAX - 1, u32::MAX)]
        );
    }

    #[test]
    fn uid_sets_are_split_by_count() {
        let uids: Vec<Uid> = (1..=10).collect();
        assert_eq!(uid_sets(&uids, 4), vec!["1:4", "5:8", "9:10"]);
        assert_eq!(uid_sets(&[1, 3, 5, 7, 9], 2), vec!["1,3", "5,7", "9"]);
        assert_eq!(uid_sets(&[1, 2, 3, 10, 11], 3), vec!["1:3", "10:11"]);
        assert_eq!(uid_sets(&[1, 2, 3, 10, 11], 4), vec!["1:3,10", "11"]);
    }

    #[test]
    fn long_uid_sets_are_split_by_length() {
        let uids: Vec<Uid> = (1..=20_000).map(|i| i * 2).collect();
        let sets = uid_sets(&uids, usize::MAX);
        assert!(sets.len() > 1);
        assert!(sets.iter().all(|s| s.len() <= MAX_SET_CHARS));
        let total: usize = sets.iter().map(|s| s.split(',').count()).sum();
        assert_eq!(total, 20_000);
        assert!(sets[0].starts_with("2,4,6"));
    }

    #[test]
    fn flags_map_both_ways() {
        let flags = flags_from_imap(&[
            "\\Seen",
            "\\answered",
            "\\Flagged",
            "\\Deleted",
            "\\Draft",
            "\\Recent",
            "$Forwarded",
            "NonJunk",
            "\\Unknown",
        ]);
        for flag in SystemFlag::ALL {
            assert!(flags.contains(flag), "{flag:?}");
        }
        assert_eq!(
            flags.keywords().collect::<Vec<_>>(),
            vec!["$Forwarded", "NonJunk"]
        );
        assert_eq!(
            flag_list(&flags),
            "(\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded NonJunk)"
        );
        assert_eq!(flag_list(&Flags::new()), "()");
        let mut odd = Flags::from_system(&[SystemFlag::Seen]);
        odd.insert_keyword("two words");
        odd.insert_keyword("(paren");
        odd.insert_keyword("Ärger");
        odd.insert_keyword("ok_word");
        assert_eq!(flag_list(&odd), "(\\Seen ok_word)");
    }

    #[test]
    fn permanent_flags_with_and_without_wildcard() {
        let any = permanent_flags(&[
            "\\Answered",
            "\\Flagged",
            "\\Deleted",
            "\\Seen",
            "\\Draft",
            "\\*",
        ]);
        assert!(any.any_keyword);
        assert_eq!(any.flags, Flags::all_system());
        let fixed = permanent_flags(&["\\Seen", "$Label1"]);
        assert!(!fixed.any_keyword);
        assert!(fixed.flags.contains_keyword("$Label1"));
        assert!(!fixed.flags.contains(SystemFlag::Deleted));
    }

    #[test]
    fn internal_dates() {
        assert_eq!(
            parse_internal_date("17-Jul-1996 02:44:25 -0700"),
            Some(837_596_665)
        );
        assert_eq!(parse_internal_date(" 1-Jan-1970 00:00:00 +0000"), Some(0));
        assert_eq!(parse_internal_date("01-jan-1970 01:00:00 +0100"), Some(0));
        assert_eq!(
            parse_internal_date("29-Feb-2024 23:59:59 +0000"),
            Some(1_709_251_199)
        );
        assert_eq!(parse_internal_date("32-Jan-2020 00:00:00 +0000"), None);
        assert_eq!(parse_internal_date("garbage"), None);

        let date = append_date(1_500_000_000).unwrap();
        assert_eq!(
            date.format(APPEND_DATE_FORMAT).to_string(),
            "14-Jul-2017 02:40:00 +0000"
        );
        let date = append_date(0).unwrap();
        assert_eq!(
            date.format(APPEND_DATE_FORMAT).to_string(),
            "01-Jan-1970 00:00:00 +0000"
        );
        // Round trip through the server's format.
        for time in [0, 1_600_000_000, 951_782_400] {
            let text = append_date(time)
                .unwrap()
                .format(APPEND_DATE_FORMAT)
                .to_string();
            assert_eq!(parse_internal_date(&text), Some(time), "{text}");
        }
        assert_eq!(append_date(i64::MAX), None);
    }
}
