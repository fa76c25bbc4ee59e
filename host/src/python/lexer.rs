//! Python's tokens, as far as the lambdas we read use them.

use std::fmt;

use super::literal::string_literal;

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
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        let rest = &text[i..];
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        if rest.starts_with("\\\n") {
            i += 2;
            continue;
        }
        if c == '#' {
            // A Python comment runs to the end of its line.
            i += rest.find('\n').unwrap_or(rest.len());
            continue;
        }
        if let Some((value, end)) = string_literal(text, i)? {
            // Adjacent literals are one string, as in Python.
            match tokens.last_mut() {
                Some(Token::Str(previous)) => previous.push_str(&value),
                _ => tokens.push(Token::Str(value)),
            }
            i = end;
            continue;
        }
        let run = |accepts: fn(char) -> bool| rest.find(|c| !accepts(c)).unwrap_or(rest.len());
        if c.is_alphabetic() || c == '_' {
            let len = run(|c| c.is_alphanumeric() || c == '_');
            tokens.push(Token::Name(rest[..len].to_owned()));
            i += len;
            continue;
        }
        if c.is_ascii_digit() {
            let digits = &rest[..run(|c| c.is_ascii_digit())];
            let n = digits
                .parse()
                .map_err(|_| format!("has the number {digits}, which is too large"))?;
            tokens.push(Token::Int(n));
            i += digits.len();
            continue;
        }
        let (token, len) = match c {
            _ if rest.starts_with("==") => (Token::EqEq, 2),
            _ if rest.starts_with("!=") => (Token::NotEq, 2),
            '(' => (Token::LParen, 1),
            ')' => (Token::RParen, 1),
            '[' => (Token::LBracket, 1),
            ']' => (Token::RBracket, 1),
            '{' => (Token::LBrace, 1),
            '}' => (Token::RBrace, 1),
            ',' => (Token::Comma, 1),
            ':' => (Token::Colon, 1),
            '.' => (Token::Dot, 1),
            '+' => (Token::Plus, 1),
            '|' => (Token::Pipe, 1),
            '=' => (Token::Assign, 1),
            _ => return Err(format!("has {c:?}, which twinbox does not read here")),
        };
        tokens.push(token);
        i += len;
    }
    Ok(tokens)
}
