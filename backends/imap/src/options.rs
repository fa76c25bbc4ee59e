//! The `[Repository]` options of an IMAP repository, read and checked once at open.
//!
//! Names are OfflineIMAP's wherever it has one, so existing configs keep working; every
//! error names the section and the option and says what to write instead. Secrets (the
//! password and the OAuth2 token) are resolved only when a login needs them, are kept in
//! [`Secret`] (whose `Debug` hides them), and never appear in a message.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use backend_api::{BackendError, RepositoryConfig};
use openssl::ssl::SslVersion;
use openssl::x509::X509;

/// A password or token. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Security {
    /// TLS from the first byte (`ssl = yes`, port 993).
    ImplicitTls,
    /// Plain TCP upgraded with STARTTLS, which the server must offer (`ssl = no`, port 143).
    StartTls,
    /// No TLS at all: only with an explicit `ssl = no` and `starttls = no`.
    Plaintext,
}

/// A SASL mechanism or the IMAP `LOGIN` command, in the user's order of preference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mechanism {
    Plain,
    /// The IMAP `LOGIN` command (as in OfflineIMAP), not the SASL mechanism of that name.
    Login,
    CramMd5,
    XOAuth2,
    OAuthBearer,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    pub fn uses_token(self) -> bool {
        matches!(self, Mechanism::XOAuth2 | Mechanism::OAuthBearer)
    }

    fn parse(name: &str) -> Option<Mechanism> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Mechanism::Plain),
            "LOGIN" => Some(Mechanism::Login),
            "CRAM-MD5" => Some(Mechanism::CramMd5),
            "XOAUTH2" => Some(Mechanism::XOAuth2),
            "OAUTHBEARER" => Some(Mechanism::OAuthBearer),
            _ => None,
        }
    }
}

/// Where a secret comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SecretSource {
    /// Written in the config (`remotepass`, `oauth2_access_token`).
    Given(Secret),
    /// The first line of a file (`remotepassfile`).
    File(PathBuf),
    /// The first line a shell command prints (`remotepasscommand`,
    /// `oauth2_access_token_command`).
    Command(String),
    /// `~/.netrc` (passwords only, when nothing else is set).
    Netrc,
}

/// A pinned certificate fingerprint: SHA-256 or SHA-512 of the DER certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint(pub Vec<u8>);

/// Every option, checked.
#[derive(Clone, Debug)]
pub(crate) struct ImapOptions {
    /// The section, without its options (they may hold a password), for error messages.
    pub section: RepositoryConfig,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: SecretSource,
    pub oauth2_token: Option<SecretSource>,
    pub security: Security,
    /// CA certificates from `sslcacertfile`; `None` means the system trust store.
    pub ca_certificates: Option<Vec<X509>>,
    pub fingerprints: Vec<Fingerprint>,
    pub min_tls: SslVersion,
    pub mechanisms: Vec<Mechanism>,
    pub max_connections: usize,
    pub subscribed_only: bool,
    pub reference: Option<String>,
    /// `readonly = yes`, or a read-only open by the host (a dry run): EXAMINE, no writes.
    pub readonly: bool,
    /// The host opened the repository read-only (`--dry-run`).
    pub dry_run: bool,
    pub expunge: bool,
    pub timeout: Duration,
}

/// OfflineIMAP options that run Python, and what to use instead.
const PYTHON_HOOKS: [(&str, &str); 6] = [
    (
        "remotepasseval",
        "remotepasscommand (a shell command that prints the password)",
    ),
    ("remoteusereval", "remoteuser"),
    ("remotehosteval", "remotehost"),
    ("remoteporteval", "remoteport"),
    ("oauth2_access_token_eval", "oauth2_access_token_command"),
    ("oauth2_refresh_token_eval", "oauth2_access_token_command"),
];

impl ImapOptions {
    pub fn from_config(config: &RepositoryConfig) -> Result<ImapOptions, BackendError> {
        let section = RepositoryConfig {
            name: config.name.clone(),
            config_file: config.config_file.clone(),
            ..Default::default()
        };
        for (hook, instead) in PYTHON_HOOKS {
            if config.get(hook).is_some() {
                return Err(config.error(
                    hook,
                    &format!(
                        "is an OfflineIMAP Python hook, which twinbox does not run; use {instead}"
                    ),
                ));
            }
        }
        for option in ["sslclientcert", "sslclientkey"] {
            if config.get(option).is_some() {
                return Err(config.error(
                    option,
                    "(TLS client certificates) is not supported by twinbox; remove it and log in \
                     with a password or an OAuth2 token",
                ));
            }
        }

        let host = config
            .require(
                "remotehost",
                "the IMAP server's host name, e.g. imap.example.org",
            )?
            .trim()
            .to_owned();
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(config.error(
                "remotehost",
                &format!("is {host:?}; write a bare host name"),
            ));
        }

        let ssl = config.get_bool("ssl", true)?;
        let starttls = config.get_bool("starttls", true)?;
        let security = match (ssl, starttls) {
            (true, _) => Security::ImplicitTls,
            (false, true) => Security::StartTls,
            (false, false) => Security::Plaintext,
        };
        let port = match config.get("remoteport").map(str::trim) {
            None | Some("") => match security {
                Security::ImplicitTls => 993,
                _ => 143,
            },
            Some(value) => value.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                config.error(
                    "remoteport",
                    &format!("is {value:?}; write a port number (993 for ssl = yes, 143 for STARTTLS)"),
                )
            })?,
        };

        let user = config
            .get("remoteuser")
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        if let Some(user) = &user {
            if user.contains(['\r', '\n', '\0']) {
                return Err(config.error("remoteuser", "contains a line break or NUL"));
            }
        }

        let password = password_source(config)?;
        let oauth2_token = match (
            config
                .get("oauth2_access_token")
                .filter(|v| !v.trim().is_empty()),
            config
                .get("oauth2_access_token_command")
                .filter(|v| !v.trim().is_empty()),
        ) {
            (Some(token), _) => Some(SecretSource::Given(Secret::new(token.trim()))),
            (None, Some(command)) => Some(SecretSource::Command(command.trim().to_owned())),
            (None, None) => None,
        };

        let ca_certificates = match config.get("sslcacertfile").map(str::trim) {
            None | Some("") => None,
            Some(value) if value.eq_ignore_ascii_case("OS-DEFAULT") => None,
            Some(value) => Some(read_ca_file(config, &RepositoryConfig::expand_path(value))?),
        };
        let fingerprints = match config.get("cert_fingerprint") {
            None => Vec::new(),
            Some(value) => parse_fingerprints(value)
                .map_err(|problem| config.error("cert_fingerprint", &problem))?,
        };
        let min_tls = match config.get("tls_level") {
            None => SslVersion::TLS1_2,
            Some(value) => parse_tls_level(value).ok_or_else(|| {
                config.error(
                    "tls_level",
                    &format!(
                        "is {value:?}; write the lowest TLS version to accept: tls1.2 (the \
                         default) or tls1.3 (tls1.0 and tls1.1 only for old servers)"
                    ),
                )
            })?,
        };

        let mechanisms = match config.get("auth_mechanisms") {
            Some(value) => parse_mechanisms(value)
                .map_err(|problem| config.error("auth_mechanisms", &problem))?,
            None if oauth2_token.is_some() => vec![Mechanism::XOAuth2, Mechanism::OAuthBearer],
            None => vec![Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5],
        };
        if oauth2_token.is_none() && mechanisms.iter().all(|m| m.uses_token()) {
            return Err(config.error(
                "auth_mechanisms",
                "lists only OAuth2 mechanisms, but no token is configured; set \
                 oauth2_access_token or oauth2_access_token_command",
            ));
        }

        let max_connections = match config.get("maxconnections").map(str::trim) {
            None => 3,
            Some(value) => value
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    config.error(
                        "maxconnections",
                        &format!(
                            "is {value:?}; write how many connections to open at most, e.g. 3"
                        ),
                    )
                })?,
        };
        let timeout = match config.get("timeout").map(str::trim) {
            None => Duration::from_secs(60),
            Some(value) => value
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    config.error(
                        "timeout",
                        &format!(
                            "is {value:?}; write how many seconds to wait for the server before \
                             giving up, e.g. 60"
                        ),
                    )
                })?,
        };
        let reference = match config.get("reference").map(str::trim) {
            None | Some("") | Some("\"\"") => None,
            Some(value) if value.contains(['*', '%']) || value.chars().any(char::is_control) => {
                return Err(config.error(
                    "reference",
                    &format!(
                        "is {value:?}; write the folder prefix on the server (e.g. INBOX), \
                         without wildcards"
                    ),
                ))
            }
            Some(value) => Some(value.to_owned()),
        };

        Ok(ImapOptions {
            section,
            host,
            port,
            user,
            password,
            oauth2_token,
            security,
            ca_certificates,
            fingerprints,
            min_tls,
            mechanisms,
            max_connections,
            subscribed_only: config.get_bool("subscribedonly", false)?,
            reference,
            readonly: config.get_bool("readonly", false)? || config.read_only,
            dry_run: config.read_only,
            expunge: config.get_bool("expunge", true)?,
            timeout,
        })
    }

    /// `host:port`, for messages.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// An error about `option` of this repository.
    pub fn error(&self, option: &str, problem: &str) -> BackendError {
        self.section.error(option, problem)
    }

    /// The error for a write to a read-only repository; `what` is what the sync wanted
    /// to do ("append messages in folder X").
    pub fn write_refused(&self, what: &str) -> BackendError {
        if self.dry_run {
            return BackendError::repository(format!(
                "[Repository {}] is open read-only for a dry run, which changes nothing, but \
                 was asked to {what}",
                self.section.name
            ));
        }
        self.error(
            "readonly",
            &format!(
                "is yes, so twinbox never writes to this repository, but the sync needs to \
                 {what}; set readonly = no to allow it"
            ),
        )
    }

    /// The user to log in as: `remoteuser`, else the `login` of the host's `~/.netrc` entry.
    pub fn login_user(&self) -> Result<String, BackendError> {
        if let Some(user) = &self.user {
            return Ok(user.clone());
        }
        if let Some(text) = read_netrc() {
            if let Some(entry) = netrc_lookup(&text, &self.host, None) {
                if let Some(login) = entry.login {
                    return Ok(login);
                }
            }
        }
        Err(self.error(
            "remoteuser",
            "is missing; set it to the user name to log in as (or add a `machine <host> login \
             <user>` line to ~/.netrc)",
        ))
    }

    /// The password, from the configured source. Runs `remotepasscommand` if that is the
    /// source; the caller caches the result.
    pub fn resolve_password(&self, user: &str) -> Result<Secret, BackendError> {
        match &self.password {
            SecretSource::Given(secret) => Ok(secret.clone()),
            SecretSource::File(path) => {
                if let Some(warning) = exposure_warning(path, "remotepassfile") {
                    log::warn!("{warning}");
                }
                let text = std::fs::read_to_string(path).map_err(|error| {
                    self.error(
                        "remotepassfile",
                        &format!("names {}, which cannot be read: {error}", path.display()),
                    )
                })?;
                let line = first_line(&text);
                if line.is_empty() {
                    return Err(self.error(
                        "remotepassfile",
                        &format!("names {}, whose first line is empty", path.display()),
                    ));
                }
                Ok(Secret::new(line))
            }
            SecretSource::Command(command) => run_secret_command(command)
                .map_err(|problem| self.error("remotepasscommand", &problem)),
            SecretSource::Netrc => read_netrc()
                .and_then(|text| netrc_lookup(&text, &self.host, Some(user)))
                .and_then(|entry| entry.password)
                .map(Secret::new)
                .ok_or_else(|| {
                    self.error(
                        "remotepass",
                        &format!(
                            "is missing and ~/.netrc has no password for {user} on {}; set \
                             remotepass, remotepassfile or remotepasscommand",
                            self.host
                        ),
                    )
                }),
        }
    }

    /// The OAuth2 access token, from the configured source.
    pub fn resolve_token(&self) -> Result<Secret, BackendError> {
        match &self.oauth2_token {
            Some(SecretSource::Given(token)) => Ok(token.clone()),
            Some(SecretSource::Command(command)) => run_secret_command(command)
                .map_err(|problem| self.error("oauth2_access_token_command", &problem)),
            _ => Err(self.error(
                "oauth2_access_token",
                "is missing; set it or oauth2_access_token_command to log in with OAuth2",
            )),
        }
    }
}

fn password_source(config: &RepositoryConfig) -> Result<SecretSource, BackendError> {
    if let Some(password) = config.get("remotepass") {
        if password.contains(['\r', '\n', '\0']) {
            return Err(config.error("remotepass", "contains a line break or NUL"));
        }
        return Ok(SecretSource::Given(Secret::new(password)));
    }
    if let Some(file) = config.get("remotepassfile").map(str::trim) {
        if file.is_empty() {
            return Err(config.error(
                "remotepassfile",
                "is empty; name the file that holds the password",
            ));
        }
        return Ok(SecretSource::File(RepositoryConfig::expand_path(file)));
    }
    if let Some(command) = config.get("remotepasscommand").map(str::trim) {
        if command.is_empty() {
            return Err(config.error(
                "remotepasscommand",
                "is empty; write a shell command that prints the password",
            ));
        }
        return Ok(SecretSource::Command(command.to_owned()));
    }
    Ok(SecretSource::Netrc)
}

/// The first line of `text` without its line ending.
fn first_line(text: &str) -> &str {
    text.split('\n').next().unwrap_or("").trim_end_matches('\r')
}

/// Runs `command` with `sh -c` (standard input and error stay the terminal's, so a
/// pinentry or a prompt works) and returns the first line it prints. The problem, if any,
/// is said without the output.
fn run_secret_command(command: &str) -> Result<Secret, String> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .stdout(Stdio::piped())
        .output()
        .map_err(|error| format!("cannot be run with sh -c: {error}"))?;
    if !output.status.success() {
        return Err(match output.status.code() {
            Some(code) => format!("exited with status {code}; run it by hand to see why"),
            None => "was killed by a signal".to_owned(),
        });
    }
    let text = String::from_utf8(output.stdout)
        .map_err(|_| "printed something that is not UTF-8".to_owned())?;
    let line = first_line(&text);
    if line.is_empty() {
        return Err("printed an empty first line; it must print the secret".to_owned());
    }
    Ok(Secret::new(line))
}

fn read_ca_file(config: &RepositoryConfig, path: &Path) -> Result<Vec<X509>, BackendError> {
    let pem = std::fs::read(path).map_err(|error| {
        config.error(
            "sslcacertfile",
            &format!("names {}, which cannot be read: {error}", path.display()),
        )
    })?;
    match X509::stack_from_pem(&pem) {
        Ok(certificates) if !certificates.is_empty() => Ok(certificates),
        _ => Err(config.error(
            "sslcacertfile",
            &format!(
                "names {}, which holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            ),
        )),
    }
}

/// `cert_fingerprint`: comma-separated hex SHA-256 or SHA-512 digests, colons and spaces
/// allowed.
pub(crate) fn parse_fingerprints(value: &str) -> Result<Vec<Fingerprint>, String> {
    let mut fingerprints = Vec::new();
    for item in value.split(',') {
        let hex: String = item
            .chars()
            .filter(|c| *c != ':' && !c.is_whitespace())
            .collect();
        if hex.is_empty() {
            continue;
        }
        let bytes = decode_hex(&hex).ok_or_else(|| {
            format!("has {:?}, which is not hexadecimal; write the SHA-256 fingerprint of the server's certificate", item.trim())
        })?;
        match bytes.len() {
            32 | 64 => fingerprints.push(Fingerprint(bytes)),
            20 => {
                return Err(format!(
                    "has {:?}, a SHA-1 fingerprint, which is too weak; write the SHA-256 one \
                     (twinbox shows it when it refuses the certificate)",
                    item.trim()
                ))
            }
            _ => {
                return Err(format!(
                    "has {:?}, which is neither a SHA-256 (64 hex digits) nor a SHA-512 (128) \
                     fingerprint",
                    item.trim()
                ))
            }
        }
    }
    if fingerprints.is_empty() {
        return Err("is empty; write the SHA-256 fingerprint of the server's certificate".into());
    }
    Ok(fingerprints)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

/// `tls_level`: the lowest TLS version accepted. OfflineIMAP's `tls_secure` means 1.2;
/// its weaker levels mean 1.0 (OpenSSL may refuse old versions anyway).
fn parse_tls_level(value: &str) -> Option<SslVersion> {
    let normalized: String = value
        .trim()
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !matches!(c, 'v' | '_' | '.' | ' '))
        .collect();
    match normalized.as_str() {
        "tls13" | "13" => Some(SslVersion::TLS1_3),
        "tls12" | "12" | "tlssecure" => Some(SslVersion::TLS1_2),
        "tls11" | "11" => Some(SslVersion::TLS1_1),
        "tls10" | "tls1" | "10" | "tlsnossl" | "tlscompat" => Some(SslVersion::TLS1),
        _ => None,
    }
}

/// `auth_mechanisms`: names separated by commas and/or spaces, in order of preference.
/// Mechanisms twinbox does not implement but OfflineIMAP lists by default (GSSAPI,
/// EXTERNAL) are skipped with a warning so copied configs keep working.
pub(crate) fn parse_mechanisms(value: &str) -> Result<Vec<Mechanism>, String> {
    let mut mechanisms = Vec::new();
    for name in value.split([',', ' ', '\t']).filter(|n| !n.is_empty()) {
        match Mechanism::parse(name) {
            Some(mechanism) => {
                if !mechanisms.contains(&mechanism) {
                    mechanisms.push(mechanism)
                }
            }
            None if name.eq_ignore_ascii_case("GSSAPI")
                || name.eq_ignore_ascii_case("EXTERNAL") =>
            {
                log::warn!("auth_mechanisms: {name} is not supported by twinbox; skipped");
            }
            None => {
                return Err(format!(
                    "has {name:?}, which twinbox does not know; write some of PLAIN, LOGIN, \
                     CRAM-MD5, XOAUTH2, OAUTHBEARER in order of preference"
                ))
            }
        }
    }
    if mechanisms.is_empty() {
        return Err("names no usable mechanism; write e.g. PLAIN, LOGIN, CRAM-MD5".into());
    }
    Ok(mechanisms)
}

/// One `machine` (or `default`) entry of a netrc file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NetrcEntry {
    pub login: Option<String>,
    pub password: Option<String>,
}

fn read_netrc() -> Option<String> {
    let home = std::env::var_os("HOME")?;
    let path = Path::new(&home).join(".netrc");
    let text = std::fs::read_to_string(&path).ok()?;
    if let Some(warning) = exposure_warning(&path, "~/.netrc") {
        log::warn!("{warning}");
    }
    Some(text)
}

/// A warning if the file `path`, which holds a password, can be read by other users.
pub(crate) fn exposure_warning(path: &Path, what: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o044 != 0).then(|| {
        format!(
            "{} ({what}) holds a password and can be read by other users (mode {:o}); make it \
             private: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        )
    })
}

/// The entry for `host` (and `user`, when given) in a netrc file's text; the `default`
/// entry if no machine matches.
pub(crate) fn netrc_lookup(text: &str, host: &str, user: Option<&str>) -> Option<NetrcEntry> {
    let mut entries: Vec<(Option<String>, NetrcEntry)> = Vec::new();
    let mut in_macro = false;
    // `macdef` bodies run to the next blank line; skip them line by line.
    let mut lines_left = String::new();
    for line in text.lines() {
        if in_macro {
            if line.trim().is_empty() {
                in_macro = false;
            }
            continue;
        }
        if line.split_whitespace().any(|t| t == "macdef") {
            in_macro = true;
            // Keep what comes before `macdef` on this line.
            let before: Vec<&str> = line
                .split_whitespace()
                .take_while(|t| *t != "macdef")
                .collect();
            lines_left.push_str(&before.join(" "));
            lines_left.push('\n');
            continue;
        }
        lines_left.push_str(line);
        lines_left.push('\n');
    }
    let mut tokens = lines_left.split_whitespace();
    while let Some(token) = tokens.next() {
        match token {
            "machine" => {
                let name = tokens.next().map(str::to_owned);
                entries.push((name, NetrcEntry::default()));
            }
            "default" => entries.push((None, NetrcEntry::default())),
            "login" | "password" | "account" => {
                let value = tokens.next().map(str::to_owned);
                if let Some((_, entry)) = entries.last_mut() {
                    match token {
                        "login" => entry.login = value,
                        "password" => entry.password = value,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let matches_user = |entry: &NetrcEntry| {
        user.is_none() || entry.login.is_none() || entry.login.as_deref() == user
    };
    entries
        .iter()
        .find(|(machine, entry)| {
            machine
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(host))
                && matches_user(entry)
        })
        .or_else(|| {
            entries
                .iter()
                .find(|(machine, entry)| machine.is_none() && matches_user(entry))
        })
        .map(|(_, entry)| entry.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> RepositoryConfig {
        let mut config = RepositoryConfig::new("Remote").with("remotehost", "imap.example.org");
        config.config_file = "/home/u/.twinboxrc".into();
        config
    }

    #[track_caller]
    fn error_of(config: RepositoryConfig) -> String {
        match ImapOptions::from_config(&config) {
            Ok(options) => panic!("expected an error, got {options:?}"),
            Err(error) => {
                assert_eq!(error.scope, backend_api::ErrorScope::Repository);
                error.message
            }
        }
    }

    #[test]
    fn defaults() {
        let options = ImapOptions::from_config(&base().with("remoteuser", "alice")).unwrap();
        assert_eq!(options.host, "imap.example.org");
        assert_eq!(options.port, 993);
        assert_eq!(options.security, Security::ImplicitTls);
        assert_eq!(options.user.as_deref(), Some("alice"));
        assert_eq!(options.password, SecretSource::Netrc);
        assert!(options.ca_certificates.is_none());
        assert!(options.fingerprints.is_empty());
        assert_eq!(options.min_tls, SslVersion::TLS1_2);
        assert_eq!(
            options.mechanisms,
            vec![Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]
        );
        assert_eq!(options.max_connections, 3);
        assert!(!options.subscribed_only && !options.readonly && options.expunge);
        assert!(!options.dry_run);
        assert_eq!(options.reference, None);
        assert_eq!(options.timeout, Duration::from_secs(60));
        assert_eq!(options.server(), "imap.example.org:993");
    }

    #[test]
    fn remotehost_is_required() {
        let message = error_of(RepositoryConfig::new("Remote"));
        assert!(
            message.contains("[Repository Remote] option 'remotehost' is missing"),
            "{message}"
        );
    }

    #[test]
    fn ssl_and_starttls_choose_the_security_and_port() {
        let starttls = ImapOptions::from_config(&base().with("ssl", "no")).unwrap();
        assert_eq!(
            (starttls.security, starttls.port),
            (Security::StartTls, 143)
        );
        let plain =
            ImapOptions::from_config(&base().with("ssl", "no").with("starttls", "no")).unwrap();
        assert_eq!((plain.security, plain.port), (Security::Plaintext, 143));
        // starttls = no does not weaken implicit TLS.
        let tls = ImapOptions::from_config(&base().with("starttls", "no")).unwrap();
        assert_eq!(tls.security, Security::ImplicitTls);
        let custom = ImapOptions::from_config(&base().with("remoteport", "10993")).unwrap();
        assert_eq!(custom.port, 10993);
    }

    #[test]
    fn bad_values_name_the_option() {
        for (option, value) in [
            ("remoteport", "imap"),
            ("remoteport", "0"),
            ("ssl", "maybe"),
            ("maxconnections", "0"),
            ("maxconnections", "many"),
            ("timeout", "0"),
            ("timeout", "-5"),
            ("timeout", "soon"),
            ("tls_level", "ssl3"),
            ("auth_mechanisms", "PLAIN, KERBEROS"),
            ("cert_fingerprint", "zz"),
            ("reference", "Mail/*"),
            ("remotepasseval", "get_pass()"),
            ("sslclientcert", "/tmp/c.pem"),
        ] {
            let message = error_of(base().with(option, value));
            assert!(
                message.starts_with("/home/u/.twinboxrc: [Repository Remote] option"),
                "{message}"
            );
            assert!(message.contains(&format!("'{option}'")), "{message}");
        }
    }

    #[test]
    fn a_read_only_open_by_the_host_is_readonly() {
        let mut config = base();
        config.read_only = true;
        let options = ImapOptions::from_config(&config).unwrap();
        assert!(options.readonly && options.dry_run);
        let error = options.write_refused("append messages in folder X");
        assert!(error.message.contains("dry run"), "{error}");
        let options = ImapOptions::from_config(&base().with("readonly", "yes")).unwrap();
        assert!(options
            .write_refused("x")
            .message
            .contains("'readonly' is yes"));
    }

    #[test]
    fn numbers_and_lists() {
        let options = ImapOptions::from_config(
            &base()
                .with("maxconnections", "5")
                .with("timeout", "2.5")
                .with("tls_level", "tls1_3")
                .with("auth_mechanisms", "cram-md5 plain, XOAUTH2")
                .with("oauth2_access_token", "tok")
                .with("reference", "INBOX")
                .with("subscribedonly", "yes")
                .with("readonly", "true")
                .with("expunge", "no"),
        )
        .unwrap();
        assert_eq!(options.max_connections, 5);
        assert_eq!(options.timeout, Duration::from_millis(2500));
        assert_eq!(options.min_tls, SslVersion::TLS1_3);
        assert_eq!(
            options.mechanisms,
            vec![Mechanism::CramMd5, Mechanism::Plain, Mechanism::XOAuth2]
        );
        assert_eq!(options.reference.as_deref(), Some("INBOX"));
        assert!(options.subscribed_only && options.readonly && !options.expunge);
    }

    #[test]
    fn offlineimap_mechanism_lists_still_parse() {
        assert_eq!(
            parse_mechanisms("GSSAPI, XOAUTH2, CRAM-MD5, PLAIN, LOGIN").unwrap(),
            vec![
                Mechanism::XOAuth2,
                Mechanism::CramMd5,
                Mechanism::Plain,
                Mechanism::Login
            ]
        );
        assert!(parse_mechanisms("GSSAPI").is_err());
    }

    #[test]
    fn oauth_token_changes_the_default_mechanisms() {
        let options =
            ImapOptions::from_config(&base().with("oauth2_access_token_command", "echo token"))
                .unwrap();
        assert_eq!(
            options.mechanisms,
            vec![Mechanism::XOAuth2, Mechanism::OAuthBearer]
        );
        assert_eq!(options.resolve_token().unwrap().expose(), "token");
        let message = error_of(base().with("auth_mechanisms", "XOAUTH2"));
        assert!(message.contains("no token is configured"), "{message}");
    }

    #[test]
    fn fingerprints() {
        let sha256 = "AB:".repeat(31) + "AB";
        let sha512 = "cd".repeat(64);
        let parsed = parse_fingerprints(&format!("{sha256}, {sha512}")).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].0, vec![0xab; 32]);
        assert_eq!(parsed[1].0, vec![0xcd; 64]);
        assert!(parse_fingerprints(&"ab".repeat(20))
            .unwrap_err()
            .contains("SHA-1"));
        assert!(parse_fingerprints("abc").is_err());
        assert!(parse_fingerprints(" , ").is_err());
    }

    #[test]
    fn ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let message = error_of(base().with("sslcacertfile", bad.to_str().unwrap()));
        assert!(
            message.contains("'sslcacertfile'") && message.contains("no PEM certificate"),
            "{message}"
        );
        let missing = dir.path().join("missing.pem");
        let message = error_of(base().with("sslcacertfile", missing.to_str().unwrap()));
        assert!(message.contains("cannot be read"), "{message}");
        let system = ImapOptions::from_config(&base().with("sslcacertfile", "OS-DEFAULT")).unwrap();
        assert!(system.ca_certificates.is_none());
    }

    #[test]
    fn password_sources() {
        let dir = tempfile::tempdir().unwrap();
        let given = ImapOptions::from_config(&base().with("remotepass", "s3cret")).unwrap();
        assert_eq!(given.resolve_password("u").unwrap().expose(), "s3cret");
        assert!(
            !format!("{given:?}").contains("s3cret"),
            "Debug hides the password"
        );

        let file = dir.path().join("pass");
        std::fs::write(&file, "from file\r\nsecond line\n").unwrap();
        let from_file =
            ImapOptions::from_config(&base().with("remotepassfile", file.to_str().unwrap()))
                .unwrap();
        assert_eq!(
            from_file.resolve_password("u").unwrap().expose(),
            "from file"
        );

        let from_command = ImapOptions::from_config(
            &base().with("remotepasscommand", "printf 'cmd pass\\nignored\\n'"),
        )
        .unwrap();
        assert_eq!(
            from_command.resolve_password("u").unwrap().expose(),
            "cmd pass"
        );

        let failing = ImapOptions::from_config(
            &base().with("remotepasscommand", "echo leaked-secret; exit 3"),
        )
        .unwrap();
        let error = failing.resolve_password("u").unwrap_err();
        assert!(
            error
                .message
                .contains("'remotepasscommand' exited with status 3"),
            "{error}"
        );
        assert!(!error.message.contains("leaked-secret"));

        let empty = ImapOptions::from_config(&base().with("remotepasscommand", "true")).unwrap();
        assert!(empty
            .resolve_password("u")
            .unwrap_err()
            .message
            .contains("empty"));

        let missing = ImapOptions::from_config(
            &base().with("remotepassfile", dir.path().join("none").to_str().unwrap()),
        )
        .unwrap();
        assert!(missing
            .resolve_password("u")
            .unwrap_err()
            .message
            .contains("'remotepassfile'"));
    }

    #[test]
    fn netrc_entries() {
        let text = "machine other.org login bob password b0b\n\
                    machine imap.example.org\n  login alice\n  password al1ce\n\
                    machine imap.example.org login carol password car0l\n\
                    macdef init\nmachine evil login x password y\n\n\
                    default login anon password guest\n";
        let alice = netrc_lookup(text, "imap.example.org", Some("alice")).unwrap();
        assert_eq!(alice.password.as_deref(), Some("al1ce"));
        let carol = netrc_lookup(text, "IMAP.example.org", Some("carol")).unwrap();
        assert_eq!(carol.password.as_deref(), Some("car0l"));
        let first = netrc_lookup(text, "imap.example.org", None).unwrap();
        assert_eq!(first.login.as_deref(), Some("alice"));
        let fallback = netrc_lookup(text, "unknown.org", Some("anon")).unwrap();
        assert_eq!(fallback.password.as_deref(), Some("guest"));
        assert_eq!(
            netrc_lookup(text, "evil", None).unwrap().login.as_deref(),
            Some("anon")
        );
        assert_eq!(netrc_lookup("", "x", None), None);
    }

    #[test]
    fn a_password_file_readable_by_others_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pass");
        std::fs::write(&file, "secret\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let warning = exposure_warning(&file, "remotepassfile").unwrap();
        assert!(
            warning.contains("can be read by other users") && warning.contains("chmod 600"),
            "{warning}"
        );
        assert!(!warning.contains("secret\n"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(exposure_warning(&file, "remotepassfile"), None);
    }
}
