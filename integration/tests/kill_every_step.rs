//! Kill at every step, for real (issue 12): each scenario of a table runs once normally
//! for its end state, then again from the same start killed right after its 1st, 2nd,
//! 3rd, ... durable step (a state commit or a flush), each time followed by a normal
//! rerun. Every rerun must reach exactly the uninterrupted end state (on the server and
//! in the Maildir), and a further run must change nothing.
//!
//! The kill is the hidden test switch `TWINBOX_TEST_EXIT_AFTER_STEPS=N`: twinbox aborts
//! (no destructor, nothing flushed) right after its Nth durable step. The table covers
//! new messages, flags and deletions both ways, folder creation, uploads to a server
//! without UIDPLUS, content pairing and `repair`. One Dovecot serves the whole table and
//! the mailboxes are small, to keep it to about a minute.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use twinbox_integration::dovecot::*;
use twinbox_integration::*;

const USER: &str = "carol";

/// The variable twinbox reads (host/src/state.rs, `EXIT_AFTER_STEPS_VARIABLE`).
const EXIT_AFTER_STEPS: &str = "TWINBOX_TEST_EXIT_AFTER_STEPS";

/// More steps than any scenario takes: a safety stop for a run that never ends.
const MAX_STEPS: u64 = 60;

/// What the server and the Maildir hold: folder -> content -> flag letters.
type Both = (
    BTreeMap<String, BTreeMap<Vec<u8>, String>>,
    BTreeMap<String, BTreeMap<Vec<u8>, String>>,
);

struct Scenario {
    name: &'static str,
    /// Fills both sides, syncs if the scenario starts from a synced account, and makes the
    /// changes the interrupted run is to carry over.
    prepare: fn(&Dovecot, &Sandbox),
    /// The twinbox command the scenario runs (killed and rerun alike).
    command: &'static [&'static str],
    /// Through the proxy that hides UIDPLUS.
    without_uidplus: bool,
}

fn inbox(sandbox: &Sandbox) -> std::path::PathBuf {
    create_folder(&sandbox.local().join("INBOX"))
}

fn server_uid(dovecot: &Dovecot, folder: &str, tag: &str) -> u32 {
    let content = message(tag);
    dovecot
        .fetch_all(USER, folder)
        .into_iter()
        .find(|m| crlf_to_lf(&m.body) == content)
        .unwrap_or_else(|| panic!("{tag} is not in {folder} on the server"))
        .uid
}

fn synced_inbox(dovecot: &Dovecot, sandbox: &Sandbox, tags: &[&str]) {
    for tag in tags {
        dovecot.deliver(USER, "INBOX", &message(tag), &[]);
    }
    inbox(sandbox);
    sync_ok(sandbox, &[]);
}

const TABLE: &[Scenario] = &[
    Scenario {
        name: "new messages both ways",
        prepare: |dovecot, sandbox| {
            synced_inbox(dovecot, sandbox, &["n-old"]);
            for n in 0..3 {
                dovecot.deliver(USER, "INBOX", &message(&format!("n-server-{n}")), &[]);
                deliver_new(&inbox(sandbox), &message(&format!("n-local-{n}")));
            }
        },
        command: &["sync"],
        without_uidplus: false,
    },
    Scenario {
        name: "flags both ways",
        prepare: |dovecot, sandbox| {
            synced_inbox(dovecot, sandbox, &["f-1", "f-2", "f-3", "f-4"]);
            for tag in ["f-1", "f-2"] {
                let uid = server_uid(dovecot, "INBOX", tag);
                dovecot.set_flags(USER, "INBOX", uid, &["\\Flagged"]);
            }
            for tag in ["f-3", "f-4"] {
                set_flags(&find_message(&inbox(sandbox), &message(tag)), "S");
            }
        },
        command: &["sync"],
        without_uidplus: false,
    },
    Scenario {
        name: "deletions both ways",
        prepare: |dovecot, sandbox| {
            synced_inbox(
                dovecot,
                sandbox,
                &["d-1", "d-2", "d-3", "d-4", "d-5", "d-6"],
            );
            let uid = server_uid(dovecot, "INBOX", "d-1");
            dovecot.expunge(USER, "INBOX", uid);
            fs::remove_file(find_message(&inbox(sandbox), &message("d-2"))).unwrap();
        },
        command: &["sync"],
        without_uidplus: false,
    },
    Scenario {
        name: "folder creation both ways",
        prepare: |dovecot, sandbox| {
            synced_inbox(dovecot, sandbox, &["c-0"]);
            dovecot.deliver(USER, "Lists", &message("c-server"), &["\\Seen"]);
            let projects = create_folder(&sandbox.local().join("Projects"));
            deliver_cur(&projects, &message("c-local-1"), "F");
            deliver_new(&projects, &message("c-local-2"));
        },
        command: &["sync"],
        without_uidplus: false,
    },
    Scenario {
        name: "uploads without UIDPLUS",
        prepare: |dovecot, sandbox| {
            synced_inbox(dovecot, sandbox, &["u-0"]);
            for n in 0..3 {
                deliver_new(&inbox(sandbox), &message(&format!("u-local-{n}")));
            }
        },
        command: &["sync"],
        without_uidplus: true,
    },
    Scenario {
        name: "content pairing",
        prepare: |dovecot, sandbox| {
            // No state yet: mail on both sides, most of it the same.
            let local = inbox(sandbox);
            for n in 0..3 {
                let tag = format!("p-both-{n}");
                dovecot.deliver(USER, "INBOX", &message(&tag), &["\\Seen"]);
                deliver_cur(&local, &message(&tag), if n == 0 { "F" } else { "" });
            }
            dovecot.deliver(USER, "INBOX", &message("p-server"), &[]);
            deliver_new(&local, &message("p-local"));
        },
        command: &["sync"],
        without_uidplus: false,
    },
    Scenario {
        name: "repair of a recreated folder",
        prepare: |dovecot, sandbox| {
            for tag in ["r-1", "r-2", "r-3"] {
                dovecot.deliver(USER, "Archive", &message(tag), &["\\Seen"]);
            }
            synced_inbox(dovecot, sandbox, &[]);
            dovecot.recreate_folder(USER, "Archive");
            deliver_new(&sandbox.local().join("Archive"), &message("r-local"));
        },
        command: &["repair"],
        without_uidplus: false,
    },
];

/// A fresh start for `scenario`: the user's server mailboxes emptied, a new sandbox.
fn start(dovecot: &Dovecot, proxy: &Proxy, scenario: &Scenario) -> Sandbox {
    let mail = dovecot.user_mail_dir(USER);
    if mail.exists() {
        fs::remove_dir_all(&mail).unwrap();
    }
    let port = if scenario.without_uidplus {
        proxy.port()
    } else {
        dovecot.imap_port()
    };
    let sandbox = maildir_imap_sandbox(
        "utf8foldernames = yes",
        &dovecot.plaintext_repository(USER, port),
    );
    (scenario.prepare)(dovecot, &sandbox);
    sandbox
}

fn end_state(dovecot: &Dovecot, local: &Path) -> Both {
    let server = dovecot
        .folders(USER)
        .into_iter()
        .map(|folder| {
            let map = dovecot.folder_map(USER, &folder);
            (folder, map)
        })
        .collect();
    (server, tree_map(local))
}

/// Runs the scenario's command killed after `steps` durable steps; whether it was killed
/// (a run with fewer steps finishes by itself, and must succeed).
fn killed_after(sandbox: &Sandbox, scenario: &Scenario, steps: u64) -> bool {
    let output = sandbox
        .command(scenario.command)
        .env(EXIT_AFTER_STEPS, steps.to_string())
        .output()
        .expect("run twinbox");
    match output.status.code() {
        Some(0) => false,
        None => true,
        Some(code) => panic!(
            "{}: killed after {steps} steps, twinbox exited {code} instead:\n{}{}",
            scenario.name,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

#[test]
fn every_scenario_killed_after_every_durable_step_reaches_the_same_end() {
    require_imap_plugin();
    let dovecot = Dovecot::start_default();
    let proxy = dovecot.proxy(ProxyOptions {
        strip_uidplus: true,
        ..ProxyOptions::default()
    });
    for scenario in TABLE {
        let sandbox = start(&dovecot, &proxy, scenario);
        run_twinbox(&sandbox, scenario.command).assert_success();
        let expected = end_state(&dovecot, &sandbox.local());
        assert_no_changes(&sandbox);

        let mut kills = 0;
        for steps in 1..=MAX_STEPS {
            let sandbox = start(&dovecot, &proxy, scenario);
            if !killed_after(&sandbox, scenario, steps) {
                break;
            }
            kills += 1;
            run_twinbox(&sandbox, scenario.command).assert_success();
            assert_eq!(
                end_state(&dovecot, &sandbox.local()),
                expected,
                "{}: killed after {steps} steps and rerun: not the uninterrupted end state",
                scenario.name
            );
            assert!(
                tmp_leftovers(&sandbox.local()).is_empty(),
                "{}: killed after {steps} steps: {:?}",
                scenario.name,
                tmp_leftovers(&sandbox.local())
            );
            assert_no_changes(&sandbox);
        }
        assert!(
            kills > 0 && kills < MAX_STEPS,
            "{}: {kills} kills (no step at all, or a run that never ends)",
            scenario.name
        );
        eprintln!("{}: killed at each of {kills} steps", scenario.name);
    }
}
