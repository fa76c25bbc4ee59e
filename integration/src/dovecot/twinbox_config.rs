//! twinbox's side of an IMAP test: the `[Repository]` sections that reach a test Dovecot
//! (implicit TLS, STARTTLS, plaintext or through a proxy) and the account configs built
//! from them.

use crate::{maildir_section, Sandbox};

use super::Dovecot;

/// The account name of [`maildir_imap_config`] and [`imap_imap_config`].
pub const ACCOUNT: &str = "Test";

impl Dovecot {
    /// The options every repository reaching `user` on `port` at `127.0.0.1` starts with:
    /// type, host, port, user and password, in that order; TLS is up to the caller.
    fn login_repository(&self, user: &str, port: u16) -> ImapRepository {
        ImapRepository::new()
            .set("type", "IMAP")
            .set("remotehost", "127.0.0.1")
            .set("remoteport", &port.to_string())
            .set("remoteuser", user)
            .set("remotepass", self.password(user))
    }

    /// The `[Repository]` options reaching `user` over implicit TLS at `127.0.0.1`,
    /// verified with the test CA.
    pub fn tls_repository(&self, user: &str) -> ImapRepository {
        self.login_repository(user, self.imaps_port())
            .set("ssl", "yes")
            .set("sslcacertfile", &self.ca_cert_path().display().to_string())
    }

    /// The `[Repository]` options reaching `user` on the plain port with STARTTLS (the
    /// default when `ssl = no`), verified with the test CA.
    pub fn starttls_repository(&self, user: &str) -> ImapRepository {
        self.login_repository(user, self.imap_port())
            .set("ssl", "no")
            .set("sslcacertfile", &self.ca_cert_path().display().to_string())
    }

    /// The `[Repository]` options reaching `user` in plaintext on `port` (the plain
    /// listener or a [`Proxy`](super::Proxy) in front of it): `ssl = no`, `starttls = no`.
    pub fn plaintext_repository(&self, user: &str, port: u16) -> ImapRepository {
        self.login_repository(user, port)
            .set("ssl", "no")
            .set("starttls", "no")
    }
}

/// The options of one `[Repository]` section of type IMAP.
#[derive(Clone, Debug, Default)]
pub struct ImapRepository {
    options: Vec<(String, String)>,
}

impl ImapRepository {
    pub fn new() -> ImapRepository {
        ImapRepository::default()
    }

    /// Sets (or replaces) an option.
    pub fn set(mut self, option: &str, value: &str) -> ImapRepository {
        self.options.retain(|(name, _)| name != option);
        self.options.push((option.to_owned(), value.to_owned()));
        self
    }

    /// Removes an option.
    pub fn unset(mut self, option: &str) -> ImapRepository {
        self.options.retain(|(name, _)| name != option);
        self
    }

    /// The section `[Repository NAME]` with these options.
    pub fn section(&self, name: &str) -> String {
        let mut out = format!("[Repository {name}]\n");
        for (option, value) in &self.options {
            out.push_str(&format!("{option} = {value}\n"));
        }
        out
    }
}

/// The config of one account [`ACCOUNT`]: the Maildir [`Sandbox::local`] (`sep` `.`) as
/// local repository, `remote` as remote; `account_options` (lines) go into `[Account]`.
pub fn maildir_imap_config(
    sandbox: &Sandbox,
    account_options: &str,
    remote: &ImapRepository,
) -> String {
    sandbox.account_config(
        ACCOUNT,
        account_options,
        &maildir_section("Local", &sandbox.local()),
        &remote.section("Remote"),
    )
}

/// A new [`Sandbox`] whose config is [`maildir_imap_config`] with these arguments.
pub fn maildir_imap_sandbox(account_options: &str, remote: &ImapRepository) -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write_config(&maildir_imap_config(&sandbox, account_options, remote));
    sandbox
}

/// The config of one account [`ACCOUNT`] mirroring two IMAP repositories.
pub fn imap_imap_config(
    sandbox: &Sandbox,
    account_options: &str,
    local: &ImapRepository,
    remote: &ImapRepository,
) -> String {
    sandbox.account_config(
        ACCOUNT,
        account_options,
        &local.section("Local"),
        &remote.section("Remote"),
    )
}
