//! Options of the account that uses this repository, as the host passes them along.
//!
//! The host hands a backend the `[Account]` options that concern it (such as
//! `utf8foldernames`) beside the repository's own. Their errors must name the `[Account]`
//! section, not the repository's, or the user edits the wrong one.

use backend_api::{BackendError, RepositoryConfig};

/// A boolean `[Account]` option in OfflineIMAP's spellings (yes/no, true/false, on/off,
/// 1/0, read exactly as [`RepositoryConfig::get_bool`] reads repository options), or
/// `default` when it is not set.
pub(crate) fn account_bool(
    config: &RepositoryConfig,
    option: &str,
    default: bool,
) -> Result<bool, BackendError> {
    let Some(value) = config.account_options.get(option) else {
        return Ok(default);
    };
    // The same parser as repository options, so the spellings never drift apart.
    let probe = RepositoryConfig::new(config.name.clone()).with(option, value.clone());
    probe.get_bool(option, default).map_err(|_| {
        let file = if config.config_file.is_empty() {
            String::new()
        } else {
            format!("{}: ", config.config_file)
        };
        BackendError::repository(format!(
            "{file}[Account] option '{option}' (of the account that uses [Repository {}]) is \
             {value:?}; write yes or no",
            config.name
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_account_option(value: &str) -> RepositoryConfig {
        let mut config = RepositoryConfig::new("local");
        config.config_file = "/home/u/.twinboxrc".into();
        config
            .account_options
            .insert("utf8foldernames".into(), value.into());
        config
    }

    #[test]
    fn reads_offlineimap_spellings_and_names_the_account_section() {
        assert!(!account_bool(&RepositoryConfig::new("local"), "utf8foldernames", false).unwrap());
        assert!(account_bool(&RepositoryConfig::new("local"), "utf8foldernames", true).unwrap());
        for yes in ["yes", "True", " on ", "1"] {
            assert!(account_bool(&with_account_option(yes), "utf8foldernames", false).unwrap());
        }
        for no in ["no", "FALSE", "off", "0"] {
            assert!(!account_bool(&with_account_option(no), "utf8foldernames", true).unwrap());
        }
        let error =
            account_bool(&with_account_option("maybe"), "utf8foldernames", false).unwrap_err();
        assert_eq!(error.scope, backend_api::ErrorScope::Repository);
        assert!(
            error
                .message
                .starts_with("/home/u/.twinboxrc: [Account] option 'utf8foldernames'")
                && error.message.contains("[Repository local]")
                && error.message.contains("\"maybe\"")
                && error.message.contains("write yes or no"),
            "{}",
            error.message
        );
    }
}
