//! An IMAP account: its options, a pool of authenticated connections, and the folder
//! tree.
//!
//! IMAP has one selected mailbox per connection, so every open folder owns a connection
//! for as long as it is open, and repository-level calls (LIST, CREATE) borrow one for a
//! moment. The pool bounds them by `maxconnections`: a caller that finds every connection
//! in use waits until a folder is dropped. (The engine holds at most one open folder of
//! a repository per thread, so this never deadlocks it.)

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use backend_api::{
    BackendError, ErrorScope, Folder, FolderInfo, FolderPath, LineEnding, Repository,
    RepositoryConfig, RepositoryInfo, Retry,
};

use crate::connection::{CommandError, Credentials, ImapSession, Reused};
use crate::folder::ImapFolder;
use crate::link::Literals;
use crate::names::NameMap;
use crate::options::ImapOptions;
use crate::response::{self, SelectData};
use crate::wire::quoted;

/// A connection idle for longer than this is checked with a NOOP before reuse.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(10);

/// How long what the listing's SELECTs said of a folder stands for its status: a folder
/// opened later is selected again. The older a status, the likelier a listing made after
/// it counts fewer messages than it (mail expunged meanwhile), which the engine refuses
/// for that run.
const SNAPSHOT_FRESH_FOR: Duration = Duration::from_secs(30);

/// What SELECT said of every listed folder, in one round trip right after the LIST, so
/// that a folder which changed on neither side costs no round trip at all: its status
/// comes from here, and when its HIGHESTMODSEQ is the one recorded, so do its changes
/// (none). A folder is selected on its own connection only once a call needs it.
struct Snapshot {
    taken: Instant,
    /// Whether the connection that took it had CONDSTORE (the SELECTs asked for MODSEQs)
    /// and QRESYNC (whose servers raise HIGHESTMODSEQ on every expunge, RFC 7162 3.2.10).
    condstore: bool,
    qresync: bool,
    /// By wire name; taken out when the folder is opened (a second open selects).
    folders: HashMap<String, SelectData>,
}

/// Authenticated connections, at most `maxconnections` of them open at once.
pub(crate) struct Pool {
    pub options: Arc<ImapOptions>,
    credentials: Credentials,
    reused: Reused,
    state: Mutex<PoolState>,
    returned: Condvar,
}

struct PoolState {
    idle: Vec<ImapSession>,
    /// Connections open: idle ones plus those handed out.
    open: usize,
}

impl Pool {
    fn new(options: Arc<ImapOptions>) -> Pool {
        Pool {
            options,
            credentials: Credentials::default(),
            reused: Reused::default(),
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An idle connection, or a new one if fewer than `maxconnections` are open;
    /// otherwise waits for one to be handed back.
    pub fn take(self: &Arc<Self>) -> Result<PooledSession, BackendError> {
        loop {
            let mut state = self.lock();
            loop {
                if let Some(session) = state.idle.pop() {
                    drop(state);
                    match self.check(session) {
                        Some(session) => return Ok(self.wrap(session)),
                        None => break, // it was dead: loop to open another
                    }
                }
                if state.open < self.options.max_connections {
                    state.open += 1;
                    drop(state);
                    return match ImapSession::connect(
                        &self.options,
                        &self.credentials,
                        &self.reused,
                    ) {
                        Ok(session) => Ok(self.wrap(session)),
                        Err(error) => {
                            self.forget_one();
                            Err(error)
                        }
                    };
                }
                log::debug!(
                    "all {} connections to {} are in use (maxconnections); waiting",
                    self.options.max_connections,
                    self.options.server()
                );
                state = self.returned.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    fn wrap(self: &Arc<Self>, session: ImapSession) -> PooledSession {
        PooledSession {
            pool: Arc::clone(self),
            session: Some(session),
        }
    }

    /// A connection that sat idle a while is checked with a NOOP; a dead one is dropped
    /// (and counted out).
    fn check(&self, mut session: ImapSession) -> Option<ImapSession> {
        if session.idle_since.elapsed() < CHECK_AFTER_IDLE {
            return Some(session);
        }
        match session.run("NOOP") {
            Ok(_) => Some(session),
            Err(error) => {
                log::debug!(
                    "an idle connection to {} is gone: {error}",
                    session.server()
                );
                self.forget_one();
                None
            }
        }
    }

    fn forget_one(&self) {
        let mut state = self.lock();
        state.open = state.open.saturating_sub(1);
        drop(state);
        self.returned.notify_one();
    }

    fn give_back(&self, mut session: ImapSession) {
        if session.is_broken() {
            self.forget_one();
            return;
        }
        session.idle_since = std::time::Instant::now();
        self.lock().idle.push(session);
        self.returned.notify_one();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.lock().idle);
        ImapSession::logout_all(idle);
    }
}

/// A connection on loan from the pool; handed back when dropped, unless it broke.
pub(crate) struct PooledSession {
    pool: Arc<Pool>,
    session: Option<ImapSession>,
}

impl Deref for PooledSession {
    type Target = ImapSession;
    fn deref(&self) -> &ImapSession {
        self.session.as_ref().expect("present until dropped")
    }
}

impl DerefMut for PooledSession {
    fn deref_mut(&mut self) -> &mut ImapSession {
        self.session.as_mut().expect("present until dropped")
    }
}

impl Drop for PooledSession {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.pool.give_back(session);
        }
    }
}

/// An IMAP account as a twinbox repository.
pub struct ImapRepository {
    options: Arc<ImapOptions>,
    pool: Arc<Pool>,
    /// The server's naming, learnt from the first LIST.
    names: Mutex<Option<NameMap>>,
    /// The wire name of each folder in the last listing (the server's own spelling).
    listed: Mutex<HashMap<FolderPath, String>>,
    snapshot: Mutex<Option<Snapshot>>,
}

impl ImapRepository {
    /// Checks the options; connects only when first used.
    pub fn open(config: &RepositoryConfig) -> Result<ImapRepository, BackendError> {
        let options = Arc::new(ImapOptions::from_config(config)?);
        Ok(ImapRepository {
            pool: Arc::new(Pool::new(Arc::clone(&options))),
            options,
            names: Mutex::new(None),
            listed: Mutex::new(HashMap::new()),
            snapshot: Mutex::new(None),
        })
    }

    /// SELECTs (EXAMINEs, read-only) every folder in `wires` in one pipelined round trip
    /// and keeps what each said (see [`Snapshot`]). A failure only costs the shortcut: the
    /// folders are then selected when opened, as without it.
    fn take_snapshot(&self, session: &mut ImapSession, wires: Vec<String>) {
        let condstore = session.has("CONDSTORE");
        let commands: Vec<String> = wires
            .iter()
            .map(|wire| ImapFolder::select_command(wire, self.options.readonly, condstore))
            .collect();
        let mut buffers: Vec<Vec<u8>> = vec![Vec::new(); commands.len()];
        let result = session.pipeline(&commands, Literals::Inline, |index, response| {
            if let Some(buffer) = buffers.get_mut(index) {
                buffer.extend_from_slice(&response.text)
            }
        });
        let answers = match result {
            Ok(answers) => answers,
            Err(error) => {
                log::debug!(
                    "{}: selecting the listed folders failed: {error}",
                    self.options.server()
                );
                return;
            }
        };
        let mut folders = HashMap::with_capacity(wires.len());
        for ((wire, mut buffer), answer) in wires.into_iter().zip(buffers).zip(answers) {
            // A folder the server would not select is selected (and refused, with its
            // reason) when opened.
            if let Ok(tagged) = answer {
                buffer.extend_from_slice(&tagged);
                let data = response::parse_select(&buffer);
                if data.uid_validity.is_some_and(|v| v != 0) {
                    folders.insert(wire, data);
                }
            }
        }
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Snapshot {
            taken: Instant::now(),
            condstore,
            qresync: session.has("QRESYNC"),
            folders,
        });
    }

    /// What the snapshot says of `wire`, if it is fresh; taken out of it.
    fn snapshot_of(&self, wire: &str) -> Option<(SelectData, bool, bool)> {
        let mut snapshot = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        let taken = snapshot.as_mut()?;
        if taken.taken.elapsed() > SNAPSHOT_FRESH_FOR {
            *snapshot = None;
            return None;
        }
        let data = taken.folders.remove(wire)?;
        Some((data, taken.condstore, taken.qresync))
    }

    /// An error for a failed repository-level command.
    fn failed(&self, action: &str, error: CommandError) -> BackendError {
        let server = self.options.server();
        match error {
            CommandError::Refused(text) => BackendError::repository(format!(
                "IMAP server {server} ([Repository {}]) refused to {action}: {text}",
                self.options.section.name
            )),
            CommandError::Broken(text) => BackendError::new(
                ErrorScope::Repository,
                Retry::Later,
                format!(
                    "IMAP server {server} ([Repository {}]): connection lost while trying to \
                     {action}: {text}",
                    self.options.section.name
                ),
            ),
        }
    }

    fn name_map(&self, session: &mut ImapSession) -> Result<NameMap, BackendError> {
        if let Some(map) = self
            .names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            return Ok(map.clone());
        }
        // `LIST reference ""` answers with the hierarchy delimiter of that part of the
        // server's namespace.
        let reference = self
            .options
            .reference
            .as_deref()
            .map(backend_kit::mutf7::encode)
            .unwrap_or_default();
        let buffer = session
            .run(&format!("LIST {} \"\"", quoted(&reference)))
            .map_err(|e| self.failed("tell its hierarchy delimiter (LIST)", e))?;
        Ok(self.learn_names(&buffer))
    }

    /// The naming the answer to `LIST reference ""` in `buffer` tells, kept for later.
    fn learn_names(&self, buffer: &[u8]) -> NameMap {
        let delimiter = response::parse_list(buffer)
            .into_iter()
            .find_map(|e| e.delimiter);
        let map = NameMap::new(delimiter, self.options.reference.as_deref());
        log::debug!(
            "{}: hierarchy delimiter {delimiter:?}",
            self.options.server()
        );
        *self.names.lock().unwrap_or_else(|e| e.into_inner()) = Some(map.clone());
        map
    }

    /// The wire name of `path`: as last listed, else as mapped.
    fn wire_name(&self, map: &NameMap, path: &FolderPath) -> Result<String, BackendError> {
        if let Some(wire) = self
            .listed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
        {
            return Ok(wire.clone());
        }
        map.encode(path).map_err(|problem| {
            BackendError::folder(format!(
                "{problem} (IMAP server {}, [Repository {}])",
                self.options.server(),
                self.options.section.name
            ))
        })
    }

    /// The LIST entry of `wire`, if it names an existing mailbox.
    fn listed_entry(
        &self,
        session: &mut ImapSession,
        wire: &str,
    ) -> Result<Option<response::ListEntry>, BackendError> {
        let buffer = session
            .run(&format!("LIST \"\" {}", quoted(wire)))
            .map_err(|e| self.failed("list a folder", e))?;
        Ok(response::parse_list(&buffer)
            .into_iter()
            .find(|e| e.name == wire.as_bytes() && !e.has_attribute("\\NonExistent")))
    }

    /// CREATE one mailbox. `Ok(true)` if it exists afterwards (made now or before, and
    /// able to hold messages), `Ok(false)` if the server refused.
    fn create_one(
        &self,
        session: &mut ImapSession,
        path: &FolderPath,
        wire: &str,
    ) -> Result<bool, BackendError> {
        match session.run(&format!("CREATE {}", quoted(wire))) {
            Ok(_) => {
                log::info!("created folder {path} on {}", self.options.server());
                Ok(true)
            }
            Err(CommandError::Refused(text)) => match self.listed_entry(session, wire)? {
                Some(entry) if entry.has_attribute("\\Noselect") => {
                    Err(BackendError::folder(format!(
                        "folder {path} exists on IMAP server {} only as a container that \
                         cannot hold messages (\\Noselect), and the server refused to make it \
                         a folder: {text}",
                        self.options.server()
                    )))
                }
                Some(_) => Ok(true),
                None => {
                    log::warn!(
                        "IMAP server {} refused to create folder {path}: {text}",
                        self.options.server()
                    );
                    Ok(false)
                }
            },
            Err(broken) => Err(self.failed(&format!("create folder {path}"), broken)),
        }
    }
}

impl Repository for ImapRepository {
    fn info(&self) -> Result<RepositoryInfo, BackendError> {
        Ok(RepositoryInfo {
            line_ending: LineEnding::CrLf,
        })
    }

    fn list_folders(&self) -> Result<Vec<FolderInfo>, BackendError> {
        let mut session = self.pool.take()?;
        let command = if self.options.subscribed_only {
            "LSUB"
        } else {
            "LIST"
        };
        let known = self
            .names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        let (map, buffer) = if !known && self.options.reference.is_none() {
            // Without a reference the pattern is `*` whatever the delimiter, so the LIST
            // that asks for the delimiter and the listing go in one round trip.
            let commands = ["LIST \"\" \"\"".to_owned(), format!("{command} \"\" \"*\"")];
            let mut buffers = [Vec::new(), Vec::new()];
            let answers = session
                .pipeline(&commands, Literals::Inline, |index, response| {
                    if let Some(buffer) = buffers.get_mut(index) {
                        buffer.extend_from_slice(&response.text)
                    }
                })
                .map_err(|e| self.failed("list its folders", e))?;
            for ((answer, buffer), what) in answers
                .into_iter()
                .zip(&mut buffers)
                .zip(["tell its hierarchy delimiter (LIST)", "list its folders"])
            {
                match answer {
                    Ok(tagged) => buffer.extend_from_slice(&tagged),
                    Err(text) => return Err(self.failed(what, CommandError::Refused(text))),
                }
            }
            let [delimiter_answer, listing] = buffers;
            (self.learn_names(&delimiter_answer), listing)
        } else {
            let map = self.name_map(&mut session)?;
            let buffer = session
                .run(&format!("{command} \"\" {}", quoted(&map.list_pattern())))
                .map_err(|e| self.failed("list its folders", e))?;
            (map, buffer)
        };

        let mut folders: Vec<FolderInfo> = Vec::new();
        let mut listed: HashMap<FolderPath, String> = HashMap::new();
        for entry in response::parse_list(&buffer) {
            let shown = String::from_utf8_lossy(&entry.name).into_owned();
            match map.decode(&entry.name) {
                Ok(Some(path)) => {
                    if listed.contains_key(&path) {
                        log::warn!(
                            "IMAP server {}: folder {shown:?} is skipped: it maps to {path}, \
                             like another folder on the server",
                            self.options.server()
                        );
                        continue;
                    }
                    let selectable = !(entry.has_attribute("\\Noselect")
                        || entry.has_attribute("\\NonExistent"));
                    listed.insert(path.clone(), shown);
                    folders.push(FolderInfo { path, selectable });
                }
                Ok(None) => {}
                Err(reason) => log::warn!(
                    "IMAP server {} ([Repository {}]): folder {shown:?} is skipped: {reason}",
                    self.options.server(),
                    self.options.section.name
                ),
            }
        }
        let selectable: Vec<String> = folders
            .iter()
            .filter(|folder| folder.selectable)
            .filter_map(|folder| listed.get(&folder.path).cloned())
            .collect();
        *self.listed.lock().unwrap_or_else(|e| e.into_inner()) = listed;
        self.take_snapshot(&mut session, selectable);
        Ok(folders)
    }

    fn create_folder(&self, path: &FolderPath) -> Result<(), BackendError> {
        if path.is_inbox() && self.options.reference.is_none() {
            return Ok(()); // INBOX always exists.
        }
        let mut session = self.pool.take()?;
        let map = self.name_map(&mut session)?;
        let target = self.wire_name(&map, path)?;
        if self.options.readonly {
            return if self.listed_entry(&mut session, &target)?.is_some() {
                Ok(())
            } else {
                Err(self.options.write_refused(&format!("create folder {path}")))
            };
        }
        // The server creates the levels above as needed (RFC 3501 6.3.3 says it SHOULD),
        // as containers (\Noselect) that no sync pairs up. Only a server that refuses
        // gets the parents created one by one, then the folder again.
        let created = match self.create_one(&mut session, path, &target)? {
            true => true,
            false => {
                let mut parent = path.parent();
                let mut parents = Vec::new();
                while let Some(current) = parent {
                    parent = current.parent();
                    parents.push(current);
                }
                for current in parents.into_iter().rev() {
                    if current.is_inbox() && self.options.reference.is_none() {
                        continue;
                    }
                    let wire = self.wire_name(&map, &current)?;
                    self.create_one(&mut session, &current, &wire)?;
                }
                self.create_one(&mut session, path, &target)?
            }
        };
        if !created {
            return Err(BackendError::folder(format!(
                "IMAP server {} refused to create folder {path} (mailbox {target:?}); see the \
                 warning above for its answer",
                self.options.server()
            )));
        }
        if self.options.subscribed_only {
            session
                .run(&format!("SUBSCRIBE {}", quoted(&target)))
                .map_err(|e| self.failed(&format!("subscribe to folder {path}"), e))?;
        }
        Ok(())
    }

    fn open_folder(&self, path: &FolderPath) -> Result<Box<dyn Folder>, BackendError> {
        if let Some(map) = self.names.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            let wire = self.wire_name(&map, path)?;
            if let Some((data, condstore, qresync)) = self.snapshot_of(&wire) {
                let folder = ImapFolder::from_snapshot(
                    Arc::clone(&self.pool),
                    path.clone(),
                    wire,
                    data,
                    condstore,
                    qresync,
                )?;
                return Ok(Box::new(folder));
            }
        }
        let mut session = self.pool.take()?;
        let map = self.name_map(&mut session)?;
        let wire = self.wire_name(&map, path)?;
        let folder = ImapFolder::open(Arc::clone(&self.pool), session, path.clone(), wire)?;
        Ok(Box::new(folder))
    }
}
