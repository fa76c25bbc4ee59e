//! Who may log in to a test Dovecot (the [`USERS`] and their passwords) and the one system
//! user its mail processes run as, created on first use.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::Dovecot;

/// The system user Dovecot's mail processes run as (created once, uid >= 5000).
pub const MAIL_USER: &str = "twinbox-mail";

/// The users every test Dovecot knows, with their passwords.
pub const USERS: [(&str, &str); 4] = [
    ("alice", "alice-secret"),
    ("bob", "bob-secret"),
    ("carol", "carol-secret"),
    ("dave", "dave-secret"),
];

impl Dovecot {
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
}

/// The uid and gid of [`MAIL_USER`], creating the user the first time.
pub(super) fn mail_user() -> (u32, u32) {
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
