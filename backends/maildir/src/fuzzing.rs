//! Entry points for fuzzing (issue 12): each takes any input, must never panic, and
//! panics only when a property of the parser is broken. The crate's property tests
//! (`fuzz_tests.rs`) drive them on the stable toolchain in CI; `fuzz/` at the top of the
//! repository drives the same functions under `cargo fuzz` by hand. Not an API.

use backend_api::{Flags, SystemFlag};

use crate::names::{size_in_name, MessageName};

/// A Maildir file name: parsing never fails, gives the name back unchanged, and setting
/// flags or a UID keeps everything else.
pub fn file_name(name: &str, uid: u32, flag_bits: u8) {
    let parsed = MessageName::parse(name);
    assert_eq!(
        parsed.file_name(),
        name,
        "the name must come back unchanged"
    );
    let _ = size_in_name(name);
    let _ = parsed.flags();

    let mut flags = Flags::new();
    for (bit, flag) in SystemFlag::ALL.into_iter().enumerate() {
        if flag_bits & (1 << bit) != 0 {
            flags.insert(flag);
        }
    }
    let flagged = MessageName::parse(&parsed.with_flags(&flags).file_name());
    assert_eq!(
        flagged.uid, parsed.uid,
        "{name:?}: setting flags changed the UID"
    );
    for flag in SystemFlag::ALL {
        assert_eq!(
            flagged.flags().contains(flag),
            flags.contains(flag),
            "{name:?}: {flag:?} after setting {flags:?}"
        );
    }

    let uid = uid.max(1);
    let fmd5 = "0123456789abcdef0123456789abcdef";
    let renamed = parsed.with_uid(uid, fmd5);
    let reread = MessageName::parse(&renamed.file_name());
    assert_eq!(
        reread.uid_for(fmd5),
        Some(uid),
        "{name:?}: the UID written is not read back from {:?}",
        renamed.file_name()
    );
    assert_eq!(
        reread.flags(),
        parsed.flags(),
        "{name:?}: the UID changed the flags"
    );
}
