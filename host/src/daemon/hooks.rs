//! `presynchook`, `postsynchook` and `newmail_hook`: shell commands run around a sync, as
//! OfflineIMAP runs them, but with a time limit.
//!
//! OfflineIMAP waits for a hook for ever, so one that hangs (a notifier waiting on a dead
//! display) stops all syncing; here a hook gets `hooktimeout` seconds (default 60), then
//! it and everything it started are killed. A hook that fails or is killed is reported on
//! one line and the sync goes on, as in OfflineIMAP.
//!
//! The semantics are OfflineIMAP's: `presynchook` runs before an account's sync and
//! `postsynchook` after it, both with `OFFLINEIMAPSYNCMODE` set to `full`, `quick` or
//! `idle`; `newmail_hook` runs after a sync that brought new messages into the local
//! INBOX from the remote repository. OfflineIMAP's `newmail_hook` is a Python lambda;
//! twinbox never runs Python, so it takes the shell command itself. A dry run calls no
//! hook (it logs what it would call).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::config::Config;

/// How long a hook may run when `hooktimeout` is not set.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// An account's hooks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hooks {
    pub presync: Option<String>,
    pub postsync: Option<String>,
    pub newmail: Option<String>,
    pub timeout: Duration,
}

/// Which hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    PreSync,
    PostSync,
    NewMail,
}

impl Hook {
    pub fn option(self) -> &'static str {
        match self {
            Hook::PreSync => "presynchook",
            Hook::PostSync => "postsynchook",
            Hook::NewMail => "newmail_hook",
        }
    }
}

/// What became of a hook that did not succeed; one line each.
#[derive(Debug, PartialEq, Eq)]
pub enum HookFailure {
    Spawn(String),
    Exit { status: String, stderr: String },
    TimedOut(Duration),
}

impl std::fmt::Display for HookFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookFailure::Spawn(error) => write!(f, "could not be started: {error}"),
            HookFailure::Exit { status, stderr } if stderr.is_empty() => {
                write!(f, "failed ({status})")
            }
            HookFailure::Exit { status, stderr } => write!(f, "failed ({status}): {stderr}"),
            HookFailure::TimedOut(limit) => write!(
                f,
                "did not finish within {} s and was killed; make it faster, run it in the \
                 background (`cmd &`), or raise hooktimeout",
                limit.as_secs_f64()
            ),
        }
    }
}

impl Hooks {
    /// The hooks of `account`: `presynchook`, `postsynchook`, `hooktimeout` and
    /// `newmail_hook` from its section, and `newmail_hook` from its remote repository's
    /// section (where OfflineIMAP reads it) if the account has none.
    pub fn read(config: &Config, account: &str) -> Result<Hooks, String> {
        let section = config.account(account).map_err(|e| e.to_string())?;
        let file = config.file();
        let command =
            |value: Option<&String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let remote = config
            .repository_for(account, crate::side::Side::Remote)
            .ok();
        let newmail = command(section.options.get("newmail_hook")).or_else(|| {
            remote
                .as_ref()
                .and_then(|r| command(r.options.get("newmail_hook")))
        });
        if let Some(value) = &newmail {
            if value.starts_with("lambda") {
                return Err(format!(
                    "{file}: [Account {account}] newmail_hook = {value}: twinbox never runs \
                     Python; write the shell command itself (newmail_hook = notify-send 'New mail')"
                ));
            }
        }
        let timeout = match section.options.get("hooktimeout").map(|v| v.trim()) {
            None | Some("") => DEFAULT_HOOK_TIMEOUT,
            Some(value) => match value.parse::<f64>() {
                Ok(seconds) if seconds > 0.0 && seconds.is_finite() => {
                    Duration::from_secs_f64(seconds)
                }
                _ => {
                    return Err(format!(
                        "{file}: [Account {account}] hooktimeout = {value}: not a positive number \
                         of seconds; set it to how long a hook may run (default 60)"
                    ))
                }
            },
        };
        Ok(Hooks {
            presync: command(section.options.get("presynchook")),
            postsync: command(section.options.get("postsynchook")),
            newmail,
            timeout,
        })
    }

    pub fn command(&self, hook: Hook) -> Option<&str> {
        match hook {
            Hook::PreSync => self.presync.as_deref(),
            Hook::PostSync => self.postsync.as_deref(),
            Hook::NewMail => self.newmail.as_deref(),
        }
    }

    /// Runs `hook` if set (nothing in a dry run), reporting a failure as a warning.
    /// `mode` is OFFLINEIMAPSYNCMODE.
    pub fn call(&self, hook: Hook, account: &str, mode: &str, dry_run: bool) {
        let Some(command) = self.command(hook) else {
            return;
        };
        if dry_run {
            log::info!(
                "{account}: would call {} `{command}` (not in a dry run)",
                hook.option()
            );
            return;
        }
        log::info!("{account}: calling {} `{command}`", hook.option());
        if let Err(failure) = run(command, account, mode, self.timeout) {
            log::warn!("Account {account}: {} `{command}` {failure}", hook.option());
        }
    }
}

/// Runs `command` with `sh -c`, stdin empty, its output logged, and kills its whole
/// process group if it outlives `timeout`.
pub fn run(command: &str, account: &str, mode: &str, timeout: Duration) -> Result<(), HookFailure> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .env("OFFLINEIMAPSYNCMODE", mode)
        .env("TWINBOX_ACCOUNT", account)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout kills what it started too.
        .process_group(0)
        .spawn()
        .map_err(|e| HookFailure::Spawn(e.to_string()))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait(&mut child, timeout);
    let status = match status {
        Some(status) => status,
        None => {
            kill_group(&child);
            let _ = child.wait();
            return Err(HookFailure::TimedOut(timeout));
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    for line in stdout.lines().chain(stderr.lines()) {
        log::info!("{account}: hook: {line}");
    }
    if status.success() {
        Ok(())
    } else {
        Err(HookFailure::Exit {
            status: describe(status),
            stderr: stderr.lines().last().unwrap_or_default().trim().to_owned(),
        })
    }
}

/// Reads a pipe to its end on a thread of its own, so a chatty hook never blocks on a
/// full pipe while we wait for it.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn wait(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => return None,
        }
    }
}

fn kill_group(child: &Child) {
    let Ok(pid) = i32::try_from(child.id()) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid signals the process group the child leads
    // (`process_group(0)` above); it touches no memory of ours.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hook_sees_the_sync_mode_and_its_failures_are_one_line() {
        let second = Duration::from_secs(5);
        run(
            "test \"$OFFLINEIMAPSYNCMODE\" = quick",
            "A",
            "quick",
            second,
        )
        .unwrap();
        let failure = run("echo oops >&2; exit 3", "A", "full", second).unwrap_err();
        assert_eq!(
            failure,
            HookFailure::Exit {
                status: "exit status 3".into(),
                stderr: "oops".into()
            }
        );
        assert_eq!(failure.to_string(), "failed (exit status 3): oops");
    }

    #[test]
    fn a_hook_that_hangs_is_killed_with_what_it_started() {
        let started = Instant::now();
        // The inner sleep holds the pipes open: only killing the group ends it.
        let failure = run(
            "sleep 30 & sleep 30",
            "A",
            "full",
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert_eq!(failure, HookFailure::TimedOut(Duration::from_millis(300)));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
