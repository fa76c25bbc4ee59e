//! Every option twinbox knows, per kind of section, and what it does with each.
//!
//! An OfflineIMAP configuration carries options of four kinds for us: those twinbox
//! honours, those it accepts but cannot honour yet (another issue brings them: the daemon,
//! hardening), those it refuses because they run Python or would be silently wrong, and
//! those it has never heard of (UI options and the like). The user must learn which is
//! which on every run — an option that does nothing must never look as if it worked — so
//! the loader looks each option up here: refused ones stop the load (exit 2), not-yet and
//! unknown ones become warnings.
//!
//! Repository options are the backends' business, so the catalog knows them only for the
//! types that ship with twinbox (IMAP, Maildir, and the example mbox and MH plugins). For
//! any other type only the options the host reads itself are checked: a third-party plugin
//! may read anything.

/// What twinbox does with an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Honoured.
    Works,
    /// Accepted, but has no effect yet; the text says why (which work brings it).
    NotYet(&'static str),
    /// Accepted and ignored for good; the text says why it is not needed.
    Ignored(&'static str),
    /// Refused: the load fails. The text says what to use instead.
    Refused(&'static str),
}

/// The kinds of section the catalog knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind<'a> {
    General,
    Account,
    /// `[Repository NAME]` of this `type` (as written; compared case-insensitively).
    Repository(&'a str),
    Mbnames,
}

const NEEDS_DATES: &str = "twinbox's backends do not report message dates in their \
                           listings yet, so every message is synced";
const HARDENING: &str = "the size limit comes with the hardening work; every message is synced";

const GENERAL: &[(&str, Support)] = &[
    ("accounts", Support::Works),
    ("metadata", Support::Works),
    ("pluginpath", Support::Works),
    ("maxsyncaccounts", Support::Works),
    // Passed to IMAP repositories as their `timeout` (see `Config::repository_for`).
    ("socktimeout", Support::Works),
    (
        "pythonfile",
        Support::Refused(
            "twinbox never runs Python; remove it and use remotepasscommand (a shell \
             command that prints the password) where its functions supplied passwords",
        ),
    ),
    (
        "ui",
        Support::Ignored(
            "twinbox picks its display itself: a progress line per account on a terminal, \
             plain lines elsewhere; -q is OfflineIMAP's quiet, -v adds detail, --json gives \
             one JSON object per event",
        ),
    ),
    (
        "fsync",
        Support::Ignored("twinbox always makes every step durable before recording it"),
    ),
];

const ACCOUNT: &[(&str, Support)] = &[
    ("localrepository", Support::Works),
    ("remoterepository", Support::Works),
    ("createfolders", Support::Works),
    ("pairbymessageid", Support::Works),
    ("deletionguard", Support::Works),
    ("utf8foldernames", Support::Works),
    // The daemon (host/src/daemon): `twinbox sync` keeps running when it is set.
    ("autorefresh", Support::Works),
    // Which runs of the daemon are quick ones (what OFFLINEIMAPSYNCMODE tells the hooks);
    // every twinbox run already asks the server only for what changed.
    ("quick", Support::Works),
    ("presynchook", Support::Works),
    ("postsynchook", Support::Works),
    // A shell command in twinbox (OfflineIMAP's is a Python lambda, refused by name).
    ("newmail_hook", Support::Works),
    // twinbox's own: how long a hook may run before it is killed.
    ("hooktimeout", Support::Works),
    ("maxage", Support::NotYet(NEEDS_DATES)),
    ("startdate", Support::NotYet(NEEDS_DATES)),
    ("maxsize", Support::NotYet(HARDENING)),
    (
        "status_backend",
        Support::Ignored(
            "twinbox keeps its own state (twinbox import-offlineimap reads OfflineIMAP's)",
        ),
    ),
];

/// Options the host reads from every repository section, whatever its type.
const REPOSITORY: &[(&str, Support)] = &[
    ("type", Support::Works),
    ("folderfilter", Support::Works),
    ("nametrans", Support::Works),
    ("folderincludes", Support::Works),
    ("createfolders", Support::Works),
    ("sync_deletes", Support::Works),
    ("readonly", Support::Works),
    ("maxconnections", Support::Works),
    // Folder filters are evaluated afresh on every sync in twinbox.
    ("dynamic_folderfilter", Support::Works),
    // Read by the daemon from the remote repository (host/src/daemon/idle.rs).
    ("idlefolders", Support::Works),
    ("newmail_hook", Support::Works),
    ("maxage", Support::NotYet(NEEDS_DATES)),
    ("startdate", Support::NotYet(NEEDS_DATES)),
    ("maxsize", Support::NotYet(HARDENING)),
    (
        "foldersort",
        Support::Ignored("twinbox syncs folders in its own order"),
    ),
    (
        "localpasseval",
        Support::Refused("twinbox never runs Python; remove it"),
    ),
];

const IMAP: &[(&str, Support)] = &[
    ("remotehost", Support::Works),
    ("remoteport", Support::Works),
    ("remoteuser", Support::Works),
    ("remotepass", Support::Works),
    ("remotepassfile", Support::Works),
    ("remotepasscommand", Support::Works),
    ("ssl", Support::Works),
    ("starttls", Support::Works),
    ("sslcacertfile", Support::Works),
    ("cert_fingerprint", Support::Works),
    ("tls_level", Support::Works),
    ("auth_mechanisms", Support::Works),
    ("oauth2_access_token", Support::Works),
    ("oauth2_access_token_command", Support::Works),
    ("timeout", Support::Works),
    ("reference", Support::Works),
    ("subscribedonly", Support::Works),
    ("expunge", Support::Works),
    // Read by the host: the hierarchy separator folderfilter and nametrans see.
    ("sep", Support::Works),
    (
        "holdconnectionopen",
        Support::Ignored(
            "twinbox connects for each sync; the daemon's IDLE watchers keep connections of \
             their own open",
        ),
    ),
    (
        "keepalive",
        Support::Ignored(
            "the daemon's IDLE watchers renew IDLE every 5 minutes, which keeps their \
             connections alive",
        ),
    ),
    (
        "remotepasseval",
        Support::Refused(
            "twinbox never runs Python; use remotepasscommand (a shell command that prints \
             the password)",
        ),
    ),
    (
        "remoteusereval",
        Support::Refused("twinbox never runs Python; use remoteuser"),
    ),
    (
        "remotehosteval",
        Support::Refused("twinbox never runs Python; use remotehost"),
    ),
    (
        "remoteporteval",
        Support::Refused("twinbox never runs Python; use remoteport"),
    ),
    (
        "oauth2_access_token_eval",
        Support::Refused("twinbox never runs Python; use oauth2_access_token_command"),
    ),
    (
        "oauth2_refresh_token_eval",
        Support::Refused("twinbox never runs Python; use oauth2_access_token_command"),
    ),
    (
        "preauthtunnel",
        Support::Refused("twinbox cannot connect through a tunnel; remove it and set remotehost"),
    ),
    (
        "transporttunnel",
        Support::Refused("twinbox cannot connect through a tunnel; remove it and set remotehost"),
    ),
    (
        "sslclientcert",
        Support::Refused(
            "TLS client certificates are not supported; log in with a password or an OAuth2 token",
        ),
    ),
    (
        "sslclientkey",
        Support::Refused(
            "TLS client certificates are not supported; log in with a password or an OAuth2 token",
        ),
    ),
];

const MAILDIR: &[(&str, Support)] = &[
    ("localfolders", Support::Works),
    ("sep", Support::Works),
    ("layout", Support::Works),
];

const MBOX: &[(&str, Support)] = &[
    ("localfolders", Support::Works),
    ("locktimeout", Support::Works),
    ("sep", Support::Works),
];

const MH: &[(&str, Support)] = &[
    ("localfolders", Support::Works),
    ("mh_sequences_unseen", Support::Works),
    ("mh_sequences_flagged", Support::Works),
    ("mh_sequences_replied", Support::Works),
    ("mh_sequences_draft", Support::Works),
    ("mh_sequences_deleted", Support::Works),
    ("sep", Support::Works),
];

/// `[mbnames]`: written by the mbnames module.
const MBNAMES: &[(&str, Support)] = &[
    ("enabled", Support::Works),
    ("filename", Support::Works),
    ("header", Support::Works),
    ("peritem", Support::Works),
    ("sep", Support::Works),
    ("footer", Support::Works),
    ("folderfilter", Support::Works),
    ("incremental", Support::Works),
    ("sort_keyfunc", Support::Works),
];

/// The options of the repository types the catalog knows, by lowercase type.
fn repository_type(kind: &str) -> Option<&'static [(&'static str, Support)]> {
    match kind.trim().to_ascii_lowercase().as_str() {
        "imap" => Some(IMAP),
        "maildir" => Some(MAILDIR),
        "mbox" => Some(MBOX),
        "mh" => Some(MH),
        _ => None,
    }
}

/// What twinbox does with `option` (lowercase) in a section of `kind`.
///
/// `None` means unknown: for a repository of a type the catalog does not know, only
/// options of [`REPOSITORY`] (and refused ones) are ever known, and the caller must not
/// call the rest unknown (see [`knows_every_option_of`]).
pub fn lookup(kind: SectionKind<'_>, option: &str) -> Option<Support> {
    let find = |table: &[(&str, Support)]| {
        table
            .iter()
            .find(|(name, _)| *name == option)
            .map(|&(_, support)| support)
    };
    match kind {
        SectionKind::General => find(GENERAL),
        SectionKind::Account => find(ACCOUNT),
        SectionKind::Mbnames => find(MBNAMES),
        SectionKind::Repository(kind) => find(REPOSITORY)
            .or_else(|| repository_type(kind).and_then(find))
            // The Python hooks are refused whatever the type: no backend runs Python.
            .or_else(|| {
                find(IMAP).filter(|s| matches!(s, Support::Refused(_)) && option.ends_with("eval"))
            }),
    }
}

/// Whether every option a section of `kind` may hold is in the catalog, so that one it
/// lacks is truly unknown. False for repository types of third-party plugins.
pub fn knows_every_option_of(kind: SectionKind<'_>) -> bool {
    match kind {
        SectionKind::Repository(kind) => repository_type(kind).is_some(),
        _ => true,
    }
}

/// Every option of a kind, for the README's table and for tests.
pub fn options_of(kind: SectionKind<'_>) -> Vec<(&'static str, Support)> {
    let table: Vec<&[(&str, Support)]> = match kind {
        SectionKind::General => vec![GENERAL],
        SectionKind::Account => vec![ACCOUNT],
        SectionKind::Mbnames => vec![MBNAMES],
        SectionKind::Repository(kind) => {
            let mut tables = vec![REPOSITORY];
            tables.extend(repository_type(kind));
            tables
        }
    };
    table.into_iter().flatten().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_options_of_the_issue_are_known() {
        for option in ["accounts", "maxsyncaccounts", "metadata", "socktimeout"] {
            assert_eq!(lookup(SectionKind::General, option), Some(Support::Works));
        }
        assert!(matches!(
            lookup(SectionKind::General, "pythonfile"),
            Some(Support::Refused(_))
        ));
        for option in [
            "autorefresh",
            "quick",
            "presynchook",
            "postsynchook",
            "newmail_hook",
            "hooktimeout",
        ] {
            assert_eq!(
                lookup(SectionKind::Account, option),
                Some(Support::Works),
                "{option}"
            );
        }
        for option in ["maxage", "startdate", "maxsize"] {
            assert!(
                matches!(
                    lookup(SectionKind::Account, option),
                    Some(Support::NotYet(_))
                ),
                "{option}"
            );
        }
        for option in ["localrepository", "remoterepository", "utf8foldernames"] {
            assert_eq!(lookup(SectionKind::Account, option), Some(Support::Works));
        }
        for kind in ["IMAP", "Maildir", "SomePlugin"] {
            for option in [
                "folderfilter",
                "nametrans",
                "folderincludes",
                "createfolders",
                "sync_deletes",
                "readonly",
            ] {
                assert_eq!(
                    lookup(SectionKind::Repository(kind), option),
                    Some(Support::Works),
                    "{kind} {option}"
                );
            }
        }
        for option in ["expunge", "subscribedonly", "remotepasscommand"] {
            assert_eq!(
                lookup(SectionKind::Repository("imap"), option),
                Some(Support::Works)
            );
        }
        assert_eq!(
            lookup(SectionKind::Repository("IMAP"), "idlefolders"),
            Some(Support::Works)
        );
    }

    #[test]
    fn python_hooks_are_refused_for_every_type() {
        for kind in ["IMAP", "Maildir", "Gmail"] {
            for option in ["remotepasseval", "localpasseval", "remoteusereval"] {
                assert!(
                    matches!(
                        lookup(SectionKind::Repository(kind), option),
                        Some(Support::Refused(_))
                    ),
                    "{kind} {option}"
                );
            }
        }
    }

    #[test]
    fn unknown_options_and_types() {
        assert_eq!(lookup(SectionKind::General, "ui-nonsense"), None);
        assert_eq!(
            lookup(SectionKind::Repository("Maildir"), "remotehost"),
            None
        );
        assert!(knows_every_option_of(SectionKind::Repository("maildir")));
        assert!(!knows_every_option_of(SectionKind::Repository("Gmail")));
        assert!(options_of(SectionKind::Repository("IMAP")).len() > 30);
    }
}
