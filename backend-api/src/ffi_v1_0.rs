//! The root module's layout as interface 1.0 declared it, frozen: what the host checks a
//! plugin against when the current layout check refuses it.
//!
//! Why it exists: abi_stable 0.11.3 lets a library have *more* methods in a
//! `#[sabi_trait]` vtable (or fields in a prefix module) than the loader expects, but
//! refuses one with *fewer* ("too many fields" when the loader's vtable is longer;
//! abi_stable_crates issue #118), although the methods after `#[sabi(last_prefix_field)]`
//! are exactly the ones its runtime treats as possibly missing (falling back to the trait's
//! default). So a host of interface 1.1 would refuse every plugin built for 1.0. The host
//! therefore checks a plugin first against the current layout and, if that fails, against
//! this one; a plugin that matches it exactly is a 1.0 plugin, loaded with the current
//! types (their first methods are laid out identically) and never asked for a method it
//! lacks.
//!
//! Every declaration here is a copy of interface 1.0's: the type names, field names and
//! method signatures are what abi_stable compares (module paths are not). Never edit it;
//! when interface 1.2 appears, freeze 1.1's declarations beside it in the same way.

#![allow(non_local_definitions)] // emitted by #[sabi_trait] on recent compilers
#![allow(missing_docs)]

use abi_stable::std_types::{RBox, ROption, RResult, RStr, RVec};
use abi_stable::{sabi_trait, StableAbi};

use crate::ffi::{
    FfiError, FfiFetchedMessage, FfiFlags, FfiFolderInfo, FfiFolderStatus, FfiHostServices,
    FfiMessageInfo, FfiNewMessage, FfiPluginHello, FfiRepositoryInfo,
};

#[sabi_trait]
pub trait FfiRepository: Send + Sync {
    fn info(&self) -> RResult<FfiRepositoryInfo, FfiError>;

    fn list_folders(&self) -> RResult<RVec<FfiFolderInfo>, FfiError>;

    fn create_folder(&self, path: RStr<'_>) -> RResult<(), FfiError>;

    #[sabi(last_prefix_field)]
    fn open_folder(&self, path: RStr<'_>) -> RResult<FfiFolderBox, FfiError>;
}

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

    #[sabi(last_prefix_field)]
    fn flush(&mut self) -> RResult<(), FfiError>;
}

pub type FfiRepositoryBox = FfiRepository_TO<'static, RBox<()>>;
pub type FfiFolderBox = FfiFolder_TO<'static, RBox<()>>;

#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = BackendModuleRef)))]
#[sabi(missing_field(panic))]
pub struct BackendModule {
    pub hello: extern "C" fn() -> RResult<FfiPluginHello, FfiError>,

    #[sabi(last_prefix_field)]
    pub open_repository: extern "C" fn(
        config_json: RStr<'_>,
        host: FfiHostServices,
    ) -> RResult<FfiRepositoryBox, FfiError>,
}

/// The layout of interface 1.0's root module, `(major, minor)` with it.
pub fn root_module_layout() -> ((u32, u32), &'static abi_stable::type_layout::TypeLayout) {
    ((1, 0), <BackendModuleRef as StableAbi>::LAYOUT)
}

#[cfg(test)]
mod tests {
    use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
    use abi_stable::StableAbi;

    use crate::ffi::BackendModuleRef;

    /// Pins the abi_stable behaviour this module works around: if it ever accepts a
    /// library with fewer vtable methods, the fallback check is no longer needed.
    #[test]
    fn abi_stable_refuses_a_plugin_with_fewer_methods_and_accepts_more() {
        let current = <BackendModuleRef as StableAbi>::LAYOUT;
        let (_, frozen) = super::root_module_layout();
        assert!(check_layout_compatibility(current, frozen).is_err());
        assert!(check_layout_compatibility(frozen, current).is_ok());
        assert!(check_layout_compatibility(frozen, frozen).is_ok());
    }
}
