//! The INI dialect of `~/.offlineimaprc`: Python 3 `configparser` with its defaults.
//!
//! We follow configparser rather than "INI" in general because every existing
//! OfflineIMAP configuration was written against it, and a file that means one thing to
//! OfflineIMAP must not quietly mean another to us. The rules kept, as Python applies them:
//!
//! - `[name]` opens a section; the name is case-sensitive and kept as written. `[DEFAULT]`
//!   holds options visible in every other section (a section's own option wins).
//! - `name = value` or `name: value`, split at the first `=` or `:`; names are lowercased,
//!   both sides trimmed.
//! - A line whose first non-blank character is `#` or `;` is a comment. Inline comments
//!   are *not* recognized: `pass = a;b # c` has the value `a;b # c`.
//! - A line indented deeper than the option line above it continues that option's value
//!   (joined with `\n`); blank lines inside such a value are kept, trailing ones dropped.
//!   Comment lines inside a continued value are skipped without ending it.
//! - `%(name)s` is replaced by option `name` of the same section or of `[DEFAULT]`,
//!   recursively up to 10 levels; `%%` is a literal `%`; any other `%` is an error.
//! - A section or an option defined twice is an error (`[DEFAULT]` may be reopened,
//!   but not an option in it).
//!
//! Unlike Python, which collects every bad line and lists them all, we stop at the first
//! error: one line naming the file, the line and the fix.

use std::collections::BTreeMap;

use super::error::ConfigError;

/// The name of the section whose options every other section inherits.
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// How deep `%(name)s` references may nest, as in Python's `MAX_INTERPOLATION_DEPTH`.
const MAX_INTERPOLATION_DEPTH: usize = 10;

/// One option as written: its value not yet interpolated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawOption {
    /// Lowercased name.
    pub name: String,
    /// The value, trimmed, continuation lines joined with `\n`.
    pub value: String,
    /// The 1-based line of `name = ...`.
    pub line: usize,
}

/// One section as written, options in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// The 1-based line of its header (0 for an implicit, empty `[DEFAULT]`).
    pub line: usize,
    pub options: Vec<RawOption>,
}

impl Section {
    fn new(name: &str, line: usize) -> Self {
        Section {
            name: name.to_owned(),
            line,
            options: Vec::new(),
        }
    }

    /// The option called `name` (already lowercase), if the section itself has it.
    pub fn option(&self, name: &str) -> Option<&RawOption> {
        self.options.iter().find(|option| option.name == name)
    }
}

/// An option's interpolated value and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    pub value: String,
    /// The 1-based line it was defined on (in its section or in `[DEFAULT]`).
    pub line: usize,
}

/// A parsed file: `[DEFAULT]` apart, the other sections in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ini {
    /// How the file is named in error messages.
    pub file: String,
    pub defaults: Section,
    pub sections: Vec<Section>,
}

impl Ini {
    /// Parses `text`; `file` names it in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Ini, ConfigError> {
        Parser::new(file).run(text)
    }

    /// The section called exactly `name` (not `[DEFAULT]`).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|section| section.name == name)
    }

    /// The options visible in `section` as written: its own and those of `[DEFAULT]` it
    /// does not override.
    fn visible<'a>(&'a self, section: &'a Section) -> BTreeMap<&'a str, &'a RawOption> {
        let mut raw: BTreeMap<&str, &RawOption> = BTreeMap::new();
        for option in self.defaults.options.iter().chain(&section.options) {
            raw.insert(&option.name, option);
        }
        raw
    }

    /// The option `name` (lowercase) visible in `section`, as written: Python's
    /// `get(section, name, raw=True)`, for values whose `%` are not configparser's.
    pub fn raw_option<'a>(&'a self, section: &'a Section, name: &str) -> Option<&'a RawOption> {
        self.visible(section).get(name).copied()
    }

    /// The option `name` (lowercase) visible in `section`, with `%(name)s` references
    /// resolved; only this option is interpolated, so another option of the section may
    /// hold `%` that are not configparser's.
    pub fn resolve_option(
        &self,
        section: &Section,
        name: &str,
    ) -> Result<Option<Value>, ConfigError> {
        let raw = self.visible(section);
        let Some(option) = raw.get(name) else {
            return Ok(None);
        };
        let mut out = String::new();
        self.interpolate(section, option, &option.value, &raw, 1, &mut out)?;
        Ok(Some(Value {
            value: out,
            line: option.line,
        }))
    }

    /// Every option visible in `section` — its own and those of `[DEFAULT]` it does not
    /// override — with `%(name)s` references resolved, by name.
    pub fn resolve(&self, section: &Section) -> Result<BTreeMap<String, Value>, ConfigError> {
        let raw = self.visible(section);
        let mut resolved = BTreeMap::new();
        for (name, option) in &raw {
            let mut out = String::new();
            self.interpolate(section, option, &option.value, &raw, 1, &mut out)?;
            resolved.insert(
                (*name).to_owned(),
                Value {
                    value: out,
                    line: option.line,
                },
            );
        }
        Ok(resolved)
    }

    /// Python's `BasicInterpolation._interpolate_some`: appends `rest`, with references
    /// resolved, to `out`. `option` is the option being read (named in errors).
    fn interpolate(
        &self,
        section: &Section,
        option: &RawOption,
        mut rest: &str,
        raw: &BTreeMap<&str, &RawOption>,
        depth: usize,
        out: &mut String,
    ) -> Result<(), ConfigError> {
        let error = |problem: String| ConfigError::Interpolation {
            file: self.file.clone(),
            line: option.line,
            section: section.name.clone(),
            option: option.name.clone(),
            problem,
        };
        // A password is never quoted in an error: neither the option's own value nor one
        // it refers to (which may be anything, a password included).
        let hidden = depth > 1 || is_secret(&option.name);
        let quote = |text: &str| {
            if hidden {
                "the value is not shown: it may be a password".to_owned()
            } else {
                format!("{:?}", first_chars(text))
            }
        };
        if depth > MAX_INTERPOLATION_DEPTH {
            return Err(error(format!(
                "nests %(name)s references more than {MAX_INTERPOLATION_DEPTH} levels deep \
                 (probably a loop); make the chain shorter or break the loop"
            )));
        }
        while let Some(percent) = rest.find('%') {
            out.push_str(&rest[..percent]);
            rest = &rest[percent..];
            let next = rest[1..].chars().next();
            match next {
                Some('%') => {
                    out.push('%');
                    rest = &rest[2..];
                }
                Some('(') => {
                    // `%(` name `)s`, the name at least one character and free of `)`.
                    let reference = rest[2..]
                        .find(')')
                        .filter(|&close| close > 0 && rest[2 + close + 1..].starts_with('s'));
                    let Some(close) = reference else {
                        return Err(error(format!(
                            "has a bad reference ({}); write %(name)s, or %% for a literal %",
                            quote(rest)
                        )));
                    };
                    let name = rest[2..2 + close].to_lowercase();
                    rest = &rest[2 + close + 2..];
                    let Some(target) = raw.get(name.as_str()) else {
                        return Err(error(format!(
                            "refers to %({name})s, but neither [{}] nor [{DEFAULT_SECTION}] has an \
                             option '{name}'; define it, or write %% for a literal %",
                            section.name
                        )));
                    };
                    if target.value.contains('%') {
                        self.interpolate(section, option, &target.value, raw, depth + 1, out)?;
                    } else {
                        out.push_str(&target.value);
                    }
                }
                _ => {
                    return Err(error(format!(
                        "has a '%' not followed by '%' or '(' (at {}); write %% for a literal %",
                        quote(rest)
                    )));
                }
            }
        }
        out.push_str(rest);
        Ok(())
    }
}

/// Whether option `name` may hold a secret (`remotepass`, `localpass`, a token), whose
/// value no error quotes.
pub(crate) fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["pass", "token", "secret"]
        .iter()
        .any(|word| name.contains(word))
}

/// The start of `text`, short enough to quote in a one-line error.
fn first_chars(text: &str) -> String {
    text.chars().take(20).collect()
}

/// The line-by-line state of Python's `RawConfigParser._read`.
struct Parser {
    file: String,
    defaults: Section,
    sections: Vec<Section>,
    /// Where options go: `None` before the first header, `Some(None)` for `[DEFAULT]`,
    /// `Some(Some(i))` for `sections[i]`.
    current: Option<Option<usize>>,
    /// Whether the last option line may still take continuation lines.
    option_open: bool,
    /// The indentation of the last header or option line.
    indent_level: usize,
    /// The value lines of the option being read, joined when it ends.
    pending: Vec<String>,
}

impl Parser {
    fn new(file: &str) -> Self {
        Parser {
            file: file.to_owned(),
            defaults: Section::new(DEFAULT_SECTION, 0),
            sections: Vec::new(),
            current: None,
            option_open: false,
            indent_level: 0,
            pending: Vec::new(),
        }
    }

    fn run(mut self, text: &str) -> Result<Ini, ConfigError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, line) in text.lines().enumerate() {
            self.line(index + 1, line)?;
        }
        self.finish_option();
        Ok(Ini {
            file: self.file,
            defaults: self.defaults,
            sections: self.sections,
        })
    }

    fn current_section(&mut self) -> Option<&mut Section> {
        match self.current? {
            None => Some(&mut self.defaults),
            Some(index) => self.sections.get_mut(index),
        }
    }

    /// Stores the value of the option being read, if any, into its section.
    fn finish_option(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let value = self.pending.join("\n").trim_end().to_owned();
        self.pending.clear();
        if let Some(option) = self.current_section().and_then(|s| s.options.last_mut()) {
            option.value = value;
        }
    }

    fn line(&mut self, number: usize, line: &str) -> Result<(), ConfigError> {
        let value = line.trim();
        if value.starts_with('#') || value.starts_with(';') {
            return Ok(());
        }
        if value.is_empty() {
            // Kept inside a value in case a continuation line follows; trailing blank
            // lines are trimmed when the value ends.
            if self.option_open {
                self.pending.push(String::new());
            }
            return Ok(());
        }
        // Counted in characters, as Python does.
        let indent = line.chars().take_while(|c| c.is_whitespace()).count();
        if self.option_open && indent > self.indent_level {
            self.pending.push(value.to_owned());
            return Ok(());
        }
        self.finish_option();
        self.indent_level = indent;
        if let Some(header) = section_header(value) {
            return self.header(number, header);
        }
        if self.current.is_none() {
            return Err(ConfigError::OutsideSection {
                file: self.file.clone(),
                line: number,
            });
        }
        self.option(number, value)
    }

    fn header(&mut self, number: usize, name: &str) -> Result<(), ConfigError> {
        self.option_open = false;
        if name == DEFAULT_SECTION {
            if self.defaults.line == 0 {
                self.defaults.line = number;
            }
            self.current = Some(None);
            return Ok(());
        }
        if let Some(first) = self.sections.iter().find(|s| s.name == name) {
            return Err(ConfigError::DuplicateSection {
                file: self.file.clone(),
                line: number,
                section: name.to_owned(),
                first_line: first.line,
            });
        }
        self.sections.push(Section::new(name, number));
        self.current = Some(Some(self.sections.len() - 1));
        Ok(())
    }

    fn option(&mut self, number: usize, text: &str) -> Result<(), ConfigError> {
        let file = self.file.clone();
        let Some(split) = text.find(['=', ':']) else {
            return Err(ConfigError::BadLine {
                file,
                line: number,
                text: text.to_owned(),
            });
        };
        let name = text[..split].trim_end().to_lowercase();
        let value = text[split + 1..].trim().to_owned();
        if name.is_empty() {
            return Err(ConfigError::EmptyOptionName { file, line: number });
        }
        let Some(section) = self.current_section() else {
            return Err(ConfigError::OutsideSection { file, line: number });
        };
        if let Some(first) = section.option(&name) {
            return Err(ConfigError::DuplicateOption {
                file,
                line: number,
                section: section.name.clone(),
                option: name,
                first_line: first.line,
            });
        }
        section.options.push(RawOption {
            name,
            value: value.clone(),
            line: number,
        });
        self.pending.push(value);
        self.option_open = true;
        Ok(())
    }
}

/// The name in a `[name]` header line (already trimmed), as Python's `\[(?P<header>.+)\]`
/// matches it: up to the last `]`, anything after it ignored.
fn section_header(line: &str) -> Option<&str> {
    let inner = line.strip_prefix('[')?;
    let close = inner.rfind(']')?;
    (close > 0).then(|| &inner[..close])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Ini {
        Ini::parse(text, "test.rc").unwrap()
    }

    fn error(text: &str) -> String {
        Ini::parse(text, "test.rc").unwrap_err().to_string()
    }

    fn resolved(ini: &Ini, section: &str) -> BTreeMap<String, String> {
        let section = if section == DEFAULT_SECTION {
            &ini.defaults
        } else {
            ini.section(section).unwrap()
        };
        ini.resolve(section)
            .unwrap()
            .into_iter()
            .map(|(name, value)| (name, value.value))
            .collect()
    }

    fn get(ini: &Ini, section: &str, option: &str) -> String {
        resolved(ini, section).remove(option).unwrap()
    }

    #[test]
    fn sections_options_and_both_delimiters() {
        let ini = parse(
            "[general]\naccounts = A, B\n[Account A]\nLocalRepository: Local A\nSpaced Name  =  v  \n",
        );
        assert_eq!(ini.sections.len(), 2);
        assert_eq!(get(&ini, "general", "accounts"), "A, B");
        assert_eq!(get(&ini, "Account A", "localrepository"), "Local A");
        assert_eq!(get(&ini, "Account A", "spaced name"), "v");
        assert_eq!(ini.section("Account A").unwrap().line, 3);
        assert_eq!(
            ini.section("Account A")
                .unwrap()
                .option("localrepository")
                .unwrap()
                .line,
            4
        );
    }

    #[test]
    fn splits_at_the_first_delimiter() {
        let ini = parse("[s]\nurl: imap://h:993\nx = a=b:c\nempty =\n");
        assert_eq!(get(&ini, "s", "url"), "imap://h:993");
        assert_eq!(get(&ini, "s", "x"), "a=b:c");
        assert_eq!(get(&ini, "s", "empty"), "");
    }

    #[test]
    fn section_names_are_case_sensitive() {
        let ini = parse("[General]\na = 1\n[general]\na = 2\n");
        assert_eq!(get(&ini, "General", "a"), "1");
        assert_eq!(get(&ini, "general", "a"), "2");
    }

    #[test]
    fn header_takes_everything_up_to_the_last_bracket() {
        let ini = parse("[general] trailing text\n[a]b]\n");
        assert!(ini.section("general").is_some());
        assert!(ini.section("a]b").is_some());
        assert!(error("[]\n").contains("test.rc:1:"));
    }

    #[test]
    fn comments_are_full_line_only() {
        let ini = parse("# top\n; also\n[s]\n  # indented comment\npass = a;b # c\n");
        assert_eq!(get(&ini, "s", "pass"), "a;b # c");
        assert_eq!(ini.section("s").unwrap().options.len(), 1);
    }

    #[test]
    fn continuation_lines() {
        let ini =
            parse("[s]\nfolders = INBOX\n    Sent\n\n    # a comment\n    Drafts\n\n\nnext = 1\n");
        assert_eq!(get(&ini, "s", "folders"), "INBOX\nSent\n\nDrafts");
        assert_eq!(get(&ini, "s", "next"), "1");
    }

    #[test]
    fn continuation_needs_deeper_indentation() {
        // An indented option line is an option line when nothing deeper-left precedes it.
        let ini = parse("[s]\n  a = 1\n  b = 2\n    more\n");
        assert_eq!(get(&ini, "s", "a"), "1");
        assert_eq!(get(&ini, "s", "b"), "2\nmore");
        // A value may start on the continuation line.
        let ini = parse("[s]\nempty =\n  x\n");
        assert_eq!(get(&ini, "s", "empty"), "\nx");
    }

    #[test]
    fn a_header_is_never_continued() {
        let ini = parse("[s]\n    a = 1\n");
        assert_eq!(get(&ini, "s", "a"), "1");
    }

    #[test]
    fn crlf_and_bom() {
        let ini = parse("\u{feff}[s]\r\na = 1\r\n  two\r\n");
        assert_eq!(get(&ini, "s", "a"), "1\ntwo");
    }

    #[test]
    fn defaults_are_visible_everywhere_and_overridden_locally() {
        let ini = parse("[DEFAULT]\nuser = me\nport = 1\n[s]\nport = 2\n[t]\n");
        assert_eq!(get(&ini, "s", "user"), "me");
        assert_eq!(get(&ini, "s", "port"), "2");
        assert_eq!(get(&ini, "t", "port"), "1");
        assert!(ini.section(DEFAULT_SECTION).is_none());
    }

    #[test]
    fn default_may_be_reopened_but_not_its_options() {
        let ini = parse("[DEFAULT]\na = 1\n[s]\n[DEFAULT]\nb = 2\n");
        assert_eq!(get(&ini, "s", "b"), "2");
        let message = error("[DEFAULT]\na = 1\n[DEFAULT]\nA = 2\n");
        assert!(message.starts_with("test.rc:4:"), "{message}");
        assert!(message.contains("'a'"), "{message}");
    }

    #[test]
    fn interpolation() {
        let ini = parse(
            "[DEFAULT]\nhome = /home/me\nmail = %(home)s/Mail\n\
             [s]\nhome = /srv\npath = %(MAIL)s/x\npct = 100%%\nmixed = %(home)s%%%(home)s\n",
        );
        // A DEFAULT value is interpolated in the context of the section reading it.
        assert_eq!(get(&ini, "s", "path"), "/srv/Mail/x");
        assert_eq!(get(&ini, "s", "mail"), "/srv/Mail");
        assert_eq!(get(&ini, DEFAULT_SECTION, "mail"), "/home/me/Mail");
        assert_eq!(get(&ini, "s", "pct"), "100%");
        assert_eq!(get(&ini, "s", "mixed"), "/srv%/srv");
    }

    #[test]
    fn interpolation_keeps_percent_of_a_literal_target() {
        // Python: a referenced value without '%' is inserted as is; with '%', recursively.
        let ini = parse("[s]\na = x%%y\nb = %(a)s\n");
        assert_eq!(get(&ini, "s", "b"), "x%y");
    }

    fn resolve_error(text: &str, section: &str) -> String {
        let ini = parse(text);
        ini.resolve(ini.section(section).unwrap())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn interpolation_errors_name_file_line_section_and_option() {
        let message = resolve_error("[s]\n\npass = ab%cd\n", "s");
        assert!(
            message.starts_with("test.rc:3: [s] option 'pass'"),
            "{message}"
        );
        assert!(message.contains("%%"), "{message}");

        let message = resolve_error("[s]\nx = %(nope)s\n", "s");
        assert!(message.contains("'nope'"), "{message}");
        assert!(message.contains("[DEFAULT]"), "{message}");

        for bad in ["%(", "%()s", "%(a)", "%(a)d", "50%"] {
            let message = resolve_error(&format!("[s]\na = 1\nx = {bad}\n"), "s");
            assert!(
                message.starts_with("test.rc:3: [s] option 'x'"),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn interpolation_loops_are_stopped() {
        let message = resolve_error("[s]\na = %(b)s\nb = %(a)s\n", "s");
        assert!(message.contains("loop"), "{message}");
        let message = resolve_error("[s]\na = %(a)s\n", "s");
        assert!(message.contains("loop"), "{message}");
    }

    #[test]
    fn ten_levels_are_allowed_eleven_are_not() {
        let chain = |levels: usize| {
            let mut text = String::from("[s]\no0 = end\n");
            for level in 1..=levels {
                text.push_str(&format!("o{level} = %(o{})s%%\n", level - 1));
            }
            text
        };
        let ini = parse(&chain(10));
        assert_eq!(get(&ini, "s", "o10"), format!("end{}", "%".repeat(10)));
        let message = resolve_error(&chain(11), "s");
        assert!(message.contains("option 'o11'"), "{message}");
    }

    #[test]
    fn one_option_resolved_or_raw_leaves_the_others_alone() {
        let ini = parse("[DEFAULT]\nd = D\n[s]\nx = %(d)s!\nperitem = %(accountname)s\n");
        let section = ini.section("s").unwrap();
        assert_eq!(
            ini.resolve_option(section, "x").unwrap().unwrap().value,
            "D!"
        );
        assert_eq!(
            ini.raw_option(section, "peritem").unwrap().value,
            "%(accountname)s"
        );
        assert_eq!(ini.raw_option(section, "d").unwrap().value, "D");
        assert!(ini.resolve_option(section, "nope").unwrap().is_none());
        assert!(ini.resolve_option(section, "peritem").is_err());
    }

    #[test]
    fn line_outside_a_section() {
        let message = error("\n# c\naccounts = A\n");
        assert!(
            message.starts_with("test.rc:3: a line outside any section"),
            "{message}"
        );
        assert!(message.contains("[general]"), "{message}");
    }

    #[test]
    fn bad_lines() {
        let message = error("[s]\njust words\n");
        assert!(message.starts_with("test.rc:2:"), "{message}");
        assert!(message.contains("just words"), "{message}");
        let message = error("[s]\n = value\n");
        assert!(message.starts_with("test.rc:2:"), "{message}");
    }

    #[test]
    fn duplicates_are_errors() {
        let message = error("[s]\n[t]\n[s]\n");
        assert!(message.starts_with("test.rc:3:"), "{message}");
        assert!(message.contains("line 1"), "{message}");
        let message = error("[s]\nA = 1\na: 2\n");
        assert!(message.starts_with("test.rc:3:"), "{message}");
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn errors_are_one_line() {
        let message = error("[s]\nbad\u{2028}line\n");
        assert!(!message.contains('\n'));
        let message = resolve_error("[s]\nx = a\n  b %\n", "s");
        assert!(!message.contains('\n'), "{message}");
    }
}
