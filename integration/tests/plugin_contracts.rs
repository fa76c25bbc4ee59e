//! A plugin that breaks the interface contract (names that are not UTF-8, UID 0, UIDs
//! that go backwards) gives an error for its own account; the host neither crashes nor
//! trusts the garbage, and the other accounts of the same run still sync.

use twinbox_integration::*;

#[test]
fn garbage_from_a_plugin_fails_its_account_only() {
    let sandbox = Sandbox::new();
    let accounts = MixedAccounts::write(
        &sandbox,
        &[
            ("NotUtf8", "type = Garbage\ngarbage = invalid-utf8-name\n"),
            ("UidZero", "type = Garbage\ngarbage = uid-zero\n"),
            ("Backwards", "type = Garbage\ngarbage = uid-backwards\n"),
        ],
    );
    // The local side's messages stay as they are (a Maildir may still give a delivered
    // file its UID: bookkeeping, not a change of mail).
    let before = tree_map(&accounts.bad_local);

    let outcome = sandbox.run(&["sync"]);
    accounts.assert_good_account_unharmed(&outcome);
    let not_utf8 = outcome.account_line("NotUtf8");
    assert!(not_utf8.contains("FAILED"), "{outcome}");
    assert!(
        not_utf8.contains("plugin Garbage broke the interface contract"),
        "{outcome}"
    );
    assert!(not_utf8.contains("not UTF-8"), "{outcome}");
    for (account, what) in [
        ("UidZero", "UID 0"),
        ("Backwards", "not strictly ascending"),
    ] {
        assert!(
            outcome.account_line(account).contains("1 error"),
            "{outcome}"
        );
        let error = outcome
            .stdout
            .lines()
            .find(|l| l.contains("ERROR") && l.contains(what))
            .unwrap_or_else(|| panic!("an INBOX error about {what}\n{outcome}"));
        assert!(
            error.contains("plugin Garbage broke the interface contract in folder INBOX"),
            "{outcome}"
        );
    }
    assert_same_tree(&before, &tree_map(&accounts.bad_local));
}

/// The plugin built against interface 1.0 and kept as a binary (see
/// `integration/fixtures/README.md`).
fn frozen_v1_fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/libtwinbox_test_frozen_v1.so")
}

#[test]
fn a_plugin_built_against_interface_1_0_keeps_working() {
    let sandbox = Sandbox::new();
    let installed = sandbox.install();
    std::fs::copy(
        frozen_v1_fixture(),
        installed.join("libtwinbox_test_frozen_v1.so"),
    )
    .unwrap();

    sandbox.write_config(&sandbox.account_config(
        "Old",
        "",
        &maildir_section("Local", &sandbox.local()),
        &repository_section("Remote", "type = frozenv1\n"),
    ));
    let outcome = sandbox.run_installed(&installed, &["plugins"]);
    outcome.assert_code(0);
    let row = outcome
        .stdout
        .lines()
        .find(|l| l.starts_with("FrozenV1 "))
        .unwrap_or_else(|| panic!("the frozen plugin is listed\n{outcome}"));
    assert!(
        row.contains(" 1.0.0 ") && row.contains(" 1.0 ") && row.ends_with(" ok"),
        "{outcome}"
    );

    let outcome = sandbox.run_installed(&installed, &["sync"]);
    outcome.assert_success();
    assert!(
        outcome
            .account_line("Old")
            .contains("3 messages copied (3 to local, 0 to remote)"),
        "{outcome}"
    );
    let inbox = folder_map(&sandbox.local().join("INBOX"));
    assert_eq!(inbox.len(), 3, "{inbox:?}");
    assert!(inbox.values().any(|flags| flags == "S") && inbox.values().any(|flags| flags == "F"));
}

#[test]
fn a_plugin_with_another_layout_is_refused_by_the_layout_check() {
    let sandbox = Sandbox::new();
    sandbox.write_two_maildirs_config("");
    let installed = sandbox.install();
    let bad = "libtwinbox_test_bad_layout.so";
    std::fs::copy(test_plugin_dir().join(bad), installed.join(bad)).unwrap();

    let outcome = sandbox.run_installed(&installed, &["plugins"]);
    outcome.assert_code(0);
    let row = outcome
        .stdout
        .lines()
        .find(|l| l.contains(bad))
        .unwrap_or_else(|| panic!("the library is listed\n{outcome}"));
    assert!(
        row.contains("error: its plugin interface does not match")
            && row.contains("version 0.1.0")
            && row.contains("rebuild the plugin against twinbox-backend-api"),
        "{outcome}"
    );
    // It stops nothing else.
    sandbox
        .run_installed(&installed, &["sync"])
        .assert_success();
}

/// The plugin built against interface 1.1 (before 1.2 appended `wait_for_change`) and
/// kept as a binary, like the 1.0 one.
fn frozen_v1_1_fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/libtwinbox_test_frozen_v1_1.so")
}

/// The plugin built against interface 1.2 (before 1.3 appended `prefetch_messages`) and
/// kept as a binary, like the others.
fn frozen_v1_2_fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/libtwinbox_test_frozen_v1_2.so")
}

/// One host loads plugins of every minor of interface 1 side by side: each is checked
/// against its own frozen layout (newest first), whatever the order they are found in.
#[test]
fn plugins_built_against_interfaces_1_0_1_1_and_1_2_load_beside_current_ones() {
    let sandbox = Sandbox::new();
    let installed = sandbox.install();
    for (fixture, name) in [
        (frozen_v1_fixture(), "libtwinbox_test_frozen_v1.so"),
        (frozen_v1_1_fixture(), "libtwinbox_test_frozen_v1_1.so"),
        (frozen_v1_2_fixture(), "libtwinbox_test_frozen_v1_2.so"),
    ] {
        std::fs::copy(fixture, installed.join(name)).unwrap();
    }
    sandbox.write_config(&sandbox.account_config(
        "Old",
        "",
        &maildir_section("Local", &sandbox.local()),
        &repository_section("Remote", "type = frozenv1_2\n"),
    ));
    let outcome = sandbox.run_installed(&installed, &["plugins"]);
    outcome.assert_code(0);
    for (name, version, interface) in [
        ("FrozenV1 ", " 1.0.0 ", " 1.0 "),
        ("FrozenV1_1 ", " 1.1.0 ", " 1.1 "),
        ("FrozenV1_2 ", " 1.2.0 ", " 1.2 "),
        ("Maildir ", "", " 1.3 "),
    ] {
        let row = outcome
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}is listed\n{outcome}"));
        assert!(
            row.contains(version) && row.contains(interface) && row.ends_with(" ok"),
            "{name}: {outcome}"
        );
    }

    let outcome = sandbox.run_installed(&installed, &["sync"]);
    outcome.assert_success();
    assert!(
        outcome
            .account_line("Old")
            .contains("2 messages copied (2 to local, 0 to remote)"),
        "{outcome}"
    );
}

/// Issue 9: a sync loads only the plugins its repositories' types need (each library
/// loaded costs resident memory and runs its initialisers); the others, even broken ones,
/// are listed by `twinbox plugins` but never touched by a sync that does not need them.
#[test]
fn a_sync_loads_only_the_plugins_its_repositories_use() {
    let sandbox = Sandbox::new();
    sandbox.write_two_maildirs_config("");
    let installed = sandbox.install();
    let broken = "libtwinbox_broken.so";
    std::fs::write(
        installed.join(broken),
        "not a library: fails if it is ever loaded",
    )
    .unwrap();

    // -vv logs each plugin loaded ("PATH: plugin NAME VERSION speaks interface ...").
    let outcome = sandbox.run_installed(&installed, &["-vv", "sync"]);
    outcome.assert_code(0);
    assert!(
        outcome
            .stderr
            .contains("libtwinbox_maildir.so: plugin Maildir "),
        "{outcome}"
    );
    assert!(!outcome.stderr.contains("plugin Panicking"), "{outcome}");
    assert!(!outcome.stderr.contains(broken), "{outcome}");

    // Listing the plugins loads every library.
    let outcome = sandbox.run_installed(&installed, &["plugins"]);
    outcome.assert_code(0);
    assert!(
        outcome
            .stdout
            .lines()
            .any(|l| l.starts_with("Panicking ") && l.ends_with(" ok")),
        "{outcome}"
    );
    assert!(
        outcome
            .stdout
            .lines()
            .any(|l| l.contains(broken) && l.contains("error: ")),
        "{outcome}"
    );

    // A type no file is named after: every library is loaded to look for it, and the
    // error lists what there is.
    sandbox.write_config(&sandbox.account_config(
        "Unknown",
        "",
        &maildir_section("Local", &sandbox.local()),
        &repository_section("Remote", "type = Nowhere\n"),
    ));
    let outcome = sandbox.run_installed(&installed, &["sync"]);
    outcome.assert_code(2);
    assert!(
        outcome
            .stderr
            .contains("no plugin for repository type \"Nowhere\" (available: Maildir, Panicking;"),
        "{outcome}"
    );
    assert!(
        outcome.stderr.contains("1 library failed to load"),
        "{outcome}"
    );
}
