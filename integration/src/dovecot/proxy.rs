//! A TCP proxy between twinbox and Dovecot for the network-fault tests: it can cut a
//! connection in the middle of a `FETCH`, hide the UIDPLUS response codes (Dovecot sends
//! `APPENDUID` even when `imap_capability` hides UIDPLUS), and leave `RFC822.SIZE` out of
//! FETCH responses, as a quirky server does.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::response::literal_length;
use super::Dovecot;

impl Dovecot {
    /// A proxy on a free loopback port forwarding to the plain listener.
    pub fn proxy(&self, options: ProxyOptions) -> Proxy {
        Proxy::start(self.imap_port, options)
    }
}

/// What a [`Proxy`] does to the traffic.
#[derive(Clone, Debug, Default)]
pub struct ProxyOptions {
    /// Cut every connection once the server has sent this many bytes after the client
    /// asked for message contents (`BODY[`, `BODY.PEEK[`, `RFC822`); changeable later with
    /// [`Proxy::set_cut_after_fetch_bytes`].
    pub cut_after_fetch_bytes: Option<usize>,
    /// Cut every connection once the client has sent this many bytes since it asked to
    /// APPEND (in the middle of an upload); changeable later with
    /// [`Proxy::set_cut_after_append_bytes`].
    pub cut_after_append_bytes: Option<usize>,
    /// Remove the `[APPENDUID ...]` and `[COPYUID ...]` response codes, so the client cannot
    /// learn new UIDs from them (pair with [`MINIMAL_CAPABILITY`](super::MINIMAL_CAPABILITY)).
    pub strip_uidplus: bool,
    /// Leave `RFC822.SIZE <n>` out of the FETCH responses of these messages.
    pub strip_rfc822_size: StripSize,
    /// Once the client asked for message contents, stop passing the server's bytes on
    /// ([`Slow::Stall`]) or pass one byte a second ([`Slow::Trickle`]); changeable later
    /// with [`Proxy::set_slow`].
    pub slow: Slow,
}

/// How a [`Proxy`] slows the server's side down once message contents are asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Slow {
    /// Not at all.
    #[default]
    No,
    /// The connection stays open, and nothing more comes.
    Stall,
    /// One byte a second.
    Trickle,
}

/// Whose FETCH responses a [`Proxy`] sends without their `RFC822.SIZE`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StripSize {
    /// Nobody's: the responses pass as the server sent them.
    #[default]
    None,
    /// Every message's.
    All,
    /// Only the message with this UID (in whichever folder is selected).
    Uid(u32),
}

struct ProxyShared {
    stop: AtomicBool,
    /// `usize::MAX`: never cut.
    cut_after: AtomicUsize,
    /// `usize::MAX`: never cut.
    cut_after_append: AtomicUsize,
    strip_uidplus: bool,
    strip_rfc822_size: StripSize,
    /// How many `RFC822.SIZE` items were left out.
    sizes_stripped: AtomicUsize,
    cuts: AtomicUsize,
    /// A [`Slow`] as a number (0 no, 1 stall, 2 trickle).
    slow: AtomicUsize,
    /// How many connections were stalled or trickled.
    slowed: AtomicUsize,
    /// Once the client starts an APPEND, stop reading from it (the server never gets
    /// the upload, and the client's writes block once the socket buffers are full).
    stall_uploads: AtomicBool,
    connections: AtomicUsize,
    live: Mutex<Vec<TcpStream>>,
}

/// A loopback TCP proxy in front of Dovecot's plain listener for fault injection. Each
/// connection gets two forwarding threads; all end when the proxy is dropped.
pub struct Proxy {
    port: u16,
    shared: Arc<ProxyShared>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: u16, options: ProxyOptions) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let shared = Arc::new(ProxyShared {
            stop: AtomicBool::new(false),
            cut_after: AtomicUsize::new(options.cut_after_fetch_bytes.unwrap_or(usize::MAX)),
            cut_after_append: AtomicUsize::new(
                options.cut_after_append_bytes.unwrap_or(usize::MAX),
            ),
            strip_uidplus: options.strip_uidplus,
            strip_rfc822_size: options.strip_rfc822_size,
            sizes_stripped: AtomicUsize::new(0),
            cuts: AtomicUsize::new(0),
            slow: AtomicUsize::new(options.slow as usize),
            slowed: AtomicUsize::new(0),
            stall_uploads: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            live: Mutex::new(Vec::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || {
            for client in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                accept_shared.connections.fetch_add(1, Ordering::SeqCst);
                relay(Arc::clone(&accept_shared), client, server);
            }
        });
        Proxy {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The port twinbox connects to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Arms (`Some`) or disarms (`None`) the cut for connections from now on and those
    /// that have not been cut yet.
    pub fn set_cut_after_fetch_bytes(&self, bytes: Option<usize>) {
        self.shared
            .cut_after
            .store(bytes.unwrap_or(usize::MAX), Ordering::SeqCst);
    }

    /// Arms (`Some`) or disarms (`None`) the cut during uploads, like
    /// [`Proxy::set_cut_after_fetch_bytes`].
    pub fn set_cut_after_append_bytes(&self, bytes: Option<usize>) {
        self.shared
            .cut_after_append
            .store(bytes.unwrap_or(usize::MAX), Ordering::SeqCst);
    }

    /// Slows the server's side down (or not) from now on, for connections that fetch.
    pub fn set_slow(&self, slow: Slow) {
        self.shared.slow.store(slow as usize, Ordering::SeqCst);
    }

    /// Stalls (or not) every upload from now on: see [`ProxyShared::stall_uploads`].
    pub fn set_stall_uploads(&self, stall: bool) {
        self.shared.stall_uploads.store(stall, Ordering::SeqCst);
    }

    /// How many connections the proxy has stalled or trickled.
    pub fn slowed(&self) -> usize {
        self.shared.slowed.load(Ordering::SeqCst)
    }

    /// How many connections the proxy has cut.
    pub fn cuts(&self) -> usize {
        self.shared.cuts.load(Ordering::SeqCst)
    }

    /// How many `RFC822.SIZE` items the proxy left out of FETCH responses.
    pub fn sizes_stripped(&self) -> usize {
        self.shared.sizes_stripped.load(Ordering::SeqCst)
    }

    /// How many connections went through the proxy.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for stream in self
            .shared
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Forwards one connection both ways on two threads.
fn relay(shared: Arc<ProxyShared>, client: TcpStream, server: TcpStream) {
    let (Ok(client_out), Ok(server_out)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    {
        let mut live = shared.live.lock().unwrap_or_else(|e| e.into_inner());
        for stream in [&client, &server] {
            if let Ok(clone) = stream.try_clone() {
                live.push(clone);
            }
        }
    }
    let fetching = Arc::new(AtomicBool::new(false));
    // Set when the client's side ends, so that a stalled server side ends too.
    let client_gone = Arc::new(AtomicBool::new(false));
    let close = |a: &TcpStream, b: &TcpStream| {
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
    };

    // Client -> server: watch for a request of message bodies, and for uploads.
    {
        let fetching = Arc::clone(&fetching);
        let shared = Arc::clone(&shared);
        let client_gone = Arc::clone(&client_gone);
        let (mut from, mut to) = (client, server_out);
        std::thread::spawn(move || {
            let mut window: Vec<u8> = Vec::new();
            let mut buf = [0u8; 16 * 1024];
            // Bytes sent since the first APPEND, once one was seen.
            let mut appending: Option<usize> = None;
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                window.extend_from_slice(&buf[..n]);
                let upper = window.to_ascii_uppercase();
                let seen = |needles: &[&[u8]]| {
                    needles
                        .iter()
                        .any(|needle| upper.windows(needle.len()).any(|w| w == *needle))
                };
                if seen(&[b"BODY[", b"BODY.PEEK[", b"RFC822 ", b"RFC822)"]) {
                    fetching.store(true, Ordering::SeqCst);
                }
                // Counted from the start of this chunk: close enough for a cut "somewhere in
                // the middle".
                if appending.is_none() && seen(&[b" APPEND "]) {
                    appending = Some(0);
                }
                let keep = window.len().saturating_sub(16);
                window.drain(..keep);
                if appending.is_some() && shared.stall_uploads.load(Ordering::SeqCst) {
                    shared.slowed.fetch_add(1, Ordering::SeqCst);
                    // Read nothing more until the client gives up (its end closes) or the
                    // proxy stops.
                    let _ = from.set_read_timeout(Some(std::time::Duration::from_millis(50)));
                    let mut probe = [0u8; 1];
                    while !shared.stop.load(Ordering::SeqCst) {
                        match from.peek(&mut probe) {
                            Ok(0) => break,
                            Err(e)
                                if !matches!(
                                    e.kind(),
                                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                ) =>
                            {
                                break
                            }
                            _ => std::thread::sleep(std::time::Duration::from_millis(50)),
                        }
                    }
                    break;
                }
                let mut out = &buf[..n];
                let mut cut = false;
                if let Some(sent) = appending.as_mut() {
                    let limit = shared.cut_after_append.load(Ordering::SeqCst);
                    if sent.saturating_add(n) >= limit {
                        out = &buf[..limit.saturating_sub(*sent).min(n)];
                        cut = true;
                    }
                    *sent += out.len();
                }
                if to.write_all(out).is_err() {
                    break;
                }
                if cut {
                    let _ = to.flush();
                    shared.cuts.fetch_add(1, Ordering::SeqCst);
                    break;
                }
            }
            client_gone.store(true, Ordering::SeqCst);
            close(&from, &to);
        });
    }

    // Server -> client: optionally rewrite, count and cut.
    let (mut from, mut to) = (server, client_out);
    std::thread::spawn(move || {
        let mut pending: Vec<u8> = Vec::new();
        let mut sizes = SizeStripper::new(shared.strip_rfc822_size.clone());
        let mut sent_while_fetching = 0usize;
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut out = if shared.strip_uidplus {
                pending.extend_from_slice(&buf[..n]);
                let end = pending
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                let lines: Vec<u8> = pending.drain(..end).collect();
                strip_uidplus_codes(&lines)
            } else {
                buf[..n].to_vec()
            };
            if sizes.which != StripSize::None {
                let before = sizes.stripped;
                out = sizes.feed(&out);
                shared
                    .sizes_stripped
                    .fetch_add(sizes.stripped - before, Ordering::SeqCst);
            }
            if fetching.load(Ordering::SeqCst) && shared.slow.load(Ordering::SeqCst) != 0 {
                shared.slowed.fetch_add(1, Ordering::SeqCst);
                let trickle = shared.slow.load(Ordering::SeqCst) == Slow::Trickle as usize;
                let mut left: std::collections::VecDeque<u8> = out.iter().copied().collect();
                while !client_gone.load(Ordering::SeqCst) && !shared.stop.load(Ordering::SeqCst) {
                    if !trickle {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        continue;
                    }
                    let Some(byte) = left.pop_front() else {
                        // More to trickle: the rest of the server's bytes.
                        match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => left.extend(&buf[..n]),
                        }
                        continue;
                    };
                    if to.write_all(&[byte]).is_err() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
                break;
            }
            if fetching.load(Ordering::SeqCst) {
                let limit = shared.cut_after.load(Ordering::SeqCst);
                if sent_while_fetching.saturating_add(out.len()) >= limit {
                    out.truncate(limit.saturating_sub(sent_while_fetching));
                    let _ = to.write_all(&out);
                    let _ = to.flush();
                    shared.cuts.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                sent_while_fetching += out.len();
            }
            if to.write_all(&out).is_err() {
                break;
            }
        }
        close(&from, &to);
    });
}

/// Removes `[APPENDUID ...]` and `[COPYUID ...]` from status lines (whole lines given).
fn strip_uidplus_codes(lines: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.len());
    for line in lines.split_inclusive(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let stripped = ["[APPENDUID ", "[COPYUID "].iter().find_map(|code| {
            let at = text.find(code)?;
            let head = &text[..at];
            // Only in a status line: "<tag> OK [CODE ...]" or "* OK [CODE ...]".
            if !head.ends_with("OK ") || head.split(' ').count() != 3 {
                return None;
            }
            let end = text[at..].find(']')? + at + 1;
            let rest = text[end..].trim_start_matches(' ');
            Some(format!("{head}{rest}"))
        });
        match stripped {
            Some(text) => out.extend_from_slice(text.as_bytes()),
            None => out.extend_from_slice(line),
        }
    }
    out
}

/// Leaves `RFC822.SIZE <n>` out of FETCH responses in a server's byte stream, in response
/// lines only: literals (message contents) pass untouched, whatever they hold.
struct SizeStripper {
    which: StripSize,
    /// Bytes of an incomplete line.
    pending: Vec<u8>,
    /// Bytes of a literal still to pass through.
    literal_left: usize,
    /// How many items were left out so far.
    stripped: usize,
}

impl SizeStripper {
    fn new(which: StripSize) -> SizeStripper {
        SizeStripper {
            which,
            pending: Vec::new(),
            literal_left: 0,
            stripped: 0,
        }
    }

    /// The next bytes of the stream, rewritten; an incomplete line is held back.
    fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::with_capacity(self.pending.len());
        loop {
            if self.literal_left > 0 {
                let n = self.literal_left.min(self.pending.len());
                out.extend(self.pending.drain(..n));
                self.literal_left -= n;
                if self.literal_left > 0 {
                    break;
                }
            }
            let Some(end) = self.pending.iter().position(|&b| b == b'\n') else {
                break;
            };
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let text = line.strip_suffix(b"\r\n").unwrap_or(&line);
            self.literal_left = literal_length(text).map_or(0, |(n, _)| n);
            out.extend(self.rewrite(&line));
        }
        out
    }

    /// One response line (or the part of one before a literal).
    fn rewrite(&mut self, line: &[u8]) -> Vec<u8> {
        if !line.starts_with(b"* ") || find(line, b" FETCH (").is_none() {
            return line.to_vec();
        }
        let Some(at) = find(line, b"RFC822.SIZE ") else {
            return line.to_vec();
        };
        let wanted = match &self.which {
            StripSize::None => false,
            StripSize::All => true,
            StripSize::Uid(uid) => fetch_uid(line) == Some(*uid),
        };
        if !wanted {
            return line.to_vec();
        }
        let digits_end = line[at + 12..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(line.len(), |n| at + 12 + n);
        // One separating space goes with the item: "(UID 3 RFC822.SIZE 9 FLAGS" ->
        // "(UID 3 FLAGS", "(RFC822.SIZE 9)" -> "()".
        let (start, end) = if line.get(digits_end) == Some(&b' ') {
            (at, digits_end + 1)
        } else if at > 0 && line[at - 1] == b' ' {
            (at - 1, digits_end)
        } else {
            (at, digits_end)
        };
        self.stripped += 1;
        [&line[..start], &line[end..]].concat()
    }
}

/// The position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `UID n` item of a FETCH response line.
fn fetch_uid(line: &[u8]) -> Option<u32> {
    let open = find(line, b" FETCH (")? + 8;
    let items = &line[open..];
    let at = find(items, b"UID ").filter(|&at| at == 0 || items[at - 1] == b' ')?;
    let digits: Vec<u8> = items[at + 4..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uidplus_codes_are_stripped_from_status_lines_only() {
        let input = b"H3 OK [APPENDUID 17 42] Append completed.\r\n\
                      Subject: [APPENDUID 1 2] stays\r\n\
                      * OK [COPYUID 1 2 3] Moved\r\n";
        assert_eq!(
            strip_uidplus_codes(input),
            b"H3 OK Append completed.\r\n\
              Subject: [APPENDUID 1 2] stays\r\n\
              * OK Moved\r\n"
                .to_vec()
        );
    }

    #[test]
    fn sizes_are_stripped_from_fetch_lines_of_the_chosen_uid_only() {
        let mut stripper = SizeStripper::new(StripSize::Uid(7));
        let stream = b"* 1 FETCH (UID 6 RFC822.SIZE 10 FLAGS ())\r\n\
                       * 2 FETCH (UID 7 RFC822.SIZE 11 FLAGS (\\Seen))\r\n\
                       * 2 FETCH (FLAGS () UID 7 RFC822.SIZE 11)\r\n\
                       H4 OK Fetch completed.\r\n";
        // Fed in pieces that split lines anywhere.
        let mut out = Vec::new();
        for piece in stream.chunks(5) {
            out.extend(stripper.feed(piece));
        }
        assert_eq!(
            out,
            b"* 1 FETCH (UID 6 RFC822.SIZE 10 FLAGS ())\r\n\
              * 2 FETCH (UID 7 FLAGS (\\Seen))\r\n\
              * 2 FETCH (FLAGS () UID 7)\r\n\
              H4 OK Fetch completed.\r\n"
                .to_vec()
        );
        assert_eq!(stripper.stripped, 2);
    }

    #[test]
    fn literals_pass_untouched() {
        let mut stripper = SizeStripper::new(StripSize::All);
        let body = b"Subject: x\r\n\r\n* 9 FETCH (UID 1 RFC822.SIZE 3)\r\n";
        let stream = [
            format!(
                "* 1 FETCH (UID 1 RFC822.SIZE {0} BODY[] {{{0}}}\r\n",
                body.len()
            )
            .as_bytes(),
            body,
            b")\r\n",
        ]
        .concat();
        let out = stripper.feed(&stream);
        let expected = [
            format!("* 1 FETCH (UID 1 BODY[] {{{}}}\r\n", body.len()).as_bytes(),
            body,
            b")\r\n",
        ]
        .concat();
        assert_eq!(out, expected);
    }
}
