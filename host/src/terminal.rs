//! Text from servers and plugins on its way to the terminal.
//!
//! Error messages quote what a server said (a refusal, a greeting, a folder name), and a
//! hostile server can put escape sequences there that rewrite the screen, hide lines or
//! retitle the window. Everything twinbox prints passes through [`printable`] first, which
//! shows control characters as Rust escapes (`\u{1b}`) instead of sending them.

use std::borrow::Cow;

/// `text` with every control character but the line feed written as an escape.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() && c != '\n' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_control_characters_are_shown_not_sent() {
        assert_eq!(printable("plain text\nline two"), "plain text\nline two");
        assert_eq!(
            printable("folder \u{1b}[31mRED\u{1b}[0m\r\u{7}\u{0}x\u{9b}y"),
            "folder \\u{1b}[31mRED\\u{1b}[0m\\r\\u{7}\\u{0}x\\u{9b}y"
        );
        assert!(matches!(printable("ok"), Cow::Borrowed(_)));
    }
}
