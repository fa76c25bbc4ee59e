//! A plugin built against a different interface layout, for the integration tests only.
//!
//! It exports a root module under twinbox's module name, but declared here with another
//! shape (an extra field, another argument type), as a plugin built against an
//! incompatible copy of the interface would. abi_stable's layout check must refuse it
//! before anything is called, and the host must say so and carry on.

use abi_stable::library::RootModule;
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::RString;
use abi_stable::{declare_root_module_statics, export_root_module, StableAbi};

#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = BackendModuleRef)))]
#[sabi(missing_field(panic))]
pub struct BackendModule {
    pub hello: extern "C" fn(u64) -> RString,
    pub extra: u32,
    #[sabi(last_prefix_field)]
    pub open_repository: extern "C" fn() -> u8,
}

impl RootModule for BackendModuleRef {
    declare_root_module_statics! {BackendModuleRef}
    const BASE_NAME: &'static str = "twinbox_backend";
    const NAME: &'static str = "twinbox_backend";
    // An interface version the host accepts (twinbox-backend-api 0.1.0 is interface 1.0,
    // which every host of interface 1.x loads), so that only the layout check can refuse it.
    const VERSION_STRINGS: VersionStrings = VersionStrings::new("0.1.0");
}

extern "C" fn hello(_: u64) -> RString {
    RString::from("never called")
}

extern "C" fn open_repository() -> u8 {
    0
}

#[export_root_module]
pub fn twinbox_backend_root_module() -> BackendModuleRef {
    BackendModule {
        hello,
        extra: 7,
        open_repository,
    }
    .leak_into_prefix()
}
