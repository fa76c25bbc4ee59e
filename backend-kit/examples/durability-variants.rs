//! Measures ways of making a batch of new files durable, for the file backends' choice
//! (issue 9, "batched durability"). Run by hand, never in CI:
//!
//! ```sh
//! cargo run --release -p twinbox-backend-kit --example durability-variants -- \
//!     DIR [FILES [SIZE [BATCH [ROUNDS]]]]
//! ```
//!
//! Writes `FILES` files of `SIZE` bytes into `DIR/tmp`, `BATCH` at a time, makes each batch
//! durable with one variant, renames the batch into `DIR/new` and syncs the directories,
//! as a Maildir append does. Every variant runs `ROUNDS` times, interleaved, and the
//! medians are printed. `none` (no file sync at all) is the lower bound, not a candidate.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use backend_kit::durable::sync_dir;

#[derive(Clone, Copy, Debug)]
enum Variant {
    /// No file sync (directories only): the lower bound.
    None,
    /// Today: write, fsync, next file.
    FsyncEach,
    /// Write every file, then fsync each in turn.
    WriteAllThenFsync,
    /// Write every file, then fsync them from `n` threads.
    ParallelFsync(usize),
    /// `sync_file_range(WRITE)` after each write (starts writeback), then fsync each.
    RangeThenFsync,
    /// `sync_file_range(WRITE)` after each write, then fsync from `n` threads.
    RangeThenParallel(usize),
    /// Write every file, then one `syncfs(2)` of the whole file system.
    Syncfs,
}

fn fsync_all(files: &[File]) {
    for file in files {
        file.sync_all().expect("fsync");
    }
}

fn write_batch(
    tmp: &Path,
    first: usize,
    count: usize,
    body: &[u8],
    variant: Variant,
) -> Vec<PathBuf> {
    let mut paths = Vec::with_capacity(count);
    let mut files = Vec::with_capacity(count);
    for n in first..first + count {
        let path = tmp.join(format!("m{n}"));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .expect("create");
        file.write_all(body).expect("write");
        match variant {
            Variant::FsyncEach => file.sync_all().expect("fsync"),
            Variant::RangeThenFsync | Variant::RangeThenParallel(_) => {
                // SAFETY: a valid descriptor; the flags only start writeback.
                let result = unsafe {
                    libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE)
                };
                assert_eq!(result, 0, "sync_file_range");
            }
            _ => {}
        }
        paths.push(path);
        files.push(file);
    }
    match variant {
        Variant::None | Variant::FsyncEach => {}
        Variant::WriteAllThenFsync | Variant::RangeThenFsync => fsync_all(&files),
        Variant::ParallelFsync(threads) | Variant::RangeThenParallel(threads) => {
            let chunk = files.len().div_ceil(threads).max(1);
            std::thread::scope(|scope| {
                for part in files.chunks(chunk) {
                    scope.spawn(move || fsync_all(part));
                }
            });
        }
        Variant::Syncfs => {
            // SAFETY: a valid descriptor of a file on the file system to sync.
            let result = unsafe { libc::syncfs(files[0].as_raw_fd()) };
            assert_eq!(result, 0, "syncfs");
        }
    }
    paths
}

fn run(dir: &Path, files: usize, size: usize, batch: usize, variant: Variant) -> Duration {
    let _ = fs::remove_dir_all(dir);
    for sub in ["tmp", "new"] {
        fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    // Nothing of an earlier round may be left for this one to write back.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let body: Vec<u8> = (0..size).map(|i| b"abcdefghij\n"[i % 11]).collect();
    let (tmp, new) = (dir.join("tmp"), dir.join("new"));
    let start = Instant::now();
    let mut done = 0;
    while done < files {
        let count = batch.min(files - done);
        for path in write_batch(&tmp, done, count, &body, variant) {
            let name = path.file_name().expect("a file name");
            fs::rename(&path, new.join(name)).expect("rename");
        }
        sync_dir(&new).expect("sync new");
        sync_dir(&tmp).expect("sync tmp");
        done += count;
    }
    start.elapsed()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(
        args.first()
            .expect("usage: DIR [FILES [SIZE [BATCH [ROUNDS]]]]"),
    );
    let number = |index: usize, default: usize| {
        args.get(index)
            .map_or(default, |value| value.parse().expect("a number"))
    };
    let (files, size, batch, rounds) = (
        number(1, 2000),
        number(2, 70_000),
        number(3, 200),
        number(4, 3),
    );
    let variants = [
        Variant::None,
        Variant::FsyncEach,
        Variant::WriteAllThenFsync,
        Variant::ParallelFsync(4),
        Variant::ParallelFsync(8),
        Variant::ParallelFsync(16),
        Variant::ParallelFsync(32),
        Variant::ParallelFsync(64),
        Variant::RangeThenFsync,
        Variant::RangeThenParallel(16),
        Variant::Syncfs,
    ];
    let mut times = vec![Vec::new(); variants.len()];
    for _ in 0..rounds {
        for (variant, times) in variants.iter().zip(&mut times) {
            times.push(run(&dir, files, size, batch, *variant));
        }
    }
    let _ = fs::remove_dir_all(&dir);
    println!("{files} files of {size} bytes, batches of {batch}, median of {rounds}:");
    for (variant, times) in variants.iter().zip(&mut times) {
        times.sort();
        let all: Vec<String> = times
            .iter()
            .map(|t| format!("{:.2}", t.as_secs_f64()))
            .collect();
        println!(
            "  {:<22} {:>7.2} s   ({})",
            format!("{variant:?}"),
            times[times.len() / 2].as_secs_f64(),
            all.join(" ")
        );
    }
}
