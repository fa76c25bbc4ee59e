//! The plugin side of the boundary: wraps a backend's [`Repository`] into the FFI traits.
//!
//! Every call is run inside `catch_unwind`: a panic in a plugin becomes a repository-level
//! error returned to the host, never an abort of the host process.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Once, OnceLock};

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RStr, RVec};

use crate::ffi::{
    BackendModule, BackendModuleRef, FfiError, FfiFetchedMessage, FfiFlags, FfiFolder,
    FfiFolderBox, FfiFolderChanges, FfiFolderInfo, FfiFolderStatus, FfiFolder_TO, FfiHostServices,
    FfiMessageInfo, FfiNewMessage, FfiPluginHello, FfiRepository, FfiRepositoryBox,
    FfiRepositoryInfo, FfiRepository_TO,
};
use crate::{BackendError, Folder, FolderPath, Repository, RepositoryConfig, INTERFACE_VERSION};

/// What a backend plugin implements; [`export_backend!`](crate::export_backend) turns it
/// into the plugin's root module.
pub trait Backend {
    /// The repository type, matched case-insensitively against `type =` in the config.
    const NAME: &'static str;
    /// The plugin's version, usually `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;

    /// The interface version the plugin claims. Never override it: it exists so that the
    /// host's refusal of other major versions can be tested with a real library.
    #[doc(hidden)]
    const INTERFACE: (u32, u32) = INTERFACE_VERSION;

    /// Optional features the plugin offers.
    fn capabilities() -> Vec<String> {
        Vec::new()
    }

    /// Opens the repository a config section describes. Errors name the option at fault.
    fn open(config: RepositoryConfig) -> Result<Box<dyn Repository>, BackendError>;
}

/// Exports `$backend` (a type implementing [`Backend`]) as this library's plugin root
/// module. Use it once, in a `cdylib` crate.
#[macro_export]
macro_rules! export_backend {
    ($backend:ty) => {
        #[$crate::abi_stable::export_root_module]
        pub fn twinbox_backend_root_module() -> $crate::ffi::BackendModuleRef {
            $crate::export_module::<$backend>()
        }
    };
}

/// Builds the root module for `B`. Called once by the code `export_backend!` generates.
pub fn export_module<B: Backend>() -> BackendModuleRef {
    BackendModule {
        hello: hello::<B>,
        open_repository: open_repository::<B>,
    }
    .leak_into_prefix()
}

extern "C" fn hello<B: Backend>() -> RResult<FfiPluginHello, FfiError> {
    quiet_panics();
    guard("hello", || {
        Ok(FfiPluginHello {
            name: B::NAME.into(),
            plugin_version: B::VERSION.into(),
            interface_major: B::INTERFACE.0,
            interface_minor: B::INTERFACE.1,
            capabilities: B::capabilities().into_iter().map(Into::into).collect(),
        })
    })
}

extern "C" fn open_repository<B: Backend>(
    config_json: RStr<'_>,
    host: FfiHostServices,
) -> RResult<FfiRepositoryBox, FfiError> {
    quiet_panics();
    install_host_logger(host);
    guard("open_repository", || {
        let config: RepositoryConfig = serde_json::from_str(config_json.as_str()).map_err(|e| {
            BackendError::repository(format!(
                "the host passed a configuration the plugin cannot read: {e}"
            ))
        })?;
        let repository = B::open(config)?;
        Ok(FfiRepository_TO::from_value(
            ExportedRepository { inner: repository },
            TD_Opaque,
        ))
    })
}

/// The default panic hook prints to stderr with a backtrace hint; the host reports the
/// panic as an error instead, so the plugin's own copy of std stays quiet (the message
/// still reaches the host's log at debug level).
fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log::debug!("plugin panicked: {info}");
        }))
    });
}

static HOST_SERVICES: OnceLock<FfiHostServices> = OnceLock::new();

struct HostLogger;

impl log::Log for HostLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        HOST_SERVICES
            .get()
            .is_some_and(|host| (metadata.level() as u8) <= host.max_log_level)
    }

    fn log(&self, record: &log::Record<'_>) {
        if let Some(host) = HOST_SERVICES.get() {
            if (record.level() as u8) <= host.max_log_level {
                let message = record.args().to_string();
                (host.log)(
                    record.level() as u8,
                    record.target().into(),
                    message.as_str().into(),
                );
            }
        }
    }

    fn flush(&self) {}
}

/// Routes this plugin's `log` macros to the host's logger.
fn install_host_logger(host: FfiHostServices) {
    let host = *HOST_SERVICES.get_or_init(|| host);
    static LOGGER: HostLogger = HostLogger;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(match host.max_log_level {
            0 => log::LevelFilter::Off,
            1 => log::LevelFilter::Error,
            2 => log::LevelFilter::Warn,
            3 => log::LevelFilter::Info,
            4 => log::LevelFilter::Debug,
            _ => log::LevelFilter::Trace,
        });
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// Runs one plugin call, turning an error or a panic into an [`FfiError`].
fn guard<T>(call: &str, body: impl FnOnce() -> Result<T, BackendError>) -> RResult<T, FfiError> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => RResult::ROk(value),
        Ok(Err(error)) => RResult::RErr(error.into()),
        Err(payload) => RResult::RErr(
            BackendError::repository(format!(
                "the plugin panicked in {call}: {}",
                panic_message(payload.as_ref())
            ))
            .into(),
        ),
    }
}

/// Drops a plugin object inside `catch_unwind`: dropping runs plugin code too (the IMAP
/// backend logs out over the network), and a panic unwinding out of the FFI drop function
/// would abort the host. A panic here is logged; there is no caller left to tell.
fn drop_guarded<T>(what: &str, value: T) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
        log::error!(
            "the plugin panicked while closing a {what}: {}",
            panic_message(payload.as_ref())
        );
    }
}

fn folder_path(path: RStr<'_>) -> Result<FolderPath, BackendError> {
    FolderPath::new(path.as_str()).map_err(|e| BackendError::folder(e.to_string()))
}

struct ExportedRepository {
    inner: Box<dyn Repository>,
}

/// What an exported object holds once its drop has taken the real one away.
struct Closed;

impl Repository for Closed {
    fn info(&self) -> Result<crate::RepositoryInfo, BackendError> {
        Err(BackendError::repository("closed"))
    }
    fn list_folders(&self) -> Result<Vec<crate::FolderInfo>, BackendError> {
        Err(BackendError::repository("closed"))
    }
    fn create_folder(&self, _: &FolderPath) -> Result<(), BackendError> {
        Err(BackendError::repository("closed"))
    }
    fn open_folder(&self, _: &FolderPath) -> Result<Box<dyn Folder>, BackendError> {
        Err(BackendError::repository("closed"))
    }
}

impl Drop for ExportedRepository {
    fn drop(&mut self) {
        let inner = std::mem::replace(&mut self.inner, Box::new(Closed));
        drop_guarded("repository", inner);
    }
}

impl FfiRepository for ExportedRepository {
    fn info(&self) -> RResult<FfiRepositoryInfo, FfiError> {
        guard("info", || Ok(self.inner.info()?.line_ending.into()))
    }

    fn list_folders(&self) -> RResult<RVec<FfiFolderInfo>, FfiError> {
        guard("list_folders", || {
            Ok(self
                .inner
                .list_folders()?
                .into_iter()
                .map(|folder| FfiFolderInfo {
                    path: String::from(folder.path).into(),
                    selectable: folder.selectable,
                })
                .collect())
        })
    }

    fn create_folder(&self, path: RStr<'_>) -> RResult<(), FfiError> {
        guard("create_folder", || {
            self.inner.create_folder(&folder_path(path)?)
        })
    }

    fn open_folder(&self, path: RStr<'_>) -> RResult<FfiFolderBox, FfiError> {
        guard("open_folder", || {
            let folder = self.inner.open_folder(&folder_path(path)?)?;
            Ok(FfiFolder_TO::from_value(
                ExportedFolder {
                    inner: Some(folder),
                },
                TD_Opaque,
            ))
        })
    }
}

struct ExportedFolder {
    /// `None` only while it is being dropped.
    inner: Option<Box<dyn Folder>>,
}

impl ExportedFolder {
    fn inner(&mut self) -> Result<&mut Box<dyn Folder>, BackendError> {
        self.inner
            .as_mut()
            .ok_or_else(|| BackendError::folder("the folder is closed"))
    }
}

impl Drop for ExportedFolder {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            drop_guarded("folder", inner);
        }
    }
}

impl FfiFolder for ExportedFolder {
    fn status(&mut self) -> RResult<FfiFolderStatus, FfiError> {
        guard("status", || Ok(self.inner()?.status()?.into()))
    }

    fn list_messages(&mut self) -> RResult<RVec<FfiMessageInfo>, FfiError> {
        guard("list_messages", || {
            Ok(self
                .inner()?
                .list_messages()?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    fn fetch_messages(&mut self, uids: RVec<u32>) -> RResult<RVec<FfiFetchedMessage>, FfiError> {
        guard("fetch_messages", || {
            Ok(self
                .inner()?
                .fetch_messages(&uids)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    fn append_messages(
        &mut self,
        messages: RVec<FfiNewMessage>,
    ) -> RResult<RVec<abi_stable::std_types::ROption<u32>>, FfiError> {
        guard("append_messages", || {
            let messages = messages.into_iter().map(Into::into).collect();
            Ok(self
                .inner()?
                .append_messages(messages)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    fn update_flags(
        &mut self,
        uids: RVec<u32>,
        add: FfiFlags,
        remove: FfiFlags,
    ) -> RResult<(), FfiError> {
        guard("update_flags", || {
            self.inner()?
                .update_flags(&uids, &add.into(), &remove.into())
        })
    }

    fn delete_messages(&mut self, uids: RVec<u32>) -> RResult<(), FfiError> {
        guard("delete_messages", || self.inner()?.delete_messages(&uids))
    }

    fn flush(&mut self) -> RResult<(), FfiError> {
        guard("flush", || self.inner()?.flush())
    }

    fn list_changes(
        &mut self,
        since: u64,
    ) -> RResult<abi_stable::std_types::ROption<FfiFolderChanges>, FfiError> {
        guard("list_changes", || {
            Ok(self.inner()?.list_changes(since)?.map(Into::into).into())
        })
    }

    fn wait_for_change(&mut self, timeout_ms: u64) -> RResult<u8, FfiError> {
        guard("wait_for_change", || {
            let timeout = std::time::Duration::from_millis(timeout_ms);
            Ok(match self.inner()?.wait_for_change(timeout)? {
                crate::FolderChange::Changed => 0,
                crate::FolderChange::TimedOut => 1,
                crate::FolderChange::Unsupported => 2,
            })
        })
    }

    fn start_append(
        &mut self,
        messages: RVec<FfiNewMessage>,
    ) -> RResult<abi_stable::std_types::ROption<RVec<FfiNewMessage>>, FfiError> {
        guard("start_append", || {
            let messages = messages.into_iter().map(Into::into).collect();
            Ok(self
                .inner()?
                .start_append(messages)?
                .map(|back| back.into_iter().map(Into::into).collect())
                .into())
        })
    }

    fn finish_append(&mut self) -> RResult<RVec<abi_stable::std_types::ROption<u32>>, FfiError> {
        guard("finish_append", || {
            Ok(self
                .inner()?
                .finish_append()?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    fn prefetch_messages(&mut self, uids: RVec<u32>) -> RResult<(), FfiError> {
        guard("prefetch_messages", || {
            self.inner()?.prefetch_messages(&uids)
        })
    }
}
