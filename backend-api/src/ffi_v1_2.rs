//! The root module's layout as interface 1.2 declared it, frozen: what the host checks a
//! plugin against when the current layout check refuses it (after the current one, before
//! interface 1.1's and 1.0's; see `ffi_v1_0` for why these copies exist).
//!
//! Every declaration here is a copy of interface 1.2's: the type names, field names and
//! method signatures are what abi_stable compares (module paths are not). Never edit it;
//! when interface 1.4 appears, freeze 1.3's declarations beside it in the same way.

#![allow(non_local_definitions)] // emitted by #[sabi_trait] on recent compilers
#![allow(missing_docs)]

use abi_stable::std_types::{RBox, ROption, RResult, RStr, RVec};
use abi_stable::{sabi_trait, StableAbi};

use crate::ffi::{
    FfiError, FfiFetchedMessage, FfiFlags, FfiFolderChanges, FfiFolderInfo, FfiFolderStatus,
    FfiHostServices, FfiMessageInfo, FfiNewMessage, FfiPluginHello, FfiRepositoryInfo,
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

    fn list_changes(&mut self, since: u64) -> RResult<ROption<FfiFolderChanges>, FfiError> {
        let _ = since;
        RResult::ROk(ROption::RNone)
    }

    fn wait_for_change(&mut self, timeout_ms: u64) -> RResult<u8, FfiError> {
        let _ = timeout_ms;
        RResult::ROk(2)
    }
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

/// The layout of interface 1.2's root module, `(major, minor)` with it.
pub fn root_module_layout() -> ((u32, u32), &'static abi_stable::type_layout::TypeLayout) {
    ((1, 2), <BackendModuleRef as StableAbi>::LAYOUT)
}

#[cfg(test)]
mod tests {
    use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
    use abi_stable::StableAbi;

    use crate::ffi::BackendModuleRef;

    /// A 1.2 plugin is refused by the current layout check, hence this copy. (What the
    /// host does with it is tested by loading a real 1.2 plugin, in
    /// `integration/tests/plugin_contracts.rs`: abi_stable keeps a process-wide record of
    /// the prefix types it has checked, so checks of the other frozen layouts running in
    /// parallel tests would make finer assertions here flaky.)
    #[test]
    fn the_current_layout_refuses_a_1_2_plugin() {
        let current = <BackendModuleRef as StableAbi>::LAYOUT;
        let (version, frozen) = super::root_module_layout();
        assert_eq!(version, (1, 2));
        assert!(check_layout_compatibility(current, frozen).is_err());
    }
}
