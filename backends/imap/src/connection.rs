//! One authenticated IMAP connection: TCP with timeouts, TLS (implicit or STARTTLS) with
//! certificate checks, login, capabilities, and commands whose failures are sorted into
//! "the server said no" (the connection is still good) and "the connection is broken".
//!
//! STARTTLS is done by hand before the `imap` crate sees the stream: we read the plain
//! text greeting and responses one byte at a time, so nothing the server sends after its
//! `OK` can be taken for protected data (the STARTTLS injection attack); whatever it sent
//! early goes into the TLS handshake, which then fails.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use backend_api::{BackendError, ErrorScope, Retry};
use openssl::hash::MessageDigest;
use openssl::ssl::{HandshakeError, SslConnector, SslMethod, SslStream, SslVerifyMode};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509Ref, X509VerifyResult};

use crate::link::{self, Kind, Link, Literals, SharedStream};
use crate::options::{ImapOptions, Mechanism, Secret, Security};
use crate::response;
use crate::sasl;

/// The byte stream of a connection: TCP, or TLS over TCP.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(stream) => stream.read(buf),
            Stream::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(stream) => stream.write(buf),
            Stream::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(stream) => stream.flush(),
            Stream::Tls(stream) => stream.flush(),
        }
    }
}

/// What the `imap` crate runs on during login: a handle on the stream that our [`Link`]
/// keeps afterwards.
pub(crate) type Transport = SharedStream<Stream>;

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum CommandError {
    /// The server answered NO or BAD; the connection is still usable.
    Refused(String),
    /// The connection is gone or out of step (I/O error, timeout, BYE, garbage): it must
    /// be dropped.
    Broken(String),
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Refused(text) => write!(f, "the server refused: {text}"),
            CommandError::Broken(text) => f.write_str(text),
        }
    }
}

/// Secrets resolved once per repository (a password command may prompt), shared by its
/// connections. OAuth2 tokens expire, so a token command runs for every new connection.
#[derive(Default)]
pub(crate) struct Credentials {
    password: Mutex<Option<Secret>>,
}

impl Credentials {
    fn password(&self, options: &ImapOptions, user: &str) -> Result<Secret, BackendError> {
        let mut cached = self.password.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(secret) = cached.as_ref() {
            return Ok(secret.clone());
        }
        let secret = options.resolve_password(user)?;
        *cached = Some(secret.clone());
        Ok(secret)
    }
}

/// An authenticated connection.
pub(crate) struct ImapSession {
    /// Commands and responses after login (the `imap` crate is done by then).
    link: Link<Stream>,
    /// A second handle on the socket, to change timeouts and to shut it down.
    socket: TcpStream,
    capabilities: BTreeSet<String>,
    server: String,
    timeout: Duration,
    broken: bool,
    /// When the session was last handed back, for the pool's liveness check.
    pub idle_since: Instant,
    /// Whether `ENABLE QRESYNC` succeeded on this connection (`changes.rs`): once per
    /// connection, which keeps it for its life.
    pub qresync_enabled: bool,
}

/// The tagged answer to one of several pipelined commands: its line if OK, the server's
/// words if NO or BAD.
pub(crate) type Answer = Result<Vec<u8>, String>;

impl ImapSession {
    /// Connects, protects, logs in and reads the capabilities. Errors are repository-level:
    /// retry later for the network, never for configuration, certificates and refused
    /// logins.
    pub fn connect(
        options: &ImapOptions,
        credentials: &Credentials,
    ) -> Result<ImapSession, BackendError> {
        let server = options.server();
        let network = |what: &str, error: &dyn std::fmt::Display| {
            BackendError::new(
                ErrorScope::Repository,
                Retry::Later,
                format!(
                    "cannot connect to IMAP server {server} ({}): {what}: {error}",
                    options.section.name
                ),
            )
        };
        let tcp = connect_tcp(options).map_err(|e| network("connection failed", &e))?;
        let socket = tcp.try_clone().map_err(|e| network("socket", &e))?;

        let stream = match options.security {
            Security::ImplicitTls => Stream::Tls(Box::new(tls_handshake(options, tcp)?)),
            Security::StartTls => {
                let tcp = start_tls(options, tcp)?;
                Stream::Tls(Box::new(tls_handshake(options, tcp)?))
            }
            Security::Plaintext => Stream::Plain(tcp),
        };
        let transport = SharedStream::new(stream);
        let mut client = imap::Client::new(transport.clone());
        if options.security == Security::StartTls {
            // Read in plain text before the handshake.
            client.greeting_read = true;
        } else {
            let greeting = client
                .read_greeting()
                .map_err(|e| network("no greeting", &describe(&e, options.timeout)))?;
            check_greeting(options, &greeting)?;
        }
        if options.security == Security::Plaintext {
            // Asked for explicitly (starttls = no), so not worth a warning each time.
            log::info!(
                "[Repository {}] connects to {server} without TLS (ssl = no, starttls = no): \
                 the password and all mail cross the network readable",
                options.section.name
            );
        }

        let capabilities: BTreeSet<String> = client
            .capabilities()
            .map_err(|e| network("CAPABILITY failed", &describe(&e, options.timeout)))?
            .iter()
            .map(response::capability_name)
            .collect();
        // The crate is done once we are logged in. It reads ahead in a buffer of its own,
        // which is lost with it; that is safe because after the tagged answer to LOGIN
        // (or AUTHENTICATE) a server sends nothing until it gets the next command.
        drop(login(options, credentials, client, &capabilities)?);
        let mut session = ImapSession {
            link: Link::new(transport),
            socket,
            capabilities: BTreeSet::new(),
            server: server.clone(),
            timeout: options.timeout,
            broken: false,
            idle_since: Instant::now(),
            qresync_enabled: false,
        };
        // Capabilities change after login (UIDPLUS, CONDSTORE...): ask again.
        let buffer = session
            .run("CAPABILITY")
            .map_err(|e| network("CAPABILITY after login failed", &e))?;
        session.capabilities = response::parse_capabilities(&buffer).into_iter().collect();
        log::debug!(
            "connected to {} as {:?}; capabilities: {:?}",
            session.server,
            options.user,
            session.capabilities
        );
        Ok(session)
    }

    /// `host:port`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Whether the server announced `capability` (uppercase, e.g. `UIDPLUS`).
    pub fn has(&self, capability: &str) -> bool {
        self.capabilities.contains(capability)
    }

    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Runs one command and returns every response up to and including the tagged OK,
    /// literals inline.
    pub fn run(&mut self, command: &str) -> Result<Vec<u8>, CommandError> {
        let mut buffer = Vec::new();
        let answers = self.pipeline(&[command.to_owned()], Literals::Inline, |_, response| {
            buffer.extend_from_slice(&response.text)
        })?;
        match answers.into_iter().next() {
            Some(Ok(tagged)) => {
                buffer.extend_from_slice(&tagged);
                Ok(buffer)
            }
            Some(Err(refusal)) => Err(CommandError::Refused(refusal)),
            None => Err(self.out_of_step("no answer to the command")),
        }
    }

    /// Sends `commands` (each without tag and CRLF, without literals) all at once, then
    /// reads until each has its tagged answer: one round trip for all of them. The server
    /// runs them in order; a refusal of one does not stop the others (callers pipeline
    /// only commands for which that is right). `each` is given every untagged response
    /// with the index of the oldest command still unanswered, the one it belongs to
    /// unless the server sent it on its own.
    pub fn pipeline(
        &mut self,
        commands: &[String],
        literals: Literals,
        each: impl FnMut(usize, &mut link::Response),
    ) -> Result<Vec<Answer>, CommandError> {
        self.usable()?;
        let mut tags = Vec::with_capacity(commands.len());
        for command in commands {
            let tag = self.link.command(command);
            tags.push(tag.map_err(|e| self.broke(e))?);
        }
        let flushed = self.link.flush();
        flushed.map_err(|e| self.broke(e))?;
        self.answers(&tags, literals, each)
    }

    /// Reads until each of `tags` (commands sent, in order) has its tagged answer; see
    /// [`ImapSession::pipeline`].
    pub fn answers(
        &mut self,
        tags: &[String],
        literals: Literals,
        mut each: impl FnMut(usize, &mut link::Response),
    ) -> Result<Vec<Answer>, CommandError> {
        let mut answers: Vec<Option<Answer>> = (0..tags.len()).map(|_| None).collect();
        let mut response = link::Response::default();
        let mut waiting = 0;
        while waiting < answers.len() {
            self.read(literals, &mut response)?;
            match response.kind() {
                Kind::Untagged => each(waiting, &mut response),
                Kind::Continuation => {
                    return Err(self.out_of_step("a continuation request we did not ask for"))
                }
                Kind::Tagged(tag) => {
                    let Some(index) = tags.iter().position(|t| *t == tag) else {
                        return Err(self.out_of_step(&format!("an answer tagged {tag:?}")));
                    };
                    answers[index] = Some(self.answer(&response)?);
                    while answers.get(waiting).is_some_and(Option::is_some) {
                        waiting += 1;
                    }
                }
            }
        }
        Ok(answers.into_iter().flatten().collect())
    }

    /// The command side of the connection, for protocols of their own (APPEND).
    pub fn link(&mut self) -> Result<&mut Link<Stream>, CommandError> {
        self.usable()?;
        Ok(&mut self.link)
    }

    /// Reads the next response; an untagged BYE is the end of the connection.
    pub fn read(
        &mut self,
        literals: Literals,
        response: &mut link::Response,
    ) -> Result<(), CommandError> {
        let read = self.link.read(literals, response);
        read.map_err(|e| self.broke(e))?;
        if response.kind() == Kind::Untagged && response.status() == "BYE" {
            let said = response.information();
            self.broken = true;
            let _ = self.socket.shutdown(Shutdown::Both);
            return Err(CommandError::Broken(format!(
                "the server closed the connection: {said}"
            )));
        }
        Ok(())
    }

    /// A tagged response as an [`Answer`]; anything but OK, NO and BAD breaks the
    /// connection.
    pub fn answer(&mut self, tagged: &link::Response) -> Result<Answer, CommandError> {
        match tagged.status().as_str() {
            "OK" => Ok(Ok(tagged.text.clone())),
            "NO" => Ok(Err(tagged.information())),
            "BAD" => Ok(Err(format!("BAD {}", tagged.information()))),
            other => Err(self.out_of_step(&format!("a tagged {other:?}"))),
        }
    }

    fn usable(&self) -> Result<(), CommandError> {
        if self.broken {
            return Err(CommandError::Broken(
                "the connection was lost earlier".into(),
            ));
        }
        Ok(())
    }

    /// Marks the connection broken after an I/O error, and describes it.
    pub fn broke(&mut self, error: io::Error) -> CommandError {
        self.broken = true;
        let _ = self.socket.shutdown(Shutdown::Both);
        CommandError::Broken(describe_io(&error, self.timeout))
    }

    /// Marks the connection broken after an answer we did not expect.
    pub fn out_of_step(&mut self, what: &str) -> CommandError {
        self.broken = true;
        let _ = self.socket.shutdown(Shutdown::Both);
        CommandError::Broken(format!(
            "the server's responses are out of step with our commands ({what})"
        ))
    }

    /// IDLE (RFC 2177) on the selected mailbox until the server reports a change (new,
    /// expunged or re-flagged messages) or `timeout` passes, then DONE. Returns whether a
    /// change was reported. The caller checks the IDLE capability first.
    pub fn idle(&mut self, timeout: Duration) -> Result<bool, CommandError> {
        self.usable()?;
        let tag = self.link.command("IDLE").map_err(|e| self.broke(e))?;
        let flushed = self.link.flush();
        flushed.map_err(|e| self.broke(e))?;
        let mut response = link::Response::default();
        let mut changed = false;
        // Until the continuation: the server may also refuse, or report changes first.
        loop {
            self.read(Literals::Inline, &mut response)?;
            match response.kind() {
                Kind::Continuation => break,
                Kind::Untagged => changed |= reports_change(&response),
                Kind::Tagged(answered) if answered == tag => {
                    return match self.answer(&response)? {
                        Ok(_) => Ok(changed),
                        Err(refusal) => Err(CommandError::Refused(refusal)),
                    };
                }
                Kind::Tagged(other) => {
                    return Err(self.out_of_step(&format!("an answer tagged {other:?}")))
                }
            }
        }
        let deadline = Instant::now() + timeout;
        while !changed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // The read waits at most until the deadline (never 0: that means "forever").
            let _ = self
                .socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            let read = self.link.read(Literals::Inline, &mut response);
            match read {
                Ok(()) if response.kind() == Kind::Untagged && response.status() == "BYE" => {
                    let said = response.information();
                    self.broken = true;
                    let _ = self.socket.shutdown(Shutdown::Both);
                    return Err(CommandError::Broken(format!(
                        "the server closed the connection: {said}"
                    )));
                }
                Ok(()) if response.kind() == Kind::Untagged => {
                    changed = reports_change(&response);
                }
                Ok(()) => return Err(self.out_of_step("a tagged answer during IDLE")),
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(error) => return Err(self.broke(error)),
            }
        }
        let _ = self.socket.set_read_timeout(Some(self.timeout));
        let written = self
            .link
            .write(b"DONE\r\n")
            .and_then(|()| self.link.flush());
        written.map_err(|e| self.broke(e))?;
        loop {
            self.read(Literals::Inline, &mut response)?;
            match response.kind() {
                Kind::Untagged => changed |= reports_change(&response),
                Kind::Tagged(answered) if answered == tag => {
                    return match self.answer(&response)? {
                        Ok(_) => Ok(changed),
                        Err(refusal) => Err(CommandError::Refused(refusal)),
                    };
                }
                _ => return Err(self.out_of_step("an unexpected answer to DONE")),
            }
        }
    }

    /// Logs out politely, waiting at most a few seconds; for connections being closed.
    pub fn logout(mut self) {
        if self.broken {
            return;
        }
        let short = Some(Duration::from_secs(3).min(self.timeout));
        let _ = self.socket.set_read_timeout(short);
        let _ = self.socket.set_write_timeout(short);
        if let Err(error) = self.run("LOGOUT") {
            log::debug!("LOGOUT from {} failed: {error}", self.server);
        }
    }
}

/// A one-line description of an I/O error on a connection.
/// Whether an untagged response during IDLE says the mailbox changed: `* n EXISTS`,
/// `* n EXPUNGE`, `* n FETCH` (flags), `* VANISHED` (QRESYNC). `* OK Still here` and the
/// like do not.
fn reports_change(response: &link::Response) -> bool {
    let text = String::from_utf8_lossy(&response.text);
    let mut words = text.split_ascii_whitespace().skip(1);
    let first = words.next().unwrap_or_default().to_ascii_uppercase();
    let second = words.next().unwrap_or_default().to_ascii_uppercase();
    first == "VANISHED" || matches!(second.as_str(), "EXISTS" | "EXPUNGE" | "FETCH")
}

fn describe_io(error: &io::Error, timeout: Duration) -> String {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!(
            "the server did not answer within {} s (option 'timeout')",
            timeout.as_secs_f64()
        ),
        io::ErrorKind::UnexpectedEof => "the server closed the connection".into(),
        _ => format!("connection error: {error}"),
    }
}

/// A one-line description of a broken connection.
fn describe(error: &imap::Error, timeout: Duration) -> String {
    match error {
        imap::Error::Io(io)
            if matches!(
                io.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            format!(
                "the server did not answer within {} s (option 'timeout')",
                timeout.as_secs_f64()
            )
        }
        imap::Error::Io(io) => format!("connection error: {io}"),
        imap::Error::ConnectionLost => "the server closed the connection".into(),
        imap::Error::Bye(bye) => format!("the server closed the connection: {}", bye.information),
        imap::Error::Parse(_) => "the server sent a response we cannot read".into(),
        imap::Error::TagMismatch(_) => {
            "the server's responses are out of step with our commands".into()
        }
        other => other.to_string(),
    }
}

fn connect_tcp(options: &ImapOptions) -> io::Result<TcpStream> {
    let addresses: Vec<_> = (options.host.as_str(), options.port)
        .to_socket_addrs()?
        .collect();
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host name has no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, options.timeout) {
            Ok(stream) => {
                stream.set_read_timeout(Some(options.timeout))?;
                stream.set_write_timeout(Some(options.timeout))?;
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(error) => last_error = error,
        }
    }
    Err(last_error)
}

fn check_greeting(options: &ImapOptions, greeting: &[u8]) -> Result<(), BackendError> {
    let text = String::from_utf8_lossy(greeting);
    let upper = text.to_ascii_uppercase();
    if upper.starts_with("* OK") {
        return Ok(());
    }
    let (retry, problem) = if upper.starts_with("* PREAUTH") {
        (
            Retry::Never,
            "greets with PREAUTH (already logged in), which twinbox does not support",
        )
    } else if upper.starts_with("* BYE") {
        (Retry::Later, "refuses connections for now")
    } else {
        (
            Retry::Never,
            "does not greet like an IMAP server; check remotehost and remoteport",
        )
    };
    Err(BackendError::new(
        ErrorScope::Repository,
        retry,
        format!(
            "IMAP server {} ([Repository {}]) {problem}: {}",
            options.server(),
            options.section.name,
            text.trim_end()
        ),
    ))
}

/// Reads one line (up to LF) a byte at a time, so nothing after it is consumed.
fn read_line_unbuffered(stream: &mut TcpStream) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if stream.read(&mut byte)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        line.push(byte[0]);
        if byte[0] == b'\n' {
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        if line.len() > 64 * 1024 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
    }
}

/// Sends `command` with `tag` and reads lines until the tagged answer; returns the
/// untagged lines and the tagged one.
fn plain_command(
    stream: &mut TcpStream,
    tag: &str,
    command: &str,
) -> io::Result<(Vec<String>, String)> {
    stream.write_all(format!("{tag} {command}\r\n").as_bytes())?;
    let mut untagged = Vec::new();
    loop {
        let line = read_line_unbuffered(stream)?;
        if line.starts_with(&format!("{tag} ")) {
            return Ok((untagged, line));
        }
        untagged.push(line);
    }
}

/// The capabilities in a line like `* CAPABILITY ...` or `* OK [CAPABILITY ...] ...`.
fn capabilities_in(line: &str) -> Option<Vec<String>> {
    let upper = line.to_ascii_uppercase();
    let start = upper.find("CAPABILITY ")? + "CAPABILITY ".len();
    let rest = &upper[start..];
    let end = rest.find([']', '\r', '\n']).unwrap_or(rest.len());
    Some(rest[..end].split_whitespace().map(str::to_owned).collect())
}

/// The plain-text part of STARTTLS: greeting, capability check, `STARTTLS`.
fn start_tls(options: &ImapOptions, mut tcp: TcpStream) -> Result<TcpStream, BackendError> {
    let server = options.server();
    let network = |error: io::Error| {
        BackendError::new(
            ErrorScope::Repository,
            Retry::Later,
            format!(
                "cannot connect to IMAP server {server} ([Repository {}]): {error}",
                options.section.name
            ),
        )
    };
    let greeting = read_line_unbuffered(&mut tcp).map_err(network)?;
    check_greeting(options, greeting.as_bytes())?;
    let capabilities = match capabilities_in(&greeting) {
        Some(list) => list,
        None => {
            let (untagged, _) = plain_command(&mut tcp, "S1", "CAPABILITY").map_err(network)?;
            untagged
                .iter()
                .filter_map(|l| capabilities_in(l))
                .flatten()
                .collect()
        }
    };
    if !capabilities.iter().any(|c| c == "STARTTLS") {
        return Err(options.error(
            "ssl",
            &format!(
                "is no, so twinbox requires STARTTLS, but {server} does not offer it; refusing \
                 to send the password in plain text. Set ssl = yes (port 993) if the server \
                 has implicit TLS, or, only on a network you trust, starttls = no"
            ),
        ));
    }
    let (_, tagged) = plain_command(&mut tcp, "S2", "STARTTLS").map_err(network)?;
    if !tagged.to_ascii_uppercase().starts_with("S2 OK") {
        return Err(BackendError::new(
            ErrorScope::Repository,
            Retry::Later,
            format!(
                "IMAP server {server} ([Repository {}]) refused STARTTLS: {}",
                options.section.name,
                tagged.trim_end()
            ),
        ));
    }
    Ok(tcp)
}

fn sha256_hex(certificate: &X509Ref) -> String {
    certificate
        .digest(MessageDigest::sha256())
        .map(|d| d.iter().map(|b| format!("{b:02x}")).collect())
        .unwrap_or_else(|_| "(unknown)".into())
}

/// Whether a failed TLS handshake's error says the server spoke something else than TLS:
/// a plaintext IMAP server sends its `* OK` greeting, which OpenSSL reads as a record of
/// an unknown version.
fn answered_in_plaintext(openssl_error: &str) -> bool {
    [
        "wrong version number",
        "packet length too long",
        "unknown protocol",
    ]
    .iter()
    .any(|sign| openssl_error.contains(sign))
}

fn tls_handshake(
    options: &ImapOptions,
    tcp: TcpStream,
) -> Result<SslStream<TcpStream>, BackendError> {
    let server = options.server();
    let section = if options.section.config_file.is_empty() {
        format!("[Repository {}]", options.section.name)
    } else {
        format!(
            "{}: [Repository {}]",
            options.section.config_file, options.section.name
        )
    };
    let setup = |error: openssl::error::ErrorStack| {
        BackendError::repository(format!("{section}: cannot set up TLS: {error}"))
    };
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(setup)?;
    builder
        .set_min_proto_version(Some(options.min_tls))
        .map_err(setup)?;
    let pinned = !options.fingerprints.is_empty();
    if pinned {
        // The fingerprint replaces CA and host name checks; it is compared below.
        builder.set_verify(SslVerifyMode::NONE);
    } else if let Some(certificates) = &options.ca_certificates {
        let mut store = X509StoreBuilder::new().map_err(setup)?;
        for certificate in certificates {
            store.add_cert(certificate.clone()).map_err(setup)?;
        }
        builder.set_cert_store(store.build());
    }
    let connector = builder.build();
    let mut configuration = connector.configure().map_err(setup)?;
    if pinned {
        configuration.set_verify_hostname(false);
    }
    let stream = match configuration.connect(&options.host, tcp) {
        Ok(stream) => stream,
        Err(HandshakeError::Failure(mid)) => {
            let verify = mid.ssl().verify_result();
            if !pinned && verify != X509VerifyResult::OK {
                let fingerprint = mid
                    .ssl()
                    .peer_cert_chain()
                    .and_then(|chain| chain.iter().next().map(sha256_hex))
                    .or_else(|| mid.ssl().peer_certificate().map(|c| sha256_hex(&c)))
                    .unwrap_or_else(|| "(not received)".into());
                return Err(BackendError::repository(format!(
                    "{section}: the TLS certificate of IMAP server {server} is not trusted: {} \
                     (SHA-256 fingerprint {fingerprint}). If this is the right server, set \
                     cert_fingerprint = {fingerprint}, or sslcacertfile = the PEM file of the CA \
                     that signed it",
                    verify.error_string()
                )));
            }
            let detail = mid.error().to_string();
            if answered_in_plaintext(&detail) {
                return Err(BackendError::repository(format!(
                    "{section}: IMAP server {server} did not answer in TLS (OpenSSL: wrong \
                     version number): port {} is a plaintext IMAP port, as 143 is. Set ssl = no \
                     to use it with STARTTLS (required unless starttls = no), or set \
                     remoteport = 993 (or remove remoteport) for TLS from the first byte",
                    options.port
                )));
            }
            return Err(BackendError::new(
                ErrorScope::Repository,
                Retry::Later,
                format!("{section}: TLS handshake with IMAP server {server} failed: {detail}"),
            ));
        }
        Err(HandshakeError::SetupFailure(error)) => return Err(setup(error)),
        Err(HandshakeError::WouldBlock(_)) => {
            return Err(BackendError::new(
                ErrorScope::Repository,
                Retry::Later,
                format!(
                    "{section}: TLS handshake with IMAP server {server} timed out after {} s",
                    options.timeout.as_secs_f64()
                ),
            ))
        }
    };
    if pinned {
        let certificate = stream.ssl().peer_certificate().ok_or_else(|| {
            BackendError::repository(format!(
                "{section}: IMAP server {server} sent no certificate"
            ))
        })?;
        let matches = options.fingerprints.iter().any(|pin| {
            let digest = if pin.0.len() == 64 {
                MessageDigest::sha512()
            } else {
                MessageDigest::sha256()
            };
            certificate
                .digest(digest)
                .is_ok_and(|d| d.as_ref() == pin.0.as_slice())
        });
        if !matches {
            let fingerprint = sha256_hex(&certificate);
            return Err(BackendError::repository(format!(
                "{section}: the TLS certificate of IMAP server {server} has SHA-256 fingerprint \
                 {fingerprint}, which is not in cert_fingerprint; refusing it. If the server's \
                 certificate was changed on purpose, add the new fingerprint to cert_fingerprint"
            )));
        }
    }
    Ok(stream)
}

/// Chooses the first mechanism of `auth_mechanisms` the server offers, and logs in.
fn login(
    options: &ImapOptions,
    credentials: &Credentials,
    client: imap::Client<Transport>,
    capabilities: &BTreeSet<String>,
) -> Result<imap::Session<Transport>, BackendError> {
    let server = options.server();
    let offered = |mechanism: Mechanism| match mechanism {
        Mechanism::Login => !capabilities.contains("LOGINDISABLED"),
        other => capabilities.contains(&format!("AUTH={}", other.name())),
    };
    let Some(mechanism) = options.mechanisms.iter().copied().find(|m| offered(*m)) else {
        let wanted: Vec<&str> = options.mechanisms.iter().map(|m| m.name()).collect();
        let has: Vec<&str> = capabilities
            .iter()
            .filter_map(|c| c.strip_prefix("AUTH="))
            .collect();
        return Err(options.error(
            "auth_mechanisms",
            &format!(
                "is {}, but IMAP server {server} offers none of them (it offers {}{}); list \
                 one it offers",
                wanted.join(", "),
                if has.is_empty() {
                    "no SASL mechanism".to_owned()
                } else {
                    has.join(", ")
                },
                if capabilities.contains("LOGINDISABLED") {
                    ", LOGIN disabled"
                } else {
                    ", and LOGIN"
                },
            ),
        ));
    };
    let user = options.login_user()?;
    let result = match mechanism {
        Mechanism::Login => {
            let password = credentials.password(options, &user)?;
            client.login(&user, password.expose())
        }
        Mechanism::Plain => {
            let password = credentials.password(options, &user)?;
            client.authenticate(
                "PLAIN",
                &sasl::PlainAuth {
                    user: &user,
                    password: &password,
                },
            )
        }
        Mechanism::CramMd5 => {
            let password = credentials.password(options, &user)?;
            client.authenticate(
                "CRAM-MD5",
                &sasl::CramMd5Auth {
                    user: &user,
                    password: &password,
                },
            )
        }
        Mechanism::XOAuth2 => {
            let token = options.resolve_token()?;
            client.authenticate("XOAUTH2", &sasl::OAuthAuth::xoauth2(&user, &token))
        }
        Mechanism::OAuthBearer => {
            let token = options.resolve_token()?;
            client.authenticate(
                "OAUTHBEARER",
                &sasl::OAuthAuth::oauthbearer(&user, &options.host, options.port, &token),
            )
        }
    };
    result.map_err(|(error, _client)| match error {
        imap::Error::No(_) | imap::Error::Bad(_) => {
            let said = match &error {
                imap::Error::No(no) => no.information.clone(),
                imap::Error::Bad(bad) => bad.information.clone(),
                _ => String::new(),
            };
            let secret_option = if mechanism.uses_token() {
                "the OAuth2 token"
            } else {
                "the password (remotepass, remotepassfile, remotepasscommand or ~/.netrc)"
            };
            BackendError::repository(format!(
                "IMAP server {server} refused the login of user {user} with {} ([Repository {}]): \
                 {said}; check remoteuser and {secret_option}",
                mechanism.name(),
                options.section.name,
            ))
        }
        imap::Error::Validate(_) => options.error(
            "remoteuser",
            "or the password contains a line break, which IMAP LOGIN cannot send",
        ),
        other => BackendError::new(
            ErrorScope::Repository,
            Retry::Later,
            format!(
                "IMAP server {server} ([Repository {}]): login failed: {}",
                options.section.name,
                describe(&other, options.timeout)
            ),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_changes_are_exists_expunge_fetch_and_vanished() {
        let said = |line: &str| {
            reports_change(&link::Response {
                text: line.as_bytes().to_vec(),
                literals: Vec::new(),
            })
        };
        assert!(said("* 4 EXISTS\r\n"));
        assert!(said("* 2 expunge\r\n"));
        assert!(said("* 3 FETCH (FLAGS (\\Seen))\r\n"));
        assert!(said("* VANISHED 5:7\r\n"));
        assert!(!said("* OK Still here\r\n"));
        assert!(!said("* 1 RECENT\r\n"));
    }

    #[test]
    fn capability_lines() {
        assert_eq!(
            capabilities_in(
                "* OK [CAPABILITY IMAP4rev1 SASL-IR STARTTLS AUTH=PLAIN] Dovecot ready.\r\n"
            ),
            Some(vec![
                "IMAP4REV1".into(),
                "SASL-IR".into(),
                "STARTTLS".into(),
                "AUTH=PLAIN".into()
            ])
        );
        assert_eq!(
            capabilities_in("* CAPABILITY IMAP4rev1 LOGINDISABLED\r\n"),
            Some(vec!["IMAP4REV1".into(), "LOGINDISABLED".into()])
        );
        assert_eq!(capabilities_in("* OK ready\r\n"), None);
    }
}
