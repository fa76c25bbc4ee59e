use super::*;

const OFFLINEIMAPRC: &str = "\
# A typical ~/.offlineimaprc, as OfflineIMAP users have it.
[general]
accounts = Personal, Work ,Personal,
maxsyncaccounts = 2
ui = ttyui

[DEFAULT]
maildirs = ~/Mail

[Account Personal]
localrepository = PersonalLocal
remoterepository = PersonalRemote
autorefresh = 5
utf8foldernames = yes

[Account Work]
localrepository = WorkLocal
remoterepository = WorkRemote
createfolders = no

[Repository PersonalLocal]
type = Maildir
localfolders = %(maildirs)s/personal
sep = .

[Repository PersonalRemote]
Type = IMAP
remotehost = imap.example.org
remoteuser = me@example.org
remotepass = 100%% secret ; not a comment
folderfilter = lambda f: f in [
    'INBOX',
    'Sent']
maxconnections = 3
createfolders = yes

[Repository WorkLocal]
type = Maildir
localfolders = %(maildirs)s/work

[Repository WorkRemote]
type = Gmail
createfolders = true

[mbnames]
enabled = no
";

fn config() -> Config {
    Config::parse(OFFLINEIMAPRC, "/home/u/.twinboxrc").unwrap()
}

fn error(text: &str) -> String {
    Config::parse(text, "/home/u/.twinboxrc")
        .unwrap_err()
        .to_string()
}

#[test]
fn general_section() {
    let config = config();
    assert_eq!(config.general.accounts, ["Personal", "Work"]);
    assert_eq!(config.general.maxsyncaccounts, 2);
    assert_eq!(config.general.metadata, None);
    assert!(config.general.pluginpath.is_empty());
    assert_eq!(config.general.options["ui"], "ttyui");
    // [mbnames] with enabled = no: read, and nothing to do.
    assert!(config.other_sections.is_empty());
    assert_eq!(config.mbnames, None);
}

#[test]
fn accounts_and_repositories() {
    let config = config();
    let personal = config.account("Personal").unwrap();
    assert_eq!(
        personal.repositories[Side::Local].as_deref(),
        Some("PersonalLocal")
    );
    assert_eq!(
        personal.repositories[Side::Remote].as_deref(),
        Some("PersonalRemote")
    );
    assert_eq!(personal.createfolders, None);
    assert_eq!(personal.options["autorefresh"], "5");
    assert_eq!(config.account("Work").unwrap().createfolders, Some(false));

    let remote = config.repository_for("Personal", Side::Remote).unwrap();
    assert_eq!(remote.name, "PersonalRemote");
    assert_eq!(remote.config_file, config.file());
    assert_eq!(remote.repository_type().unwrap(), "IMAP");
    assert_eq!(
        remote.get("remotepass"),
        Some("100% secret ; not a comment")
    );
    assert_eq!(
        remote.get("folderfilter"),
        Some("lambda f: f in [\n'INBOX',\n'Sent']")
    );
    // Options of [DEFAULT] are visible, unknown options are kept for the backend.
    assert_eq!(remote.get("maildirs"), Some("~/Mail"));
    assert_eq!(remote.account_options["utf8foldernames"], "yes");
    assert_eq!(remote.maxconnections().unwrap(), Some(3));

    let local = config.repository_for("Personal", Side::Local).unwrap();
    assert_eq!(local.get("localfolders"), Some("~/Mail/personal"));
    assert_eq!(local.maxconnections().unwrap(), None);
    // The stored repository has no account options; only the resolved copy does.
    assert!(config.repositories["PersonalLocal"]
        .account_options
        .is_empty());
}

#[test]
fn createfolders_repository_then_account_then_yes() {
    let config = config();
    let get = |account, side| {
        config
            .repository_for(account, side)
            .unwrap()
            .createfolders()
            .unwrap()
    };
    assert!(get("Personal", Side::Local)); // nowhere: yes
    assert!(get("Personal", Side::Remote)); // repository: yes
    assert!(!get("Work", Side::Local)); // account: no
    assert!(get("Work", Side::Remote)); // repository overrides the account
}

#[test]
fn booleans_use_the_backend_api_spellings() {
    for spelling in [
        "yes", "No", "TRUE", "false", "on", "off", "1", "0", "maybe", "",
    ] {
        let ours = parse_bool(spelling);
        let theirs = RepositoryConfig::new("r")
            .with("b", spelling)
            .get_bool("b", true);
        assert_eq!(ours, theirs.ok(), "{spelling}");
    }
}

#[test]
fn bad_values_are_reported_at_load_with_their_line() {
    let base = "[general]\naccounts = A\n";
    let message = error(&format!("{base}[Account A]\ncreatefolders = maybe\n"));
    assert_eq!(
        message,
        "/home/u/.twinboxrc:4: [Account A] option 'createfolders' is \"maybe\"; write yes or no"
    );
    let message = error(&format!("{base}[Repository R]\n\nmaxconnections = 0\n"));
    assert!(
        message.starts_with("/home/u/.twinboxrc:5: [Repository R] option 'maxconnections'"),
        "{message}"
    );
    let message = error(&format!("{base}[Repository R]\ncreatefolders = nope\n"));
    assert!(message.starts_with("/home/u/.twinboxrc:4:"), "{message}");
    let message = error("[general]\naccounts = A\nmaxsyncaccounts = many\n");
    assert!(
        message.starts_with("/home/u/.twinboxrc:3: [general] option 'maxsyncaccounts'"),
        "{message}"
    );
}

#[test]
fn repository_accessors_check_configs_built_elsewhere() {
    let repository = RepositoryConfig::new("R").with("maxconnections", "x");
    assert!(repository.maxconnections().is_err());
    let mut repository = RepositoryConfig::new("R");
    repository
        .account_options
        .insert("createfolders".into(), "perhaps".into());
    let message = repository.createfolders().unwrap_err().to_string();
    assert!(message.contains("createfolders"), "{message}");
}

#[test]
fn accounts_missing_or_empty() {
    for text in [
        "",
        "[DEFAULT]\na = 1\n",
        "[general]\n",
        "[general]\naccounts =  , ,\n",
    ] {
        let message = error(text);
        assert!(
            message.contains("[general] option 'accounts'"),
            "{text:?}: {message}"
        );
        assert!(message.contains("list the accounts"), "{message}");
    }
}

#[test]
fn unknown_account_lists_the_known_ones() {
    let config = config();
    let message = config.account("Nope").unwrap_err().to_string();
    assert!(message.contains("\"Nope\""), "{message}");
    assert!(
        message.ends_with("the accounts are: Personal, Work"),
        "{message}"
    );

    let config = Config::parse("[general]\naccounts = Ghost\n", "c").unwrap();
    let message = config.account("Ghost").unwrap_err().to_string();
    assert!(message.contains("no [Account Ghost] section"), "{message}");
    let message = config.account("Other").unwrap_err().to_string();
    assert!(message.ends_with("(none)"), "{message}");
}

#[test]
fn selected_accounts() {
    let config = config();
    let names = |requested: &[&str]| -> Vec<String> {
        let requested: Vec<String> = requested.iter().map(|s| s.to_string()).collect();
        config
            .selected_accounts(&requested)
            .unwrap()
            .into_iter()
            .map(|a| a.name.clone())
            .collect()
    };
    assert_eq!(names(&[]), ["Personal", "Work"]);
    assert_eq!(names(&["Work"]), ["Work"]);
    assert_eq!(names(&["Work, Personal", "Work"]), ["Work", "Personal"]);
    assert_eq!(names(&[" , "]), ["Personal", "Work"]);
    assert!(config.selected_accounts(&["Nope".into()]).is_err());
}

#[test]
fn missing_repository_option_and_section() {
    let text = "[general]\naccounts = A\n[Account A]\nremoterepository = Gone\n";
    let config = Config::parse(text, "/home/u/.twinboxrc").unwrap();
    let message = config
        .repository_for("A", Side::Local)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("[Account A] option 'localrepository' is missing"),
        "{message}"
    );
    let message = config
        .repository_for("A", Side::Remote)
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("/home/u/.twinboxrc:4: [Account A] option 'remoterepository'"),
        "{message}"
    );
    assert!(
        message.contains("no [Repository Gone] section"),
        "{message}"
    );
}

#[test]
fn missing_type() {
    let text =
        "[general]\naccounts = A\n[Account A]\nlocalrepository = L\n[Repository L]\ntype =  \n";
    let config = Config::parse(text, "cfg").unwrap();
    let repository = config.repository_for("A", Side::Local).unwrap();
    let message = repository.repository_type().unwrap_err().to_string();
    assert!(
        message.starts_with("cfg: [Repository L] option 'type' is missing"),
        "{message}"
    );
    assert!(message.contains("twinbox plugins"), "{message}");
}

#[test]
fn paths_expand_tilde_and_are_relative_to_the_config_file() {
    let text = "[general]\naccounts = A\nmetadata = state\npluginpath = /opt/p: plugins ::~/p\n";
    let config = Config::parse(text, "/etc/twinbox/config").unwrap();
    assert_eq!(
        config.general.metadata,
        Some(PathBuf::from("/etc/twinbox/state"))
    );
    let home = PathBuf::from(std::env::var_os("HOME").unwrap());
    assert_eq!(
        config.general.pluginpath,
        [
            PathBuf::from("/opt/p"),
            PathBuf::from("/etc/twinbox/plugins"),
            home.join("p")
        ]
    );
    assert_eq!(
        config.general.metadata_dir().unwrap(),
        PathBuf::from("/etc/twinbox/state")
    );

    let config = Config::parse("[general]\naccounts = A\nmetadata = ~/st\n", "x").unwrap();
    assert_eq!(config.general.metadata, Some(home.join("st")));
}

#[test]
fn parse_errors_pass_through_with_the_file() {
    let message = error("accounts = A\n");
    assert_eq!(
        message,
        "/home/u/.twinboxrc:1: a line outside any section; start the file with a [general] section"
    );
    let message = error("[general]\naccounts = %(x)s\n");
    assert!(
        message.starts_with("/home/u/.twinboxrc:2: [general] option 'accounts' refers to %(x)s"),
        "{message}"
    );
}

#[test]
fn unused_sections_are_not_interpolated() {
    // OfflineIMAP's own sections may use '%' freely; we never read them, nor a disabled
    // [mbnames] beyond its 'enabled'.
    let config = Config::parse(
        "[general]\naccounts = A\n[mbnames]\nheader = 50%\n[ui.Curses.Blinkenlights]\nx = 1%\n",
        "c",
    )
    .unwrap();
    assert_eq!(config.other_sections, ["ui.Curses.Blinkenlights"]);
    assert_eq!(config.mbnames, None);
}

#[test]
fn load_reads_files_and_reports_failures() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(&path, OFFLINEIMAPRC).unwrap();
    let config = Config::load(&path).unwrap();
    assert_eq!(config.path, path);
    assert_eq!(config.general.accounts.len(), 2);

    let missing = dir.path().join("missing");
    let message = Config::load(&missing).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("{}: cannot read", missing.display())),
        "{message}"
    );
    assert!(!message.contains('\n'));

    std::fs::write(&path, b"[general]\naccounts = A\nx = \xff\n").unwrap();
    let message = Config::load(&path).unwrap_err().to_string();
    assert!(
        message.ends_with(":3: the file is not valid UTF-8; save it as UTF-8"),
        "{message}"
    );
}

fn env(home: &Path) -> Env {
    Env {
        home: Some(home.to_owned()),
        xdg_config_home: None,
        xdg_data_home: None,
    }
}

#[test]
fn default_config_path_order() {
    let home = tempfile::tempdir().unwrap();
    let env = env(home.path());
    let message = default_config_path_in(&env).unwrap_err().to_string();
    assert_eq!(
        message,
        "no configuration file: neither ~/.config/twinbox/config nor ~/.twinboxrc exists; \
         create one (the README has an example) or give its path with -c FILE"
    );

    let rc = home.path().join(".twinboxrc");
    std::fs::write(&rc, "").unwrap();
    assert_eq!(default_config_path_in(&env).unwrap(), rc);

    let xdg = home.path().join(".config/twinbox/config");
    std::fs::create_dir_all(xdg.parent().unwrap()).unwrap();
    std::fs::write(&xdg, "").unwrap();
    assert_eq!(default_config_path_in(&env).unwrap(), xdg);

    let elsewhere = tempfile::tempdir().unwrap();
    let env = Env {
        xdg_config_home: Some(elsewhere.path().to_owned()),
        ..env
    };
    assert_eq!(default_config_path_in(&env).unwrap(), rc);
}

#[test]
fn default_locations_without_home() {
    let env = Env::default();
    assert!(matches!(
        default_config_path_in(&env),
        Err(ConfigError::NoHome { .. })
    ));
    assert!(matches!(
        env.metadata_dir(),
        Err(ConfigError::NoHome { .. })
    ));
    let env = Env {
        xdg_data_home: Some(PathBuf::from("/data")),
        ..Env::default()
    };
    assert_eq!(env.metadata_dir().unwrap(), PathBuf::from("/data/twinbox"));

    // Without a home, $XDG_CONFIG_HOME alone still finds a config file.
    let xdg = tempfile::tempdir().unwrap();
    std::fs::create_dir(xdg.path().join("twinbox")).unwrap();
    std::fs::write(xdg.path().join("twinbox/config"), "").unwrap();
    let env = Env {
        xdg_config_home: Some(xdg.path().to_owned()),
        ..Env::default()
    };
    assert_eq!(
        default_config_path_in(&env).unwrap(),
        xdg.path().join("twinbox/config")
    );
}

#[test]
fn default_metadata_dir_under_home() {
    let env = env(Path::new("/home/u"));
    assert_eq!(
        env.metadata_dir().unwrap(),
        PathBuf::from("/home/u/.local/share/twinbox")
    );
}

#[test]
fn xdg_variables_must_be_absolute() {
    assert_eq!(absolute(OsString::from("relative/dir")), None);
    assert_eq!(absolute(OsString::new()), None);
    assert_eq!(
        absolute(OsString::from("/abs")),
        Some(PathBuf::from("/abs"))
    );
}

#[test]
fn display_abbreviates_home() {
    let env = env(Path::new("/home/u"));
    assert_eq!(env.display(Path::new("/home/u/.twinboxrc")), "~/.twinboxrc");
    assert_eq!(env.display(Path::new("/home/u")), "~");
    assert_eq!(env.display(Path::new("/home/user2/x")), "/home/user2/x");
    assert_eq!(env.display(Path::new("/etc/twinbox")), "/etc/twinbox");
}

#[test]
fn the_safety_options_of_an_account() {
    let base = "[general]\naccounts = A\n[Account A]\n";
    let parse = |options: &str| Config::parse(&format!("{base}{options}"), "c").unwrap();
    let defaults = parse("");
    let account = defaults.account("A").unwrap();
    assert_eq!(account.deletionguard, 50);
    assert!(!account.pairbymessageid);
    let set = parse("deletionguard = 20%%\npairbymessageid = yes\n");
    assert_eq!(set.account("A").unwrap().deletionguard, 20);
    assert!(set.account("A").unwrap().pairbymessageid);
    assert_eq!(
        parse("deletionguard = 0\n")
            .account("A")
            .unwrap()
            .deletionguard,
        0
    );
    let message = error(&format!("{base}deletionguard = 150\n"));
    assert!(
        message.starts_with("/home/u/.twinboxrc:4: [Account A] option 'deletionguard' is \"150\"; write a percentage"),
        "{message}"
    );
}

#[test]
fn options_without_effect_are_warned_about_with_their_line() {
    let config = config();
    let warnings = config.warnings.join("\n");
    // Line 5: `ui = ttyui`.
    assert!(
        warnings.contains("/home/u/.twinboxrc:5: [general] option 'ui' is ignored"),
        "{warnings}"
    );
    // Known options, [DEFAULT] variables and the options of an unknown type are not.
    for quiet in [
        "maildirs",
        "localfolders",
        "folderfilter",
        "'type'",
        "Gmail",
        "autorefresh",
    ] {
        assert!(!warnings.contains(quiet), "{quiet}: {warnings}");
    }
    assert_eq!(config.warnings.len(), 1, "{warnings}");
}

#[test]
fn unknown_options_and_sections_are_named() {
    let text = "[general]\naccounts = A\nfrobnicate = 1\n[Account A]\nmaxsize = 100\n\
                [Repository R]\ntype = Maildir\nlocalfolders = /m\nremotehost = x\n\
                holdconnectionopen = yes\n[ui.Curses.Blinkenlights]\nstatuschar = .\n[extra]\n";
    let config = Config::parse(text, "/home/u/.twinboxrc").unwrap();
    let warnings = config.warnings;
    assert_eq!(warnings.len(), 6, "{warnings:#?}");
    assert!(
        warnings[0].starts_with("/home/u/.twinboxrc:3: [general] option 'frobnicate' is unknown")
    );
    assert!(warnings[1]
        .starts_with("/home/u/.twinboxrc:5: [Account A] option 'maxsize' has no effect yet"));
    assert!(warnings[2]
        .starts_with("/home/u/.twinboxrc:9: [Repository R] option 'remotehost' is unknown"));
    assert!(warnings[3].starts_with(
        "/home/u/.twinboxrc:10: [Repository R] option 'holdconnectionopen' is unknown"
    ));
    assert!(warnings[4]
        .starts_with("/home/u/.twinboxrc:11: section [ui.Curses.Blinkenlights] is ignored"));
    assert!(warnings[5].starts_with("/home/u/.twinboxrc:13: section [extra] is not used"));
    assert!(warnings.iter().all(|w| !w.contains('\n')));
}

#[test]
fn python_options_are_refused_with_one_line() {
    for (section, option, instead) in [
        ("general", "pythonfile", "remotepasscommand"),
        ("Repository R", "remotepasseval", "remotepasscommand"),
        ("Repository R", "remoteusereval", "remoteuser"),
        ("Repository R", "localpasseval", "remove it"),
        ("Repository R", "preauthtunnel", "remotehost"),
    ] {
        let text = if section == "general" {
            format!("[general]\naccounts = A\n{option} = x.py\n")
        } else {
            format!("[general]\naccounts = A\n[Repository R]\ntype = IMAP\n{option} = get()\n")
        };
        let message = error(&text);
        assert!(
            message.contains(&format!("[{section}] option '{option}' is not supported")),
            "{message}"
        );
        assert!(message.contains(instead), "{message}");
        assert!(message.starts_with("/home/u/.twinboxrc:"), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
}

#[test]
fn socktimeout_is_the_imap_timeout_unless_the_repository_sets_one() {
    let text = "[general]\naccounts = A\nsocktimeout = 30\n[Account A]\nlocalrepository = L\n\
                remoterepository = R\n[Repository L]\ntype = Maildir\nlocalfolders = /m\n\
                [Repository R]\ntype = IMAP\nremotehost = h\n";
    let config = Config::parse(text, "/home/u/.twinboxrc").unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let remote = config.repository_for("A", Side::Remote).unwrap();
    assert_eq!(remote.get("timeout"), Some("30"));
    let local = config.repository_for("A", Side::Local).unwrap();
    assert_eq!(local.get("timeout"), None);
    let own = Config::parse(&format!("{text}timeout = 5\n"), "/home/u/.twinboxrc").unwrap();
    assert_eq!(
        own.repository_for("A", Side::Remote)
            .unwrap()
            .get("timeout"),
        Some("5")
    );
    let message = error(&text.replace("= 30", "= soon"));
    assert!(
        message.starts_with("/home/u/.twinboxrc:3: [general] option 'socktimeout'"),
        "{message}"
    );
}

#[test]
fn sync_deletes_is_a_boolean_defaulting_to_yes() {
    let config = config();
    let local = config.repository_for("Personal", Side::Local).unwrap();
    assert!(local.sync_deletes().unwrap());
    let text = OFFLINEIMAPRC.replace("sep = .", "sep = .\nsync_deletes = no");
    let config = Config::parse(&text, "/home/u/.twinboxrc").unwrap();
    let local = config.repository_for("Personal", Side::Local).unwrap();
    assert!(!local.sync_deletes().unwrap());
    let message = error(&OFFLINEIMAPRC.replace("sep = .", "sep = .\nsync_deletes = maybe"));
    assert!(message.contains("option 'sync_deletes'"), "{message}");
}

#[test]
fn python_we_cannot_read_is_refused_at_load_with_its_line() {
    let text = "[general]\naccounts = A\n[Repository R]\ntype = IMAP\n\
                nametrans = lambda f: os.path.basename(f)\n";
    let message = error(text);
    assert!(
        message.starts_with(
            "/home/u/.twinboxrc:5: [Repository R] option 'nametrans' refers to \"os\""
        ),
        "{message}"
    );
    assert!(message.contains("twinbox reads lambdas"), "{message}");
    assert!(!message.contains('\n'), "{message}");
    let text = "[general]\naccounts = A\n[Repository R]\ntype = Maildir\n\
                folderincludes = lambda f: True\n";
    assert!(error(text).contains(":5: [Repository R] option 'folderincludes'"));
}

#[test]
fn a_stray_percent_in_a_password_never_quotes_the_password() {
    // Issue 12: the error quoted 20 characters after the '%', which were the password.
    let account =
        "[general]\naccounts = A\n[Account A]\nlocalrepository = L\nremoterepository = R\n\
                   [Repository L]\ntype = Maildir\nlocalfolders = /m\n\
                   [Repository R]\ntype = IMAP\nremotehost = h\nremoteuser = u\n";
    for option in [
        "remotepass = ab%S3cr3tPassw0rd\n",
        "remotepass = ab%(S3cr3tPassw0rd\n",
        "secret = ab%S3cr3tPassw0rd\nremotepass = %(secret)s\n",
    ] {
        let message = error(&format!("{account}{option}"));
        assert!(
            message.contains("'%'") || message.contains("reference"),
            "{message}"
        );
        assert!(!message.contains("S3cr3t"), "{message}");
        assert!(message.contains("not shown"), "{message}");
    }
    // Other options still show where the '%' is.
    let message = error(&format!("{account}remotepass = x\nssl = y%x\n"));
    assert!(message.contains("\"%x\""), "{message}");
}
