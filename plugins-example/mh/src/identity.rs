//! What makes a message the same message when its file changed: its *identity*.
//!
//! Numbers are UIDs, so the plugin must notice when a number starts naming another
//! message (`folder -pack`, `sortm`, or a number freed by `rmm` and taken by `inc`). It
//! compares identities, not whole files, because nmh edits messages in place: `anno`
//! (and `repl -annotate`, `forw -annotate`, `dist -annotate`) adds a header field to the
//! message file. So the identity is an MD5 of the `Message-ID` field's value and of the
//! body (everything after the header's blank line): an annotation changes neither, while
//! two different messages, even two copies of one mail through a list and directly, almost
//! always differ in one of them.

/// A message's identity: see the module documentation.
pub(crate) type Identity = [u8; 16];

/// The identity of a message file's bytes.
pub(crate) fn identity(message: &[u8]) -> Identity {
    let (header, body) = split_header(message);
    let mut context = md5::Context::new();
    match message_id(header) {
        Some(id) => {
            context.consume(b"message-id:");
            context.consume(&id);
        }
        None => context.consume(b"no message-id"),
    }
    context.consume(b"\n");
    context.consume(body);
    context.compute().0
}

/// The header (up to and including the newline before the blank line) and the body
/// (after the blank line). A message without a blank line is all header.
fn split_header(message: &[u8]) -> (&[u8], &[u8]) {
    if message.starts_with(b"\n") {
        return (&[], &message[1..]);
    }
    if message.starts_with(b"\r\n") {
        return (&[], &message[2..]);
    }
    let mut index = 0;
    while let Some(offset) = message[index..].iter().position(|&b| b == b'\n') {
        let end = index + offset + 1;
        let rest = &message[end..];
        if rest.starts_with(b"\n") {
            return (&message[..end], &rest[1..]);
        }
        if rest.starts_with(b"\r\n") {
            return (&message[..end], &rest[2..]);
        }
        index = end;
    }
    (message, &[])
}

/// The unfolded value of the first `Message-ID` field, whitespace collapsed.
fn message_id(header: &[u8]) -> Option<Vec<u8>> {
    let mut lines = header.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if !line[..colon]
            .trim_ascii_end()
            .eq_ignore_ascii_case(b"message-id")
        {
            continue;
        }
        let mut value = line[colon + 1..].to_vec();
        while let Some(next) = lines.peek() {
            if !matches!(next.first(), Some(b' ' | b'\t')) {
                break;
            }
            value.push(b' ');
            value.extend_from_slice(next);
            lines.next();
        }
        let words: Vec<&[u8]> = value
            .split(|b| b.is_ascii_whitespace())
            .filter(|word| !word.is_empty())
            .collect();
        return Some(words.join(&b' '));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_keep_the_identity_and_other_messages_differ() {
        let original = b"From: a@example.org\nMessage-ID: <1@example.org>\n\nHello\n\nworld\n";
        let annotated = b"Replied: Mon, 01 Jan 2024 00:00:00 +0000\nFrom: a@example.org\nMessage-ID:\n  <1@example.org>\n\nHello\n\nworld\n";
        assert_eq!(identity(original), identity(annotated));

        let other_body = b"From: a@example.org\nMessage-ID: <1@example.org>\n\nHello\n";
        let other_id = b"From: a@example.org\nMessage-ID: <2@example.org>\n\nHello\n\nworld\n";
        let no_id = b"From: a@example.org\n\nHello\n\nworld\n";
        for other in [&other_body[..], other_id, no_id] {
            assert_ne!(identity(original), identity(other));
        }
        // Without a Message-ID the body decides.
        assert_eq!(identity(no_id), identity(b"Subject: x\n\nHello\n\nworld\n"));
    }

    #[test]
    fn headers_and_bodies_are_split_at_the_first_blank_line() {
        assert_eq!(
            split_header(b"A: 1\n\nbody\n\n"),
            (&b"A: 1\n"[..], &b"body\n\n"[..])
        );
        assert_eq!(
            split_header(b"A: 1\r\n\r\nbody"),
            (&b"A: 1\r\n"[..], &b"body"[..])
        );
        assert_eq!(split_header(b"\nbody"), (&b""[..], &b"body"[..]));
        assert_eq!(split_header(b"A: 1\nB: 2"), (&b"A: 1\nB: 2"[..], &b""[..]));
        assert_eq!(
            message_id(b"message-ID :  <x@y>\r\n"),
            Some(b"<x@y>".to_vec())
        );
        assert_eq!(message_id(b"X-Message-ID: <x@y>\n"), None);
    }
}
