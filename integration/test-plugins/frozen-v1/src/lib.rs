//! The source of the frozen v1 plugin fixture.
//!
//! `integration/fixtures/libtwinbox_test_frozen_v1.so` was built from this file against
//! interface 1.0 and is kept as a binary: when the interface gains methods, that old
//! library must keep loading and working in the new host (abi_stable checks the layout,
//! and the host must not call methods a 1.0 plugin lacks). Rebuilding the fixture would
//! defeat the test; do it only when the major version changes (see
//! `integration/fixtures/README.md`).
//!
//! Type `FrozenV1`: an in-memory repository holding an INBOX with three messages.

use backend_api::{BackendError, Flags, Repository, RepositoryConfig, SystemFlag};
use backend_kit::memory::MemoryRepository;

pub struct FrozenV1;

impl backend_api::Backend for FrozenV1 {
    const NAME: &'static str = "FrozenV1";
    const VERSION: &'static str = "1.0.0";

    fn open(_config: RepositoryConfig) -> Result<Box<dyn Repository>, BackendError> {
        let repository = MemoryRepository::new();
        for (n, flags) in [
            (1, Flags::new()),
            (2, Flags::from_system(&[SystemFlag::Seen])),
            (3, Flags::from_system(&[SystemFlag::Flagged])),
        ] {
            let message = format!(
                "From: frozen@example.org\nSubject: frozen v1 message {n}\nMessage-ID: <frozen-{n}@example.org>\n\nbody {n}\n"
            );
            repository.deliver("INBOX", message.as_bytes(), flags);
        }
        Ok(Box::new(repository))
    }
}

backend_api::export_backend!(FrozenV1);
