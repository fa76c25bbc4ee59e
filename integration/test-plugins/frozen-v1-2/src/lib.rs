//! The source of the frozen interface-1.2 plugin fixture.
//!
//! `integration/fixtures/libtwinbox_test_frozen_v1_2.so` was built from this file against
//! interface 1.2 (`twinbox-backend-api` 0.1.2, before `Folder::prefetch_messages` was
//! appended in 1.3) and is kept as a binary: a plugin of 1.2 must keep loading in a host of
//! a later minor, and the host must never call the methods it lacks (`prefetch_messages`
//! is skipped: it is only a hint). Rebuild it only when the major version changes (see
//! `integration/fixtures/README.md`).
//!
//! Type `FrozenV1_2`: an in-memory repository holding an INBOX with two messages.

use backend_api::{BackendError, Flags, Repository, RepositoryConfig, SystemFlag};
use backend_kit::memory::MemoryRepository;

pub struct FrozenV1_2;

impl backend_api::Backend for FrozenV1_2 {
    const NAME: &'static str = "FrozenV1_2";
    const VERSION: &'static str = "1.2.0";

    fn open(_config: RepositoryConfig) -> Result<Box<dyn Repository>, BackendError> {
        let repository = MemoryRepository::new();
        for (n, flags) in [
            (1, Flags::new()),
            (2, Flags::from_system(&[SystemFlag::Seen])),
        ] {
            let message = format!(
                "From: frozen@example.org\nSubject: frozen v1.2 message {n}\nMessage-ID: <frozen-1-2-{n}@example.org>\n\nbody {n}\n"
            );
            repository.deliver("INBOX", message.as_bytes(), flags);
        }
        Ok(Box::new(repository))
    }
}

backend_api::export_backend!(FrozenV1_2);
