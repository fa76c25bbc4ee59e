//! What goes where: a [`Plan`] names a mailbox's folders and what fills each (a corpus
//! group or generated shapes); the acceptance test and the benchmark each have one.

use super::{
    generated_message, random_date, random_flags, spam_assassin_group, CorpusMessage, Rng, Shape,
    SPAM_ASSASSIN_GROUPS,
};

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
        self.messages_iter(i).collect()
    }

    /// The messages of folder `i` one at a time (the same as [`Plan::messages`]): a
    /// generated folder is made as it is read, so a large one need not fit in memory.
    pub fn messages_iter(&self, i: usize) -> Box<dyn Iterator<Item = CorpusMessage> + '_> {
        let plan = &self.folders[i];
        let mut rng = Rng::new(self.seed.wrapping_add(i as u64 * 7919));
        match &plan.source {
            Source::SpamAssassin(group) => Box::new(spam_assassin_group(group).into_iter().map(
                move |(name, content)| CorpusMessage {
                    name,
                    content,
                    flags: random_flags(&mut rng),
                    internal_date: random_date(&mut rng),
                    send_raw: rng.chance(20),
                },
            )),
            Source::Generated { first, shapes } => {
                let (seed, first) = (self.seed, *first);
                Box::new(shapes.iter().enumerate().map(move |(k, &shape)| {
                    let index = first + k as u64;
                    let internal_date = random_date(&mut rng);
                    CorpusMessage {
                        name: format!("generated-{index}-{}", shape.label()),
                        content: generated_message(seed, index, shape, internal_date),
                        flags: random_flags(&mut rng),
                        internal_date,
                        send_raw: rng.chance(20),
                    }
                }))
            }
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
    sized_benchmark_plan(&SPAM_ASSASSIN_GROUPS, 10_000)
}

/// A benchmark mailbox of another size: the SpamAssassin `groups` (the first in INBOX)
/// plus about `generated` generated messages in up to 17 more folders. Of the generated
/// ones, 16 folders get 5.88% each (mostly text of 1-30 KB, an attachment of 20-300 KB in
/// one of 3, one of 50 with 1-4.5 MB: about 113 KB a message on average) and `Odd` the
/// rest (the odd shapes, at least 8 of them). `(all groups, 10,000)` is
/// [`benchmark_plan`]. Without groups INBOX stays empty.
pub fn sized_benchmark_plan(groups: &[&'static str], generated: usize) -> Plan {
    let seed = 2024;
    let mut rng = Rng::new(seed);
    let names_of_groups = |group: &str| match group {
        "easy-ham-1" => "INBOX",
        "easy-ham-2" => "Ham/Easy 2",
        "hard-ham-1" => "Ham/Hard",
        "spam-1" => "Spam/2002",
        _ => "Spam/\u{c9}t\u{e9} 2003",
    };
    let mut folders: Vec<(String, Source)> = groups
        .iter()
        .enumerate()
        .map(|(k, &group)| {
            let name = if k == 0 {
                "INBOX"
            } else {
                names_of_groups(group)
            };
            (name.to_owned(), Source::SpamAssassin(group))
        })
        .collect();
    // 16 generated folders of 588 messages for 10,000 (10,000 in all with the odd ones):
    // mostly text, an attachment of 20-300 KB in one of 3, and one of 50 with 1-4.5 MB.
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
    let per_folder = generated * 588 / 10_000;
    // Message numbers (which make each message's bytes) must not overlap between folders.
    assert!(
        per_folder <= 10_000,
        "at most 170,000 generated messages (not {generated})"
    );
    for (k, name) in names.iter().enumerate() {
        if per_folder == 0 {
            break;
        }
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
    if generated > 0 {
        folders.push((
            "Odd".to_owned(),
            Source::Generated {
                first: 1_000_000,
                shapes: odd_shapes(generated - per_folder * names.len()),
            },
        ));
    }
    Plan {
        seed,
        folders: folders
            .into_iter()
            .map(|(folder, source)| FolderPlan { folder, source })
            .collect(),
    }
}
