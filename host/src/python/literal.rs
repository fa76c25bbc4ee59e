//! Python string literals: the one reader behind every quoted value of a configuration,
//! whether inside a lambda or alone (`[mbnames] header = "mailboxes "`).
//!
//! Read: single, double and triple quotes; the prefixes `r` and `u` in any case; Python's
//! escapes, where an unknown one such as `\.` keeps its backslash (which is how most
//! patterns are written without `r`). Refused with the reason: bytes and f-strings (their
//! value is not a `str`, or needs Python to compute), `\N{...}` (it needs Unicode's name
//! table) and a single-quoted string left open at the end of its line.

/// One Python string literal starting exactly at byte `at` of `text` (prefix included):
/// its value and the byte offset just past its closing quote, or `None` when no literal
/// starts there (`at` is on anything but a prefix and a quote). The error says, starting
/// with a verb, why a literal that starts there cannot be read.
pub fn string_literal(text: &str, at: usize) -> Result<Option<(String, usize)>, String> {
    let rest = &text[at..];
    let prefix_len = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    if prefix_len > 2 || !rest[prefix_len..].starts_with(['"', '\'']) {
        return Ok(None);
    }
    let prefix = &rest[..prefix_len];
    let lower = prefix.to_ascii_lowercase();
    let raw = match lower.as_str() {
        "" | "u" => false,
        "r" => true,
        "b" | "br" | "rb" => {
            return Err(format!(
                "has a bytes literal {prefix}'...', which twinbox does not read; write a plain \
                 '...' string"
            ))
        }
        "f" | "fr" | "rf" => {
            return Err(format!(
                "has an f-string {prefix}'...', which twinbox does not read; write a plain \
                 '...' string"
            ))
        }
        // Letters before a quote that are no prefix (`ur`, `if`): a name, then a literal.
        _ => return Ok(None),
    };
    let body = &rest[prefix_len..];
    let quote = &body[..1];
    let triple = quote.repeat(3);
    let delimiter = if body.starts_with(&triple) {
        triple.as_str()
    } else {
        quote
    };
    let content_at = at + prefix_len + delimiter.len();
    let mut value = String::new();
    let mut chars = text[content_at..].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if text[content_at + i..].starts_with(delimiter) {
            return Ok(Some((value, content_at + i + delimiter.len())));
        }
        match c {
            '\n' if delimiter.len() == 1 => {
                return Err("has a string broken across lines; close it on its line".to_owned())
            }
            '\\' if raw => {
                // A raw string keeps the backslash, and an escaped quote does not end it.
                value.push('\\');
                if let Some((_, next)) = chars.next() {
                    value.push(next);
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
        "has a string that is never closed (no {delimiter})"
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
        // A backslash-newline continues the string on the next line.
        '\n' => None,
        '\\' | '\'' | '"' => Some(c),
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        '0'..='7' | 'x' | 'u' | 'U' => {
            let code = numeric_escape(c, chars)?;
            value.push(code);
            return Ok(());
        }
        'N' => return Err("has a \\N{...} escape; write the character itself".to_owned()),
        other => {
            value.push('\\');
            value.push(other);
            return Ok(());
        }
    };
    value.extend(simple);
    Ok(())
}

/// `\ooo` (up to three octal digits, the first one being `c`), `\xhh`, `\uhhhh`,
/// `\Uhhhhhhhh` (exactly that many hexadecimal digits, as Python requires).
fn numeric_escape(
    c: char,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Result<char, String> {
    let (mut digits, count, radix) = match c {
        'x' => (String::new(), 2, 16),
        'u' => (String::new(), 4, 16),
        'U' => (String::new(), 8, 16),
        _ => (c.to_string(), 3, 8),
    };
    while digits.len() < count {
        match chars.peek() {
            Some(&(_, d)) if d.is_digit(radix) => {
                digits.push(d);
                chars.next();
            }
            _ => break,
        }
    }
    let bad = || format!("has a bad escape \\{c}{digits} in a string");
    if radix == 16 && digits.len() != count {
        return Err(bad());
    }
    u32::from_str_radix(&digits, radix)
        .ok()
        .and_then(char::from_u32)
        .ok_or_else(bad)
}

/// The value of a Python expression made only of string literals side by side (which
/// Python joins): `"mailboxes "`, `'\n'`, `"a" 'b'`. Anything else is refused.
pub fn string_expression(text: &str) -> Result<String, String> {
    let mut value = String::new();
    let mut at = 0;
    let mut any = false;
    loop {
        at += text[at..].len() - text[at..].trim_start().len();
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
}
