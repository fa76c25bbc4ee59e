//! The Python that OfflineIMAP users write in their configuration, read by a parser of our
//! own and evaluated without Python.
//!
//! # Why a parser of our own
//!
//! OfflineIMAP `eval`s the repositories' `folderfilter`, `nametrans` and `folderincludes`
//! and `[mbnames]`'s `folderfilter`, `header`, `sep` and `footer`, so a config may hold
//! any Python; in practice people write a handful of forms (its documentation's
//! examples and their variations). We read those and refuse the rest with one line that
//! says what is read, because guessing at the meaning of a filter would sync folders the
//! user excluded. What is read:
//!
//! - `lambda NAME, ...: EXPR` of as many arguments as the option is given (a folder name
//!   for `folderfilter` and `nametrans`; the account and folder names for `[mbnames]
//!   folderfilter`), named as the user likes;
//! - string literals in single, double or triple quotes, with `r`/`u` prefixes, Python's
//!   escapes (an unknown escape such as `\.` keeps its backslash, as in Python), and
//!   adjacent literals joined; `True`, `False`, `None`;
//! - lists and tuples of string literals; dicts of them with `.get(KEY, DEFAULT)`;
//! - `==`, `!=` (of strings, or of `True`/`False` with what gives them:
//!   `f.startswith('x') == False`), `in`, `not in` (in a list, or a substring), `and`, `or`,
//!   `not`, `A if COND else B`, parentheses, `+` on strings;
//! - `re.search`, `re.match`, `re.fullmatch` `(pattern, string[, flags])` and
//!   `re.sub` `(pattern, replacement, string[, count[, flags]])` with literal pattern and
//!   replacement; flags as `re.I`, `re.IGNORECASE`, ... joined with `|`, also as
//!   `flags=` and `count=` keywords;
//! - the string methods `startswith`, `endswith` (a string or a tuple of them),
//!   `replace`, `lower`, `upper`, `strip`, `lstrip`, `rstrip`.
//!
//! `header`, `sep` and `footer` are string literals alone ([`string_expression`]), read by
//! the same reader as the literals inside a lambda.
//!
//! # Checked when read, safe when run
//!
//! Types are checked when the option is read, so evaluating never fails: a filter yields
//! a truth value, a translation a string. Patterns are translated to the `regex` crate
//! ([`re`]) when read, so a pattern it cannot match as Python would is refused then, not
//! when a folder's name happens to reach it.

mod lambda;
/// Tokens, with the string literals of [`literal`].
mod lexer;
mod literal;
/// Python's `re` patterns and templates for the `regex` crate.
mod re;

pub use lambda::{parse_string_list, Lambda, Signature, Type, SUPPORTED};
pub use literal::string_expression;

#[cfg(test)]
mod tests;
