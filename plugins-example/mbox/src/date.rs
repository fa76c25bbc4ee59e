//! The date in a `From ` line: C's `asctime` format (`Thu Jan  1 00:00:00 1970`).
//!
//! It carries no time zone. We write UTC; mutt and procmail write local time, so a date
//! read from a line we did not write may be off by the writer's UTC offset. That is the
//! format's limit, and it only touches the internal date, never the message.

use backend_api::UnixTime;
use backend_kit::calendar::{civil_from_days, days_from_civil};

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// 0001-01-01 00:00:00 and 9999-12-31 23:59:59 UTC: the years `asctime` can spell.
const EARLIEST: UnixTime = -62_135_596_800;
const LATEST: UnixTime = 253_402_300_799;

/// `time` as `asctime` spells it, in UTC (clamped to the years 1-9999).
pub(crate) fn asctime(time: UnixTime) -> String {
    let time = time.clamp(EARLIEST, LATEST);
    let days = time.div_euclid(86_400);
    let seconds = time.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7) as usize;
    format!(
        "{} {} {day:>2} {:02}:{:02}:{:02} {year}",
        WEEKDAYS[weekday],
        MONTHS[month as usize - 1],
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn month_number(token: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|month| month.eq_ignore_ascii_case(token))
        .map(|index| index as u32 + 1)
}

fn is_weekday(token: &str) -> bool {
    WEEKDAYS.iter().any(|day| day.eq_ignore_ascii_case(token))
}

/// `hh:mm` or `hh:mm:ss` as seconds into the day.
fn time_of_day(token: &str) -> Option<i64> {
    let mut parts = token.split(':');
    let mut seconds = 0;
    for (index, limit) in [24, 60, 60].into_iter().enumerate() {
        match parts.next() {
            Some(part) if !part.is_empty() && part.len() <= 2 => {
                let value: i64 = part.parse().ok()?;
                if value >= limit {
                    return None;
                }
                seconds = seconds * 60 + value;
            }
            None if index == 2 => seconds *= 60,
            _ => return None,
        }
    }
    parts.next().is_none().then_some(seconds)
}

/// A numeric zone `+hhmm` / `-hhmm` as seconds east of UTC.
fn zone_offset(token: &str) -> Option<i64> {
    let (sign, digits) = match token.as_bytes().first()? {
        b'+' => (1, &token[1..]),
        b'-' => (-1, &token[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i64 = digits[..2].parse().ok()?;
    let minutes: i64 = digits[2..].parse().ok()?;
    Some(sign * (hours * 3600 + minutes * 60))
}

/// The date of a `From ` line (without its newline), in the spellings mail programs
/// write: `From sender Thu Jan  1 00:00:00 1970`, with or without seconds, with a zone
/// name or a numeric zone before or after the year. A numeric zone is applied; anything
/// else is taken as UTC. `None` when no date can be found.
pub(crate) fn parse_from_line(line: &[u8]) -> Option<UnixTime> {
    let text = String::from_utf8_lossy(line);
    let tokens: Vec<&str> = text.split_ascii_whitespace().collect();
    // Skip "From" and look for "<weekday> <month>": the sender may contain spaces.
    let start = (1..tokens.len().saturating_sub(3))
        .find(|&i| is_weekday(tokens[i]) && month_number(tokens[i + 1]).is_some())?;
    let month = month_number(tokens[start + 1])?;
    let day: u32 = tokens[start + 2].parse().ok()?;
    if !(1..=31).contains(&day) {
        return None;
    }
    let seconds = time_of_day(tokens[start + 3])?;
    let mut year = None;
    let mut offset = 0;
    for token in tokens.iter().skip(start + 4).take(3) {
        if let Some(zone) = zone_offset(token) {
            offset = zone;
        } else if year.is_none() && token.len() == 4 && token.bytes().all(|b| b.is_ascii_digit()) {
            year = token.parse::<i64>().ok();
        }
    }
    let days = days_from_civil(year?, month, day);
    Some(days * 86_400 + seconds - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asctime_matches_c() {
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime(1_500_000_000), "Fri Jul 14 02:40:00 2017");
        assert_eq!(asctime(1_600_000_000), "Sun Sep 13 12:26:40 2020");
        assert_eq!(asctime(-1), "Wed Dec 31 23:59:59 1969");
        assert_eq!(asctime(951_782_400), "Tue Feb 29 00:00:00 2000");
        assert_eq!(asctime(UnixTime::MAX), "Fri Dec 31 23:59:59 9999");
    }

    #[test]
    fn from_lines_parse_in_the_spellings_mail_programs_write() {
        for time in [0, 1_500_000_000, -86_401, 951_782_400, 4_102_444_800] {
            let line = format!("From MAILER-DAEMON {}", asctime(time));
            assert_eq!(parse_from_line(line.as_bytes()), Some(time), "{line}");
        }
        let cases: [(&str, Option<UnixTime>); 8] = [
            ("From - Fri Jul 14 02:40:00 2017", Some(1_500_000_000)),
            ("From a@b.c  Fri Jul 14 02:40:00 2017", Some(1_500_000_000)),
            ("From a@b.c Fri Jul 14 02:40 2017", Some(1_500_000_000)),
            (
                "From a@b.c Fri Jul 14 04:40:00 2017 +0200",
                Some(1_500_000_000),
            ),
            (
                "From a@b.c Fri Jul 14 02:40:00 PST 2017",
                Some(1_500_000_000),
            ),
            (
                "From \"a b\"@c Fri Jul 14 02:40:00 2017",
                Some(1_500_000_000),
            ),
            ("From a@b.c", None),
            ("From a@b.c Fri Jul 44 02:40:00 2017", None),
        ];
        for (line, want) in cases {
            assert_eq!(parse_from_line(line.as_bytes()), want, "{line}");
        }
    }
}
