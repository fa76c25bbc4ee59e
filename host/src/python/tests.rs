//! Each form the lambda reader accepts, the real-world examples of OfflineIMAP's
//! documentation and users, and what it refuses.

use super::{parse_string_list, Lambda, Signature, Type};

/// A lambda of one argument, as `folderfilter` and `nametrans` are.
#[derive(Debug)]
struct OneArgument(Lambda);

impl OneArgument {
    fn test(&self, name: &str) -> bool {
        self.0.test(&[name])
    }

    fn translate(&self, name: &str) -> String {
        self.0.translate(&[name])
    }
}

fn one_argument(gives: Type) -> Signature {
    Signature {
        params: &["foldername"],
        gives,
    }
}

#[track_caller]
fn filter(text: &str) -> OneArgument {
    OneArgument(
        Lambda::parse(text, one_argument(Type::Truth)).unwrap_or_else(|e| panic!("{text}: {e}")),
    )
}

#[track_caller]
fn nametrans(text: &str) -> OneArgument {
    OneArgument(
        Lambda::parse(text, one_argument(Type::Str)).unwrap_or_else(|e| panic!("{text}: {e}")),
    )
}

#[track_caller]
fn refused(text: &str, want: Type) -> String {
    match Lambda::parse(text, one_argument(want)) {
        Ok(lambda) => panic!("{text} was read: {lambda:?}"),
        Err(error) => {
            assert!(!error.contains('\n'), "{error}");
            error
        }
    }
}

#[test]
fn constants() {
    assert!(filter("lambda f: True").test("INBOX"));
    assert!(!filter("lambda f: False").test("INBOX"));
    assert!(!filter("lambda f: None").test("INBOX"));
    assert!(filter("lambda folder: folder").test("INBOX"));
    assert_eq!(nametrans("lambda f: f").translate("a.b"), "a.b");
    assert_eq!(nametrans("lambda f: 'x'").translate("a"), "x");
}

#[test]
fn membership_in_lists_and_tuples() {
    let only = filter("lambda f: f in ['INBOX', \"Sent\"]");
    assert!(only.test("INBOX") && only.test("Sent") && !only.test("Trash"));
    let except = filter("lambda f: f not in ('Trash', 'Spam',)");
    assert!(except.test("INBOX") && !except.test("Trash") && !except.test("Spam"));
    let single = filter("lambda f: f not in ('Trash',)");
    assert!(!single.test("Trash"));
    let empty = filter("lambda f: f in []");
    assert!(!empty.test("INBOX"));
    // A substring, and `not (x in ...)`.
    let substring = filter("lambda f: 'Del' in f");
    assert!(substring.test("Deleted") && !substring.test("Trash"));
    assert!(filter("lambda f: not f in ['Trash']").test("INBOX"));
}

#[test]
fn string_literals_and_escapes() {
    let escaped = filter(
        r#"lambda f: f in ['It\'s', "say \"hi\"", 'tab\there', 'back\\slash', '\x41\u00e9']"#,
    );
    for name in ["It's", "say \"hi\"", "tab\there", "back\\slash", "A\u{e9}"] {
        assert!(escaped.test(name), "{name}");
    }
    // An unknown escape keeps its backslash, as in Python: '\.' is two characters.
    assert!(filter(r"lambda f: f == 'a\.b'").test(r"a\.b"));
    // Raw strings, u prefixes, adjacent literals.
    assert!(filter(r"lambda f: f == r'a\.b'").test(r"a\.b"));
    assert!(filter("lambda f: f == u'Entw\u{fc}rfe'").test("Entw\u{fc}rfe"));
    assert!(filter("lambda f: f == 'IN' \"BOX\"").test("INBOX"));
    // Triple quotes, as header = """...""" reads them too.
    assert!(filter("lambda f: f == '''a'b''' + \"\"\"c\"\"\"").test("a'bc"));
}

#[test]
fn comparisons_and_string_methods() {
    assert!(filter("lambda f: f == 'INBOX'").test("INBOX"));
    assert!(filter("lambda f: f != 'INBOX'").test("Sent"));
    let prefix = filter("lambda f: f.startswith('[Gmail]')");
    assert!(prefix.test("[Gmail]/Sent") && !prefix.test("INBOX"));
    let any = filter("lambda f: f.endswith(('Spam', 'Junk'))");
    assert!(any.test("Lists/Spam") && any.test("Junk") && !any.test("INBOX"));
    assert_eq!(nametrans("lambda f: f.lower()").translate("INBOX"), "inbox");
    assert_eq!(nametrans("lambda f: f.upper()").translate("inbox"), "INBOX");
    assert_eq!(
        nametrans("lambda f: f.replace('.', '/')").translate("a.b.c"),
        "a/b/c"
    );
    assert_eq!(
        nametrans("lambda f: f.replace('.', '/', 1)").translate("a.b.c"),
        "a/b.c"
    );
    assert_eq!(nametrans("lambda f: f.strip('.')").translate(".a."), "a");
    assert_eq!(nametrans("lambda f: f.lstrip()").translate("  a "), "a ");
    assert_eq!(
        nametrans("lambda f: 'INBOX.' + f").translate("Sent"),
        "INBOX.Sent"
    );
}

#[test]
fn boolean_operators_and_parentheses() {
    let both = filter("lambda f: f != 'Trash' and not f.startswith('Old') or f == 'Old/Keep'");
    assert!(both.test("INBOX"));
    assert!(!both.test("Trash"));
    assert!(!both.test("Old/Junk"));
    assert!(both.test("Old/Keep"));
    // True and False compare with what gives them.
    let old = filter("lambda f: f.startswith('Old') == False and (f in ['a']) != True");
    assert!(old.test("INBOX") && !old.test("Old/Junk") && !old.test("a"));
    let grouped = filter("lambda f: not (f == 'a' or f == 'b')");
    assert!(!grouped.test("a") && !grouped.test("b") && grouped.test("c"));
    // `or` on strings gives a string, as in Python.
    assert_eq!(
        nametrans("lambda f: f.strip('.') or 'INBOX'").translate("."),
        "INBOX"
    );
}

#[test]
fn regular_expressions() {
    let search = filter(r"lambda f: re.search(r'(^Trash$|Del)', f)");
    assert!(search.test("Trash") && search.test("Deleted") && search.test("ToDel"));
    assert!(!search.test("Trash2") && !search.test("INBOX"));
    // re.match is anchored at the start only.
    let matched = filter("lambda f: re.match('Lists', f)");
    assert!(matched.test("Lists/rust") && !matched.test("Old/Lists"));
    let full = filter("lambda f: re.fullmatch('Lists', f)");
    assert!(full.test("Lists") && !full.test("Lists/rust"));
    // Flags as a third argument, or'ed, or by keyword.
    assert!(filter("lambda f: re.search('trash', f, re.I)").test("Trash"));
    assert!(filter("lambda f: re.search('^trash$', f, re.IGNORECASE | re.M)").test("TRASH"));
    assert!(filter("lambda f: re.match('trash', f, flags=re.I)").test("Trash"));
    assert!(!filter("lambda f: re.search('trash', f)").test("Trash"));
}

#[test]
fn substitutions() {
    assert_eq!(
        nametrans(r"lambda foldername: re.sub(r'^INBOX\.', '', foldername)")
            .translate("INBOX.Sent"),
        "Sent"
    );
    // Without the r prefix '\.' is still backslash-dot (Python keeps unknown escapes).
    assert_eq!(
        nametrans(r"lambda f: re.sub('^INBOX\.', '', f)").translate("INBOX.Sent"),
        "Sent"
    );
    assert_eq!(
        nametrans(r"lambda foldername: re.sub(r'^INBOX\.*', '.', foldername)")
            .translate("INBOX.Sent"),
        ".Sent"
    );
    assert_eq!(
        nametrans(r"lambda f: re.sub(r'(\w+)\.(\w+)', r'\2.\1', f)").translate("a.b"),
        "b.a"
    );
    assert_eq!(
        nametrans(r"lambda f: re.sub(r'(?P<x>\w+)-(\w+)', r'\g<2>-\g<x>', f)").translate("a-b"),
        "b-a"
    );
    assert_eq!(
        nametrans("lambda f: re.sub('a', 'b', f, 1)").translate("aaa"),
        "baa"
    );
    assert_eq!(
        nametrans("lambda f: re.sub('a', 'b', f, count=2)").translate("aaa"),
        "bba"
    );
    assert_eq!(
        nametrans("lambda f: re.sub('A', 'b', f, flags=re.I)").translate("aA"),
        "bb"
    );
    assert_eq!(
        nametrans("lambda f: re.sub('A', 'b', f, 0, re.I)").translate("aA"),
        "bb"
    );
    assert_eq!(
        nametrans("lambda f: re.sub('^', 'INBOX.', f)").translate("Sent"),
        "INBOX.Sent"
    );
    assert_eq!(
        nametrans("lambda f: re.sub('x', '$1', f)").translate("x"),
        "$1"
    );
}

#[test]
fn chains_and_conditionals() {
    let chain = nametrans("lambda f: re.sub('a', 'b', re.sub('c', 'd', f))");
    assert_eq!(chain.translate("ac"), "bd");
    let conditional = nametrans("lambda f: 'INBOX.' + f if f != 'INBOX' else f");
    assert_eq!(conditional.translate("INBOX"), "INBOX");
    assert_eq!(conditional.translate("Sent"), "INBOX.Sent");
    let nested = nametrans("lambda f: 'a' if f == '1' else 'b' if f == '2' else f");
    assert_eq!(nested.translate("1"), "a");
    assert_eq!(nested.translate("2"), "b");
    assert_eq!(nested.translate("3"), "3");
}

#[test]
fn dict_lookups() {
    let gmail = nametrans(
        "lambda folder: {'[Gmail]/All Mail': 'archive',\n  '[Gmail]/Sent Mail': 'sent',\n  \
         '[Gmail]/Trash': 'trash',\n}.get(folder, folder)",
    );
    assert_eq!(gmail.translate("[Gmail]/All Mail"), "archive");
    assert_eq!(gmail.translate("INBOX"), "INBOX");
    assert!(filter("lambda f: f in {'a': 'b'}").test("a"));
}

/// Examples from OfflineIMAP's offlineimap.conf, its nametrans documentation, and users'
/// posts (multi-line values as the INI reader joins them, with `\n`).
#[test]
fn real_world_examples() {
    let docs_filter = filter(
        "lambda foldername: foldername in [\n'INBOX', 'Sent Mail',\n'Deleted Items', 'Received']",
    );
    assert!(docs_filter.test("Sent Mail") && !docs_filter.test("Drafts"));
    let continued = filter(
        "lambda foldername: foldername in\n['INBOX', 'Sent Mail', 'Deleted Items',\n'Received']",
    );
    assert!(continued.test("Received"));
    let backslash = filter("lambda foldername: foldername not in \\\n['Trash']");
    assert!(!backslash.test("Trash"));

    // Chris Dennis on the OfflineIMAP list (2012): a pair of chained re.sub.
    let local = nametrans(
        "lambda foldername: re.sub ('^Junk E-mail$', 'Spam',\nre.sub ('^Deleted Items$', 'Trash',\nfoldername))",
    );
    let remote = nametrans(
        "lambda foldername: re.sub ('^Spam$', 'Junk E-mail',\nre.sub ('^Trash$', 'Deleted Items',\nfoldername))",
    );
    for name in ["Spam", "Trash", "INBOX"] {
        assert_eq!(local.translate(&remote.translate(name)), name);
    }
    assert_eq!(remote.translate("Spam"), "Junk E-mail");

    // The Gmail recipe of the nametrans documentation.
    let gmail = nametrans(
        "lambda folder: re.sub('.*Spam$', 'spam', re.sub('.*Drafts$', 'drafts',\n\
         re.sub('.*Sent Mail$', 'sent', re.sub('.*Starred$', 'flagged',\n\
         re.sub('.*Trash$', 'trash', re.sub('.*All Mail$', 'archive', folder))))))",
    );
    assert_eq!(gmail.translate("[Gmail]/Sent Mail"), "sent");
    assert_eq!(gmail.translate("[Gmail]/All Mail"), "archive");
    assert_eq!(gmail.translate("INBOX"), "INBOX");

    // rigacci.org's IMAP -> Maildir mapping (with a method call and concatenation).
    let rigacci = nametrans(
        "lambda foldername: re.sub(\n r'^\\.INBOX$', '',\n '.' + re.sub(\n r'^INBOX/', '',\n \
         foldername.replace('.', '_')\n )\n )",
    );
    assert_eq!(rigacci.translate("INBOX/M.T.T."), ".M_T_T_");
    assert_eq!(rigacci.translate("INBOX"), "");
    assert_eq!(rigacci.translate("Archives/2013"), ".Archives/2013");

    let no_trash = filter(r"lambda foldername: not re.search(r'(^Trash$|Del)', foldername)");
    assert!(no_trash.test("INBOX") && !no_trash.test("Trash"));
    let comment = filter("lambda f: f not in ['Trash', # the bin\n 'Spam']");
    assert!(!comment.test("Spam"));
}

#[test]
fn folderincludes_lists() {
    assert_eq!(
        parse_string_list("['debian.user', 'debian.personal']").unwrap(),
        ["debian.user", "debian.personal"]
    );
    assert_eq!(parse_string_list("('a',)").unwrap(), ["a"]);
    assert!(parse_string_list("[]").unwrap().is_empty());
    assert!(parse_string_list("'a'").is_err());
    assert!(parse_string_list("['a', f]").is_err());
}

#[test]
fn anything_else_is_refused_with_a_reason() {
    let mut wrong = Vec::new();
    for (text, want, reason) in [
        ("f in ['a']", Type::Truth, "'lambda'"),
        ("lambda: True", Type::Truth, "argument name"),
        ("lambda f, g: True", Type::Truth, "','"),
        ("lambda f: os.system('rm -rf ~')", Type::Truth, "\"os\""),
        ("lambda f: __import__('os')", Type::Truth, "\"__import__\""),
        ("lambda f: g in ['a']", Type::Truth, "\"g\""),
        ("lambda f: f in [x for x in 'ab']", Type::Truth, "\"x\""),
        (
            "lambda f: f in ['a', f]",
            Type::Truth,
            "not all string literals",
        ),
        ("lambda f: f[0] == 'a'", Type::Truth, "'['"),
        ("lambda f: f == True", Type::Truth, "compares strings only"),
        (
            "lambda f: re.search('a', f) == True",
            Type::Truth,
            "a match or None",
        ),
        ("lambda f: f < 'b'", Type::Truth, "'<'"),
        ("lambda f: f == 'a' == f", Type::Truth, "chains"),
        ("lambda f: f.split('.')", Type::Truth, ".split()"),
        (
            "lambda f: re.compile('a').search(f)",
            Type::Truth,
            "re.compile",
        ),
        (
            "lambda f: re.search(f, 'a')",
            Type::Truth,
            "not a string literal",
        ),
        (
            "lambda f: re.search('(?<=a)b', f)",
            Type::Truth,
            "look-around",
        ),
        ("lambda f: re.search('a', f, re.L)", Type::Truth, "re.L"),
        (
            "lambda f: re.search('a', f, 2)",
            Type::Truth,
            "other arguments",
        ),
        ("lambda f: re.sub('a', 'b', f, re.I)", Type::Str, "count"),
        ("lambda f: re.sub('(a)', r'\\2', f)", Type::Str, "group 2"),
        ("lambda f: f in ['a'", Type::Truth, "']'"),
        ("lambda f: f == 'a", Type::Truth, "never closed"),
        ("lambda f: f == f'{f}'", Type::Truth, "f-string"),
        ("lambda f: f in ['a'] extra", Type::Truth, "should end"),
        ("lambda f: f in ['a']", Type::Str, "must give a string"),
        (
            "lambda f: f if f == 'a' else False",
            Type::Str,
            "must give a string",
        ),
        (
            "lambda f: 1 + f",
            Type::Str,
            "has 1 where a value should be",
        ),
        ("lambda f: f * 2", Type::Str, "'*'"),
    ] {
        let error = refused(text, want);
        if !error.contains(reason) {
            wrong.push(format!("{text}: {error}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn lambdas_of_several_arguments() {
    let two = Signature {
        params: &["accountname", "foldername"],
        gives: Type::Str,
    };
    let lambda = Lambda::parse("lambda acc, f: acc + '/' + f", two).unwrap();
    assert_eq!(lambda.translate(&["Work", "INBOX"]), "Work/INBOX");
    for (text, reason) in [
        (
            "lambda f: f",
            "has ':' where ',' should be; the lambda takes two arguments",
        ),
        ("lambda a, f, g: f", "has ',' where ':' should be"),
        ("lambda a, a: a", "names two arguments a"),
        ("lambda a, f: g", "the lambda's arguments a, f and re"),
        (
            "mbnames_folderfilter",
            "write lambda accountname, foldername: ...",
        ),
    ] {
        let error = Lambda::parse(text, two).unwrap_err();
        assert!(error.contains(reason), "{text}: {error}");
    }
}
