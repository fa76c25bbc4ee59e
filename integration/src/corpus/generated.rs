//! The mail the corpus lacks, generated deterministically from a seed: huge attachments,
//! endless lines, CR-only line breaks, no headers, odd folding; and the random flags and
//! dates every loaded message gets.

use crate::dovecot::format_internal_date;

/// A small deterministic PRNG (SplitMix64): the same seed gives the same mail everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Flags as a mail store of a few years accumulates them: mostly read, some flagged,
/// answered, forwarded, a few drafts. Never `\Deleted` (a sync may expunge those).
pub fn random_flags(rng: &mut Rng) -> Vec<&'static str> {
    let mut flags = Vec::new();
    if rng.chance(60) {
        flags.push("\\Seen");
    }
    if rng.chance(10) {
        flags.push("\\Flagged");
    }
    if rng.chance(8) {
        flags.push("\\Answered");
    }
    if rng.chance(4) {
        flags.push("$Forwarded");
    }
    if rng.chance(2) {
        flags.push("\\Draft");
    }
    flags
}

/// An INTERNALDATE between 2002 and 2024.
pub fn random_date(rng: &mut Rng) -> i64 {
    rng.between(1_009_843_200, 1_735_689_599) as i64
}

/// What a generated message looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Text paragraphs of about this many bytes, with UTF-8 and Latin-1 bytes.
    Text(usize),
    /// multipart/mixed with a base64 part of about this many bytes (an attachment).
    Attachment(usize),
    /// One line of this many bytes without a space, then a short one.
    LongLine(usize),
    /// The last line has no newline.
    NoFinalNewline,
    /// CRs that are not line ends (progress-bar output pasted into a mail).
    BareCr,
    /// An mbox `From ` first line and `From `/`>From ` lines in the body.
    FromLines,
    /// Folded headers with tabs, a header without a space after the colon, an empty
    /// Subject, a 2,000-byte header line, 8-bit bytes in headers, odd case, duplicates.
    OddHeaders,
    /// No header at all, just text.
    NoHeaders,
    /// Headers only: no empty line, no body.
    HeadersOnly,
}

impl Shape {
    pub(super) fn label(self) -> &'static str {
        match self {
            Shape::Text(_) => "text",
            Shape::Attachment(_) => "attachment",
            Shape::LongLine(_) => "long-line",
            Shape::NoFinalNewline => "no-final-newline",
            Shape::BareCr => "bare-cr",
            Shape::FromLines => "from-lines",
            Shape::OddHeaders => "odd-headers",
            Shape::NoHeaders => "no-headers",
            Shape::HeadersOnly => "headers-only",
        }
    }
}

const WORDS: [&str; 24] = [
    "the",
    "sync",
    "of",
    "mail",
    "Maildir",
    "folder",
    "server",
    "message",
    "bytes",
    "caf\u{e9}",
    "Gr\u{fc}\u{df}e",
    "na\u{ef}ve",
    "\u{65e5}\u{672c}\u{8a9e}",
    "r\u{e9}sum\u{e9}",
    "and",
    "with",
    "every",
    "flag",
    "is",
    "kept",
    "twice",
    "\u{201c}quoted\u{201d}",
    "UID",
    "state",
];

/// About `size` bytes of text lines (at most 76 bytes each), LF line ends.
fn paragraphs(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 100);
    let mut line_length = 0;
    while out.len() < size {
        let word = WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes();
        if line_length + word.len() > 72 {
            out.push(b'\n');
            line_length = 0;
            if rng.chance(10) {
                out.push(b'\n');
            }
        } else if line_length > 0 {
            out.push(b' ');
            line_length += 1;
        }
        out.extend_from_slice(word);
        line_length += word.len();
    }
    out.push(b'\n');
    out
}

/// About `size` bytes of random data in base64, 76-character lines.
fn base64_lines(rng: &mut Rng, size: usize) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(size + size / 76 + 2);
    while out.len() < size {
        for _ in 0..19 {
            let n = rng.next_u64();
            for i in 0..4 {
                out.push(ALPHABET[((n >> (6 * i)) & 63) as usize]);
            }
        }
        out.push(b'\n');
    }
    out
}

/// An RFC 5322 date for a `Date:` header.
fn header_date(secs: i64) -> String {
    // "14-Nov-2023 22:13:20 +0000" -> "14 Nov 2023 22:13:20 +0000"
    format_internal_date(secs).replacen('-', " ", 2)
}

/// Generated message number `index` of shape `shape` (LF line ends), deterministic in
/// `(seed, index, shape)`.
pub fn generated_message(seed: u64, index: u64, shape: Shape, date: i64) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ index.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut out = Vec::new();
    let common = |out: &mut Vec<u8>, subject: &str| {
        out.extend_from_slice(
            format!(
                "Return-Path: <sender{index}@example.org>\n\
                 From: Sender {index} <sender{index}@example.org>\n\
                 To: Alice <alice@example.org>\n\
                 Subject: {subject}\n\
                 Date: {}\n\
                 Message-ID: <generated-{seed}-{index}@twinbox.test>\n",
                header_date(date)
            )
            .as_bytes(),
        );
    };
    let subject = format!("generated {index} ({})", shape.label());
    match shape {
        Shape::Text(size) => {
            common(&mut out, &format!("{subject} \u{2013} Gr\u{fc}\u{df}e"));
            out.extend_from_slice(
                b"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\
                  Content-Transfer-Encoding: 8bit\n\n",
            );
            out.extend_from_slice(&paragraphs(&mut rng, size));
            // A Latin-1 byte, as old clients wrote them without saying so.
            out.extend_from_slice(b"-- \nJos\xe9 (latin-1)\n");
        }
        Shape::Attachment(size) => {
            common(&mut out, &subject);
            let boundary = format!("=_boundary_{index}_{}", rng.next_u64());
            out.extend_from_slice(
                format!(
                    "MIME-Version: 1.0\n\
                     Content-Type: multipart/mixed; boundary=\"{boundary}\"\n\n\
                     This is a multi-part message in MIME format.\n\n\
                     --{boundary}\n\
                     Content-Type: text/plain; charset=utf-8\n\n"
                )
                .as_bytes(),
            );
            out.extend_from_slice(&paragraphs(&mut rng, 600));
            out.extend_from_slice(
                format!(
                    "\n--{boundary}\n\
                     Content-Type: application/octet-stream; name=\"data-{index}.bin\"\n\
                     Content-Transfer-Encoding: base64\n\
                     Content-Disposition: attachment; filename=\"data-{index}.bin\"\n\n"
                )
                .as_bytes(),
            );
            out.extend_from_slice(&base64_lines(&mut rng, size));
            out.extend_from_slice(format!("\n--{boundary}--\n").as_bytes());
        }
        Shape::LongLine(size) => {
            common(&mut out, &subject);
            out.extend_from_slice(b"\n");
            for i in 0..size {
                out.push(b'a' + ((i as u64 + rng.below(3)) % 26) as u8);
            }
            out.extend_from_slice(b"\nand a short line after it\n");
        }
        Shape::NoFinalNewline => {
            common(&mut out, &subject);
            out.extend_from_slice(b"\n");
            out.extend_from_slice(&paragraphs(&mut rng, 300));
            out.extend_from_slice(b"the last line ends without a newline");
        }
        Shape::BareCr => {
            common(&mut out, &subject);
            out.extend_from_slice(b"\nprogress:");
            for percent in (0..=100).step_by(10) {
                out.extend_from_slice(format!(" {percent}%\r").as_bytes());
            }
            out.extend_from_slice(b" done\nold Mac line\rbreaks\rhere\ntrailing\r x\n");
        }
        Shape::FromLines => {
            out.extend_from_slice(
                format!(
                    "From sender{index}@example.org  {}\n",
                    "Thu Aug 22 12:36:23 2002"
                )
                .as_bytes(),
            );
            common(&mut out, &subject);
            out.extend_from_slice(
                b"\nFrom the start of a line, mbox would quote this.\n\
                  >From here it was quoted already.\n\
                  \n\
                  From \n",
            );
        }
        Shape::OddHeaders => {
            out.extend_from_slice(
                format!(
                    "Received: from mx.example.org (mx.example.org [192.0.2.1])\n\
                     \tby mail.example.net with ESMTP id {index}\n\
                     \tfor <alice@example.org>; {}\n\
                     From: =?iso-8859-1?q?Jos=E9?= <jose@example.org>\n",
                    header_date(date)
                )
                .as_bytes(),
            );
            // UTF-8 and Latin-1 bytes, unencoded, in one header.
            out.extend_from_slice(b"X-Raw-8bit: Jos\xc3\xa9 M\xfcller\n");
            out.extend_from_slice(
                format!(
                    "To: alice@example.org,\n  bob@example.net,\n\t carol@example.com\n\
                     To: duplicate@example.org\n\
                     Subject:\n\
                     X-No-Space:value\n\
                     X-Empty:\n\
                     cOnTeNt-TyPe: text/plain;\n charset=\"us-ascii\"\n\
                     Message-ID: <generated-{seed}-{index}@twinbox.test>\n\
                     X-Long: "
                )
                .as_bytes(),
            );
            for i in 0..2000 {
                out.push(b'0' + (i % 10) as u8);
            }
            out.extend_from_slice(b"\n\nbody of a message with odd headers\n");
        }
        Shape::NoHeaders => {
            out.extend_from_slice(
                format!("no headers at all, message {index}\njust two lines\n").as_bytes(),
            );
        }
        Shape::HeadersOnly => {
            common(&mut out, &subject);
        }
    }
    out
}
