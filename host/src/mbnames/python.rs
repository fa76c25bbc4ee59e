//! The two pieces of Python that `[mbnames]` values use besides expressions:
//! `%`-formatting with a dict (`peritem`) and `os.path.expandvars` (`filename`). String
//! literals (`header = "mailboxes "`) and the `folderfilter` lambda are
//! [`crate::python`]'s.
//!
//! OfflineIMAP hands these values to `eval` and `%`; we never run Python, so we read the
//! literal forms people write and refuse anything else with the reason, rather than guess
//! what an expression would have produced.

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
