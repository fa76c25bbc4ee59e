//! A TCP proxy between twinbox and Dovecot for the network-fault tests: it can cut a
//! connection in the middle of a `FETCH` and hide the UIDPLUS response codes (Dovecot sends
//! `APPENDUID` even when `imap_capability` hides UIDPLUS).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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
    /// Remove the `[APPENDUID ...]` and `[COPYUID ...]` response codes, so the client cannot
    /// learn new UIDs from them (pair with [`MINIMAL_CAPABILITY`](super::MINIMAL_CAPABILITY)).
    pub strip_uidplus: bool,
}

struct ProxyShared {
    stop: AtomicBool,
    /// `usize::MAX`: never cut.
    cut_after: AtomicUsize,
    strip_uidplus: bool,
    cuts: AtomicUsize,
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
            strip_uidplus: options.strip_uidplus,
            cuts: AtomicUsize::new(0),
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

    /// How many connections the proxy has cut.
    pub fn cuts(&self) -> usize {
        self.shared.cuts.load(Ordering::SeqCst)
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
    let close = |a: &TcpStream, b: &TcpStream| {
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
    };

    // Client -> server: watch for a request of message bodies.
    {
        let fetching = Arc::clone(&fetching);
        let (mut from, mut to) = (client, server_out);
        std::thread::spawn(move || {
            let mut window: Vec<u8> = Vec::new();
            let mut buf = [0u8; 16 * 1024];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                window.extend_from_slice(&buf[..n]);
                let upper = window.to_ascii_uppercase();
                if [&b"BODY["[..], b"BODY.PEEK[", b"RFC822 ", b"RFC822)"]
                    .iter()
                    .any(|needle| upper.windows(needle.len()).any(|w| w == *needle))
                {
                    fetching.store(true, Ordering::SeqCst);
                }
                let keep = window.len().saturating_sub(16);
                window.drain(..keep);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            close(&from, &to);
        });
    }

    // Server -> client: optionally rewrite, count and cut.
    let (mut from, mut to) = (server, client_out);
    std::thread::spawn(move || {
        let mut pending: Vec<u8> = Vec::new();
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
}
