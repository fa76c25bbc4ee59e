//! The plugin interface survives twinbox's own releases: a host built at another release
//! version loads the plugins built for the same interface, whatever release they came with.
//!
//! This is the failure it pins: the interface crate once took the workspace's version, so
//! bumping twinbox to 0.2.0 would have made abi_stable refuse every plugin built at 0.1.
//! The test copies the workspace, changes its release version, builds the host there and
//! loads into it the frozen interface-1.0 binary, the Maildir plugin of this build, and the
//! mbox plugin built on its own, outside any twinbox workspace, as a third party builds it.
//!
//! The builds go to `target/abi-across-releases/` so that a rerun only rebuilds what
//! changed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use twinbox_integration::*;

/// The twinbox release the copied workspace is built at: not the one of this checkout.
const OTHER_RELEASE: &str = "0.9.0";
/// The out-of-tree plugin's own version, unrelated to any twinbox release.
const OUTSIDE_PLUGIN_VERSION: &str = "7.3.1";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration/ is inside the workspace")
        .to_owned()
}

/// Where this test builds: beside the profile directories, kept between runs.
fn build_root() -> PathBuf {
    target_dir()
        .parent()
        .expect("the target directory")
        .join("abi-across-releases")
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create a directory of the copy");
    for entry in fs::read_dir(from).expect("read a workspace directory") {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let kind = entry.file_type().expect("a file type");
        if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(&name));
        } else if kind.is_file() {
            fs::copy(entry.path(), to.join(&name)).expect("copy a workspace file");
        }
    }
}

fn build(manifest: &Path, package: Option<&str>) {
    let mut command = cargo();
    command
        .arg("build")
        .arg("--offline")
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(build_root().join("target"));
    if let Some(package) = package {
        command.args(["-p", package]);
    }
    let output = command.output().expect("run cargo");
    assert!(
        output.status.success(),
        "cargo build of {} failed:\n{}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The workspace's `[workspace.dependencies]` line for `name`.
fn workspace_dependency(root_manifest: &str, name: &str) -> String {
    let section = root_manifest
        .split("[workspace.dependencies]")
        .nth(1)
        .expect("the root Cargo.toml has [workspace.dependencies]");
    section
        .lines()
        .find(|line| line.split_once('=').map(|(key, _)| key.trim()) == Some(name))
        .unwrap_or_else(|| panic!("{name} is not a workspace dependency"))
        .to_owned()
}

/// Builds the host from a copy of this workspace whose release version is
/// [`OTHER_RELEASE`], and returns the binary.
fn host_at_other_release() -> PathBuf {
    let copy = build_root().join("workspace");
    let _ = fs::remove_dir_all(&copy);
    copy_tree(&workspace_root(), &copy);
    let manifest = copy.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).expect("read the copied Cargo.toml");
    let (head, rest) = text
        .split_once("[workspace.package]\n")
        .expect("the root Cargo.toml has [workspace.package]");
    let release_line = rest
        .lines()
        .find(|line| line.starts_with("version = "))
        .expect("[workspace.package] has a version");
    assert_ne!(release_line, format!("version = \"{OTHER_RELEASE}\""));
    let rest = rest.replacen(release_line, &format!("version = \"{OTHER_RELEASE}\""), 1);
    fs::write(&manifest, format!("{head}[workspace.package]\n{rest}")).expect("write it");
    build(&manifest, Some("twinbox"));
    build_root().join("target/debug/twinbox")
}

/// Builds `plugins-example/mbox` as an outside author does: its own workspace, its own
/// version, the interface crate by path and everything else by version from crates.io.
fn mbox_built_outside_the_workspace() -> PathBuf {
    let root = workspace_root();
    let root_manifest = fs::read_to_string(root.join("Cargo.toml")).expect("read Cargo.toml");
    let source = root.join("plugins-example/mbox");
    let outside = build_root().join("outside-mbox");
    let _ = fs::remove_dir_all(&outside);
    copy_tree(&source.join("src"), &outside.join("src"));
    let original = fs::read_to_string(source.join("Cargo.toml")).expect("read its Cargo.toml");

    let mut manifest = String::new();
    let mut section = "";
    for line in original.lines() {
        if line.starts_with('[') {
            section = line;
            if section == "[dev-dependencies]" {
                continue;
            }
        }
        if section == "[dev-dependencies]" || line.starts_with('#') {
            continue; // only the library is built; its notes are for the real file
        }
        let line = if section == "[package]" && line.starts_with("version = ") {
            format!("version = \"{OUTSIDE_PLUGIN_VERSION}\"")
        } else if let Some((name, _)) = line.split_once(".workspace = true") {
            workspace_dependency(&root_manifest, name.trim())
        } else if let Some((before, path)) = line.split_once("path = \"") {
            let (relative, after) = path.split_once('"').expect("a quoted path");
            let absolute = source.join(relative);
            format!("{before}path = \"{}\"{after}", absolute.display())
        } else {
            line.to_owned()
        };
        manifest.push_str(&line);
        manifest.push('\n');
    }
    // Its own workspace: nothing of twinbox's workspace settings applies.
    manifest.push_str("\n[workspace]\n");
    assert!(
        !manifest.contains("workspace = true"),
        "every workspace entry replaced:\n{manifest}"
    );
    fs::write(outside.join("Cargo.toml"), manifest).expect("write its Cargo.toml");
    // The same dependency versions as this build (and no network needed).
    fs::copy(root.join("Cargo.lock"), outside.join("Cargo.lock")).expect("copy Cargo.lock");
    build(&outside.join("Cargo.toml"), None);
    build_root().join("target/debug/libtwinbox_mbox.so")
}

fn frozen_v1_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/libtwinbox_test_frozen_v1.so")
}

#[test]
fn a_host_of_another_release_loads_plugins_built_for_the_same_interface() {
    let host = host_at_other_release();
    let mbox_plugin = mbox_built_outside_the_workspace();

    let sandbox = Sandbox::new();
    let installed = sandbox.path().join("bin");
    fs::create_dir_all(&installed).unwrap();
    fs::copy(&host, installed.join("twinbox")).unwrap();
    for (from, name) in [
        (frozen_v1_fixture(), "libtwinbox_test_frozen_v1.so"),
        (target_dir().join(MAILDIR_PLUGIN), MAILDIR_PLUGIN),
        (mbox_plugin, "libtwinbox_mbox.so"),
    ] {
        fs::copy(from, installed.join(name)).unwrap();
    }

    let version = sandbox.run_installed(&installed, &["--version"]);
    version.assert_success();
    assert!(
        version.stdout.contains(OTHER_RELEASE),
        "the host is built at another release\n{version}"
    );

    let mbox_root = sandbox.path().join("mbox");
    fs::create_dir_all(&mbox_root).unwrap();
    let maildir = |name: &str| {
        repository_section(
            name,
            &format!(
                "type = Maildir\nlocalfolders = {}\n",
                sandbox.path().join(name).display()
            ),
        )
    };
    sandbox.write_config(&format!(
        "[general]\naccounts = Old, Outside\nmetadata = {metadata}\n\n\
         [Account Old]\nlocalrepository = OldLocal\nremoterepository = Frozen\n\n\
         [Account Outside]\nlocalrepository = OutsideLocal\nremoterepository = Mbox\n\n\
         {old_local}\n{outside_local}\n\
         [Repository Frozen]\ntype = frozenv1\n\n\
         [Repository Mbox]\ntype = mbox\nlocalfolders = {mbox}\n",
        metadata = sandbox.metadata().display(),
        old_local = maildir("OldLocal"),
        outside_local = maildir("OutsideLocal"),
        mbox = mbox_root.display(),
    ));

    let listing = sandbox.run_installed(&installed, &["plugins"]);
    listing.assert_code(0);
    for (name, plugin_version) in [
        ("FrozenV1", "1.0.0"),
        ("Maildir", env!("CARGO_PKG_VERSION")),
        ("mbox", OUTSIDE_PLUGIN_VERSION),
    ] {
        let row = listing
            .stdout
            .lines()
            .find(|line| line.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} is listed\n{listing}"));
        assert!(
            row.contains(&format!(" {plugin_version} ")) && row.ends_with(" ok"),
            "{name} loads\n{listing}"
        );
    }

    // A message delivered into the Maildir of the mbox account travels into the mbox.
    deliver_new(
        &create_folder(&sandbox.path().join("OutsideLocal/INBOX")),
        &message("from the new release"),
    );
    let outcome = sandbox.run_installed(&installed, &["sync"]);
    outcome.assert_success();
    assert!(
        outcome
            .account_line("Old")
            .contains("3 messages copied (3 to local, 0 to remote)"),
        "{outcome}"
    );
    assert!(
        outcome
            .account_line("Outside")
            .contains("1 message copied (0 to local, 1 to remote)"),
        "{outcome}"
    );
    let mbox = fs::read_to_string(mbox_root.join("INBOX")).expect("the mbox file exists");
    assert!(mbox.contains("from the new release"), "{mbox}");
}
