//! Tiered incremental sync against a real Dovecot (issue 9, Deliver 4): the same changes
//! on both sides end the same with QRESYNC, with CONDSTORE only (as Gmail) and with
//! neither (as Exchange), and a no-change re-sync no longer lists every message where the
//! server keeps MODSEQs: measured in what Dovecot sent (`out=` of its logout lines).

use std::collections::BTreeMap;
use std::fs;

use twinbox_integration::dovecot::*;
use twinbox_integration::*;

const USER: &str = "alice";
const MESSAGES: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tier {
    Qresync,
    Condstore,
    Neither,
}

impl Tier {
    /// What Dovecot advertises: its own list, or the minimal one plus UIDPLUS (so that
    /// only the tier differs between the runs) and CONDSTORE.
    fn capability(self) -> Option<String> {
        match self {
            Tier::Qresync => None,
            Tier::Condstore => Some(format!("{MINIMAL_CAPABILITY} UIDPLUS CONDSTORE")),
            Tier::Neither => Some(format!("{MINIMAL_CAPABILITY} UIDPLUS")),
        }
    }
}

/// The bytes Dovecot sent in the sessions that ended since `log` was `before`.
fn bytes_sent(log: &str, before: usize) -> u64 {
    log[before..]
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("out="))
        .filter_map(|n| n.trim_end_matches(',').parse::<u64>().ok())
        .sum()
}

/// The length of Dovecot's log once it stopped growing: a session's logout line (with
/// its `out=`) is written a little after the session ends, the harness's own sessions
/// (which fetch every message to compare) included, and must not be counted as the
/// measured run's.
fn settled_log_length(dovecot: &Dovecot) -> usize {
    let mut length = dovecot.log().len();
    for _ in 0..40 {
        std::thread::sleep(std::time::Duration::from_millis(250));
        let now = dovecot.log().len();
        if now == length {
            break;
        }
        length = now;
    }
    length
}

/// Runs `twinbox -vv sync`, which must succeed; its stderr holds the debug log.
fn verbose_sync(sandbox: &Sandbox) -> Outcome {
    let outcome = run_twinbox(sandbox, &["-vv", "sync"]);
    outcome.assert_code(0);
    outcome
}

struct Ending {
    server: BTreeMap<Vec<u8>, String>,
    local: BTreeMap<Vec<u8>, String>,
    no_change_bytes: u64,
    no_change_log: String,
}

fn scenario(tier: Tier) -> Ending {
    let dovecot = Dovecot::start(DovecotOptions {
        imap_capability: tier.capability(),
        ..DovecotOptions::default()
    });
    let mut uids = Vec::new();
    for n in 0..MESSAGES {
        uids.push(dovecot.deliver(USER, "INBOX", &message(&format!("m{n}")), &[]));
    }
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER));
    sync_ok(&sandbox, &[]);
    sync_ok(&sandbox, &[]);

    // Server: a flag change, a new message, an expunge. Local: a flag change, a new
    // message, a deletion.
    dovecot.set_flags(USER, "INBOX", uids[0], &["\\Flagged"]);
    dovecot.deliver(USER, "INBOX", &message("server-new"), &["\\Seen"]);
    dovecot.expunge(USER, "INBOX", uids[1]);
    let inbox = sandbox.local().join("INBOX");
    let files = messages(&inbox);
    let by_content = |name: &str| {
        files
            .iter()
            .find(|f| f.content == message(name))
            .unwrap_or_else(|| panic!("{name} is local"))
            .path
            .clone()
    };
    let seen_here = by_content("m2");
    let name = seen_here
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name");
    let base = name.split(":2,").next().expect("a base name");
    fs::rename(&seen_here, inbox.join("cur").join(format!("{base}:2,S"))).expect("rename");
    fs::remove_file(by_content("m3")).expect("delete");
    deliver_new(&inbox, &message("local-new"));

    let outcome = sync_ok(&sandbox, &[]);
    assert!(
        outcome
            .account_line(ACCOUNT)
            .contains("1 to local, 1 to remote"),
        "{tier:?}: {outcome}"
    );
    assert_folder_matches(&dovecot, USER, "INBOX", &inbox);
    // Once more to settle the MODSEQs after the run's own changes, then measure.
    assert_no_changes(&sandbox);
    let before = settled_log_length(&dovecot);
    let measured = verbose_sync(&sandbox);
    assert!(
        measured.stdout.contains("no changes"),
        "{tier:?}: {measured}"
    );
    settled_log_length(&dovecot);
    let no_change_bytes = bytes_sent(&dovecot.log(), before);
    Ending {
        server: dovecot.folder_map(USER, "INBOX"),
        local: folder_map(&inbox),
        no_change_bytes,
        no_change_log: measured.stderr,
    }
}

#[test]
fn every_tier_ends_the_same_and_qresync_and_condstore_resyncs_list_only_changes() {
    let tiers = [Tier::Qresync, Tier::Condstore, Tier::Neither];
    let endings: Vec<Ending> = tiers.iter().map(|tier| scenario(*tier)).collect();
    for (tier, ending) in tiers.iter().zip(&endings) {
        assert_eq!(ending.server, ending.local, "{tier:?}: both sides equal");
        assert_eq!(
            ending.server, endings[0].server,
            "{tier:?} ends as QRESYNC does"
        );
        assert_eq!(ending.server.len(), MESSAGES + 2 - 2);
        eprintln!(
            "{tier:?}: a no-change re-sync of {} messages: Dovecot sent {} bytes",
            ending.server.len(),
            ending.no_change_bytes
        );
    }
    let [qresync, condstore, neither] = [&endings[0], &endings[1], &endings[2]];
    for (tier, ending) in [(Tier::Qresync, qresync), (Tier::Condstore, condstore)] {
        assert!(
            ending.no_change_log.contains("0 messages changed and"),
            "{tier:?} uses the changes: {}",
            ending.no_change_log
        );
        assert!(
            !ending
                .no_change_log
                .contains("listing the remote side in full"),
            "{tier:?}: {}",
            ending.no_change_log
        );
        assert!(
            ending.no_change_bytes > 0 && ending.no_change_bytes * 4 < neither.no_change_bytes,
            "{tier:?} sends a fraction of a full listing: {} vs {} bytes",
            ending.no_change_bytes,
            neither.no_change_bytes
        );
    }
    assert!(
        qresync.no_change_log.contains("0 vanished since MODSEQ"),
        "{}",
        qresync.no_change_log
    );
    assert!(
        condstore
            .no_change_log
            .contains("unknown vanished since MODSEQ"),
        "{}",
        condstore.no_change_log
    );
}

/// Folders of the many-folders scenario; INBOX exists already.
const FOLDERS: [&str; 5] = ["INBOX", "One", "Two", "Three", "Four"];
const PER_FOLDER: usize = 30;

/// What `doveadm mailbox status` says of a folder's HIGHESTMODSEQ and UIDNEXT.
fn modseq_and_uidnext(dovecot: &Dovecot, folder: &str) -> String {
    dovecot
        .doveadm(&[
            "-f",
            "flow",
            "mailbox",
            "status",
            "-u",
            USER,
            "highestmodseq uidnext messages",
            &dovecot.server_name(folder),
        ])
        .trim()
        .to_owned()
}

/// The debug lines of the IMAP backend's round trips in a `-vv` log.
fn round_trips(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| line.contains("round trip: "))
        .collect()
}

/// Issue 9: a re-sync costs round trips for what changed, not for every folder. The
/// listing's one pipelined SELECT of every folder tells which folders changed; with
/// MODSEQs, an unchanged folder is then neither selected again nor listed, and the one
/// folder that changed on the server (and the one that changed locally) among unchanged
/// ones is synced in full. Without MODSEQs every folder is still listed, and every tier
/// ends the same.
fn many_folders(tier: Tier) -> (BTreeMap<String, BTreeMap<Vec<u8>, String>>, String) {
    let dovecot = Dovecot::start(DovecotOptions {
        imap_capability: tier.capability(),
        ..DovecotOptions::default()
    });
    let uids = fill_folders(&dovecot);
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER));
    sync_ok(&sandbox, &[]);
    assert_no_changes(&sandbox);

    // A change on the server in Two (a flag, a new message, an expunge) and a local
    // flag change in Four; One, Three and INBOX stay as they are.
    dovecot.set_flags(USER, "Two", uids["Two"][0], &["\\Flagged"]);
    dovecot.deliver(USER, "Two", &message("Two-new"), &["\\Seen"]);
    dovecot.expunge(USER, "Two", uids["Two"][1]);
    let four = sandbox.local().join("Four");
    let file = messages(&four)
        .into_iter()
        .find(|f| f.content == message("Four-0"))
        .expect("Four-0 is local")
        .path;
    let name = file.file_name().and_then(|n| n.to_str()).expect("a name");
    let base = name.split(":2,").next().expect("a base name").to_owned();
    fs::rename(&file, four.join("cur").join(format!("{base}:2,S"))).expect("rename");

    let untouched = ["INBOX", "One", "Three"];
    let server_before: Vec<String> = untouched
        .iter()
        .map(|f| modseq_and_uidnext(&dovecot, f))
        .collect();
    let local_before: Vec<_> = untouched
        .iter()
        .map(|f| snapshot(&sandbox.local().join(f)))
        .collect();

    let outcome = verbose_sync(&sandbox);
    assert!(
        outcome.account_line(ACCOUNT).contains("1 to local"),
        "{tier:?}: {outcome}"
    );
    for folder in FOLDERS {
        assert_folder_matches(&dovecot, USER, folder, &sandbox.local().join(folder));
    }
    // The unchanged folders are untouched on both sides.
    for ((folder, before), local) in untouched.iter().zip(&server_before).zip(&local_before) {
        assert_eq!(
            &modseq_and_uidnext(&dovecot, folder),
            before,
            "{tier:?}: {folder} untouched on the server"
        );
        assert_same_snapshot(folder, local, &snapshot(&sandbox.local().join(folder)));
    }
    let trips = round_trips(&outcome.stderr);
    let selects: Vec<&&str> = trips
        .iter()
        .filter(|line| line.contains("SELECT"))
        .collect();
    match tier {
        Tier::Qresync | Tier::Condstore => {
            // The listing's SELECT of all five, then Two (to read its changes) and Four
            // (to store its flag) on their own connections; never One, Three or INBOX.
            assert!(
                selects.iter().any(|line| line.contains("5 x SELECT")),
                "{tier:?}: {selects:#?}"
            );
            assert_eq!(selects.len(), 3, "{tier:?}: {selects:#?}");
            assert!(
                outcome.stderr.contains("HIGHESTMODSEQ") && outcome.stderr.contains("not selected"),
                "{tier:?}: {}",
                outcome.stderr
            );
        }
        Tier::Neither => {
            // Nothing to skip by: every folder is selected and listed.
            assert_eq!(selects.len(), 1 + FOLDERS.len(), "{tier:?}: {selects:#?}");
        }
    }

    // A no-change re-sync: on a MODSEQ server, one connection and a constant number of
    // round trips whatever the number of folders.
    assert_no_changes(&sandbox);
    let measured = verbose_sync(&sandbox);
    let trips = round_trips(&measured.stderr);
    eprintln!(
        "{tier:?}: a no-change re-sync of {} folders: {} round trips: {trips:#?}",
        FOLDERS.len(),
        trips.len()
    );
    if tier != Tier::Neither {
        let opened = connections(&measured.stderr);
        assert_eq!(opened.len(), 1, "{tier:?}: {opened:#?}");
        assert!(
            trips.len() <= 3,
            "{tier:?}: a no-change re-sync of {} folders took {} round trips: {trips:#?}",
            FOLDERS.len(),
            trips.len()
        );
    }
    let ending = FOLDERS
        .iter()
        .map(|f| (f.to_string(), dovecot.folder_map(USER, f)))
        .collect();
    (ending, measured.stderr)
}

#[test]
fn a_changed_folder_among_unchanged_ones_is_synced_and_the_unchanged_are_not_selected() {
    let endings: Vec<_> = [Tier::Qresync, Tier::Condstore, Tier::Neither]
        .into_iter()
        .map(many_folders)
        .collect();
    assert_eq!(endings[0].0, endings[1].0, "CONDSTORE ends as QRESYNC does");
    assert_eq!(endings[0].0, endings[2].0, "neither ends as QRESYNC does");
    assert_eq!(endings[0].0["Two"].len(), PER_FOLDER);
}

/// A server that loses its MODSEQ state (here Dovecot's index of a folder, deleted: its
/// UIDs stay, its HIGHESTMODSEQ starts over lower) is listed in full, never skipped as
/// unchanged by the listing's snapshot: a flag changed after the loss is synced.
#[test]
fn a_folder_whose_server_lost_its_modseqs_is_listed_in_full_and_its_change_synced() {
    let dovecot = Dovecot::start_default();
    dovecot.create_folder(USER, "One");
    let mut uids = Vec::new();
    for n in 0..20 {
        uids.push(dovecot.deliver(USER, "One", &message(&format!("one-{n}")), &[]));
    }
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER));
    sync_ok(&sandbox, &[]);
    // Raise the HIGHESTMODSEQ the state records well above where a new index starts.
    for uid in &uids {
        dovecot.set_flags(USER, "One", *uid, &["\\Answered"]);
    }
    sync_ok(&sandbox, &[]);
    assert_no_changes(&sandbox);
    let recorded = modseq_and_uidnext(&dovecot, "One");

    let folder = dovecot
        .dir()
        .join("home")
        .join(USER)
        .join("Maildir")
        .join(format!(".{}", dovecot.server_name("One")));
    let mut removed = 0;
    for entry in fs::read_dir(&folder).expect("the folder's directory") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("dovecot.index") {
            fs::remove_file(&path).expect("remove an index file");
            removed += 1;
        }
    }
    assert!(
        removed > 0,
        "Dovecot keeps an index in {}",
        folder.display()
    );
    dovecot.set_flags(USER, "One", uids[3], &["\\Answered", "\\Flagged"]);
    let now = modseq_and_uidnext(&dovecot, "One");
    assert_ne!(now, recorded, "the index was rebuilt");

    let outcome = verbose_sync(&sandbox);
    assert!(
        outcome.stderr.contains("listing the remote side in full")
            || outcome.stderr.contains("lost its MODSEQs"),
        "{}",
        outcome.stderr
    );
    assert_folder_matches(&dovecot, USER, "One", &sandbox.local().join("One"));
    let local = folder_map(&sandbox.local().join("One"));
    assert_eq!(
        local.get(&message("one-3")).map(String::as_str),
        Some("FR"),
        "the flag set after the loss reached the local side: {local:?}"
    );
}

/// The connections a `-vv` log shows opened: one `connected to` debug line each.
fn connections(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| line.contains("connected to "))
        .collect()
}

/// Checks what a re-sync with changes in `changed` folders (among more) cost, in the debug
/// log of `outcome`: at most one connection per changed folder, every one logged in behind
/// its TLS handshake (its login sent before the greeting: PLAIN is preferred, and Dovecot
/// offers it with SASL-IR); the login, the listing and its SELECTs
/// (one round trip each), then two round trips per changed folder and the later
/// connections' logins; and no round trip to log out.
fn assert_cost(what: &str, outcome: &Outcome, changed: usize) {
    let opened = connections(&outcome.stderr);
    let trips = round_trips(&outcome.stderr);
    eprintln!(
        "{what}: {} connections, {} round trips: {opened:#?} {trips:#?}",
        opened.len(),
        trips.len()
    );
    assert!(
        (1..=changed).contains(&opened.len()),
        "{what}: {} connections for {changed} changed folders: {opened:#?}",
        opened.len()
    );
    for line in &opened {
        assert!(
            line.contains("login sent before the greeting"),
            "{what}: a connection waited for its greeting: {line}"
        );
    }
    assert!(
        trips.iter().any(|line| line.contains("AUTHENTICATE"))
            && trips.iter().any(|line| line.contains("2 x LIST"))
            && trips
                .iter()
                .any(|line| line.contains(&format!("{} x SELECT", FOLDERS.len()))),
        "{what}: {trips:#?}"
    );
    let most = 3 + 2 * changed + (opened.len() - 1);
    assert!(
        trips.len() <= most,
        "{what}: {} round trips, more than {most}: {trips:#?}",
        trips.len()
    );
    assert!(
        !trips.iter().any(|line| line.contains("LOGOUT")),
        "{what}: {trips:#?}"
    );
}

/// Creates [`FOLDERS`] for [`USER`], each with [`PER_FOLDER`] messages; their UIDs by
/// folder.
fn fill_folders(dovecot: &Dovecot) -> BTreeMap<&'static str, Vec<u32>> {
    let mut uids: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
    for folder in FOLDERS {
        if folder != "INBOX" {
            dovecot.create_folder(USER, folder);
        }
        for n in 0..PER_FOLDER {
            let uid = dovecot.deliver(USER, folder, &message(&format!("{folder}-{n}")), &[]);
            uids.entry(folder).or_default().push(uid);
        }
    }
    uids
}

/// Issue 9: a re-sync through a slow link costs round trips, and each connection several
/// (TCP, TLS, greeting, login). Two folders of five change on the server (a flag, a new
/// message, an expunge each), then two others locally (a flag each, a deletion in one):
/// each re-sync ends with both sides equal, and costs what [`assert_cost`] allows.
#[test]
fn resyncs_with_changes_cost_two_round_trips_per_changed_folder_and_no_idle_connection() {
    let dovecot = Dovecot::start_default();
    let uids = fill_folders(&dovecot);
    let sandbox = maildir_imap_sandbox("", &dovecot.tls_repository(USER));
    sync_ok(&sandbox, &[]);
    assert_no_changes(&sandbox);

    for folder in ["Two", "Three"] {
        dovecot.set_flags(USER, folder, uids[folder][0], &["\\Flagged"]);
        dovecot.deliver(
            USER,
            folder,
            &message(&format!("{folder}-new")),
            &["\\Seen"],
        );
        dovecot.expunge(USER, folder, uids[folder][1]);
    }
    let outcome = verbose_sync(&sandbox);
    assert!(
        outcome.account_line(ACCOUNT).contains("2 to local"),
        "{outcome}"
    );
    for folder in FOLDERS {
        assert_folder_matches(&dovecot, USER, folder, &sandbox.local().join(folder));
    }
    assert_cost("server changes in 2 folders", &outcome, 2);
    assert_no_changes(&sandbox);

    for folder in ["One", "Four"] {
        let path = sandbox.local().join(folder);
        let file = find_message(&path, &message(&format!("{folder}-0")));
        set_flags(&file, "S");
    }
    let four = sandbox.local().join("Four");
    fs::remove_file(find_message(&four, &message("Four-1"))).expect("delete a message");
    let outcome = verbose_sync(&sandbox);
    for folder in FOLDERS {
        assert_folder_matches(&dovecot, USER, folder, &sandbox.local().join(folder));
    }
    assert!(
        !dovecot
            .folder_map(USER, "Four")
            .contains_key(&message("Four-1")),
        "the local deletion reached the server"
    );
    assert_cost("local changes in 2 folders", &outcome, 2);
}
