//! One authenticated IMAP connection: TCP with timeouts, TLS (implicit or STARTTLS) with
//! certificate checks, login, capabilities, and commands whose failures are sorted into
//! "the server said no" (the connection is still good) and "the connection is broken".
//!
//! STARTTLS is done by hand before the `imap` crate sees the stream: we read the plain
//! text greeting and responses one byte at a time, so nothing the server sends after its
//! `OK` can be taken for protected data (the STARTTLS injection attack); whatever it sent
//! early goes into the TLS handshake, which then fails.

use std::collections::{BTreeSet, HashSet};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backend_api::{BackendError, ErrorScope, Retry};
use openssl::hash::MessageDigest;
use openssl::ssl::{
    HandshakeError, Ssl, SslContext, SslMethod, SslMode, SslOptions, SslStream, SslVerifyMode,
};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509CheckFlags;
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

impl Stream {
    fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(stream) => stream,
            Stream::Tls(stream) => stream.get_ref(),
        }
    }
}

/// Bytes that a command must move (either way) within `timeout` to earn another
/// `timeout`. A socket timeout alone bounds each read, not a command: a server that
/// trickles a byte a second never trips it and keeps a sync running for hours. With this,
/// a command gets `timeout` as a whole, plus `timeout` more for every 64 KiB that moved, so
/// a large message on a slow but working link (down to about 1 KiB/s at the default 60 s)
/// still arrives, and a stalled or trickling server is given up after `timeout`.
const PROGRESS_BYTES: usize = 64 * 1024;

/// The running command's deadline, shared by the session (which starts it) and the
/// stream (which enforces it on every read and write).
#[derive(Default)]
pub(crate) struct Clock {
    state: Mutex<ClockState>,
}

#[derive(Default)]
struct ClockState {
    /// `None` before the first command.
    deadline: Option<Instant>,
    /// Bytes moved since the deadline was last set.
    moved: usize,
    /// Until login is done: how many more bytes the server may send. The `imap` crate,
    /// which reads the greeting and the login's answers, buffers a response whole and
    /// without bound, so a server that never ends its greeting is cut off here.
    login_budget: Option<usize>,
}

/// What a server may send before login is done (greeting, capabilities, SASL
/// challenges): a few kilobytes in practice.
const LOGIN_BYTES: usize = 1 << 20;

impl Clock {
    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives the command starting now `timeout`.
    fn start(&self, timeout: Duration) {
        let mut state = self.lock();
        state.deadline = Some(Instant::now() + timeout);
        state.moved = 0;
        state.login_budget = None;
    }

    /// Gives a step of the login starting now `timeout` and the rest of the bytes
    /// allowed before login is done.
    fn start_login(&self, timeout: Duration) {
        let mut state = self.lock();
        state.deadline = Some(Instant::now() + timeout);
        state.moved = 0;
        state.login_budget.get_or_insert(LOGIN_BYTES);
    }

    /// What is left of the command's time, or an error once it is over.
    fn remaining(&self) -> io::Result<Option<Duration>> {
        let Some(deadline) = self.lock().deadline else {
            return Ok(None);
        };
        match deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the command took longer than the timeout",
            )),
        }
    }

    /// Counts `bytes` moved (`received` from the server, or sent); every
    /// [`PROGRESS_BYTES`] extend the deadline.
    fn moved(&self, bytes: usize, timeout: Duration, received: bool) -> io::Result<()> {
        let mut state = self.lock();
        if let Some(budget) = state.login_budget.as_mut().filter(|_| received) {
            *budget = budget.checked_sub(bytes).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the server sent more than {} KiB before the login was done",
                        LOGIN_BYTES >> 10
                    ),
                )
            })?;
        }
        if state.deadline.is_none() {
            return Ok(());
        }
        state.moved += bytes;
        if state.moved >= PROGRESS_BYTES {
            state.moved = 0;
            state.deadline = Some(Instant::now() + timeout);
        }
        Ok(())
    }
}

/// The connection's stream with the per-command deadline of [`Clock`] enforced: before
/// each read or write the socket's timeout is lowered to what is left of the command's
/// time.
pub(crate) struct Timed {
    stream: Stream,
    clock: Arc<Clock>,
    timeout: Duration,
    /// The read and write timeouts last set on the socket.
    applied: (Duration, Duration),
}

/// Slack under which the socket timeout is not changed again (saves a system call per
/// read; the command may overrun its deadline by this much).
const TIMEOUT_SLACK: Duration = Duration::from_millis(10);

impl Timed {
    fn new(stream: Stream, clock: Arc<Clock>, timeout: Duration) -> Timed {
        Timed {
            stream,
            clock,
            timeout,
            applied: (timeout, timeout),
        }
    }

    /// The socket timeout for the next read or write, set if it changed.
    fn arm(&mut self, write: bool) -> io::Result<()> {
        let wanted = self
            .clock
            .remaining()?
            .map_or(self.timeout, |left| left.min(self.timeout));
        let applied = if write {
            &mut self.applied.1
        } else {
            &mut self.applied.0
        };
        if wanted + TIMEOUT_SLACK < *applied || wanted > *applied {
            let socket = self.stream.socket();
            if write {
                socket.set_write_timeout(Some(wanted))?;
            } else {
                socket.set_read_timeout(Some(wanted))?;
            }
            *applied = wanted;
        }
        Ok(())
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm(false)?;
        let n = self.stream.read(buf)?;
        self.clock.moved(n, self.timeout, true)?;
        Ok(n)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm(true)?;
        let n = self.stream.write(buf)?;
        // Only what the server sends counts against the login budget.
        self.clock.moved(n, self.timeout, false)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.arm(true)?;
        self.stream.flush()
    }
}

/// Most untagged responses to one command. A FETCH of a chunk answers one per message,
/// a LIST one per folder; far more is a server that never stops talking (each response
/// may be small and quick, so neither the size bounds nor the deadline would end it).
const MAX_UNTAGGED: usize = 2_000_000;

/// What the `imap` crate runs on during login: a handle on the stream that our [`Link`]
/// keeps afterwards.
pub(crate) type Transport = SharedStream<Timed>;

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

/// What the connections of one repository share so that each after the first costs less
/// (a re-sync over a slow link opens them while folders wait for them): the TLS context,
/// whose making reads the CA certificates (tens of milliseconds of CPU for the system's),
/// and the capabilities the server's greeting listed, which let a later connection send
/// its login right behind the TLS handshake instead of a round trip after it.
#[derive(Default)]
pub(crate) struct Reused {
    tls: Mutex<Option<SslContext>>,
    greeting_capabilities: Mutex<Option<BTreeSet<String>>>,
}

impl Reused {
    fn greeting_capabilities(&self) -> Option<BTreeSet<String>> {
        let greeted = self.greeting_capabilities.lock();
        greeted.unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn remember_greeting(&self, capabilities: &BTreeSet<String>) {
        let mut greeted = self
            .greeting_capabilities
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *greeted = Some(capabilities.clone());
    }

    fn has_tls_context(&self) -> bool {
        self.tls.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// The repository's TLS context, made by the first connection that needs it (the
    /// others wait for it rather than make their own).
    fn tls_context(&self, options: &ImapOptions) -> Result<SslContext, BackendError> {
        let mut tls = self.tls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(context) = tls.as_ref() {
            return Ok(context.clone());
        }
        let context = tls_context(options)?;
        *tls = Some(context.clone());
        Ok(context)
    }
}

/// An authenticated connection.
pub(crate) struct ImapSession {
    /// Commands and responses after login (the `imap` crate is done by then).
    link: Link<Timed>,
    /// The running command's deadline.
    clock: Arc<Clock>,
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

/// What [`ImapSession::collect`] read: the answer to each of its commands (`None` if not
/// read yet), and the answers of other commands that came meanwhile, with their tags.
pub(crate) type Collected = (Vec<Option<Answer>>, Vec<(String, Answer)>);

impl ImapSession {
    /// Connects, protects, logs in and reads the capabilities. Errors are repository-level:
    /// retry later for the network, never for configuration, certificates and refused
    /// logins.
    pub fn connect(
        options: &ImapOptions,
        credentials: &Credentials,
        reused: &Reused,
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
        // When each step of the connection ended, for the debug log: each costs round
        // trips, which is where a re-sync over a slow link spends its time.
        let started = Instant::now();
        let (tcp, context) = std::thread::scope(|scope| {
            // The first connection makes the TLS context (reading the CA certificates)
            // while TCP connects, which takes a round trip.
            let making = (options.security != Security::Plaintext && !reused.has_tls_context())
                .then(|| scope.spawn(|| reused.tls_context(options)));
            let tcp = connect_tcp(options);
            let made = making.map(|thread| {
                thread.join().unwrap_or_else(|_| {
                    Err(BackendError::repository(format!(
                        "{}: making the TLS context failed",
                        section_name(options)
                    )))
                })
            });
            (tcp, made)
        });
        let tcp = tcp.map_err(|e| network("connection failed", &e))?;
        let tcp_done = started.elapsed();
        let socket = tcp.try_clone().map_err(|e| network("socket", &e))?;
        let context = || match context {
            Some(made) => made,
            None => reused.tls_context(options),
        };

        let stream = match options.security {
            Security::ImplicitTls => {
                Stream::Tls(Box::new(tls_handshake(options, &context()?, tcp)?))
            }
            Security::StartTls => {
                let tcp = start_tls(options, tcp)?;
                Stream::Tls(Box::new(tls_handshake(options, &context()?, tcp)?))
            }
            Security::Plaintext => Stream::Plain(tcp),
        };
        let tls_done = started.elapsed();
        let clock = Arc::new(Clock::default());
        clock.start_login(options.timeout);
        let transport = SharedStream::new(Timed::new(stream, Arc::clone(&clock), options.timeout));
        if options.security == Security::Plaintext {
            // Asked for explicitly (starttls = no), so not worth a warning each time.
            log::info!(
                "[Repository {}] connects to {server} without TLS (ssl = no, starttls = no): \
                 the password and all mail cross the network readable",
                options.section.name
            );
        }
        let session_clock = Arc::clone(&clock);
        let session = |link| ImapSession {
            link,
            clock: session_clock,
            socket,
            capabilities: BTreeSet::new(),
            server: server.clone(),
            timeout: options.timeout,
            broken: false,
            idle_since: Instant::now(),
            qresync_enabled: false,
        };

        // The login is sent at once instead of a round trip after the greeting (the server
        // reads it once it has greeted) where AUTHENTICATE PLAIN with SASL-IR is what the
        // greeting would lead to: on a later connection, when the greeting of an earlier
        // one of this repository offered SASL-IR and AUTH=PLAIN, PLAIN being the mechanism
        // chosen; on the first, when PLAIN is the mechanism preferred (the default), as
        // most servers offer both. A greeting that does not offer them sends the
        // connection the way it says, on a new connection. (Not after STARTTLS, whose
        // capabilities must be asked again in TLS.) The greeting is still read and checked.
        let login_first = |greeted: &BTreeSet<String>| {
            greeted.contains("SASL-IR")
                && chosen_mechanism(options, greeted).ok() == Some(Mechanism::Plain)
        };
        let remembered = reused.greeting_capabilities();
        let early = options.security != Security::StartTls
            && match &remembered {
                Some(greeted) => login_first(greeted),
                None => options.mechanisms.first() == Some(&Mechanism::Plain),
            };
        if early {
            let mut session = session(Link::new(transport));
            let mut greeting: Option<Vec<u8>> = None;
            let login = session.plain_login(options, credentials, |response| {
                greeting.get_or_insert_with(|| response.text.clone());
            });
            // The greeting's verdict (BYE, PREAUTH, not IMAP) comes before the login's.
            let Some(greeting) = &greeting else {
                // The login's error (the connection closed...) says more, if there is one.
                login?;
                return Err(network(
                    "no greeting",
                    &"none came before the login's answer",
                ));
            };
            check_greeting(options, greeting)?;
            let greeted: BTreeSet<String> =
                response::parse_capabilities(greeting).into_iter().collect();
            if login.is_err() && !login_first(&greeted) {
                // The server does not offer what the login took for granted (or no longer
                // does: a daemon's connection hours later, after an upgrade): connect
                // again, the way this greeting says. Remembered, so that this happens once.
                log::debug!(
                    "{server}: the greeting does not offer SASL-IR with PLAIN; connecting again"
                );
                reused.remember_greeting(&greeted);
                drop(session);
                return ImapSession::connect(options, credentials, reused);
            }
            login?;
            if remembered.is_none() && !greeted.is_empty() {
                reused.remember_greeting(&greeted);
            }
            session.ask_capabilities_if_unknown(options)?;
            session.log_connected(options, started, tcp_done, tls_done, None);
            return Ok(session);
        }

        let mut client = imap::Client::new(transport.clone());
        let greeting = if options.security == Security::StartTls {
            // Read in plain text before the handshake.
            client.greeting_read = true;
            None
        } else {
            let greeting = client
                .read_greeting()
                .map_err(|e| network("no greeting", &describe(&e, options.timeout)))?;
            check_greeting(options, &greeting)?;
            Some(greeting)
        };
        let greeting_done = started.elapsed();

        // Most servers list their capabilities in the greeting (`* OK [CAPABILITY ...]`),
        // which saves a round trip; STARTTLS must ask again (what came in plain text is
        // not to be trusted), and so must a server that did not list them.
        let greeted = match (&options.security, &greeting) {
            (Security::StartTls, _) | (_, None) => Vec::new(),
            (_, Some(greeting)) => response::parse_capabilities(greeting),
        };
        let capabilities: BTreeSet<String> = if greeted.is_empty() {
            client
                .capabilities()
                .map_err(|e| network("CAPABILITY failed", &describe(&e, options.timeout)))?
                .iter()
                .map(response::capability_name)
                .collect()
        } else {
            let greeted: BTreeSet<String> = greeted.into_iter().collect();
            reused.remember_greeting(&greeted);
            greeted
        };
        let mechanism = chosen_mechanism(options, &capabilities)?;
        let mut session = if mechanism == Mechanism::Plain && capabilities.contains("SASL-IR") {
            // (The crate has not read past the greeting: the server waits for a command.)
            drop(client);
            let mut session = session(Link::new(transport));
            session.plain_login(options, credentials, |_| {})?;
            session
        } else {
            // The crate is done once we are logged in. It reads ahead in a buffer of its
            // own, which is lost with it; that is safe because after the tagged answer to
            // LOGIN (or AUTHENTICATE) a server sends nothing until it gets the next
            // command.
            drop(login(options, credentials, client, mechanism, &clock)?);
            session(Link::new(transport))
        };
        session.ask_capabilities_if_unknown(options)?;
        session.log_connected(options, started, tcp_done, tls_done, Some(greeting_done));
        Ok(session)
    }

    /// `AUTHENTICATE PLAIN` with the credentials in the command (SASL-IR, RFC 4959): login
    /// in one round trip, which also brings the new capabilities in most servers' tagged
    /// OK (`OK [CAPABILITY ...]`). `each` is given the untagged responses read meanwhile
    /// (the greeting, when the command was sent before it).
    fn plain_login(
        &mut self,
        options: &ImapOptions,
        credentials: &Credentials,
        mut each: impl FnMut(&link::Response),
    ) -> Result<(), BackendError> {
        let user = options.login_user()?;
        let password = credentials.password(options, &user)?;
        use base64::Engine as _;
        let initial = base64::engine::general_purpose::STANDARD
            .encode(sasl::plain_response(&user, password.expose()));
        // Alone: a server may read what follows AUTHENTICATE as part of the exchange
        // (Cyrus waits), so CAPABILITY is not pipelined behind it.
        let commands = [format!("AUTHENTICATE PLAIN {initial}")];
        let answers = self
            .send_pipeline(&commands, true, Literals::Inline, |_, response| {
                each(response)
            })
            .map_err(|e| login_failed(options, &e))?;
        match answers.into_iter().next() {
            Some(Ok(tagged)) => {
                self.capabilities = response::parse_capabilities(&tagged).into_iter().collect();
                Ok(())
            }
            Some(Err(said)) => Err(refused_login(options, Mechanism::Plain, &user, &said)),
            None => Err(login_failed(options, &"no answer")),
        }
    }

    /// Asks for the capabilities if the login's answer did not list them: they change
    /// after login (UIDPLUS, CONDSTORE...).
    fn ask_capabilities_if_unknown(&mut self, options: &ImapOptions) -> Result<(), BackendError> {
        if self.capabilities.is_empty() {
            let buffer = self.run("CAPABILITY").map_err(|e| {
                BackendError::new(
                    ErrorScope::Repository,
                    Retry::Later,
                    format!(
                        "cannot connect to IMAP server {} ({}): CAPABILITY after login failed: \
                         {e}",
                        self.server, options.section.name
                    ),
                )
            })?;
            self.capabilities = response::parse_capabilities(&buffer).into_iter().collect();
        }
        Ok(())
    }

    /// The debug line of a new connection: how long it took and where (TCP, TLS,
    /// greeting, login), each step being round trips on a slow link. `tcp`, `tls` and
    /// `greeting` are when those steps ended (since `started`); `greeting` is `None` when
    /// the login was sent before the greeting, which then came in the login's round trip.
    fn log_connected(
        &self,
        options: &ImapOptions,
        started: Instant,
        tcp: Duration,
        tls: Duration,
        greeting: Option<Duration>,
    ) {
        let ms = |elapsed: Duration| format!("{:.0}", elapsed.as_secs_f64() * 1000.0);
        let total = started.elapsed();
        let rest = match greeting {
            Some(greeting) => format!(
                "greeting {}, login {}",
                ms(greeting.saturating_sub(tls)),
                ms(total.saturating_sub(greeting))
            ),
            None => format!(
                "login sent before the greeting, both in {}",
                ms(total.saturating_sub(tls))
            ),
        };
        log::debug!(
            "connected to {} as {:?} in {} ms (TCP {}, TLS {}, {rest}); capabilities: {:?}",
            self.server,
            options.user,
            ms(total),
            ms(tcp),
            ms(tls.saturating_sub(tcp)),
            self.capabilities
        );
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
        let mut overflow = false;
        let answers = self.pipeline(&[command.to_owned()], Literals::Inline, |_, response| {
            // An endless stream of untagged responses must not take all memory: past the
            // bound they are dropped, and the command fails once its answer is in.
            if buffer.len() + response.text.len() > link::MAX_RESPONSE {
                overflow = true;
            } else {
                buffer.extend_from_slice(&response.text)
            }
        })?;
        if overflow {
            return Err(self.out_of_step(&format!(
                "more than {} MiB of responses to one command",
                link::MAX_RESPONSE >> 20
            )));
        }
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
        self.send_pipeline(commands, false, literals, each)
    }

    /// [`ImapSession::pipeline`]; `logging_in` keeps the login's byte budget until the
    /// first answer (the login's).
    fn send_pipeline(
        &mut self,
        commands: &[String],
        logging_in: bool,
        literals: Literals,
        each: impl FnMut(usize, &mut link::Response),
    ) -> Result<Vec<Answer>, CommandError> {
        self.usable()?;
        log::debug!(
            "{}: round trip: {}",
            self.server,
            round_trip_summary(commands)
        );
        if logging_in {
            self.clock.start_login(self.timeout);
        } else {
            self.clock.start(self.timeout);
        }
        let tags = self.send(commands)?;
        self.answers(&tags, literals, each)
    }

    /// Tags `commands`, writes them and sends them at once; returns their tags.
    fn send(&mut self, commands: &[String]) -> Result<Vec<String>, CommandError> {
        let mut tags = Vec::with_capacity(commands.len());
        for command in commands {
            let tag = self.link.command(command);
            tags.push(tag.map_err(|e| self.broke(e))?);
        }
        let flushed = self.link.flush();
        flushed.map_err(|e| self.broke(e))?;
        Ok(tags)
    }

    /// Sends `commands` (as [`ImapSession::pipeline`] does) without reading their
    /// answers: the caller reads them later with [`ImapSession::collect`], before any other
    /// command is sent. Returns their tags.
    pub fn send_ahead(&mut self, commands: &[String]) -> Result<Vec<String>, CommandError> {
        self.usable()?;
        log::debug!(
            "{}: sent ahead: {}",
            self.server,
            round_trip_summary(commands)
        );
        self.send(commands)
    }

    /// Reads the answers of commands sent by [`ImapSession::send_ahead`]: until each of
    /// `tags` has its tagged answer, as [`ImapSession::answers`] does, or until `each`
    /// says it has all it needs (returns `true`; the answers not read yet are `None`),
    /// while other commands sent ahead, tagged `later`, may run at the same time: a server
    /// may run pipelined FETCHes concurrently and interleave their responses (RFC 3501,
    /// 5.5; Dovecot sends a FETCH's tagged OK only after the FETCHes behind it), so `each`
    /// may be given their untagged responses too, and their tagged answers, when they
    /// come first, are returned apart. The time starts now, as the server may have
    /// answered long ago.
    pub fn collect(
        &mut self,
        tags: &[String],
        later: &HashSet<String>,
        literals: Literals,
        each: impl FnMut(usize, &mut link::Response) -> bool,
    ) -> Result<Collected, CommandError> {
        self.usable()?;
        self.clock.start(self.timeout);
        self.read_answers(tags, later, literals, each)
    }

    /// Gives the connection up (it goes back to no pool): for a connection whose answers
    /// are still on their way and will not be read.
    pub fn abandon(&mut self) {
        self.broken = true;
        let _ = self.socket.shutdown(Shutdown::Both);
    }

    /// Reads until each of `tags` (commands sent, in order) has its tagged answer; see
    /// [`ImapSession::pipeline`].
    pub fn answers(
        &mut self,
        tags: &[String],
        literals: Literals,
        mut each: impl FnMut(usize, &mut link::Response),
    ) -> Result<Vec<Answer>, CommandError> {
        let read = self.read_answers(tags, &HashSet::new(), literals, |index, response| {
            each(index, response);
            false
        });
        let (answers, _) = read?;
        Ok(answers.into_iter().flatten().collect())
    }

    /// [`ImapSession::answers`], taking the tagged answers of the commands tagged `later`
    /// too, which are returned apart.
    fn read_answers(
        &mut self,
        tags: &[String],
        later: &HashSet<String>,
        literals: Literals,
        mut each: impl FnMut(usize, &mut link::Response) -> bool,
    ) -> Result<Collected, CommandError> {
        let mut answers: Vec<Option<Answer>> = (0..tags.len()).map(|_| None).collect();
        let mut early = Vec::new();
        let mut response = link::Response::default();
        let mut waiting = 0;
        let mut untagged = 0usize;
        while waiting < answers.len() {
            self.read(literals, &mut response)?;
            match response.kind() {
                Kind::Untagged => {
                    untagged += 1;
                    if untagged > MAX_UNTAGGED {
                        return Err(self.out_of_step(&format!(
                            "more than {MAX_UNTAGGED} untagged responses to one command"
                        )));
                    }
                    if each(waiting, &mut response) {
                        break;
                    }
                }
                Kind::Continuation => {
                    return Err(self.out_of_step("a continuation request we did not ask for"))
                }
                Kind::Tagged(tag) if later.contains(&tag) => {
                    let answer = self.answer(&response)?;
                    early.push((tag, answer));
                }
                Kind::Tagged(tag) => {
                    let Some(index) = tags.iter().position(|t| *t == tag) else {
                        return Err(self.out_of_step(&format!("an answer tagged {tag:?}")));
                    };
                    answers[index] = Some(self.answer(&response)?);
                    untagged = 0;
                    // Each command of a pipeline gets its own `timeout`.
                    self.clock.start(self.timeout);
                    while answers.get(waiting).is_some_and(Option::is_some) {
                        waiting += 1;
                    }
                }
            }
        }
        Ok((answers, early))
    }

    /// The command side of the connection, for protocols of their own (APPEND).
    pub fn link(&mut self) -> Result<&mut Link<Timed>, CommandError> {
        self.usable()?;
        self.clock.start(self.timeout);
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

    /// Logs `sessions` out: sends each its LOGOUT, then closes it without waiting for the
    /// server's BYE and OK, which say nothing we need and would cost a round trip at the
    /// end of every run. (The server logs the session out as it reads the command,
    /// before it reads the end of the connection that follows it.)
    pub fn logout_all(sessions: Vec<ImapSession>) {
        for mut session in sessions {
            if session.broken {
                continue;
            }
            // The deadline of the LOGOUT's write.
            session.timeout = Duration::from_secs(3).min(session.timeout);
            session.clock.start(session.timeout);
            log::debug!("{}: LOGOUT, not waiting for its answer", session.server);
            let tag = session.link.command("LOGOUT");
            let flushed = session.link.flush();
            if let Err(error) = tag.and(flushed) {
                log::debug!("LOGOUT from {} failed: {error}", session.server);
            }
            // What was written goes before the end of the stream.
            let _ = session.socket.shutdown(Shutdown::Write);
        }
    }
}

/// What a round trip sends, for the debug log: each command's name (`UID FETCH`,
/// `SELECT`...), never its arguments, and how many of each.
fn round_trip_summary(commands: &[String]) -> String {
    let mut names: Vec<(String, usize)> = Vec::new();
    for command in commands {
        let mut words = command.split_ascii_whitespace();
        let first = words.next().unwrap_or("");
        let name = if first.eq_ignore_ascii_case("UID") {
            format!("UID {}", words.next().unwrap_or(""))
        } else {
            first.to_owned()
        };
        match names.iter_mut().find(|(known, _)| *known == name) {
            Some((_, count)) => *count += 1,
            None => names.push((name, 1)),
        }
    }
    names
        .iter()
        .map(|(name, count)| match count {
            1 => name.clone(),
            n => format!("{n} x {name}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
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

/// `[Repository name]`, with its file when known, to begin TLS errors.
fn section_name(options: &ImapOptions) -> String {
    if options.section.config_file.is_empty() {
        format!("[Repository {}]", options.section.name)
    } else {
        format!(
            "{}: [Repository {}]",
            options.section.config_file, options.section.name
        )
    }
}

/// The TLS settings of every connection of a repository: those of openssl's
/// `SslConnector` (options, modes, ciphers, peer verification), without its loading of
/// the system's CA certificates (a few hundred, tens of milliseconds of CPU) when
/// `sslcacertfile` or `cert_fingerprint` replaces them.
fn tls_context(options: &ImapOptions) -> Result<SslContext, BackendError> {
    let section = section_name(options);
    let setup = |error: openssl::error::ErrorStack| {
        BackendError::repository(format!("{section}: cannot set up TLS: {error}"))
    };
    let mut builder = SslContext::builder(SslMethod::tls_client()).map_err(setup)?;
    let mut ssl_options = SslOptions::ALL
        | SslOptions::NO_COMPRESSION
        | SslOptions::NO_SSLV2
        | SslOptions::NO_SSLV3
        | SslOptions::SINGLE_DH_USE
        | SslOptions::SINGLE_ECDH_USE;
    ssl_options &= !SslOptions::DONT_INSERT_EMPTY_FRAGMENTS;
    builder.set_options(ssl_options);
    builder.set_mode(
        SslMode::AUTO_RETRY
            | SslMode::ACCEPT_MOVING_WRITE_BUFFER
            | SslMode::ENABLE_PARTIAL_WRITE
            | SslMode::RELEASE_BUFFERS,
    );
    builder
        .set_cipher_list("DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK")
        .map_err(setup)?;
    builder
        .set_min_proto_version(Some(options.min_tls))
        .map_err(setup)?;
    if !options.fingerprints.is_empty() {
        // The fingerprint replaces CA and host name checks; it is compared after the
        // handshake.
        builder.set_verify(SslVerifyMode::NONE);
    } else {
        builder.set_verify(SslVerifyMode::PEER);
        match &options.ca_certificates {
            Some(certificates) => {
                let mut store = X509StoreBuilder::new().map_err(setup)?;
                for certificate in certificates {
                    store.add_cert(certificate.clone()).map_err(setup)?;
                }
                builder.set_cert_store(store.build());
            }
            None => builder.set_default_verify_paths().map_err(setup)?,
        }
    }
    Ok(builder.build())
}

/// The TLS handshake on `tcp` with a connection of `context`: SNI, and unless the
/// certificate is pinned, its host name checked as `SslConnector` does.
fn tls_handshake(
    options: &ImapOptions,
    context: &SslContext,
    tcp: TcpStream,
) -> Result<SslStream<TcpStream>, BackendError> {
    let server = options.server();
    let section = section_name(options);
    let setup = |error: openssl::error::ErrorStack| {
        BackendError::repository(format!("{section}: cannot set up TLS: {error}"))
    };
    let pinned = !options.fingerprints.is_empty();
    let mut ssl = Ssl::new(context).map_err(setup)?;
    let address = options.host.parse::<IpAddr>();
    if address.is_err() {
        ssl.set_hostname(&options.host).map_err(setup)?;
    }
    if !pinned {
        let parameters = ssl.param_mut();
        parameters.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS);
        match address {
            Ok(ip) => parameters.set_ip(ip),
            Err(_) => parameters.set_host(&options.host),
        }
        .map_err(setup)?;
    }
    let stream = match ssl.connect(tcp) {
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

/// The error for a login that failed for another reason than a refusal (the network).
fn login_failed(options: &ImapOptions, error: &dyn std::fmt::Display) -> BackendError {
    BackendError::new(
        ErrorScope::Repository,
        Retry::Later,
        format!(
            "cannot connect to IMAP server {} ({}): login failed: {error}",
            options.server(),
            options.section.name
        ),
    )
}

/// The first mechanism of `auth_mechanisms` the server offers.
fn chosen_mechanism(
    options: &ImapOptions,
    capabilities: &BTreeSet<String>,
) -> Result<Mechanism, BackendError> {
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
    Ok(mechanism)
}

/// The error for a login the server refused, saying `said`.
fn refused_login(
    options: &ImapOptions,
    mechanism: Mechanism,
    user: &str,
    said: &str,
) -> BackendError {
    let secret_option = if mechanism.uses_token() {
        "the OAuth2 token"
    } else {
        "the password (remotepass, remotepassfile, remotepasscommand or ~/.netrc)"
    };
    BackendError::repository(format!(
        "IMAP server {} refused the login of user {user} with {} ([Repository {}]): \
         {said}; check remoteuser and {secret_option}",
        options.server(),
        mechanism.name(),
        options.section.name,
    ))
}

/// Logs in with `mechanism` through the crate.
fn login(
    options: &ImapOptions,
    credentials: &Credentials,
    client: imap::Client<Transport>,
    mechanism: Mechanism,
    clock: &Clock,
) -> Result<imap::Session<Transport>, BackendError> {
    let server = options.server();
    let user = options.login_user()?;
    let result = match mechanism {
        Mechanism::Login => {
            let password = credentials.password(options, &user)?;
            // A prompt may have taken a while: the login's answer gets `timeout` from now.
            clock.start_login(options.timeout);
            client.login(&user, password.expose())
        }
        Mechanism::Plain => {
            let password = credentials.password(options, &user)?;
            // A prompt may have taken a while: the login's answer gets `timeout` from now.
            clock.start_login(options.timeout);
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
            // A prompt may have taken a while: the login's answer gets `timeout` from now.
            clock.start_login(options.timeout);
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
            // A prompt may have taken a while: the login's answer gets `timeout` from now.
            clock.start_login(options.timeout);
            client.authenticate("XOAUTH2", &sasl::OAuthAuth::xoauth2(&user, &token))
        }
        Mechanism::OAuthBearer => {
            let token = options.resolve_token()?;
            // A prompt may have taken a while: the login's answer gets `timeout` from now.
            clock.start_login(options.timeout);
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
            refused_login(options, mechanism, &user, &said)
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
    use backend_api::RepositoryConfig;
    use twinbox_integration::dovecot::{Dovecot, DovecotOptions, MINIMAL_CAPABILITY};

    fn tls_options(dovecot: &Dovecot) -> ImapOptions {
        let config = RepositoryConfig::new("Remote")
            .with("remotehost", "127.0.0.1")
            .with("remoteport", dovecot.imaps_port().to_string())
            .with("remoteuser", "alice")
            .with("remotepass", dovecot.password("alice"))
            .with(
                "sslcacertfile",
                dovecot.ca_cert_path().display().to_string(),
            )
            .with("timeout", "20");
        ImapOptions::from_config(&config).expect("valid options")
    }

    /// A later connection logs in before the greeting when an earlier one's greeting
    /// offered SASL-IR with PLAIN (the end-to-end tests check it in the debug log), and
    /// still connects when the server's greeting no longer offers SASL-IR. (Dovecot
    /// takes the initial response all the same, so the reconnection that follows a
    /// refused early login is not reached here.)
    #[test]
    fn later_connections_log_in_before_the_greeting_even_one_that_changed() {
        let dovecot = Dovecot::start_default();
        let options = tls_options(&dovecot);
        let credentials = Credentials::default();
        let reused = Reused::default();
        let mut first = ImapSession::connect(&options, &credentials, &reused).expect("first");
        let greeted = reused
            .greeting_capabilities()
            .expect("the greeting was remembered");
        assert!(greeted.contains("SASL-IR"), "{greeted:?}");
        let mut second = ImapSession::connect(&options, &credentials, &reused).expect("second");
        for session in [&mut first, &mut second] {
            session.run("NOOP").expect("a command after login");
            assert!(session.has("UIDPLUS"), "capabilities after login");
        }

        let without = Dovecot::start(DovecotOptions {
            imap_capability: Some(MINIMAL_CAPABILITY.replace(" SASL-IR", "")),
            ..DovecotOptions::default()
        });
        let options = tls_options(&without);
        // Another CA: only the greeting is carried over.
        let reused = Reused::default();
        reused.remember_greeting(&greeted);
        let mut session = ImapSession::connect(&options, &credentials, &reused)
            .expect("connects although the remembered greeting is not this server's");
        session.run("NOOP").expect("a command after login");
        assert!(session.has("UIDPLUS") || session.has("IMAP4REV1"));
    }

    #[test]
    fn a_round_trip_is_logged_by_command_names_only() {
        let commands = [
            "AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==".to_owned(),
            "CAPABILITY".to_owned(),
        ];
        assert_eq!(round_trip_summary(&commands), "AUTHENTICATE, CAPABILITY");
        let commands = [
            "ENABLE QRESYNC".to_owned(),
            "SELECT \"INBOX\" (CONDSTORE)".to_owned(),
            "UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 5 VANISHED)".to_owned(),
            "UID STORE 1:3 +FLAGS.SILENT (\\Seen)".to_owned(),
            "UID STORE 4 -FLAGS.SILENT (\\Seen)".to_owned(),
        ];
        assert_eq!(
            round_trip_summary(&commands),
            "ENABLE, SELECT, UID FETCH, 2 x UID STORE"
        );
    }

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
