//! Tagged commands on the raw connection after login, and the server's responses read one
//! at a time.
//!
//! The `imap` crate logs us in and then steps aside. Past login it would cost too much: it
//! reads a response line by line into one growing buffer and re-parses that buffer from
//! the start of the response after every line (a message of 20,000 lines is parsed 20,000
//! times), it copies every body at least twice, it cannot pipeline, and its APPEND waits
//! for a continuation for every message. Here each response is read once, its literals
//! either kept inline (small answers, parsed as a whole by `response`) or read straight
//! into a `Vec` of their own (message bodies: that `Vec` is the one the engine receives),
//! and commands may be written several at a time before their answers are read.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::sync::{Arc, Mutex};

use crate::response::literal_length;

/// Longest response line (literals excluded) we accept. Real lines are far shorter (a
/// `SEARCH` of 100,000 UIDs is under 1 MB); the bound keeps a server that never sends a
/// line end from taking all memory before the timeout.
const MAX_LINE: usize = 64 << 20;

/// Most bytes of one response kept in its text (lines and inline literals, so everything
/// but message bodies): a `LIST` of 10,000 folders or a `SEARCH` of a million UIDs is far
/// below it. A server sending more is out of its mind, not merely large.
pub(crate) const MAX_RESPONSE: usize = 64 << 20;

/// Largest message body (a literal read apart) we take. A server may store bigger ones,
/// but holding one needs that much memory twice over (here and where it is written), so
/// the bound protects the machine from a server that announces gigabytes; `maxsize`
/// skips big messages before they are asked for.
pub(crate) const MAX_MESSAGE: usize = 1 << 30;

/// Read and write buffer sizes: large enough that bodies pass in few system calls, small
/// next to a batch. Reads of a literal that do not fit bypass the buffer.
const BUFFER: usize = 64 * 1024;

/// A shared handle on the connection's byte stream (TCP, or TLS over TCP). The `imap`
/// crate holds one handle during login; our [`Link`] holds the others afterwards. Only
/// one thread uses a connection at a time, so the lock is never contended; it is there
/// because the handles must be `Send`.
pub(crate) struct SharedStream<S>(Arc<Mutex<S>>);

impl<S> Clone for SharedStream<S> {
    fn clone(&self) -> Self {
        SharedStream(Arc::clone(&self.0))
    }
}

impl<S> SharedStream<S> {
    pub fn new(stream: S) -> SharedStream<S> {
        SharedStream(Arc::new(Mutex::new(stream)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, S> {
        // A panic while holding the lock leaves the stream as it was; carry on.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<S: Read> Read for SharedStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.lock().read(buf)
    }
}

impl<S: Write> Write for SharedStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.lock().flush()
    }
}

/// What to do with the literals of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Literals {
    /// Keep them in [`Response::text`], where they were sent (for small answers).
    Inline,
    /// Read each into a `Vec` of its own (message bodies), leaving an empty literal
    /// `{0}` in the text in its place.
    Apart,
}

/// One response as read: its text and, with [`Literals::Apart`], its literals.
#[derive(Debug, Default)]
pub(crate) struct Response {
    /// Up to and including the final CRLF.
    pub text: Vec<u8>,
    /// With [`Literals::Apart`]: each literal's bytes and the offset in `text` just after
    /// the `{0}\r\n` that stands for it (where an `imap-proto` parse of `text` places the
    /// literal's empty value).
    pub literals: Vec<(usize, Vec<u8>)>,
}

/// What kind of response [`Link::read`] returned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `* ...`
    Untagged,
    /// `+ ...`: the server waits for a literal.
    Continuation,
    /// `<tag> ...` with the tag.
    Tagged(String),
}

impl Response {
    pub fn kind(&self) -> Kind {
        match self.text.first() {
            Some(b'*') => Kind::Untagged,
            Some(b'+') => Kind::Continuation,
            _ => {
                let end = self
                    .text
                    .iter()
                    .position(|b| *b == b' ' || *b == b'\r' || *b == b'\n')
                    .unwrap_or(self.text.len());
                Kind::Tagged(String::from_utf8_lossy(&self.text[..end]).into_owned())
            }
        }
    }

    /// The status word of a tagged or untagged status response, uppercased (`OK`, `NO`,
    /// `BAD`, `BYE`, `PREAUTH`), or `""`.
    pub fn status(&self) -> String {
        let mut words = self.text.split(|b| *b == b' ');
        words.next();
        let word = words.next().unwrap_or_default();
        let word = word.strip_suffix(b"\n").unwrap_or(word);
        let word = word.strip_suffix(b"\r").unwrap_or(word);
        String::from_utf8_lossy(word).to_ascii_uppercase()
    }

    /// The text after the status word (response code included), without CRLF.
    pub fn information(&self) -> String {
        let text = String::from_utf8_lossy(&self.text);
        let text = text.trim_end_matches(['\r', '\n']);
        text.splitn(3, ' ').nth(2).unwrap_or("").to_owned()
    }
}

/// The command side of one connection after login: our own tags, a buffered reader and a
/// buffered writer over the same stream.
pub(crate) struct Link<S: Read + Write> {
    reader: BufReader<SharedStream<S>>,
    writer: BufWriter<SharedStream<S>>,
    next_tag: u32,
}

impl<S: Read + Write> Link<S> {
    /// Takes over `stream`, on which no response is pending.
    pub fn new(stream: SharedStream<S>) -> Link<S> {
        Link {
            reader: BufReader::with_capacity(BUFFER, stream.clone()),
            writer: BufWriter::with_capacity(BUFFER, stream),
            next_tag: 1,
        }
    }

    /// A fresh tag. Ours start with `t`, so they cannot be taken for the crate's (`a1`,
    /// ...) should the server still answer one of those.
    pub fn tag(&mut self) -> String {
        let tag = format!("t{}", self.next_tag);
        self.next_tag = self.next_tag.wrapping_add(1);
        tag
    }

    /// Buffers `bytes` for sending; [`Link::flush`] sends them. Large writes go out at
    /// once (`BufWriter` passes them through).
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Buffers `<tag> <command>\r\n` (a command without literals) and returns the tag.
    pub fn command(&mut self, command: &str) -> io::Result<String> {
        let tag = self.tag();
        self.write(format!("{tag} {command}\r\n").as_bytes())?;
        Ok(tag)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    /// Reads the next response into `out` (cleared first).
    pub fn read(&mut self, literals: Literals, out: &mut Response) -> io::Result<()> {
        out.text.clear();
        out.literals.clear();
        loop {
            let start = out.text.len();
            let read = (&mut self.reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut out.text)?;
            if read == 0 {
                return Err(closed());
            }
            if out.text.last() != Some(&b'\n') {
                return Err(if read > MAX_LINE {
                    too_long()
                } else {
                    closed()
                });
            }
            if out.text.len() > MAX_RESPONSE {
                return Err(too_long());
            }
            let line = &out.text[start..out.text.len() - 1];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(length) = literal_length(line) else {
                return Ok(());
            };
            if literals == Literals::Apart && length > MAX_MESSAGE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the server announced a literal of {length} bytes, more than the {} MiB \
                         twinbox takes for one message (set maxsize to skip such messages)",
                        MAX_MESSAGE >> 20
                    ),
                ));
            }
            if literals == Literals::Inline && out.text.len().saturating_add(length) > MAX_RESPONSE
            {
                return Err(too_long());
            }
            let body = match literals {
                Literals::Inline => {
                    let at = out.text.len();
                    reserve(&mut out.text, length)?;
                    out.text.resize(at + length, 0);
                    self.reader.read_exact(&mut out.text[at..]).map_err(eof)?;
                    continue;
                }
                Literals::Apart => {
                    // The literal's announcement `{n}` (the last `{` of the line) becomes
                    // `{0}`, so the text still parses, with an empty value in its place.
                    let open = out.text[start..]
                        .iter()
                        .rposition(|b| *b == b'{')
                        .map_or(start, |i| start + i);
                    out.text.truncate(open);
                    out.text.extend_from_slice(b"{0}\r\n");
                    let mut body = Vec::new();
                    reserve(&mut body, length)?;
                    // Zeroing first costs one pass over the memory; in return `read_exact`
                    // reads the bulk straight from the stream into the body (the reader's
                    // buffer is bypassed once it is drained).
                    body.resize(length, 0);
                    self.reader.read_exact(&mut body).map_err(eof)?;
                    body
                }
            };
            out.literals.push((out.text.len(), body));
        }
    }
}

fn reserve(buffer: &mut Vec<u8>, length: usize) -> io::Result<()> {
    buffer.try_reserve_exact(length).map_err(|_| {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("the server announced {length} bytes, more than we can hold"),
        )
    })
}

fn too_long() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the server sent a response line (or response) longer than {} MiB",
            MAX_LINE.min(MAX_RESPONSE) >> 20
        ),
    )
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the server closed the connection",
    )
}

fn eof(error: io::Error) -> io::Error {
    if error.kind() == io::ErrorKind::UnexpectedEof {
        closed()
    } else {
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scripted server: reads from `input`, records what is written.
    struct Script {
        input: io::Cursor<Vec<u8>>,
        written: Vec<u8>,
        /// At most this many bytes per read, to split responses anywhere.
        chunk: usize,
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.chunk);
            self.input.read(&mut buf[..n])
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn scripted(input: &[u8], chunk: usize) -> (Link<Script>, SharedStream<Script>) {
        let stream = SharedStream::new(Script {
            input: io::Cursor::new(input.to_vec()),
            written: Vec::new(),
            chunk,
        });
        (Link::new(stream.clone()), stream)
    }

    const SERVER: &[u8] = b"* 1 FETCH (UID 5 BODY[] {7}\r\nab\r\ncd\n FLAGS ())\r\n\
* 2 EXISTS\r\n\
+ go ahead\r\n\
t1 OK [APPENDUID 9 3:4] done\r\n";

    #[test]
    fn responses_are_read_one_at_a_time_with_literals_inline_or_apart() {
        for chunk in [1, 3, 1000] {
            let (mut link, _) = scripted(SERVER, chunk);
            let mut response = Response::default();
            link.read(Literals::Apart, &mut response).unwrap();
            assert_eq!(
                response.text,
                b"* 1 FETCH (UID 5 BODY[] {0}\r\n FLAGS ())\r\n".to_vec()
            );
            assert_eq!(response.literals.len(), 1);
            let (at, body) = &response.literals[0];
            assert_eq!(&response.text[..*at], b"* 1 FETCH (UID 5 BODY[] {0}\r\n");
            assert_eq!(body, b"ab\r\ncd\n");
            assert_eq!(response.kind(), Kind::Untagged);
            link.read(Literals::Inline, &mut response).unwrap();
            assert_eq!(response.text, b"* 2 EXISTS\r\n".to_vec());
            assert!(response.literals.is_empty());
            link.read(Literals::Inline, &mut response).unwrap();
            assert_eq!(response.kind(), Kind::Continuation);
            link.read(Literals::Inline, &mut response).unwrap();
            assert_eq!(response.kind(), Kind::Tagged("t1".into()));
            assert_eq!(response.status(), "OK");
            assert_eq!(response.information(), "[APPENDUID 9 3:4] done");
            let error = link.read(Literals::Inline, &mut response).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        }
        let (mut link, _) = scripted(SERVER, 5);
        let mut response = Response::default();
        link.read(Literals::Inline, &mut response).unwrap();
        assert_eq!(
            response.text,
            b"* 1 FETCH (UID 5 BODY[] {7}\r\nab\r\ncd\n FLAGS ())\r\n".to_vec()
        );
    }

    #[test]
    fn a_cut_in_a_literal_or_a_line_is_an_error() {
        let (mut link, _) = scripted(b"* 1 FETCH (BODY[] {100}\r\nabc", 7);
        let mut response = Response::default();
        let error = link.read(Literals::Apart, &mut response).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        let (mut link, _) = scripted(b"* 1 EXIS", 7);
        let error = link.read(Literals::Inline, &mut response).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        // An absurd literal is refused, not allocated.
        let (mut link, _) = scripted(b"* 1 FETCH (BODY[] {18446744073709551615}\r\n", 7);
        assert!(link.read(Literals::Apart, &mut response).is_err());
    }

    #[test]
    fn commands_are_tagged_and_buffered_until_flushed() {
        let (mut link, stream) = scripted(b"", 10);
        assert_eq!(link.command("NOOP").unwrap(), "t1");
        assert_eq!(link.command("CHECK").unwrap(), "t2");
        assert!(stream.lock().written.is_empty());
        link.flush().unwrap();
        assert_eq!(stream.lock().written, b"t1 NOOP\r\nt2 CHECK\r\n".to_vec());
    }
}
