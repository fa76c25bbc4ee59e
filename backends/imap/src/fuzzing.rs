//! Entry points for fuzzing our own IMAP response handling (issue 12): each takes any
//! input, must never panic, and panics only when a property is broken. The crate's
//! property tests (`fuzz_tests.rs`) drive them on the stable toolchain in CI; `fuzz/` at
//! the top of the repository drives the same functions under `cargo fuzz` by hand. Not
//! an API.

use std::io::{self, Read, Write};

use crate::link::{Link, Literals, Response, SharedStream};
use crate::names::NameMap;
use crate::{append, changes, response, wire};

/// A server that sends `input` in pieces of at most `chunk` bytes.
struct Server {
    input: io::Cursor<Vec<u8>>,
    chunk: usize,
}

impl Read for Server {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.chunk);
        self.input.read(&mut buf[..n])
    }
}

impl Write for Server {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A server's byte stream, read response by response (literals inline, then apart) and
/// each response handed to every parser we have. Whatever the bytes, reading ends in an
/// error or the end of input, never a panic, and what is read is bounded by the input.
pub fn responses(stream: &[u8], chunk: usize) {
    for literals in [Literals::Inline, Literals::Apart] {
        let server = SharedStream::new(Server {
            input: io::Cursor::new(stream.to_vec()),
            chunk: chunk.max(1),
        });
        let mut link = Link::new(server);
        let mut response = Response::default();
        let (mut read, mut apart) = (0usize, 0usize);
        while link.read(literals, &mut response).is_ok() {
            apart += response.literals.len();
            read += response.text.len()
                + response
                    .literals
                    .iter()
                    .map(|(_, l)| l.len())
                    .sum::<usize>();
            // Nothing is made up: a literal read apart leaves `{0}\r\n` where `{n}\n`
            // (at least 4 bytes) stood.
            assert!(
                read <= stream.len() + apart,
                "{read} bytes came out of {} in",
                stream.len()
            );
            let _ = response.kind();
            let _ = response.status();
            let _ = response.information();
            parse(&response.text);
            if let Some((uid, body, date)) = response::fetched_body(&mut response) {
                assert!(body.len() <= stream.len(), "a body longer than the stream");
                let _ = (uid, date.as_deref().map(wire::parse_internal_date));
            }
        }
    }
    parse(stream);
}

/// Every parser of complete responses on `buffer`, with the properties callers rely on.
fn parse(buffer: &[u8]) {
    let _ = response::parse_select(buffer);
    for record in response::parse_fetch(buffer) {
        if let Some(date) = &record.internal_date {
            let _ = wire::parse_internal_date(date);
        }
        if let Some(flags) = &record.flags {
            let _ = wire::flags_from_imap(flags);
            let _ = wire::permanent_flags(flags);
        }
    }
    let _ = response::parse_search(buffer);
    // CONDSTORE/QRESYNC answers: a changed message is trusted only with its size.
    if let Some(changed) = changes::changed_messages(buffer) {
        assert!(
            changed.iter().all(|m| m.uid != 0),
            "a changed message with UID 0"
        );
    }
    let _ = changes::vanished_uids(buffer);
    let _ = response::parse_capabilities(buffer);
    let map = NameMap::new(Some('/'), None);
    let dotted = NameMap::new(Some('.'), Some("INBOX."));
    for entry in response::parse_list(buffer) {
        for map in [&map, &dotted] {
            if let Ok(Some(path)) = map.decode(&entry.name) {
                // A decoded name maps back to the very name the server sent.
                assert_eq!(
                    map.encode(&path).map(String::into_bytes),
                    Ok(entry.name.clone()),
                    "{path:?}"
                );
            }
        }
    }
    for count in [1, 2, 7] {
        if let Some((_, uids)) = append::append_uids(buffer, count) {
            assert_eq!(uids.len(), count);
            assert!(uids.iter().all(|u| *u != 0));
        }
    }
    let _ = response::literal_length(buffer);
}
