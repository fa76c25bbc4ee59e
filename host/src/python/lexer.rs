//! Python's tokens, as far as the lambdas we read use them.

use std::fmt;

#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    Name(String),
    Str(String),
    Int(usize),
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Colon,
    Dot,
    EqEq,
    NotEq,
    Plus,
    Pipe,
    Assign,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Quoted, so that a message reads "has ',' where ':' should be".
            Token::Name(name) => write!(f, "'{name}'"),
            Token::Str(text) => write!(f, "{text:?}"),
            Token::Int(n) => write!(f, "{n}"),
            Token::LParen => f.write_str("'('"),
            Token::RParen => f.write_str("')'"),
            Token::LBracket => f.write_str("'['"),
            Token::RBracket => f.write_str("']'"),
            Token::LBrace => f.write_str("'{'"),
            Token::RBrace => f.write_str("'}'"),
            Token::Comma => f.write_str("','"),
            Token::Colon => f.write_str("':'"),
            Token::Dot => f.write_str("'.'"),
            Token::EqEq => f.write_str("'=='"),
            Token::NotEq => f.write_str("'!='"),
            Token::Plus => f.write_str("'+'"),
            Token::Pipe => f.write_str("'|'"),
            Token::Assign => f.write_str("'='"),
        }
    }
}

/// Splits `text` into tokens. Line breaks (continuation lines of the INI value) and
/// backslash-newlines are blanks, as inside Python brackets.
pub fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '\\' && chars.get(i + 1) == Some(&'\n') {
            i += 2;
            continue;
        }
        if c == '#' {
            // A Python comment runs to the end of its line.
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        // A string literal, with an optional r/u prefix.
        let (raw, quote_at) = match (c, chars.get(i + 1)) {
            ('r' | 'R', Some('\'' | '"')) => (true, i + 1),
            ('u' | 'U', Some('\'' | '"')) => (false, i + 1),
            ('\'' | '"', _) => (false, i),
            ('f' | 'F' | 'b' | 'B', Some('\'' | '"')) => {
                return Err(format!(
                    "has a {c}-string, which twinbox does not read; write a plain '...' string"
                ))
            }
            _ => (false, usize::MAX),
        };
        if quote_at != usize::MAX {
            let (text, end) = string_literal(&chars, quote_at, raw)?;
            // Adjacent literals are one string, as in Python.
            match tokens.last_mut() {
                Some(Token::Str(previous)) => previous.push_str(&text),
                _ => tokens.push(Token::Str(text)),
            }
            i = end;
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Name(chars[start..i].iter().collect()));
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let digits: String = chars[start..i].iter().collect();
            let n = digits
                .parse()
                .map_err(|_| format!("has the number {digits}, which is too large"))?;
            tokens.push(Token::Int(n));
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let (token, len) = match (c, two.as_str()) {
            (_, "==") => (Token::EqEq, 2),
            (_, "!=") => (Token::NotEq, 2),
            ('(', _) => (Token::LParen, 1),
            (')', _) => (Token::RParen, 1),
            ('[', _) => (Token::LBracket, 1),
            (']', _) => (Token::RBracket, 1),
            ('{', _) => (Token::LBrace, 1),
            ('}', _) => (Token::RBrace, 1),
            (',', _) => (Token::Comma, 1),
            (':', _) => (Token::Colon, 1),
            ('.', _) => (Token::Dot, 1),
            ('+', _) => (Token::Plus, 1),
            ('|', _) => (Token::Pipe, 1),
            ('=', _) => (Token::Assign, 1),
            _ => return Err(format!("has {c:?}, which twinbox does not read here")),
        };
        tokens.push(token);
        i += len;
    }
    Ok(tokens)
}

/// Reads the string literal whose opening quote is at `chars[at]`; returns its value and
/// the index after its closing quote.
fn string_literal(chars: &[char], at: usize, raw: bool) -> Result<(String, usize), String> {
    let quote = chars[at];
    if chars.get(at + 1) == Some(&quote) && chars.get(at + 2) == Some(&quote) {
        return Err("has a triple-quoted string; write a plain '...' string".to_owned());
    }
    let mut value = String::new();
    let mut i = at + 1;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(format!("has a string that is never closed (no {quote})"));
        };
        i += 1;
        if c == quote {
            return Ok((value, i));
        }
        if c == '\n' {
            return Err("has a string broken across lines; close it on its line".to_owned());
        }
        if c != '\\' {
            value.push(c);
            continue;
        }
        let Some(&next) = chars.get(i) else {
            return Err(format!("has a string that is never closed (no {quote})"));
        };
        i += 1;
        if raw {
            // In a raw string a backslash stays, and only keeps the next quote from
            // closing the string.
            value.push('\\');
            value.push(next);
            continue;
        }
        match next {
            '\n' => {}
            '\\' | '\'' | '"' => value.push(next),
            'n' => value.push('\n'),
            't' => value.push('\t'),
            'r' => value.push('\r'),
            'a' => value.push('\x07'),
            'b' => value.push('\x08'),
            'f' => value.push('\x0c'),
            'v' => value.push('\x0b'),
            '0'..='7' => {
                let mut code = next.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.get(i).and_then(|c| c.to_digit(8)) {
                        Some(digit) => {
                            code = code * 8 + digit;
                            i += 1;
                        }
                        None => break,
                    }
                }
                value.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            'x' | 'u' | 'U' => {
                let len = match next {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let digits: String = chars.get(i..i + len).unwrap_or(&[]).iter().collect();
                let code = u32::from_str_radix(&digits, 16)
                    .ok()
                    .filter(|_| digits.len() == len)
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("has a bad escape \\{next}{digits} in a string"))?;
                value.push(code);
                i += len;
            }
            'N' => return Err("has a \\N{...} escape; write the character itself".to_owned()),
            // Python keeps the backslash of an unknown escape: '\.' is backslash-dot,
            // which is how most nametrans patterns are written.
            other => {
                value.push('\\');
                value.push(other);
            }
        }
    }
}
