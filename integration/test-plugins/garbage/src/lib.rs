//! A plugin that breaks the interface contract, for the integration tests only.
//!
//! Unlike a real backend it implements the FFI traits directly, without the adapters of
//! `backend-api`, so it can send what no well-behaved plugin can: folder names that are
//! not UTF-8, UID 0, UIDs that go backwards. The host's import adapter must turn each
//! into an error for that account, and carry on with the others.
//!
//! Its type is `Garbage`; the `garbage` option of its `[Repository]` section chooses the
//! fault: `invalid-utf8-name`, `uid-zero` or `uid-backwards`. It has one folder, INBOX.

#![allow(non_local_definitions)]

use abi_stable::export_root_module;
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RNone, ROk, RResult, RStr, RString, RVec};
use backend_api::ffi::{
    BackendModule, BackendModuleRef, FfiError, FfiFetchedMessage, FfiFlags, FfiFolder,
    FfiFolderBox, FfiFolderInfo, FfiFolderStatus, FfiFolder_TO, FfiHostServices, FfiMessageInfo,
    FfiNewMessage, FfiPermanentFlags, FfiPluginHello, FfiRepository, FfiRepositoryBox,
    FfiRepositoryInfo, FfiRepository_TO,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    InvalidUtf8Name,
    UidZero,
    UidBackwards,
}

fn refused(message: &str) -> FfiError {
    FfiError {
        scope: 2,
        retry: 2,
        message: message.into(),
    }
}

extern "C" fn hello() -> RResult<FfiPluginHello, FfiError> {
    ROk(FfiPluginHello {
        name: "Garbage".into(),
        plugin_version: "0.0.1".into(),
        interface_major: backend_api::INTERFACE_VERSION.0,
        interface_minor: backend_api::INTERFACE_VERSION.1,
        capabilities: RVec::new(),
    })
}

extern "C" fn open_repository(
    config_json: RStr<'_>,
    _host: FfiHostServices,
) -> RResult<FfiRepositoryBox, FfiError> {
    let config: serde_json::Value = match serde_json::from_str(config_json.as_str()) {
        Ok(value) => value,
        Err(_) => return RResult::RErr(refused("unreadable configuration")),
    };
    let fault = match config["options"]["garbage"].as_str() {
        Some("invalid-utf8-name") => Fault::InvalidUtf8Name,
        Some("uid-zero") => Fault::UidZero,
        Some("uid-backwards") => Fault::UidBackwards,
        _ => {
            return RResult::RErr(refused(
                "set garbage = invalid-utf8-name, uid-zero or uid-backwards",
            ))
        }
    };
    ROk(FfiRepository_TO::from_value(
        GarbageRepository { fault },
        TD_Opaque,
    ))
}

#[export_root_module]
pub fn twinbox_backend_root_module() -> BackendModuleRef {
    BackendModule {
        hello,
        open_repository,
    }
    .leak_into_prefix()
}

struct GarbageRepository {
    fault: Fault,
}

impl FfiRepository for GarbageRepository {
    fn info(&self) -> RResult<FfiRepositoryInfo, FfiError> {
        ROk(FfiRepositoryInfo { line_ending: 0 })
    }

    fn list_folders(&self) -> RResult<RVec<FfiFolderInfo>, FfiError> {
        let path = if self.fault == Fault::InvalidUtf8Name {
            // SAFETY: deliberately not UTF-8; RString promises UTF-8, and this plugin
            // breaks the promise to check that the host never trusts it blindly. The host
            // only ever reads the bytes.
            unsafe { RString::from_utf8_unchecked(RVec::from(vec![b'I', b'N', 0xff, b'X'])) }
        } else {
            RString::from("INBOX")
        };
        ROk(RVec::from(vec![FfiFolderInfo {
            path,
            selectable: true,
        }]))
    }

    fn create_folder(&self, _path: RStr<'_>) -> RResult<(), FfiError> {
        ROk(())
    }

    fn open_folder(&self, _path: RStr<'_>) -> RResult<FfiFolderBox, FfiError> {
        ROk(FfiFolder_TO::from_value(
            GarbageFolder { fault: self.fault },
            TD_Opaque,
        ))
    }
}

struct GarbageFolder {
    fault: Fault,
}

fn no_flags() -> FfiFlags {
    FfiFlags {
        system: 0,
        keywords: RVec::new(),
    }
}

impl FfiFolder for GarbageFolder {
    fn status(&mut self) -> RResult<FfiFolderStatus, FfiError> {
        ROk(FfiFolderStatus {
            uid_validity: 1,
            uid_next: 10,
            highest_modseq: RNone,
            message_count: 2,
            permanent_flags: FfiPermanentFlags {
                flags: FfiFlags {
                    system: 0x1f,
                    keywords: RVec::new(),
                },
                any_keyword: false,
            },
        })
    }

    fn list_messages(&mut self) -> RResult<RVec<FfiMessageInfo>, FfiError> {
        let uids: [u32; 2] = match self.fault {
            Fault::UidZero => [0, 1],
            Fault::UidBackwards => [5, 3],
            Fault::InvalidUtf8Name => [1, 2],
        };
        ROk(uids
            .into_iter()
            .map(|uid| FfiMessageInfo {
                uid,
                flags: no_flags(),
                size: 10,
                modseq: RNone,
            })
            .collect())
    }

    fn fetch_messages(&mut self, _uids: RVec<u32>) -> RResult<RVec<FfiFetchedMessage>, FfiError> {
        ROk(RVec::new())
    }

    fn append_messages(
        &mut self,
        _messages: RVec<FfiNewMessage>,
    ) -> RResult<RVec<abi_stable::std_types::ROption<u32>>, FfiError> {
        RResult::RErr(refused("the garbage plugin stores nothing"))
    }

    fn update_flags(
        &mut self,
        _uids: RVec<u32>,
        _add: FfiFlags,
        _remove: FfiFlags,
    ) -> RResult<(), FfiError> {
        ROk(())
    }

    fn delete_messages(&mut self, _uids: RVec<u32>) -> RResult<(), FfiError> {
        ROk(())
    }

    fn flush(&mut self) -> RResult<(), FfiError> {
        ROk(())
    }
}
