//! A scripted fake IMAP server, only for protocol edge cases that no real server can be
//! made to produce (issue 12, deliver 4): malformed responses, a literal longer than
//! announced, an endless line, endless untagged responses, FETCH answers for UIDs never
//! asked for, duplicate UIDs, UIDVALIDITY 0, absurd folder names, a huge message. Every
//! other IMAP test runs against a real Dovecot.
//!
//! It speaks just enough IMAP4rev1 for a sync from server to Maildir: greeting,
//! CAPABILITY, LOGIN (and no AUTHENTICATE: no SASL mechanism is offered), LIST/LSUB, SELECT/EXAMINE, UID SEARCH, UID FETCH (listing items or
//! bodies), NOOP, LOGOUT; anything else is answered OK. Each folder may carry one
//! [`Quirk`], played when that folder is selected, so the other folders show that the
//! damage stays in one folder.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What a folder's answers do wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Quirk {
    #[default]
    None,
    /// The listing FETCH responses are not valid IMAP.
    MalformedFetch,
    /// Each body literal is announced 10 bytes shorter than it is.
    LiteralLongerThanAnnounced,
    /// The body fetch announces a literal of this many bytes and sends a few.
    HugeLiteral(u64),
    /// SELECT is answered with a line that never ends.
    EndlessLine,
    /// SELECT is answered with untagged responses that never end.
    EndlessUntagged,
    /// Every body fetch also answers for UID 4242, never asked for, with other bytes.
    UnaskedUid,
    /// SEARCH names every UID twice, and the body fetch answers each UID twice, the
    /// second time with other bytes.
    DuplicateUids,
    /// SELECT says UIDVALIDITY 0.
    UidValidityZero,
    /// The listing claims this RFC822.SIZE for every message (bodies are never sent:
    /// fetching one is an error the test sees).
    ClaimedSize(u64),
}

/// One folder: its name as sent in LIST (raw bytes, sent as a literal so anything fits),
/// its messages (UID, bytes) and its quirk.
#[derive(Clone, Debug)]
pub struct FakeFolder {
    pub name: Vec<u8>,
    pub uid_validity: u32,
    pub messages: Vec<(u32, Vec<u8>)>,
    pub quirk: Quirk,
    /// With [`Quirk::DuplicateUids`]: only this UID is answered twice (all if `None`).
    pub duplicate_only: Option<u32>,
}

impl FakeFolder {
    /// A well-behaved folder holding `messages` as UIDs 1, 2, ...
    pub fn new(name: impl Into<Vec<u8>>, messages: &[Vec<u8>]) -> FakeFolder {
        FakeFolder {
            name: name.into(),
            uid_validity: 1234,
            messages: messages
                .iter()
                .enumerate()
                .map(|(i, m)| (i as u32 + 1, m.clone()))
                .collect(),
            quirk: Quirk::None,
            duplicate_only: None,
        }
    }

    pub fn with_quirk(mut self, quirk: Quirk) -> FakeFolder {
        self.quirk = quirk;
        self
    }
}

struct Shared {
    folders: Mutex<Vec<FakeFolder>>,
    /// Greet with a line that never ends.
    endless_greeting: bool,
    stop: AtomicBool,
    /// Every command line received, for checks on what the client asked.
    commands: Mutex<Vec<String>>,
}

/// A fake server on a free loopback port; it stops when dropped.
pub struct FakeImap {
    port: u16,
    shared: Arc<Shared>,
}

impl FakeImap {
    pub fn start(folders: Vec<FakeFolder>) -> FakeImap {
        FakeImap::start_with(folders, false)
    }

    /// A server whose greeting never ends (before login, where the `imap` crate reads).
    pub fn start_with_endless_greeting() -> FakeImap {
        FakeImap::start_with(Vec::new(), true)
    }

    fn start_with(folders: Vec<FakeFolder>, endless_greeting: bool) -> FakeImap {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake server");
        let port = listener.local_addr().expect("its address").port();
        let shared = Arc::new(Shared {
            folders: Mutex::new(folders),
            endless_greeting,
            stop: AtomicBool::new(false),
            commands: Mutex::new(Vec::new()),
        });
        let accept = Arc::clone(&shared);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let shared = Arc::clone(&accept);
                std::thread::spawn(move || {
                    let _ = serve(&shared, client);
                });
            }
        });
        FakeImap { port, shared }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Replaces the folders (for the next connections' answers).
    pub fn set_folders(&self, folders: Vec<FakeFolder>) {
        *self.shared.folders.lock().unwrap() = folders;
    }

    /// The command lines received so far (tags included).
    pub fn commands(&self) -> Vec<String> {
        self.shared.commands.lock().unwrap().clone()
    }

    /// The `[Repository]` section options reaching this server (plaintext, any password).
    pub fn repository(&self) -> crate::dovecot::ImapRepository {
        crate::dovecot::ImapRepository::new()
            .set("type", "IMAP")
            .set("remotehost", "127.0.0.1")
            .set("remoteport", &self.port.to_string())
            .set("remoteuser", "fake")
            .set("remotepass", "fake")
            .set("ssl", "no")
            .set("starttls", "no")
            .set("timeout", "10")
    }
}

impl Drop for FakeImap {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

const CAPABILITIES: &str = "IMAP4rev1 UIDPLUS";

/// Answers one connection until LOGOUT, an error, or the client goes away.
fn serve(shared: &Shared, client: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut out = client;
    if shared.endless_greeting {
        out.write_all(b"* OK ")?;
        let chunk = vec![b'x'; 64 * 1024];
        while !shared.stop.load(Ordering::SeqCst) {
            out.write_all(&chunk)?;
        }
        return Ok(());
    }
    out.write_all(format!("* OK [CAPABILITY {CAPABILITIES}] fake ready\r\n").as_bytes())?;
    let mut selected: Option<FakeFolder> = None;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let text = line.trim_end().to_owned();
        shared.commands.lock().unwrap().push(text.clone());
        let (tag, command) = text.split_once(' ').unwrap_or((&text, ""));
        let upper = command.to_ascii_uppercase();
        let word = upper.split(' ').next().unwrap_or("");
        let mut reply: Vec<u8> = Vec::new();
        match word {
            "CAPABILITY" => reply.extend(format!("* CAPABILITY {CAPABILITIES}\r\n").bytes()),
            "AUTHENTICATE" => {
                // No SASL mechanism is offered: only LOGIN.
                out.write_all(format!("{tag} BAD no such mechanism\r\n").as_bytes())?;
                continue;
            }
            "LOGOUT" => {
                out.write_all(format!("* BYE bye\r\n{tag} OK done\r\n").as_bytes())?;
                let _ = out.shutdown(Shutdown::Both);
                return Ok(());
            }
            "LIST" | "LSUB" => {
                for folder in shared.folders.lock().unwrap().iter() {
                    reply
                        .extend(format!("* {word} () \"/\" {{{}}}\r\n", folder.name.len()).bytes());
                    reply.extend(&folder.name);
                    reply.extend(b"\r\n");
                }
            }
            "SELECT" | "EXAMINE" => {
                let name = mailbox_argument(command);
                let folder = shared
                    .folders
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|f| f.name == name.as_bytes())
                    .cloned();
                let Some(folder) = folder else {
                    out.write_all(format!("{tag} NO no such mailbox\r\n").as_bytes())?;
                    continue;
                };
                match folder.quirk {
                    Quirk::EndlessLine => {
                        out.write_all(b"* OK ")?;
                        let chunk = vec![b'x'; 64 * 1024];
                        loop {
                            out.write_all(&chunk)?;
                        }
                    }
                    Quirk::EndlessUntagged => {
                        let chunk = b"* OK still talking\r\n".repeat(4096);
                        loop {
                            out.write_all(&chunk)?;
                        }
                    }
                    _ => {}
                }
                let validity = if folder.quirk == Quirk::UidValidityZero {
                    0
                } else {
                    folder.uid_validity
                };
                let next = folder.messages.iter().map(|m| m.0).max().unwrap_or(0) + 1;
                reply.extend(
                    format!(
                        "* {} EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
                         * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] ok\r\n\
                         * OK [UIDVALIDITY {validity}] ok\r\n* OK [UIDNEXT {next}] ok\r\n",
                        folder.messages.len()
                    )
                    .bytes(),
                );
                selected = Some(folder);
                out.write_all(&reply)?;
                out.write_all(format!("{tag} OK [READ-WRITE] selected\r\n").as_bytes())?;
                continue;
            }
            "UID" => {
                let folder = selected.clone().unwrap_or_else(|| FakeFolder::new("", &[]));
                if upper.starts_with("UID SEARCH") {
                    let twice = folder.quirk == Quirk::DuplicateUids;
                    reply.extend(b"* SEARCH");
                    for (uid, _) in &folder.messages {
                        for _ in 0..if twice { 2 } else { 1 } {
                            reply.extend(format!(" {uid}").bytes());
                        }
                    }
                    reply.extend(b"\r\n");
                } else if upper.starts_with("UID FETCH") {
                    let set = command.split(' ').nth(2).unwrap_or("");
                    let bodies = upper.contains("BODY");
                    for (seq, (uid, bytes)) in folder.messages.iter().enumerate() {
                        if !in_set(set, *uid) {
                            continue;
                        }
                        let seq = seq + 1;
                        if bodies {
                            let quirk = match folder.duplicate_only {
                                Some(only) if only != *uid => &Quirk::None,
                                _ => &folder.quirk,
                            };
                            fetch_body(&mut reply, quirk, seq, *uid, bytes);
                        } else {
                            let size = match folder.quirk {
                                Quirk::ClaimedSize(size) => size,
                                _ => bytes.len() as u64,
                            };
                            if folder.quirk == Quirk::MalformedFetch {
                                reply.extend(
                                    format!("* {seq} FETCH (UID {uid} FLAGS (\\Seen RFC822.SIZE {size}\r\n")
                                        .bytes(),
                                );
                            } else {
                                reply.extend(
                                    format!(
                                        "* {seq} FETCH (UID {uid} FLAGS () RFC822.SIZE {size})\r\n"
                                    )
                                    .bytes(),
                                );
                            }
                        }
                    }
                    if bodies && folder.quirk == Quirk::UnaskedUid {
                        let other = b"Subject: never asked for\r\n\r\nintruder\r\n";
                        fetch_body(&mut reply, &Quirk::None, 99, 4242, other);
                    }
                }
            }
            _ => {}
        }
        reply.extend(format!("{tag} OK done\r\n").bytes());
        out.write_all(&reply)?;
    }
}

/// A FETCH response with the body of `uid`, spoiled as `quirk` says.
fn fetch_body(reply: &mut Vec<u8>, quirk: &Quirk, seq: usize, uid: u32, bytes: &[u8]) {
    let date = "\"14-Nov-2023 22:13:20 +0000\"";
    match quirk {
        Quirk::LiteralLongerThanAnnounced => {
            let announced = bytes.len().saturating_sub(10);
            reply.extend(
                format!("* {seq} FETCH (UID {uid} INTERNALDATE {date} BODY[] {{{announced}}}\r\n")
                    .bytes(),
            );
            reply.extend(bytes);
            reply.extend(b")\r\n");
        }
        Quirk::HugeLiteral(size) => {
            reply.extend(
                format!("* {seq} FETCH (UID {uid} INTERNALDATE {date} BODY[] {{{size}}}\r\n")
                    .bytes(),
            );
            reply.extend(bytes);
        }
        Quirk::ClaimedSize(_) => {
            reply.extend(
                format!("* {seq} BAD the body of a huge message was asked for\r\n").bytes(),
            );
        }
        Quirk::DuplicateUids => {
            for body in [bytes, b"Subject: a twin\r\n\r\nother bytes\r\n".as_slice()] {
                reply.extend(
                    format!(
                        "* {seq} FETCH (UID {uid} INTERNALDATE {date} BODY[] {{{}}}\r\n",
                        body.len()
                    )
                    .bytes(),
                );
                reply.extend(body);
                reply.extend(b")\r\n");
            }
        }
        _ => {
            reply.extend(
                format!(
                    "* {seq} FETCH (UID {uid} INTERNALDATE {date} BODY[] {{{}}}\r\n",
                    bytes.len()
                )
                .bytes(),
            );
            reply.extend(bytes);
            reply.extend(b")\r\n");
        }
    }
}

/// The mailbox argument of `SELECT "name"` (quoted, with `\` escapes) or `SELECT name`.
fn mailbox_argument(command: &str) -> String {
    let rest = command.split_once(' ').map_or("", |(_, r)| r).trim();
    let Some(quoted) = rest.strip_prefix('"') else {
        return rest.split(' ').next().unwrap_or("").to_owned();
    };
    let mut name = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => name.extend(chars.next()),
            '"' => break,
            c => name.push(c),
        }
    }
    name
}

/// Whether `uid` is in the IMAP set `set` (`1:3,7`, `*`).
fn in_set(set: &str, uid: u32) -> bool {
    set.split(',').any(|member| {
        let bound = |s: &str| {
            if s == "*" {
                u32::MAX
            } else {
                s.parse().unwrap_or(0)
            }
        };
        match member.split_once(':') {
            Some((a, b)) => {
                let (a, b) = (bound(a), bound(b));
                (a.min(b)..=a.max(b)).contains(&uid)
            }
            None => bound(member) == uid,
        }
    })
}
