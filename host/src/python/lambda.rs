//! `lambda NAME, ...: EXPR`: parsed, type-checked and evaluated (see the module's essay).

use std::fmt;

use regex::Regex;

use super::lexer::{tokenize, Token};
use super::re::{self as python_re, Anchor, Flags};

/// The forms the module's essay lists, as a refusal says them.
pub const SUPPORTED: &str = "twinbox reads lambdas over string literals and lists, tuples \
    and dicts of them, with ==, !=, in, not in, and, or, not, x if c else y, +, \
    re.search/re.match/re.fullmatch/re.sub with literal patterns, and the string methods \
    startswith, endswith, replace, lower, upper, strip";

/// Where a lambda is read: the arguments OfflineIMAP passes it, named as its
/// documentation names them (for messages only: the lambda may name them as it likes),
/// and what it must give.
#[derive(Clone, Copy, Debug)]
pub struct Signature {
    pub params: &'static [&'static str],
    pub gives: Type,
}

/// A parsed `lambda NAME, ...: EXPR`.
#[derive(Clone, Debug)]
pub struct Lambda {
    body: Expr,
}

impl Lambda {
    /// Parses `text` as a lambda of `signature`'s arguments whose body gives
    /// `signature.gives`.
    pub fn parse(text: &str, signature: Signature) -> Result<Lambda, String> {
        let mut parser = Parser::new(text)?;
        let params = signature.params;
        let how = format!("lambda {}: ...", params.join(", "));
        if !parser.eat_keyword("lambda") {
            let found = parser.peek().cloned();
            return Err(format!(
                "{}: write {how} (twinbox never runs Python, so a function from pythonfile \
                 cannot be used)",
                parser.unexpected(found.as_ref(), "'lambda'")
            ));
        }
        let takes = match params.len() {
            1 => "one argument".to_owned(),
            2 => "two arguments".to_owned(),
            n => format!("{n} arguments"),
        };
        for index in 0..params.len() {
            if index > 0 {
                parser
                    .expect(&Token::Comma)
                    .map_err(|e| format!("{e}; the lambda takes {takes}: {how}"))?;
            }
            let name = match parser.next() {
                Some(Token::Name(name)) => name,
                other => {
                    return Err(format!(
                        "{}; the lambda takes {takes}: {how}",
                        parser.unexpected(other.as_ref(), "the lambda's argument name")
                    ))
                }
            };
            if parser.params.contains(&name) {
                return Err(format!("names two arguments {name}; write {how}"));
            }
            parser.params.push(name);
        }
        parser
            .expect(&Token::Colon)
            .map_err(|e| format!("{e}; the lambda takes {takes}: {how}"))?;
        let body = parser.expression()?;
        parser.end()?;
        check_type(&body, signature.gives)?;
        Ok(Lambda { body })
    }

    /// The body's value for `args` (one per parameter of the signature it was parsed
    /// with), as Python's truth value.
    pub fn test(&self, args: &[&str]) -> bool {
        self.body.eval(args).truthy()
    }

    /// The body's value for `args` (one per parameter of the signature it was parsed
    /// with), which the parse checked to be a string.
    pub fn translate(&self, args: &[&str]) -> String {
        match self.body.eval(args) {
            Value::Str(text) => text,
            // The type check at parse time makes this unreachable; the name unchanged is
            // the harmless answer.
            _ => args.first().copied().unwrap_or_default().to_owned(),
        }
    }
}

/// A literal list or tuple of strings (`folderincludes`).
pub fn parse_string_list(text: &str) -> Result<Vec<String>, String> {
    let mut parser = Parser::new(text)?;
    let expr = parser.expression()?;
    parser.end()?;
    match expr {
        Expr::List(items) => Ok(items),
        _ => Err("is not a list of string literals, e.g. ['Lists.debian', 'Archive']".to_owned()),
    }
}

/// The type an expression yields, checked at parse time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Str,
    /// A truth value: booleans, and anything Python tests for truth (a match, None).
    Truth,
    List,
    Dict,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Str => "a string",
            Type::Truth => "a truth value",
            Type::List => "a list",
            Type::Dict => "a dict",
        })
    }
}

#[derive(Clone, Debug)]
enum Expr {
    /// The lambda's argument at this index.
    Param(usize),
    Str(String),
    Bool(bool),
    None,
    List(Vec<String>),
    Dict(Vec<(String, String)>),
    Concat(Box<Expr>, Box<Expr>),
    /// `re.search`/`match`/`fullmatch`: the pattern is anchored as the function says.
    Search(Regex, Box<Expr>),
    Sub {
        regex: Regex,
        template: String,
        count: usize,
        arg: Box<Expr>,
    },
    Method(Box<Expr>, Method),
    DictGet {
        dict: Vec<(String, String)>,
        key: Box<Expr>,
        default: Box<Expr>,
    },
    Eq(Box<Expr>, Box<Expr>),
    In(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    IfElse {
        then: Box<Expr>,
        cond: Box<Expr>,
        otherwise: Box<Expr>,
    },
}

#[derive(Clone, Debug)]
enum Method {
    StartsWith(Vec<String>),
    EndsWith(Vec<String>),
    Replace(String, String, Option<usize>),
    Lower,
    Upper,
    Strip(Strip, Option<String>),
}

#[derive(Clone, Copy, Debug)]
enum Strip {
    Both,
    Left,
    Right,
}

/// A value while evaluating.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(String),
    Bool(bool),
    None,
    List(Vec<String>),
    Dict(Vec<(String, String)>),
}

impl Value {
    fn truthy(&self) -> bool {
        match self {
            Value::Str(text) => !text.is_empty(),
            Value::Bool(b) => *b,
            Value::None => false,
            Value::List(items) => !items.is_empty(),
            Value::Dict(items) => !items.is_empty(),
        }
    }

    fn into_str(self) -> String {
        match self {
            Value::Str(text) => text,
            // Unreachable after the type check.
            _ => String::new(),
        }
    }
}

impl Expr {
    /// Whether the value is always `True` or `False` (so that `==` compares as Python
    /// does): not a match, `None` or a string, which [`Type::Truth`] also covers.
    fn is_bool(&self) -> bool {
        match self {
            Expr::Bool(_) | Expr::Eq(..) | Expr::In(..) | Expr::Not(_) => true,
            Expr::Method(_, method) => {
                matches!(method, Method::StartsWith(_) | Method::EndsWith(_))
            }
            Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::IfElse {
                then: a,
                otherwise: b,
                ..
            } => a.is_bool() && b.is_bool(),
            _ => false,
        }
    }

    fn ty(&self) -> Type {
        match self {
            Expr::Param(_) | Expr::Str(_) | Expr::Concat(..) | Expr::Sub { .. } => Type::Str,
            Expr::Bool(_) | Expr::None | Expr::Search(..) | Expr::Eq(..) | Expr::In(..) => {
                Type::Truth
            }
            Expr::Not(_) => Type::Truth,
            Expr::List(_) => Type::List,
            Expr::Dict(_) => Type::Dict,
            Expr::Method(_, method) => match method {
                Method::StartsWith(_) | Method::EndsWith(_) => Type::Truth,
                _ => Type::Str,
            },
            Expr::DictGet { default, .. } => default.ty(),
            // Python returns one of the operands: a string only if both are.
            Expr::And(a, b) | Expr::Or(a, b) => same_or_truth(a.ty(), b.ty()),
            Expr::IfElse {
                then, otherwise, ..
            } => same_or_truth(then.ty(), otherwise.ty()),
        }
    }

    fn eval(&self, args: &[&str]) -> Value {
        match self {
            Expr::Param(index) => {
                Value::Str(args.get(*index).copied().unwrap_or_default().to_owned())
            }
            Expr::Str(text) => Value::Str(text.clone()),
            Expr::Bool(b) => Value::Bool(*b),
            Expr::None => Value::None,
            Expr::List(items) => Value::List(items.clone()),
            Expr::Dict(items) => Value::Dict(items.clone()),
            Expr::Concat(a, b) => {
                let mut text = a.eval(args).into_str();
                text.push_str(&b.eval(args).into_str());
                Value::Str(text)
            }
            Expr::Search(regex, arg) => Value::Bool(regex.is_match(&arg.eval(args).into_str())),
            Expr::Sub {
                regex,
                template,
                count,
                arg,
            } => {
                let text = arg.eval(args).into_str();
                Value::Str(
                    regex
                        .replacen(&text, *count, template.as_str())
                        .into_owned(),
                )
            }
            Expr::Method(receiver, method) => {
                let text = receiver.eval(args).into_str();
                match method {
                    Method::StartsWith(prefixes) => {
                        Value::Bool(prefixes.iter().any(|p| text.starts_with(p.as_str())))
                    }
                    Method::EndsWith(suffixes) => {
                        Value::Bool(suffixes.iter().any(|s| text.ends_with(s.as_str())))
                    }
                    Method::Replace(from, to, count) => Value::Str(match count {
                        Some(count) => text.replacen(from.as_str(), to, *count),
                        None => text.replace(from.as_str(), to),
                    }),
                    Method::Lower => Value::Str(text.to_lowercase()),
                    Method::Upper => Value::Str(text.to_uppercase()),
                    Method::Strip(how, chars) => {
                        let strip = |c: char| match chars {
                            Some(chars) => chars.contains(c),
                            None => c.is_whitespace(),
                        };
                        Value::Str(
                            match how {
                                Strip::Both => text.trim_matches(strip),
                                Strip::Left => text.trim_start_matches(strip),
                                Strip::Right => text.trim_end_matches(strip),
                            }
                            .to_owned(),
                        )
                    }
                }
            }
            Expr::DictGet { dict, key, default } => {
                let key = key.eval(args).into_str();
                match dict.iter().rev().find(|(k, _)| *k == key) {
                    Some((_, value)) => Value::Str(value.clone()),
                    None => default.eval(args),
                }
            }
            Expr::Eq(a, b) => Value::Bool(a.eval(args) == b.eval(args)),
            Expr::In(needle, haystack) => {
                let needle = needle.eval(args).into_str();
                Value::Bool(match haystack.eval(args) {
                    Value::List(items) => items.contains(&needle),
                    Value::Dict(items) => items.iter().any(|(k, _)| *k == needle),
                    Value::Str(text) => text.contains(&needle),
                    _ => false,
                })
            }
            Expr::Not(inner) => Value::Bool(!inner.eval(args).truthy()),
            Expr::And(a, b) => {
                let first = a.eval(args);
                if first.truthy() {
                    b.eval(args)
                } else {
                    first
                }
            }
            Expr::Or(a, b) => {
                let first = a.eval(args);
                if first.truthy() {
                    first
                } else {
                    b.eval(args)
                }
            }
            Expr::IfElse {
                then,
                cond,
                otherwise,
            } => {
                if cond.eval(args).truthy() {
                    then.eval(args)
                } else {
                    otherwise.eval(args)
                }
            }
        }
    }
}

fn same_or_truth(a: Type, b: Type) -> Type {
    if a == b {
        a
    } else {
        Type::Truth
    }
}

fn check_type(body: &Expr, want: Type) -> Result<(), String> {
    match (want, body.ty()) {
        // Python tests anything for truth.
        (Type::Truth, _) => Ok(()),
        (want, got) if want == got => Ok(()),
        (want, got) => Err(format!(
            "must give {want} for every folder name, but this lambda may give {got}"
        )),
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// The lambda's argument names, once read.
    params: Vec<String>,
}

const KEYWORDS: [&str; 10] = [
    "lambda", "not", "in", "and", "or", "if", "else", "True", "False", "None",
];

impl Parser {
    fn new(text: &str) -> Result<Parser, String> {
        Ok(Parser {
            tokens: tokenize(text)?,
            at: 0,
            params: Vec::new(),
        })
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn peek_at(&self, offset: usize) -> Option<&Token> {
        self.tokens.get(self.at + offset)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn is_keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Name(name)) if name == word)
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        let found = self.is_keyword(word);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect_keyword(&mut self, word: &str) -> Result<(), String> {
        if self.eat_keyword(word) {
            return Ok(());
        }
        let found = self.peek().cloned();
        Err(self.unexpected(found.as_ref(), &format!("'{word}'")))
    }

    fn eat(&mut self, token: &Token) -> bool {
        let found = self.peek() == Some(token);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, token: &Token) -> Result<(), String> {
        if self.eat(token) {
            return Ok(());
        }
        let found = self.peek().cloned();
        Err(self.unexpected(found.as_ref(), &token.to_string()))
    }

    fn end(&self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(token) => Err(format!("has {token} where the expression should end")),
        }
    }

    fn unexpected(&self, found: Option<&Token>, wanted: &str) -> String {
        match found {
            Some(token) => format!("has {token} where {wanted} should be"),
            None => format!("ends where {wanted} should be"),
        }
    }

    /// `OR ['if' OR 'else' EXPRESSION]`.
    fn expression(&mut self) -> Result<Expr, String> {
        let then = self.or()?;
        if !self.eat_keyword("if") {
            return Ok(then);
        }
        let cond = self.or()?;
        self.expect_keyword("else")?;
        let otherwise = self.expression()?;
        Ok(Expr::IfElse {
            then: Box::new(then),
            cond: Box::new(cond),
            otherwise: Box::new(otherwise),
        })
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.eat_keyword("or") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.not()?;
        while self.eat_keyword("and") {
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.eat_keyword("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    /// One comparison; Python's chained comparisons (`a == b == c`) are refused.
    fn comparison(&mut self) -> Result<Expr, String> {
        let left = self.sum()?;
        let (negate, membership) = if self.eat(&Token::EqEq) {
            (false, false)
        } else if self.eat(&Token::NotEq) {
            (true, false)
        } else if self.eat_keyword("in") {
            (false, true)
        } else if self.is_keyword("not") && self.peek_at(1) == Some(&Token::Name("in".into())) {
            self.at += 2;
            (true, true)
        } else {
            return Ok(left);
        };
        let right = self.sum()?;
        let compared = if membership {
            if left.ty() != Type::Str {
                return Err(format!(
                    "tests whether {} is in something; only strings are",
                    left.ty()
                ));
            }
            if !matches!(right.ty(), Type::List | Type::Str | Type::Dict) {
                return Err(format!(
                    "tests membership in {}; use a list, a tuple or a string",
                    right.ty()
                ));
            }
            Expr::In(Box::new(left), Box::new(right))
        } else {
            let strings = left.ty() == Type::Str && right.ty() == Type::Str;
            let bools = left.is_bool() && right.is_bool();
            if !(strings || bools) {
                if left.ty() == Type::Truth && right.ty() == Type::Truth {
                    return Err("compares truth values that are not all True or False \
                         (re.search and re.match give a match or None, never equal to True); \
                         test them as they are, e.g. not re.search(...)"
                        .to_owned());
                }
                return Err(format!(
                    "compares {} with {}; twinbox compares strings only (and True or False \
                     with ==, in, not, startswith or endswith)",
                    left.ty(),
                    right.ty()
                ));
            }
            Expr::Eq(Box::new(left), Box::new(right))
        };
        if matches!(self.peek(), Some(Token::EqEq | Token::NotEq)) || self.is_keyword("in") {
            return Err("chains comparisons; write them apart, joined with 'and'".to_owned());
        }
        Ok(if negate {
            Expr::Not(Box::new(compared))
        } else {
            compared
        })
    }

    fn sum(&mut self) -> Result<Expr, String> {
        let mut left = self.postfix()?;
        while self.eat(&Token::Plus) {
            let right = self.postfix()?;
            if left.ty() != Type::Str || right.ty() != Type::Str {
                return Err(format!(
                    "adds {} and {}; twinbox adds strings only",
                    left.ty(),
                    right.ty()
                ));
            }
            left = Expr::Concat(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// An atom followed by method calls.
    fn postfix(&mut self) -> Result<Expr, String> {
        let mut expr = self.atom()?;
        while self.eat(&Token::Dot) {
            let name = match self.next() {
                Some(Token::Name(name)) => name,
                other => return Err(self.unexpected(other.as_ref(), "a method name")),
            };
            let args = self.call_arguments()?;
            expr = self.method(expr, &name, args)?;
        }
        Ok(expr)
    }

    fn method(&mut self, receiver: Expr, name: &str, args: Arguments) -> Result<Expr, String> {
        if let (Expr::Dict(dict), "get") = (&receiver, name) {
            let [key, default] = args.exactly::<2>("get")?;
            if key.ty() != Type::Str || default.ty() != Type::Str {
                return Err("calls {...}.get with something else than strings".to_owned());
            }
            return Ok(Expr::DictGet {
                dict: dict.clone(),
                key: Box::new(key),
                default: Box::new(default),
            });
        }
        if receiver.ty() != Type::Str {
            return Err(format!(
                "calls .{name}() on {}; only string methods are read",
                receiver.ty()
            ));
        }
        let method = match name {
            "startswith" | "endswith" => {
                let [affixes] = args.exactly::<1>(name)?;
                let affixes = match affixes {
                    Expr::Str(text) => vec![text],
                    Expr::List(items) => items,
                    _ => return Err(format!("calls .{name}() with something else than a string literal or a tuple of them")),
                };
                if name == "startswith" {
                    Method::StartsWith(affixes)
                } else {
                    Method::EndsWith(affixes)
                }
            }
            "replace" => {
                let (positional, count) = args.split_count("replace", 2)?;
                let [from, to]: [Expr; 2] = positional
                    .try_into()
                    .map_err(|_| "calls .replace() without 2 strings".to_owned())?;
                match (from, to) {
                    (Expr::Str(from), Expr::Str(to)) => Method::Replace(from, to, count),
                    _ => {
                        return Err(
                            "calls .replace() with something else than string literals".to_owned()
                        )
                    }
                }
            }
            "lower" | "upper" => {
                args.exactly::<0>(name)?;
                if name == "lower" {
                    Method::Lower
                } else {
                    Method::Upper
                }
            }
            "strip" | "lstrip" | "rstrip" => {
                let how = match name {
                    "strip" => Strip::Both,
                    "lstrip" => Strip::Left,
                    _ => Strip::Right,
                };
                match args.positional.len() {
                    0 if args.keywords.is_empty() => Method::Strip(how, None),
                    1 if args.keywords.is_empty() => match args.positional.into_iter().next() {
                        Some(Expr::Str(chars)) => Method::Strip(how, Some(chars)),
                        _ => {
                            return Err(format!(
                                "calls .{name}() with something else than a string literal"
                            ))
                        }
                    },
                    _ => return Err(format!("calls .{name}() with more than one argument")),
                }
            }
            other => {
                return Err(format!(
                    "calls the method .{other}(), which twinbox does not read"
                ))
            }
        };
        Ok(Expr::Method(Box::new(receiver), method))
    }

    fn atom(&mut self) -> Result<Expr, String> {
        let token = self.next();
        match token {
            Some(Token::Str(text)) => Ok(Expr::Str(text)),
            Some(Token::Name(name)) => match name.as_str() {
                "True" => Ok(Expr::Bool(true)),
                "False" => Ok(Expr::Bool(false)),
                "None" => Ok(Expr::None),
                "re" => self.re_call(),
                _ if self.params.contains(&name) => Ok(Expr::Param(
                    self.params
                        .iter()
                        .position(|p| *p == name)
                        .unwrap_or_default(),
                )),
                _ if KEYWORDS.contains(&name.as_str()) => {
                    Err(format!("has '{name}' where a value should be"))
                }
                _ => Err(format!(
                    "refers to {name:?}, which twinbox does not know (only the lambda's \
                     {}and re)",
                    match self.params.as_slice() {
                        [] => String::new(),
                        [param] => format!("argument {param} "),
                        params => format!("arguments {} ", params.join(", ")),
                    }
                )),
            },
            Some(Token::LParen) => {
                if self.eat(&Token::RParen) {
                    return Ok(Expr::List(Vec::new()));
                }
                let first = self.expression()?;
                if self.eat(&Token::RParen) {
                    return Ok(first);
                }
                // A tuple: only of string literals.
                self.expect(&Token::Comma)?;
                let mut items = vec![first];
                while !self.eat(&Token::RParen) {
                    items.push(self.expression()?);
                    if !self.eat(&Token::Comma) {
                        self.expect(&Token::RParen)?;
                        break;
                    }
                }
                literal_strings(items, "a tuple").map(Expr::List)
            }
            Some(Token::LBracket) => {
                let mut items = Vec::new();
                while !self.eat(&Token::RBracket) {
                    items.push(self.expression()?);
                    if !self.eat(&Token::Comma) {
                        self.expect(&Token::RBracket)?;
                        break;
                    }
                }
                literal_strings(items, "a list").map(Expr::List)
            }
            Some(Token::LBrace) => {
                let mut pairs = Vec::new();
                while !self.eat(&Token::RBrace) {
                    let key = self.expression()?;
                    self.expect(&Token::Colon)?;
                    let value = self.expression()?;
                    match (key, value) {
                        (Expr::Str(key), Expr::Str(value)) => pairs.push((key, value)),
                        _ => {
                            return Err(
                                "has a dict whose keys and values are not all string literals"
                                    .to_owned(),
                            )
                        }
                    }
                    if !self.eat(&Token::Comma) {
                        self.expect(&Token::RBrace)?;
                        break;
                    }
                }
                Ok(Expr::Dict(pairs))
            }
            other => Err(self.unexpected(other.as_ref(), "a value")),
        }
    }

    /// After `re`: `.search(...)`, `.match(...)`, `.fullmatch(...)` or `.sub(...)`.
    fn re_call(&mut self) -> Result<Expr, String> {
        self.expect(&Token::Dot)?;
        let function = match self.next() {
            Some(Token::Name(name)) => name,
            other => return Err(self.unexpected(other.as_ref(), "a re function")),
        };
        let anchor = match function.as_str() {
            "search" | "sub" => Anchor::Anywhere,
            "match" => Anchor::Start,
            "fullmatch" => Anchor::Whole,
            other => {
                return Err(format!(
                    "calls re.{other}, which twinbox does not read (only re.search, re.match, \
                     re.fullmatch and re.sub)"
                ))
            }
        };
        let args = self.call_arguments()?;
        let flags = args.flags(if function == "sub" { 4 } else { 2 })?;
        if function == "sub" {
            let (positional, count) = args.split_count("re.sub", 3)?;
            let [pattern, replacement, arg]: [Expr; 3] = positional.try_into().map_err(|_| {
                "calls re.sub without a pattern, a replacement and a string".to_owned()
            })?;
            let (Expr::Str(pattern), Expr::Str(replacement)) = (pattern, replacement) else {
                return Err(
                    "calls re.sub with a pattern or replacement that is not a string literal"
                        .to_owned(),
                );
            };
            if arg.ty() != Type::Str {
                return Err(format!("calls re.sub on {}; only on strings", arg.ty()));
            }
            let regex = python_re::compile(&pattern, flags, anchor)?;
            let template = python_re::translate_replacement(&replacement)?;
            template.check_groups(&regex, &replacement)?;
            return Ok(Expr::Sub {
                regex,
                template: template.template,
                // Python's count 0 means all, as `replacen`'s does.
                count: count.unwrap_or(0),
                arg: Box::new(arg),
            });
        }
        let unread = args
            .extra
            .iter()
            .any(|(_, argument)| !matches!(argument, Argument::Flags(_)))
            || args.keywords.iter().any(|(name, argument)| {
                !(name == "flags" && matches!(argument, Argument::Flags(_)))
            });
        if unread || args.positional.len() != 2 {
            return Err(format!(
                "calls re.{function} with other arguments than a pattern, a string and flags"
            ));
        }
        let mut positional = args.positional.into_iter();
        let (Some(pattern), Some(arg)) = (positional.next(), positional.next()) else {
            return Err(format!(
                "calls re.{function} without a pattern and a string"
            ));
        };
        let Expr::Str(pattern) = pattern else {
            return Err(format!(
                "calls re.{function} with a pattern that is not a string literal"
            ));
        };
        if arg.ty() != Type::Str {
            return Err(format!(
                "calls re.{function} on {}; only on strings",
                arg.ty()
            ));
        }
        Ok(Expr::Search(
            python_re::compile(&pattern, flags, anchor)?,
            Box::new(arg),
        ))
    }

    /// `( [arg {, arg}] [,] )`, where an arg is an expression, `re.FLAG {| re.FLAG}`, or
    /// `name=...` for `count` and `flags`.
    fn call_arguments(&mut self) -> Result<Arguments, String> {
        self.expect(&Token::LParen)?;
        let mut args = Arguments::default();
        while !self.eat(&Token::RParen) {
            if let (Some(Token::Name(name)), Some(Token::Assign)) = (self.peek(), self.peek_at(1)) {
                let name = name.clone();
                self.at += 2;
                let value = self.argument()?;
                args.keywords.push((name, value));
            } else {
                let value = self.argument()?;
                if !args.keywords.is_empty() {
                    return Err("passes a positional argument after a keyword argument".to_owned());
                }
                match value {
                    Argument::Expr(expr) => args.positional.push(expr),
                    other => args.extra.push((args.positional.len(), other)),
                }
            }
            if !self.eat(&Token::Comma) {
                self.expect(&Token::RParen)?;
                break;
            }
        }
        Ok(args)
    }

    fn argument(&mut self) -> Result<Argument, String> {
        match self.peek() {
            Some(Token::Int(n)) => {
                let n = *n;
                self.at += 1;
                Ok(Argument::Count(n))
            }
            Some(Token::Name(name))
                if name == "re"
                    && matches!(self.peek_at(2), Some(Token::Name(flag)) if flag.chars().all(|c| c.is_ascii_uppercase())) =>
            {
                let mut flags = Flags::default();
                loop {
                    self.expect_keyword("re")?;
                    self.expect(&Token::Dot)?;
                    let flag = match self.next() {
                        Some(Token::Name(flag)) => flag,
                        other => return Err(self.unexpected(other.as_ref(), "a re flag")),
                    };
                    let named = Flags::named(&flag).ok_or_else(|| {
                        format!("uses the flag re.{flag}, which twinbox does not read (re.I, re.M, re.S, re.X)")
                    })?;
                    flags = flags.union(named);
                    if !self.eat(&Token::Pipe) {
                        break;
                    }
                }
                Ok(Argument::Flags(flags))
            }
            _ => self.expression().map(Argument::Expr),
        }
    }
}

enum Argument {
    Expr(Expr),
    Count(usize),
    Flags(Flags),
}

/// The arguments of a call: expressions by position, then counts and flags by position
/// (`extra`, with the number of expressions before them) or keyword.
#[derive(Default)]
struct Arguments {
    positional: Vec<Expr>,
    extra: Vec<(usize, Argument)>,
    keywords: Vec<(String, Argument)>,
}

impl Arguments {
    /// Exactly `N` expressions and nothing else.
    fn exactly<const N: usize>(self, function: &str) -> Result<[Expr; N], String> {
        if !self.extra.is_empty() || !self.keywords.is_empty() {
            return Err(format!(
                "calls {function}() with arguments twinbox does not read"
            ));
        }
        let count = self.positional.len();
        self.positional
            .try_into()
            .map_err(|_| format!("calls {function}() with {count} arguments instead of {N}"))
    }

    /// The flags: a flags argument at position `position` (after that many expressions
    /// and counts) or `flags=`.
    fn flags(&self, position: usize) -> Result<Flags, String> {
        let mut flags = Flags::default();
        for (index, (before, argument)) in self.extra.iter().enumerate() {
            if let Argument::Flags(found) = argument {
                // Counts before it take positions too.
                if before + index != position {
                    return Err(
                        "passes re flags where Python reads another argument (re.sub's 4th \
                         is the count: re.I there means count 2); write flags=re.I"
                            .to_owned(),
                    );
                }
                flags = flags.union(*found);
            }
        }
        for (name, argument) in &self.keywords {
            if let ("flags", Argument::Flags(found)) = (name.as_str(), argument) {
                flags = flags.union(*found);
            }
        }
        Ok(flags)
    }

    /// The expressions (which must be `expressions` many) and the count: a number right
    /// after them, or `count=`. Unknown keywords are refused.
    fn split_count(
        self,
        function: &str,
        expressions: usize,
    ) -> Result<(Vec<Expr>, Option<usize>), String> {
        let mut count = None;
        for (before, argument) in &self.extra {
            match argument {
                Argument::Count(n) if *before == expressions && count.is_none() => count = Some(*n),
                Argument::Flags(_) => {}
                _ => {
                    return Err(format!(
                        "calls {function}() with arguments twinbox does not read"
                    ))
                }
            }
        }
        for (name, argument) in &self.keywords {
            match (name.as_str(), argument) {
                ("count", Argument::Count(n)) => count = Some(*n),
                ("flags", Argument::Flags(_)) => {}
                _ => {
                    return Err(format!(
                        "calls {function}() with the argument {name}=, which twinbox does not read"
                    ))
                }
            }
        }
        if self.positional.len() != expressions {
            return Err(format!(
                "calls {function}() with {} arguments instead of {expressions}",
                self.positional.len()
            ));
        }
        Ok((self.positional, count))
    }
}

fn literal_strings(items: Vec<Expr>, what: &str) -> Result<Vec<String>, String> {
    items
        .into_iter()
        .map(|item| match item {
            Expr::Str(text) => Ok(text),
            _ => Err(format!(
                "has {what} whose items are not all string literals"
            )),
        })
        .collect()
}
