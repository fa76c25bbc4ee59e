//! The host side of the boundary: makes a plugin's FFI objects look like plain
//! [`Repository`] and [`Folder`] values, and checks what the plugin returns, so that a
//! buggy plugin yields a clear error instead of corrupting the sync.

use std::collections::HashSet;

use abi_stable::std_types::{ROption, RResult, RString, RVec};

use backend_api::ffi::{FfiError, FfiFlags, FfiFolderBox, FfiNewMessage, FfiRepositoryBox};
use backend_api::{
    BackendError, FetchedMessage, Flags, Folder, FolderChange, FolderChanges, FolderInfo,
    FolderPath, FolderStatus, LineEnding, MessageInfo, NewMessage, Repository, RepositoryInfo, Uid,
};

/// The first interface version with [`Folder::list_changes`].
const LIST_CHANGES_SINCE: (u32, u32) = (1, 1);
/// The first interface version with [`Folder::wait_for_change`].
const WAIT_FOR_CHANGE_SINCE: (u32, u32) = (1, 2);
/// The first interface version with [`Folder::prefetch_messages`].
const PREFETCH_MESSAGES_SINCE: (u32, u32) = (1, 3);
/// The first interface version with [`Folder::start_append`] and [`Folder::finish_append`].
const START_APPEND_SINCE: (u32, u32) = (1, 3);

fn result<T>(value: RResult<T, FfiError>) -> Result<T, BackendError> {
    value.into_result().map_err(|mut error| {
        error.message = checked_text(std::mem::take(&mut error.message)).into();
        BackendError::from(error)
    })
}

/// A string from a plugin as text. `RString` promises UTF-8, but the promise is the
/// plugin's: every string that crosses the boundary is checked before anything reads it
/// as text. For what is only shown (errors, log lines, the hello), bytes that are not
/// UTF-8 become U+FFFD; what is data (folder names, keywords) is refused instead.
pub(super) fn checked_text(text: RString) -> String {
    match String::from_utf8(text.into_bytes().into_vec()) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    }
}

/// Whether every keyword of `flags` is UTF-8 (see [`checked_text`]).
fn keywords_are_utf8(flags: &FfiFlags) -> bool {
    flags
        .keywords
        .iter()
        .all(|keyword| std::str::from_utf8(&keyword.clone().into_bytes()).is_ok())
}

/// A repository opened through a plugin.
pub struct ImportedRepository {
    inner: FfiRepositoryBox,
    plugin: String,
    /// The interface version the plugin's hello named: methods appended after it are
    /// never called (their defaults are used instead).
    interface: (u32, u32),
}

impl ImportedRepository {
    pub(super) fn new(inner: FfiRepositoryBox, plugin: String, interface: (u32, u32)) -> Self {
        ImportedRepository {
            inner,
            plugin,
            interface,
        }
    }

    fn broken(&self, what: String) -> BackendError {
        BackendError::repository(format!(
            "plugin {} broke the interface contract: {what}",
            self.plugin
        ))
    }
}

impl Repository for ImportedRepository {
    fn info(&self) -> Result<RepositoryInfo, BackendError> {
        let info = result(self.inner.info())?;
        let line_ending = match info.line_ending {
            0 => LineEnding::Lf,
            1 => LineEnding::CrLf,
            other => return Err(self.broken(format!("unknown line ending code {other}"))),
        };
        Ok(RepositoryInfo { line_ending })
    }

    fn list_folders(&self) -> Result<Vec<FolderInfo>, BackendError> {
        let listed = result(self.inner.list_folders())?;
        let mut folders = Vec::with_capacity(listed.len());
        for folder in listed {
            // RString promises UTF-8, but the promise is the plugin's: check the bytes
            // before anything reads them as text.
            let name = folder.path.into_bytes().into_vec();
            let name = String::from_utf8(name).map_err(|e| {
                self.broken(format!(
                    "it listed a folder name that is not UTF-8 ({:?})",
                    String::from_utf8_lossy(e.as_bytes())
                ))
            })?;
            let path =
                FolderPath::new(name).map_err(|e| self.broken(format!("it listed an {e}")))?;
            folders.push(FolderInfo {
                path,
                selectable: folder.selectable,
            });
        }
        Ok(folders)
    }

    fn create_folder(&self, path: &FolderPath) -> Result<(), BackendError> {
        result(self.inner.create_folder(path.as_str().into()))
    }

    fn open_folder(&self, path: &FolderPath) -> Result<Box<dyn Folder>, BackendError> {
        let inner = result(self.inner.open_folder(path.as_str().into()))?;
        Ok(Box::new(ImportedFolder {
            inner,
            plugin: self.plugin.clone(),
            interface: self.interface,
            path: path.clone(),
            started: Default::default(),
        }))
    }
}

struct ImportedFolder {
    inner: FfiFolderBox,
    plugin: String,
    interface: (u32, u32),
    path: FolderPath,
    /// How many messages each batch started by `start_append` and not finished holds,
    /// oldest first: its answer must name as many UIDs.
    started: std::collections::VecDeque<usize>,
}

impl ImportedFolder {
    fn broken(&self, what: String) -> BackendError {
        BackendError::folder(format!(
            "plugin {} broke the interface contract in folder {}: {what}",
            self.plugin, self.path
        ))
    }

    /// The UIDs a plugin answered for `count` messages appended (by `append_messages` or
    /// `finish_append`): one per message, none of them 0.
    fn appended_uids(
        &self,
        count: usize,
        answer: RResult<RVec<ROption<u32>>, FfiError>,
    ) -> Result<Vec<Option<Uid>>, BackendError> {
        let uids: Vec<Option<Uid>> = result(answer)?.into_iter().map(Into::into).collect();
        if uids.len() != count {
            return Err(self.broken(format!(
                "{count} messages appended but {} UIDs returned",
                uids.len()
            )));
        }
        if uids.contains(&Some(0)) {
            return Err(self.broken("an appended message got UID 0".into()));
        }
        Ok(uids)
    }

    /// Refuses UIDs that are 0 or not strictly ascending, as `list_messages` does.
    fn check_ascending(
        &self,
        what: &str,
        uids: impl Iterator<Item = Uid>,
    ) -> Result<(), BackendError> {
        let mut previous = 0;
        for uid in uids {
            if uid == 0 {
                return Err(self.broken(format!("it listed UID 0 among the {what}")));
            }
            if uid <= previous {
                return Err(self.broken(format!(
                    "{what}: UIDs not strictly ascending ({uid} after {previous})"
                )));
            }
            previous = uid;
        }
        Ok(())
    }
}

impl Folder for ImportedFolder {
    fn status(&mut self) -> Result<FolderStatus, BackendError> {
        let status: FolderStatus = result(self.inner.status())?.into();
        if status.uid_validity == 0 {
            return Err(self.broken("UIDVALIDITY 0".into()));
        }
        Ok(status)
    }

    fn list_messages(&mut self) -> Result<Vec<MessageInfo>, BackendError> {
        let listed = result(self.inner.list_messages())?;
        let mut messages: Vec<MessageInfo> = Vec::with_capacity(listed.len());
        for message in listed {
            let previous = messages.last().map_or(0, |m| m.uid);
            if message.uid == 0 {
                return Err(self.broken("it listed a message with UID 0".into()));
            }
            if message.uid <= previous {
                return Err(self.broken(format!(
                    "UIDs not strictly ascending ({} after {previous})",
                    message.uid
                )));
            }
            if !keywords_are_utf8(&message.flags) {
                return Err(self.broken(format!(
                    "it listed a keyword that is not UTF-8 on UID {}",
                    message.uid
                )));
            }
            messages.push(message.into());
        }
        Ok(messages)
    }

    fn fetch_messages(&mut self, uids: &[Uid]) -> Result<Vec<FetchedMessage>, BackendError> {
        let fetched = result(self.inner.fetch_messages(RVec::from(uids)))?;
        let fetched: Vec<FetchedMessage> = fetched.into_iter().map(Into::into).collect();
        let asked: std::collections::HashSet<Uid> = uids.iter().copied().collect();
        if let Some(stray) = fetched.iter().find(|m| !asked.contains(&m.uid)) {
            return Err(self.broken(format!(
                "it returned UID {} which was not asked for",
                stray.uid
            )));
        }
        Ok(fetched)
    }

    fn append_messages(
        &mut self,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Option<Uid>>, BackendError> {
        let count = messages.len();
        let messages: RVec<_> = messages.into_iter().map(Into::into).collect();
        let answer = self.inner.append_messages(messages);
        self.appended_uids(count, answer)
    }

    fn update_flags(
        &mut self,
        uids: &[Uid],
        add: &Flags,
        remove: &Flags,
    ) -> Result<(), BackendError> {
        result(
            self.inner
                .update_flags(RVec::from(uids), add.into(), remove.into()),
        )
    }

    fn delete_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        result(self.inner.delete_messages(RVec::from(uids)))
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        result(self.inner.flush())
    }

    /// Calls the plugin only if it was built for an interface that has the method; an
    /// older plugin gets the trait's default, "cannot tell". What a plugin returns is
    /// checked as listings are: a change left out cannot be detected, but a malformed
    /// answer can.
    fn list_changes(&mut self, since: u64) -> Result<Option<FolderChanges>, BackendError> {
        if self.interface < LIST_CHANGES_SINCE {
            log::debug!(
                "folder {}: plugin {} speaks interface {}.{}, which has no list_changes: listing in full",
                self.path,
                self.plugin,
                self.interface.0,
                self.interface.1
            );
            return Ok(None);
        }
        let Some(changes) = Option::<backend_api::ffi::FfiFolderChanges>::from(result(
            self.inner.list_changes(since),
        )?) else {
            return Ok(None);
        };
        if let Some(bad) = changes
            .changed
            .iter()
            .find(|message| !keywords_are_utf8(&message.flags))
        {
            return Err(self.broken(format!(
                "it listed a keyword that is not UTF-8 on UID {}",
                bad.uid
            )));
        }
        let changes: FolderChanges = backend_api::ffi::FfiFolderChanges::into(changes);
        self.check_ascending("changed messages", changes.changed.iter().map(|m| m.uid))?;
        if let Some(vanished) = &changes.vanished {
            self.check_ascending("vanished UIDs", vanished.iter().copied())?;
            let changed: HashSet<Uid> = changes.changed.iter().map(|m| m.uid).collect();
            if let Some(both) = vanished.iter().find(|uid| changed.contains(uid)) {
                return Err(self.broken(format!("UID {both} is both changed and vanished")));
            }
        }
        Ok(Some(changes))
    }

    /// Calls the plugin only if its interface has the method; an older plugin cannot wait,
    /// and the caller polls instead.
    fn wait_for_change(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<FolderChange, BackendError> {
        if self.interface < WAIT_FOR_CHANGE_SINCE {
            return Ok(FolderChange::Unsupported);
        }
        let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        Ok(match result(self.inner.wait_for_change(millis))? {
            0 => FolderChange::Changed,
            1 => FolderChange::TimedOut,
            _ => FolderChange::Unsupported,
        })
    }

    /// Hands the batch back to a plugin before interface 1.3: the caller then appends it
    /// with `append_messages`.
    fn start_append(
        &mut self,
        messages: Vec<NewMessage>,
    ) -> Result<Option<Vec<NewMessage>>, BackendError> {
        if self.interface < START_APPEND_SINCE {
            return Ok(Some(messages));
        }
        let count = messages.len();
        let messages: RVec<_> = messages.into_iter().map(Into::into).collect();
        let back: Option<RVec<FfiNewMessage>> = result(self.inner.start_append(messages))?.into();
        match back {
            Some(back) => Ok(Some(back.into_iter().map(Into::into).collect())),
            None => {
                self.started.push_back(count);
                Ok(None)
            }
        }
    }

    fn finish_append(&mut self) -> Result<Vec<Option<Uid>>, BackendError> {
        let Some(count) = self.started.pop_front() else {
            return Err(BackendError::folder(format!(
                "folder {}: finish_append without a batch started (a bug in twinbox)",
                self.path
            )));
        };
        let answer = self.inner.finish_append();
        self.appended_uids(count, answer)
    }

    /// Passes the hint on only to a plugin whose interface has the method; an older one
    /// simply fetches when asked.
    fn prefetch_messages(&mut self, uids: &[Uid]) -> Result<(), BackendError> {
        if self.interface < PREFETCH_MESSAGES_SINCE || uids.is_empty() {
            return Ok(());
        }
        result(self.inner.prefetch_messages(RVec::from(uids.to_vec())))
    }
}

#[cfg(test)]
mod tests {
    use abi_stable::sabi_trait::TD_Opaque;
    use abi_stable::std_types::{ROption, RResult};
    use backend_api::ffi::{
        FfiFetchedMessage, FfiFlags, FfiFolder, FfiFolderChanges, FfiFolderStatus, FfiFolder_TO,
        FfiMessageInfo, FfiNewMessage,
    };

    use super::*;

    /// A plugin folder whose `list_changes` answers with `changed` and `vanished`, and
    /// which fails the test if asked anything else.
    struct Answering {
        changed: Vec<u32>,
        vanished: Option<Vec<u32>>,
        /// A keyword that is not UTF-8 on every message listed.
        bad_keyword: bool,
    }

    /// An `RString` holding bytes that are not UTF-8, as a buggy plugin could send.
    fn not_utf8() -> RString {
        // SAFETY: the bytes are only ever read as bytes by the code under test, which is
        // what this checks.
        unsafe { RString::from_utf8_unchecked(RVec::from(vec![b'a', 0xff, b'b'])) }
    }

    impl Answering {
        fn info(&self, uid: u32) -> FfiMessageInfo {
            let mut info = info(uid);
            if self.bad_keyword {
                info.flags.keywords.push(not_utf8());
            }
            info
        }
    }

    fn info(uid: u32) -> FfiMessageInfo {
        (MessageInfo {
            uid,
            flags: Flags::new(),
            size: 1,
            modseq: Some(5),
        })
        .into()
    }

    impl FfiFolder for Answering {
        fn status(&mut self) -> RResult<FfiFolderStatus, FfiError> {
            unimplemented!()
        }
        fn list_messages(&mut self) -> RResult<RVec<FfiMessageInfo>, FfiError> {
            RResult::ROk(self.changed.iter().map(|uid| self.info(*uid)).collect())
        }
        fn fetch_messages(&mut self, _: RVec<u32>) -> RResult<RVec<FfiFetchedMessage>, FfiError> {
            unimplemented!()
        }
        fn append_messages(
            &mut self,
            _: RVec<FfiNewMessage>,
        ) -> RResult<RVec<ROption<u32>>, FfiError> {
            unimplemented!()
        }
        fn update_flags(
            &mut self,
            _: RVec<u32>,
            _: FfiFlags,
            _: FfiFlags,
        ) -> RResult<(), FfiError> {
            unimplemented!()
        }
        fn delete_messages(&mut self, _: RVec<u32>) -> RResult<(), FfiError> {
            unimplemented!()
        }
        fn flush(&mut self) -> RResult<(), FfiError> {
            unimplemented!()
        }
        fn list_changes(&mut self, _: u64) -> RResult<ROption<FfiFolderChanges>, FfiError> {
            RResult::ROk(ROption::RSome(FfiFolderChanges {
                changed: self.changed.iter().map(|uid| self.info(*uid)).collect(),
                vanished: self.vanished.clone().map(RVec::from).into(),
            }))
        }
        fn wait_for_change(&mut self, _: u64) -> RResult<u8, FfiError> {
            RResult::ROk(0)
        }
        fn prefetch_messages(&mut self, _: RVec<u32>) -> RResult<(), FfiError> {
            RResult::RErr(FfiError::from(BackendError::folder("asked to prefetch")))
        }
    }

    fn folder(interface: (u32, u32), changed: &[u32], vanished: Option<&[u32]>) -> ImportedFolder {
        ImportedFolder {
            inner: FfiFolder_TO::from_value(
                Answering {
                    changed: changed.to_vec(),
                    vanished: vanished.map(<[u32]>::to_vec),
                    bad_keyword: false,
                },
                TD_Opaque,
            ),
            plugin: "Test".into(),
            interface,
            path: FolderPath::inbox(),
            started: Default::default(),
        }
    }

    #[test]
    fn a_plugin_of_interface_1_0_is_never_asked_for_changes() {
        // The fake would answer; the adapter must not ask it.
        let answer = folder((1, 0), &[1], Some(&[])).list_changes(1).unwrap();
        assert_eq!(answer, None);
    }

    #[test]
    fn a_plugin_before_interface_1_2_is_never_asked_to_wait() {
        // The fake answers "changed" when asked; the adapter must not ask it.
        for interface in [(1, 0), (1, 1)] {
            let answer = folder(interface, &[], None)
                .wait_for_change(std::time::Duration::from_millis(1))
                .unwrap();
            assert_eq!(answer, FolderChange::Unsupported);
        }
        let asked = folder((1, 2), &[], None)
            .wait_for_change(std::time::Duration::from_millis(1))
            .unwrap();
        assert_eq!(asked, FolderChange::Changed);
    }

    #[test]
    fn a_plugin_before_interface_1_3_is_never_given_the_prefetch_hint() {
        // The fake fails when given the hint; the adapter must not give it to older ones.
        for interface in [(1, 0), (1, 1), (1, 2)] {
            folder(interface, &[], None)
                .prefetch_messages(&[1])
                .unwrap();
        }
        let error = folder((1, 3), &[], None)
            .prefetch_messages(&[1])
            .unwrap_err();
        assert!(error.message.contains("asked to prefetch"), "{error}");
    }

    #[test]
    fn well_formed_changes_pass_through() {
        let answer = folder((1, 1), &[2, 5], Some(&[3, 4]))
            .list_changes(1)
            .unwrap()
            .unwrap();
        assert_eq!(answer.changed.len(), 2);
        assert_eq!(answer.vanished, Some(vec![3, 4]));
        let unknown = folder((1, 2), &[], None).list_changes(1).unwrap().unwrap();
        assert_eq!(unknown.vanished, None);
    }

    #[test]
    fn malformed_changes_break_the_contract() {
        for (changed, vanished) in [
            (&[5, 2][..], None),
            (&[2, 2][..], None),
            (&[0][..], None),
            (&[2][..], Some(&[4, 3][..])),
            (&[2][..], Some(&[2][..])),
            (&[2][..], Some(&[0][..])),
        ] {
            let error = folder((1, 1), changed, vanished)
                .list_changes(1)
                .unwrap_err();
            assert!(
                error.message.contains("broke the interface contract"),
                "{changed:?} {vanished:?}: {error}"
            );
        }
    }

    #[test]
    fn keywords_that_are_not_utf8_break_the_contract() {
        // Issue 12: only folder names were checked; keywords became `String` unchecked.
        let mut folder = folder((1, 1), &[2], Some(&[]));
        let answering = Answering {
            changed: vec![2],
            vanished: Some(vec![]),
            bad_keyword: true,
        };
        folder.inner = FfiFolder_TO::from_value(answering, TD_Opaque);
        for error in [
            folder.list_messages().unwrap_err(),
            folder.list_changes(1).unwrap_err(),
        ] {
            assert!(
                error.message.contains("keyword that is not UTF-8"),
                "{error}"
            );
        }
    }

    #[test]
    fn error_messages_that_are_not_utf8_are_shown_replaced() {
        let error = FfiError::from(BackendError::folder("x"));
        let error = result::<()>(RResult::RErr(FfiError {
            message: not_utf8(),
            ..error
        }))
        .unwrap_err();
        assert_eq!(error.message, "a\u{fffd}b");
        assert_eq!(checked_text(not_utf8()), "a\u{fffd}b");
    }
}
