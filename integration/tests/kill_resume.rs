//! The acceptance test for crash safety: a sync of a few thousand messages, killed with
//! SIGKILL again and again at varying moments, each time restarted, must end with every
//! message exactly once on each side, the flags converged, nothing left in `tmp/`, and a
//! final run that finds nothing to do. Then the same for flag changes and deletions.
//!
//! The kill moments come from a fixed-seed generator and grow slowly, so the first runs
//! die during startup and listing and later ones in the middle of copying; whatever the
//! machine's speed, some run eventually outlives its delay and finishes.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use twinbox_integration::*;

/// The most kills per phase; after that one run is let finish.
const MAX_KILLS: u32 = 60;

type Tree = BTreeMap<String, BTreeMap<Vec<u8>, String>>;

/// A small deterministic generator (xorshift64*), so every run kills at the same moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The flag combinations a mail client leaves (letters sorted).
const FLAG_CHOICES: [&str; 7] = ["", "", "S", "S", "FS", "RS", "DFS"];

/// Fills `folder` under `root` with `count` generated messages, some in `new/` without
/// flags and the others in `cur/` with flags, and records them in `expected`.
fn generate(root: &Path, folder: &str, count: usize, rng: &mut Rng, expected: &mut Tree) {
    let dir = create_folder(&root.join(folder));
    let side = root.file_name().unwrap().to_str().unwrap().to_owned();
    for n in 0..count {
        let content = message(&format!("{side}-{folder}-{n}"));
        let flags = FLAG_CHOICES[rng.below(FLAG_CHOICES.len() as u64) as usize];
        if flags.is_empty() {
            deliver_new(&dir, &content);
        } else {
            deliver_cur(&dir, &content, flags);
        }
        expected
            .entry(folder.to_owned())
            .or_default()
            .insert(content, flags.to_owned());
    }
}

/// What the kill loop did.
struct KillLoop {
    kills: u32,
    /// The delays of the kills, in milliseconds.
    delays: Vec<u64>,
}

/// Runs `twinbox sync`, killing it with SIGKILL after growing, seeded-random delays,
/// until a run finishes by itself (then it must have exited 0), at most `MAX_KILLS` kills.
fn kill_loop(sandbox: &Sandbox, rng: &mut Rng) -> KillLoop {
    let log = sandbox.path().join("run.log");
    let mut delays = Vec::new();
    for attempt in 0..=MAX_KILLS {
        let output = File::create(&log).unwrap();
        let mut command = sandbox.command(["sync"]);
        command
            .stdout(Stdio::from(output.try_clone().unwrap()))
            .stderr(Stdio::from(output));
        let last = attempt == MAX_KILLS;
        let mut child = command.spawn().expect("start twinbox");
        let status = if last {
            child.wait().unwrap()
        } else {
            // 2 ms to ~10 ms at first, growing by ~4 ms a run.
            let delay = 2 + u64::from(attempt) * 4 + rng.below(8 + u64::from(attempt) * 2);
            thread::sleep(Duration::from_millis(delay));
            match child.try_wait().unwrap() {
                Some(status) => status,
                None => {
                    child.kill().unwrap();
                    let status = child.wait().unwrap();
                    delays.push(delay);
                    status
                }
            }
        };
        match status.code() {
            // Finished by itself (or just before the kill landed).
            Some(0) => {
                return KillLoop {
                    kills: delays.len() as u32,
                    delays,
                }
            }
            Some(code) => panic!(
                "run {attempt} (after {} kills) exited with {code}:\n{}",
                delays.len(),
                fs::read_to_string(&log).unwrap_or_default()
            ),
            None => {} // killed: go again
        }
    }
    unreachable!("the last run is never killed")
}

/// Panics unless both sides hold exactly `expected` (which also rules out duplicates:
/// [`tree_map`] refuses two files with one content). Returns what an interrupted write
/// left behind (files in `tmp/`, stray files in folder directories), for the caller to
/// check once the other phase has run too.
#[track_caller]
fn assert_converged(sandbox: &Sandbox, expected: &Tree) -> Vec<PathBuf> {
    let mut leftovers = Vec::new();
    for root in [sandbox.local(), sandbox.remote()] {
        let tree = tree_map(&root);
        assert_same_tree(expected, &tree);
        let count: usize = tree.values().map(BTreeMap::len).sum();
        let files: usize = folders(&root)
            .iter()
            .map(|f| messages(&root.join(f)).len())
            .sum();
        assert_eq!(count, files, "{}: every message once", root.display());
        assert_names_carry_uids(&root);
        leftovers.extend(tmp_leftovers(&root));
        leftovers.extend(stray_files(&root));
    }
    leftovers
}

#[test]
fn sync_killed_again_and_again_converges() {
    let started = Instant::now();
    let sandbox = Sandbox::new();
    sandbox.write_two_maildirs_config("");
    let mut rng = Rng(0x7715_b0c5_2024_0001);
    let mut expected = Tree::new();
    generate(&sandbox.local(), "INBOX", 1200, &mut rng, &mut expected);
    generate(&sandbox.local(), "Archive", 1000, &mut rng, &mut expected);
    generate(
        &sandbox.local(),
        "Work.Projects",
        800,
        &mut rng,
        &mut expected,
    );
    generate(&sandbox.remote(), "INBOX", 150, &mut rng, &mut expected);
    generate(&sandbox.remote(), "Lists", 150, &mut rng, &mut expected);
    let total: usize = expected.values().map(BTreeMap::len).sum();
    assert_eq!(total, 3300);

    // Phase 1: the first sync, killed.
    let first = kill_loop(&sandbox, &mut rng);
    eprintln!(
        "phase 1: {} kills (delays {:?} ms), {:?} so far",
        first.kills,
        first.delays,
        started.elapsed()
    );
    assert!(
        first.kills >= 3,
        "the sync was hardly interrupted: {} kills",
        first.kills
    );
    let outcome = sandbox.sync_ok(&[]);
    assert_eq!(
        outcome.stdout, "Account Test: synced 4 folders: no changes\n",
        "a run after the interrupted sync finds nothing to do"
    );
    let leftovers_1 = assert_converged(&sandbox, &expected);

    // Phase 2: a few hundred flag changes and deletions on the local side, killed.
    let local = sandbox.local();
    let mut changed = 0;
    let mut deleted = 0;
    for folder in folders(&local) {
        for message in messages(&local.join(&folder)) {
            match rng.below(10) {
                0 | 1 => {
                    fs::remove_file(&message.path).unwrap();
                    expected.get_mut(&folder).unwrap().remove(&message.content);
                    deleted += 1;
                }
                2 | 3 => {
                    let flags = if message.flags.contains('S') {
                        "F"
                    } else {
                        "RS"
                    };
                    set_flags(&message.path, flags);
                    *expected
                        .get_mut(&folder)
                        .unwrap()
                        .get_mut(&message.content)
                        .unwrap() = flags.to_owned();
                    changed += 1;
                }
                _ => {}
            }
        }
    }
    assert!(
        changed >= 300 && deleted >= 300,
        "{changed} flag changes, {deleted} deletions"
    );
    let second = kill_loop(&sandbox, &mut rng);
    eprintln!(
        "phase 2: {changed} flag changes, {deleted} deletions; {} kills (delays {:?} ms), {:?} in all",
        second.kills,
        second.delays,
        started.elapsed()
    );
    let outcome = sandbox.sync_ok(&[]);
    assert_eq!(
        outcome.stdout, "Account Test: synced 4 folders: no changes\n",
        "a run after the interrupted sync finds nothing to do"
    );
    let leftovers_2 = assert_converged(&sandbox, &expected);
    assert!(
        leftovers_1.is_empty() && leftovers_2.is_empty(),
        "interrupted writes left files behind that no later run cleaned up:\n\
         after phase 1: {leftovers_1:#?}\nafter phase 2: {leftovers_2:#?}"
    );
    eprintln!("{:?} in all", started.elapsed());
}

/// A kill in the first milliseconds of the very first sync, while the state database is
/// being created, must not leave a state file that every later run refuses. Each attempt
/// starts afresh and kills a little later than the one before, sweeping the startup.
#[test]
fn a_kill_while_the_state_is_created_is_harmless() {
    let mut broken = Vec::new();
    for attempt in 0..80u64 {
        let sandbox = Sandbox::new();
        sandbox.write_two_maildirs_config("");
        let mut expected = Tree::new();
        let content = message(&format!("only-{attempt}"));
        deliver_new(&create_folder(&sandbox.local().join("INBOX")), &content);
        expected
            .entry("INBOX".to_owned())
            .or_default()
            .insert(content, String::new());

        let mut child = sandbox
            .command(["sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start twinbox");
        thread::sleep(Duration::from_micros(attempt * 125));
        child.kill().unwrap();
        child.wait().unwrap();

        let outcome = sandbox.run(&["sync"]);
        if outcome.code != Some(0) {
            let state = sandbox.metadata().join("Account-Test.redb");
            let size = fs::metadata(&state).map(|m| m.len()).ok();
            broken.push(format!(
                "killed after {} us, state file size {size:?}:\n{outcome}",
                attempt * 125
            ));
            continue;
        }
        // Files left in tmp/ are the other test's concern.
        let _leftovers = assert_converged(&sandbox, &expected);
    }
    assert!(
        broken.is_empty(),
        "{} of 80 runs after an early kill failed:\n{}",
        broken.len(),
        broken.join("\n")
    );
}
