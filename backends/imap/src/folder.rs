//! One selected mailbox.
//!
//! The folder owns a pooled connection with its mailbox selected (EXAMINEd when the
//! repository is read-only) and hands it back when dropped. A connection that breaks is
//! discarded at once; the failing call reports a folder-level error to retry later, and a
//! later call on the same folder reconnects (a repository-level error if that fails) and
//! re-selects, refusing to go on if the UIDVALIDITY changed meanwhile.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use backend_api::{
    BackendError, ErrorScope, FetchedMessage, Flags, Folder, FolderChange, FolderChanges,
    FolderPath, FolderStatus, MessageInfo, NewMessage, Retry, SystemFlag, Uid,
};

use crate::append::{AppendMode, Outgoing};
use crate::connection::{Answer, CommandError};
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

/// A batch announced by `prefetch_messages`: its `UID FETCH` commands were sent, their
/// answers are not all read yet.
struct FetchedAhead {
    uids: Vec<Uid>,
    commands: Vec<String>,
    tags: Vec<String>,
}

/// A batch whose APPENDs were sent by `start_append` and not finished: each command's tag
/// and how many messages it carried.
struct StartedAppend {
    commands: Vec<(String, usize)>,
}

/// A body read before its batch was asked for: the bytes and the INTERNALDATE.
type EarlyBody = (Vec<u8>, Option<String>);

/// What `prefetch_messages` left on the connection: everything here goes with the
/// connection when it is lost.
#[derive(Default)]
struct SentAhead {
    /// Batches announced, oldest first, whose answers wait on the connection: a fetch of
    /// exactly the oldest reads its answers; any other call first reads and drops them all
    /// ([`ImapFolder::settle_fetched_ahead`]), so that answers never come out of step with
    /// commands.
    batches: VecDeque<FetchedAhead>,
    /// Bodies of announced batches that the server sent while an earlier batch was read
    /// (a server may run pipelined FETCHes at the same time and interleave their
    /// responses), kept until their batch is asked for.
    early_bodies: HashMap<Uid, EarlyBody>,
    /// Tagged answers of announced batches that came while an earlier batch was read.
    early_answers: HashMap<String, Answer>,
    /// Tags of batches handed over once all their messages came, before their tagged
    /// answers: those are still to be read (and dropped) before any other command's.
    owed: HashSet<String>,
    /// Batches whose APPENDs `start_append` sent, oldest first; `finish_append` answers
    /// for them. Unlike fetches, these are never dropped: reading other answers keeps
    /// theirs in `append_answers`.
    appending: VecDeque<StartedAppend>,
    /// Tagged answers of started APPENDs read before their batch was finished.
    append_answers: HashMap<String, Answer>,
}

impl SentAhead {
    /// Whether answers are still to be read.
    fn pending(&self) -> bool {
        self.fetches_pending() || self.appends_unanswered()
    }

    /// Whether answers of fetches sent ahead are still to be read.
    fn fetches_pending(&self) -> bool {
        !self.batches.is_empty() || !self.owed.is_empty()
    }

    /// Whether a started APPEND's answer is still to be read.
    fn appends_unanswered(&self) -> bool {
        self.append_tags()
            .any(|tag| !self.append_answers.contains_key(tag))
    }

    /// The tags of every started APPEND.
    fn append_tags(&self) -> impl Iterator<Item = &String> {
        self.appending
            .iter()
            .flat_map(|started| started.commands.iter().map(|(tag, _)| tag))
    }

    /// The tags whose answers are still to come.
    fn awaited_tags(&self) -> HashSet<String> {
        self.batches
            .iter()
            .flat_map(|batch| &batch.tags)
            .filter(|tag| !self.early_answers.contains_key(*tag))
            .chain(&self.owed)
            .chain(
                self.append_tags()
                    .filter(|tag| !self.append_answers.contains_key(*tag)),
            )
            .cloned()
            .collect()
    }

    /// Files the tagged answer of a command sent ahead that came while something else was
    /// read: a started APPEND's is kept for `finish_append`, a fetch's for its batch, and
    /// that of a batch already handed over is dropped.
    fn file_early_answer(&mut self, tag: String, answer: Answer) {
        if self.owed.remove(&tag) {
            return;
        }
        if self.append_tags().any(|t| *t == tag) {
            self.append_answers.insert(tag, answer);
        } else {
            self.early_answers.insert(tag, answer);
        }
    }

    /// Forgets the fetches sent ahead, keeping the started APPENDs.
    fn forget_fetches(&mut self) {
        *self = SentAhead {
            appending: std::mem::take(&mut self.appending),
            append_answers: std::mem::take(&mut self.append_answers),
            ..SentAhead::default()
        };
    }
}

/// A response handler passing each message body of a FETCH to `found`.
fn pass_bodies(
    found: &mut impl FnMut(u32, Vec<u8>, Option<String>),
) -> impl FnMut(usize, &mut link::Response) + '_ {
    move |_, response| {
        if let Some((uid, bytes, date)) = response::fetched_body(response) {
            found(uid, bytes, date)
        }
    }
}

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
    /// Whether the server offers QRESYNC, as far as known before selecting (a folder
    /// opened from the listing's snapshot answers "no changes" only with it).
    pub(crate) qresync: bool,
    /// The HIGHESTMODSEQ the last `status()` reported (`changes.rs` answers only for
    /// MODSEQs at or below it).
    pub(crate) highest_modseq: Option<u64>,
    uid_validity: u32,
    /// What SELECT said when the folder was opened, for the first `status()`.
    fresh: Option<SelectData>,
    /// Flag changes and deletions not sent yet: `update_flags` and (with UIDPLUS)
    /// `delete_messages` queue their commands, and they go out together, in one round
    /// trip, with the next call (`flush` at the latest, which returns only once the server
    /// acknowledged them). Only commands on UIDs go here, after the SELECT that checked
    /// the UIDVALIDITY.
    queued: Vec<String>,
    /// Fetches sent ahead by `prefetch_messages` whose answers are not all read.
    ahead: SentAhead,
    /// Whether the connection broke after the last successful call (a folder not selected
    /// yet has no connection either, and has lost nothing).
    lost: bool,
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
            qresync: false,
            highest_modseq: None,
            uid_validity: 0,
            fresh: None,
            queued: Vec::new(),
            ahead: SentAhead::default(),
            lost: false,
        };
        let data = folder.select()?;
        folder.uid_validity = folder.require_uid_validity(&data)?;
        folder.fresh = Some(data);
        Ok(folder)
    }

    /// A folder not selected yet, whose status the listing's SELECT gave (see
    /// `repository::Snapshot`): it takes a connection and selects only when a call needs
    /// the mailbox, and refuses to go on if the UIDVALIDITY changed by then.
    pub fn from_snapshot(
        pool: Arc<Pool>,
        path: FolderPath,
        wire: String,
        data: SelectData,
        condstore: bool,
        qresync: bool,
    ) -> Result<ImapFolder, BackendError> {
        let mut folder = ImapFolder {
            pool,
            session: None,
            path,
            wire,
            condstore,
            qresync,
            highest_modseq: None,
            uid_validity: 0,
            fresh: None,
            queued: Vec::new(),
            ahead: SentAhead::default(),
            lost: false,
        };
        folder.uid_validity = folder.require_uid_validity(&data)?;
        folder.fresh = Some(data);
        Ok(folder)
    }

    /// The command that selects `wire` (EXAMINE for a read-only repository).
    pub(crate) fn select_command(wire: &str, readonly: bool, condstore: bool) -> String {
        format!(
            "{} {}{}",
            if readonly { "EXAMINE" } else { "SELECT" },
            quoted(wire),
            if condstore { " (CONDSTORE)" } else { "" }
        )
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
                self.ahead = SentAhead::default();
                self.lost = true;
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

    /// The connection, with the mailbox selected and no answer pending: a folder opened
    /// from the snapshot selects on first use, one whose connection broke reconnects and
    /// re-selects; fetches sent ahead and not asked for are read and dropped first.
    pub(crate) fn session(&mut self) -> Result<&mut PooledSession, BackendError> {
        self.settle_fetched_ahead()?;
        self.connected()
    }

    /// [`ImapFolder::session`], leaving the answers of fetches sent ahead pending.
    fn connected(&mut self) -> Result<&mut PooledSession, BackendError> {
        if self.session.is_none() {
            // Answers pending on a lost connection are lost with it.
            self.ahead = SentAhead::default();
            self.select_with(&[])?;
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

    /// Runs `reads` (commands that change nothing) pipelined; each answer is every
    /// untagged response sent while it was the oldest unanswered command, then its
    /// tagged line, or the server's refusal. On a folder without a connection (not
    /// selected yet, or broken earlier) they go in the same round trip as the connection's
    /// `ENABLE QRESYNC` (once) and the SELECT; their answers count only if the SELECT
    /// succeeded with the folder's UIDVALIDITY. Writes are never sent that way: they
    /// would reach the wrong messages if the UIDVALIDITY changed.
    pub(crate) fn read_pipelined(
        &mut self,
        action: &str,
        reads: &[String],
    ) -> Result<Vec<Result<Vec<u8>, String>>, BackendError> {
        if self.session.is_none() {
            return self.select_with(reads);
        }
        let session = self.session()?;
        let mut buffers: Vec<Vec<u8>> = vec![Vec::new(); reads.len()];
        let result = session.pipeline(reads, Literals::Inline, |index, response| {
            if let Some(buffer) = buffers.get_mut(index) {
                buffer.extend_from_slice(&response.text)
            }
        });
        let answers = result.map_err(|error| self.failed(action, error))?;
        Ok(with_answers(buffers, answers))
    }

    /// Takes a connection, selects the mailbox (see [`ImapFolder::read_pipelined`]) and
    /// runs `reads` behind the SELECT.
    fn select_with(
        &mut self,
        reads: &[String],
    ) -> Result<Vec<Result<Vec<u8>, String>>, BackendError> {
        let session = self.pool.take().map_err(|error| {
            BackendError::new(
                ErrorScope::Repository,
                Retry::Later,
                format!("folder {}: cannot connect: {}", self.path, error.message),
            )
        })?;
        let session = self.session.insert(session);
        self.condstore = session.has("CONDSTORE");
        self.qresync = session.has("QRESYNC");
        let enable = self.condstore && self.qresync && !session.qresync_enabled;
        let mut commands = Vec::with_capacity(reads.len() + 2);
        if enable {
            commands.push("ENABLE QRESYNC".to_owned());
        }
        commands.push(Self::select_command(
            &self.wire,
            self.pool.options.readonly,
            self.condstore,
        ));
        let first_read = commands.len();
        commands.extend_from_slice(reads);
        let mut buffers: Vec<Vec<u8>> = vec![Vec::new(); commands.len()];
        let result = session.pipeline(&commands, Literals::Inline, |index, response| {
            if let Some(buffer) = buffers.get_mut(index) {
                buffer.extend_from_slice(&response.text)
            }
        });
        let answers = result.map_err(|error| self.failed("open it", error))?;
        let mut answers = with_answers(buffers, answers);
        let reads_answers = answers.split_off(first_read);
        let select = answers.pop();
        if enable {
            let enabled = match answers.pop() {
                Some(Ok(buffer)) => qresync_enabled_in(&buffer),
                _ => false,
            };
            if let Some(session) = self.session.as_mut() {
                session.qresync_enabled = enabled;
            }
        }
        let data = match select {
            Some(Ok(buffer)) => response::parse_select(&buffer),
            Some(Err(text)) => {
                // A refused SELECT leaves no mailbox selected: the connection is fine,
                // but this folder has none until a SELECT succeeds.
                self.session = None;
                return Err(BackendError::folder(format!(
                    "folder {} (mailbox {:?}) cannot be opened on IMAP server {}: {text}",
                    self.path,
                    self.wire,
                    self.server()
                )));
            }
            None => {
                self.session = None;
                return Err(BackendError::new(
                    ErrorScope::Folder,
                    Retry::Later,
                    format!("folder {}: no answer to SELECT", self.path),
                ));
            }
        };
        let validity = match self.require_uid_validity(&data) {
            Ok(validity) => validity,
            Err(error) => {
                self.session = None;
                return Err(error);
            }
        };
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
        self.lost = false;
        Ok(reads_answers)
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

    /// Reads and drops the answers of every fetch sent ahead that was not asked for: the
    /// engine asked for something else first (a batch refused as a whole and fetched one
    /// message at a time, another call), which is rare and costs only those transfers.
    fn settle_fetched_ahead(&mut self) -> Result<(), BackendError> {
        if !self.ahead.pending() {
            return Ok(());
        }
        let awaited: Vec<String> = self.ahead.awaited_tags().into_iter().collect();
        let dropped: usize = self
            .ahead
            .batches
            .iter()
            .map(|batch| batch.uids.len())
            .sum();
        self.ahead.forget_fetches();
        let Some(session) = self.session.as_mut() else {
            self.ahead = SentAhead::default();
            return Ok(());
        };
        if dropped > 0 {
            log::debug!(
                "folder {}: {dropped} messages fetched ahead were not asked for; dropped",
                self.path
            );
        }
        // In any order: answers are matched by tag.
        let result = session.collect(&awaited, &HashSet::new(), Literals::Apart, |_, _| false);
        let (answers, _) =
            result.map_err(|error| self.failed("read the answers sent ahead", error))?;
        // Refusals of fetches do not matter: nothing is kept of those. A started APPEND's
        // answer is kept for `finish_append`.
        for (tag, answer) in awaited.into_iter().zip(answers) {
            if let Some(answer) = answer {
                if self.ahead.append_tags().any(|t| *t == tag) {
                    self.ahead.append_answers.insert(tag, answer);
                }
            }
        }
        Ok(())
    }

    /// Reads the answers to `current`, the oldest batch sent ahead, passing its bodies to
    /// `found` (those that came early first); the bodies and answers of later batches that
    /// the server interleaves are kept for them. Returns the answers to its commands: all
    /// OK once every message of the batch came, without waiting for the tagged answers
    /// (which a server running the FETCHes behind at the same time may send only after
    /// theirs: waiting would hold their bodies in memory); those are read later.
    fn collect_fetched_ahead(
        &mut self,
        current: FetchedAhead,
        found: &mut impl FnMut(u32, Vec<u8>, Option<String>),
    ) -> Result<Vec<Answer>, BackendError> {
        let wanted: HashSet<Uid> = current.uids.iter().copied().collect();
        let later_uids: HashSet<Uid> = self
            .ahead
            .batches
            .iter()
            .flat_map(|batch| batch.uids.iter().copied())
            .collect();
        let later_tags = self.ahead.awaited_tags();
        let mut missing = wanted.clone();
        for uid in &current.uids {
            if let Some((bytes, date)) = self.ahead.early_bodies.remove(uid) {
                missing.remove(uid);
                found(*uid, bytes, date);
            }
        }
        let mut answers: Vec<Option<Answer>> = current
            .tags
            .iter()
            .map(|tag| self.ahead.early_answers.remove(tag))
            .collect();
        let awaited: Vec<String> = current
            .tags
            .iter()
            .zip(&answers)
            .filter(|(_, answer)| answer.is_none())
            .map(|(tag, _)| tag.clone())
            .collect();
        // Without batches sent behind this one there is nothing to hold in memory, so the
        // tagged answers are awaited (a UID sent twice with other bytes is then seen).
        let may_stop = !self.ahead.batches.is_empty();
        let complete = may_stop && missing.is_empty();
        let early_bodies = &mut self.ahead.early_bodies;
        let mut each = |_: usize, response: &mut link::Response| {
            if let Some((uid, bytes, date)) = response::fetched_body(response) {
                if wanted.contains(&uid) {
                    missing.remove(&uid);
                    found(uid, bytes, date);
                } else if later_uids.contains(&uid) {
                    early_bodies.insert(uid, (bytes, date));
                }
            }
            may_stop && missing.is_empty()
        };
        let result = match self.session.as_mut() {
            // Every message came early: nothing to wait for now.
            Some(_) if complete => Ok((vec![None; awaited.len()], Vec::new())),
            Some(session) => session.collect(&awaited, &later_tags, Literals::Apart, &mut each),
            None => Err(CommandError::Broken(
                "the connection was lost earlier".into(),
            )),
        };
        let (read, early) = result.map_err(|error| self.failed("fetch messages", error))?;
        for (tag, answer) in early {
            self.ahead.file_early_answer(tag, answer);
        }
        // Every message came: an answer not read yet is OK as far as this batch is
        // concerned, and is read (and dropped) later.
        let mut read = awaited.into_iter().zip(read);
        for slot in answers.iter_mut().filter(|slot| slot.is_none()) {
            if let Some((tag, answer)) = read.next() {
                *slot = Some(answer.unwrap_or_else(|| {
                    self.ahead.owed.insert(tag);
                    Ok(Vec::new())
                }));
            }
        }
        Ok(answers.into_iter().flatten().collect())
    }

    /// Sends the queued flag changes (one round trip) and waits for their answers, after
    /// the answers of fetches sent ahead and not asked for.
    fn send_queued(&mut self) -> Result<(), BackendError> {
        self.settle_fetched_ahead()?;
        if self.queued.is_empty() {
            return Ok(());
        }
        let commands = std::mem::take(&mut self.queued);
        self.run_all("change flags or delete messages", &commands)
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
        self.qresync = session.has("QRESYNC");
        let command = Self::select_command(&self.wire, readonly, self.condstore);
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

    /// The messages as the APPEND commands carry them.
    fn outgoing<'a>(&self, messages: &'a [NewMessage]) -> Vec<Outgoing<'a>> {
        messages
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
            .collect()
    }

    /// The new UIDs an append's answers name, for this folder's UIDVALIDITY; a refusal is
    /// about the batch's messages.
    fn new_uids(
        &mut self,
        result: Result<Vec<Option<(u32, u32)>>, CommandError>,
    ) -> Result<Vec<Option<Uid>>, BackendError> {
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

    /// The `UID FETCH` commands of the bodies of `uids`, one per set of at most
    /// [`FETCH_CHUNK`] UIDs.
    fn fetch_commands(uids: &[Uid]) -> Vec<String> {
        uid_sets(uids, FETCH_CHUNK)
            .iter()
            .map(|set| format!("UID FETCH {set} (UID INTERNALDATE BODY.PEEK[])"))
            .collect()
    }

    /// The bodies asked by `commands` (pipelined `UID FETCH`es, sent now, or earlier as
    /// the batch `ahead`) passed to `found` as they are read. A set the server refuses
    /// because some of its messages were expunged meanwhile is asked again after a NOOP
    /// (it then answers for the rest).
    fn fetch_bodies(
        &mut self,
        commands: &[String],
        ahead: Option<FetchedAhead>,
        mut found: impl FnMut(u32, Vec<u8>, Option<String>),
    ) -> Result<(), BackendError> {
        let answers = match ahead {
            Some(current) => self.collect_fetched_ahead(current, &mut found)?,
            None => {
                let result =
                    self.session()?
                        .pipeline(commands, Literals::Apart, pass_bodies(&mut found));
                result.map_err(|error| self.failed("fetch messages", error))?
            }
        };
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
            .pipeline(&refused, Literals::Apart, pass_bodies(&mut found));
        let answers = result.map_err(|error| self.failed("fetch messages", error))?;
        match answers.into_iter().find_map(Result::err) {
            Some(text) => Err(self.failed("fetch messages", CommandError::Refused(text))),
            None => Ok(()),
        }
    }
}

/// Each command's untagged responses followed by its tagged line, or its refusal.
fn with_answers(
    buffers: Vec<Vec<u8>>,
    answers: Vec<crate::connection::Answer>,
) -> Vec<Result<Vec<u8>, String>> {
    buffers
        .into_iter()
        .zip(answers)
        .map(|(mut buffer, answer)| {
            answer.map(|tagged| {
                buffer.extend_from_slice(&tagged);
                buffer
            })
        })
        .collect()
}

/// Whether an answer to `ENABLE QRESYNC` says it is enabled (`* ENABLED ... QRESYNC`).
pub(crate) fn qresync_enabled_in(buffer: &[u8]) -> bool {
    String::from_utf8_lossy(buffer)
        .lines()
        .filter(|line| line.starts_with("* ENABLED"))
        .any(|line| {
            line.split_ascii_whitespace()
                .any(|word| word.eq_ignore_ascii_case("QRESYNC"))
        })
}

impl Drop for ImapFolder {
    fn drop(&mut self) {
        if self.ahead.pending() {
            // Answers still pending: no one else may be handed this connection.
            if let Some(session) = self.session.as_mut() {
                session.abandon();
            }
        }
        // The pooled session goes back to the pool by its own Drop.
        self.session.take();
    }
}

impl Folder for ImapFolder {
    fn status(&mut self) -> Result<FolderStatus, BackendError> {
        self.send_queued()?;
        let data = match self.fresh.take() {
            Some(data) => data,
            None if self.session.is_none() => {
                // Selecting (on a new connection) sets what SELECT said as fresh.
                self.session()?;
                match self.fresh.take() {
                    Some(data) => data,
                    None => self.select()?,
                }
            }
            // Re-selecting gives current UIDNEXT, EXISTS and UIDVALIDITY after our own
            // appends and other clients' changes.
            None => self.select()?,
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
        self.send_queued()?;
        let answer = self
            .read_pipelined("list its messages", &["UID SEARCH ALL".to_owned()])?
            .pop();
        let buffer = match answer {
            Some(Ok(buffer)) => buffer,
            Some(Err(text)) => {
                return Err(self.failed("list its messages", CommandError::Refused(text)))
            }
            None => {
                return Err(self.failed(
                    "list its messages",
                    CommandError::Refused("no answer".into()),
                ))
            }
        };
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
        // The batch announced first, if this is it, is answered already (or on its way);
        // anything else waits for the answers pending to be read and dropped.
        let announced = self.queued.is_empty()
            && self
                .ahead
                .batches
                .front()
                .is_some_and(|ahead| ahead.uids.as_slice() == uids);
        let ahead = if announced {
            self.ahead.batches.pop_front()
        } else {
            self.send_queued()?;
            None
        };
        let commands = match &ahead {
            Some(ahead) => ahead.commands.clone(),
            None => Self::fetch_commands(uids),
        };
        let wanted: HashSet<Uid> = uids.iter().copied().filter(|u| *u != 0).collect();
        let mut found: HashMap<Uid, FetchedMessage> = HashMap::with_capacity(wanted.len());
        // One round trip for the batch, or none if it was sent ahead: the sets go at once
        // (the engine bounds the batch's bytes, FETCH_CHUNK the length of each command),
        // and each body lands in the buffer it was read into, which is the one returned.
        // A UID answered twice with other bytes: neither version can be trusted.
        let mut twice: Option<Uid> = None;
        self.fetch_bodies(&commands, ahead, |uid, bytes, date| {
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
        self.send_queued()?;
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        self.refuse_write("append messages")?;
        // What SELECT said at opening is out of date from here on: the next status()
        // asks again.
        self.fresh = None;
        let outgoing = self.outgoing(&messages);
        let wire = self.wire.clone();
        let session = self.session()?;
        let mode = AppendMode::of(session);
        let result = session.append_batch(&wire, &outgoing, mode);
        // What SELECT said (at opening, or just now if this call selected) is out of
        // date from here on: the next status() asks again.
        self.fresh = None;
        self.new_uids(result)
    }

    /// With LITERAL+, sends the batch's APPENDs and returns; `finish_append` reads their
    /// answers. Without it every literal waits for the server's `+`, so nothing would be
    /// gained: the batch is handed back for `append_messages`.
    fn start_append(
        &mut self,
        messages: Vec<NewMessage>,
    ) -> Result<Option<Vec<NewMessage>>, BackendError> {
        if messages.is_empty() {
            return Ok(Some(messages));
        }
        self.refuse_write("append messages")?;
        // Fetches sent ahead are read first, and queued flag changes sent; the APPENDs
        // started before stay in flight.
        if !self.queued.is_empty() || self.ahead.fetches_pending() {
            self.send_queued()?;
        }
        let mode = AppendMode::of(self.connected()?);
        if !mode.literal_plus {
            return Ok(Some(messages));
        }
        self.fresh = None;
        let outgoing = self.outgoing(&messages);
        let wire = self.wire.clone();
        let result = self.connected()?.start_append_batch(&wire, &outgoing, mode);
        let commands = result.map_err(|error| self.failed("append messages", error))?;
        self.ahead.appending.push_back(StartedAppend { commands });
        Ok(None)
    }

    fn finish_append(&mut self) -> Result<Vec<Option<Uid>>, BackendError> {
        let Some(started) = self.ahead.appending.pop_front() else {
            return Err(match self.lost {
                true => self.failed(
                    "append messages",
                    CommandError::Broken("the connection was lost earlier".into()),
                ),
                false => BackendError::folder(format!(
                    "folder {}: finish_append without a batch started (a bug in twinbox)",
                    self.path
                )),
            });
        };
        let mut answers: Vec<Option<Answer>> = started
            .commands
            .iter()
            .map(|(tag, _)| self.ahead.append_answers.remove(tag))
            .collect();
        let unanswered: Vec<String> = started
            .commands
            .iter()
            .zip(&answers)
            .filter(|(_, answer)| answer.is_none())
            .map(|((tag, _), _)| tag.clone())
            .collect();
        if !unanswered.is_empty() {
            let later = self.ahead.awaited_tags();
            let result = match self.session.as_mut() {
                // Untagged answers (EXISTS, RECENT) are not needed: APPENDUID says it all.
                Some(session) => {
                    session.collect(&unanswered, &later, Literals::Inline, |_, _| false)
                }
                None => Err(CommandError::Broken(
                    "the connection was lost earlier".into(),
                )),
            };
            let (read, early) = result.map_err(|error| self.failed("append messages", error))?;
            for (tag, answer) in early {
                self.ahead.file_early_answer(tag, answer);
            }
            let mut read = read.into_iter().flatten();
            for slot in &mut answers {
                if slot.is_none() {
                    *slot = read.next();
                }
            }
        }
        let counts: Vec<usize> = started.commands.iter().map(|(_, count)| *count).collect();
        let answers: Vec<Answer> = answers
            .into_iter()
            .map(|answer| answer.unwrap_or_else(|| Err("no answer".into())))
            .collect();
        self.new_uids(crate::append::appended_uids(&counts, answers))
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
        // Every STORE goes out at once with the next call: one round trip, however many
        // sets and calls.
        let commands = &mut self.queued;
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
        Ok(())
    }

    fn delete_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        if uids.is_empty() {
            return self.send_queued();
        }
        self.refuse_write("delete messages")?;
        // Selected first, so that what SELECT said is dropped as out of date below.
        self.session()?;
        self.fresh = None;
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
            // They wait with the flag changes for the next call or flush: one round trip.
            commands.extend(sets.iter().map(|set| format!("UID EXPUNGE {set}")));
            self.queued.extend(commands);
            return Ok(());
        }
        self.send_queued()?;
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
        self.send_queued()?;
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
        self.send_queued()?;
        self.changes_since(since)
    }

    /// Sends the batch's `UID FETCH`es now, behind those sent ahead before; their answers
    /// are read when the batch is fetched. Until then the server's bytes wait in the
    /// socket (TCP holds the server back once it is full), not in memory.
    fn prefetch_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        if uids.is_empty() {
            return Ok(());
        }
        if !self.queued.is_empty() {
            // Their answers must not be read behind fetches.
            self.send_queued()?;
        }
        let commands = Self::fetch_commands(uids);
        let sent = self.connected()?.send_ahead(&commands);
        let tags = sent.map_err(|error| self.failed("fetch messages", error))?;
        self.ahead.batches.push_back(FetchedAhead {
            uids: uids.to_vec(),
            commands,
            tags,
        });
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        // The queued flag changes go now. Every other command returned only after the
        // server's tagged OK, which is the server's promise that the change is made.
        // Fetches sent ahead change nothing, so they stay pending (the engine flushes
        // the source between the batches it announced).
        if !self.queued.is_empty() {
            self.send_queued()?;
        }
        match self.lost {
            false => Ok(()),
            true => Err(BackendError::new(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enabled_qresync_is_read_from_the_enabled_response() {
        assert!(qresync_enabled_in(
            b"* ENABLED QRESYNC\r\nA1 OK Enabled\r\n"
        ));
        assert!(qresync_enabled_in(
            b"* ENABLED CONDSTORE qresync\r\nA1 OK\r\n"
        ));
        assert!(!qresync_enabled_in(b"* ENABLED\r\nA1 OK\r\n"));
        assert!(!qresync_enabled_in(b"A1 OK QRESYNC\r\n"));
    }

    #[test]
    fn answers_are_their_untagged_responses_then_the_tagged_line() {
        let answers = with_answers(
            vec![b"* 3 EXISTS\r\n".to_vec(), Vec::new()],
            vec![
                Ok(b"A1 OK done\r\n".to_vec()),
                Err("NO [NONEXISTENT] no such".into()),
            ],
        );
        assert_eq!(
            answers,
            vec![
                Ok(b"* 3 EXISTS\r\nA1 OK done\r\n".to_vec()),
                Err("NO [NONEXISTENT] no such".to_owned())
            ]
        );
        assert_eq!(
            ImapFolder::select_command("INBOX", true, true),
            "EXAMINE \"INBOX\" (CONDSTORE)"
        );
        assert_eq!(
            ImapFolder::select_command("A", false, false),
            "SELECT \"A\""
        );
    }
}
