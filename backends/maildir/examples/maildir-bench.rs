//! Times what the sync engine asks of a Maildir folder (issue 9), run by hand, never in CI:
//!
//! ```sh
//! cargo run --release -p twinbox-maildir --example maildir-bench -- \
//!     DIR [MESSAGES [SIZE [BATCH [LISTED [ROUNDS]]]]]
//! ```
//!
//! - *copy*: `MESSAGES` messages of `SIZE` bytes appended into an empty folder the way the
//!   engine's copy loop does it: per batch of `BATCH`, `status()`, `append_messages`,
//!   `flush()`. The time of the `status()` calls is also given alone.
//! - *listing*: a folder of `LISTED` small messages (half of them seen, so in `cur/`),
//!   opened afresh and left alone for 2.5 s: the first `status()`, a second one with
//!   nothing changed, then `list_messages()`; and the same after one file was delivered
//!   by another program.
//!
//! Each is run `ROUNDS` times and the medians are printed, each run's times after them.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use backend_api::{Backend, Repository, SystemFlag};
use backend_kit::testing::{file_config, message, path};
use twinbox_maildir::MaildirBackend;

fn open(root: &Path) -> Box<dyn Repository> {
    MaildirBackend::open(file_config("bench", root)).expect("the Maildir opens")
}

fn body(size: usize, n: usize) -> Vec<u8> {
    let mut bytes = format!("Subject: message {n}\n\n").into_bytes();
    bytes.extend((0..size.saturating_sub(bytes.len())).map(|i| b"abcdefghij\n"[i % 11]));
    bytes
}

/// Appends `count` messages in batches as the engine does; (total time, status time).
fn copy(root: &Path, count: usize, size: usize, batch: usize) -> (Duration, Duration) {
    let repository = open(root);
    repository.create_folder(&path("INBOX")).expect("create");
    let mut folder = repository.open_folder(&path("INBOX")).expect("open");
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let mut in_status = Duration::ZERO;
    let start = Instant::now();
    let mut done = 0;
    while done < count {
        let n = batch.min(count - done);
        let asked = Instant::now();
        folder.status().expect("status");
        in_status += asked.elapsed();
        let messages = (done..done + n)
            .map(|i| message(&body(size, i), &[], Some(1_700_000_000)))
            .collect();
        folder.append_messages(messages).expect("append");
        folder.flush().expect("flush");
        done += n;
    }
    (start.elapsed(), in_status)
}

/// Builds a folder of `count` small messages, half seen (in `cur/`), half unseen.
fn fill(root: &Path, count: usize) {
    let repository = open(root);
    repository.create_folder(&path("Big")).expect("create");
    let mut folder = repository.open_folder(&path("Big")).expect("open");
    for start in (0..count).step_by(1000) {
        let messages = (start..count.min(start + 1000))
            .map(|i| {
                let flags: &[SystemFlag] = if i % 2 == 0 { &[SystemFlag::Seen] } else { &[] };
                message(&body(2000, i), flags, None)
            })
            .collect();
        folder.append_messages(messages).expect("append");
    }
    folder.flush().expect("flush");
}

/// Times of: first status, second status, list, status + list after one delivery.
fn listing(root: &Path, count: usize) -> [Duration; 4] {
    let repository = open(root);
    let mut folder = repository.open_folder(&path("Big")).expect("open");
    // A folder nobody touched for a while, as most are at the start of a sync (the
    // Maildir backend trusts a scan only of directories unchanged for 2 s).
    std::thread::sleep(Duration::from_millis(2500));
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        start.elapsed()
    };
    let first = time(&mut || {
        assert_eq!(
            folder.status().expect("status").message_count as usize,
            count
        )
    });
    let second = time(&mut || drop(folder.status().expect("status")));
    let list = time(&mut || assert_eq!(folder.list_messages().expect("list").len(), count));
    let delivered = root.join("Big/new/1700000000.M1P1.elsewhere");
    fs::write(&delivered, body(2000, 0)).expect("deliver");
    let after = time(&mut || {
        assert_eq!(
            folder.status().expect("status").message_count as usize,
            count + 1
        );
        folder.list_messages().expect("list");
    });
    // Leave the folder as it was for the next round.
    let last = folder
        .list_messages()
        .expect("list")
        .last()
        .map(|m| m.uid)
        .expect("a message");
    folder.delete_messages(&[last]).expect("delete");
    folder.flush().expect("flush");
    [first, second, list, after]
}

fn median(times: &mut [Duration]) -> String {
    times.sort();
    let all: Vec<String> = times
        .iter()
        .map(|t| format!("{:.1}", t.as_secs_f64() * 1e3))
        .collect();
    format!(
        "{:>9.1} ms  ({})",
        times[times.len() / 2].as_secs_f64() * 1e3,
        all.join(" ")
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(
        args.first()
            .expect("usage: DIR [MESSAGES [SIZE [BATCH [LISTED [ROUNDS]]]]]"),
    );
    let number = |index: usize, default: usize| {
        args.get(index)
            .map_or(default, |value| value.parse().expect("a number"))
    };
    let (messages, size, batch) = (number(1, 3000), number(2, 70_000), number(3, 230));
    let (listed, rounds) = (number(4, 20_000), number(5, 3));

    let mut totals = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..rounds {
        let _ = fs::remove_dir_all(&dir);
        let (total, status) = copy(&dir, messages, size, batch);
        totals.push(total);
        statuses.push(status);
    }
    println!("copy of {messages} messages of {size} bytes in batches of {batch}:");
    println!("  total            {}", median(&mut totals));
    println!("  of which status  {}", median(&mut statuses));

    let _ = fs::remove_dir_all(&dir);
    fill(&dir, listed);
    let mut times: [Vec<Duration>; 4] = Default::default();
    for _ in 0..rounds {
        for (all, one) in times.iter_mut().zip(listing(&dir, listed)) {
            all.push(one);
        }
    }
    let _ = fs::remove_dir_all(&dir);
    println!("folder of {listed} messages, opened afresh:");
    for (what, all) in [
        "first status",
        "second status",
        "list_messages",
        "delivery: status+list",
    ]
    .iter()
    .zip(&mut times)
    {
        println!("  {what:<22}{}", median(all));
    }
}
