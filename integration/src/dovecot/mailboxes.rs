//! Reading and changing a user's mailboxes on the server, the way a test sets up and checks
//! what twinbox must see: folders through `doveadm`, messages through the harness's own
//! [`ImapSession`].

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use super::conversions::{crlf_to_lf, flag_letter, mutf7_encode, parse_internal_date, quote};
use super::session::ImapSession;
use super::Dovecot;

impl Dovecot {
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
        self.expunge_all(user, folder);
        self.doveadm(&["mailbox", "delete", "-u", user, &self.server_name(folder)]);
    }

    /// Deletes every message of `user`'s `folder` for good, as a mail client emptying it
    /// does (`\Deleted` on all, then `EXPUNGE`); the folder stays.
    pub fn expunge_all(&self, user: &str, folder: &str) {
        let mut session = self.session(user);
        session.select(&self.wire_name(folder));
        session
            .command("STORE 1:* +FLAGS.SILENT (\\Deleted)")
            .unwrap_or_else(|e| panic!("flag everything in {folder} deleted: {e}"));
        session.command("EXPUNGE").expect("expunge");
        session.command("UNSELECT").expect("unselect");
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

    /// Everything `user` holds in `folders`: folder -> (UIDVALIDITY, messages by UID), for
    /// "nothing changed on the server" checks (same UIDs, flags, dates and bytes).
    pub fn server_snapshot(
        &self,
        user: &str,
        folders: &[&str],
    ) -> BTreeMap<String, (u32, Vec<ServerMessage>)> {
        folders
            .iter()
            .map(|folder| {
                let state = (self.uidvalidity(user, folder), self.fetch_all(user, folder));
                (folder.to_string(), state)
            })
            .collect()
    }

    /// Recreates `user`'s `folder` as a server migration or an administrator would: the
    /// folder is deleted and created again (a new UIDVALIDITY) and the same messages are
    /// appended again, the same bytes with the same flags and INTERNALDATEs (new UIDs).
    pub fn recreate_folder(&self, user: &str, folder: &str) {
        let before = self.uidvalidity(user, folder);
        let messages = self.fetch_all(user, folder);
        self.delete_folder(user, folder);
        self.create_folder(user, folder);
        for message in &messages {
            let flags: Vec<&str> = message.flags.iter().map(String::as_str).collect();
            self.deliver_dated(
                user,
                folder,
                &message.body,
                &flags,
                Some(&message.internal_date),
            );
        }
        assert_ne!(
            self.uidvalidity(user, folder),
            before,
            "recreating {folder} kept its UIDVALIDITY"
        );
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
