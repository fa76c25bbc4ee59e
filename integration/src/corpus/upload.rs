//! Loading a [`Plan`] into a test Dovecot fast: one connection, MULTIAPPEND batches with
//! non-synchronizing literals (see the module docs of `corpus` for why not `doveadm`).

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::dovecot::{format_internal_date, lf_to_crlf, quote, Dovecot};

use super::{CorpusMessage, Plan};

/// What [`fill`] loaded.
#[derive(Clone, Copy, Debug, Default)]
pub struct FillStats {
    pub messages: usize,
    pub bytes: usize,
}

/// Loads `plan` into `user`'s mailbox on `dovecot`: each folder created, then its messages
/// appended in batches over one connection. Panics on any refusal.
pub fn fill(dovecot: &Dovecot, user: &str, plan: &Plan) -> FillStats {
    let mut uploader = Uploader::login(dovecot.imap_port(), user, dovecot.password(user));
    let mut stats = FillStats::default();
    for i in 0..plan.folders.len() {
        let folder = &plan.folders[i].folder;
        let wire = dovecot.wire_name(folder);
        if !folder.eq_ignore_ascii_case("INBOX") {
            uploader
                .command(&format!("CREATE {wire}"))
                .unwrap_or_else(|e| panic!("CREATE {folder}: {e}"));
        }
        // A batch at a time: a large generated folder need not fit in memory.
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        let mut messages = plan.messages_iter(i).peekable();
        while let Some(message) = messages.next() {
            batch_bytes += message.content.len();
            stats.messages += 1;
            stats.bytes += message.content.len();
            batch.push(message);
            let full = match messages.peek() {
                Some(next) => batch.len() >= 500 || batch_bytes + next.content.len() > 32 << 20,
                None => true,
            };
            if full {
                uploader
                    .append_many(&wire, &batch)
                    .unwrap_or_else(|e| panic!("APPEND to {folder}: {e}"));
                batch.clear();
                batch_bytes = 0;
            }
        }
    }
    stats
}

/// A write-mostly IMAP client for loading mail: commands without literals in their
/// responses, and MULTIAPPEND with non-synchronizing literals.
pub struct Uploader {
    reader: BufReader<TcpStream>,
    tag: u32,
}

impl Uploader {
    /// Connects to the plain listener on `port` and logs in.
    pub fn login(port: u16, user: &str, password: &str) -> Uploader {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(300)))
            .expect("set a read timeout");
        stream
            .set_write_timeout(Some(Duration::from_secs(300)))
            .expect("set a write timeout");
        let mut uploader = Uploader {
            reader: BufReader::new(stream),
            tag: 0,
        };
        let mut greeting = String::new();
        uploader
            .reader
            .read_line(&mut greeting)
            .expect("the IMAP greeting");
        assert!(greeting.starts_with("* OK"), "greeting {greeting:?}");
        let capabilities = uploader
            .command(&format!("LOGIN {} {}", quote(user), quote(password)))
            .unwrap_or_else(|e| panic!("LOGIN {user}: {e}"));
        let capabilities = match capabilities.iter().any(|l| l.contains("MULTIAPPEND")) {
            true => capabilities,
            false => uploader.command("CAPABILITY").expect("CAPABILITY"),
        };
        for needed in ["MULTIAPPEND", "LITERAL+"] {
            assert!(
                capabilities.iter().any(|l| l.contains(needed)),
                "the server lacks {needed}: {capabilities:?}"
            );
        }
        uploader
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("U{}", self.tag)
    }

    /// Reads the response lines up to the tagged one; `Err` unless it is OK.
    fn finish(&mut self, tag: &str) -> Result<Vec<String>, String> {
        let mut lines = Vec::new();
        loop {
            let mut line = Vec::new();
            self.reader
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("read: {e}"))?;
            if line.is_empty() {
                return Err("connection closed".into());
            }
            let line = String::from_utf8_lossy(&line).trim_end().to_owned();
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                if rest.starts_with("OK") {
                    lines.push(line);
                    return Ok(lines);
                }
                return Err(rest.to_owned());
            }
            lines.push(line);
        }
    }

    /// Runs one command (no tag, no CRLF) whose responses carry no literal.
    pub fn command(&mut self, command: &str) -> Result<Vec<String>, String> {
        let tag = self.next_tag();
        let stream = self.reader.get_mut();
        stream
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        self.finish(&tag)
    }

    /// One MULTIAPPEND of `messages` to the mailbox `wire` (an astring), each with its
    /// flags and INTERNALDATE, sent without waiting (LITERAL+).
    pub fn append_many(&mut self, wire: &str, messages: &[CorpusMessage]) -> Result<(), String> {
        let tag = self.next_tag();
        let mut send = || -> std::io::Result<()> {
            let mut out = BufWriter::with_capacity(1 << 20, self.reader.get_mut());
            write!(out, "{tag} APPEND {wire}")?;
            for message in messages {
                let crlf;
                let bytes = if message.send_raw {
                    &message.content
                } else {
                    crlf = lf_to_crlf(&message.content);
                    &crlf
                };
                write!(
                    out,
                    " ({}) \"{}\" {{{}+}}\r\n",
                    message.flags.join(" "),
                    format_internal_date(message.internal_date),
                    bytes.len()
                )?;
                out.write_all(bytes)?;
            }
            out.write_all(b"\r\n")?;
            out.flush()
        };
        send().map_err(|e| format!("write: {e}"))?;
        self.finish(&tag).map(|_| ())
    }
}
