//! A real Cyrus IMAP server (Debian's `cyrus-imapd`) for running part of the IMAP
//! end-to-end suite against a second implementation (issue 12, deliver 7): servers differ
//! (bare CRs, UIDPLUS, CONDSTORE, LIST quirks), and one server hides our assumptions.
//!
//! Like [`Dovecot`](crate::dovecot::Dovecot), each test starts its own: a generated
//! `imapd.conf` and `cyrus.conf` in a temporary directory owned by the `cyrus` system user
//! (the package creates it; Cyrus refuses to run as root), users in a private sasldb,
//! one IMAP listener on a free loopback port, `altnamespace` and `unixhierarchysep` so that
//! folders are `Work/Sub` as on Dovecot. Cyrus logs to syslog only; there is no log file.
//!
//! Reading and changing the server goes through the harness's own IMAP client
//! ([`ImapSession`]).

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::dovecot::{crlf_to_lf, mutf7_encode, quote, ImapRepository, ImapSession, ServerMessage};

const MASTER: &str = "/usr/lib/cyrus/bin/master";
const PASSWORD: &str = "cyrus-test-password";

/// Where Cyrus's `imapd` may be: installed by its package, or (as `scripts/test` does)
/// only unpacked from it, because Debian's `cyrus-imapd` conflicts with `dovecot-imapd`
/// (both provide `imap-server`) and installing it would remove Dovecot. The master and the
/// tools come from `cyrus-common`, which installs beside Dovecot.
const IMAPD_PLACES: [&str; 2] = [
    "/usr/lib/cyrus/bin/imapd",
    "/usr/local/lib/twinbox-test-cyrus/usr/lib/cyrus/bin/imapd",
];

fn imapd() -> Option<&'static str> {
    IMAPD_PLACES
        .into_iter()
        .find(|place| Path::new(place).is_file())
}

/// Whether Cyrus is there (`scripts/test` sets it up); tests skip with a message when it
/// is not, as on a machine set up before it was added.
pub fn cyrus_available() -> bool {
    Path::new(MASTER).exists() && imapd().is_some() && Path::new("/usr/sbin/saslpasswd2").exists()
}

/// One private Cyrus server; stopped when dropped.
pub struct Cyrus {
    dir: tempfile::TempDir,
    port: u16,
    master: Child,
}

impl Cyrus {
    /// Starts a server with the users `users` (all with the same password).
    pub fn start(users: &[&str]) -> Cyrus {
        let dir = tempfile::Builder::new()
            .prefix("twinbox-cyrus-")
            .tempdir()
            .expect("a directory for Cyrus");
        let root = dir.path();
        // What mkimap would make.
        for sub in [
            "conf/db",
            "conf/socket",
            "conf/log",
            "conf/msg",
            "conf/ptclient",
            "conf/quota",
            "conf/user",
            "spool",
            "run/proc",
            "run/lock",
            "run/socket",
        ] {
            std::fs::create_dir_all(root.join(sub)).expect("Cyrus directories");
        }
        let port = free_port();
        let at = |sub: &str| root.join(sub).display().to_string();
        std::fs::write(
            root.join("imapd.conf"),
            format!(
                "configdirectory: {conf}\n\
                 defaultpartition: default\n\
                 partition-default: {spool}\n\
                 proc_path: {proc}\n\
                 mboxname_lockpath: {lock}\n\
                 lmtpsocket: {socket}/lmtp\n\
                 idlesocket: {socket}/idle\n\
                 notifysocket: {socket}/notify\n\
                 altnamespace: yes\n\
                 unixhierarchysep: yes\n\
                 allowplaintext: yes\n\
                 sasl_pwcheck_method: auxprop\n\
                 sasl_auxprop_plugin: sasldb\n\
                 sasl_sasldb_path: {sasldb}\n\
                 sasl_mech_list: PLAIN LOGIN\n\
                 autocreate_quota: 0\n\
                 hashimapspool: false\n\
                 syslog_prefix: twinbox-cyrus\n\
                 service_path: /usr/lib/cyrus/bin\n",
                conf = at("conf"),
                spool = at("spool"),
                proc = at("run/proc"),
                lock = at("run/lock"),
                socket = at("run/socket"),
                sasldb = at("sasldb2"),
            ),
        )
        .expect("imapd.conf");
        let config = at("imapd.conf");
        let imapd = imapd().expect("Cyrus's imapd (see cyrus_available)");
        // Children get the config explicitly: without -C they read /etc/imapd.conf.
        std::fs::write(
            root.join("cyrus.conf"),
            format!(
                "START {{\n  recover cmd=\"ctl_cyrusdb -C {config} -r\"\n}}\n\
                 SERVICES {{\n  imap cmd=\"{imapd} -C {config}\" listen=\"127.0.0.1:{port}\" prefork=0\n}}\n\
                 EVENTS {{\n}}\n"
            ),
        )
        .expect("cyrus.conf");
        for user in users {
            let mut child = Command::new("/usr/sbin/saslpasswd2")
                .args(["-p", "-c", "-f", &at("sasldb2"), user])
                .stdin(Stdio::piped())
                .spawn()
                .expect("run saslpasswd2");
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(PASSWORD.as_bytes())
                .expect("the password");
            assert!(child.wait().expect("saslpasswd2").success());
        }
        // Everything belongs to the cyrus user, which must also reach the directory.
        let status = Command::new("chown")
            .args(["-R", "cyrus:mail"])
            .arg(root)
            .status()
            .expect("chown");
        assert!(status.success(), "chown the Cyrus directory");
        let master = Command::new("runuser")
            .args(["-u", "cyrus", "--", MASTER, "-D", "-C", &config, "-M"])
            .arg(root.join("cyrus.conf"))
            .arg("-p")
            .arg(root.join("master.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // The master ends its whole process group when it stops: a group of its own,
            // or it takes the other tests' servers with it.
            .process_group(0)
            .spawn()
            .expect("start the Cyrus master");
        let cyrus = Cyrus { dir, port, master };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "Cyrus did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        cyrus
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// The `[Repository]` options reaching `user` (plain text on loopback).
    pub fn repository(&self, user: &str) -> ImapRepository {
        ImapRepository::new()
            .set("type", "IMAP")
            .set("remotehost", "127.0.0.1")
            .set("remoteport", &self.port.to_string())
            .set("remoteuser", user)
            .set("remotepass", PASSWORD)
            .set("ssl", "no")
            .set("starttls", "no")
    }

    /// A logged-in session of `user`.
    pub fn session(&self, user: &str) -> ImapSession {
        let mut session = ImapSession::connect(self.port);
        session
            .command(&format!("LOGIN {} {}", quote(user), quote(PASSWORD)))
            .unwrap_or_else(|e| panic!("LOGIN {user}: {e}"));
        session
    }

    /// `folder` (twinbox's name, `/` between levels) as an IMAP astring.
    pub fn wire_name(folder: &str) -> String {
        quote(&mutf7_encode(folder))
    }

    /// Stores a message in `user`'s `folder` (created if missing); returns its UID.
    pub fn deliver(&self, user: &str, folder: &str, content: &[u8], flags: &[&str]) -> u32 {
        let mut session = self.session(user);
        let name = Cyrus::wire_name(folder);
        if !folder.eq_ignore_ascii_case("INBOX") {
            let _ = session.command(&format!("CREATE {name}"));
        }
        let content = String::from_utf8_lossy(content).replace("\r\n", "\n");
        let content = content.replace('\n', "\r\n");
        session
            .append(&name, content.as_bytes(), flags, None)
            .unwrap_or_else(|e| panic!("APPEND to {folder}: {e}"))
    }

    pub fn create_folder(&self, user: &str, folder: &str) {
        let mut session = self.session(user);
        session
            .command(&format!("CREATE {}", Cyrus::wire_name(folder)))
            .unwrap_or_else(|e| panic!("CREATE {folder}: {e}"));
    }

    pub fn delete_folder(&self, user: &str, folder: &str) {
        let mut session = self.session(user);
        session
            .command(&format!("DELETE {}", Cyrus::wire_name(folder)))
            .unwrap_or_else(|e| panic!("DELETE {folder}: {e}"));
    }

    /// Every message of `user`'s `folder` by UID (read-only).
    pub fn fetch_all(&self, user: &str, folder: &str) -> Vec<ServerMessage> {
        let mut session = self.session(user);
        session.examine(&Cyrus::wire_name(folder));
        session.fetch_all()
    }

    /// The folder's UIDVALIDITY.
    pub fn uidvalidity(&self, user: &str, folder: &str) -> u32 {
        let mut session = self.session(user);
        let reply = session.examine(&Cyrus::wire_name(folder));
        let text = format!("{reply:?}");
        let at = text.find("UIDVALIDITY ").expect("UIDVALIDITY in EXAMINE") + 12;
        text[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .expect("a number")
    }

    /// Replaces the flags of one message.
    pub fn set_flags(&self, user: &str, folder: &str, uid: u32, flags: &[&str]) {
        let mut session = self.session(user);
        session.select(&Cyrus::wire_name(folder));
        session
            .command(&format!(
                "UID STORE {uid} FLAGS.SILENT ({})",
                flags.join(" ")
            ))
            .unwrap_or_else(|e| panic!("UID STORE: {e}"));
    }

    /// Deletes one message for good.
    pub fn expunge(&self, user: &str, folder: &str, uid: u32) {
        let mut session = self.session(user);
        session.select(&Cyrus::wire_name(folder));
        session
            .command(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"))
            .unwrap_or_else(|e| panic!("UID STORE: {e}"));
        session
            .command(&format!("UID EXPUNGE {uid}"))
            .unwrap_or_else(|e| panic!("UID EXPUNGE: {e}"));
    }

    /// Content (LF line ends, as in a Maildir file) -> flag letters, comparable with
    /// [`crate::folder_map`].
    pub fn folder_map(&self, user: &str, folder: &str) -> BTreeMap<Vec<u8>, String> {
        self.fetch_all(user, folder)
            .into_iter()
            .map(|m| (crlf_to_lf(&m.body), m.flag_letters()))
            .collect()
    }
}

impl Drop for Cyrus {
    fn drop(&mut self) {
        // The master ends its children when it gets SIGTERM; runuser passes it on.
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("master.pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                // SAFETY: kill(2) with a pid we started; no memory is involved.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.master.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.master.kill();
        let _ = self.master.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
