//! Reading what the server answered.
//!
//! The `imap` crate reads a whole response (up to and including the tagged line) into one
//! buffer; we take it apart here. Its own typed parsers assert or panic on some legal
//! server replies (an untagged `NO` during SELECT, for one), so we parse the buffer with
//! `imap-proto` response by response, and LIST lines with our own small parser, because
//! `imap-proto` hands back quoted mailbox names with their escapes still in them. A
//! response we cannot parse is skipped with a debug log, never a panic.

use std::borrow::Cow;

use imap_proto::types::{AttributeValue, Capability, MailboxDatum, Response, ResponseCode, Status};

use crate::link;

/// The responses in `buffer`, one slice each (CRLF included), honouring literals.
pub(crate) fn split_responses(buffer: &[u8]) -> Vec<&[u8]> {
    let mut responses = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    while pos < buffer.len() {
        let Some(newline) = buffer[pos..].iter().position(|b| *b == b'\n') else {
            responses.push(&buffer[start..]);
            return responses;
        };
        let line_end = pos + newline; // index of '\n'
        let line = &buffer[pos..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match literal_length(line) {
            Some(length) => {
                // The literal's bytes follow the CRLF; the response goes on after them.
                pos = (line_end + 1).saturating_add(length).min(buffer.len());
            }
            None => {
                pos = line_end + 1;
                responses.push(&buffer[start..pos]);
                start = pos;
            }
        }
    }
    if start < buffer.len() {
        responses.push(&buffer[start..]);
    }
    responses
}

/// The length of the literal that `line` (without its CRLF) announces at its end:
/// `{123}` or `{123+}`.
pub(crate) fn literal_length(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|b| *b == b'{')?;
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Calls `each` with every response of `buffer` that `imap-proto` can parse, and the
/// slice it was parsed from.
pub(crate) fn for_each_response<'a>(
    buffer: &'a [u8],
    mut each: impl FnMut(&'a [u8], Response<'a>),
) {
    for raw in split_responses(buffer) {
        match imap_proto::parser::parse_response(raw) {
            Ok((_, response)) => {
                note_server_text(&response);
                each(raw, response)
            }
            Err(_) => log::debug!(
                "skipped a server response we cannot parse: {}",
                String::from_utf8_lossy(&raw[..raw.len().min(200)]).trim_end()
            ),
        }
    }
}

/// Untagged warnings and alerts are for the user (RFC 3501 says ALERT must be shown).
fn note_server_text(response: &Response<'_>) {
    if let Response::Data {
        status,
        code,
        information,
    } = response
    {
        let text = information.as_deref().unwrap_or("");
        match (status, code) {
            (_, Some(ResponseCode::Alert)) => log::warn!("server alert: {text}"),
            (Status::No | Status::Bad, _) => log::warn!("server warning: {text}"),
            _ => {}
        }
    }
}

/// What SELECT or EXAMINE said about a mailbox.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SelectData {
    pub exists: u32,
    pub uid_validity: Option<u32>,
    pub uid_next: Option<u32>,
    pub highest_modseq: Option<u64>,
    pub flags: Vec<String>,
    pub permanent_flags: Option<Vec<String>>,
    pub read_only: bool,
}

pub(crate) fn parse_select(buffer: &[u8]) -> SelectData {
    let mut data = SelectData::default();
    let note_code = |data: &mut SelectData, code: &ResponseCode<'_>| match code {
        ResponseCode::UidValidity(v) => data.uid_validity = Some(*v),
        ResponseCode::UidNext(v) => data.uid_next = Some(*v),
        ResponseCode::HighestModSeq(v) => data.highest_modseq = Some(*v),
        ResponseCode::PermanentFlags(flags) => {
            data.permanent_flags = Some(flags.iter().map(|f| f.to_string()).collect())
        }
        ResponseCode::ReadOnly => data.read_only = true,
        _ => {}
    };
    for_each_response(buffer, |_, response| match response {
        Response::MailboxData(MailboxDatum::Exists(n)) => data.exists = n,
        Response::MailboxData(MailboxDatum::Flags(flags)) => {
            data.flags = flags.iter().map(|f| f.to_string()).collect()
        }
        Response::Data {
            code: Some(code), ..
        }
        | Response::Done {
            code: Some(code), ..
        } => note_code(&mut data, &code),
        _ => {}
    });
    data
}

/// One FETCH response's items we use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FetchRecord {
    pub uid: Option<u32>,
    pub flags: Option<Vec<String>>,
    pub size: Option<u32>,
    pub modseq: Option<u64>,
    pub body: Option<Vec<u8>>,
    pub internal_date: Option<String>,
}

/// Every FETCH response in `buffer`, in order.
pub(crate) fn parse_fetch(buffer: &[u8]) -> Vec<FetchRecord> {
    let mut records = Vec::new();
    for_each_response(buffer, |raw, response| {
        if let Response::Fetch(_, attributes) = response {
            let mut record = FetchRecord::default();
            for attribute in attributes {
                match attribute {
                    AttributeValue::Uid(uid) => record.uid = Some(uid),
                    AttributeValue::Flags(flags) => {
                        record.flags = Some(flags.iter().map(|f| f.to_string()).collect())
                    }
                    AttributeValue::Rfc822Size(size) => record.size = Some(size),
                    AttributeValue::ModSeq(modseq) => record.modseq = Some(modseq),
                    AttributeValue::InternalDate(date) => {
                        record.internal_date = Some(date.into_owned())
                    }
                    AttributeValue::BodySection {
                        section: None,
                        data: Some(data),
                        ..
                    }
                    | AttributeValue::Rfc822(Some(data)) => {
                        record.body = Some(string_bytes(raw, data))
                    }
                    _ => {}
                }
            }
            records.push(record);
        }
    });
    records
}

/// A FETCH response carrying a message body, as read with [`Literals::Apart`]: its UID,
/// body and INTERNALDATE. The body's literal is moved out of `response`, not copied: it
/// is the buffer the bytes were read into from the socket. `None` for other responses
/// (untagged EXISTS, unsolicited flag changes, ...).
///
/// [`Literals::Apart`]: crate::link::Literals::Apart
pub(crate) fn fetched_body(
    response: &mut link::Response,
) -> Option<(u32, Vec<u8>, Option<String>)> {
    let text = &response.text;
    let literals = &mut response.literals;
    let attributes = match imap_proto::parser::parse_response(text) {
        Ok((_, Response::Fetch(_, attributes))) => attributes,
        Ok(_) => return None,
        Err(_) => {
            log::debug!(
                "skipped a server response we cannot parse: {}",
                String::from_utf8_lossy(&text[..text.len().min(200)]).trim_end()
            );
            return None;
        }
    };
    let (mut uid, mut body, mut date) = (None, None, None);
    for attribute in attributes {
        match attribute {
            AttributeValue::Uid(u) => uid = Some(u),
            AttributeValue::InternalDate(d) => date = Some(d.into_owned()),
            AttributeValue::BodySection {
                section: None,
                data: Some(data),
                ..
            }
            | AttributeValue::Rfc822(Some(data)) => {
                // A literal read apart left `{0}` here: its value is empty and sits just
                // after that placeholder.
                let offset = (data.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
                let apart = data
                    .is_empty()
                    .then(|| literals.iter_mut().find(|(at, _)| *at == offset))
                    .flatten();
                body = Some(match apart {
                    Some((_, bytes)) => std::mem::take(bytes),
                    None => string_bytes(text, data),
                });
            }
            _ => {}
        }
    }
    Some((uid?, body?, date))
}

/// The bytes of an IMAP string value that `imap-proto` returned from `raw`: a literal's
/// bytes are exact; a quoted string still has its escapes, which we remove.
fn string_bytes(raw: &[u8], data: Cow<'_, [u8]>) -> Vec<u8> {
    let quoted = match &data {
        Cow::Borrowed(slice) => {
            let start = slice.as_ptr() as usize;
            let raw_start = raw.as_ptr() as usize;
            start > raw_start
                && start <= raw_start + raw.len()
                && raw[start - raw_start - 1] == b'"'
        }
        Cow::Owned(_) => false,
    };
    if quoted {
        unescape(&data)
    } else {
        data.into_owned()
    }
}

fn unescape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut escaped = false;
    for &b in bytes {
        if b == b'\\' && !escaped {
            escaped = true;
        } else {
            out.push(b);
            escaped = false;
        }
    }
    out
}

/// The numbers of every SEARCH response.
pub(crate) fn parse_search(buffer: &[u8]) -> Vec<u32> {
    let mut found = Vec::new();
    for_each_response(buffer, |_, response| {
        if let Response::MailboxData(MailboxDatum::Search(numbers)) = response {
            found.extend(numbers);
        }
    });
    found
}

/// CAPABILITY data (untagged or as a response code), uppercased: `IMAP4REV1`,
/// `AUTH=PLAIN`, `UIDPLUS`, ...
pub(crate) fn parse_capabilities(buffer: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for_each_response(buffer, |_, response| {
        let list = match response {
            Response::Capabilities(list) => list,
            Response::Data {
                code: Some(ResponseCode::Capabilities(list)),
                ..
            }
            | Response::Done {
                code: Some(ResponseCode::Capabilities(list)),
                ..
            } => list,
            _ => return,
        };
        found.extend(list.iter().map(capability_name));
    });
    found
}

pub(crate) fn capability_name(capability: &Capability<'_>) -> String {
    match capability {
        Capability::Imap4rev1 => "IMAP4REV1".to_owned(),
        Capability::Auth(mechanism) => format!("AUTH={}", mechanism.to_ascii_uppercase()),
        Capability::Atom(atom) => atom.to_ascii_uppercase(),
    }
}

/// One LIST or LSUB line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListEntry {
    /// Name attributes as sent (`\Noselect`, `\HasChildren`, ...).
    pub attributes: Vec<String>,
    pub delimiter: Option<char>,
    /// The mailbox name with IMAP quoting removed (still modified UTF-7).
    pub name: Vec<u8>,
}

impl ListEntry {
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attributes.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// Every LIST (or LSUB) line of `buffer`. Lines that do not parse are skipped with a
/// warning, so one odd name cannot hide the others.
pub(crate) fn parse_list(buffer: &[u8]) -> Vec<ListEntry> {
    let mut entries = Vec::new();
    for raw in split_responses(buffer) {
        let is_list = raw.len() > 7
            && (raw[..7].eq_ignore_ascii_case(b"* LIST ")
                || raw[..7].eq_ignore_ascii_case(b"* LSUB "));
        if !is_list {
            continue;
        }
        match parse_list_line(&raw[7..]) {
            Some(entry) => entries.push(entry),
            None => log::warn!(
                "skipped a LIST line we cannot parse: {}",
                String::from_utf8_lossy(raw).trim_end()
            ),
        }
    }
    entries
}

/// `(attributes) delimiter mailbox [extended data] CRLF`.
fn parse_list_line(input: &[u8]) -> Option<ListEntry> {
    let mut cursor = Cursor { input, pos: 0 };
    cursor.expect(b'(')?;
    let mut attributes = Vec::new();
    loop {
        match cursor.peek()? {
            b')' => {
                cursor.pos += 1;
                break;
            }
            b' ' => cursor.pos += 1,
            _ => {
                let atom = cursor.take_while(|b| !matches!(b, b' ' | b')' | b'\r' | b'\n'));
                if atom.is_empty() {
                    return None;
                }
                attributes.push(String::from_utf8_lossy(atom).into_owned());
            }
        }
    }
    cursor.expect(b' ')?;
    let delimiter = if cursor.rest().len() >= 3 && cursor.rest()[..3].eq_ignore_ascii_case(b"NIL") {
        cursor.pos += 3;
        None
    } else {
        let bytes = cursor.string()?;
        match bytes.as_slice() {
            [b] if b.is_ascii() => Some(char::from(*b)),
            _ => return None,
        }
    };
    cursor.expect(b' ')?;
    let name = cursor.string()?;
    Some(ListEntry {
        attributes,
        delimiter,
        name,
    })
}

struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        &self.input[self.pos.min(self.input.len())..]
    }

    fn peek(&self) -> Option<u8> {
        self.rest().first().copied()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let rest = self.rest();
        let length = rest.iter().position(|b| !keep(*b)).unwrap_or(rest.len());
        self.pos += length;
        &rest[..length]
    }

    /// An astring: a quoted string (unescaped), a literal, or an atom.
    fn string(&mut self) -> Option<Vec<u8>> {
        match self.peek()? {
            b'"' => {
                self.pos += 1;
                let mut out = Vec::new();
                loop {
                    let b = self.peek()?;
                    self.pos += 1;
                    match b {
                        b'"' => return Some(out),
                        b'\\' => {
                            out.push(self.peek()?);
                            self.pos += 1;
                        }
                        b'\r' | b'\n' => return None,
                        _ => out.push(b),
                    }
                }
            }
            b'{' => {
                let header = self.take_while(|b| b != b'\n');
                let header = header.strip_suffix(b"\r").unwrap_or(header);
                let length = literal_length(header)?;
                self.expect(b'\n')?;
                let rest = self.rest();
                let bytes = rest.get(..length)?.to_vec();
                self.pos += length;
                Some(bytes)
            }
            _ => {
                let atom = self.take_while(|b| {
                    b > b' ' && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'"')
                });
                (!atom.is_empty()).then(|| atom.to_vec())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_split_around_literals() {
        let buffer =
            b"* 1 FETCH (UID 5 BODY[] {7}\r\nab\r\ncd\n FLAGS ())\r\n* 2 EXISTS\r\na3 OK done\r\n";
        let parts = split_responses(buffer);
        assert_eq!(parts.len(), 3);
        assert_eq!(
            parts[0],
            &b"* 1 FETCH (UID 5 BODY[] {7}\r\nab\r\ncd\n FLAGS ())\r\n"[..]
        );
        assert_eq!(parts[1], b"* 2 EXISTS\r\n");
        assert_eq!(parts[2], b"a3 OK done\r\n");
        // A truncated buffer does not panic.
        assert_eq!(split_responses(b"* 1 FETCH (BODY[] {100}\r\nabc").len(), 1);
        assert_eq!(literal_length(b"x {12+}"), Some(12));
        assert_eq!(literal_length(b"x {}"), None);
        assert_eq!(literal_length(b"x {1a}"), None);
    }

    #[test]
    fn select_data() {
        let buffer = b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n\
* 3 EXISTS\r\n\
* 0 RECENT\r\n\
* NO [ALERT] something odd\r\n\
* OK [UIDVALIDITY 1700000000] UIDs valid\r\n\
* OK [UIDNEXT 42] Predicted next UID\r\n\
* OK [HIGHESTMODSEQ 77] Highest\r\n\
* OK [NOMODSEQ] whatever\r\n\
a2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n";
        let data = parse_select(buffer);
        assert_eq!(data.exists, 3);
        assert_eq!(data.uid_validity, Some(1_700_000_000));
        assert_eq!(data.uid_next, Some(42));
        assert_eq!(data.highest_modseq, Some(77));
        assert_eq!(data.flags.len(), 5);
        assert!(data.permanent_flags.unwrap().contains(&"\\*".to_owned()));
        assert!(!data.read_only);
        assert!(parse_select(b"a1 OK [READ-ONLY] Examined\r\n").read_only);
    }

    #[test]
    fn fetch_records() {
        let buffer = b"* 1 FETCH (UID 5 FLAGS (\\Seen $Forwarded) RFC822.SIZE 1234 MODSEQ (9))\r\n\
* 2 FETCH (UID 7 INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" BODY[] {8}\r\nab\r\n\x00\xffcd)\r\n\
* 3 FETCH (FLAGS (\\Deleted))\r\n\
* 4 FETCH (UID 8 BODY[] \"q\\\"uo\\\\ted\")\r\n\
a4 OK Fetch completed.\r\n";
        let records = parse_fetch(buffer);
        assert_eq!(records.len(), 4);
        assert_eq!(records[0].uid, Some(5));
        assert_eq!(
            records[0].flags.as_deref(),
            Some(&["\\Seen".to_owned(), "$Forwarded".to_owned()][..])
        );
        assert_eq!(records[0].size, Some(1234));
        assert_eq!(records[0].modseq, Some(9));
        assert_eq!(records[1].uid, Some(7));
        assert_eq!(records[1].body.as_deref(), Some(&b"ab\r\n\x00\xffcd"[..]));
        assert_eq!(
            records[1].internal_date.as_deref(),
            Some("17-Jul-1996 02:44:25 -0700")
        );
        assert_eq!(records[2].uid, None);
        assert_eq!(records[3].body.as_deref(), Some(&b"q\"uo\\ted"[..]));
    }

    #[test]
    fn fetched_bodies_are_moved_out_of_the_response() {
        let head = b"* 2 FETCH (UID 7 INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" BODY[] {0}\r\n";
        let body = b"ab\r\n\x00\xffcd".to_vec();
        let pointer = body.as_ptr();
        let mut response = link::Response {
            text: [&head[..], b")\r\n"].concat(),
            literals: vec![(head.len(), body)],
        };
        let (uid, bytes, date) = fetched_body(&mut response).unwrap();
        assert_eq!(uid, 7);
        assert_eq!(bytes, b"ab\r\n\x00\xffcd");
        assert_eq!(bytes.as_ptr(), pointer, "moved, not copied");
        assert_eq!(date.as_deref(), Some("17-Jul-1996 02:44:25 -0700"));
        // Quoted and inline bodies still come out right; other responses are skipped.
        let mut quoted = link::Response {
            text: b"* 4 FETCH (UID 8 BODY[] \"q\\\"uo\\\\ted\")\r\n".to_vec(),
            literals: Vec::new(),
        };
        assert_eq!(fetched_body(&mut quoted).unwrap().1, b"q\"uo\\ted");
        let mut inline = link::Response {
            text: b"* 4 FETCH (UID 9 BODY[] {3}\r\nabc)\r\n".to_vec(),
            literals: Vec::new(),
        };
        assert_eq!(fetched_body(&mut inline).unwrap().1, b"abc");
        for other in [
            &b"* 3 FETCH (UID 4 FLAGS (\\Seen))\r\n"[..],
            b"* 3 EXISTS\r\n",
            b"* garbage\r\n",
        ] {
            let mut response = link::Response {
                text: other.to_vec(),
                literals: Vec::new(),
            };
            assert!(fetched_body(&mut response).is_none());
        }
    }

    #[test]
    fn search_and_capabilities() {
        assert_eq!(
            parse_search(b"* SEARCH 1 5 9\r\na1 OK done\r\n"),
            vec![1, 5, 9]
        );
        assert!(parse_search(b"* SEARCH\r\na1 OK done\r\n").is_empty());
        let caps =
            parse_capabilities(b"* CAPABILITY IMAP4rev1 UIDPLUS auth=plain Condstore\r\na1 OK\r\n");
        assert_eq!(
            caps,
            vec!["IMAP4REV1", "UIDPLUS", "AUTH=PLAIN", "CONDSTORE"]
        );
    }

    #[test]
    fn list_lines() {
        let buffer = b"* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
* LIST (\\Noselect \\HasChildren) \"/\" \"Work\"\r\n\
* LIST (\\HasNoChildren) \"/\" \"Work/&AMQ-rger\"\r\n\
* LIST () \"\\\\\" \"back\\\\slash \\\"quoted\\\"\"\r\n\
* LIST () NIL {11}\r\nlit\r\neral\"x\r\n\
* LSUB () \".\" Sent.Items\r\n\
* LIST (\\HasNoChildren) \"/\" \"Ext\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
* LIST garbage\r\n\
* 3 EXISTS\r\n\
a5 OK List completed.\r\n";
        let entries = parse_list(buffer);
        assert_eq!(entries.len(), 7);
        assert_eq!(entries[0].name, b"INBOX");
        assert_eq!(entries[0].delimiter, Some('/'));
        assert!(entries[1].has_attribute("\\noselect"));
        assert_eq!(entries[2].name, b"Work/&AMQ-rger");
        assert_eq!(entries[3].delimiter, Some('\\'));
        assert_eq!(entries[3].name, b"back\\slash \"quoted\"");
        assert_eq!(entries[4].delimiter, None);
        assert_eq!(entries[4].name, b"lit\r\neral\"x");
        assert_eq!(entries[5].name, b"Sent.Items");
        assert_eq!(entries[6].name, b"Ext");
    }
}
