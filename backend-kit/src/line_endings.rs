//! The only transformation twinbox ever applies to a message: line endings.
//!
//! IMAP transfers messages with CRLF; Maildir, mbox and MH files use LF. Converting between
//! the two touches nothing but the line ends: a lone CR stays, and a CRLF already present in
//! a file is not doubled.

use backend_api::LineEnding;

/// `bytes` converted from line endings `from` to `to` (unchanged when they are the same).
pub fn convert(bytes: Vec<u8>, from: LineEnding, to: LineEnding) -> Vec<u8> {
    match (from, to) {
        (LineEnding::Lf, LineEnding::CrLf) => lf_to_crlf(&bytes),
        (LineEnding::CrLf, LineEnding::Lf) => crlf_to_lf(&bytes),
        _ => bytes,
    }
}

/// Every LF not already preceded by CR becomes CRLF.
pub fn lf_to_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    let mut previous = 0u8;
    for &byte in bytes {
        if byte == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(byte);
        previous = byte;
    }
    out
}

/// Every CRLF becomes LF; other CRs stay.
pub fn crlf_to_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\r' && bytes.get(index + 1) == Some(&b'\n') {
            index += 1;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_only_line_ends() {
        assert_eq!(lf_to_crlf(b"a\nb\r\nc\rd\n"), b"a\r\nb\r\nc\rd\r\n");
        assert_eq!(crlf_to_lf(b"a\r\nb\nc\rd\r\n\r"), b"a\nb\nc\rd\n\r");
        let original = b"From: x\n\nbody\n".to_vec();
        let there = convert(original.clone(), LineEnding::Lf, LineEnding::CrLf);
        assert_eq!(convert(there, LineEnding::CrLf, LineEnding::Lf), original);
    }
}
