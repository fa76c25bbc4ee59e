use super::*;

use crate::config::Config;

const RC: &str = "\
[general]
accounts = Personal, Work
metadata = /m

[Account Personal]
localrepository = PL
remoterepository = PR

[Account Work]
localrepository = WL
remoterepository = WR
utf8foldernames = yes

[Repository PL]
type = Maildir
localfolders = /mail/personal

[Repository PR]
type = IMAP

[Repository WL]
type = Maildir
localfolders = /mail/work
sep = /

[Repository WR]
type = IMAP

[mbnames]
enabled = yes
filename = /out/mailboxes
header = \"mailboxes \"
peritem = \"+%(accountname)s/%(foldername)s\"
sep = \" \"
footer = \"\\n\"
";

fn config(extra: &str) -> Config {
    Config::parse(&format!("{RC}{extra}"), "/home/u/.twinboxrc").unwrap()
}

fn error(extra: &str) -> String {
    Config::parse(&format!("{RC}{extra}"), "/home/u/.twinboxrc")
        .unwrap_err()
        .to_string()
}

fn entry(account: &str, folder: &str) -> Entry {
    Entry {
        accountname: account.into(),
        foldername: folder.into(),
        localfolders: "/l".into(),
    }
}

#[test]
fn renders_as_offlineimap_does() {
    let config = config("");
    let mbnames = config.mbnames.as_ref().unwrap();
    assert_eq!(mbnames.filename, Path::new("/out/mailboxes"));
    assert!(!mbnames.incremental);
    let text = mbnames.render(vec![
        entry("Work", "INBOX"),
        entry("Personal", "Sent"),
        entry("Personal", "INBOX"),
        entry("Personal", "Archive.2023"),
        entry("Personal", "Ärger"),
        entry("Personal", "Zeta"),
    ]);
    // peritem is not evaluated: its quotes are written. Sorted by code point.
    assert_eq!(
        text,
        "mailboxes \"+Personal/Archive.2023\" \"+Personal/INBOX\" \"+Personal/Sent\" \
         \"+Personal/Zeta\" \"+Personal/Ärger\" \"+Work/INBOX\"\n"
    );
    assert_eq!(mbnames.render(Vec::new()), "mailboxes \n");
}

#[test]
fn disabled_or_missing_is_none() {
    let off = Config::parse(
        "[general]\naccounts = A\n[mbnames]\nenabled = no\nperitem = %(bad\n",
        "c",
    )
    .unwrap();
    assert_eq!(off.mbnames, None);
    let absent = Config::parse("[general]\naccounts = A\n", "c").unwrap();
    assert_eq!(absent.mbnames, None);
}

#[test]
fn interpolation_applies_to_all_but_peritem() {
    let config = Config::parse(
        "[general]\naccounts = A\n[DEFAULT]\nmutt = /home/me/.mutt\n[mbnames]\nenabled = on\n\
         filename = %(mutt)s/mailboxes\nheader = \"100%% \"\nperitem = %(foldername)s%%\n\
         sep = ''\nfooter = ''\nincremental = yes\n",
        "/c/rc",
    )
    .unwrap();
    let mbnames = config.mbnames.unwrap();
    assert_eq!(mbnames.filename, Path::new("/home/me/.mutt/mailboxes"));
    assert!(mbnames.incremental);
    assert_eq!(
        mbnames.render(vec![entry("A", "x"), entry("A", "y")]),
        "100% x%y%"
    );
}

#[test]
fn a_relative_filename_is_beside_the_configuration() {
    let config = Config::parse(
        "[general]\naccounts = A\n[mbnames]\nenabled = yes\nfilename = out/mb\nheader = ''\n\
         peritem = x\nsep = ''\nfooter = ''\n",
        "/c/rc",
    )
    .unwrap();
    assert_eq!(config.mbnames.unwrap().filename, Path::new("/c/out/mb"));
}

#[test]
fn errors_name_the_option_and_are_one_line() {
    for (extra, option) in [
        ("folderfilter = my_filter\n", "'folderfilter'"),
        ("folderfilter = lambda a, f: len(f) > 3\n", "'folderfilter'"),
        (
            "sort_keyfunc = lambda d: d['foldername']\n",
            "'sort_keyfunc'",
        ),
        ("incremental = sometimes\n", "'incremental'"),
    ] {
        let message = error(extra);
        assert!(
            message.contains("[mbnames] option ") && message.contains(option),
            "{extra}: {message}"
        );
        assert!(!message.contains('\n'), "{message}");
    }
    let text = RC.replace("header = \"mailboxes \"", "header = mailboxes");
    let message = Config::parse(&text, "/home/u/.twinboxrc")
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("option 'header'") && message.contains("string literal"),
        "{message}"
    );
    let text = RC.replace("footer = \"\\n\"\n", "");
    let message = Config::parse(&text, "/home/u/.twinboxrc")
        .unwrap_err()
        .to_string();
    assert!(message.contains("option 'footer' is missing"), "{message}");
    let text = RC.replace("%(foldername)s", "%(folder)s");
    let message = Config::parse(&text, "/home/u/.twinboxrc")
        .unwrap_err()
        .to_string();
    assert!(message.contains("option 'peritem'"), "{message}");
    // The default sort_keyfunc is accepted, however spaced.
    config("sort_keyfunc = lambda d : ( d[\"accountname\"], d[\"foldername\"] )\n");
}

#[test]
fn local_names_follow_the_local_repository() {
    let config = config("");
    let name = |account: &str, folder: &str| {
        let local = config.repository_for(account, Side::Local).unwrap();
        local_folder_name(&local, &FolderPath::new(folder).unwrap())
    };
    assert_eq!(name("Personal", "Work/Projects"), "Work.Projects");
    assert_eq!(name("Personal", "Ärger"), "&AMQ-rger");
    assert_eq!(name("Work", "Work/Ärger"), "Work/Ärger");
    let plus_plus = RepositoryConfig::new("p")
        .with("type", "Maildir")
        .with("layout", "Maildir++");
    let path = |p: &str| FolderPath::new(p).unwrap();
    assert_eq!(local_folder_name(&plus_plus, &path("INBOX")), "");
    assert_eq!(
        local_folder_name(&plus_plus, &path("Work/Projects")),
        ".Work.Projects"
    );
}

#[test]
fn intermediate_files_merge_and_survive_accounts_not_synced() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mailboxes");
    let mut config = config("folderfilter = lambda a, f: f != 'Spam'\n")
        .mbnames
        .unwrap();
    config.filename = out.clone();
    let mbnames = Mbnames::new(&config, dir.path());
    // A list OfflineIMAP left for an account no longer synced, in its own JSON spacing.
    fs::create_dir_all(dir.path().join("mbnames")).unwrap();
    fs::write(
        dir.path().join("mbnames/Old.json"),
        r#"[{"accountname": "Old", "foldername": "INBOX", "localfolders": "/o"}]"#,
    )
    .unwrap();
    fs::write(dir.path().join("mbnames/broken.json"), "not json").unwrap();
    fs::write(dir.path().join("mbnames/notes.txt"), "ignored").unwrap();
    mbnames
        .write_intermediate(
            "Personal",
            "/p".into(),
            vec!["INBOX".into(), "Spam".into(), "Sent".into()],
            false,
        )
        .unwrap();
    mbnames.finish().unwrap();
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        "mailboxes \"+Old/INBOX\" \"+Personal/INBOX\" \"+Personal/Sent\"\n"
    );
    // A sync limited to some folders adds to the account's list.
    mbnames
        .write_intermediate("Personal", "/p".into(), vec!["Drafts".into()], true)
        .unwrap();
    mbnames.finish().unwrap();
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        "mailboxes \"+Old/INBOX\" \"+Personal/Drafts\" \"+Personal/INBOX\" \"+Personal/Sent\"\n"
    );
    // A full sync replaces it.
    mbnames
        .write_intermediate("Personal", "/p".into(), vec!["INBOX".into()], false)
        .unwrap();
    mbnames.finish().unwrap();
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        "mailboxes \"+Old/INBOX\" \"+Personal/INBOX\"\n"
    );
    // No temporary file is left behind.
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(left.iter().all(|name| !name.ends_with(".tmp")), "{left:?}");
}

#[test]
fn an_unwritable_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config("").mbnames.unwrap();
    config.filename = dir.path().join("missing-dir/mailboxes");
    let mbnames = Mbnames::new(&config, dir.path());
    let message = mbnames.finish().unwrap_err().to_string();
    assert!(
        message.starts_with("[mbnames]: cannot write ")
            && message.contains("missing-dir/mailboxes"),
        "{message}"
    );
}
