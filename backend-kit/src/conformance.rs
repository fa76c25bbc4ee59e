//! The conformance suite every backend runs, first-party and third-party alike.
//!
//! `check_repository(&open)` exercises the contracts written on [`Repository`] and
//! [`Folder`]; it panics with a message naming the broken contract, so it is meant to be
//! called from a `#[test]`:
//!
//! ```ignore
//! #[test]
//! fn passes_the_conformance_suite() {
//!     let root = tempfile::tempdir().unwrap();
//!     let config = RepositoryConfig::new("test").with("localfolders", root.path().to_str().unwrap());
//!     backend_kit::conformance::check_repository(&|| MyBackend::open(config.clone()).unwrap());
//! }
//! ```
//!
//! Each call of `open` must open the same store, empty at the first call: the suite reopens
//! it to check that UIDs, UIDVALIDITY and flags persist.

use crate::line_endings;
use backend_api::{
    FetchedMessage, Flags, Folder, FolderChanges, FolderPath, LineEnding, NewMessage, Repository,
    SystemFlag, Uid,
};

const TOP: &str = "twinbox-conformance";
const CHILD: &str = "twinbox-conformance/child";

/// Sample messages written with LF; converted to the repository's line endings. They carry
/// what real mail has: an mbox-style `From ` line in the body, 8-bit bytes, a lone CR, no
/// final newline.
fn samples(line_ending: LineEnding) -> Vec<Vec<u8>> {
    let raw: [&[u8]; 3] = [
        b"From: alice@example.org\nTo: bob@example.org\nSubject: one\nMessage-ID: <1@example.org>\n\nHello\nFrom the start of a line\n",
        b"From: bob@example.org\nSubject: =?utf-8?q?zw=C3=B6lf?=\nMessage-ID: <2@example.org>\n\n8-bit: \xc3\xa4\xff\r lone CR\n",
        b"Subject: no final newline\n\nbody without newline",
    ];
    raw.iter()
        .map(|bytes| {
            line_endings::convert(bytes.to_vec().into(), LineEnding::Lf, line_ending).into_vec()
        })
        .collect()
}

fn flags(list: &[SystemFlag]) -> Flags {
    Flags::from_system(list)
}

/// Runs the whole suite. Panics on the first broken contract.
pub fn check_repository(open: &dyn Fn() -> Box<dyn Repository>) {
    let repository = open();
    let line_ending = repository.info().expect("info()").line_ending;
    let top = FolderPath::new(TOP).expect("valid");
    let child = FolderPath::new(CHILD).expect("valid");

    // Folders: create (twice is fine), nested, INBOX, and listing.
    repository.create_folder(&top).expect("create_folder(top)");
    repository
        .create_folder(&top)
        .expect("create_folder of an existing folder must succeed");
    repository
        .create_folder(&child)
        .expect("create_folder(nested)");
    repository
        .create_folder(&FolderPath::inbox())
        .expect("create_folder(INBOX)");
    let listed = repository.list_folders().expect("list_folders()");
    for wanted in [&top, &child, &FolderPath::inbox()] {
        assert!(
            listed.iter().any(|f| &f.path == wanted && f.selectable),
            "list_folders() must list the created folder {wanted} as selectable; got {listed:?}"
        );
    }
    assert!(
        repository
            .open_folder(&FolderPath::new("twinbox-conformance-missing").expect("valid"))
            .is_err(),
        "open_folder() of a folder that does not exist must fail"
    );

    let mut folder = repository.open_folder(&top).expect("open_folder(top)");
    let status = folder.status().expect("status()");
    assert_ne!(status.uid_validity, 0, "UIDVALIDITY must not be 0");
    assert_eq!(status.message_count, 0, "a new folder is empty");
    let permanent = status.permanent_flags.clone();
    for flag in SystemFlag::ALL {
        assert!(
            permanent.flags.contains(flag),
            "every backend must store the system flag {}",
            flag.imap_name()
        );
    }

    // Append three messages with flags and dates.
    let bodies = samples(line_ending);
    let wanted_flags = [
        flags(&[]),
        flags(&[SystemFlag::Seen, SystemFlag::Answered]),
        flags(&[SystemFlag::Flagged, SystemFlag::Draft, SystemFlag::Seen]),
    ];
    let dates = [Some(1_500_000_000), Some(1_600_000_000), None];
    let messages: Vec<NewMessage> = (0..3)
        .map(|i| NewMessage {
            bytes: bodies[i].clone().into(),
            flags: wanted_flags[i].clone(),
            internal_date: dates[i],
        })
        .collect();
    let appended = folder.append_messages(messages).expect("append_messages()");
    assert_eq!(appended.len(), 3, "one result per appended message");
    folder.flush().expect("flush()");

    let listing = folder.list_messages().expect("list_messages()");
    assert_eq!(
        listing.len(),
        3,
        "three messages after three appends: {listing:?}"
    );
    let uids: Vec<Uid> = listing.iter().map(|m| m.uid).collect();
    assert!(
        uids.windows(2).all(|w| w[0] < w[1]),
        "UIDs ascending: {uids:?}"
    );
    assert!(
        uids[0] >= status.uid_next,
        "new UIDs are at or above the UIDNEXT read before"
    );
    for (returned, listed) in appended.iter().zip(&uids) {
        if let Some(uid) = returned {
            assert_eq!(
                uid, listed,
                "a reported UID is the UID the message is listed under"
            );
        }
    }
    for (i, message) in listing.iter().enumerate() {
        assert_eq!(
            message.flags,
            permanent.storable(&wanted_flags[i]),
            "flags stored with the message"
        );
        assert_eq!(
            message.size,
            bodies[i].len() as u64,
            "size is the stored byte count"
        );
    }
    let status_after = folder.status().expect("status()");
    assert_eq!(status_after.message_count, 3);
    assert!(status_after.uid_next > uids[2], "UIDNEXT above every UID");

    // Fetch returns the bytes as given, in the order asked, and skips missing UIDs.
    let asked = [uids[2], 999_999, uids[0], uids[1]];
    let fetched = folder.fetch_messages(&asked).expect("fetch_messages()");
    assert_eq!(
        fetched.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![uids[2], uids[0], uids[1]],
        "fetch returns the existing UIDs in the order asked"
    );
    assert_eq!(fetched[1].bytes, bodies[0], "bytes are never changed");
    assert_eq!(
        fetched[2].bytes, bodies[1],
        "bytes are never changed (8-bit, lone CR)"
    );
    assert_eq!(
        fetched[0].bytes, bodies[2],
        "bytes are never changed (no final newline)"
    );
    for (message, date) in [(&fetched[1], dates[0]), (&fetched[2], dates[1])] {
        if let (Some(got), Some(want)) = (message.internal_date, date) {
            assert_eq!(got, want, "the internal date given at append is kept");
        }
    }

    // Prefetch (interface 1.3) is a hint: announced batches come back as asked, and
    // whatever comes in between (a fetch of something else, a listing, a flush) or an
    // announcement never fetched changes no answer.
    let bytes_of = |fetched: &[FetchedMessage]| -> Vec<(Uid, Vec<u8>)> {
        fetched.iter().map(|m| (m.uid, m.bytes.to_vec())).collect()
    };
    let expected = |asked: &[Uid]| -> Vec<(Uid, Vec<u8>)> {
        asked
            .iter()
            .filter_map(|uid| uids.iter().position(|u| u == uid))
            .map(|i| (uids[i], bodies[i].clone()))
            .collect()
    };
    let first = [uids[0]];
    let second = [uids[2], 999_999, uids[1]];
    folder
        .prefetch_messages(&first)
        .expect("prefetch_messages()");
    folder
        .prefetch_messages(&second)
        .expect("prefetch_messages()");
    folder.flush().expect("flush() with fetches announced");
    let fetched = folder.fetch_messages(&first).expect("announced fetch");
    assert_eq!(bytes_of(&fetched), expected(&first), "an announced fetch");
    let fetched = folder.fetch_messages(&second).expect("announced fetch");
    assert_eq!(bytes_of(&fetched), expected(&second), "an announced fetch");
    folder
        .prefetch_messages(&[uids[2]])
        .expect("prefetch_messages()");
    folder
        .prefetch_messages(&first)
        .expect("prefetch_messages()");
    let other = [uids[1], uids[0]];
    let fetched = folder
        .fetch_messages(&other)
        .expect("fetch of what was not announced");
    assert_eq!(
        bytes_of(&fetched),
        expected(&other),
        "a fetch not announced"
    );
    assert_eq!(
        folder
            .list_messages()
            .expect("list after announcements")
            .len(),
        3,
        "a listing after announcements never fetched"
    );
    folder
        .prefetch_messages(&first)
        .expect("prefetch_messages()");
    let status_between = folder.status().expect("status() after an announcement");
    assert_eq!(status_between.message_count, 3);
    let fetched = folder.fetch_messages(&first).expect("fetch after status");
    assert_eq!(bytes_of(&fetched), expected(&first));
    // Left announced: the flag changes below go first.
    folder
        .prefetch_messages(&second)
        .expect("prefetch_messages()");

    // Flags: add and remove, on several UIDs at once; missing UIDs are skipped.
    folder
        .update_flags(
            &[uids[0], uids[1], 999_999],
            &flags(&[SystemFlag::Flagged]),
            &flags(&[SystemFlag::Seen]),
        )
        .expect("update_flags()");
    folder.flush().expect("flush()");
    let listing = folder.list_messages().expect("list_messages()");
    assert_eq!(listing[0].flags, flags(&[SystemFlag::Flagged]));
    assert_eq!(
        listing[1].flags,
        flags(&[SystemFlag::Flagged, SystemFlag::Answered])
    );
    assert_eq!(listing[2].flags, permanent.storable(&wanted_flags[2]));
    if permanent.flags.contains_keyword("$Forwarded") || permanent.any_keyword {
        let mut forwarded = Flags::new();
        forwarded.insert_keyword("$Forwarded");
        folder
            .update_flags(&[uids[2]], &forwarded, &Flags::new())
            .expect("update_flags(keyword)");
        let listing = folder.list_messages().expect("list_messages()");
        assert!(
            listing[2].flags.contains_keyword("$Forwarded"),
            "a storable keyword is kept"
        );
    }

    // Delete exactly what is asked.
    folder
        .delete_messages(&[uids[1], 999_999])
        .expect("delete_messages()");
    folder.flush().expect("flush()");
    let listing = folder.list_messages().expect("list_messages()");
    assert_eq!(
        listing.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![uids[0], uids[2]],
        "delete removes exactly the UIDs asked"
    );
    assert!(
        folder
            .fetch_messages(&[uids[1]])
            .expect("fetch of a deleted UID")
            .is_empty(),
        "a deleted UID is not fetched"
    );

    // Started appends (interface 1.3): two batches in flight at once, finished in order,
    // store what `append_messages` would; a backend that does not start appends hands
    // the batch back untouched.
    let one = |i: usize| {
        vec![NewMessage {
            bytes: bodies[i].clone().into(),
            flags: Flags::new(),
            internal_date: None,
        }]
    };
    match folder.start_append(one(0)).expect("start_append()") {
        Some(back) => {
            assert_eq!(back.len(), 1, "a batch not started is handed back whole");
            assert_eq!(back[0].bytes, bodies[0], "and untouched");
        }
        None => {
            let behind = folder
                .start_append(one(2))
                .expect("start_append() behind another");
            assert!(
                behind.is_none(),
                "a backend that starts appends starts the next too"
            );
            folder.flush().expect("flush() with appends started");
            let first = folder.finish_append().expect("finish_append()");
            let second = folder.finish_append().expect("finish_append()");
            assert_eq!((first.len(), second.len()), (1, 1), "one UID per message");
            let listing = folder.list_messages().expect("list_messages()");
            let new: Vec<Uid> = listing.iter().rev().take(2).rev().map(|m| m.uid).collect();
            if let (Some(a), Some(b)) = (first[0], second[0]) {
                assert_eq!(vec![a, b], new, "finished in the order started");
            }
            let fetched = folder.fetch_messages(&new).expect("fetch_messages()");
            assert_eq!(
                bytes_of(&fetched),
                vec![(new[0], bodies[0].clone()), (new[1], bodies[2].clone())]
            );
        }
    }

    // UIDs are never reused.
    let again = folder
        .append_messages(vec![NewMessage {
            bytes: bodies[1].clone().into(),
            flags: Flags::new(),
            internal_date: None,
        }])
        .expect("append_messages()");
    folder.flush().expect("flush()");
    let listing = folder.list_messages().expect("list_messages()");
    let newest = listing.last().expect("a message").uid;
    assert!(newest > uids[2], "a UID is never reused after a delete");
    if let Some(uid) = again[0] {
        assert_eq!(uid, newest);
    }
    let before_reopen = listing;
    // A folder dropped with an announcement pending leaves no answer behind for the
    // folders opened after it.
    folder
        .prefetch_messages(&[newest])
        .expect("prefetch_messages()");
    drop(folder);
    drop(repository);

    // Everything persists across a reopen of the store.
    let repository = open();
    let mut folder = repository.open_folder(&top).expect("reopen folder");
    let status_reopened = folder.status().expect("status() after reopen");
    assert_eq!(
        status_reopened.uid_validity, status.uid_validity,
        "UIDVALIDITY persists"
    );
    let listing = folder
        .list_messages()
        .expect("list_messages() after reopen");
    assert_eq!(listing, before_reopen, "UIDs, flags and sizes persist");
    let mut child_folder = repository.open_folder(&child).expect("open nested folder");
    assert!(child_folder
        .list_messages()
        .expect("list nested")
        .is_empty());
    let mut inbox: Box<dyn Folder> = repository
        .open_folder(&FolderPath::inbox())
        .expect("open INBOX");
    inbox.status().expect("status(INBOX)");
    let inbox_lower = FolderPath::new("inbox").expect("valid");
    assert!(inbox_lower.is_inbox(), "INBOX is case-insensitive");

    check_changes(folder.as_mut(), &bodies[0]);
}

/// `list_changes` (interface 1.1), where the backend keeps MODSEQs and answers for the
/// HIGHESTMODSEQ its status reported: a flag change, an append and a delete after that
/// MODSEQ must all be reported, with what the listing says of them. Run on a folder that
/// holds at least two messages.
fn check_changes(folder: &mut dyn Folder, body: &[u8]) {
    let Some(since) = folder.status().expect("status()").highest_modseq else {
        return;
    };
    let Some(unchanged) = folder.list_changes(since).expect("list_changes()") else {
        return; // declining is never wrong
    };
    check_change_order(&unchanged);
    let listing = folder.list_messages().expect("list_messages()");
    let (Some(first), Some(last)) = (listing.first(), listing.last()) else {
        panic!("check_changes needs a folder with messages");
    };
    let (first, last) = (first.clone(), last.uid);
    let seen = flags(&[SystemFlag::Seen]);
    let (add, remove) = if first.flags.contains(SystemFlag::Seen) {
        (Flags::new(), seen)
    } else {
        (seen, Flags::new())
    };
    folder
        .update_flags(&[first.uid], &add, &remove)
        .expect("update_flags()");
    let appended = folder
        .append_messages(vec![NewMessage {
            bytes: body.to_vec().into(),
            flags: Flags::new(),
            internal_date: None,
        }])
        .expect("append_messages()");
    folder.delete_messages(&[last]).expect("delete_messages()");
    folder.flush().expect("flush()");

    let status = folder.status().expect("status()");
    assert!(
        status.highest_modseq.is_some_and(|highest| highest > since),
        "HIGHESTMODSEQ grows with every change: {:?} after {since}",
        status.highest_modseq
    );
    let changes = folder
        .list_changes(since)
        .expect("list_changes()")
        .expect("a backend that answered for a MODSEQ answers for it again after changes");
    check_change_order(&changes);
    let listing = folder.list_messages().expect("list_messages()");
    for changed in &changes.changed {
        let listed = listing.iter().find(|m| m.uid == changed.uid);
        assert_eq!(
            listed.map(|m| (&m.flags, m.size)),
            Some((&changed.flags, changed.size)),
            "a changed message is reported as the listing has it"
        );
    }
    let reported = |uid: Uid| changes.changed.iter().any(|m| m.uid == uid);
    assert!(
        reported(first.uid),
        "a flag change is reported: {changes:?}"
    );
    let newest = listing.last().expect("a message").uid;
    assert!(
        reported(newest),
        "an appended message is reported: {changes:?}"
    );
    if let Some(uid) = appended[0] {
        assert_eq!(uid, newest);
    }
    assert!(
        !reported(last),
        "a deleted message is not among the changed"
    );
    if let Some(vanished) = &changes.vanished {
        assert!(
            vanished.contains(&last),
            "a deleted message is among the vanished: {changes:?}"
        );
    }
}

fn check_change_order(changes: &FolderChanges) {
    let uids: Vec<Uid> = changes.changed.iter().map(|m| m.uid).collect();
    assert!(
        uids.windows(2).all(|w| w[0] < w[1]),
        "changed messages in ascending UID order: {uids:?}"
    );
    if let Some(vanished) = &changes.vanished {
        assert!(
            vanished.windows(2).all(|w| w[0] < w[1]),
            "vanished UIDs ascending: {vanished:?}"
        );
        assert!(
            !vanished.iter().any(|uid| uids.contains(uid)),
            "no UID both changed and vanished: {changes:?}"
        );
    }
}
