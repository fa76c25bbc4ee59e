//! Everything that can be wrong with a configuration file, each as one line that names
//! where (file and line, or section and option) and says what to do.
//!
//! `file` fields hold the file as it is shown to the user: the home directory written as
//! `~`. Texts quoted from the file are `Debug`-quoted so that an error never spans lines.

/// Why a configuration could not be read or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read the configuration file: {source}; check the path (given with -c or the default)")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },

    /// The file is not UTF-8.
    #[error("{file}:{line}: the file is not valid UTF-8; save it as UTF-8")]
    NotUtf8 { file: String, line: usize },

    /// An option line before the first `[section]` header.
    #[error("{file}:{line}: a line outside any section; start the file with a [general] section")]
    OutsideSection { file: String, line: usize },

    /// A line that is neither a header, an option, a comment nor a continuation.
    #[error("{file}:{line}: cannot read {text:?}: expected a [section] header, 'option = value', a comment starting with # or ;, or an indented continuation line")]
    BadLine {
        file: String,
        line: usize,
        text: String,
    },

    /// `= value` with nothing before the `=`.
    #[error("{file}:{line}: an option without a name; write 'option = value'")]
    EmptyOptionName { file: String, line: usize },

    /// A section header seen twice.
    #[error("{file}:{line}: section [{section}] is defined twice (first on line {first_line}); merge the two or rename one")]
    DuplicateSection {
        file: String,
        line: usize,
        section: String,
        first_line: usize,
    },

    /// An option set twice in one section (names compare case-insensitively).
    #[error("{file}:{line}: option '{option}' is set twice in [{section}] (first on line {first_line}); keep one")]
    DuplicateOption {
        file: String,
        line: usize,
        section: String,
        option: String,
        first_line: usize,
    },

    /// A `%(name)s` reference or a `%` that cannot be resolved.
    #[error("{file}:{line}: [{section}] option '{option}' {problem}")]
    Interpolation {
        file: String,
        line: usize,
        section: String,
        option: String,
        /// What is wrong and the fix, starting with a verb ("refers to ...").
        problem: String,
    },

    /// `[general] accounts` is missing or lists nothing.
    #[error("{file}: [general] option 'accounts' is missing or empty; list the accounts to sync, e.g. 'accounts = Personal, Work', each with an [Account NAME] section")]
    NoAccounts { file: String },

    /// An option whose value has the wrong form.
    #[error("{at}: [{section}] option '{option}' is {value:?}; {expected}")]
    InvalidValue {
        /// `file:line`, or just the file when the line is not known.
        at: String,
        section: String,
        option: String,
        value: String,
        /// The fix, e.g. "write yes or no".
        expected: String,
    },

    /// An account asked for (on the command line) that has no `[Account NAME]` section.
    #[error("{file}: there is no account {name:?} (no [Account {name}] section); the accounts are: {known}")]
    UnknownAccount {
        file: String,
        name: String,
        /// The names of the `[Account ...]` sections, comma-separated, or "(none)".
        known: String,
    },

    /// `[general] accounts` names an account that has no section.
    #[error("{file}: [general] option 'accounts' lists {name:?}, but there is no [Account {name}] section; add one or remove the name from the list")]
    MissingAccountSection { file: String, name: String },

    /// A required option is not set.
    #[error("{file}: [{section}] option '{option}' is missing; {fix}")]
    MissingOption {
        file: String,
        section: String,
        option: String,
        fix: String,
    },

    /// An account names a repository that has no section.
    #[error("{file}:{line}: [Account {account}] option '{option}' names {repository:?}, but there is no [Repository {repository}] section; add one or correct the name")]
    MissingRepository {
        file: String,
        line: usize,
        account: String,
        option: String,
        repository: String,
    },

    /// An option twinbox refuses (it runs Python, or honouring it is impossible), with
    /// what to use instead.
    #[error("{at}: [{section}] option '{option}' is not supported: {instead}")]
    Refused {
        /// `file:line`.
        at: String,
        section: String,
        option: String,
        instead: String,
    },

    /// A Python expression (`folderfilter`, `nametrans`, `folderincludes`) outside the
    /// forms twinbox reads.
    #[error("{at}: [{section}] option '{option}' {problem}")]
    Python {
        /// `file:line`.
        at: String,
        section: String,
        option: String,
        /// What is wrong and what is supported, starting with a verb.
        problem: String,
    },

    /// A default location depends on a home directory we cannot find.
    #[error(
        "cannot find {what}: $HOME is not set; set HOME, or give the location explicitly ({how})"
    )]
    NoHome { what: String, how: String },

    /// No configuration file at any of the default locations.
    #[error("no configuration file: neither {first} nor {second} exists; create one (the README has an example) or give its path with -c FILE")]
    NoDefaultConfig { first: String, second: String },
}
