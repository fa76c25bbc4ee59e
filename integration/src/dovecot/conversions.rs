//! The spellings that differ between Maildir and IMAP, written here independently of the
//! plugins so a bug there cannot hide itself: flag letters and flags, file times and
//! INTERNALDATEs, LF and CRLF, UTF-8 and modified UTF-7 folder names, quoted strings.

/// The Maildir letter of an IMAP flag, if it has one.
pub fn flag_letter(flag: &str) -> Option<char> {
    match flag.to_ascii_lowercase().as_str() {
        "\\draft" => Some('D'),
        "\\flagged" => Some('F'),
        "$forwarded" => Some('P'),
        "\\answered" => Some('R'),
        "\\seen" => Some('S'),
        "\\deleted" => Some('T'),
        _ => None,
    }
}

/// The IMAP flags of Maildir letters (`"FS"` -> `["\Flagged", "\Seen"]`).
pub fn imap_flags(letters: &str) -> Vec<&'static str> {
    letters
        .chars()
        .map(|letter| match letter {
            'D' => "\\Draft",
            'F' => "\\Flagged",
            'P' => "$Forwarded",
            'R' => "\\Answered",
            'S' => "\\Seen",
            'T' => "\\Deleted",
            other => panic!("{other:?} is not a Maildir flag letter"),
        })
        .collect()
}

/// `"14-Nov-2023 22:13:20 +0000"` (day possibly space-padded) as seconds since the epoch.
pub fn parse_internal_date(text: &str) -> Option<i64> {
    let (date, rest) = text.trim().split_once(' ')?;
    let (time, zone) = rest.trim().split_once(' ')?;
    let date: Vec<&str> = date.split('-').collect();
    let [day, month, year] = date[..] else {
        return None;
    };
    let day: i64 = day.trim().parse().ok()?;
    let month = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| m.eq_ignore_ascii_case(month))? as i64
        + 1;
    let year: i64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let zone: i64 = zone.trim_start_matches(['+', '-']).parse().ok()?;
    let offset = sign * ((zone / 100) * 3600 + (zone % 100) * 60);
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s - offset)
}

/// A time in seconds as an INTERNALDATE in UTC: `14-Nov-2023 22:13:20 +0000`.
pub fn format_internal_date(secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // Civil from days (Howard Hinnant).
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{day:02}-{}-{year} {:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `content` with every CRLF turned into LF (IMAP -> Maildir).
pub fn crlf_to_lf(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len());
    let mut i = 0;
    while i < content.len() {
        if content[i] == b'\r' && content.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(content[i]);
        i += 1;
    }
    out
}

/// `content` with every bare LF turned into CRLF (Maildir -> IMAP).
pub fn lf_to_crlf(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + content.len() / 40);
    for (i, &byte) in content.iter().enumerate() {
        if byte == b'\n' && (i == 0 || content[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(byte);
    }
    out
}

/// Modified UTF-7 (RFC 3501 5.1.3), written here independently of the plugin's codec.
pub fn mutf7_encode(name: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    fn flush(out: &mut String, pending: &mut Vec<u16>) {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out.push('-');
        pending.clear();
    }
    let mut out = String::new();
    let mut pending = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut out, &mut pending);
    out
}

/// An IMAP quoted string.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutf7_matches_rfc_3501_examples() {
        assert_eq!(mutf7_encode("INBOX"), "INBOX");
        assert_eq!(mutf7_encode("Caf\u{e9}"), "Caf&AOk-");
        assert_eq!(mutf7_encode("A&B"), "A&-B");
        assert_eq!(
            mutf7_encode("~peter/mail/\u{65e5}\u{672c}\u{8a9e}/\u{53f0}\u{5317}"),
            "~peter/mail/&ZeVnLIqe-/&U,BTFw-"
        );
        assert_eq!(mutf7_encode("\u{1f600}"), "&2D3eAA-");
    }

    #[test]
    fn internal_dates_parse() {
        assert_eq!(
            parse_internal_date("14-Nov-2023 22:13:20 +0000"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_internal_date(" 4-Jan-2024 01:00:00 +0100"),
            Some(1_704_326_400)
        );
    }

    #[test]
    fn internal_dates_format_and_parse_back() {
        assert_eq!(
            format_internal_date(1_700_000_000),
            "14-Nov-2023 22:13:20 +0000"
        );
        assert_eq!(
            format_internal_date(951_782_400),
            "29-Feb-2000 00:00:00 +0000"
        );
        for secs in [0, 1_600_000_000, 1_709_164_799, 4_102_444_800] {
            assert_eq!(parse_internal_date(&format_internal_date(secs)), Some(secs));
        }
    }

    #[test]
    fn line_endings_convert_both_ways() {
        assert_eq!(crlf_to_lf(b"a\r\nb\r\n\r"), b"a\nb\n\r");
        assert_eq!(lf_to_crlf(b"a\nb\r\n\n"), b"a\r\nb\r\n\r\n");
    }
}
