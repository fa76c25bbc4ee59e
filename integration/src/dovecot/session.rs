//! The harness's own minimal IMAP client, written here rather than borrowed from the `imap`
//! crate the plugin uses so a bug there cannot hide itself. It connects from its own
//! loopback address ([`HARNESS_ADDRESS`]) so Dovecot tells it from twinbox.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::mailboxes::ServerMessage;
use super::response::{literal_length, tokenize, Chunk, Value};

/// What a command got back besides its tagged OK.
#[derive(Debug, Default)]
pub struct Reply {
    /// Untagged data lines (`* 3 FETCH (...)` -> [Atom 3, Atom FETCH, List]), without `*`.
    pub data: Vec<Vec<Value>>,
    /// The text of every status line (`* OK [UIDVALIDITY 5] ...`, the tagged OK), after the
    /// status word.
    pub status: Vec<String>,
}

/// A minimal IMAP client for the harness: commands are strings, responses are parsed with
/// literals read exactly. Errors are strings (a test panics with them).
pub struct ImapSession {
    reader: BufReader<TcpStream>,
    tag: u32,
}

impl ImapSession {
    /// Connects to the plain listener on `port` from [`HARNESS_ADDRESS`] and reads the
    /// greeting.
    pub fn connect(port: u16) -> ImapSession {
        let stream = connect_from_harness_address(port).unwrap_or_else(|e| {
            panic!("connect from {HARNESS_ADDRESS:?} to 127.0.0.1:{port}: {e}")
        });
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set a read timeout");
        let mut session = ImapSession {
            reader: BufReader::new(stream),
            tag: 0,
        };
        let greeting = session.read_line().expect("the IMAP greeting");
        assert!(
            matches!(greeting.first(), Some(Chunk::Text(t)) if t.starts_with(b"* OK")),
            "unexpected greeting {greeting:?}"
        );
        session
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("H{}", self.tag)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.reader
            .get_mut()
            .write_all(bytes)
            .map_err(|e| format!("write: {e}"))
    }

    /// One response line, literals inlined as separate chunks.
    fn read_line(&mut self) -> Result<Vec<Chunk>, String> {
        let mut chunks = Vec::new();
        loop {
            let mut line = Vec::new();
            self.reader
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("read: {e}"))?;
            if !line.ends_with(b"\r\n") {
                return Err(format!(
                    "connection closed in a response: {:?}",
                    String::from_utf8_lossy(&line)
                ));
            }
            line.truncate(line.len() - 2);
            match literal_length(&line) {
                Some((length, start)) => {
                    line.truncate(start);
                    chunks.push(Chunk::Text(line));
                    let mut literal = vec![0; length];
                    self.reader
                        .read_exact(&mut literal)
                        .map_err(|e| format!("read a literal of {length} bytes: {e}"))?;
                    chunks.push(Chunk::Literal(literal));
                }
                None => {
                    chunks.push(Chunk::Text(line));
                    return Ok(chunks);
                }
            }
        }
    }

    /// Reads until the tagged response of `tag`.
    fn finish(&mut self, tag: &str) -> Result<Reply, String> {
        let mut reply = Reply::default();
        loop {
            let chunks = self.read_line()?;
            let first = match chunks.first() {
                Some(Chunk::Text(text)) => String::from_utf8_lossy(text).into_owned(),
                _ => String::new(),
            };
            let (who, rest) = first.split_once(' ').unwrap_or((&first, ""));
            let (word, text) = rest.split_once(' ').unwrap_or((rest, ""));
            let is_status = ["OK", "NO", "BAD", "BYE", "PREAUTH"]
                .iter()
                .any(|s| s.eq_ignore_ascii_case(word));
            if who == tag {
                if word.eq_ignore_ascii_case("OK") {
                    reply.status.push(text.to_owned());
                    return Ok(reply);
                }
                return Err(format!("{word} {text}"));
            }
            if who == "*" && is_status {
                reply.status.push(text.to_owned());
            } else if who == "*" {
                let mut values = tokenize(&chunks)?;
                values.remove(0);
                reply.data.push(values);
            } else {
                return Err(format!("unexpected response line {first:?}"));
            }
        }
    }

    /// Runs one command (without tag and CRLF) to its tagged OK.
    pub fn command(&mut self, command: &str) -> Result<Reply, String> {
        let tag = self.next_tag();
        self.send(format!("{tag} {command}\r\n").as_bytes())?;
        self.finish(&tag)
    }

    /// SELECTs a mailbox given as an astring ([`Dovecot::wire_name`](super::Dovecot::wire_name)).
    pub fn select(&mut self, wire_name: &str) -> Reply {
        self.command(&format!("SELECT {wire_name}"))
            .unwrap_or_else(|e| panic!("SELECT {wire_name}: {e}"))
    }

    /// EXAMINEs a mailbox given as an astring.
    pub fn examine(&mut self, wire_name: &str) -> Reply {
        self.command(&format!("EXAMINE {wire_name}"))
            .unwrap_or_else(|e| panic!("EXAMINE {wire_name}: {e}"))
    }

    /// APPENDs `content` with a synchronizing literal; returns the APPENDUID UID.
    pub fn append(
        &mut self,
        wire_name: &str,
        content: &[u8],
        flags: &[&str],
        internal_date: Option<&str>,
    ) -> Result<u32, String> {
        let tag = self.next_tag();
        let date = internal_date
            .map(|d| format!(" \"{d}\""))
            .unwrap_or_default();
        self.send(
            format!(
                "{tag} APPEND {wire_name} ({}){date} {{{}}}\r\n",
                flags.join(" "),
                content.len()
            )
            .as_bytes(),
        )?;
        let continuation = self.read_line()?;
        match continuation.first() {
            Some(Chunk::Text(text)) if text.starts_with(b"+") => {}
            other => return Err(format!("APPEND refused: {other:?}")),
        }
        self.send(content)?;
        self.send(b"\r\n")?;
        let reply = self.finish(&tag)?;
        let text = reply.status.last().cloned().unwrap_or_default();
        text.strip_prefix("[APPENDUID ")
            .and_then(|rest| rest.split(']').next())
            .and_then(|codes| codes.split(' ').nth(1))
            .and_then(|uid| uid.parse().ok())
            .ok_or_else(|| format!("no APPENDUID in {text:?}"))
    }

    /// Every message of the selected mailbox, by UID.
    pub fn fetch_all(&mut self) -> Vec<ServerMessage> {
        let reply = self
            .command("UID FETCH 1:* (UID FLAGS INTERNALDATE BODY.PEEK[])")
            .unwrap_or_else(|e| panic!("UID FETCH: {e}"));
        let mut messages = Vec::new();
        for data in reply.data {
            if data.get(1).and_then(Value::atom) != Some("FETCH") {
                continue;
            }
            let Some(Value::List(items)) = data.get(2) else {
                panic!("a FETCH response without a list: {data:?}");
            };
            let mut message = ServerMessage {
                uid: 0,
                flags: Vec::new(),
                internal_date: String::new(),
                body: Vec::new(),
            };
            for pair in items.chunks(2) {
                let [Value::Atom(key), value] = pair else {
                    panic!("unexpected FETCH items {items:?}");
                };
                match (key.to_ascii_uppercase().as_str(), value) {
                    ("UID", Value::Atom(uid)) => message.uid = uid.parse().expect("a UID"),
                    ("FLAGS", Value::List(flags)) => {
                        message.flags = flags
                            .iter()
                            .filter_map(Value::atom)
                            .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                            .map(str::to_owned)
                            .collect();
                    }
                    ("INTERNALDATE", Value::Bytes(date)) => {
                        message.internal_date = String::from_utf8_lossy(date).into_owned();
                    }
                    ("BODY[]", Value::Bytes(body)) => message.body = body.clone(),
                    _ => {}
                }
            }
            messages.push(message);
        }
        messages.sort_by_key(|m| m.uid);
        messages
    }
}

/// The loopback address the harness's own IMAP sessions come from, so that Dovecot tells
/// them from twinbox's (which come from 127.0.0.1): its log shows `rip=127.0.0.2`, and the
/// penalty Dovecot puts on an address after a failed login (seconds of delay on every
/// later login from it) never slows the harness after a wrong-password test.
pub const HARNESS_ADDRESS: [u8; 4] = [127, 0, 0, 2];

/// A TCP connection to `127.0.0.1:port` bound to [`HARNESS_ADDRESS`] (std cannot bind
/// before connecting).
fn connect_from_harness_address(port: u16) -> std::io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    fn address(ip: [u8; 4], port: u16) -> libc::sockaddr_in {
        libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(ip),
            },
            sin_zero: [0; 8],
        }
    }
    let length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor we own; the addresses outlive the calls.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // Owns (and on an error below, closes) the descriptor.
        let stream = TcpStream::from_raw_fd(fd);
        let local = address(HARNESS_ADDRESS, 0);
        if libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), length) != 0 {
            // A loopback without 127.0.0.0/8 (rare): connect from 127.0.0.1 after all;
            // only the login penalty and the log filter are lost.
            return TcpStream::connect(("127.0.0.1", port));
        }
        let remote = address([127, 0, 0, 1], port);
        if libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), length) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}
