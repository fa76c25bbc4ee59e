//! The repository options: where the MH tree is, and which sequences hold which flag.

use backend_api::{BackendError, RepositoryConfig, SystemFlag};

/// The sequence that stands for each system flag.
///
/// `\Seen` is the one stored inverted: a message is seen when it is *not* in the unseen
/// sequence, which is how nmh (`Unseen-Sequence` in the profile) and mh-e mark new mail.
/// The others are plain membership. nmh has no convention for drafts or deleted messages;
/// the interface asks every backend to store all five system flags, so they get sequences
/// of their own (`draft` and `deleted` by default), which nmh and mh-e show like any user
/// sequence and otherwise ignore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SequenceNames {
    pub unseen: String,
    pub flagged: String,
    pub replied: String,
    pub draft: String,
    pub deleted: String,
}

/// Sequence names nmh reserves for itself (message ranges and `cur`).
const RESERVED: [&str; 7] = ["all", "first", "last", "prev", "next", "cur", "new"];

impl SequenceNames {
    /// Reads `mh_sequences_unseen`, `_flagged`, `_replied`, `_draft` and `_deleted`.
    pub fn from_config(config: &RepositoryConfig) -> Result<SequenceNames, BackendError> {
        let name = |option: &str, default: &str| -> Result<String, BackendError> {
            let Some(value) = config.get(option) else {
                return Ok(default.to_owned());
            };
            let value = value.trim();
            let valid = value.starts_with(|c: char| c.is_ascii_alphabetic())
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(config.error(
                    option,
                    &format!(
                        "is {value:?}; an MH sequence name starts with a letter and has only \
                         letters, digits, '_' and '-' (the default is {default})"
                    ),
                ));
            }
            if RESERVED.contains(&value) {
                return Err(config.error(
                    option,
                    &format!("is {value:?}, a name nmh reserves; pick another (the default is {default})"),
                ));
            }
            Ok(value.to_owned())
        };
        let names = SequenceNames {
            unseen: name("mh_sequences_unseen", "unseen")?,
            flagged: name("mh_sequences_flagged", "flagged")?,
            replied: name("mh_sequences_replied", "replied")?,
            draft: name("mh_sequences_draft", "draft")?,
            deleted: name("mh_sequences_deleted", "deleted")?,
        };
        let all = names.all();
        for (index, (flag, name)) in all.iter().enumerate() {
            if let Some((other, _)) = all[..index].iter().find(|(_, n)| n == name) {
                return Err(config.error(
                    &option_for(*flag),
                    &format!(
                        "is {name:?}, the same sequence as '{}'; each flag needs its own \
                         sequence",
                        option_for(*other)
                    ),
                ));
            }
        }
        Ok(names)
    }

    /// Each system flag with its sequence.
    pub fn all(&self) -> [(SystemFlag, &str); 5] {
        [
            (SystemFlag::Seen, self.unseen.as_str()),
            (SystemFlag::Flagged, self.flagged.as_str()),
            (SystemFlag::Answered, self.replied.as_str()),
            (SystemFlag::Draft, self.draft.as_str()),
            (SystemFlag::Deleted, self.deleted.as_str()),
        ]
    }
}

fn option_for(flag: SystemFlag) -> String {
    let suffix = match flag {
        SystemFlag::Seen => "unseen",
        SystemFlag::Flagged => "flagged",
        SystemFlag::Answered => "replied",
        SystemFlag::Draft => "draft",
        SystemFlag::Deleted => "deleted",
    };
    format!("mh_sequences_{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_names_default_are_configurable_and_checked() {
        let config = RepositoryConfig::new("mh");
        let names = SequenceNames::from_config(&config).unwrap();
        assert_eq!(
            names.all().map(|(_, n)| n),
            ["unseen", "flagged", "replied", "draft", "deleted"]
        );

        let config = RepositoryConfig::new("mh")
            .with("mh_sequences_unseen", " new-mail ")
            .with("mh_sequences_flagged", "important");
        let names = SequenceNames::from_config(&config).unwrap();
        assert_eq!(names.unseen, "new-mail");
        assert_eq!(names.flagged, "important");

        for (option, value, wanted) in [
            ("mh_sequences_replied", "1st", "starts with a letter"),
            ("mh_sequences_replied", "a b", "starts with a letter"),
            ("mh_sequences_replied", "a:b", "starts with a letter"),
            ("mh_sequences_draft", "cur", "reserves"),
            ("mh_sequences_deleted", "flagged", "the same sequence as"),
        ] {
            let config = RepositoryConfig::new("mh").with(option, value);
            let error = SequenceNames::from_config(&config).unwrap_err();
            assert!(
                error.message.contains(&format!("option '{option}'"))
                    && error.message.contains(wanted),
                "{}",
                error.message
            );
        }
    }
}
