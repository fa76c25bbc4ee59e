//! Loading a plugin library: the layout check, our own versioned hello, and opening
//! repositories through it. Host-side only: plugins never link it.

use std::path::{Path, PathBuf};

use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
use abi_stable::library::{lib_header_from_path, IsLayoutChecked, LibHeader, LibraryError};
use abi_stable::std_types::RStr;

use backend_api::ffi::{BackendModuleRef, FfiHostServices};
use backend_api::{
    interface_version_of_crate, BackendError, PluginHello, Repository, RepositoryConfig,
    INTERFACE_CRATE_VERSION, INTERFACE_VERSION,
};

use super::imported::{checked_text, ImportedRepository};

/// Why a library could not be used as a plugin. Each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("{path}: cannot be loaded as a shared library: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("{path}: not a twinbox plugin (it exports no twinbox root module)")]
    NotAPlugin { path: PathBuf },
    #[error("{path}: its plugin interface does not match this twinbox's (the library declares {name} version {built_with}{}; this twinbox speaks interface {}.{}, twinbox-backend-api {}); rebuild the plugin against twinbox-backend-api {} (-vv shows the layout difference)", describe_interface(built_with), INTERFACE_VERSION.0, INTERFACE_VERSION.1, INTERFACE_CRATE_VERSION, INTERFACE_CRATE_VERSION)]
    IncompatibleLayout {
        path: PathBuf,
        /// The root module's name and the version of the interface crate that declared it.
        name: String,
        built_with: String,
        /// abi_stable's account of the difference (long: logged at debug level).
        reason: String,
    },
    #[error("{path}: plugin {name} {plugin_version} speaks interface {}.{}, this twinbox speaks {}.{}; install a version of the plugin built for interface {}.x", .interface.0, .interface.1, INTERFACE_VERSION.0, INTERFACE_VERSION.1, INTERFACE_VERSION.0)]
    IncompatibleInterface {
        path: PathBuf,
        name: String,
        plugin_version: String,
        interface: (u32, u32),
    },
    #[error("{path}: the plugin failed to start: {reason}")]
    Hello { path: PathBuf, reason: String },
}

/// A plugin library that loaded and said hello.
#[derive(Clone)]
pub struct LoadedPlugin {
    pub path: PathBuf,
    pub hello: PluginHello,
    module: BackendModuleRef,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("path", &self.path)
            .field("hello", &self.hello)
            .finish()
    }
}

/// Loads the library at `path`. Libraries are never unloaded (abi_stable keeps them).
pub fn load_plugin(path: &Path) -> Result<LoadedPlugin, LoadError> {
    let header = lib_header_from_path(path).map_err(|error| classify(path, error, None))?;
    let (module, layout_interface) = init_root_module(path, header)?;
    let hello = (module.hello())()
        .into_result()
        .map_err(|e| LoadError::Hello {
            path: path.to_owned(),
            reason: checked_text(e.message),
        })?;
    let mut hello = PluginHello {
        name: checked_text(hello.name),
        plugin_version: checked_text(hello.plugin_version),
        interface_version: (hello.interface_major, hello.interface_minor),
        capabilities: hello.capabilities.into_iter().map(checked_text).collect(),
    };
    if let Some(layout_interface) = layout_interface {
        if hello.interface_version > layout_interface {
            // Its layout is the older one: it has only that interface's methods, whatever
            // it says, and is treated accordingly.
            log::debug!(
                "{}: plugin {} says interface {}.{} but has the layout of {}.{}",
                path.display(),
                hello.name,
                hello.interface_version.0,
                hello.interface_version.1,
                layout_interface.0,
                layout_interface.1
            );
            hello.interface_version = layout_interface;
        }
    }
    log::debug!(
        "{}: plugin {} {} speaks interface {}.{}, capabilities: [{}]",
        path.display(),
        hello.name,
        hello.plugin_version,
        hello.interface_version.0,
        hello.interface_version.1,
        hello.capabilities.join(", ")
    );
    if hello.interface_version.0 != INTERFACE_VERSION.0 {
        return Err(LoadError::IncompatibleInterface {
            path: path.to_owned(),
            name: hello.name,
            plugin_version: hello.plugin_version,
            interface: hello.interface_version,
        });
    }
    Ok(LoadedPlugin {
        path: path.to_owned(),
        hello,
        module,
    })
}

/// The plugin's root module, checked against the current interface's layout or, failing
/// that, against the frozen layouts of the earlier interface minors, newest first (with
/// the minor that matched).
///
/// abi_stable alone refuses a library built for an earlier minor: it accepts prefix types
/// (vtables, modules) with more fields than the loader's but not fewer, although it is
/// built to run them, treating the missing methods as absent (see `backend_api::ffi_v1_0`).
/// A library that matches an earlier interface's layout exactly has the same first methods
/// and fields as the current types, so it is used through them; the host never calls what
/// it lacks (it goes by the interface version) and abi_stable would fall back to the
/// method's default if it did.
fn init_root_module(
    path: &Path,
    header: &'static LibHeader,
) -> Result<(BackendModuleRef, Option<(u32, u32)>), LoadError> {
    let error = match header.init_root_module::<BackendModuleRef>() {
        Ok(module) => return Ok((module, None)),
        Err(error @ LibraryError::AbiInstability(_)) => error,
        Err(other) => return Err(classify(path, other, Some(header))),
    };
    let IsLayoutChecked::Yes(found) = header.root_mod_consts().layout() else {
        return Err(classify(path, error, Some(header)));
    };
    // Newest first: a library of one minor passes no check of a later minor's layout,
    // but may pass an earlier one's.
    let Some(interface) = [
        backend_api::ffi_v1_2::root_module_layout(),
        backend_api::ffi_v1_1::root_module_layout(),
        backend_api::ffi_v1_0::root_module_layout(),
    ]
    .into_iter()
    .find(|(_, frozen)| check_layout_compatibility(frozen, found).is_ok())
    .map(|(interface, _)| interface) else {
        return Err(classify(path, error, Some(header)));
    };
    log::debug!(
        "{}: the layout of interface {}.{}",
        path.display(),
        interface.0,
        interface.1
    );
    // SAFETY: the layout was just checked, against an earlier interface's, whose types are
    // the current ones minus the methods and fields appended after their
    // `#[sabi(last_prefix_field)]`; abi_stable's prefix types carry their own field count
    // at run time, so a method the library lacks is never called through its vtable.
    let module = unsafe { header.init_root_module_with_unchecked_layout::<BackendModuleRef>() }
        .map_err(|error| classify(path, error, Some(header)))?;
    Ok((module, Some(interface)))
}

fn classify(path: &Path, error: LibraryError, header: Option<&LibHeader>) -> LoadError {
    let path = path.to_owned();
    match error {
        LibraryError::OpenError { err, .. } => LoadError::Open {
            path,
            reason: err.to_string(),
        },
        LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin { path },
        other => {
            log::debug!("{}: layout check failed: {other}", path.display());
            let consts = header.map(|h| h.root_mod_consts());
            LoadError::IncompatibleLayout {
                path,
                name: consts
                    .map_or_else(|| "an unknown module".to_owned(), |c| c.name().to_string()),
                built_with: consts.map_or_else(
                    || "unknown".to_owned(),
                    |c| c.version_strings().version.to_string(),
                ),
                reason: one_line(&other.to_string()),
            }
        }
    }
}

/// ", interface 1.3" for a library built against twinbox-backend-api 0.1.3; nothing for a
/// version that names no interface (a library that is not one of ours).
fn describe_interface(crate_version: &str) -> String {
    interface_version_of_crate(crate_version)
        .map(|(major, minor)| format!(", interface {major}.{minor}"))
        .unwrap_or_default()
}

fn one_line(text: &str) -> String {
    let mut line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() > 300 {
        let mut end = 300;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push_str("...");
    }
    line
}

extern "C" fn host_log(level: u8, target: RStr<'_>, message: RStr<'_>) {
    let level = match level {
        1 => log::Level::Error,
        2 => log::Level::Warn,
        3 => log::Level::Info,
        4 => log::Level::Debug,
        _ => log::Level::Trace,
    };
    // Both are the plugin's bytes: checked as UTF-8 before they are read as text.
    let text = |s: RStr<'_>| String::from_utf8_lossy(s.as_rslice().as_slice()).into_owned();
    log::log!(target: &text(target), level, "{}", text(message));
}

impl LoadedPlugin {
    /// Opens a repository of this plugin's type.
    pub fn open_repository(
        &self,
        config: &RepositoryConfig,
    ) -> Result<Box<dyn Repository>, BackendError> {
        let json = serde_json::to_string(config).map_err(|e| {
            BackendError::repository(format!("cannot encode the configuration: {e}"))
        })?;
        let host = FfiHostServices {
            max_log_level: log::max_level() as u8,
            log: host_log,
        };
        let repository = (self.module.open_repository())(json.as_str().into(), host)
            .into_result()
            .map_err(BackendError::from)?;
        Ok(Box::new(ImportedRepository::new(
            repository,
            self.hello.name.clone(),
            self.hello.interface_version,
        )))
    }
}
