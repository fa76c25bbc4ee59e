//! The only transformation twinbox ever applies to a message: line endings.
//!
//! IMAP transfers messages with CRLF; Maildir, mbox and MH files use LF. Converting between
//! the two touches nothing but the line ends: a lone CR stays, and a CRLF already present in
//! a file is not doubled.

use backend_api::{Body, LineEnding};

/// `bytes` converted from line endings `from` to `to` (unchanged when they are the same).
/// Both work in the buffer as it came (a body fetched by another plugin is not copied): CRLF
/// to LF shrinks it, LF to CRLF grows it once by the CRs to add (a reallocation, which for
/// a large body is a remap rather than a copy) and moves the lines up from the end.
pub fn convert(mut bytes: Body, from: LineEnding, to: LineEnding) -> Body {
    match (from, to) {
        (LineEnding::Lf, LineEnding::CrLf) => {
            lf_to_crlf_in_place(&mut bytes);
            bytes
        }
        (LineEnding::CrLf, LineEnding::Lf) => {
            let length = crlf_to_lf_in_slice(&mut bytes);
            bytes.truncate(length);
            bytes
        }
        _ => bytes,
    }
}

/// Every LF not already preceded by CR becomes CRLF.
pub fn lf_to_crlf(bytes: &[u8]) -> Vec<u8> {
    let bare = |&at: &usize| at == 0 || bytes[at - 1] != b'\r';
    let added = memchr::memchr_iter(b'\n', bytes).filter(bare).count();
    let mut out = Vec::with_capacity(bytes.len() + added);
    let mut start = 0;
    for at in memchr::memchr_iter(b'\n', bytes).filter(bare) {
        out.extend_from_slice(&bytes[start..at]);
        out.extend_from_slice(b"\r\n");
        start = at + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out
}

/// [`lf_to_crlf`] in `bytes`' own buffer, grown once.
pub fn lf_to_crlf_in_place(bytes: &mut Body) {
    let old = bytes.len();
    let added = {
        let bytes: &[u8] = bytes;
        let bare = |&at: &usize| at == 0 || bytes[at - 1] != b'\r';
        memchr::memchr_iter(b'\n', bytes).filter(bare).count()
    };
    if added == 0 {
        return;
    }
    bytes.reserve_exact(added);
    bytes.resize(old + added, 0);
    // From the end: the bytes after each bare LF (and the LF) move up by the CRs still to
    // insert before them; once all are inserted the rest is already in place. Writes land
    // at or above `write`, which stays above what is still to be read.
    let mut segment_end = old;
    let mut search = old;
    let mut write = old + added;
    while write > segment_end {
        let Some(at) = memchr::memrchr(b'\n', &bytes[..search]) else {
            unreachable!("fewer bare LFs than counted");
        };
        search = at;
        if at > 0 && bytes[at - 1] == b'\r' {
            continue;
        }
        let length = segment_end - at;
        bytes.copy_within(at..segment_end, write - length);
        write -= length + 1;
        bytes[write] = b'\r';
        segment_end = at;
    }
}

/// Every CRLF becomes LF; other CRs stay.
pub fn crlf_to_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    crlf_to_lf_in_place(&mut out);
    out
}

/// [`crlf_to_lf`] without a second buffer: the bytes between CRLFs move down in place.
pub fn crlf_to_lf_in_place(bytes: &mut Vec<u8>) {
    let length = crlf_to_lf_in_slice(bytes);
    bytes.truncate(length);
}

/// Converts `bytes` in place; the converted message is the returned length's prefix
/// (whatever buffer holds the bytes, the caller truncates it).
fn crlf_to_lf_in_slice(bytes: &mut [u8]) -> usize {
    let crlf = memchr::memmem::Finder::new(b"\r\n");
    let mut write = 0;
    let mut read = 0;
    while let Some(offset) = crlf.find(&bytes[read..]) {
        let cr = read + offset;
        bytes.copy_within(read..cr, write);
        write += cr - read;
        read = cr + 1; // keep the LF, drop the CR
    }
    let tail = bytes.len() - read;
    bytes.copy_within(read.., write);
    write + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_only_line_ends() {
        assert_eq!(lf_to_crlf(b"a\nb\r\nc\rd\n"), b"a\r\nb\r\nc\rd\r\n");
        assert_eq!(crlf_to_lf(b"a\r\nb\nc\rd\r\n\r"), b"a\nb\nc\rd\n\r");
        assert_eq!(lf_to_crlf(b"\n\n"), b"\r\n\r\n");
        assert_eq!(lf_to_crlf(b""), b"");
        assert_eq!(crlf_to_lf(b"\r\n\r\n"), b"\n\n");
        assert_eq!(crlf_to_lf(b"\r\r\n"), b"\r\n");
        assert_eq!(crlf_to_lf(b"no line end"), b"no line end");
        let original = Body::from(b"From: x\n\nbody\n".to_vec());
        let there = convert(original.clone(), LineEnding::Lf, LineEnding::CrLf);
        assert_eq!(there, *b"From: x\r\n\r\nbody\r\n");
        assert_eq!(convert(there, LineEnding::CrLf, LineEnding::Lf), original);
    }

    /// The byte-at-a-time definitions, for comparison.
    fn naive(bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut to_crlf = Vec::new();
        let mut previous = 0u8;
        for &byte in bytes {
            if byte == b'\n' && previous != b'\r' {
                to_crlf.push(b'\r');
            }
            to_crlf.push(byte);
            previous = byte;
        }
        let mut to_lf = Vec::new();
        for (i, &byte) in bytes.iter().enumerate() {
            if !(byte == b'\r' && bytes.get(i + 1) == Some(&b'\n')) {
                to_lf.push(byte);
            }
        }
        (to_crlf, to_lf)
    }

    #[test]
    fn every_short_mix_of_cr_lf_and_text_converts_as_defined() {
        for length in 0..=7u32 {
            for mut code in 0..3usize.pow(length) {
                let bytes: Vec<u8> = (0..length)
                    .map(|_| {
                        let byte = [b'a', b'\r', b'\n'][code % 3];
                        code /= 3;
                        byte
                    })
                    .collect();
                let (to_crlf, to_lf) = naive(&bytes);
                assert_eq!(lf_to_crlf(&bytes), to_crlf, "{bytes:?}");
                let mut in_place = Body::from(bytes.clone());
                lf_to_crlf_in_place(&mut in_place);
                assert_eq!(in_place, to_crlf, "{bytes:?}");
                assert_eq!(crlf_to_lf(&bytes), to_lf, "{bytes:?}");
            }
        }
    }
}
