//! The `twinbox` command: parses the command line, reads the configuration, and runs the
//! library. Errors reach the user as one line; exit codes are 0 (all synced), 1 (some
//! folder or account failed, the rest synced) and 2 (bad usage or configuration).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use twinbox::accounts::{self, Request};
use twinbox::config::{self, Config};
use twinbox::engine::{Repair, SyncEvent, SyncObserver};
use twinbox::mbnames::Mbnames;
use twinbox::offlineimap_import;
use twinbox::plugins::{self, PluginCatalog};
use twinbox::summary;

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

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sync accounts (all listed in [general] accounts, or those given with -a).
    Sync(SyncArgs),
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
    init_logging(cli.verbose);
    quiet_panics();
    match run(cli) {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("twinbox: {message}");
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

/// `sync` and `repair`: syncs the requested accounts and prints their summaries.
fn sync(cli: &Cli, request: Request) -> Result<ExitCode, Failure> {
    let config = load_config(cli)?;
    let catalog = PluginCatalog::discover(plugins::search_path(
        &cli.plugin_dirs,
        &config.general.pluginpath,
    ));
    let prepared = accounts::prepare(&config, &catalog, &request)?;
    // A dry run writes no mailbox list, as in OfflineIMAP.
    let mbnames = match &config.mbnames {
        Some(mbnames) if !request.dry_run => {
            Some(Mbnames::new(mbnames, &config.general.metadata_dir()?))
        }
        _ => None,
    };
    let observer = LogObserver;
    // Each account, then its part of the mailbox list (written at once with
    // `incremental`), as one unit of work.
    let sync_one = |account: &accounts::PreparedAccount<'_>| {
        let report = accounts::sync(account, &observer);
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
            prepared.par_iter().map(sync_one).collect()
        }),
        Err(_) => prepared.iter().map(sync_one).collect(),
    };
    let mut failed = false;
    let mut problems = Vec::new();
    for (report, listed) in results {
        failed |= report.failed();
        print!("{}", summary::render(&report));
        problems.extend(listed.err());
    }
    if let Some(mbnames) = &mbnames {
        problems.extend(mbnames.finish().err());
    }
    for problem in &problems {
        eprintln!("twinbox: {problem}");
        failed = true;
    }
    Ok(if failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// `import-offlineimap`: imports each account's OfflineIMAP state and prints what it did.
fn import_offlineimap(
    cli: &Cli,
    request: &offlineimap_import::ImportRequest,
) -> Result<ExitCode, Failure> {
    let config = load_config(cli)?;
    let catalog = PluginCatalog::discover(plugins::search_path(
        &cli.plugin_dirs,
        &config.general.pluginpath,
    ));
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
    for warning in &config.warnings {
        eprintln!("twinbox: warning: {warning}");
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

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp(None)
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

/// Logs progress (shown with -v); the summary is printed at the end.
struct LogObserver;

impl SyncObserver for LogObserver {
    fn event(&self, event: &SyncEvent<'_>) {
        match event {
            SyncEvent::FolderStarted { account, folder } => {
                log::info!("{account}: syncing {folder}")
            }
            SyncEvent::MessageSkipped {
                account,
                folder,
                error,
            } => log::warn!("{account}: {folder}: {error}"),
            SyncEvent::FolderFinished { account, report } => {
                if let Some(folder) = &report.folder {
                    log::info!("{account}: {folder} done");
                }
            }
        }
    }
}
