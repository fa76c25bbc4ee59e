//! One selected mailbox.
//!
//! The folder owns a pooled connection with its mailbox selected (EXAMINEd when the
//! repository is read-only) and hands it back when dropped. A connection that breaks is
//! discarded at once; the failing call reports a folder-level error to retry later, and a
//! later call on the same folder reconnects (a repository-level error if that fails) and
//! re-selects, refusing to go on if the UIDVALIDITY changed meanwhile.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use backend_api::{
    BackendError, ErrorScope, FetchedMessage, Flags, Folder, FolderChange, FolderChanges,
    FolderPath, FolderStatus, MessageInfo, NewMessage, Retry, SystemFlag, Uid,
};

use crate::append::{AppendMode, Outgoing};
use crate::connection::CommandError;
use crate::link::{self, Literals};
use crate::repository::{Pool, PooledSession};
use crate::response::{self, SelectData};
use crate::wire::{self, quoted, uid_sets};

/// UIDs per `UID FETCH` when listing: bounds the crate's response buffer (about 100
/// bytes a message).
const LIST_CHUNK: usize = 5000;
/// UIDs per `UID FETCH` of whole messages (the engine bounds the bytes; this bounds the
/// command).
const FETCH_CHUNK: usize = 500;

/// What the listing learnt about one message so far.
#[derive(Default)]
struct Listed {
    flags: Option<Flags>,
    size: Option<u64>,
    modseq: Option<u64>,
}

pub(crate) struct ImapFolder {
    pool: Arc<Pool>,
    /// `None` after the connection broke; the next call reconnects.
    pub(crate) session: Option<PooledSession>,
    pub(crate) path: FolderPath,
    /// The encoded mailbox name.
    wire: String,
    pub(crate) condstore: bool,
    /// The HIGHESTMODSEQ the last `status()` reported (`changes.rs` answers only for
    /// MODSEQs at or below it).
    pub(crate) highest_modseq: Option<u64>,
    uid_validity: u32,
    /// What SELECT said when the folder was opened, for the first `status()`.
    fresh: Option<SelectData>,
}

impl ImapFolder {
    /// Selects `wire` on `session`.
    pub fn open(
        pool: Arc<Pool>,
        session: PooledSession,
        path: FolderPath,
        wire: String,
    ) -> Result<ImapFolder, BackendError> {
        let mut folder = ImapFolder {
            pool,
            session: Some(session),
            path,
            wire,
            condstore: false,
            highest_modseq: None,
            uid_validity: 0,
            fresh: None,
        };
        let data = folder.select()?;
        folder.uid_validity = folder.require_uid_validity(&data)?;
        folder.fresh = Some(data);
        Ok(folder)
    }

    fn server(&self) -> String {
        self.pool.options.server()
    }

    /// The error for a failed command; a broken connection is dropped here.
    pub(crate) fn failed(&mut self, action: &str, error: CommandError) -> BackendError {
        let server = self.server();
        match error {
            CommandError::Refused(text) => BackendError::folder(format!(
                "folder {} on IMAP server {server}: the server refused to {action}: {text}",
                self.path
            )),
            CommandError::Broken(text) => {
                // Dropping it hands it to the pool, which discards broken connections.
                self.session = None;
                BackendError::new(
                    ErrorScope::Folder,
                    Retry::Later,
                    format!(
                        "folder {} on IMAP server {server}: connection lost while trying to \
                         {action}: {text}",
                        self.path
                    ),
                )
            }
        }
    }

    /// The connection, reconnecting (and re-selecting) if it broke earlier.
    pub(crate) fn session(&mut self) -> Result<&mut PooledSession, BackendError> {
        if self.session.is_none() {
            let session = self.pool.take().map_err(|error| {
                BackendError::new(
                    ErrorScope::Repository,
                    Retry::Later,
                    format!("folder {}: cannot reconnect: {}", self.path, error.message),
                )
            })?;
            self.session = Some(session);
            let data = self.select()?;
            let validity = self.require_uid_validity(&data)?;
            if validity != self.uid_validity {
                self.session = None;
                return Err(BackendError::folder(format!(
                    "folder {} on IMAP server {}: its UIDVALIDITY changed from {} to {} while \
                     it was open; run the sync again",
                    self.path,
                    self.server(),
                    self.uid_validity,
                    validity
                )));
            }
            self.fresh = Some(data);
        }
        match self.session.as_mut() {
            Some(session) => Ok(session),
            None => Err(BackendError::new(
                ErrorScope::Folder,
                Retry::Later,
                format!("folder {}: no connection", self.path),
            )),
        }
    }

    fn run(&mut self, action: &str, command: &str) -> Result<Vec<u8>, BackendError> {
        let result = self.session()?.run(command);
        result.map_err(|error| self.failed(action, error))
    }

    /// Runs `commands` pipelined (one round trip); the first refusal is the error, once
    /// every answer is in.
    fn run_all(&mut self, action: &str, commands: &[String]) -> Result<(), BackendError> {
        if commands.is_empty() {
            return Ok(());
        }
        let result = self
            .session()?
            .pipeline(commands, Literals::Inline, |_, _| {});
        let answers = result.map_err(|error| self.failed(action, error))?;
        match answers.into_iter().find_map(Result::err) {
            Some(text) => Err(self.failed(action, CommandError::Refused(text))),
            None => Ok(()),
        }
    }

    /// SELECT (or EXAMINE) the mailbox on the current connection.
    fn select(&mut self) -> Result<SelectData, BackendError> {
        let readonly = self.pool.options.readonly;
        let Some(session) = self.session.as_mut() else {
            return Err(BackendError::new(
                ErrorScope::Folder,
                Retry::Later,
                format!("folder {}: no connection", self.path),
            ));
        };
        self.condstore = session.has("CONDSTORE");
        let command = format!(
            "{} {}{}",
            if readonly { "EXAMINE" } else { "SELECT" },
            quoted(&self.wire),
            if self.condstore { " (CONDSTORE)" } else { "" }
        );
        match session.run(&command) {
            Ok(buffer) => Ok(response::parse_select(&buffer)),
            Err(CommandError::Refused(text)) => Err(BackendError::folder(format!(
                "folder {} (mailbox {:?}) cannot be opened on IMAP server {}: {text}",
                self.path,
                self.wire,
                self.server()
            ))),
            Err(broken) => Err(self.failed("open it", broken)),
        }
    }

    fn require_uid_validity(&self, data: &SelectData) -> Result<u32, BackendError> {
        data.uid_validity.filter(|v| *v != 0).ok_or_else(|| {
            BackendError::folder(format!(
                "folder {} on IMAP server {}: the server sent no UIDVALIDITY, so its UIDs \
                 cannot be trusted across sessions",
                self.path,
                self.server()
            ))
        })
    }

    fn refuse_write(&self, what: &str) -> Result<(), BackendError> {
        if self.pool.options.readonly {
            return Err(self
                .pool
                .options
                .write_refused(&format!("{what} in folder {}", self.path)));
        }
        Ok(())
    }

    /// UIDNEXT for a server that did not send one: one above the highest UID.
    fn compute_uid_next(&mut self, exists: u32) -> Result<Uid, BackendError> {
        if exists == 0 {
            return Ok(1);
        }
        let buffer = self.run("find its highest UID", "UID FETCH * (UID)")?;
        let highest = response::parse_fetch(&buffer)
            .iter()
            .filter_map(|r| r.uid)
            .max()
            .unwrap_or(0);
        Ok(highest.saturating_add(1))
    }

    /// The bodies of the messages in `sets` (one pipelined UID FETCH per set) passed to
    /// `found` as they are read. A set the server refuses because some of its messages
    /// were expunged meanwhile is asked again after a NOOP (it then answers for the
    /// rest).
    fn fetch_bodies(
        &mut self,
        sets: &[String],
        mut found: impl FnMut(u32, Vec<u8>, Option<String>),
    ) -> Result<(), BackendError> {
        let commands: Vec<String> = sets
            .iter()
            .map(|set| format!("UID FETCH {set} (UID INTERNALDATE BODY.PEEK[])"))
            .collect();
        let mut each = |_: usize, response: &mut link::Response| {
            if let Some((uid, bytes, date)) = response::fetched_body(response) {
                found(uid, bytes, date)
            }
        };
        let result = self
            .session()?
            .pipeline(&commands, Literals::Apart, &mut each);
        let answers = result.map_err(|error| self.failed("fetch messages", error))?;
        let refused: Vec<String> = commands
            .iter()
            .zip(&answers)
            .filter(|(_, answer)| answer.is_err())
            .map(|(command, _)| command.clone())
            .collect();
        let Some(Err(text)) = answers.into_iter().find(Result::is_err) else {
            return Ok(());
        };
        log::debug!(
            "folder {}: UID FETCH refused ({text}); retrying after NOOP",
            self.path
        );
        self.run("fetch messages", "NOOP")?;
        let result = self
            .session()?
            .pipeline(&refused, Literals::Apart, &mut each);
        let answers = result.map_err(|error| self.failed("fetch messages", error))?;
        match answers.into_iter().find_map(Result::err) {
            Some(text) => Err(self.failed("fetch messages", CommandError::Refused(text))),
            None => Ok(()),
        }
    }
}

impl Drop for ImapFolder {
    fn drop(&mut self) {
        // The pooled session goes back to the pool by its own Drop.
        self.session.take();
    }
}

impl Folder for ImapFolder {
    fn status(&mut self) -> Result<FolderStatus, BackendError> {
        let data = match self.fresh.take() {
            Some(data) => data,
            None => {
                self.session()?;
                // Re-selecting gives current UIDNEXT, EXISTS and UIDVALIDITY after our
                // own appends and other clients' changes.
                self.select()?
            }
        };
        let uid_validity = self.require_uid_validity(&data)?;
        self.uid_validity = uid_validity;
        let uid_next = match data.uid_next {
            Some(next) if next != 0 => next,
            _ => self.compute_uid_next(data.exists)?,
        };
        let permanent_flags = match &data.permanent_flags {
            // EXAMINE (a read-only repository, a dry run) answers PERMANENTFLAGS (): no flag
            // can be changed through this session, which says nothing of the flags the
            // mailbox keeps. Those are its FLAGS; taking () would hide every flag from the
            // comparison, so changes made here would never be seen.
            Some(_) if self.pool.options.readonly => wire::permanent_flags(&data.flags),
            Some(flags) => wire::permanent_flags(flags),
            // RFC 3501: without PERMANENTFLAGS, the FLAGS are permanent.
            None => wire::permanent_flags(&data.flags),
        };
        self.highest_modseq = if self.condstore {
            data.highest_modseq
        } else {
            None
        };
        Ok(FolderStatus {
            uid_validity,
            uid_next,
            highest_modseq: self.highest_modseq,
            message_count: data.exists,
            permanent_flags,
        })
    }

    fn list_messages(&mut self) -> Result<Vec<MessageInfo>, BackendError> {
        let buffer = self.run("list its messages", "UID SEARCH ALL")?;
        let mut uids = response::parse_search(&buffer);
        uids.sort_unstable();
        uids.dedup();
        let wanted: HashSet<Uid> = uids.iter().copied().collect();
        let items = if self.condstore {
            "(UID FLAGS RFC822.SIZE MODSEQ)"
        } else {
            "(UID FLAGS RFC822.SIZE)"
        };
        let mut found: HashMap<Uid, Listed> = HashMap::new();
        for set in uid_sets(&uids, LIST_CHUNK) {
            let buffer = self.run("list its messages", &format!("UID FETCH {set} {items}"))?;
            for record in response::parse_fetch(&buffer) {
                let Some(uid) = record.uid.filter(|u| wanted.contains(u)) else {
                    continue;
                };
                // A message may be answered in more than one response (an unsolicited
                // flag change): merge them.
                let entry = found.entry(uid).or_default();
                if let Some(flags) = &record.flags {
                    entry.flags = Some(wire::flags_from_imap(flags));
                }
                if let Some(size) = record.size {
                    entry.size = Some(u64::from(size));
                }
                if record.modseq.is_some() {
                    entry.modseq = record.modseq;
                }
            }
        }
        // A message the server searched but did not describe in full must not be left out:
        // the engine would read its absence as a deletion, and a missing FLAGS as flags
        // removed. Refuse the listing instead (another run usually gets a whole answer).
        let mut messages = Vec::with_capacity(uids.len());
        for uid in uids {
            let incomplete = |what: &str| {
                BackendError::new(
                    ErrorScope::Folder,
                    Retry::Later,
                    format!(
                        "folder {}: the server answered UID SEARCH with UID {uid} but its FETCH {what}; nothing was changed, try again (a server that keeps doing this cannot be synced safely)",
                        self.path
                    ),
                )
            };
            let Some(listed) = found.remove(&uid) else {
                return Err(incomplete("returned nothing for it"));
            };
            let (Some(flags), Some(size)) = (listed.flags, listed.size) else {
                return Err(incomplete("lacked FLAGS or RFC822.SIZE"));
            };
            messages.push(MessageInfo {
                uid,
                flags,
                size,
                modseq: listed.modseq,
            });
        }
        messages.sort_unstable_by_key(|m| m.uid);
        Ok(messages)
    }

    fn fetch_messages(&mut self, uids: &[Uid]) -> Result<Vec<FetchedMessage>, BackendError> {
        let wanted: HashSet<Uid> = uids.iter().copied().filter(|u| *u != 0).collect();
        let mut found: HashMap<Uid, FetchedMessage> = HashMap::with_capacity(wanted.len());
        // One round trip for the batch: the sets are sent at once (the engine bounds the
        // batch's bytes, FETCH_CHUNK the length of each command), and each body lands in
        // the buffer it was read into, which is the one returned.
        let sets = uid_sets(uids, FETCH_CHUNK);
        // A UID answered twice with other bytes: neither version can be trusted.
        let mut twice: Option<Uid> = None;
        self.fetch_bodies(&sets, |uid, bytes, date| {
            if let Some(earlier) = found.get(&uid) {
                if earlier.bytes != bytes {
                    twice.get_or_insert(uid);
                }
                return;
            }
            if wanted.contains(&uid) {
                let internal_date = date.as_deref().and_then(wire::parse_internal_date);
                found.insert(
                    uid,
                    FetchedMessage {
                        uid,
                        bytes: bytes.into(),
                        internal_date,
                    },
                );
            }
        })?;
        if let Some(uid) = twice {
            return Err(BackendError::new(
                ErrorScope::Message,
                Retry::Later,
                format!(
                    "folder {} on IMAP server {}: the server sent two different messages as \
                     UID {uid}; neither is copied",
                    self.path,
                    self.server()
                ),
            ));
        }
        // In the order asked; a UID asked twice is returned twice.
        let mut last_position: HashMap<Uid, usize> = HashMap::new();
        for (position, uid) in uids.iter().enumerate() {
            last_position.insert(*uid, position);
        }
        let mut result = Vec::with_capacity(found.len());
        for (position, uid) in uids.iter().enumerate() {
            let message = if last_position.get(uid) == Some(&position) {
                found.remove(uid)
            } else {
                found.get(uid).cloned()
            };
            result.extend(message);
        }
        Ok(result)
    }

    fn append_messages(
        &mut self,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Option<Uid>>, BackendError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        self.refuse_write("append messages")?;
        // What SELECT said at opening is out of date from here on: the next status()
        // asks again.
        self.fresh = None;
        let outgoing: Vec<Outgoing<'_>> = messages
            .iter()
            .map(|message| Outgoing {
                bytes: &message.bytes,
                flags: wire::flag_atoms(&message.flags),
                date: message.internal_date.and_then(|time| {
                    let date = wire::append_date(time);
                    if date.is_none() {
                        log::warn!(
                            "folder {}: internal date {time} is out of range; the server sets its own",
                            self.path
                        );
                    }
                    date.map(|d| d.format(wire::DATE_TIME_FORMAT).to_string())
                }),
            })
            .collect();
        let wire = self.wire.clone();
        let session = self.session()?;
        let mode = AppendMode::of(session);
        let result = session.append_batch(&wire, &outgoing, mode);
        let appended = match result {
            Ok(appended) => appended,
            // A NO to an APPEND is about its messages (Dovecot: "Can't save a zero byte
            // message", a size limit); a MULTIAPPEND refused stores none of its messages
            // (RFC 3502), a plain APPEND refused stores nothing. The engine retries the
            // batch one message at a time to find the one refused.
            Err(CommandError::Refused(text)) => {
                return Err(BackendError::message(format!(
                    "folder {} on IMAP server {}: the server refused to append: {text}",
                    self.path,
                    self.server()
                )))
            }
            Err(error) => return Err(self.failed("append messages", error)),
        };
        let mut mismatch = false;
        let uids = appended
            .into_iter()
            .map(|found| match found {
                Some((validity, uid)) if validity == self.uid_validity => Some(uid),
                Some(_) => {
                    mismatch = true;
                    None
                }
                None => None,
            })
            .collect();
        if mismatch {
            log::warn!(
                "folder {}: APPENDUID names another UIDVALIDITY than the folder's {}; the new \
                 UIDs are looked up instead",
                self.path,
                self.uid_validity
            );
        }
        Ok(uids)
    }

    fn update_flags(
        &mut self,
        uids: &[Uid],
        add: &Flags,
        remove: &Flags,
    ) -> Result<(), BackendError> {
        let add = wire::flag_atoms(add);
        let remove = wire::flag_atoms(remove);
        if uids.is_empty() || (add.is_empty() && remove.is_empty()) {
            return Ok(());
        }
        self.refuse_write("change flags")?;
        // Every STORE of the call goes out at once: one round trip, however many sets.
        let mut commands = Vec::new();
        for (sign, atoms) in [('+', add), ('-', remove)] {
            if atoms.is_empty() {
                continue;
            }
            for set in uid_sets(uids, usize::MAX) {
                commands.push(format!(
                    "UID STORE {set} {sign}FLAGS.SILENT ({})",
                    atoms.join(" ")
                ));
            }
        }
        self.run_all("change flags", &commands)
    }

    fn delete_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        if uids.is_empty() {
            return Ok(());
        }
        self.refuse_write("delete messages")?;
        let sets = uid_sets(uids, usize::MAX);
        let deleted = SystemFlag::Deleted.imap_name();
        let mut commands: Vec<String> = sets
            .iter()
            .map(|set| format!("UID STORE {set} +FLAGS.SILENT ({deleted})"))
            .collect();
        if self.session()?.has("UIDPLUS") {
            // UID EXPUNGE removes only the UIDs it names, and only those marked \Deleted, so
            // it may follow the STOREs in the same round trip: should a STORE fail, its
            // messages are not marked and stay.
            commands.extend(sets.iter().map(|set| format!("UID EXPUNGE {set}")));
            return self.run_all("delete messages", &commands);
        }
        self.run_all("delete messages", &commands)?;
        if self.pool.options.expunge {
            // Without UIDPLUS, EXPUNGE also removes messages others marked \Deleted;
            // `expunge = no` keeps them (ours stay marked \Deleted). Sent only once the
            // STOREs succeeded.
            self.run("expunge messages", "EXPUNGE")?;
        } else {
            log::info!(
                "folder {}: messages marked \\Deleted but not expunged (expunge = no and the server lacks UIDPLUS)",
                self.path
            );
        }
        Ok(())
    }

    /// IMAP IDLE on this folder's connection; unsupported when the server lacks IDLE.
    /// While it waits, the connection serves nothing else (the folder is used by one
    /// thread at a time anyway).
    fn wait_for_change(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<FolderChange, BackendError> {
        if !self.session()?.has("IDLE") {
            return Ok(FolderChange::Unsupported);
        }
        // The next status() must re-select to see what changed.
        self.fresh = None;
        let idled = self.session()?.idle(timeout);
        match idled {
            Ok(true) => Ok(FolderChange::Changed),
            Ok(false) => Ok(FolderChange::TimedOut),
            Err(error) => Err(self.failed("wait for changes (IDLE)", error)),
        }
    }

    fn list_changes(&mut self, since: u64) -> Result<Option<FolderChanges>, BackendError> {
        self.changes_since(since)
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        // Every command above returned only after the server's tagged OK, which is the
        // server's promise that the change is made. Nothing is buffered on our side.
        match &self.session {
            Some(_) => Ok(()),
            None => Err(BackendError::new(
                ErrorScope::Folder,
                Retry::Later,
                format!(
                    "folder {} on IMAP server {}: the connection was lost; changes after the \
                     last successful call may not have reached the server",
                    self.path,
                    self.server()
                ),
            )),
        }
    }
}
