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
