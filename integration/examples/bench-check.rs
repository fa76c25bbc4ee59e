//! What `bench/run` does to mail besides timing the tools: checking a tool's Maildir
//! against the server, the server and local changes of the re-sync steps, and the Maildir
//! of the upload step.
//!
//! - `bench-check check SERVER_MAILDIR LOCAL_ROOT` compares the messages under two Maildir
//!   roots folder by folder and prints one line of `key=value` counts: `server`, `local`,
//!   `present` (server messages found locally), `missing`, `extra` (local messages not on
//!   the server), `flags_equal` and `same_content` (of the present ones). Problems go to
//!   stderr, a few per folder.
//! - `bench-check change-server PORT USER PASSWORD` over plain IMAP: toggles `\Flagged` on
//!   1% of the messages, expunges 50 others and appends 100 new ones, spread over the
//!   folders. Deterministic: the same snapshot gets the same changes.
//! - `bench-check change-local ROOT FLAGS DELETIONS`: toggles `F` on FLAGS message files by
//!   renaming them and deletes DELETIONS others. The messages are picked by their
//!   normalised content, so every tool's Maildir gets the same ones changed.
//! - `bench-check prepare-upload SERVER_MAILDIR DEST dots|slashes`: a copy of the server's
//!   Maildir as a mail client would have it (neutral file names, the system flags, the
//!   INTERNALDATE as mtime), its folders as `Work.Projects` (twinbox, OfflineIMAP; with an
//!   empty `Work` as they make it themselves, without which OfflineIMAP stops at the
//!   server's `Work`) or `Work/Projects` (mbsync's `SubFolders Verbatim`).
//!
//! # How messages are compared
//!
//! Any directory holding a `cur/` is a folder; its name is its path below the root with
//! `/` and `.` as separators (a leading `.` dropped; the root itself is INBOX), so Dovecot's
//! `.Work.Projects`, twinbox's and OfflineIMAP's `Work.Projects` and mbsync's
//! `Work/Projects` all name `Work/Projects`. Folder names stay as they are on disk (modified
//! UTF-7 for every tool and Dovecot here).
//!
//! A local message is *present* when its content matches a server message of the same
//! folder after a loose normalisation that forgives what the peers are known to change: an
//! mbox `From ` first line, mbsync's `X-TUID:` header, and white space of any kind (every
//! CR, LF, space and tab is dropped: line ends, OfflineIMAP's `Subject: ` for `Subject:`).
//! *Same content* is stricter: equal bytes once the CRs before an LF are dropped (the
//! server stores LF and serves CRLF; a Maildir file's CRLF reads as a line end; a CR
//! elsewhere counts). *Flags* compare the Maildir letters of the IMAP system flags,
//! `D F R S T`: `P` and Dovecot's keyword letters are left out, since only twinbox maps
//! `$Forwarded` to `P` and mbsync 1.4 syncs no keywords. A message left unmatched on both
//! sides is matched by its `Message-ID` when exactly one on the server has it: a tool may
//! have rewritten more than white space (OfflineIMAP does, in some real mail's headers).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};

use twinbox_integration::corpus::{
    generated_message, random_date, random_flags, CorpusMessage, Rng, Shape, Uploader,
};
use twinbox_integration::dovecot::{mtime_unix, set_mtime_unix};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args[..] {
        ["check", server, local] => check(Path::new(server), Path::new(local)),
        ["change-server", port, user, password] => {
            change_server(port.parse().unwrap_or_else(|_| usage()), user, password)
        }
        ["change-local", root, flags, deletions] => change_local(
            Path::new(root),
            flags.parse().unwrap_or_else(|_| usage()),
            deletions.parse().unwrap_or_else(|_| usage()),
        ),
        ["prepare-upload", server, dest, layout @ ("dots" | "slashes")] => {
            prepare_upload(Path::new(server), Path::new(dest), layout == "slashes")
        }
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-check check SERVER_MAILDIR LOCAL_ROOT\n\
         \x20      bench-check change-server PORT USER PASSWORD\n\
         \x20      bench-check change-local ROOT FLAGS DELETIONS\n\
         \x20      bench-check prepare-upload SERVER_MAILDIR DEST dots|slashes"
    );
    std::process::exit(2);
}

/// One message file.
struct Message {
    path: PathBuf,
    /// After the loose normalisation (see the module docs).
    loose: u64,
    /// With CRLF read as LF.
    strict: u64,
    /// The system flag letters, sorted.
    flags: String,
    /// The `Message-ID` header's value, if the message has one.
    message_id: Option<Vec<u8>>,
}

/// The value of the first `Message-ID:` header of the header section, trimmed.
fn message_id(content: &[u8]) -> Option<Vec<u8>> {
    for line in content.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.len() > 11 && line[..11].eq_ignore_ascii_case(b"message-id:") {
            let value = line[11..].trim_ascii();
            return (!value.is_empty()).then(|| value.to_vec());
        }
    }
    None
}

/// The folders under `root` (see the module docs for the names), each with its message
/// files.
fn folders(root: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        if dir.join("cur").is_dir() {
            let relative = dir.strip_prefix(root).expect("below the root");
            let name = relative
                .to_str()
                .unwrap_or_else(|| panic!("{} is not UTF-8", dir.display()))
                .split(['/', '.'])
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join("/");
            let name = if name.is_empty() {
                "INBOX".into()
            } else {
                name
            };
            let mut files = Vec::new();
            for sub in ["cur", "new"] {
                let Ok(entries) = fs::read_dir(dir.join(sub)) else {
                    continue;
                };
                for entry in entries {
                    let entry = entry.expect("read a Maildir entry");
                    if entry.file_type().is_ok_and(|t| t.is_file()) {
                        files.push(entry.path());
                    }
                }
            }
            files.sort();
            out.entry(name).or_insert_with(Vec::new).extend(files);
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry.expect("read a directory entry");
            let name = entry.file_name();
            if matches!(name.to_str(), Some("cur" | "new" | "tmp")) {
                continue;
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            }
        }
    }
    out
}

/// The system flag letters of a Maildir file name (`...:2,FS`), sorted.
fn flags_of(path: &Path) -> String {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some((_, info)) = name.rsplit_once(":2,") else {
        return String::new();
    };
    let mut letters: Vec<char> = info
        .chars()
        .filter(|c| matches!(c, 'D' | 'F' | 'R' | 'S' | 'T'))
        .collect();
    letters.sort_unstable();
    letters.dedup();
    letters.into_iter().collect()
}

fn hash(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}

/// The loose and the strict key of a message's bytes.
fn keys(content: &[u8]) -> (u64, u64) {
    // Every run of CRs before an LF goes: a Maildir file's "\r\n" reads as a line end, so
    // Dovecot's "x\r\r\n" (served as is) and a client's "x\r\n" (the CRLF made LF, the
    // bare CR kept) are the same message.
    let mut strict = Vec::with_capacity(content.len());
    let mut i = 0;
    while i < content.len() {
        if content[i] == b'\r' {
            let run = content[i..].iter().take_while(|&&b| b == b'\r').count();
            if content.get(i + run) != Some(&b'\n') {
                strict.extend_from_slice(&content[i..i + run]);
            }
            i += run;
        } else {
            strict.push(content[i]);
            i += 1;
        }
    }
    let mut loose = Vec::with_capacity(content.len());
    let mut in_header = true;
    for (n, line) in content.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if n == 0 && line.starts_with(b"From ") {
            continue;
        }
        if line.is_empty() {
            in_header = false;
        }
        if in_header && line.len() >= 7 && line[..7].eq_ignore_ascii_case(b"X-TUID:") {
            continue;
        }
        loose.extend(line.iter().filter(|b| !b.is_ascii_whitespace()));
    }
    (hash(&loose), hash(&strict))
}

fn read_messages(files: &[PathBuf]) -> Vec<Message> {
    files
        .iter()
        .filter_map(|path| {
            // A file renamed or deleted meanwhile is not there: nothing runs meanwhile.
            let content = fs::read(path).ok()?;
            let (loose, strict) = keys(&content);
            Some(Message {
                path: path.clone(),
                loose,
                strict,
                flags: flags_of(path),
                message_id: message_id(&content),
            })
        })
        .collect()
}

fn check(server_root: &Path, local_root: &Path) {
    let server = folders(server_root);
    let local = folders(local_root);
    let names: BTreeSet<&String> = server.keys().chain(local.keys()).collect();
    let (mut server_count, mut local_count) = (0, 0);
    let (mut present, mut flags_equal, mut same_content) = (0, 0, 0);
    let no_files = Vec::new();
    for name in names {
        let on_server = read_messages(server.get(name).unwrap_or(&no_files));
        let here = read_messages(local.get(name).unwrap_or(&no_files));
        server_count += on_server.len();
        local_count += here.len();
        let mut by_key: HashMap<u64, Vec<&Message>> = HashMap::new();
        for message in &on_server {
            by_key.entry(message.loose).or_default().push(message);
        }
        let mut extra = Vec::new();
        let mut wrong_flags = 0;
        let mut other_content = Vec::new();
        for message in &here {
            let Some(candidates) = by_key.get_mut(&message.loose).filter(|c| !c.is_empty()) else {
                extra.push(message);
                continue;
            };
            // Prefer the server copy that matches best (duplicates within a folder).
            let best = candidates
                .iter()
                .position(|s| s.strict == message.strict && s.flags == message.flags)
                .unwrap_or(0);
            let theirs = candidates.swap_remove(best);
            present += 1;
            if theirs.flags == message.flags {
                flags_equal += 1;
            } else {
                wrong_flags += 1;
            }
            if theirs.strict == message.strict {
                same_content += 1;
            } else {
                other_content.push((&theirs.path, &message.path));
            }
        }
        let mut missing: Vec<&Message> = by_key.into_values().flatten().collect();
        // A second chance by Message-ID (unique among the unmatched ones), for what a tool
        // rewrote beyond white space (OfflineIMAP re-serialises some real mail's headers).
        extra.retain(|message| {
            let Some(id) = &message.message_id else {
                return true;
            };
            let mut same_id = missing
                .iter()
                .enumerate()
                .filter(|(_, s)| s.message_id.as_ref() == Some(id));
            let (Some((at, _)), None) = (same_id.next(), same_id.next()) else {
                return true;
            };
            let theirs = missing.swap_remove(at);
            present += 1;
            if theirs.flags == message.flags {
                flags_equal += 1;
            } else {
                wrong_flags += 1;
            }
            if theirs.strict == message.strict {
                same_content += 1;
            } else {
                other_content.push((&theirs.path, &message.path));
            }
            false
        });
        if !missing.is_empty() || !extra.is_empty() || wrong_flags > 0 || !other_content.is_empty()
        {
            eprintln!(
                "{name}: {} missing, {} extra, {wrong_flags} with other flags, {} with other \
                 content",
                missing.len(),
                extra.len(),
                other_content.len()
            );
            for message in missing.iter().take(3) {
                eprintln!("  missing: {}", message.path.display());
            }
            for message in extra.iter().take(3) {
                eprintln!("  extra: {}", message.path.display());
            }
            for (server, local) in other_content.iter().take(2) {
                eprintln!(
                    "  other content: {} (server) {} (local)",
                    server.display(),
                    local.display()
                );
            }
        }
    }
    println!(
        "server={server_count} local={local_count} present={present} missing={} extra={} \
         flags_equal={flags_equal} same_content={same_content}",
        server_count - present,
        local_count - present
    );
}

/// The messages under `root`, sorted by their loose key (then path): the same order in
/// every tool's Maildir.
fn messages_in_key_order(root: &Path) -> Vec<Message> {
    let mut all: Vec<Message> = folders(root)
        .values()
        .flat_map(|files| read_messages(files))
        .collect();
    all.sort_by(|a, b| (a.loose, &a.path).cmp(&(b.loose, &b.path)));
    all
}

fn change_local(root: &Path, flag_changes: usize, deletions: usize) {
    let all = messages_in_key_order(root);
    if all.len() < flag_changes + deletions {
        eprintln!(
            "bench-check: {} has {} messages, fewer than {flag_changes} + {deletions}",
            root.display(),
            all.len()
        );
        std::process::exit(1);
    }
    // Spread over the key order, which is random with respect to folders.
    for message in &all[..flag_changes] {
        let dir = message.path.parent().expect("a Maildir file's directory");
        let folder = dir.parent().expect("a Maildir folder");
        let name = message
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 file name");
        let (base, info) = name.rsplit_once(":2,").unwrap_or((name, ""));
        let mut letters: Vec<char> = if info.contains('F') {
            info.chars().filter(|&c| c != 'F').collect()
        } else {
            info.chars().chain(['F']).collect()
        };
        letters.sort_unstable();
        let renamed = folder.join("cur").join(format!(
            "{base}:2,{}",
            letters.into_iter().collect::<String>()
        ));
        fs::rename(&message.path, &renamed)
            .unwrap_or_else(|e| panic!("rename {}: {e}", message.path.display()));
    }
    for message in &all[flag_changes..flag_changes + deletions] {
        fs::remove_file(&message.path)
            .unwrap_or_else(|e| panic!("delete {}: {e}", message.path.display()));
    }
    println!("flags_changed={flag_changes} deleted={deletions}");
}

/// `* LIST (attributes) delimiter name`: the name as the server wrote it (an astring that
/// can go back into a command as it is), unless the folder cannot be selected.
fn listed_folder(line: &str) -> Option<String> {
    let rest = line.strip_prefix("* LIST (")?;
    let (attributes, rest) = rest.split_once(") ")?;
    if attributes.to_ascii_lowercase().contains("\\noselect") {
        return None;
    }
    let rest = if let Some(rest) = rest.strip_prefix("NIL ") {
        rest
    } else {
        // A quoted delimiter: "." or "\\".
        let rest = rest.strip_prefix('"')?;
        let end = if rest.starts_with('\\') { 2 } else { 1 };
        rest.get(end..)?.strip_prefix("\" ")?
    };
    Some(rest.to_owned())
}

/// The numbers of a `* SEARCH 1 2 3` response.
fn search(imap: &mut Uploader, criteria: &str) -> Vec<u32> {
    let lines = imap
        .command(&format!("UID SEARCH {criteria}"))
        .unwrap_or_else(|e| panic!("UID SEARCH {criteria}: {e}"));
    lines
        .iter()
        .filter_map(|line| line.strip_prefix("* SEARCH"))
        .flat_map(|rest| rest.split_whitespace().map(|n| n.parse::<u32>().unwrap()))
        .collect()
}

fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn change_server(port: u16, user: &str, password: &str) {
    let mut imap = Uploader::login(port, user, password);
    let mut names: Vec<String> = imap
        .command("LIST \"\" \"*\"")
        .expect("LIST")
        .iter()
        .filter_map(|line| listed_folder(line))
        .collect();
    names.sort();
    // Every message as (folder, uid, flagged), in a fixed order.
    let mut all = Vec::new();
    for (f, name) in names.iter().enumerate() {
        imap.command(&format!("SELECT {name}"))
            .unwrap_or_else(|e| panic!("SELECT {name}: {e}"));
        let flagged: BTreeSet<u32> = search(&mut imap, "FLAGGED").into_iter().collect();
        for uid in search(&mut imap, "ALL") {
            all.push((f, uid, flagged.contains(&uid)));
        }
    }
    let total = all.len();
    let toggle = |i: usize| i % 100 == 37;
    let stride = (total / 50).max(1);
    // Evenly spread; one that falls on a toggled message moves to the next.
    let expunge: BTreeSet<usize> = (0..total)
        .filter(|&i| i % stride == stride / 2)
        .map(|i| if toggle(i) { i + 1 } else { i })
        .filter(|&i| i < total)
        .take(50)
        .collect();
    let (mut toggled, mut expunged) = (0, 0);
    for (f, name) in names.iter().enumerate() {
        let mut add = Vec::new();
        let mut remove = Vec::new();
        let mut delete = Vec::new();
        for (i, &(folder, uid, flagged)) in all.iter().enumerate() {
            if folder != f {
                continue;
            }
            if toggle(i) {
                if flagged { &mut remove } else { &mut add }.push(uid);
            } else if expunge.contains(&i) {
                delete.push(uid);
            }
        }
        if add.is_empty() && remove.is_empty() && delete.is_empty() {
            continue;
        }
        imap.command(&format!("SELECT {name}"))
            .unwrap_or_else(|e| panic!("SELECT {name}: {e}"));
        for (uids, store) in [
            (&add, "+FLAGS.SILENT (\\Flagged)"),
            (&remove, "-FLAGS.SILENT (\\Flagged)"),
            (&delete, "+FLAGS.SILENT (\\Deleted)"),
        ] {
            if !uids.is_empty() {
                imap.command(&format!("UID STORE {} {store}", uid_set(uids)))
                    .unwrap_or_else(|e| panic!("UID STORE in {name}: {e}"));
            }
        }
        if !delete.is_empty() {
            imap.command(&format!("UID EXPUNGE {}", uid_set(&delete)))
                .unwrap_or_else(|e| panic!("UID EXPUNGE in {name}: {e}"));
        }
        toggled += add.len() + remove.len();
        expunged += delete.len();
    }
    // 100 new messages, round robin over the folders.
    let seed = 4242;
    let mut rng = Rng::new(seed);
    let mut new: Vec<Vec<CorpusMessage>> = vec![Vec::new(); names.len()];
    for k in 0..100u64 {
        let shape = if rng.below(10) == 0 {
            Shape::Attachment(rng.between(20_000, 300_000) as usize)
        } else {
            Shape::Text(rng.between(1_000, 30_000) as usize)
        };
        let internal_date = random_date(&mut rng);
        let index = 9_000_000 + k;
        new[k as usize % names.len()].push(CorpusMessage {
            name: format!("new-{index}"),
            content: generated_message(seed, index, shape, internal_date),
            flags: random_flags(&mut rng),
            internal_date,
            send_raw: false,
        });
    }
    let mut added = 0;
    for (name, messages) in names.iter().zip(&new) {
        if !messages.is_empty() {
            imap.append_many(name, messages)
                .unwrap_or_else(|e| panic!("APPEND to {name}: {e}"));
            added += messages.len();
        }
    }
    imap.command("LOGOUT").ok();
    println!("messages={total} flags_changed={toggled} expunged={expunged} added={added}");
}

fn prepare_upload(server_root: &Path, dest: &Path, slashes: bool) {
    let mut n = 0;
    for (name, files) in folders(server_root) {
        let dir = if slashes {
            dest.join(&name)
        } else {
            dest.join(name.replace('/', "."))
        };
        let mut parents = vec![dir.clone()];
        if !slashes {
            let parts: Vec<&str> = name.split('/').collect();
            for n in 1..parts.len() {
                parents.push(dest.join(parts[..n].join(".")));
            }
        }
        for folder in &parents {
            for sub in ["cur", "new", "tmp"] {
                fs::create_dir_all(folder.join(sub))
                    .unwrap_or_else(|e| panic!("create {}: {e}", folder.display()));
            }
        }
        for file in files {
            n += 1;
            let mtime = mtime_unix(&file);
            let target = dir
                .join("cur")
                .join(format!("{mtime}.B{n}.bench:2,{}", flags_of(&file)));
            fs::copy(&file, &target)
                .unwrap_or_else(|e| panic!("copy {} to {}: {e}", file.display(), target.display()));
            set_mtime_unix(&target, mtime);
        }
    }
    println!("messages={n}");
}
