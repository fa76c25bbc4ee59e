//! The `#[repr(C)]` side of the interface: what actually crosses between the host and a
//! plugin, checked by `abi_stable` when a plugin is loaded.
//!
//! Plugin authors and the engine do not use these types: the adapters in `export` and
//! `import` convert to and from the plain-Rust types. Enumerations cross as integers so a
//! later version can add values without changing the layout; an unknown value is read as
//! the most cautious one.
//!
//! Growing the interface: new trait methods and root-module fields are appended after the
//! ones marked `#[sabi(last_prefix_field)]` (the end of v1) and the crate's patch version
//! is bumped; the host checks a plugin's minor version before calling them.

#![allow(non_local_definitions)] // emitted by #[sabi_trait] on recent compilers

use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RBox, ROption, RResult, RStr, RString, RVec};
use abi_stable::{declare_root_module_statics, package_version_strings, sabi_trait, StableAbi};

/// A [`crate::BackendError`] crossing the boundary.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct FfiError {
    /// 0 message, 1 folder, 2 (or unknown) repository.
    pub scope: u8,
    /// 0 now, 1 later, 2 (or unknown) never.
    pub retry: u8,
    pub message: RString,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct FfiFlags {
    /// Bit i set = `SystemFlag::ALL[i]`.
    pub system: u8,
    pub keywords: RVec<RString>,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct FfiPermanentFlags {
    pub flags: FfiFlags,
    pub any_keyword: bool,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct FfiRepositoryInfo {
    /// 0 LF, 1 CRLF.
    pub line_ending: u8,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct FfiFolderInfo {
    pub path: RString,
    pub selectable: bool,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct FfiFolderStatus {
    pub uid_validity: u32,
    pub uid_next: u32,
    pub highest_modseq: ROption<u64>,
    pub message_count: u32,
    pub permanent_flags: FfiPermanentFlags,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct FfiMessageInfo {
    pub uid: u32,
    pub flags: FfiFlags,
    pub size: u64,
    pub modseq: ROption<u64>,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct FfiFetchedMessage {
    pub uid: u32,
    pub bytes: RVec<u8>,
    pub internal_date: ROption<i64>,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct FfiNewMessage {
    pub bytes: RVec<u8>,
    pub flags: FfiFlags,
    pub internal_date: ROption<i64>,
}

/// Interface 1.1: what changed in a folder; see [`crate::FolderChanges`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct FfiFolderChanges {
    pub changed: RVec<FfiMessageInfo>,
    pub vanished: ROption<RVec<u32>>,
}

/// What a plugin says about itself; see [`crate::PluginHello`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct FfiPluginHello {
    pub name: RString,
    pub plugin_version: RString,
    pub interface_major: u32,
    pub interface_minor: u32,
    pub capabilities: RVec<RString>,
}

/// What the host lends a plugin: a way to log through the host's logger (a plugin's copy
/// of the `log` crate has no logger of its own).
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct FfiHostServices {
    /// The most verbose level the host wants: 0 off, 1 error ... 5 trace.
    pub max_log_level: u8,
    pub log: extern "C" fn(level: u8, target: RStr<'_>, message: RStr<'_>),
}

/// A repository behind the boundary. See [`crate::Repository`] for the contracts.
#[sabi_trait]
pub trait FfiRepository: Send + Sync {
    fn info(&self) -> RResult<FfiRepositoryInfo, FfiError>;

    fn list_folders(&self) -> RResult<RVec<FfiFolderInfo>, FfiError>;

    fn create_folder(&self, path: RStr<'_>) -> RResult<(), FfiError>;

    /// End of v1: new methods only below this one.
    #[sabi(last_prefix_field)]
    fn open_folder(&self, path: RStr<'_>) -> RResult<FfiFolderBox, FfiError>;
}

/// A folder behind the boundary. See [`crate::Folder`] for the contracts.
#[sabi_trait]
pub trait FfiFolder: Send {
    fn status(&mut self) -> RResult<FfiFolderStatus, FfiError>;

    fn list_messages(&mut self) -> RResult<RVec<FfiMessageInfo>, FfiError>;

    fn fetch_messages(&mut self, uids: RVec<u32>) -> RResult<RVec<FfiFetchedMessage>, FfiError>;

    fn append_messages(
        &mut self,
        messages: RVec<FfiNewMessage>,
    ) -> RResult<RVec<ROption<u32>>, FfiError>;

    fn update_flags(
        &mut self,
        uids: RVec<u32>,
        add: FfiFlags,
        remove: FfiFlags,
    ) -> RResult<(), FfiError>;

    fn delete_messages(&mut self, uids: RVec<u32>) -> RResult<(), FfiError>;

    /// End of v1: new methods only below this one.
    #[sabi(last_prefix_field)]
    fn flush(&mut self) -> RResult<(), FfiError>;

    /// Interface 1.1; see [`crate::Folder::list_changes`]. Absent from the vtable of a
    /// plugin built for interface 1.0, where abi_stable falls back to this default (the
    /// host does not call it on such a plugin anyway: it checks the hello's minor first).
    fn list_changes(&mut self, since: u64) -> RResult<ROption<FfiFolderChanges>, FfiError> {
        let _ = since;
        RResult::ROk(ROption::RNone)
    }

    /// Interface 1.2; see [`crate::Folder::wait_for_change`]. The answer crosses as an
    /// integer: 0 changed, 1 timed out, 2 (or unknown) unsupported. Absent from the vtable
    /// of older plugins; the host checks the hello's minor before calling it.
    fn wait_for_change(&mut self, timeout_ms: u64) -> RResult<u8, FfiError> {
        let _ = timeout_ms;
        RResult::ROk(2)
    }

    /// Interface 1.3; see [`crate::Folder::prefetch_messages`]. Absent from the vtable of
    /// older plugins; the host checks the hello's minor before calling it.
    fn prefetch_messages(&mut self, uids: RVec<u32>) -> RResult<(), FfiError> {
        let _ = uids;
        RResult::ROk(())
    }

    /// Interface 1.3; see [`crate::Folder::start_append`]. Absent from the vtable of older
    /// plugins; the host checks the hello's minor before calling it.
    fn start_append(
        &mut self,
        messages: RVec<FfiNewMessage>,
    ) -> RResult<ROption<RVec<FfiNewMessage>>, FfiError> {
        RResult::ROk(ROption::RSome(messages))
    }

    /// Interface 1.3; see [`crate::Folder::finish_append`].
    fn finish_append(&mut self) -> RResult<RVec<ROption<u32>>, FfiError> {
        RResult::RErr(FfiError::from(crate::BackendError::folder(
            "finish_append without a batch started (a bug in the caller)",
        )))
    }
}

/// An owned repository trait object.
pub type FfiRepositoryBox = FfiRepository_TO<'static, RBox<()>>;
/// An owned folder trait object.
pub type FfiFolderBox = FfiFolder_TO<'static, RBox<()>>;

/// The root module every backend plugin exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = BackendModuleRef)))]
#[sabi(missing_field(panic))]
pub struct BackendModule {
    pub hello: extern "C" fn() -> RResult<FfiPluginHello, FfiError>,

    /// Opens a repository from its configuration (a JSON [`crate::RepositoryConfig`]).
    /// End of v1: new fields only below this one.
    #[sabi(last_prefix_field)]
    pub open_repository: extern "C" fn(
        config_json: RStr<'_>,
        host: FfiHostServices,
    ) -> RResult<FfiRepositoryBox, FfiError>,
}

impl RootModule for BackendModuleRef {
    declare_root_module_statics! {BackendModuleRef}
    const BASE_NAME: &'static str = "twinbox_backend";
    const NAME: &'static str = "twinbox_backend";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

// ---- conversions between the plain types and their FFI twins ----

use crate::{
    BackendError, ErrorScope, FetchedMessage, Flags, FolderChanges, FolderStatus, LineEnding,
    MessageInfo, NewMessage, PermanentFlags, Retry,
};

impl From<BackendError> for FfiError {
    fn from(error: BackendError) -> Self {
        FfiError {
            scope: match error.scope {
                ErrorScope::Message => 0,
                ErrorScope::Folder => 1,
                ErrorScope::Repository => 2,
            },
            retry: match error.retry {
                Retry::Now => 0,
                Retry::Later => 1,
                Retry::Never => 2,
            },
            message: error.message.into(),
        }
    }
}

impl From<FfiError> for BackendError {
    fn from(error: FfiError) -> Self {
        BackendError {
            scope: match error.scope {
                0 => ErrorScope::Message,
                1 => ErrorScope::Folder,
                _ => ErrorScope::Repository,
            },
            retry: match error.retry {
                0 => Retry::Now,
                1 => Retry::Later,
                _ => Retry::Never,
            },
            message: error.message.into(),
        }
    }
}

impl From<&Flags> for FfiFlags {
    fn from(flags: &Flags) -> Self {
        FfiFlags {
            system: flags.system_bits(),
            keywords: flags.keywords().map(RString::from).collect(),
        }
    }
}

impl From<FfiFlags> for Flags {
    fn from(flags: FfiFlags) -> Self {
        Flags::from_parts(flags.system, flags.keywords.into_iter().map(String::from))
    }
}

impl From<&PermanentFlags> for FfiPermanentFlags {
    fn from(flags: &PermanentFlags) -> Self {
        FfiPermanentFlags {
            flags: (&flags.flags).into(),
            any_keyword: flags.any_keyword,
        }
    }
}

impl From<FfiPermanentFlags> for PermanentFlags {
    fn from(flags: FfiPermanentFlags) -> Self {
        PermanentFlags {
            flags: flags.flags.into(),
            any_keyword: flags.any_keyword,
        }
    }
}

impl From<LineEnding> for FfiRepositoryInfo {
    fn from(line_ending: LineEnding) -> Self {
        FfiRepositoryInfo {
            line_ending: match line_ending {
                LineEnding::Lf => 0,
                LineEnding::CrLf => 1,
            },
        }
    }
}

impl From<FolderStatus> for FfiFolderStatus {
    fn from(status: FolderStatus) -> Self {
        FfiFolderStatus {
            uid_validity: status.uid_validity,
            uid_next: status.uid_next,
            highest_modseq: status.highest_modseq.into(),
            message_count: status.message_count,
            permanent_flags: (&status.permanent_flags).into(),
        }
    }
}

impl From<FfiFolderStatus> for FolderStatus {
    fn from(status: FfiFolderStatus) -> Self {
        FolderStatus {
            uid_validity: status.uid_validity,
            uid_next: status.uid_next,
            highest_modseq: status.highest_modseq.into(),
            message_count: status.message_count,
            permanent_flags: status.permanent_flags.into(),
        }
    }
}

impl From<MessageInfo> for FfiMessageInfo {
    fn from(info: MessageInfo) -> Self {
        FfiMessageInfo {
            uid: info.uid,
            flags: (&info.flags).into(),
            size: info.size,
            modseq: info.modseq.into(),
        }
    }
}

impl From<FfiMessageInfo> for MessageInfo {
    fn from(info: FfiMessageInfo) -> Self {
        MessageInfo {
            uid: info.uid,
            flags: info.flags.into(),
            size: info.size,
            modseq: info.modseq.into(),
        }
    }
}

impl From<FetchedMessage> for FfiFetchedMessage {
    fn from(message: FetchedMessage) -> Self {
        FfiFetchedMessage {
            uid: message.uid,
            bytes: message.bytes,
            internal_date: message.internal_date.into(),
        }
    }
}

impl From<FfiFetchedMessage> for FetchedMessage {
    fn from(message: FfiFetchedMessage) -> Self {
        FetchedMessage {
            uid: message.uid,
            // Moved, not copied: see [`crate::Body`].
            bytes: message.bytes,
            internal_date: message.internal_date.into(),
        }
    }
}

impl From<NewMessage> for FfiNewMessage {
    fn from(message: NewMessage) -> Self {
        FfiNewMessage {
            bytes: message.bytes,
            flags: (&message.flags).into(),
            internal_date: message.internal_date.into(),
        }
    }
}

impl From<FfiNewMessage> for NewMessage {
    fn from(message: FfiNewMessage) -> Self {
        NewMessage {
            // Moved, not copied: see [`crate::Body`].
            bytes: message.bytes,
            flags: message.flags.into(),
            internal_date: message.internal_date.into(),
        }
    }
}

impl From<FolderChanges> for FfiFolderChanges {
    fn from(changes: FolderChanges) -> Self {
        FfiFolderChanges {
            changed: changes.changed.into_iter().map(Into::into).collect(),
            vanished: changes.vanished.map(RVec::from).into(),
        }
    }
}

impl From<FfiFolderChanges> for FolderChanges {
    fn from(changes: FfiFolderChanges) -> Self {
        FolderChanges {
            changed: changes.changed.into_iter().map(Into::into).collect(),
            vanished: Option::from(changes.vanished).map(RVec::into_vec),
        }
    }
}
