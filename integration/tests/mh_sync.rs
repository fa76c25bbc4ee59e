//! Maildir <-> MH through the third-party MH plugin (`plugins-example/mh`), checked with an
//! independent reader: Python's `mailbox.MH` must read every message back byte for byte
//! and see the flags as nmh sequences.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use twinbox_integration::*;

/// Per folder, each message's bytes with the sequences it belongs to.
type MhView = BTreeMap<String, BTreeMap<Vec<u8>, Vec<String>>>;

/// Every MH folder under `root` as Python's `mailbox.MH` reads it: for each folder, the
/// messages' bytes with the sequences each belongs to. `None` when python3 is missing.
fn read_with_python(root: &Path) -> Option<MhView> {
    // One line per message: folder TAB hex(bytes) TAB comma-separated sequences. A folder
    // without .mh_sequences has no sequences (nmh's view; Python 3.11 raises there).
    let script = r#"
import mailbox, sys
def walk(mh, prefix):
    for name in mh.list_folders():
        sub = mh.get_folder(name)
        path = prefix + name
        try:
            seqs = sub.get_sequences()
        except FileNotFoundError:
            seqs = {}
        print(path + "\t-\t")
        for k in sub.keys():
            print(path + "\t" + sub.get_bytes(k).hex() + "\t" + ",".join(sorted(s for s, keys in seqs.items() if k in keys)))
        walk(sub, path + "/")
walk(mailbox.MH(sys.argv[1], create=False), "")
"#;
    let mut folders: MhView = BTreeMap::new();
    for line in run_python(script, root)?.lines() {
        let mut fields = line.split('\t');
        let (Some(folder), Some(hex), Some(sequences)) =
            (fields.next(), fields.next(), fields.next())
        else {
            panic!("unexpected line from python: {line:?}");
        };
        let messages = folders.entry(folder.to_owned()).or_default();
        if hex == "-" {
            continue;
        }
        let sequences = sequences
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        messages.insert(from_hex(hex), sequences);
    }
    Some(folders)
}

fn config(sandbox: &Sandbox) -> String {
    sandbox.account_config(
        "Test",
        "",
        &maildir_section("Local", &sandbox.local()),
        &repository_section(
            "Remote",
            &format!("type = MH\nlocalfolders = {}\n", sandbox.remote().display()),
        ),
    )
}

/// Maildir flag letters as MH sequences (what the plugin maps by default).
fn sequences_for(flags: &str) -> Vec<String> {
    let mut sequences = Vec::new();
    if flags.contains('D') {
        sequences.push("draft".to_owned());
    }
    if flags.contains('F') {
        sequences.push("flagged".to_owned());
    }
    if flags.contains('R') {
        sequences.push("replied".to_owned());
    }
    if flags.contains('T') {
        sequences.push("deleted".to_owned());
    }
    if !flags.contains('S') {
        sequences.push("unseen".to_owned());
    }
    sequences.sort();
    sequences
}

/// The Maildir side as Python should see it on the MH side.
fn expected_mh(local: &Path) -> MhView {
    tree_map(local)
        .into_iter()
        .map(|(folder, messages)| {
            let name = if folder == "INBOX" {
                "inbox".to_owned()
            } else {
                folder.replace('.', "/")
            };
            let messages = messages
                .into_iter()
                .map(|(bytes, flags)| (bytes, sequences_for(&flags)))
                .collect();
            (name, messages)
        })
        .collect()
}

#[test]
fn maildir_and_mh_stay_in_sync_both_ways() {
    let sandbox = Sandbox::new();
    sandbox.write_config(&config(&sandbox));
    let inbox = create_folder(&sandbox.local().join("INBOX"));
    deliver_cur(&inbox, &message("read"), "S");
    deliver_cur(&inbox, &message("flagged and read"), "FS");
    deliver_new(&inbox, &message("new"));
    deliver_cur(
        &create_folder(&sandbox.local().join("Work.Projects")),
        &message("plan"),
        "RS",
    );
    // An nmh inbox with two messages, the second unseen.
    let mh_inbox = sandbox.remote().join("inbox");
    fs::create_dir_all(&mh_inbox).unwrap();
    fs::write(mh_inbox.join("1"), message("from nmh 1")).unwrap();
    fs::write(mh_inbox.join("2"), message("from nmh 2")).unwrap();
    fs::write(mh_inbox.join(".mh_sequences"), "unseen: 2\n").unwrap();

    let first = sandbox.sync_ok(&[]);
    assert!(first.account_line("Test").contains("copied"), "{first}");
    assert_eq!(tree_map(&sandbox.local())["INBOX"].len(), 5, "{first}");
    let Some(mh) = read_with_python(&sandbox.remote()) else {
        eprintln!("python3 is missing: skipping the independent MH reader");
        return;
    };
    let expected = expected_mh(&sandbox.local());
    for (folder, messages) in &expected {
        assert_eq!(
            mh.get(folder),
            Some(messages),
            "MH folder {folder} as Python reads it\n{first}"
        );
    }

    // A flag change in the Maildir and a deletion with nmh's rmm-like removal on the MH side.
    set_flags(&find_message(&inbox, &message("new")), "F");
    let deleted = mh_inbox.join("1");
    assert_eq!(fs::read(&deleted).unwrap(), message("from nmh 1"));
    fs::remove_file(&deleted).unwrap();
    let second = sandbox.sync_ok(&[]);
    assert!(
        second
            .account_line("Test")
            .contains("1 flag update, 1 deletion"),
        "{second}"
    );
    let local = tree_map(&sandbox.local());
    assert!(
        !local["INBOX"].contains_key(&message("from nmh 1")),
        "{second}"
    );
    let mh = read_with_python(&sandbox.remote()).expect("python3 ran before");
    assert_eq!(
        mh["inbox"][&message("new")],
        vec!["flagged".to_owned(), "unseen".to_owned()],
        "{second}"
    );
    for (folder, messages) in &expected_mh(&sandbox.local()) {
        assert_eq!(
            mh.get(folder),
            Some(messages),
            "MH folder {folder} after the changes\n{second}"
        );
    }

    let third = sandbox.sync_ok(&[]);
    assert!(
        third.account_line("Test").ends_with("no changes"),
        "{third}"
    );
}
