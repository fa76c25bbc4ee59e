//! The life of one test Dovecot: its generated config, its directory, starting it on free
//! loopback ports, waiting for its greeting, and killing it (with a watchdog for a test
//! process that dies first). What it knows (users, certificates) and what a test does with it
//! (mailboxes, proxies) live in the sibling modules.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::certificates::{Certificates, ServerCertificate};
use super::users::{mail_user, MAIL_USER, USERS};

/// An `imap_capability` for an old, plain IMAP4rev1 server: no UIDPLUS, CONDSTORE, QRESYNC,
/// MOVE, LIST-STATUS, SPECIAL-USE nor LITERAL+. (Dovecot still answers the commands; this
/// only changes what it advertises. Pair it with [`ProxyOptions::strip_uidplus`](super::ProxyOptions::strip_uidplus).)
pub const MINIMAL_CAPABILITY: &str =
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE NAMESPACE CHILDREN UNSELECT";

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
    pub(super) dir: tempfile::TempDir,
    pub(super) config: PathBuf,
    pub(super) imap_port: u16,
    imaps_port: Option<u16>,
    pub(super) separator: char,
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
