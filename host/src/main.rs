//! The `twinbox` command: parses the command line, reads the configuration, and runs the
//! library. Errors reach the user as one line; exit codes are 0 (all synced), 1 (some
//! folder or account failed, the rest synced) and 2 (bad usage or configuration).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use twinbox::accounts::{self, Request};
use twinbox::config::{self, Config};
use twinbox::daemon::{self, DaemonAccount, Hooks, Schedule};
use twinbox::engine::Repair;
use twinbox::mbnames::Mbnames;
use twinbox::offlineimap_import;
use twinbox::output::{self, Output, Style};
use twinbox::plugins::{self, PluginCatalog};
use twinbox::terminal::printable;

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// Keeps two mail repositories (IMAP, Maildir, and any plugin) in sync, two-way, without
/// changing a byte of any message.
#[derive(Parser, Debug)]
#[command(name = "twinbox", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// The configuration file (default: $XDG_CONFIG_HOME/twinbox/config, then ~/.twinboxrc).
    #[arg(short = 'c', long = "config", global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// A directory to search for backend plugins first (repeatable).
    #[arg(long = "plugin-dir", global = true, value_name = "DIR")]
    plugin_dirs: Vec<PathBuf>,

    /// More detail on stderr: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Print nothing unless something failed, and then only what failed (on stderr).
    #[arg(short = 'q', long = "quiet", global = true, conflicts_with = "verbose")]
    quiet: bool,

    /// For sync, repair and daemon: one JSON object per line on stdout for every event,
    /// then a `summary` object (per run under the daemon; the README's JSON output
    /// reference).
    #[arg(long = "json", global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sync accounts (all listed in [general] accounts, or those given with -a).
    ///
    /// If an account sets `autorefresh`, keeps running as `twinbox daemon` does (as
    /// OfflineIMAP does), unless -o is given.
    Sync(SyncArgs),
    /// Keep syncing until stopped: every account at start, then every `autorefresh`
    /// minutes (default 5), and a folder of `idlefolders` (default INBOX of an IMAP remote)
    /// as soon as the server reports new mail (IMAP IDLE).
    ///
    /// SIGUSR1 syncs every account now; SIGTERM or SIGINT finish the folders in flight,
    /// save the state and exit 0. A failed sync is retried with backoff.
    Daemon(DaemonArgs),
    /// List the backend plugins found, with their versions and any that failed to load.
    Plugins,
    /// Re-pair folders whose UIDs changed meaning (UIDVALIDITY changed, UIDNEXT went
    /// back): forget their state, pair their messages again by content (flags of both
    /// sides kept), copy only what one side lacks. Nothing that matched is downloaded
    /// again.
    ///
    /// Without -f, repairs the folders that need it and syncs the others as usual; with
    /// -f, starts the named folders over even if they look fine.
    Repair(RepairArgs),
    /// Forget the sync state of folders, so that the next sync treats them as new.
    ///
    /// Use it after a folder's UIDVALIDITY changed or a folder vanished, as the sync's
    /// error message says. Nothing in the repositories is changed.
    Forget(ForgetArgs),
    /// Import OfflineIMAP's sync state, so that the first sync of the mail OfflineIMAP
    /// kept transfers nothing and keeps its flag history.
    ///
    /// Reads Account-<A>/LocalStatus-sqlite (or LocalStatus) and Repository-<R>/FolderValidity
    /// (and UIDMapping for a local IMAP repository) under OfflineIMAP's metadata directory;
    /// writes twinbox's state for each folder OfflineIMAP synced. Nothing of OfflineIMAP's
    /// is changed, and no message is renamed or rewritten.
    ImportOfflineimap(ImportArgs),
    /// Check the configuration and the plugins, and with --connect log in to every
    /// repository, listing each problem with its fix. Syncs nothing, creates nothing.
    ///
    /// Exit codes: 0 no problem, 1 a repository could not be opened (--connect), 2 the
    /// configuration or a plugin has a problem.
    Check(CheckArgs),
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Only these accounts (comma-separated, or repeat -a).
    #[arg(short = 'a', long = "accounts", value_name = "ACCOUNT[,...]")]
    accounts: Vec<String>,
    /// Also open every repository read-only and list its folders: logs in to servers and
    /// checks their TLS.
    #[arg(long = "connect")]
    connect: bool,
}

#[derive(Args, Debug)]
struct SyncArgs {
    /// Only these accounts (comma-separated, or repeat -a).
    #[arg(short = 'a', long = "accounts", value_name = "ACCOUNT[,...]")]
    accounts: Vec<String>,
    /// Only these folders, named as in twinbox (`INBOX`, `Work/Projects`; comma-separated or repeated).
    #[arg(short = 'f', long = "folders", value_name = "FOLDER[,...]")]
    folders: Vec<String>,
    /// Print what would be done; change nothing on either side nor in the state.
    #[arg(short = 'n', long = "dry-run")]
    dry_run: bool,
    /// Apply the deletions the mass-deletion guard refused at the last sync (exactly
    /// those; if more went missing since, the guard refuses again).
    #[arg(long = "allow-deletions")]
    allow_deletions: bool,
    /// Sync once, even if an account sets `autorefresh` (OfflineIMAP's -o).
    #[arg(short = 'o', long = "once")]
    once: bool,
}

#[derive(Args, Debug)]
struct DaemonArgs {
    /// Only these accounts (comma-separated, or repeat -a).
    #[arg(short = 'a', long = "accounts", value_name = "ACCOUNT[,...]")]
    accounts: Vec<String>,
}

#[derive(Args, Debug)]
struct RepairArgs {
    /// Only these accounts (comma-separated, or repeat -a).
    #[arg(short = 'a', long = "accounts", value_name = "ACCOUNT[,...]")]
    accounts: Vec<String>,
    /// Start these folders over (comma-separated or repeated); without -f, every folder
    /// that needs it.
    #[arg(short = 'f', long = "folders", value_name = "FOLDER[,...]")]
    folders: Vec<String>,
    /// Print what would be done; change nothing on either side nor in the state.
    #[arg(short = 'n', long = "dry-run")]
    dry_run: bool,
}

#[derive(Args, Debug)]
struct ForgetArgs {
    /// The account.
    #[arg(short = 'a', long = "account", value_name = "ACCOUNT", required = true)]
    account: String,
    /// The folders to forget (comma-separated or repeated).
    #[arg(
        short = 'f',
        long = "folders",
        value_name = "FOLDER[,...]",
        required = true
    )]
    folders: Vec<String>,
}

#[derive(Args, Debug)]
struct ImportArgs {
    /// Only these accounts (comma-separated, or repeat -a); default: every account.
    #[arg(short = 'a', long = "accounts", value_name = "ACCOUNT[,...]")]
    accounts: Vec<String>,
    /// OfflineIMAP's metadata directory (default: [general] metadata of the config, else
    /// ~/.offlineimap).
    #[arg(long = "metadata", value_name = "DIR")]
    metadata: Option<PathBuf>,
    /// Print what would be imported; change nothing.
    #[arg(short = 'n', long = "dry-run")]
    dry_run: bool,
    /// Replace the sync state twinbox already has for a folder (it is kept otherwise).
    #[arg(long = "force")]
    force: bool,
}

fn main() -> ExitCode {
    twinbox::allocator::tune();
    let cli = Cli::parse();
    init_logging(if cli.quiet { None } else { Some(cli.verbose) });
    quiet_panics();
    let json = cli.json;
    match run(cli) {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("twinbox: {}", printable(&message));
            if json {
                // The stream still ends with its summary, so a consumer always gets one.
                output::json::emit("summary", output::json::usage_summary(&message, EXIT_USAGE));
            }
            ExitCode::from(EXIT_USAGE)
        }
    }
}

enum Failure {
    /// Bad usage or configuration: exit code 2.
    Usage(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure::Usage(error.to_string())
    }
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match &cli.command {
        Command::Plugins => {
            let config_dirs = match load_config_if_any(&cli)? {
                Some(config) => config.general.pluginpath.clone(),
                None => Vec::new(),
            };
            let catalog =
                PluginCatalog::discover(plugins::search_path(&cli.plugin_dirs, &config_dirs));
            print!("{}", plugins::render_table(&catalog.describe()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync(args) => sync(
            &cli,
            Request {
                accounts: args.accounts.clone(),
                folders: args.folders.clone(),
                dry_run: args.dry_run,
                allow_deletions: args.allow_deletions,
                repair: None,
            },
            // A dry run changes nothing, so it has nothing to keep doing.
            if args.once || args.dry_run {
                Looping::Never
            } else {
                Looping::IfAutorefresh
            },
        ),
        Command::Daemon(args) => sync(
            &cli,
            Request {
                accounts: args.accounts.clone(),
                ..Request::default()
            },
            Looping::Always,
        ),
        Command::Repair(args) => sync(
            &cli,
            Request {
                accounts: args.accounts.clone(),
                folders: args.folders.clone(),
                dry_run: args.dry_run,
                allow_deletions: false,
                repair: Some(if args.folders.is_empty() {
                    Repair::Broken
                } else {
                    Repair::Every
                }),
            },
            Looping::Never,
        ),
        Command::ImportOfflineimap(args) => import_offlineimap(
            &cli,
            &offlineimap_import::ImportRequest {
                accounts: args
                    .accounts
                    .iter()
                    .flat_map(|a| a.split(','))
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect(),
                metadata: args.metadata.clone(),
                dry_run: args.dry_run,
                force: args.force,
            },
        ),
        Command::Check(args) => check(&cli, args),
        Command::Forget(args) => {
            let config = load_config(&cli)?;
            let account = config.account(&args.account)?;
            let path = accounts::state_file(&config.general.metadata_dir()?, &account.name);
            if !path.exists() {
                println!(
                    "Account {}: no sync state yet ({}); nothing to forget",
                    account.name,
                    path.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let state = twinbox::state::SyncState::open(&path)?;
            for name in args
                .folders
                .iter()
                .flat_map(|f| f.split(','))
                .filter(|f| !f.trim().is_empty())
            {
                let folder = backend_api::FolderPath::new(name.trim())?;
                state.forget_folder(&folder)?;
                println!(
                    "Account {}: forgot the sync state of folder {folder}",
                    account.name
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Whether a sync keeps running (see [`daemon`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Looping {
    Never,
    /// `twinbox sync`: if an account sets `autorefresh`.
    IfAutorefresh,
    /// `twinbox daemon`.
    Always,
}

/// `sync`, `repair` and `daemon`: syncs the requested accounts and prints their summaries.
fn sync(cli: &Cli, request: Request, looping: Looping) -> Result<ExitCode, Failure> {
    let config = load_config(cli)?;
    // Only the plugins the accounts use: each one loaded costs memory (issue 9).
    let catalog = PluginCatalog::discover_for(
        plugins::search_path(&cli.plugin_dirs, &config.general.pluginpath),
        accounts::repository_types(&config, &request.accounts)
            .iter()
            .map(String::as_str),
    );
    let prepared = accounts::prepare(&config, &catalog, &request)?;
    // A dry run writes no mailbox list, as in OfflineIMAP.
    let mbnames = match &config.mbnames {
        Some(mbnames) if !request.dry_run => {
            Some(Mbnames::new(mbnames, &config.general.metadata_dir()?))
        }
        _ => None,
    };
    let style = Style::choose(
        cli.json,
        cli.quiet,
        cli.verbose,
        std::io::stderr().is_terminal(),
    );
    let output = Output::new(style);
    let names: Vec<&str> = prepared.iter().map(|a| a.name.as_str()).collect();
    let mut hooks = Vec::new();
    let mut schedules = Vec::new();
    for account in &prepared {
        hooks.push(Hooks::read(&config, &account.name)?);
        schedules.push(Schedule::read(&config, &account.name)?);
    }
    let loops = match looping {
        Looping::Never => false,
        Looping::IfAutorefresh => schedules.iter().any(|s| s.refresh.is_some()),
        Looping::Always => true,
    };
    let command = if request.repair.is_some() {
        "repair"
    } else if loops {
        "daemon"
    } else {
        "sync"
    };
    output.start(command, request.dry_run, &names);
    if loops {
        let accounts = prepared
            .into_iter()
            .zip(hooks.into_iter().zip(schedules))
            .map(|(prepared, (hooks, schedule))| DaemonAccount {
                prepared,
                hooks,
                schedule,
            })
            .collect();
        let default_refresh = (looping == Looping::Always).then_some(daemon::DEFAULT_REFRESH);
        let before =
            |account: &accounts::PreparedAccount<'_>| output.account_started(&account.name);
        // Each run of an account ends like a one-off sync: its summary (with --json, a
        // `summary` object per run), then its part of the mailbox list.
        let after = |account: &accounts::PreparedAccount<'_>,
                     report: &twinbox::engine::AccountReport| {
            output.account_finished(report);
            let mut problems = Vec::new();
            if let Some(mbnames) = &mbnames {
                let listed = mbnames
                    .account_synced(account, report)
                    .and_then(|()| mbnames.finish());
                problems.extend(listed.err().map(|e| e.to_string()));
            }
            let failed = report.failed() || !problems.is_empty();
            let code = if failed { EXIT_FAILED } else { 0 };
            output.finish(std::slice::from_ref(report), &problems, code);
        };
        return match daemon::run(accounts, default_refresh, &output, &before, &after) {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(problem) => {
                eprintln!("twinbox: {problem}");
                Ok(ExitCode::from(EXIT_FAILED))
            }
        };
    }
    // Each account, then its part of the mailbox list (written at once with
    // `incremental`), as one unit of work.
    let sync_one =
        |(account, (hooks, schedule)): (&accounts::PreparedAccount<'_>, (&Hooks, &Schedule))| {
            output.account_started(&account.name);
            let mode = daemon::QuickCounter::default().next(schedule.quick.min(0));
            let report = daemon::run_account(account, hooks, mode, &output);
            output.account_finished(&report);
            let listed = match &mbnames {
                Some(mbnames) => mbnames.account_synced(account, &report),
                None => Ok(()),
            };
            (report, listed)
        };
    // Accounts are independent (their own repositories and state files): up to
    // `maxsyncaccounts` at once, as in OfflineIMAP. Summaries print in config order.
    let results: Vec<_> = match rayon::ThreadPoolBuilder::new()
        .num_threads(config.general.maxsyncaccounts.max(1))
        .build()
    {
        Ok(pool) => pool.install(|| {
            use rayon::prelude::*;
            prepared
                .par_iter()
                .zip(hooks.par_iter().zip(schedules.par_iter()))
                .map(sync_one)
                .collect()
        }),
        Err(_) => prepared
            .iter()
            .zip(hooks.iter().zip(schedules.iter()))
            .map(sync_one)
            .collect(),
    };
    let mut reports = Vec::with_capacity(results.len());
    let mut problems = Vec::new();
    for (report, listed) in results {
        reports.push(report);
        problems.extend(listed.err());
    }
    if let Some(mbnames) = &mbnames {
        problems.extend(mbnames.finish().err());
    }
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let failed = !problems.is_empty() || reports.iter().any(|r| r.failed());
    let code = if failed { EXIT_FAILED } else { 0 };
    output.finish(&reports, &problems, code);
    Ok(ExitCode::from(code))
}

/// `check`: prints what it checked and every problem found.
fn check(cli: &Cli, args: &CheckArgs) -> Result<ExitCode, Failure> {
    let config = match Config::load(config_path(cli)?) {
        Ok(config) => config,
        Err(error) => {
            // The file itself does not read: that is the one problem to fix first.
            println!("PROBLEM: {error}\ncheck: 1 problem found");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let catalog = PluginCatalog::discover(plugins::search_path(
        &cli.plugin_dirs,
        &config.general.pluginpath,
    ));
    let report = twinbox::check::check(&config, &catalog, &args.accounts, args.connect);
    print!("{}", report.render());
    Ok(ExitCode::from(report.exit_code()))
}

/// `import-offlineimap`: imports each account's OfflineIMAP state and prints what it did.
fn import_offlineimap(
    cli: &Cli,
    request: &offlineimap_import::ImportRequest,
) -> Result<ExitCode, Failure> {
    let config = load_config(cli)?;
    let catalog = PluginCatalog::discover_for(
        plugins::search_path(&cli.plugin_dirs, &config.general.pluginpath),
        accounts::repository_types(&config, &request.accounts)
            .iter()
            .map(String::as_str),
    );
    let prepared = offlineimap_import::prepare(&config, &catalog, request)?;
    let mut failed = false;
    for account in &prepared {
        let report = offlineimap_import::run(account, request);
        print!("{}", offlineimap_import::render(&report));
        failed |= report.failed();
    }
    Ok(if failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

fn config_path(cli: &Cli) -> Result<PathBuf, Failure> {
    match &cli.config {
        Some(path) => Ok(path.clone()),
        None => Ok(config::default_config_path()?),
    }
}

/// Loads the configuration and prints its warnings (options that have no effect), so
/// that nothing in it is ignored silently.
fn load_config(cli: &Cli) -> Result<Config, Failure> {
    let config = Config::load(config_path(cli)?)?;
    if !cli.quiet {
        for warning in &config.warnings {
            eprintln!("twinbox: warning: {warning}");
        }
    }
    Ok(config)
}

/// `twinbox plugins` works without a config file, but reads `pluginpath` from one.
fn load_config_if_any(cli: &Cli) -> Result<Option<Config>, Failure> {
    if cli.config.is_none() && config::default_config_path().is_err() {
        return Ok(None);
    }
    load_config(cli).map(Some)
}

/// The log level of `-v` (`None`: `-q`, errors only).
fn init_logging(verbose: Option<u8>) {
    let level = match verbose {
        None => "error",
        Some(0) => "warn",
        Some(1) => "info",
        Some(2) => "debug",
        Some(_) => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format(|out, record| {
            use std::io::Write;
            // As env_logger's own format without a timestamp, with what servers and
            // plugins said made printable.
            writeln!(
                out,
                "[{} {}] {}",
                record.level(),
                record.target(),
                printable(&record.args().to_string())
            )
        })
        .init();
}

/// A bug in twinbox itself should still end in one line, not a backtrace, unless asked.
fn quiet_panics() {
    if std::env::var_os("RUST_BACKTRACE").is_some() {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "twinbox: internal error: {info}; please report it (set RUST_BACKTRACE=1 for details)"
        );
    }));
}
