//! Parsing the server's responses for [`super::ImapSession`]: lines with their literals
//! read exactly, split into atoms, strings and lists.

/// One item of a server response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// An atom, number or flag (`FETCH`, `12`, `\Seen`, `BODY[]`).
    Atom(String),
    /// A quoted string or a literal.
    Bytes(Vec<u8>),
    List(Vec<Value>),
}

impl Value {
    pub(super) fn atom(&self) -> Option<&str> {
        match self {
            Value::Atom(atom) => Some(atom),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub(super) enum Chunk {
    Text(Vec<u8>),
    Literal(Vec<u8>),
}

/// `Some((n, start of "{n}"))` if a line ends with a literal announcement.
pub(super) fn literal_length(line: &[u8]) -> Option<(usize, usize)> {
    if !line.ends_with(b"}") {
        return None;
    }
    let start = line.iter().rposition(|&b| b == b'{')?;
    let digits = std::str::from_utf8(&line[start + 1..line.len() - 1]).ok()?;
    let digits = digits.strip_suffix('+').unwrap_or(digits);
    Some((digits.parse().ok()?, start))
}

/// Parses one response line into values.
pub(super) fn tokenize(chunks: &[Chunk]) -> Result<Vec<Value>, String> {
    enum Token {
        Open,
        Close,
        Value(Value),
    }
    let mut tokens = Vec::new();
    for chunk in chunks {
        let text = match chunk {
            Chunk::Literal(bytes) => {
                tokens.push(Token::Value(Value::Bytes(bytes.clone())));
                continue;
            }
            Chunk::Text(text) => text,
        };
        let mut i = 0;
        while i < text.len() {
            match text[i] {
                b' ' => i += 1,
                b'(' => {
                    tokens.push(Token::Open);
                    i += 1;
                }
                b')' => {
                    tokens.push(Token::Close);
                    i += 1;
                }
                b'"' => {
                    let mut bytes = Vec::new();
                    i += 1;
                    loop {
                        match text.get(i) {
                            None => return Err("unterminated quoted string".into()),
                            Some(b'"') => break,
                            Some(b'\\') => {
                                bytes.push(*text.get(i + 1).ok_or("bad escape")?);
                                i += 2;
                            }
                            Some(&b) => {
                                bytes.push(b);
                                i += 1;
                            }
                        }
                    }
                    i += 1;
                    tokens.push(Token::Value(Value::Bytes(bytes)));
                }
                _ => {
                    let start = i;
                    let mut depth = 0;
                    while i < text.len() {
                        match text[i] {
                            b'[' => depth += 1,
                            b']' => depth -= 1,
                            b' ' | b'(' | b')' if depth == 0 => break,
                            _ => {}
                        }
                        i += 1;
                    }
                    let atom = String::from_utf8_lossy(&text[start..i]).into_owned();
                    tokens.push(Token::Value(Value::Atom(atom)));
                }
            }
        }
    }
    let mut stack: Vec<Vec<Value>> = vec![Vec::new()];
    for token in tokens {
        match token {
            Token::Open => stack.push(Vec::new()),
            Token::Close => {
                let list = stack.pop().ok_or("unbalanced )")?;
                stack
                    .last_mut()
                    .ok_or("unbalanced )")?
                    .push(Value::List(list));
            }
            Token::Value(value) => stack.last_mut().ok_or("unbalanced")?.push(value),
        }
    }
    if stack.len() != 1 {
        return Err("unbalanced (".into());
    }
    Ok(stack.pop().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_with_literals() {
        let chunks = vec![
            Chunk::Text(b"* 1 FETCH (UID 7 FLAGS (\\Seen $X) BODY[] ".to_vec()),
            Chunk::Literal(b"a)(\"b\r\n".to_vec()),
            Chunk::Text(b" INTERNALDATE \"1-Jan-2000 00:00:00 +0000\")".to_vec()),
        ];
        let values = tokenize(&chunks).expect("parses");
        assert_eq!(values[2].atom(), Some("FETCH"));
        let Value::List(items) = &values[3] else {
            panic!("{values:?}")
        };
        assert_eq!(items[4], Value::Atom("BODY[]".into()));
        assert_eq!(items[5], Value::Bytes(b"a)(\"b\r\n".to_vec()));
    }
}
