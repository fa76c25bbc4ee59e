//! What makes two stored messages "the same message" when no state pairs them.
//!
//! # Why it looks like this
//!
//! twinbox never changes a message's bytes, but other tools did before it: mbsync inserts
//! an `X-TUID:` header line into every message it stores or uploads, OfflineIMAP adds
//! `X-OfflineIMAP:` to its uploads and drops a leading mbox `From ` line, and IMAP and the
//! file stores disagree on line endings (Dovecot even drops one CR of `\r\r\n`). A
//! [`Fingerprint`] sees through exactly those differences and nothing else: two messages
//! get the same fingerprint only when their bytes are identical once line ends are
//! normalized (every run of CRs before an LF counts as the line end), a leading `From `
//! line is dropped, and `X-TUID:`/`X-OfflineIMAP:` lines are removed from the header. A
//! header re-wrapped, a body re-encoded, one byte changed: another fingerprint.
//!
//! The digest is SHA-256, not MD5: pairing two different messages would keep one of them
//! from ever being copied, and MD5 collisions can be made on purpose.
//!
//! The Message-ID is kept (as a digest) only to count near-duplicates — same Message-ID,
//! other bytes — which are reported, and paired only when the user asks for it.

use sha2::{Digest, Sha256};

/// The identity of a message's content, as the engine compares it across two stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// Size in bytes of the normalized message in CRLF form, which is what an IMAP server
    /// reports as `RFC822.SIZE` for a message stored without the tools' additions.
    pub canonical_size: u64,
    /// SHA-256 of the normalized message.
    pub digest: [u8; 32],
    /// MD5 of the first `Message-ID:` header's value (trimmed), if there is one.
    pub message_id: Option<[u8; 16]>,
}

/// Header fields that other tools insert and that are not part of the message.
const TOOL_HEADERS: [&[u8]; 2] = [b"x-tuid:", b"x-offlineimap:"];

/// At most this many bytes (in CRLF form) are removed by the normalization from a message
/// as a store lists it: the mbox `From ` line and the tools' header lines. Used to bound
/// which listed sizes can match a fingerprint without fetching.
pub const MAX_NORMALIZED_AWAY: u64 = 1024;

impl Fingerprint {
    /// The fingerprint of a message's bytes, in either line-ending convention.
    pub fn of(bytes: &[u8]) -> Fingerprint {
        let normalized = normalize(bytes);
        let lines = normalized.iter().filter(|&&b| b == b'\n').count() as u64;
        Fingerprint {
            canonical_size: normalized.len() as u64 + lines,
            digest: Sha256::digest(&normalized).into(),
            message_id: message_id(&normalized).map(|id| md5::compute(id).0),
        }
    }
}

/// The message with LF line ends, without a leading `From ` line and without the tools'
/// header lines.
fn normalize(bytes: &[u8]) -> Vec<u8> {
    let mut lf = Vec::with_capacity(bytes.len());
    let mut pending_crs = 0usize;
    for &byte in bytes {
        match byte {
            b'\r' => pending_crs += 1,
            b'\n' => {
                pending_crs = 0;
                lf.push(b'\n');
            }
            _ => {
                lf.extend(std::iter::repeat_n(b'\r', pending_crs));
                pending_crs = 0;
                lf.push(byte);
            }
        }
    }
    lf.extend(std::iter::repeat_n(b'\r', pending_crs));

    let mut rest: &[u8] = &lf;
    if rest.starts_with(b"From ") {
        rest = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => &rest[end + 1..],
            None => &[],
        };
    }
    let mut out = Vec::with_capacity(rest.len());
    let mut skipping_field = false;
    let mut lines = rest.split_inclusive(|&b| b == b'\n');
    for line in lines.by_ref() {
        if line == b"\n" {
            out.extend_from_slice(line);
            break; // the body follows, kept whole
        }
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation {
            skipping_field = TOOL_HEADERS
                .iter()
                .any(|name| starts_with_ignore_case(line, name));
        }
        if !skipping_field {
            out.extend_from_slice(line);
        }
    }
    for line in lines {
        out.extend_from_slice(line);
    }
    out
}

fn starts_with_ignore_case(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// The value of the first `Message-ID:` field of the header (unfolded, trimmed).
fn message_id(normalized: &[u8]) -> Option<Vec<u8>> {
    let mut value: Option<Vec<u8>> = None;
    for line in normalized.split_inclusive(|&b| b == b'\n') {
        if line == b"\n" {
            break;
        }
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        match (&mut value, continuation) {
            (Some(value), true) => value.extend_from_slice(line),
            (Some(_), false) => break,
            (None, false) if starts_with_ignore_case(line, b"message-id:") => {
                value = Some(line[b"message-id:".len()..].to_vec());
            }
            (None, _) => {}
        }
    }
    let value = value?;
    let trimmed: Vec<u8> = value
        .into_iter()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    (!trimmed.is_empty()).then_some(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &[u8] =
        b"From: a@example.org\nSubject: hi\nMessage-ID: <1@example.org>\n\nbody\n";

    fn crlf(bytes: &[u8]) -> Vec<u8> {
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .replace('\n', "\r\n")
            .into_bytes()
    }

    #[test]
    fn line_endings_do_not_matter() {
        let fingerprint = Fingerprint::of(MESSAGE);
        assert_eq!(Fingerprint::of(&crlf(MESSAGE)), fingerprint);
        assert_eq!(fingerprint.canonical_size, crlf(MESSAGE).len() as u64);
        // Dovecot stores `\r\r\n` as `\r\n`.
        let doubled = b"Subject: x\r\r\n\r\nbody\r\r\n";
        assert_eq!(
            Fingerprint::of(doubled),
            Fingerprint::of(b"Subject: x\r\n\r\nbody\r\n")
        );
    }

    #[test]
    fn a_lone_cr_still_counts() {
        assert_ne!(
            Fingerprint::of(b"Subject: x\n\na\rb\n"),
            Fingerprint::of(b"Subject: x\n\nab\n")
        );
    }

    #[test]
    fn what_mbsync_and_offlineimap_add_is_seen_through() {
        let fingerprint = Fingerprint::of(MESSAGE);
        let mbsync = b"From: a@example.org\nSubject: hi\nMessage-ID: <1@example.org>\nX-TUID: abcdefghijkl\n\nbody\n";
        assert_eq!(Fingerprint::of(mbsync), fingerprint);
        let offlineimap = b"From: a@example.org\nX-OfflineIMAP: 1234-5678\nSubject: hi\nMessage-ID: <1@example.org>\n\nbody\n";
        assert_eq!(Fingerprint::of(&crlf(offlineimap)), fingerprint);
        let mbox_line = [
            b"From alice@example.org Tue Nov 14 22:13:20 2023\n",
            MESSAGE,
        ]
        .concat();
        assert_eq!(Fingerprint::of(&mbox_line), fingerprint);
    }

    #[test]
    fn the_same_fields_in_the_body_are_content() {
        let in_body = b"Subject: x\n\nX-TUID: abcdefghijkl\n";
        assert_ne!(Fingerprint::of(in_body), Fingerprint::of(b"Subject: x\n\n"));
    }

    #[test]
    fn other_bytes_with_the_same_message_id_and_size_differ() {
        let other = b"From: a@example.org\nSubject: ho\nMessage-ID: <1@example.org>\n\nbody\n";
        let (a, b) = (Fingerprint::of(MESSAGE), Fingerprint::of(other));
        assert_eq!(a.canonical_size, b.canonical_size);
        assert_eq!(a.message_id, b.message_id);
        assert!(a.message_id.is_some());
        assert_ne!(a, b);
    }

    #[test]
    fn message_ids_are_unfolded_and_trimmed() {
        let folded = b"Message-ID:\n <1@example.org>\nSubject: hi\n\nbody\n";
        assert_eq!(
            Fingerprint::of(folded).message_id,
            Fingerprint::of(MESSAGE).message_id
        );
        assert_eq!(Fingerprint::of(b"Subject: x\n\n").message_id, None);
    }

    #[test]
    fn a_message_without_a_body_separator_is_all_header() {
        assert_eq!(
            Fingerprint::of(b"Subject: x\nX-TUID: abc\n"),
            Fingerprint::of(b"Subject: x\n")
        );
    }
}
