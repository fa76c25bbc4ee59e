//! `[mbnames] folderfilter`: a Python `lambda accountname, foldername: ...` deciding which
//! folders are listed, read by our own small parser, never by running Python.
//!
//! The forms people write are accepted: `True`/`False`; `f in [...]`/`not in` with a
//! literal list or tuple (or a string: a substring test); `==`/`!=` against a literal;
//! `re.search`/`re.match` with a literal pattern (and `re.I`); `f.startswith(...)`,
//! `f.endswith(...)`; all combined with `and`, `or`, `not` and parentheses. Anything else
//! is refused with one line, so a filter never silently means something else.
//!
//! This is a minimal parser for the two-argument mbnames filter; the repositories'
//! one-argument `folderfilter` gets its own in the configuration code, and the two are
//! meant to become one.

use regex::Regex;

use crate::python::string_literal;

/// A parsed filter. Two filters are equal when their sources are.
#[derive(Clone, Debug)]
pub struct FolderFilter {
    source: String,
    expression: Expression,
}

impl PartialEq for FolderFilter {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for FolderFilter {}

impl FolderFilter {
    /// Parses `lambda a, f: EXPRESSION`; the error says what is not supported.
    pub fn parse(source: &str) -> Result<FolderFilter, String> {
        let tokens = tokenize(source)?;
        let mut parser = Parser {
            tokens,
            at: 0,
            params: Vec::new(),
        };
        parser.expect_word("lambda")?;
        let first = parser.name()?;
        parser.expect(&Token::Comma)?;
        let second = parser.name()?;
        parser.expect(&Token::Colon)?;
        parser.params = vec![first, second];
        let expression = parser.or()?;
        if parser.at != parser.tokens.len() {
            return Err(format!(
                "cannot read the filter from {}; twinbox reads lambdas made of in/not in, \
                 ==, !=, re.search, re.match, startswith, endswith, and, or, not",
                parser.describe()
            ));
        }
        Ok(FolderFilter {
            source: source.to_owned(),
            expression,
        })
    }

    /// Whether the folder is listed.
    pub fn accepts(&self, account: &str, folder: &str) -> bool {
        self.expression.eval([account, folder]).truthy()
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Open(char),
    Close(char),
    Comma,
    Colon,
    Dot,
    Eq,
    NotEq,
    Pipe,
}

fn tokenize(source: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < source.len() {
        let rest = &source[at..];
        let Some(c) = rest.chars().next() else { break };
        if c.is_whitespace() {
            at += c.len_utf8();
            continue;
        }
        if let Some((value, end)) = string_literal(source, at)?
            .filter(|_| c == '"' || c == '\'' || starts_prefixed_literal(rest))
        {
            tokens.push(Token::Str(value));
            at = end;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            tokens.push(Token::Word(rest[..len].to_owned()));
            at += len;
            continue;
        }
        let (token, len) = match c {
            '(' | '[' => (Token::Open(c), 1),
            ')' | ']' => (Token::Close(c), 1),
            ',' => (Token::Comma, 1),
            ':' => (Token::Colon, 1),
            '.' => (Token::Dot, 1),
            '|' => (Token::Pipe, 1),
            '=' if rest.starts_with("==") => (Token::Eq, 2),
            '!' if rest.starts_with("!=") => (Token::NotEq, 2),
            _ => {
                return Err(format!(
                    "cannot read {:?} in the filter; twinbox reads lambdas made of in/not in, \
                     ==, !=, re.search, re.match, startswith, endswith, and, or, not",
                    rest.chars().take(12).collect::<String>()
                ))
            }
        };
        tokens.push(token);
        at += len;
    }
    Ok(tokens)
}

/// `r"..."`, `u'...'`: a word that is really a string prefix.
fn starts_prefixed_literal(rest: &str) -> bool {
    let prefix_len = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    prefix_len <= 2 && rest[prefix_len..].starts_with(['"', '\''])
}

#[derive(Clone, Debug)]
enum Expression {
    Const(Value),
    /// The lambda's first (0) or second (1) parameter.
    Param(usize),
    Not(Box<Expression>),
    And(Box<Expression>, Box<Expression>),
    Or(Box<Expression>, Box<Expression>),
    In {
        needle: Box<Expression>,
        haystack: Box<Expression>,
        negated: bool,
    },
    Equal {
        left: Box<Expression>,
        right: Box<Expression>,
        negated: bool,
    },
    Regex(Box<Regex>, Box<Expression>),
    StartsWith(Box<Expression>, Vec<String>),
    EndsWith(Box<Expression>, Vec<String>),
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Bool(bool),
    Str(String),
    List(Vec<String>),
}

impl Value {
    /// Python's truth value.
    fn truthy(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
        }
    }
}

impl Expression {
    fn eval(&self, params: [&str; 2]) -> Value {
        match self {
            Expression::Const(value) => value.clone(),
            Expression::Param(index) => Value::Str(params[*index].to_owned()),
            Expression::Not(inner) => Value::Bool(!inner.eval(params).truthy()),
            // Python's and/or return an operand, not a bool: the truth value is the same.
            Expression::And(a, b) => {
                let a = a.eval(params);
                if a.truthy() {
                    b.eval(params)
                } else {
                    a
                }
            }
            Expression::Or(a, b) => {
                let a = a.eval(params);
                if a.truthy() {
                    a
                } else {
                    b.eval(params)
                }
            }
            Expression::In {
                needle,
                haystack,
                negated,
            } => {
                let found = match (needle.eval(params), haystack.eval(params)) {
                    (Value::Str(n), Value::List(list)) => list.contains(&n),
                    (Value::Str(n), Value::Str(s)) => s.contains(&n),
                    _ => false,
                };
                Value::Bool(found != *negated)
            }
            Expression::Equal {
                left,
                right,
                negated,
            } => Value::Bool((left.eval(params) == right.eval(params)) != *negated),
            Expression::Regex(regex, subject) => match subject.eval(params) {
                Value::Str(s) => Value::Bool(regex.is_match(&s)),
                _ => Value::Bool(false),
            },
            Expression::StartsWith(subject, prefixes) => match subject.eval(params) {
                Value::Str(s) => Value::Bool(prefixes.iter().any(|p| s.starts_with(p.as_str()))),
                _ => Value::Bool(false),
            },
            Expression::EndsWith(subject, suffixes) => match subject.eval(params) {
                Value::Str(s) => Value::Bool(suffixes.iter().any(|p| s.ends_with(p.as_str()))),
                _ => Value::Bool(false),
            },
        }
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    params: Vec<String>,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == word)
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "its end".to_owned(),
            Some(Token::Word(w)) => format!("'{w}'"),
            Some(Token::Str(s)) => format!("the string {s:?}"),
            Some(other) => format!("{other:?}"),
        }
    }

    fn unsupported(&self) -> String {
        format!(
            "cannot read the filter at {}; twinbox reads lambdas made of in/not in, ==, !=, \
             re.search, re.match, startswith, endswith, and, or, not (never other Python)",
            self.describe()
        )
    }

    fn expect(&mut self, token: &Token) -> Result<(), String> {
        if self.peek() == Some(token) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.unsupported())
        }
    }

    fn expect_word(&mut self, word: &str) -> Result<(), String> {
        if self.peek_word(word) {
            self.at += 1;
            Ok(())
        } else if word == "lambda" {
            Err(
                "not a lambda: write lambda accountname, foldername: ... (twinbox never \
                 runs Python, so a function from pythonfile cannot be used)"
                    .to_owned(),
            )
        } else {
            Err(self.unsupported())
        }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Token::Word(w)) => {
                let w = w.clone();
                self.at += 1;
                Ok(w)
            }
            _ => Err(
                "the lambda must take two arguments: lambda accountname, foldername: ..."
                    .to_owned(),
            ),
        }
    }

    fn or(&mut self) -> Result<Expression, String> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            left = Expression::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expression, String> {
        let mut left = self.not()?;
        while self.peek_word("and") {
            self.at += 1;
            left = Expression::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expression, String> {
        if self.peek_word("not") {
            self.at += 1;
            return Ok(Expression::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expression, String> {
        let left = self.primary()?;
        let negated_in = self.peek_word("not")
            && matches!(self.tokens.get(self.at + 1), Some(Token::Word(w)) if w == "in");
        if self.peek_word("in") || negated_in {
            self.at += if negated_in { 2 } else { 1 };
            return Ok(Expression::In {
                needle: Box::new(left),
                haystack: Box::new(self.primary()?),
                negated: negated_in,
            });
        }
        if let Some(negated) = match self.peek() {
            Some(Token::Eq) => Some(false),
            Some(Token::NotEq) => Some(true),
            _ => None,
        } {
            self.at += 1;
            return Ok(Expression::Equal {
                left: Box::new(left),
                right: Box::new(self.primary()?),
                negated,
            });
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Expression, String> {
        match self.peek().cloned() {
            Some(Token::Str(s)) => {
                self.at += 1;
                Ok(Expression::Const(Value::Str(s)))
            }
            Some(Token::Open('(')) => {
                // A parenthesized expression, or a tuple of strings.
                let start = self.at;
                if let Ok(list) = self.string_list() {
                    if list.1 {
                        return Ok(Expression::Const(Value::List(list.0)));
                    }
                }
                self.at = start + 1;
                let inner = self.or()?;
                self.expect(&Token::Close(')'))?;
                Ok(inner)
            }
            Some(Token::Open('[')) => {
                let (list, _) = self.string_list()?;
                Ok(Expression::Const(Value::List(list)))
            }
            Some(Token::Word(word)) => {
                self.at += 1;
                match word.as_str() {
                    "True" => Ok(Expression::Const(Value::Bool(true))),
                    "False" => Ok(Expression::Const(Value::Bool(false))),
                    "re" => self.regex_call(),
                    _ => {
                        let Some(index) = self.params.iter().position(|p| *p == word) else {
                            self.at -= 1;
                            return Err(self.unsupported());
                        };
                        let param = Expression::Param(index);
                        if self.peek() == Some(&Token::Dot) {
                            self.at += 1;
                            return self.method(param);
                        }
                        Ok(param)
                    }
                }
            }
            _ => Err(self.unsupported()),
        }
    }

    /// `[...]` or `(...)` of string literals; the bool says whether it is a list or a
    /// tuple rather than a parenthesized single string.
    fn string_list(&mut self) -> Result<(Vec<String>, bool), String> {
        let Some(Token::Open(open)) = self.peek().cloned() else {
            return Err(self.unsupported());
        };
        let close = if open == '[' { ']' } else { ')' };
        self.at += 1;
        let mut items = Vec::new();
        let mut comma = false;
        loop {
            match self.peek().cloned() {
                Some(Token::Close(c)) if c == close => {
                    self.at += 1;
                    break;
                }
                Some(Token::Str(s)) => {
                    self.at += 1;
                    items.push(s);
                    match self.peek() {
                        Some(Token::Comma) => {
                            comma = true;
                            self.at += 1;
                        }
                        Some(Token::Close(c)) if *c == close => {}
                        _ => return Err(self.unsupported()),
                    }
                }
                _ => return Err(self.unsupported()),
            }
        }
        let is_sequence = open == '[' || comma || items.is_empty();
        Ok((items, is_sequence))
    }

    /// After `re`: `.search(PATTERN, PARAM[, FLAGS])` or `.match(...)`.
    fn regex_call(&mut self) -> Result<Expression, String> {
        self.expect(&Token::Dot)?;
        let anchored = match self.peek() {
            Some(Token::Word(w)) if w == "search" => false,
            Some(Token::Word(w)) if w == "match" => true,
            _ => return Err(self.unsupported()),
        };
        self.at += 1;
        self.expect(&Token::Open('('))?;
        let Some(Token::Str(pattern)) = self.peek().cloned() else {
            return Err(format!(
                "re.search and re.match need a literal pattern first; {}",
                self.unsupported()
            ));
        };
        self.at += 1;
        self.expect(&Token::Comma)?;
        let subject = self.primary()?;
        let mut ignore_case = false;
        if self.peek() == Some(&Token::Comma) {
            self.at += 1;
            loop {
                self.expect_word("re")?;
                self.expect(&Token::Dot)?;
                match self.peek() {
                    Some(Token::Word(w)) if w == "I" || w == "IGNORECASE" => ignore_case = true,
                    _ => return Err(self.unsupported()),
                }
                self.at += 1;
                if self.peek() != Some(&Token::Pipe) {
                    break;
                }
                self.at += 1;
            }
        }
        self.expect(&Token::Close(')'))?;
        let flags = if ignore_case { "(?i)" } else { "" };
        let source = if anchored {
            format!("{flags}\\A(?:{pattern})")
        } else {
            format!("{flags}{pattern}")
        };
        let regex = Regex::new(&source).map_err(|e| {
            format!("the pattern {pattern:?} is not a regular expression twinbox reads: {e}")
        })?;
        Ok(Expression::Regex(Box::new(regex), Box::new(subject)))
    }

    /// After `PARAM.`: `startswith(...)` or `endswith(...)` with a string or a tuple.
    fn method(&mut self, subject: Expression) -> Result<Expression, String> {
        let starts = match self.peek() {
            Some(Token::Word(w)) if w == "startswith" => true,
            Some(Token::Word(w)) if w == "endswith" => false,
            _ => return Err(self.unsupported()),
        };
        self.at += 1;
        self.expect(&Token::Open('('))?;
        let affixes = match self.peek().cloned() {
            Some(Token::Str(s)) => {
                self.at += 1;
                vec![s]
            }
            Some(Token::Open('(')) => self.string_list()?.0,
            _ => return Err(self.unsupported()),
        };
        self.expect(&Token::Close(')'))?;
        let subject = Box::new(subject);
        Ok(if starts {
            Expression::StartsWith(subject, affixes)
        } else {
            Expression::EndsWith(subject, affixes)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(source: &str, account: &str, folder: &str) -> bool {
        FolderFilter::parse(source)
            .unwrap_or_else(|e| panic!("{source}: {e}"))
            .accepts(account, folder)
    }

    #[test]
    fn the_common_forms() {
        assert!(accepts("lambda a, f: True", "A", "x"));
        assert!(!accepts("lambda accountname, foldername: False", "A", "x"));
        let not_in = "lambda a, f: f not in ['Trash', 'Spam']";
        assert!(accepts(not_in, "A", "INBOX"));
        assert!(!accepts(not_in, "A", "Spam"));
        let tuple = "lambda a, f: f in ('INBOX', \"Sent\")";
        assert!(accepts(tuple, "A", "Sent") && !accepts(tuple, "A", "Spam"));
        let by_account = "lambda acc, f: acc == 'Work' and f != 'Junk' or acc != 'Work'";
        assert!(accepts(by_account, "Work", "INBOX"));
        assert!(!accepts(by_account, "Work", "Junk"));
        assert!(accepts(by_account, "Home", "Junk"));
        let search = "lambda a, f: not re.search(r'^(Trash|Spam)$', f)";
        assert!(accepts(search, "A", "Trashy") && !accepts(search, "A", "Spam"));
        let matched = "lambda a, f: re.match('lists', f, re.I)";
        assert!(accepts(matched, "A", "Lists.rust") && !accepts(matched, "A", "x.lists"));
        let affix = "lambda a, f: f.startswith(('INBOX', 'Work')) and not f.endswith('.old')";
        assert!(accepts(affix, "A", "Work.x") && !accepts(affix, "A", "Work.old"));
        assert!(accepts("lambda a, f: 'Lists' in f", "A", "My.Lists.x"));
        assert!(accepts("lambda a, f: (f == 'a' or f == 'b')", "A", "b"));
    }

    #[test]
    fn other_python_is_refused_in_one_line() {
        for source in [
            "mbnames_folderfilter",
            "lambda f: True",
            "lambda a, f: f.lower() == 'x'",
            "lambda a, f: len(f) > 3",
            "lambda a, f: __import__('os').system('x')",
            "lambda a, f: f in allowed",
            "lambda a, f: re.search(pattern, f)",
            "lambda a, f: True extra",
            "lambda a, f: f in ['a' 'b']",
        ] {
            let error = FolderFilter::parse(source).unwrap_err();
            assert!(!error.contains('\n'), "{source}: {error}");
        }
    }
}
