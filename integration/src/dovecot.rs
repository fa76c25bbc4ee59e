//! A real Dovecot for the IMAP end-to-end tests, one private server per test.
//!
//! # Why it looks like this
//!
//! The IMAP plugin must be right against a real server, never a mock, so every IMAP test
//! starts its own Dovecot (Debian's `dovecot-imapd`, installed by `scripts/test`) with a
//! generated, self-contained config in a temporary directory: its own `base_dir`,
//! `state_dir`, log, users, mail homes, certificates and free loopback ports. Starting one
//! takes a few milliseconds, so tests never share a server and run in parallel freely.
//!
//! Dovecot runs as root here and its mail processes refuse to, so the harness creates one
//! system user ([`MAIL_USER`], uid >= 5000) once and makes every directory down to the mail
//! store traversable by it. A Dovecot that outlives its test (the test process was killed)
//! is stopped by a small watchdog shell process.
//!
//! The harness reads and writes the server through its own minimal IMAP client
//! ([`ImapSession`]), written here rather than borrowed from the `imap` crate the plugin
//! uses, so a bug there cannot hide itself; folder management goes through `doveadm`, which
//! takes UTF-8 names. Folder names in this module are twinbox's: UTF-8 with `/` between
//! levels; the helpers translate to the server's separator and modified UTF-7.
//!
//! [`Proxy`] sits between twinbox and Dovecot for the network-fault tests: it can cut a
//! connection in the middle of a `FETCH` and hide the UIDPLUS response codes (Dovecot sends
//! `APPENDUID` even when `imap_capability` hides UIDPLUS).

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Name, X509};

use crate::{repository_section, target_dir, Outcome, Sandbox};

/// The system user Dovecot's mail processes run as (created once, uid >= 5000).
pub const MAIL_USER: &str = "twinbox-mail";

/// The users every test Dovecot knows, with their passwords.
pub const USERS: [(&str, &str); 4] = [
    ("alice", "alice-secret"),
    ("bob", "bob-secret"),
    ("carol", "carol-secret"),
    ("dave", "dave-secret"),
];

/// The file name of the IMAP plugin, as `cargo build --workspace` leaves it.
pub const IMAP_PLUGIN: &str = "libtwinbox_imap.so";

/// The account name of [`maildir_imap_config`] and [`imap_imap_config`].
pub const ACCOUNT: &str = "Test";

/// An `imap_capability` for an old, plain IMAP4rev1 server: no UIDPLUS, CONDSTORE, QRESYNC,
/// MOVE, LIST-STATUS, SPECIAL-USE nor LITERAL+. (Dovecot still answers the commands; this
/// only changes what it advertises. Pair it with [`ProxyOptions::strip_uidplus`].)
pub const MINIMAL_CAPABILITY: &str =
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE NAMESPACE CHILDREN UNSELECT";

/// How long a twinbox run may take in a test before it is killed as hung.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Which certificate the server presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerCertificate {
    /// Signed by the test CA, valid now, for `localhost` and `127.0.0.1`.
    Valid,
    /// Signed by the test CA, for `localhost` and `127.0.0.1`, expired yesterday.
    Expired,
    /// Signed by the test CA, valid now, for `wrong.example.invalid` and `192.0.2.1` only.
    WrongHost,
}

/// How a test Dovecot is set up. `Default` is a modern Dovecot with TLS on both listeners.
#[derive(Clone, Debug)]
pub struct DovecotOptions {
    /// The hierarchy separator of the inbox namespace (Dovecot's Maildir default is `.`).
    pub separator: char,
    /// `imap_capability` (what is advertised after login); `None` keeps Dovecot's list.
    pub imap_capability: Option<String>,
    /// `ssl = yes`: an implicit-TLS listener and STARTTLS offered on the plain one. With
    /// `false` there is no TLS at all (`ssl = no`): STARTTLS is not offered and
    /// [`Dovecot::imaps_port`] panics.
    pub tls: bool,
    /// The certificate both listeners present.
    pub certificate: ServerCertificate,
}

impl Default for DovecotOptions {
    fn default() -> Self {
        DovecotOptions {
            separator: '.',
            imap_capability: None,
            tls: true,
            certificate: ServerCertificate::Valid,
        }
    }
}

/// A running Dovecot, stopped and its directory removed on drop.
pub struct Dovecot {
    dir: tempfile::TempDir,
    config: PathBuf,
    imap_port: u16,
    imaps_port: Option<u16>,
    separator: char,
    fingerprint: String,
    watchdog: Option<Child>,
}

/// Starting Dovecots one at a time inside a process keeps two tests from picking the same
/// free port; other processes are handled by retrying on "Address already in use".
static START_LOCK: Mutex<()> = Mutex::new(());

impl Dovecot {
    /// A Dovecot with [`DovecotOptions::default`].
    pub fn start_default() -> Dovecot {
        Dovecot::start(DovecotOptions::default())
    }

    /// Starts a Dovecot on free loopback ports and waits until it greets. Panics, with its
    /// log, if it cannot (not root, Dovecot not installed, bad config).
    pub fn start(options: DovecotOptions) -> Dovecot {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(
            euid, 0,
            "the IMAP tests start Dovecot and must run as root (its mail processes switch to \
             the user {MAIL_USER}); run them through scripts/test as root"
        );
        assert!(
            Path::new("/usr/sbin/dovecot").exists(),
            "Dovecot is not installed: run scripts/test (it installs dovecot-imapd) or \
             `apt-get install dovecot-imapd`"
        );
        let (uid, gid) = mail_user();

        let dir = tempfile::Builder::new()
            .prefix("twinbox-dovecot-")
            .tempdir()
            .expect("a temporary directory for Dovecot");
        let root = dir.path().to_owned();
        set_mode(&root, 0o755);
        for sub in ["run", "state", "ssl", "home"] {
            fs::create_dir(root.join(sub)).expect("create a Dovecot directory");
            set_mode(&root.join(sub), 0o755);
        }
        chown(root.join("home"), Some(uid), Some(gid)).expect("chown the mail homes");

        let certificates = Certificates::generate(options.certificate);
        fs::write(root.join("ssl/ca.pem"), &certificates.ca_pem).expect("write the CA");
        fs::write(root.join("ssl/cert.pem"), &certificates.cert_pem).expect("write the cert");
        fs::write(root.join("ssl/key.pem"), &certificates.key_pem).expect("write the key");
        set_mode(&root.join("ssl/key.pem"), 0o600);

        let mut passwd = String::new();
        for (user, password) in USERS {
            passwd.push_str(&format!("{user}:{{PLAIN}}{password}::::::\n"));
        }
        fs::write(root.join("passwd"), passwd).expect("write the passwd file");
        set_mode(&root.join("passwd"), 0o644);

        let config = root.join("dovecot.conf");
        let _guard = START_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let mut attempt = 0;
        let (imap_port, imaps_port) = loop {
            attempt += 1;
            let imap_port = free_port();
            let imaps_port = options.tls.then(|| loop {
                let port = free_port();
                if port != imap_port {
                    break port;
                }
            });
            fs::write(
                &config,
                render_config(&root, &options, uid, gid, imap_port, imaps_port),
            )
            .expect("write dovecot.conf");
            let startup_log = root.join("startup.log");
            let log = fs::File::create(&startup_log).expect("create startup.log");
            // Output to a file: the daemon inherits the descriptors and a pipe never closes.
            let status = Command::new("/usr/sbin/dovecot")
                .arg("-c")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup the log"))
                .stderr(log)
                .status()
                .expect("run dovecot");
            if status.success() {
                break (imap_port, imaps_port);
            }
            let said = fs::read_to_string(&startup_log).unwrap_or_default();
            let said = said + &fs::read_to_string(root.join("dovecot.log")).unwrap_or_default();
            if said.contains("Address already in use") && attempt < 10 {
                continue;
            }
            panic!("dovecot -c {} failed ({status}):\n{said}", config.display());
        };

        let mut dovecot = Dovecot {
            dir,
            config,
            imap_port,
            imaps_port,
            separator: options.separator,
            fingerprint: certificates.sha256,
            watchdog: None,
        };
        dovecot.watchdog = Some(dovecot.spawn_watchdog());
        dovecot.wait_until_ready();
        dovecot
    }

    /// A shell that stops this Dovecot and removes its directory if the test process dies
    /// without dropping it (killed, or a panic while panicking). Own process group, so a
    /// Ctrl-C in the terminal reaches it only through the test process's death.
    fn spawn_watchdog(&self) -> Child {
        let script = r#"
            while :; do
                state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
                [ -n "$state" ] && [ "$state" != Z ] || break
                sleep 1
            done
            pid=$(cat "$2" 2>/dev/null) && kill -9 "-$pid" 2>/dev/null
            sleep 1
            rm -rf "$3"
        "#;
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(script)
            .arg("twinbox-dovecot-watchdog")
            .arg(std::process::id().to_string())
            .arg(self.pid_file())
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command.spawn().expect("start the Dovecot watchdog")
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut ports = vec![self.imap_port];
        ports.extend(self.imaps_port);
        for port in ports {
            loop {
                if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
                    if port != self.imap_port {
                        break;
                    }
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut line = String::new();
                    if BufReader::new(stream).read_line(&mut line).is_ok()
                        && line.starts_with("* OK")
                    {
                        break;
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "Dovecot did not start listening on port {port}:\n{}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.path().join("run/master.pid")
    }

    /// The server's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The generated `dovecot.conf` (for `doveadm -c`).
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The plain listener (STARTTLS offered when the server has TLS).
    pub fn imap_port(&self) -> u16 {
        self.imap_port
    }

    /// The implicit-TLS listener. Panics on a server started with `tls: false`.
    pub fn imaps_port(&self) -> u16 {
        self.imaps_port
            .expect("this Dovecot was started without TLS: it has no imaps listener")
    }

    /// The PEM file of the test CA that signed the server certificate.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.dir.path().join("ssl/ca.pem")
    }

    /// The SHA-256 fingerprint of the server certificate, lowercase hex without colons.
    pub fn cert_sha256_fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// Everything Dovecot logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// The password of one of [`USERS`].
    pub fn password(&self, user: &str) -> &'static str {
        USERS
            .iter()
            .find(|(name, _)| *name == user)
            .map(|(_, password)| *password)
            .unwrap_or_else(|| panic!("{user} is not a test user"))
    }

    /// The root of `user`'s Maildir on the server (Dovecot's own files included).
    pub fn user_mail_dir(&self, user: &str) -> PathBuf {
        self.dir.path().join("home").join(user).join("Maildir")
    }

    /// A twinbox folder name (`Work/Projects`) as the server spells it in UTF-8
    /// (`Work.Projects`), for `doveadm`.
    pub fn server_name(&self, folder: &str) -> String {
        folder.replace('/', &self.separator.to_string())
    }

    /// A twinbox folder name as an IMAP astring: separator, modified UTF-7, quoted.
    pub fn wire_name(&self, folder: &str) -> String {
        quote(&mutf7_encode(&self.server_name(folder)))
    }

    /// Runs `doveadm -c CONF ARGS`, panicking with its output unless it succeeds; returns
    /// its stdout.
    pub fn doveadm(&self, args: &[&str]) -> String {
        let output = Command::new("doveadm")
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run doveadm");
        assert!(
            output.status.success(),
            "doveadm {args:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Creates a folder for `user` (parents as needed).
    pub fn create_folder(&self, user: &str, folder: &str) {
        self.doveadm(&["mailbox", "create", "-u", user, &self.server_name(folder)]);
    }

    /// Deletes a folder of `user` with its messages.
    pub fn delete_folder(&self, user: &str, folder: &str) {
        let name = self.server_name(folder);
        let mut session = self.session(user);
        session.select(&self.wire_name(folder));
        session
            .command("STORE 1:* +FLAGS.SILENT (\\Deleted)")
            .unwrap_or_else(|e| panic!("flag everything in {name} deleted: {e}"));
        session.command("EXPUNGE").expect("expunge");
        session.command("UNSELECT").expect("unselect");
        self.doveadm(&["mailbox", "delete", "-u", user, &name]);
    }

    /// `user`'s folders in twinbox's spelling, sorted; includes the parents the server lists
    /// (`Work` for `Work/Projects`).
    pub fn folders(&self, user: &str) -> Vec<String> {
        let out = self.doveadm(&["mailbox", "list", "-u", user]);
        let mut names: Vec<String> = out
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.replace(self.separator, "/"))
            .collect();
        names.sort();
        names
    }

    /// The UIDVALIDITY of one of `user`'s folders.
    pub fn uidvalidity(&self, user: &str, folder: &str) -> u32 {
        let out = self.doveadm(&[
            "-f",
            "flow",
            "mailbox",
            "status",
            "-u",
            user,
            "uidvalidity",
            &self.server_name(folder),
        ]);
        out.split_whitespace()
            .find_map(|field| field.strip_prefix("uidvalidity="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("unexpected doveadm mailbox status output {out:?}"))
    }

    /// A logged-in session of `user` on the plain listener.
    pub fn session(&self, user: &str) -> ImapSession {
        let mut session = ImapSession::connect(self.imap_port);
        session
            .command(&format!(
                "LOGIN {} {}",
                quote(user),
                quote(self.password(user))
            ))
            .unwrap_or_else(|e| panic!("LOGIN {user}: {e}"));
        session
    }

    /// Stores a message in `user`'s `folder` (created if missing) with `flags` (IMAP flags
    /// such as `\Seen`); returns its UID.
    pub fn deliver(&self, user: &str, folder: &str, content: &[u8], flags: &[&str]) -> u32 {
        self.deliver_dated(user, folder, content, flags, None)
    }

    /// [`Dovecot::deliver`] with an INTERNALDATE such as `"14-Nov-2023 22:13:20 +0000"`.
    pub fn deliver_dated(
        &self,
        user: &str,
        folder: &str,
        content: &[u8],
        flags: &[&str],
        internal_date: Option<&str>,
    ) -> u32 {
        let mut session = self.session(user);
        let name = self.wire_name(folder);
        if !folder.eq_ignore_ascii_case("INBOX") {
            // "already exists" is fine.
            let _ = session.command(&format!("CREATE {name}"));
        }
        session
            .append(&name, content, flags, internal_date)
            .unwrap_or_else(|e| panic!("APPEND to {folder} for {user}: {e}"))
    }

    /// Every message of `user`'s `folder` by UID: flags, INTERNALDATE and the exact
    /// `BODY[]` bytes. Read-only (EXAMINE, BODY.PEEK): changes nothing on the server.
    pub fn fetch_all(&self, user: &str, folder: &str) -> Vec<ServerMessage> {
        let mut session = self.session(user);
        session.examine(&self.wire_name(folder));
        session.fetch_all()
    }

    /// Replaces the flags of one message.
    pub fn set_flags(&self, user: &str, folder: &str, uid: u32, flags: &[&str]) {
        let mut session = self.session(user);
        session.select(&self.wire_name(folder));
        session
            .command(&format!(
                "UID STORE {uid} FLAGS.SILENT ({})",
                flags.join(" ")
            ))
            .unwrap_or_else(|e| panic!("UID STORE in {folder}: {e}"));
    }

    /// Deletes one message for good (`\Deleted`, then `UID EXPUNGE`).
    pub fn expunge(&self, user: &str, folder: &str, uid: u32) {
        let mut session = self.session(user);
        session.select(&self.wire_name(folder));
        session
            .command(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"))
            .unwrap_or_else(|e| panic!("UID STORE in {folder}: {e}"));
        session
            .command(&format!("UID EXPUNGE {uid}"))
            .unwrap_or_else(|e| panic!("UID EXPUNGE in {folder}: {e}"));
    }

    /// `user`'s folder as content (CRLF turned into LF, as in a Maildir file) -> Maildir
    /// flag letters (sorted), comparable with [`crate::folder_map`]. Panics on two
    /// messages with the same content (the tests make every message distinct).
    pub fn folder_map(&self, user: &str, folder: &str) -> BTreeMap<Vec<u8>, String> {
        let mut map = BTreeMap::new();
        for message in self.fetch_all(user, folder) {
            let letters = message.flag_letters();
            if map.insert(crlf_to_lf(&message.body), letters).is_some() {
                panic!(
                    "duplicate message on the server in {folder} of {user}:\n{}",
                    String::from_utf8_lossy(&message.body)
                );
            }
        }
        map
    }

    /// A proxy on a free loopback port forwarding to the plain listener.
    pub fn proxy(&self, options: ProxyOptions) -> Proxy {
        Proxy::start(self.imap_port, options)
    }

    /// The `[Repository]` options reaching `user` over implicit TLS at `127.0.0.1`,
    /// verified with the test CA.
    pub fn tls_repository(&self, user: &str) -> ImapRepository {
        ImapRepository::new()
            .set("type", "IMAP")
            .set("remotehost", "127.0.0.1")
            .set("remoteport", &self.imaps_port().to_string())
            .set("remoteuser", user)
            .set("remotepass", self.password(user))
            .set("ssl", "yes")
            .set("sslcacertfile", &self.ca_cert_path().display().to_string())
    }

    /// The `[Repository]` options reaching `user` on the plain port with STARTTLS (the
    /// default when `ssl = no`), verified with the test CA.
    pub fn starttls_repository(&self, user: &str) -> ImapRepository {
        ImapRepository::new()
            .set("type", "IMAP")
            .set("remotehost", "127.0.0.1")
            .set("remoteport", &self.imap_port().to_string())
            .set("remoteuser", user)
            .set("remotepass", self.password(user))
            .set("ssl", "no")
            .set("sslcacertfile", &self.ca_cert_path().display().to_string())
    }

    /// The `[Repository]` options reaching `user` in plaintext on `port` (the plain
    /// listener or a [`Proxy`] in front of it): `ssl = no`, `starttls = no`.
    pub fn plaintext_repository(&self, user: &str, port: u16) -> ImapRepository {
        ImapRepository::new()
            .set("type", "IMAP")
            .set("remotehost", "127.0.0.1")
            .set("remoteport", &port.to_string())
            .set("remoteuser", user)
            .set("remotepass", self.password(user))
            .set("ssl", "no")
            .set("starttls", "no")
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        let Some(pid) = fs::read_to_string(self.pid_file())
            .ok()
            .and_then(|s| s.trim().parse::<libc::pid_t>().ok())
        else {
            return;
        };
        // Dovecot's master takes seconds to stop gracefully; a test server has nothing to
        // save, so its whole process group (master, auth, login and mail processes: it
        // called setsid) is killed at once.
        // SAFETY: kill has no memory-safety preconditions; the group is Dovecot's own.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while process_alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// True while `pid` runs (a zombie no longer does: nothing may reap it in a container).
fn process_alive(pid: libc::pid_t) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The uid and gid of [`MAIL_USER`], creating the user the first time.
fn mail_user() -> (u32, u32) {
    static USER: OnceLock<(u32, u32)> = OnceLock::new();
    *USER.get_or_init(|| {
        if let Some(ids) = lookup_user(MAIL_USER) {
            return ids;
        }
        let uid = (5000..60000)
            .find(|uid| {
                !Command::new("getent")
                    .args(["passwd", &uid.to_string()])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .expect("a free uid above 5000");
        let output = Command::new("useradd")
            .args(["--system", "--user-group", "--no-create-home"])
            .args(["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"])
            .args(["--uid", &uid.to_string(), MAIL_USER])
            .output()
            .expect("run useradd");
        // Another test binary may have created it meanwhile: look again either way.
        lookup_user(MAIL_USER).unwrap_or_else(|| {
            panic!(
                "useradd {MAIL_USER} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
    })
}

fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let output = Command::new("id").arg(flag).arg(name).output().ok()?;
        if !output.status.success() {
            return None;
        }
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

fn render_config(
    root: &Path,
    options: &DovecotOptions,
    uid: u32,
    gid: u32,
    imap_port: u16,
    imaps_port: Option<u16>,
) -> String {
    let root = root.display();
    let ssl = if options.tls {
        format!(
            "ssl = yes\nssl_cert = <{root}/ssl/cert.pem\nssl_key = <{root}/ssl/key.pem\n\
             ssl_min_protocol = TLSv1.2\n"
        )
    } else {
        "ssl = no\n".to_owned()
    };
    let imaps = match imaps_port {
        Some(port) => {
            format!("  inet_listener imaps {{\n    port = {port}\n    ssl = yes\n  }}\n")
        }
        None => String::new(),
    };
    let capability = match &options.imap_capability {
        Some(capability) => format!("  imap_capability = {capability}\n"),
        None => String::new(),
    };
    format!(
        "# Generated by twinbox's integration tests; self-contained.\n\
         base_dir = {root}/run\n\
         state_dir = {root}/state\n\
         log_path = {root}/dovecot.log\n\
         listen = 127.0.0.1\n\
         protocols = imap\n\
         {ssl}\
         disable_plaintext_auth = no\n\
         auth_mechanisms = plain login cram-md5\n\
         auth_verbose = yes\n\
         mail_uid = {uid}\n\
         mail_gid = {gid}\n\
         first_valid_uid = {uid}\n\
         last_valid_uid = {uid}\n\
         first_valid_gid = {gid}\n\
         last_valid_gid = {gid}\n\
         mail_location = maildir:~/Maildir\n\
         namespace inbox {{\n  inbox = yes\n  separator = {separator}\n}}\n\
         passdb {{\n  driver = passwd-file\n  args = {root}/passwd\n}}\n\
         userdb {{\n  driver = static\n  args = home={root}/home/%u\n}}\n\
         service imap-login {{\n  inet_listener imap {{\n    port = {imap_port}\n  }}\n{imaps}}}\n\
         protocol imap {{\n  mail_max_userip_connections = 100\n{capability}}}\n",
        separator = options.separator,
    )
}

/// The test PKI of one server: a CA and the server certificate it signed.
struct Certificates {
    ca_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    sha256: String,
}

impl Certificates {
    fn generate(kind: ServerCertificate) -> Certificates {
        Self::try_generate(kind).expect("generate the test certificates")
    }

    fn try_generate(kind: ServerCertificate) -> Result<Certificates, openssl::error::ErrorStack> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
        let new_key = || -> Result<PKey<Private>, openssl::error::ErrorStack> {
            PKey::from_ec_key(EcKey::generate(&group)?)
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("a clock after 1970")
            .as_secs() as libc::time_t;
        const DAY: libc::time_t = 86_400;
        let serial = || -> Result<Asn1Integer, openssl::error::ErrorStack> {
            let mut bn = BigNum::new()?;
            bn.rand(64, MsbOption::MAYBE_ZERO, false)?;
            bn.to_asn1_integer()
        };

        let ca_key = new_key()?;
        let mut ca_name = X509Name::builder()?;
        ca_name.append_entry_by_nid(Nid::COMMONNAME, "twinbox test CA")?;
        let ca_name = ca_name.build();
        let mut ca = X509::builder()?;
        ca.set_version(2)?;
        let ca_serial = serial()?;
        ca.set_serial_number(&ca_serial)?;
        ca.set_subject_name(&ca_name)?;
        ca.set_issuer_name(&ca_name)?;
        ca.set_pubkey(&ca_key)?;
        let (ca_from, ca_until) = (
            Asn1Time::from_unix(now - DAY)?,
            Asn1Time::from_unix(now + 30 * DAY)?,
        );
        ca.set_not_before(&ca_from)?;
        ca.set_not_after(&ca_until)?;
        ca.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        ca.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
        let ski = SubjectKeyIdentifier::new().build(&ca.x509v3_context(None, None))?;
        ca.append_extension(ski)?;
        ca.sign(&ca_key, MessageDigest::sha256())?;
        let ca = ca.build();

        let (host, ip) = match kind {
            ServerCertificate::WrongHost => ("wrong.example.invalid", "192.0.2.1"),
            _ => ("localhost", "127.0.0.1"),
        };
        let (not_before, not_after) = match kind {
            ServerCertificate::Expired => (now - 30 * DAY, now - DAY),
            _ => (now - DAY, now + 30 * DAY),
        };
        let key = new_key()?;
        let mut name = X509Name::builder()?;
        name.append_entry_by_nid(Nid::COMMONNAME, host)?;
        let name = name.build();
        let mut cert = X509::builder()?;
        cert.set_version(2)?;
        let cert_serial = serial()?;
        cert.set_serial_number(&cert_serial)?;
        cert.set_subject_name(&name)?;
        cert.set_issuer_name(ca.subject_name())?;
        cert.set_pubkey(&key)?;
        let (from, until) = (
            Asn1Time::from_unix(not_before)?,
            Asn1Time::from_unix(not_after)?,
        );
        cert.set_not_before(&from)?;
        cert.set_not_after(&until)?;
        cert.append_extension(BasicConstraints::new().build()?)?;
        cert.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
        cert.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
        let san = SubjectAlternativeName::new()
            .dns(host)
            .ip(ip)
            .build(&cert.x509v3_context(Some(&ca), None))?;
        cert.append_extension(san)?;
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&cert.x509v3_context(Some(&ca), None))?;
        cert.append_extension(aki)?;
        cert.sign(&ca_key, MessageDigest::sha256())?;
        let cert = cert.build();

        let sha256 = hex(&cert.digest(MessageDigest::sha256())?);
        Ok(Certificates {
            ca_pem: ca.to_pem()?,
            cert_pem: cert.to_pem()?,
            key_pem: key.private_key_to_pem_pkcs8()?,
            sha256,
        })
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One message as the server holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerMessage {
    pub uid: u32,
    /// The IMAP flags (`\Seen`, keywords), without `\Recent`.
    pub flags: Vec<String>,
    /// As the server sends it: `"14-Nov-2023 22:13:20 +0000"`.
    pub internal_date: String,
    /// The exact `BODY[]` bytes (CRLF line ends).
    pub body: Vec<u8>,
}

impl ServerMessage {
    /// The flags as sorted Maildir letters (`\Draft` D, `\Flagged` F, `$Forwarded` P,
    /// `\Answered` R, `\Seen` S, `\Deleted` T); other flags are left out.
    pub fn flag_letters(&self) -> String {
        let mut letters: Vec<char> = self
            .flags
            .iter()
            .filter_map(|flag| flag_letter(flag))
            .collect();
        letters.sort_unstable();
        letters.dedup();
        letters.into_iter().collect()
    }

    /// The INTERNALDATE as seconds since the epoch.
    pub fn internal_date_unix(&self) -> i64 {
        parse_internal_date(&self.internal_date)
            .unwrap_or_else(|| panic!("unparsable INTERNALDATE {:?}", self.internal_date))
    }
}

/// The Maildir letter of an IMAP flag, if it has one.
pub fn flag_letter(flag: &str) -> Option<char> {
    match flag.to_ascii_lowercase().as_str() {
        "\\draft" => Some('D'),
        "\\flagged" => Some('F'),
        "$forwarded" => Some('P'),
        "\\answered" => Some('R'),
        "\\seen" => Some('S'),
        "\\deleted" => Some('T'),
        _ => None,
    }
}

/// The IMAP flags of Maildir letters (`"FS"` -> `["\Flagged", "\Seen"]`).
pub fn imap_flags(letters: &str) -> Vec<&'static str> {
    letters
        .chars()
        .map(|letter| match letter {
            'D' => "\\Draft",
            'F' => "\\Flagged",
            'P' => "$Forwarded",
            'R' => "\\Answered",
            'S' => "\\Seen",
            'T' => "\\Deleted",
            other => panic!("{other:?} is not a Maildir flag letter"),
        })
        .collect()
}

/// `"14-Nov-2023 22:13:20 +0000"` (day possibly space-padded) as seconds since the epoch.
pub fn parse_internal_date(text: &str) -> Option<i64> {
    let (date, rest) = text.trim().split_once(' ')?;
    let (time, zone) = rest.trim().split_once(' ')?;
    let date: Vec<&str> = date.split('-').collect();
    let [day, month, year] = date[..] else {
        return None;
    };
    let day: i64 = day.trim().parse().ok()?;
    let month = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| m.eq_ignore_ascii_case(month))? as i64
        + 1;
    let year: i64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let zone: i64 = zone.trim_start_matches(['+', '-']).parse().ok()?;
    let offset = sign * ((zone / 100) * 3600 + (zone % 100) * 60);
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s - offset)
}

/// A time in seconds as an INTERNALDATE in UTC: `14-Nov-2023 22:13:20 +0000`.
pub fn format_internal_date(secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // Civil from days (Howard Hinnant).
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{day:02}-{}-{year} {:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `content` with every CRLF turned into LF (IMAP -> Maildir).
pub fn crlf_to_lf(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len());
    let mut i = 0;
    while i < content.len() {
        if content[i] == b'\r' && content.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(content[i]);
        i += 1;
    }
    out
}

/// `content` with every bare LF turned into CRLF (Maildir -> IMAP).
pub fn lf_to_crlf(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + content.len() / 40);
    for (i, &byte) in content.iter().enumerate() {
        if byte == b'\n' && (i == 0 || content[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(byte);
    }
    out
}

/// Modified UTF-7 (RFC 3501 5.1.3), written here independently of the plugin's codec.
pub fn mutf7_encode(name: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    fn flush(out: &mut String, pending: &mut Vec<u16>) {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out.push('-');
        pending.clear();
    }
    let mut out = String::new();
    let mut pending = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut out, &mut pending);
    out
}

/// An IMAP quoted string.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// One item of a server response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// An atom, number or flag (`FETCH`, `12`, `\Seen`, `BODY[]`).
    Atom(String),
    /// A quoted string or a literal.
    Bytes(Vec<u8>),
    List(Vec<Value>),
}

impl Value {
    fn atom(&self) -> Option<&str> {
        match self {
            Value::Atom(atom) => Some(atom),
            _ => None,
        }
    }
}

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

    /// SELECTs a mailbox given as an astring ([`Dovecot::wire_name`]).
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

#[derive(Debug)]
enum Chunk {
    Text(Vec<u8>),
    Literal(Vec<u8>),
}

/// `Some((n, start of "{n}"))` if a line ends with a literal announcement.
fn literal_length(line: &[u8]) -> Option<(usize, usize)> {
    if !line.ends_with(b"}") {
        return None;
    }
    let start = line.iter().rposition(|&b| b == b'{')?;
    let digits = std::str::from_utf8(&line[start + 1..line.len() - 1]).ok()?;
    let digits = digits.strip_suffix('+').unwrap_or(digits);
    Some((digits.parse().ok()?, start))
}

/// Parses one response line into values.
fn tokenize(chunks: &[Chunk]) -> Result<Vec<Value>, String> {
    enum Token {
        Open,
        Close,
        Value(Value),
    }
    let mut tokens = Vec::new();
    for chunk in chunks {
        let text = match chunk {
            Chunk::Literal(bytes) => {
                tokens.push(Token::Value(Value::Bytes(bytes.clone())));
                continue;
            }
            Chunk::Text(text) => text,
        };
        let mut i = 0;
        while i < text.len() {
            match text[i] {
                b' ' => i += 1,
                b'(' => {
                    tokens.push(Token::Open);
                    i += 1;
                }
                b')' => {
                    tokens.push(Token::Close);
                    i += 1;
                }
                b'"' => {
                    let mut bytes = Vec::new();
                    i += 1;
                    loop {
                        match text.get(i) {
                            None => return Err("unterminated quoted string".into()),
                            Some(b'"') => break,
                            Some(b'\\') => {
                                bytes.push(*text.get(i + 1).ok_or("bad escape")?);
                                i += 2;
                            }
                            Some(&b) => {
                                bytes.push(b);
                                i += 1;
                            }
                        }
                    }
                    i += 1;
                    tokens.push(Token::Value(Value::Bytes(bytes)));
                }
                _ => {
                    let start = i;
                    let mut depth = 0;
                    while i < text.len() {
                        match text[i] {
                            b'[' => depth += 1,
                            b']' => depth -= 1,
                            b' ' | b'(' | b')' if depth == 0 => break,
                            _ => {}
                        }
                        i += 1;
                    }
                    let atom = String::from_utf8_lossy(&text[start..i]).into_owned();
                    tokens.push(Token::Value(Value::Atom(atom)));
                }
            }
        }
    }
    let mut stack: Vec<Vec<Value>> = vec![Vec::new()];
    for token in tokens {
        match token {
            Token::Open => stack.push(Vec::new()),
            Token::Close => {
                let list = stack.pop().ok_or("unbalanced )")?;
                stack
                    .last_mut()
                    .ok_or("unbalanced )")?
                    .push(Value::List(list));
            }
            Token::Value(value) => stack.last_mut().ok_or("unbalanced")?.push(value),
        }
    }
    if stack.len() != 1 {
        return Err("unbalanced (".into());
    }
    Ok(stack.pop().unwrap_or_default())
}

/// What a [`Proxy`] does to the traffic.
#[derive(Clone, Debug, Default)]
pub struct ProxyOptions {
    /// Cut every connection once the server has sent this many bytes after the client
    /// asked for message contents (`BODY[`, `BODY.PEEK[`, `RFC822`); changeable later with
    /// [`Proxy::set_cut_after_fetch_bytes`].
    pub cut_after_fetch_bytes: Option<usize>,
    /// Remove the `[APPENDUID ...]` and `[COPYUID ...]` response codes, so the client cannot
    /// learn new UIDs from them (pair with [`MINIMAL_CAPABILITY`]).
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

/// The options of one `[Repository]` section of type IMAP.
#[derive(Clone, Debug, Default)]
pub struct ImapRepository {
    options: Vec<(String, String)>,
}

impl ImapRepository {
    pub fn new() -> ImapRepository {
        ImapRepository::default()
    }

    /// Sets (or replaces) an option.
    pub fn set(mut self, option: &str, value: &str) -> ImapRepository {
        self.options.retain(|(name, _)| name != option);
        self.options.push((option.to_owned(), value.to_owned()));
        self
    }

    /// Removes an option.
    pub fn unset(mut self, option: &str) -> ImapRepository {
        self.options.retain(|(name, _)| name != option);
        self
    }

    /// The section `[Repository NAME]` with these options.
    pub fn section(&self, name: &str) -> String {
        let mut out = format!("[Repository {name}]\n");
        for (option, value) in &self.options {
            out.push_str(&format!("{option} = {value}\n"));
        }
        out
    }
}

/// The config of one account [`ACCOUNT`]: the Maildir [`Sandbox::local`] (`sep` `.`) as
/// local repository, `remote` as remote; `account_options` (lines) go into `[Account]`.
pub fn maildir_imap_config(
    sandbox: &Sandbox,
    account_options: &str,
    remote: &ImapRepository,
) -> String {
    let local = format!(
        "type = Maildir\nlocalfolders = {}\n",
        sandbox.local().display()
    );
    sandbox.account_config(
        ACCOUNT,
        account_options,
        &repository_section("Local", &local),
        &remote.section("Remote"),
    )
}

/// The config of one account [`ACCOUNT`] mirroring two IMAP repositories.
pub fn imap_imap_config(
    sandbox: &Sandbox,
    account_options: &str,
    local: &ImapRepository,
    remote: &ImapRepository,
) -> String {
    sandbox.account_config(
        ACCOUNT,
        account_options,
        &local.section("Local"),
        &remote.section("Remote"),
    )
}

/// The directory of twinbox folder `folder` under the Maildir root `root` with `sep` `.`:
/// `Work/Projects` -> `Work.Projects`, in modified UTF-7 unless `utf8` (the account's
/// `utf8foldernames`).
pub fn local_folder_dir(root: &Path, folder: &str, utf8: bool) -> PathBuf {
    let name = folder.replace('/', ".");
    root.join(if utf8 { name } else { mutf7_encode(&name) })
}

/// Panics, showing the difference, unless the Maildir folder `dir` and `user`'s `folder` on
/// the server hold the same messages (contents modulo CRLF <-> LF) with the same flags.
#[track_caller]
pub fn assert_folder_matches(dovecot: &Dovecot, user: &str, folder: &str, dir: &Path) {
    assert!(
        dir.join("cur").is_dir(),
        "no Maildir folder at {}",
        dir.display()
    );
    let server = BTreeMap::from([(folder.to_owned(), dovecot.folder_map(user, folder))]);
    let local = BTreeMap::from([(folder.to_owned(), crate::folder_map(dir))]);
    crate::assert_same_tree(&server, &local);
}

/// A file's modification time in whole seconds since the epoch.
pub fn mtime_unix(path: &Path) -> i64 {
    let modified = fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("mtime of {}: {e}", path.display()));
    match modified.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    }
}

/// Sets a file's modification time (what a Maildir message's INTERNALDATE is taken from).
pub fn set_mtime_unix(path: &Path, secs: i64) {
    let time = UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64);
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(time))
        .unwrap_or_else(|e| panic!("set the mtime of {}: {e}", path.display()));
}

/// Panics with a clear message unless the IMAP plugin has been built next to twinbox.
pub fn require_imap_plugin() -> PathBuf {
    let path = target_dir().join(IMAP_PLUGIN);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// Runs `twinbox -c CONFIG --plugin-dir TARGET ARGS` in `sandbox`, killing it (and
/// panicking with what it said) if it runs longer than [`RUN_TIMEOUT`]. With
/// `TWINBOX_E2E_SHOW` set in the environment, every run's output is printed (use with
/// `--nocapture`).
pub fn run_twinbox(sandbox: &Sandbox, args: &[&str]) -> Outcome {
    require_imap_plugin();
    let mut child = sandbox.command(args).spawn().expect("start twinbox");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        match child.try_wait().expect("wait for twinbox") {
            Some(status) => break Some(status),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let outcome = Outcome {
        code: status.and_then(|s| s.code()),
        stdout: String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned(),
    };
    assert!(
        status.is_some(),
        "twinbox {args:?} ran longer than {RUN_TIMEOUT:?} and was killed\n{outcome}"
    );
    if std::env::var_os("TWINBOX_E2E_SHOW").is_some() {
        eprintln!("twinbox {args:?}\n{outcome}");
    }
    outcome
}

/// `twinbox sync ARGS` that must succeed (exit 0, nothing on stderr).
#[track_caller]
pub fn sync_ok(sandbox: &Sandbox, args: &[&str]) -> Outcome {
    let mut all = vec!["sync"];
    all.extend_from_slice(args);
    let outcome = run_twinbox(sandbox, &all);
    outcome.assert_success();
    outcome
}

/// `twinbox sync ARGS` that must exit with `code`.
#[track_caller]
pub fn sync_code(sandbox: &Sandbox, args: &[&str], code: i32) -> Outcome {
    let mut all = vec!["sync"];
    all.extend_from_slice(args);
    let outcome = run_twinbox(sandbox, &all);
    outcome.assert_code(code);
    outcome
}

/// Panics unless a rerun reports `no changes` for [`ACCOUNT`].
#[track_caller]
pub fn assert_no_changes(sandbox: &Sandbox) {
    let outcome = sync_ok(sandbox, &[]);
    let line = outcome.account_line(ACCOUNT);
    assert!(
        line.ends_with(": no changes"),
        "a rerun should change nothing\n{outcome}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutf7_matches_rfc_3501_examples() {
        assert_eq!(mutf7_encode("INBOX"), "INBOX");
        assert_eq!(mutf7_encode("Caf\u{e9}"), "Caf&AOk-");
        assert_eq!(mutf7_encode("A&B"), "A&-B");
        assert_eq!(
            mutf7_encode("~peter/mail/\u{65e5}\u{672c}\u{8a9e}/\u{53f0}\u{5317}"),
            "~peter/mail/&ZeVnLIqe-/&U,BTFw-"
        );
        assert_eq!(mutf7_encode("\u{1f600}"), "&2D3eAA-");
    }

    #[test]
    fn internal_dates_parse() {
        assert_eq!(
            parse_internal_date("14-Nov-2023 22:13:20 +0000"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_internal_date(" 4-Jan-2024 01:00:00 +0100"),
            Some(1_704_326_400)
        );
    }

    #[test]
    fn internal_dates_format_and_parse_back() {
        assert_eq!(
            format_internal_date(1_700_000_000),
            "14-Nov-2023 22:13:20 +0000"
        );
        assert_eq!(
            format_internal_date(951_782_400),
            "29-Feb-2000 00:00:00 +0000"
        );
        for secs in [0, 1_600_000_000, 1_709_164_799, 4_102_444_800] {
            assert_eq!(parse_internal_date(&format_internal_date(secs)), Some(secs));
        }
    }

    #[test]
    fn line_endings_convert_both_ways() {
        assert_eq!(crlf_to_lf(b"a\r\nb\r\n\r"), b"a\nb\n\r");
        assert_eq!(lf_to_crlf(b"a\nb\r\n\n"), b"a\r\nb\r\n\r\n");
    }

    #[test]
    fn responses_parse_with_literals() {
        let chunks = vec![
            Chunk::Text(b"* 1 FETCH (UID 7 FLAGS (\\Seen $X) BODY[] ".to_vec()),
            Chunk::Literal(b"a)(\"b\r\n".to_vec()),
            Chunk::Text(b" INTERNALDATE \"1-Jan-2000 00:00:00 +0000\")".to_vec()),
        ];
        let values = tokenize(&chunks).expect("parses");
        assert_eq!(values[2].atom(), Some("FETCH"));
        let Value::List(items) = &values[3] else {
            panic!("{values:?}")
        };
        assert_eq!(items[4], Value::Atom("BODY[]".into()));
        assert_eq!(items[5], Value::Bytes(b"a)(\"b\r\n".to_vec()));
    }

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
