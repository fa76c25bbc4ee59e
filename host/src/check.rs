//! `twinbox check [--connect]`: everything a sync would refuse, found without syncing.
//!
//! Without `--connect` it checks what needs no server: the configuration (already read by
//! the caller), the plugins, and each account's sections, plugins and folder-name rules,
//! as a sync checks them before it starts. With `--connect` it also opens every
//! repository as a dry run opens it (read-only: a missing Maildir root stays missing, no
//! state file is opened) and lists its folders, which logs in to servers and checks their
//! TLS. Every problem is listed, not only the first, each as the one line (with its fix)
//! a sync would print.

use backend_api::RepositoryConfig;

use crate::accounts::{self, Request};
use crate::config::Config;
use crate::plugins::PluginCatalog;
use crate::side::Side;
use crate::summary::counted;

/// What was checked, in order, and how bad the worst problem was.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// The lines to print: `Account A: ok`, `  PROBLEM: ...`, `  warning: ...`.
    pub lines: Vec<String>,
    /// Problems in the configuration or the plugins (a sync would exit with 2).
    pub config_problems: usize,
    /// Repositories that could not be opened or listed (a sync would fail the account).
    pub connect_problems: usize,
}

impl CheckReport {
    /// The exit code: 2 if the configuration has a problem, else 1 if a repository could
    /// not be opened, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.config_problems > 0 {
            2
        } else if self.connect_problems > 0 {
            1
        } else {
            0
        }
    }

    /// The report as text, ending with a line that counts the problems.
    pub fn render(&self) -> String {
        let mut out: String = self.lines.iter().map(|l| format!("{l}\n")).collect();
        let problems = self.config_problems + self.connect_problems;
        if problems == 0 {
            out.push_str("check: no problems found\n");
        } else {
            out.push_str(&format!(
                "check: {} found\n",
                counted(problems, "problem", "problems")
            ));
        }
        out
    }
}

/// Checks `accounts` (or `[general] accounts` when empty) of `config`; `warnings` are the
/// configuration's own (options with no effect), listed first.
pub fn check(
    config: &Config,
    catalog: &PluginCatalog,
    accounts: &[String],
    connect: bool,
) -> CheckReport {
    let mut report = CheckReport::default();
    report.lines.push(format!("Config {}", config.file()));
    for warning in &config.warnings {
        report.lines.push(format!("  warning: {warning}"));
    }
    for (_, problem) in &catalog.broken {
        // A broken library only matters if a repository needs its type, which the
        // account checks below find; listed so that it is not a surprise.
        report.lines.push(format!(
            "  warning: a plugin library cannot be used: {problem}"
        ));
    }
    let selected = match config.selected_accounts(accounts) {
        Ok(selected) => selected,
        Err(error) => {
            report.lines.push(format!("  PROBLEM: {error}"));
            report.config_problems += 1;
            return report;
        }
    };
    for account in selected {
        let request = Request {
            accounts: vec![account.name.clone()],
            dry_run: true,
            ..Default::default()
        };
        let prepared = match accounts::prepare(config, catalog, &request) {
            Ok(mut prepared) if prepared.len() == 1 => prepared.remove(0),
            Ok(_) => continue,
            Err(error) => {
                report.lines.push(format!("Account {}:", account.name));
                report.lines.push(format!("  PROBLEM: {error}"));
                report.config_problems += 1;
                continue;
            }
        };
        let describe = |side: Side| {
            let (repository, plugin) = &prepared.repositories[side];
            format!(
                "[Repository {}] ({}, {side})",
                repository.name, plugin.hello.name
            )
        };
        if !connect {
            report.lines.push(format!(
                "Account {}: configuration ok: {} <-> {} (run with --connect to log in)",
                account.name,
                describe(Side::Local),
                describe(Side::Remote)
            ));
            continue;
        }
        report.lines.push(format!("Account {}:", account.name));
        // The remote side first, as a sync opens them.
        for side in [Side::Remote, Side::Local] {
            let (repository, plugin) = &prepared.repositories[side];
            let config = RepositoryConfig {
                read_only: true,
                ..repository.clone()
            };
            let opened = plugin
                .open_repository(&config)
                .and_then(|opened| opened.list_folders());
            match opened {
                Ok(folders) => report.lines.push(format!(
                    "  {}: ok, {}",
                    describe(side),
                    counted(
                        folders.iter().filter(|f| f.selectable).count(),
                        "folder",
                        "folders"
                    )
                )),
                Err(error) => {
                    report
                        .lines
                        .push(format!("  {}: PROBLEM: {error}", describe(side)));
                    report.connect_problems += 1;
                }
            }
        }
    }
    report
}
