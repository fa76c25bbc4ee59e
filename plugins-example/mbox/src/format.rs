//! The mbox format itself: records, mboxrd quoting, and the header fields mbox programs
//! keep for themselves.
//!
//! A *record* is a `From ` line, the message with every line matching `^>*From `
//! quoted by one more `>` (mboxrd), and a blank line. Reading undoes exactly that: a
//! record runs up to the next line that starts with `From ` (or the end of the file), one
//! blank line at its end is the separator, and one `>` is taken off every `^>+From ` line.
//! This is how Python's `mailbox.mbox` splits a file, so both always agree on where each
//! message starts and ends. A message that itself starts with a `From ` line (delivery
//! agents leave the envelope line in the files they write) gets that line as its record's
//! `From ` line, so mail clients see its envelope rather than a quoted header line; the
//! index keeps the line, and fetch puts it back.
//!
//! *Format fields* are the header fields that mbox programs write and rewrite as their own
//! bookkeeping: `Status` and `X-Status` (flags, mutt and Dovecot), `Content-Length` and
//! `Lines` (mutt adds them when it rewrites a mailbox), `X-Mozilla-Status`,
//! `X-Mozilla-Status2` and `X-Mozilla-Keys` (Thunderbird), `X-UID` and `X-Keywords`
//! (Dovecot). A message is recognised by the rest: its *core*, the message without them and
//! without its trailing newlines, of which the index keeps an MD5. What was taken out is
//! kept too, so the exact bytes can always be put back together (see [`Normalized`]).

use std::ops::Range;

use backend_api::{Flags, SystemFlag, UnixTime};

use crate::date;

/// What starts every record, and what a message line must not start with unquoted.
pub(crate) const FROM: &[u8] = b"From ";

/// The header fields that belong to the mbox format rather than to the message.
const FORMAT_FIELDS: [&[u8]; 9] = [
    b"Status",
    b"X-Status",
    b"Content-Length",
    b"Lines",
    b"X-Mozilla-Status",
    b"X-Mozilla-Status2",
    b"X-Mozilla-Keys",
    b"X-UID",
    b"X-Keywords",
];

/// The fields that carry flags, as mutt reads and writes them.
const FLAG_FIELDS: [&[u8]; 2] = [b"Status", b"X-Status"];

fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split_inclusive(|&b| b == b'\n')
}

/// The empty line that ends a header block (CRLF too: a message may carry CRLFs).
fn is_blank(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n"
}

fn is_continuation(line: &[u8]) -> bool {
    matches!(line.first(), Some(b' ' | b'\t'))
}

/// The name of the field a header line starts, if it starts one.
fn field_name(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|&b| b == b':')?;
    let mut name = &line[..colon];
    while let [rest @ .., b' ' | b'\t'] = name {
        name = rest;
    }
    (!name.is_empty() && name.iter().all(u8::is_ascii_graphic)).then_some(name)
}

fn is_one_of(name: &[u8], names: &[&[u8]]) -> bool {
    names.iter().any(|wanted| wanted.eq_ignore_ascii_case(name))
}

/// The byte ranges of the header fields named in `names` (each with its continuation
/// lines; adjacent ones merged), and where the header block ends: the start of its blank
/// line, or the end of `content` when it has none.
fn header_fields(content: &[u8], names: &[&[u8]]) -> (Vec<Range<usize>>, usize) {
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut offset = 0;
    let mut in_field = false;
    for line in lines(content) {
        if is_blank(line) {
            return (ranges, offset);
        }
        let start = offset;
        offset += line.len();
        if !is_continuation(line) {
            in_field = field_name(line).is_some_and(|name| is_one_of(name, names));
        }
        if in_field {
            match ranges.last_mut() {
                Some(last) if last.end == start => last.end = offset,
                _ => ranges.push(start..offset),
            }
        }
    }
    (ranges, offset)
}

/// A message split into what identifies it and what the mbox format may change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Normalized {
    /// The message without its format fields and without trailing newlines.
    pub core: Vec<u8>,
    /// How many `\n` followed the core.
    pub trailing: u32,
    /// The format fields taken out: (offset in the message, bytes), ascending.
    pub removed: Vec<(u64, Vec<u8>)>,
}

impl Normalized {
    pub fn of(message: &[u8]) -> Normalized {
        let (ranges, _) = header_fields(message, &FORMAT_FIELDS);
        let mut core = Vec::with_capacity(message.len());
        let mut removed = Vec::with_capacity(ranges.len());
        let mut position = 0;
        for range in ranges {
            core.extend_from_slice(&message[position..range.start]);
            removed.push((range.start as u64, message[range.clone()].to_vec()));
            position = range.end;
        }
        core.extend_from_slice(&message[position..]);
        let mut trailing = 0;
        while core.last() == Some(&b'\n') {
            core.pop();
            trailing += 1;
        }
        Normalized {
            core,
            trailing,
            removed,
        }
    }

    /// The MD5 of the core, in hex: what the index recognises a message by.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.core)
    }
}

pub(crate) fn fingerprint(core: &[u8]) -> String {
    format!("{:x}", md5::compute(core))
}

/// The message `core`, `trailing` and `removed` were taken from, or `None` if they do not
/// fit together (offsets out of order or beyond the message).
pub(crate) fn reassemble(
    core: &[u8],
    trailing: u32,
    removed: &[(u64, Vec<u8>)],
) -> Option<Vec<u8>> {
    let mut normalized = core.to_vec();
    normalized.resize(core.len() + trailing as usize, b'\n');
    let extra: usize = removed.iter().map(|(_, bytes)| bytes.len()).sum();
    let mut message = Vec::with_capacity(normalized.len() + extra);
    let mut taken = 0;
    for (offset, bytes) in removed {
        let offset = usize::try_from(*offset).ok()?;
        let before = offset.checked_sub(message.len())?;
        message.extend_from_slice(normalized.get(taken..taken + before)?);
        taken += before;
        message.extend_from_slice(bytes);
    }
    message.extend_from_slice(normalized.get(taken..)?);
    Some(message)
}

/// The flags a message's `Status` and `X-Status` fields say, as mutt reads them:
/// `Status` `R` is `\Seen` (`O`, "old", has no IMAP flag; mutt's old `r` is `\Answered`),
/// `X-Status` `A` `\Answered`, `F` `\Flagged`, `D` `\Deleted`, `T` `\Draft` (Dovecot's).
pub(crate) fn flags_of(message: &[u8]) -> Flags {
    let mut flags = Flags::new();
    let (ranges, _) = header_fields(message, &FLAG_FIELDS);
    for range in ranges {
        // Each range holds whole fields; read each field's first line.
        for line in lines(&message[range]) {
            if is_continuation(line) {
                continue;
            }
            let Some(name) = field_name(line) else {
                continue;
            };
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let value = &line[colon + 1..];
            let x_status = name.eq_ignore_ascii_case(b"X-Status");
            for &letter in value {
                let flag = match (x_status, letter) {
                    (false, b'R') => SystemFlag::Seen,
                    (false, b'r') => SystemFlag::Answered,
                    (true, b'A') => SystemFlag::Answered,
                    (true, b'F') => SystemFlag::Flagged,
                    (true, b'D') => SystemFlag::Deleted,
                    (true, b'T') => SystemFlag::Draft,
                    _ => continue,
                };
                flags.insert(flag);
            }
        }
    }
    flags
}

/// The `Status`/`X-Status` lines for `flags`: `Status: RO` for a seen message (as mutt
/// writes it; an unseen one gets none, so mutt shows it as new) and `X-Status:` with
/// `A`, `D`, `F`, `T` as Dovecot writes them (none when empty).
pub(crate) fn status_lines(flags: &Flags) -> Vec<u8> {
    let mut lines = Vec::new();
    if flags.contains(SystemFlag::Seen) {
        lines.extend_from_slice(b"Status: RO\n");
    }
    let letters: Vec<u8> = [
        (SystemFlag::Answered, b'A'),
        (SystemFlag::Deleted, b'D'),
        (SystemFlag::Flagged, b'F'),
        (SystemFlag::Draft, b'T'),
    ]
    .into_iter()
    .filter(|(flag, _)| flags.contains(*flag))
    .map(|(_, letter)| letter)
    .collect();
    if !letters.is_empty() {
        lines.extend_from_slice(b"X-Status: ");
        lines.extend_from_slice(&letters);
        lines.push(b'\n');
    }
    lines
}

/// `message` with its `Status` and `X-Status` fields replaced by the lines for `flags`,
/// which go at the end of the header block (where mutt puts them). Nothing else changes,
/// so the result has the same [`Normalized::core`]; a message without those fields and
/// without flags to write is returned unchanged.
pub(crate) fn with_status(message: &[u8], flags: &Flags) -> Vec<u8> {
    let (ranges, header_end) = header_fields(message, &FLAG_FIELDS);
    let status = status_lines(flags);
    let mut out = Vec::with_capacity(message.len() + status.len() + 1);
    let mut position = 0;
    for range in ranges {
        out.extend_from_slice(&message[position..range.start]);
        position = range.end;
    }
    out.extend_from_slice(&message[position..header_end]);
    if !status.is_empty() {
        if out.last().is_some_and(|&b| b != b'\n') {
            // A header block that ends the message without a newline.
            out.push(b'\n');
        }
        out.extend_from_slice(&status);
    }
    out.extend_from_slice(&message[header_end..]);
    out
}

/// Whether a line must gain a `>` when written (`^>*From `).
fn needs_quoting(line: &[u8]) -> bool {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    line[quotes..].starts_with(FROM)
}

/// Appends `message` to `out` with mboxrd quoting.
pub(crate) fn quote_into(message: &[u8], out: &mut Vec<u8>) {
    for line in lines(message) {
        if needs_quoting(line) {
            out.push(b'>');
        }
        out.extend_from_slice(line);
    }
}

/// `quoted` with one `>` taken off every `^>+From ` line.
pub(crate) fn unquote(quoted: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(quoted.len());
    for line in lines(quoted) {
        if line.first() == Some(&b'>') && needs_quoting(line) {
            out.extend_from_slice(&line[1..]);
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

/// A message's own `From ` first line (its envelope, as some delivery agents leave it in
/// the file) and the rest. `None` unless the line is a real envelope line, with a date
/// (mutt starts a message only at such a line) and a newline.
pub(crate) fn split_envelope(message: &[u8]) -> (Option<&[u8]>, &[u8]) {
    if message.starts_with(FROM) {
        if let Some(end) = message.iter().position(|&b| b == b'\n') {
            let (line, rest) = message.split_at(end + 1);
            if date::parse_from_line(&line[..end]).is_some() {
                return (Some(line), rest);
            }
        }
    }
    (None, message)
}

/// The record for a message: its `From ` line (the message's own envelope line if it
/// starts with one, else `From MAILER-DAEMON` and `date`), the rest of the message with
/// its status lines for `flags` and quoted, a newline if it lacks a final one, and the
/// blank line.
pub(crate) fn render_record(message: &[u8], flags: &Flags, date: UnixTime) -> Vec<u8> {
    let (envelope, message) = split_envelope(message);
    let mut record = match envelope {
        Some(line) => line.to_vec(),
        None => format!("From MAILER-DAEMON {}\n", date::asctime(date)).into_bytes(),
    };
    let stored = with_status(message, flags);
    record.reserve(stored.len() + stored.len() / 64 + 2);
    quote_into(&stored, &mut record);
    if !stored.is_empty() && !stored.ends_with(b"\n") {
        record.push(b'\n');
    }
    record.push(b'\n');
    record
}

/// The length of a record's `From ` line, its newline included.
pub(crate) fn from_line_len(record: &[u8]) -> usize {
    record
        .iter()
        .position(|&b| b == b'\n')
        .map_or(record.len(), |end| end + 1)
}

/// The date of a record's `From ` line.
pub(crate) fn record_date(record: &[u8]) -> Option<UnixTime> {
    let line = &record[..from_line_len(record)];
    date::parse_from_line(line.strip_suffix(b"\n").unwrap_or(line))
}

/// The message of a record as it is stored (still quoted): without the `From ` line and
/// without one separating blank line, as Python's `mailbox.mbox` reads it.
pub(crate) fn stored_message(record: &[u8]) -> &[u8] {
    let region = &record[from_line_len(record)..];
    if region == b"\n" || region.ends_with(b"\n\n") {
        &region[..region.len() - 1]
    } else {
        region
    }
}

/// The message a record holds: [`stored_message`] unquoted.
pub(crate) fn message_of(record: &[u8]) -> Vec<u8> {
    unquote(stored_message(record))
}

/// `record` (a whole record, `From ` line included) with the status lines for `flags`.
pub(crate) fn record_with_status(record: &[u8], flags: &Flags) -> Vec<u8> {
    let from = from_line_len(record);
    let mut out = record[..from].to_vec();
    // The header block is the same quoted or not: a field line never starts with '>'.
    out.extend_from_slice(&with_status(&record[from..], flags));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(list: &[SystemFlag]) -> Flags {
        Flags::from_system(list)
    }

    #[test]
    fn mboxrd_quoting_round_trips() {
        let message: &[u8] = b"Subject: q\n\nFrom the start\n>From once\n>>From twice\nFrom\n>From\nFromage\n From indented\n>>>From ";
        let mut quoted = Vec::new();
        quote_into(message, &mut quoted);
        assert_eq!(
            quoted,
            b"Subject: q\n\n>From the start\n>>From once\n>>>From twice\nFrom\n>From\nFromage\n From indented\n>>>>From "
                .to_vec()
        );
        assert_eq!(unquote(&quoted), message);
        assert!(!lines(&quoted).any(|line| line.starts_with(FROM)));
    }

    #[test]
    fn records_are_read_as_python_reads_them() {
        let date = 1_500_000_000;
        for message in [
            &b"Subject: a\n\nbody\n"[..],
            b"Subject: a\n\nbody without newline",
            b"Subject: a\n\nbody ending in a blank line\n\n",
            b"",
            b"\n",
            b"From: x\n\nFrom y\n",
            b"From",
            b"From x",
        ] {
            let record = render_record(message, &Flags::new(), date);
            assert!(record.starts_with(b"From MAILER-DAEMON Fri Jul 14 02:40:00 2017\n"));
            let mut want = message.to_vec();
            if !want.is_empty() && !want.ends_with(b"\n") {
                want.push(b'\n');
            }
            assert_eq!(
                message_of(&record),
                want,
                "{:?}",
                String::from_utf8_lossy(message)
            );
            assert_eq!(record_date(&record), Some(date));
        }
    }

    #[test]
    fn a_message_that_starts_with_a_from_line_keeps_it_as_its_record_s() {
        let message: &[u8] =
            b"From owner@lists.example  Thu Aug 22 12:36:23 2002\nSubject: s\n\nFrom body\n";
        assert_eq!(
            split_envelope(message),
            (
                Some(&b"From owner@lists.example  Thu Aug 22 12:36:23 2002\n"[..]),
                &b"Subject: s\n\nFrom body\n"[..]
            )
        );
        assert_eq!(split_envelope(b"From x"), (None, &b"From x"[..]));
        let no_date: &[u8] = b"From here on, a body without a header\n";
        assert_eq!(split_envelope(no_date), (None, no_date));
        assert!(render_record(no_date, &Flags::new(), 0)
            .starts_with(b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n>From here on"));
        let record = render_record(message, &Flags::new(), 0);
        assert_eq!(
            record,
            b"From owner@lists.example  Thu Aug 22 12:36:23 2002\nSubject: s\n\n>From body\n\n"
        );
        assert_eq!(record_date(&record), Some(1_030_019_783));
    }

    #[test]
    fn normalization_takes_out_format_fields_and_puts_them_back() {
        let message: &[u8] = b"Status: RO\nFrom: a\nContent-Length: 12\nX-Status: AF\n  continued\nSubject: s\nLines: 1\n\nStatus: body, not a header\n\n";
        let normalized = Normalized::of(message);
        assert_eq!(
            normalized.core,
            b"From: a\nSubject: s\n\nStatus: body, not a header".to_vec()
        );
        assert_eq!(normalized.trailing, 2);
        assert_eq!(
            normalized.removed,
            vec![
                (0, b"Status: RO\n".to_vec()),
                (
                    19,
                    b"Content-Length: 12\nX-Status: AF\n  continued\n".to_vec()
                ),
                (74, b"Lines: 1\n".to_vec()),
            ]
        );
        assert_eq!(
            reassemble(&normalized.core, normalized.trailing, &normalized.removed).unwrap(),
            message
        );
        assert_eq!(reassemble(b"x", 0, &[(5, b"y".to_vec())]), None);
        assert_eq!(
            reassemble(b"x", 0, &[(1, b"y".to_vec()), (0, b"z".to_vec())]),
            None
        );
    }

    #[test]
    fn status_lines_are_written_as_mutt_and_dovecot_write_them() {
        assert_eq!(status_lines(&Flags::new()), b"");
        assert_eq!(status_lines(&flags(&[SystemFlag::Seen])), b"Status: RO\n");
        assert_eq!(
            status_lines(&Flags::all_system()),
            b"Status: RO\nX-Status: ADFT\n"
        );
        for set in [
            flags(&[]),
            flags(&[SystemFlag::Seen]),
            flags(&[SystemFlag::Answered, SystemFlag::Draft]),
            Flags::all_system(),
        ] {
            let message = with_status(b"From: a\nStatus: O\n\nbody\n", &set);
            assert_eq!(flags_of(&message), set);
        }
        assert_eq!(
            with_status(
                b"From: a\nStatus: O\n\nbody\n",
                &flags(&[SystemFlag::Flagged])
            ),
            b"From: a\nX-Status: F\n\nbody\n"
        );
        // mutt's spellings; several fields add up, as mutt reads them.
        assert_eq!(
            flags_of(b"Status: ROr\nX-Status: F\nX-Status: A\n\n"),
            flags(&[SystemFlag::Seen, SystemFlag::Answered, SystemFlag::Flagged])
        );
    }

    #[test]
    fn status_lines_keep_the_core_whatever_the_header_looks_like() {
        for message in [
            &b"Subject: no final newline\n\nbody without newline"[..],
            b"Subject: only a header",
            b"Subject: only a header\n",
            b"\nno header at all\n",
            b"",
            b"Status: R",
            b"Subject: x\r\nStatus: R\r\n\r\nCRLF\r\n",
            b" starts with a continuation\nSubject: x\n\n",
        ] {
            let core = Normalized::of(message).core;
            for set in [Flags::new(), Flags::all_system()] {
                let stored = with_status(message, &set);
                assert_eq!(
                    Normalized::of(&stored).core,
                    core,
                    "{:?}",
                    String::from_utf8_lossy(message)
                );
                assert_eq!(
                    flags_of(&stored),
                    set,
                    "{:?}",
                    String::from_utf8_lossy(&stored)
                );
                let record = render_record(message, &set, 0);
                assert_eq!(Normalized::of(&message_of(&record)).core, core);
            }
        }
    }
}
