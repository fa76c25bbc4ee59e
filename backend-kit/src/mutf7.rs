//! Modified UTF-7 (RFC 3501 section 5.1.3), the encoding of IMAP mailbox names.
//!
//! Printable US-ASCII other than `&` stands for itself; `&` is written `&-`; every run of
//! other characters is written as `&`, their UTF-16 code units in a base64 whose 63rd
//! character is `,` (not `/`), without padding, and `-`.
//!
//! The decoder is strict on purpose. A name that decodes leniently can decode to the same
//! UTF-8 as another name on the server, and two server folders would then share one
//! folder of ours. So every form the RFC forbids is an error: bad base64, padding bits
//! that are not zero or a whole extra character, a shift never closed, `&` followed by
//! neither `-` nor base64, a lone or reversed UTF-16 surrogate, printable ASCII encoded
//! inside a shift (it must stand for itself), a shift that directly follows another
//! (`-&` inside what should be one shift), and any byte outside printable ASCII.

use std::fmt;

/// Why a string is not valid modified UTF-7.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidMutf7 {
    /// The input.
    pub input: String,
    /// The byte offset of the problem in `input`.
    pub position: usize,
    /// What is wrong there.
    pub reason: &'static str,
}

impl fmt::Display for InvalidMutf7 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not valid modified UTF-7 (at byte {}): {}",
            self.input, self.position, self.reason
        )
    }
}

impl std::error::Error for InvalidMutf7 {}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn is_direct(c: char) -> bool {
    (' '..='~').contains(&c)
}

fn base64_value(byte: u8) -> Option<u32> {
    match byte {
        b'A'..=b'Z' => Some(u32::from(byte - b'A')),
        b'a'..=b'z' => Some(u32::from(byte - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(byte - b'0') + 52),
        b'+' => Some(62),
        b',' => Some(63),
        _ => None,
    }
}

/// Encodes a UTF-8 name. Never fails: every string has exactly one encoding, and the
/// result is printable US-ASCII only (so it can always be sent as an IMAP quoted string).
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_direct(c) {
            flush_shift(&mut out, &mut pending);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush_shift(&mut out, &mut pending);
    out
}

/// Writes `&<base64>-` for the pending UTF-16 units, if any.
fn flush_shift(out: &mut String, pending: &mut Vec<u16>) {
    if pending.is_empty() {
        return;
    }
    out.push('&');
    let mut bits: u32 = 0;
    let mut count = 0;
    for unit in pending.drain(..) {
        bits = (bits << 16) | u32::from(unit);
        count += 16;
        while count >= 6 {
            count -= 6;
            out.push(ALPHABET[((bits >> count) & 0x3f) as usize] as char);
        }
        bits &= (1 << count) - 1;
    }
    if count > 0 {
        out.push(ALPHABET[((bits << (6 - count)) & 0x3f) as usize] as char);
    }
    out.push('-');
}

/// Decodes a name as the server sends it. Rejects everything RFC 3501 forbids (see the
/// module documentation).
pub fn decode(encoded: &str) -> Result<String, InvalidMutf7> {
    let bytes = encoded.as_bytes();
    let fail = |position: usize, reason: &'static str| InvalidMutf7 {
        input: encoded.to_owned(),
        position,
        reason,
    };
    let mut out = String::with_capacity(encoded.len());
    let mut i = 0;
    // Where the last shift sequence ended (the index just past its `-`).
    let mut last_shift_end = None;
    while i < bytes.len() {
        let byte = bytes[i];
        if !(0x20..=0x7e).contains(&byte) {
            return Err(fail(
                i,
                "only printable US-ASCII may appear in an encoded name",
            ));
        }
        if byte != b'&' {
            out.push(byte as char);
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        match bytes.get(i) {
            None => return Err(fail(start, "'&' at the end of the name is not closed")),
            Some(b'-') => {
                out.push('&');
                i += 1;
                continue;
            }
            Some(next) if base64_value(*next).is_none() => {
                return Err(fail(i, "'&' must be followed by '-' or modified base64"))
            }
            Some(_) => {}
        }
        if last_shift_end == Some(start) {
            return Err(fail(
                start,
                "a shift directly after another one (they must be written as one)",
            ));
        }
        // Decode the base64 run into UTF-16 units.
        let mut units: Vec<u16> = Vec::new();
        let mut bits: u32 = 0;
        let mut count = 0;
        let run_start = i;
        loop {
            let Some(&b) = bytes.get(i) else {
                return Err(fail(start, "a shift to base64 is not closed with '-'"));
            };
            if b == b'-' {
                break;
            }
            let Some(value) = base64_value(b) else {
                return Err(fail(
                    i,
                    "a character that is not modified base64 inside a shift",
                ));
            };
            bits = (bits << 6) | value;
            count += 6;
            if count >= 16 {
                count -= 16;
                units.push(((bits >> count) & 0xffff) as u16);
                bits &= (1 << count) - 1;
            }
            i += 1;
        }
        // Padding: fewer than 6 leftover bits, all zero (anything more is a wasted
        // character or a truncated code unit).
        if count >= 6 || i - run_start == 0 {
            return Err(fail(
                i,
                "the base64 run does not end on a whole UTF-16 code unit",
            ));
        }
        if bits != 0 {
            return Err(fail(i, "the base64 run's padding bits are not zero"));
        }
        let decoded: String = char::decode_utf16(units.iter().copied())
            .collect::<Result<_, _>>()
            .map_err(|_| fail(run_start, "an unpaired UTF-16 surrogate"))?;
        if decoded.chars().any(is_direct) {
            return Err(fail(
                run_start,
                "printable US-ASCII encoded in base64 (it must stand for itself)",
            ));
        }
        out.push_str(&decoded);
        i += 1; // the '-'
        last_shift_end = Some(i);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn round_trip(utf8: &str, wire: &str) {
        assert_eq!(encode(utf8), wire, "encode({utf8:?})");
        assert_eq!(decode(wire).as_deref(), Ok(utf8), "decode({wire:?})");
    }

    #[track_caller]
    fn rejected(wire: &str, reason_part: &str) {
        match decode(wire) {
            Ok(decoded) => panic!("{wire:?} must be refused, decoded to {decoded:?}"),
            Err(error) => assert!(
                error.reason.contains(reason_part),
                "{wire:?}: expected a reason containing {reason_part:?}, got {error}"
            ),
        }
    }

    #[test]
    fn rfc_3501_examples() {
        // RFC 3501 section 5.1.3: "~peter/mail/台北/日本語".
        round_trip("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        round_trip("&", "&-");
        round_trip("Tom & Jerry", "Tom &- Jerry");
    }

    #[test]
    fn plain_ascii_is_unchanged() {
        for name in [
            "INBOX",
            "Sent Items",
            "a.b/c",
            "~!\"#$%'()*+,-./:;<=>?@[\\]^_`{|}",
        ] {
            round_trip(name, name);
        }
        round_trip("", "");
    }

    #[test]
    fn non_ascii_round_trips() {
        round_trip("Ärger", "&AMQ-rger");
        round_trip("Entwürfe", "Entw&APw-rfe");
        round_trip("Привет", "&BB8EQAQ4BDIENQRC-");
        round_trip("日本語", "&ZeVnLIqe-");
        // Outside the BMP: a surrogate pair.
        round_trip("😀", "&2D3eAA-");
        round_trip("a😀b€", "a&2D3eAA-b&IKw-");
        // Control characters are not printable ASCII, so they are encoded.
        round_trip("tab\there", "tab&AAk-here");
        round_trip("\u{7f}", "&AH8-");
        round_trip("&Ä&", "&-&AMQ-&-");
    }

    #[test]
    fn every_char_class_round_trips() {
        let samples = [
            "x\u{80}y",
            "\u{ff}\u{100}\u{7ff}\u{800}\u{ffff}",
            "\u{10000}\u{10ffff}",
            "mix & \u{e9}t\u{e9} &\u{1f600}&",
        ];
        for sample in samples {
            let wire = encode(sample);
            assert!(wire.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{wire:?}");
            assert_eq!(decode(&wire).as_deref(), Ok(sample));
        }
    }

    #[test]
    fn refuses_unterminated_shifts() {
        rejected("&", "not closed");
        rejected("abc&", "not closed");
        rejected("&AMQ", "not closed");
        rejected("a&U,BTFw", "not closed");
    }

    #[test]
    fn refuses_ampersand_followed_by_other_characters() {
        rejected("&!-", "followed by '-' or modified base64");
        rejected("& -", "followed by '-' or modified base64");
        rejected("a&&-", "followed by '-' or modified base64");
    }

    #[test]
    fn refuses_bad_base64() {
        // '/' is standard base64 but not modified base64; '=' padding is not allowed.
        rejected("&U/BTFw-", "not modified base64");
        rejected("&AMQ=-", "not modified base64");
        rejected("&AM Q-", "not modified base64");
    }

    #[test]
    fn refuses_non_minimal_or_truncated_runs() {
        // One character too many: 4 chars = 24 bits = one unit + 8 spare bits.
        rejected("&AMQA-", "whole UTF-16 code unit");
        // Truncated: 2 chars = 12 bits, not a whole unit.
        rejected("&AM-", "whole UTF-16 code unit");
        // Non-zero padding bits: "AMR" carries 0x00C4 plus two set padding bits.
        rejected("&AMR-", "padding bits");
        // Two adjacent shifts must be one: "&AMQ-&AMQ-" is "&AMQAxA-".
        rejected("&AMQ-&AMQ-", "directly after another");
        assert_eq!(decode("&AMQAxA-").as_deref(), Ok("ÄÄ"));
        // But a shift followed by a literal '&' is fine.
        assert_eq!(decode("&AMQ-&-").as_deref(), Ok("Ä&"));
    }

    #[test]
    fn refuses_surrogate_errors() {
        // A lone high surrogate (D83D), a lone low surrogate (DE00), and a reversed pair.
        rejected("&2D0-", "surrogate");
        rejected("&3gA-", "surrogate");
        rejected("&3gDYPQ-", "surrogate");
        // A high surrogate closed before its low half arrives in the same shift.
        rejected("&2D0-x&3gA-", "surrogate");
    }

    #[test]
    fn refuses_printable_ascii_inside_a_shift() {
        // "&AGE-" is 'a' (0x0061) in base64.
        rejected("&AGE-", "must stand for itself");
        // '&' itself must be "&-", never "&ACY-".
        rejected("&ACY-", "must stand for itself");
        // Mixed: Ä then 'a' in one run.
        rejected("&AMQAYQ-", "must stand for itself");
    }

    #[test]
    fn refuses_non_ascii_and_control_bytes() {
        rejected("Ärger", "printable US-ASCII");
        rejected("a\tb", "printable US-ASCII");
        rejected("a\r\nb", "printable US-ASCII");
        rejected("\u{7f}", "printable US-ASCII");
    }

    #[test]
    fn error_names_the_input_and_position() {
        let error = decode("ok&AMQ").unwrap_err();
        assert_eq!(error.input, "ok&AMQ");
        assert_eq!(error.position, 2);
        assert!(error.to_string().contains("\"ok&AMQ\""));
    }
}
