//! The few pieces of Python that `[mbnames]` values are written in: string literals
//! (`header = "mailboxes "`), `%`-formatting with a dict (`peritem`), and
//! `os.path.expandvars` (`filename`).
//!
//! OfflineIMAP hands these values to `eval` and `%`; we never run Python, so we read the
//! literal forms people write and refuse anything else with the reason, rather than guess
//! what an expression would have produced.

/// One Python string literal starting at `text[start..]` (after optional whitespace):
/// its value and the byte offset just past it, or `None` when no literal starts there.
/// Prefixes `r`, `u` (any case) are accepted; `b` and `f` are refused with a reason.
pub fn string_literal(text: &str, start: usize) -> Result<Option<(String, usize)>, String> {
    let rest = &text[start..];
    let body_start = rest
        .char_indices()
        .find(|&(_, c)| c == '"' || c == '\'')
        .map(|(i, _)| i);
    let Some(quote_at) = body_start else {
        return Ok(None);
    };
    let prefix = &rest[..quote_at];
    if !prefix.chars().all(|c| c.is_ascii_alphabetic()) || prefix.len() > 2 {
        return Ok(None);
    }
    let lower = prefix.to_ascii_lowercase();
    let raw = match lower.as_str() {
        "" | "u" => false,
        "r" => true,
        _ if lower.contains('b') => {
            return Err(format!(
                "{prefix}'...' is a bytes literal; write a plain string literal such as \"x\""
            ))
        }
        _ if lower.contains('f') => {
            return Err(format!(
                "{prefix}'...' is an f-string; write a plain string literal such as \"x\""
            ))
        }
        _ => return Ok(None),
    };
    let body = &rest[quote_at..];
    let quote = &body[..1];
    let triple = quote.repeat(3);
    let delimiter = if body.starts_with(&triple) {
        triple.as_str()
    } else {
        quote
    };
    let mut value = String::new();
    let mut chars = body[delimiter.len()..].char_indices().peekable();
    let content_at = start + quote_at + delimiter.len();
    while let Some((i, c)) = chars.next() {
        let here = &text[content_at + i..];
        if here.starts_with(delimiter) {
            return Ok(Some((value, content_at + i + delimiter.len())));
        }
        match c {
            '\n' if delimiter.len() == 1 => {
                return Err(
                    "a string literal ends at the end of a line without its closing \
                            quote; close it on the same line"
                        .to_owned(),
                )
            }
            '\\' if raw => {
                // A raw string keeps the backslash, and an escaped quote does not end it.
                value.push('\\');
                if let Some(&(_, next)) = chars.peek() {
                    value.push(next);
                    chars.next();
                }
            }
            '\\' => {
                let Some((_, escaped)) = chars.next() else {
                    break;
                };
                escape(escaped, &mut chars, &mut value)?;
            }
            _ => value.push(c),
        }
    }
    Err(format!(
        "a string literal has no closing {delimiter}; close it"
    ))
}

/// Appends the character an escape `\c` stands for, reading any digits that follow from
/// `chars`. Python keeps an unknown escape as it is (backslash included).
fn escape(
    c: char,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    value: &mut String,
) -> Result<(), String> {
    let simple = match c {
        '\n' => Some(None),
        '\\' => Some(Some('\\')),
        '\'' => Some(Some('\'')),
        '"' => Some(Some('"')),
        'a' => Some(Some('\x07')),
        'b' => Some(Some('\x08')),
        'f' => Some(Some('\x0c')),
        'n' => Some(Some('\n')),
        'r' => Some(Some('\r')),
        't' => Some(Some('\t')),
        'v' => Some(Some('\x0b')),
        _ => None,
    };
    if let Some(simple) = simple {
        value.extend(simple);
        return Ok(());
    }
    // Up to `count` digits of `radix` following the escape letter, as their value.
    let mut digits = |first: Option<char>, count: usize, radix: u32| -> Result<u32, String> {
        let mut text: String = first.into_iter().collect();
        while text.len() < count {
            match chars.peek() {
                Some(&(_, d)) if d.is_digit(radix) => {
                    text.push(d);
                    chars.next();
                }
                _ => break,
            }
        }
        // Python requires exactly 2, 4 or 8 hex digits after \x, \u, \U.
        if radix == 16 && text.len() != count {
            return Err(format!(
                "the escape \\{c}{text} needs {count} hexadecimal digits"
            ));
        }
        u32::from_str_radix(&text, radix).map_err(|_| format!("a bad escape \\{c}{text}"))
    };
    let code = match c {
        // Octal: the digit itself and up to two more.
        '0'..='7' => digits(Some(c), 3, 8)?,
        'x' => digits(None, 2, 16)?,
        'u' => digits(None, 4, 16)?,
        'U' => digits(None, 8, 16)?,
        'N' => return Err("\\N{...} escapes are not supported; write the character itself".into()),
        other => {
            value.push('\\');
            value.push(other);
            return Ok(());
        }
    };
    let character = char::from_u32(code)
        .ok_or_else(|| format!("the escape \\{c} gives {code:#x}, which is no character"))?;
    value.push(character);
    Ok(())
}

/// The value of a Python expression made only of string literals side by side (which
/// Python joins): `"mailboxes "`, `'\n'`, `"a" 'b'`. Anything else is refused.
pub fn string_expression(text: &str) -> Result<String, String> {
    let mut value = String::new();
    let mut at = 0;
    let mut any = false;
    loop {
        let skipped = text[at..].len() - text[at..].trim_start().len();
        at += skipped;
        if at == text.len() {
            break;
        }
        match string_literal(text, at)? {
            Some((part, end)) => {
                value.push_str(&part);
                at = end;
                any = true;
            }
            None => {
                return Err(
                    "twinbox reads only Python string literals here, such as \"mailboxes \" \
                     or \"\\n\" (it never runs Python)"
                        .to_owned(),
                )
            }
        }
    }
    if !any {
        return Err("write a Python string literal, \"\" for nothing".to_owned());
    }
    Ok(value)
}

/// One piece of a `%`-format template applied to a dict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// `%(name)s`.
    Key(String),
}

/// Parses a template for Python's `template % dict`: `%(name)s` takes `dict[name]`, `%%`
/// is `%`. The names must be among `keys`. Other conversions (`%(n)r`, widths, `%s`)
/// are refused.
pub fn dict_template(template: &str, keys: &[&str]) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(percent) = rest.find('%') {
        text.push_str(&rest[..percent]);
        rest = &rest[percent + 1..];
        if let Some(after) = rest.strip_prefix('%') {
            text.push('%');
            rest = after;
            continue;
        }
        let named = rest
            .strip_prefix('(')
            .and_then(|inner| inner.split_once(')'))
            .filter(|(_, after)| after.starts_with('s'));
        let Some((name, after)) = named else {
            return Err(format!(
                "a '%' is neither %(name)s nor %% (at {:?}); write %(name)s with name one \
                 of {}, or %% for a literal %",
                rest.chars().take(12).collect::<String>(),
                keys.join(", ")
            ));
        };
        if !keys.contains(&name) {
            return Err(format!(
                "%({name})s is no name twinbox knows; the names are {}",
                keys.join(", ")
            ));
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(Piece::Key(name.to_owned()));
        rest = &after[1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// `os.path.expandvars`: `$name` and `${name}` (name of ASCII letters, digits and `_`)
/// replaced by the environment variable, left as written when it is not set.
pub fn expand_vars(text: &str, get: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(close) => (&braced[..close], close + 2),
                None => ("", 0),
            }
        } else {
            let len = after.find(|c: char| !is_name(c)).unwrap_or(after.len());
            (&after[..len], len)
        };
        match (consumed > 0 && !name.is_empty())
            .then(|| get(name))
            .flatten()
        {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[dollar..dollar + 1 + consumed]),
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_as_python_reads_them() {
        for (source, value) in [
            (r#""mailboxes ""#, "mailboxes "),
            (r#"'\n'"#, "\n"),
            (r#""""#, ""),
            (r#"  " "  "#, " "),
            (r#""a" 'b'"#, "ab"),
            (r#"u"x""#, "x"),
            (r#"r"\n""#, "\\n"),
            (r#""tab\there""#, "tab\there"),
            (r#""\x41\u00e4\U0001F600\101\0""#, "Aä😀A\0"),
            (r#""it\'s \"q\" \\ \q""#, "it's \"q\" \\ \\q"),
            (r#""""tri"ple""""#, "tri\"ple"),
            (r#"'''a'''"#, "a"),
        ] {
            assert_eq!(string_expression(source).as_deref(), Ok(value), "{source}");
        }
    }

    #[test]
    fn anything_but_literals_is_refused() {
        for source in [
            "mailboxes",
            "\"a\" + \"b\"",
            "\"x\" * 3",
            "b\"x\"",
            "f\"{x}\"",
            "\"open",
            "",
            "str(1)",
            "\"\\N{BULLET}\"",
        ] {
            assert!(string_expression(source).is_err(), "{source}");
        }
    }

    #[test]
    fn dict_templates() {
        let keys = ["accountname", "foldername", "localfolders"];
        assert_eq!(
            dict_template("\"+%(accountname)s/%(foldername)s\" 100%%", &keys).unwrap(),
            vec![
                Piece::Text("\"+".into()),
                Piece::Key("accountname".into()),
                Piece::Text("/".into()),
                Piece::Key("foldername".into()),
                Piece::Text("\" 100%".into()),
            ]
        );
        for bad in ["%s", "%(accountname)r", "%(nope)s", "50%", "%(foldername)"] {
            assert!(dict_template(bad, &keys).is_err(), "{bad}");
        }
    }

    #[test]
    fn expandvars_leaves_unknown_variables() {
        let get = |name: &str| (name == "HOME").then(|| "/h".to_owned());
        assert_eq!(expand_vars("$HOME/x", get), "/h/x");
        assert_eq!(expand_vars("${HOME}x", get), "/hx");
        assert_eq!(expand_vars("$NOPE/$/${HOME", get), "$NOPE/$/${HOME");
        assert_eq!(expand_vars("a$HOME.b", get), "a/h.b");
    }
}
