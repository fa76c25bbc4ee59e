//! Python `re` patterns and replacement templates, as the `regex` crate reads them.
//!
//! The two dialects agree on what folder filters use (classes, anchors, alternation,
//! repetition, `(?P<name>...)`), so a pattern is mostly passed through. Where Python means
//! something else, we translate (`\Z`, replacement templates) or refuse: the `regex` crate
//! has no look-around and no backreferences, and a pattern silently read another way would
//! sync the wrong folders.

use regex::{Regex, RegexBuilder};

/// `re` flags given as `re.I`, `re.IGNORECASE`, ..., or'ed together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub ignore_case: bool,
    pub multi_line: bool,
    pub dot_all: bool,
    pub verbose: bool,
}

impl Flags {
    /// The flag called `re.NAME`, or `None` for one we do not know.
    pub fn named(name: &str) -> Option<Flags> {
        let mut flags = Flags::default();
        match name {
            "I" | "IGNORECASE" => flags.ignore_case = true,
            "M" | "MULTILINE" => flags.multi_line = true,
            "S" | "DOTALL" => flags.dot_all = true,
            "X" | "VERBOSE" => flags.verbose = true,
            // Python 3 str patterns are Unicode already, as `regex`'s are.
            "U" | "UNICODE" => {}
            _ => return None,
        }
        Some(flags)
    }

    pub fn union(self, other: Flags) -> Flags {
        Flags {
            ignore_case: self.ignore_case || other.ignore_case,
            multi_line: self.multi_line || other.multi_line,
            dot_all: self.dot_all || other.dot_all,
            verbose: self.verbose || other.verbose,
        }
    }
}

/// Where a pattern must match, as the `re` function it came from says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// `re.search`, `re.sub`: anywhere.
    Anywhere,
    /// `re.match`: at the start.
    Start,
    /// `re.fullmatch`: the whole string.
    Whole,
}

/// Compiles the Python pattern `pattern` (the value of its string literal), or says why
/// it cannot be used.
pub fn compile(pattern: &str, flags: Flags, anchor: Anchor) -> Result<Regex, String> {
    let translated = translate_pattern(pattern)?;
    let anchored = match anchor {
        Anchor::Anywhere => translated,
        Anchor::Start => format!(r"\A(?:{translated})"),
        Anchor::Whole => format!(r"\A(?:{translated})\z"),
    };
    RegexBuilder::new(&anchored)
        .case_insensitive(flags.ignore_case)
        .multi_line(flags.multi_line)
        .dot_matches_new_line(flags.dot_all)
        .ignore_whitespace(flags.verbose)
        .build()
        .map_err(|error| {
            // The crate's message spans lines (it draws the pattern); keep its last line.
            let reason = error.to_string();
            let reason = reason
                .lines()
                .rev()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("invalid")
                .trim()
                .trim_start_matches("error: ")
                .to_owned();
            format!("the pattern {pattern:?} is not one twinbox can read ({reason})")
        })
}

/// The pattern in the `regex` crate's syntax: `\Z` becomes `\z`; what the crate lacks is
/// refused by name.
fn translate_pattern(pattern: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    return Err(format!(
                        "the pattern {pattern:?} ends with a lone backslash"
                    ));
                };
                match next {
                    'Z' if !in_class => out.push_str(r"\z"),
                    '1'..='9' if !in_class => {
                        return Err(format!(
                            "the pattern {pattern:?} uses a backreference (\\{next}), which \
                             twinbox's regular expressions lack"
                        ))
                    }
                    _ => {
                        out.push('\\');
                        out.push(next);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` right after `[` or `[^` is a literal in both dialects.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str(r"\]");
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '(' if !in_class && chars.peek() == Some(&'?') => {
                let rest: String = chars.clone().take(4).collect();
                if rest.starts_with("?=")
                    || rest.starts_with("?!")
                    || rest.starts_with("?<=")
                    || rest.starts_with("?<!")
                {
                    return Err(format!(
                        "the pattern {pattern:?} uses a look-around ({}), which twinbox's \
                         regular expressions lack",
                        format_args!("({}", rest.chars().take(3).collect::<String>())
                    ));
                }
                if rest.starts_with("?P=") {
                    return Err(format!(
                        "the pattern {pattern:?} uses a backreference ((?P=...)), which \
                         twinbox's regular expressions lack"
                    ));
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// The Python replacement template `template` (the value of its string literal) in the
/// `regex` crate's syntax: `\1` and `\g<1>` become `${1}`, `\g<name>` becomes `${name}`,
/// a literal `$` is doubled, and the escapes Python's `re` processes in templates
/// (`\n`, `\\`, ...) are applied.
pub fn translate_replacement(template: &str) -> Result<Replacement, String> {
    let mut out = String::with_capacity(template.len());
    let mut groups = Vec::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => {
                let Some(next) = chars.next() else {
                    return Err(format!(
                        "the replacement {template:?} ends with a lone backslash"
                    ));
                };
                match next {
                    '0'..='9' => {
                        let mut group = String::from(next);
                        if let Some(&second) = chars.peek() {
                            if second.is_ascii_digit() {
                                group.push(second);
                                chars.next();
                            }
                        }
                        if group.starts_with('0') {
                            return Err(format!(
                                "the replacement {template:?} has an octal escape (\\{group}); \
                                 write the character itself"
                            ));
                        }
                        out.push_str(&format!("${{{group}}}"));
                        groups.push(group);
                    }
                    'g' => {
                        if chars.next() != Some('<') {
                            return Err(format!(
                                "the replacement {template:?} has \\g without <group>"
                            ));
                        }
                        let mut name = String::new();
                        loop {
                            match chars.next() {
                                Some('>') => break,
                                Some(c) => name.push(c),
                                None => {
                                    return Err(format!(
                                        "the replacement {template:?} has an unclosed \\g<"
                                    ))
                                }
                            }
                        }
                        let valid = !name.is_empty()
                            && (name.chars().all(|c| c.is_ascii_digit())
                                || name.chars().all(|c| c.is_alphanumeric() || c == '_'));
                        if !valid {
                            return Err(format!(
                                "the replacement {template:?} names a bad group \\g<{name}>"
                            ));
                        }
                        out.push_str(&format!("${{{name}}}"));
                        groups.push(name);
                    }
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    '\\' => out.push('\\'),
                    // Python refuses unknown escapes of ASCII letters in templates.
                    c if c.is_ascii_alphabetic() => {
                        return Err(format!(
                            "the replacement {template:?} has the escape \\{c}, which Python \
                             refuses too"
                        ))
                    }
                    // Any other escape is kept as written, backslash included.
                    c => {
                        out.push('\\');
                        if c == '$' {
                            out.push_str("$$");
                        } else {
                            out.push(c);
                        }
                    }
                }
            }
            c => out.push(c),
        }
    }
    Ok(Replacement {
        template: out,
        groups,
    })
}

/// A replacement template translated for the `regex` crate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replacement {
    /// In the crate's syntax (`${1}`, `$$`).
    pub template: String,
    /// The groups it refers to, by number or name, as written.
    pub groups: Vec<String>,
}

impl Replacement {
    /// Checks that every group it refers to exists in `regex`, as Python does before
    /// replacing anything (the crate would silently insert nothing).
    pub fn check_groups(&self, regex: &Regex, original: &str) -> Result<(), String> {
        for group in &self.groups {
            let known = match group.parse::<usize>() {
                Ok(index) => index < regex.captures_len(),
                Err(_) => regex.capture_names().flatten().any(|name| name == group),
            };
            if !known {
                return Err(format!(
                    "the replacement {original:?} refers to group {group}, which the pattern \
                     lacks"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(pattern: &str, template: &str, text: &str) -> String {
        let regex = compile(pattern, Flags::default(), Anchor::Anywhere).unwrap();
        let template = translate_replacement(template).unwrap().template;
        regex.replace_all(text, template.as_str()).into_owned()
    }

    #[test]
    fn patterns_pass_through_where_the_dialects_agree() {
        assert_eq!(sub(r"^INBOX\.", "", "INBOX.Sent"), "Sent");
        assert_eq!(sub(r"^INBOX\.*", ".", "INBOX.Sent"), ".Sent");
        assert_eq!(sub(r"(?P<top>\w+)/(\w+)", r"\g<top>.\2", "a/b"), "a.b");
        assert_eq!(sub(r"[]x]", "-", "a]x"), "a--");
        assert_eq!(sub(r"end\Z", "E", "the end"), "the E");
    }

    #[test]
    fn replacement_templates() {
        let template = |t: &str| translate_replacement(t).unwrap().template;
        assert_eq!(template(r"\1"), "${1}");
        assert_eq!(template(r"\g<1>x"), "${1}x");
        assert_eq!(template(r"\g<name>"), "${name}");
        assert_eq!(template(r"\12"), "${12}");
        assert_eq!(template("cost $5"), "cost $$5");
        assert_eq!(template(r"a\\b"), r"a\b");
        assert_eq!(template(r"a\.b"), r"a\.b");
        assert_eq!(template(r"\1$"), "${1}$$");
        assert!(translate_replacement(r"\q").is_err());
        assert!(translate_replacement(r"\g<").is_err());
        assert!(translate_replacement("\\").is_err());
        // `\1` followed by a digit-free text stays group 1.
        assert_eq!(sub(r"(a)", r"\1\1", "a"), "aa");
    }

    #[test]
    fn anchors_and_flags() {
        let start = compile("b", Flags::default(), Anchor::Start).unwrap();
        assert!(!start.is_match("ab") && start.is_match("ba"));
        let whole = compile("a|ab", Flags::default(), Anchor::Whole).unwrap();
        assert!(whole.is_match("ab") && !whole.is_match("abc"));
        let caseless = compile("trash", Flags::named("I").unwrap(), Anchor::Anywhere).unwrap();
        assert!(caseless.is_match("Trash"));
        assert!(Flags::named("L").is_none());
    }

    #[test]
    fn what_the_crate_lacks_is_refused_by_name() {
        for (pattern, what) in [
            (r"foo(?=bar)", "look-around"),
            (r"(?<!x)y", "look-around"),
            (r"(a)\1", "backreference"),
            (r"(?P<x>a)(?P=x)", "backreference"),
            (r"a{2", "not one twinbox can read"),
        ] {
            let error = compile(pattern, Flags::default(), Anchor::Anywhere).unwrap_err();
            assert!(error.contains(what), "{pattern}: {error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn groups_in_templates_must_exist() {
        let regex = compile(r"(?P<a>x)(y)", Flags::default(), Anchor::Anywhere).unwrap();
        for good in [r"\1", r"\2", r"\g<a>", r"\g<0>", "$1"] {
            let replacement = translate_replacement(good).unwrap();
            assert!(replacement.check_groups(&regex, good).is_ok(), "{good}");
        }
        for bad in [r"\3", r"\g<b>"] {
            let replacement = translate_replacement(bad).unwrap();
            assert!(replacement.check_groups(&regex, bad).is_err(), "{bad}");
        }
    }
}
