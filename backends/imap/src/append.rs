//! APPEND of a batch of messages, with as few round trips as the server allows.
//!
//! A plain APPEND costs two round trips per message: the command line announces the
//! literal and waits for the server's `+`, then the message goes and waits for the tagged
//! answer. Two extensions remove the waits:
//!
//! - **LITERAL+** (RFC 7888): a literal announced as `{n+}` is sent at once, so the
//!   commands of a whole batch go out back to back and their answers are read afterwards.
//! - **MULTIAPPEND** (RFC 3502): one APPEND carries many messages, which the server stores
//!   all or none (Dovecot in one transaction, so one fsync for the batch).
//!
//! With both, a batch costs one round trip; with MULTIAPPEND alone, one per message plus
//! one (a `+` for each literal, but a single command); with LITERAL+ alone, one for the
//! batch; with neither, two per message, as before. UIDPLUS's APPENDUID names the new UIDs
//! in the order of the messages (RFC 4315, a set like `7:9` for a MULTIAPPEND).

use crate::connection::{Answer, CommandError, ImapSession};
use crate::link::{Kind, Literals, Response};
use crate::wire::quoted;

/// Messages per MULTIAPPEND command: the engine's batches are smaller; this bounds what a
/// server must take in one transaction if a caller sends more.
const MESSAGES_PER_COMMAND: usize = 500;
/// Bytes per MULTIAPPEND command (a command holds at least one message, whatever its
/// size).
const BYTES_PER_COMMAND: usize = 32 << 20;

/// One message to append: its bytes as stored, its flag atoms, and its date in IMAP's
/// `date-time` form (`01-Jan-1970 00:00:00 +0000`) or `None` for the server's own.
pub(crate) struct Outgoing<'a> {
    pub bytes: &'a [u8],
    pub flags: Vec<String>,
    pub date: Option<String>,
}

/// How a batch is sent; chosen from the server's capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AppendMode {
    /// Several messages per APPEND (MULTIAPPEND).
    pub multi: bool,
    /// Literals sent without waiting for `+` (LITERAL+).
    pub literal_plus: bool,
}

impl AppendMode {
    pub fn of(session: &ImapSession) -> AppendMode {
        AppendMode {
            multi: session.has("MULTIAPPEND"),
            literal_plus: session.has("LITERAL+"),
        }
    }
}

/// The APPENDUID of a tagged OK: the UIDVALIDITY and, one per message appended, the new
/// UIDs in the order of the messages; `None` if there is none, it does not parse, or it
/// does not name exactly `count` UIDs.
pub(crate) fn append_uids(tagged: &[u8], count: usize) -> Option<(u32, Vec<u32>)> {
    let text = std::str::from_utf8(tagged).ok()?;
    let upper = text.to_ascii_uppercase();
    let start = upper.find("[APPENDUID ")? + "[APPENDUID ".len();
    let end = start + text[start..].find(']')?;
    let mut words = text[start..end].split_whitespace();
    let validity: u32 = words.next()?.parse().ok()?;
    let set = words.next()?;
    if words.next().is_some() {
        return None;
    }
    let mut uids = Vec::with_capacity(count);
    for member in set.split(',') {
        let (first, last) = match member.split_once(':') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let uid = member.parse::<u32>().ok()?;
                (uid, uid)
            }
        };
        // UIDs are given out in ascending order, so a range names them from its low end
        // whichever way it is written.
        let (low, high) = (first.min(last), first.max(last));
        // `uids.len() <= count` here; a wider range is wrong (and not expanded).
        if low == 0 || (high - low) as usize >= count - uids.len() {
            return None;
        }
        uids.extend(low..=high);
        if uids.len() > count {
            return None;
        }
    }
    (uids.len() == count).then_some((validity, uids))
}

impl ImapSession {
    /// Appends `messages` to the mailbox `mailbox` (encoded, unquoted) in order; returns
    /// for each its APPENDUID (UIDVALIDITY, UID) if the server sent one. A refusal of any
    /// command is an error once every answer is in (the others may have been stored: the
    /// engine finds those by content).
    pub fn append_batch(
        &mut self,
        mailbox: &str,
        messages: &[Outgoing<'_>],
        mode: AppendMode,
    ) -> Result<Vec<Option<(u32, u32)>>, CommandError> {
        let mailbox = quoted(mailbox);
        let commands = command_ranges(messages, mode);
        let mut tags = Vec::with_capacity(commands.len());
        let mut answers: Vec<Answer> = Vec::with_capacity(commands.len());
        for range in &commands {
            let tag = self.send_append(&mailbox, &messages[range.clone()], mode)?;
            match tag {
                Sent::Waiting(tag) => tags.push(tag),
                Sent::Answered(answer) => answers.push(answer),
            }
        }
        if mode.literal_plus {
            let flushed = self.link()?.flush();
            flushed.map_err(|e| self.broke(e))?;
            // Untagged answers (EXISTS, RECENT) are not needed: APPENDUID says it all.
            answers = self.answers(&tags, Literals::Inline, |_, _| {})?;
        }

        let counts: Vec<usize> = commands.iter().map(|range| range.len()).collect();
        appended_uids(&counts, answers)
    }

    /// Starts appending `messages` (LITERAL+ only: nothing is awaited): writes every
    /// command of the batch and sends them. Returns each command's tag with the number
    /// of its messages; the caller reads the answers later and gives them to
    /// [`appended_uids`].
    pub fn start_append_batch(
        &mut self,
        mailbox: &str,
        messages: &[Outgoing<'_>],
        mode: AppendMode,
    ) -> Result<Vec<(String, usize)>, CommandError> {
        debug_assert!(mode.literal_plus);
        let mailbox = quoted(mailbox);
        let mut started = Vec::new();
        for range in command_ranges(messages, mode) {
            match self.send_append(&mailbox, &messages[range.clone()], mode)? {
                Sent::Waiting(tag) => started.push((tag, range.len())),
                Sent::Answered(_) => return Err(self.out_of_step("APPEND answered at once")),
            }
        }
        log::debug!(
            "{}: sent ahead: {} x APPEND of {} messages",
            self.server(),
            started.len(),
            messages.len()
        );
        let flushed = self.link()?.flush();
        flushed.map_err(|e| self.broke(e))?;
        Ok(started)
    }

    /// Writes one APPEND of `messages` (one, or several with MULTIAPPEND). With LITERAL+
    /// nothing is awaited and the command stays in the write buffer; otherwise each
    /// literal waits for the server's `+` and the command's answer is read here.
    fn send_append(
        &mut self,
        mailbox: &str,
        messages: &[Outgoing<'_>],
        mode: AppendMode,
    ) -> Result<Sent, CommandError> {
        let link = self.link()?;
        let tag = link.tag();
        let mut head = format!("{tag} APPEND {mailbox}");
        for message in messages {
            head.push_str(" (");
            head.push_str(&message.flags.join(" "));
            head.push(')');
            if let Some(date) = &message.date {
                head.push_str(" \"");
                head.push_str(date);
                head.push('"');
            }
            let plus = if mode.literal_plus { "+" } else { "" };
            head.push_str(&format!(" {{{}{plus}}}\r\n", message.bytes.len()));
            let written = self.link()?.write(head.as_bytes());
            written.map_err(|e| self.broke(e))?;
            head.clear();
            if !mode.literal_plus {
                if let Some(answer) = self.await_continuation(&tag)? {
                    // Refused before the literal (too big, no such mailbox): the
                    // command is over, the connection still in step.
                    return Ok(Sent::Answered(answer));
                }
            }
            let written = self.link()?.write(message.bytes);
            written.map_err(|e| self.broke(e))?;
        }
        let written = self.link()?.write(b"\r\n");
        written.map_err(|e| self.broke(e))?;
        if mode.literal_plus {
            return Ok(Sent::Waiting(tag));
        }
        let flushed = self.link()?.flush();
        flushed.map_err(|e| self.broke(e))?;
        let mut answers = self.answers(&[tag], Literals::Inline, |_, _| {})?;
        match answers.pop() {
            Some(answer) => Ok(Sent::Answered(answer)),
            None => Err(self.out_of_step("no answer to APPEND")),
        }
    }

    /// Sends what is buffered and reads until the server asks for the literal (`None`) or
    /// answers the command `tag` instead (its answer).
    fn await_continuation(&mut self, tag: &str) -> Result<Option<Answer>, CommandError> {
        let flushed = self.link()?.flush();
        flushed.map_err(|e| self.broke(e))?;
        let mut response = Response::default();
        loop {
            self.read(Literals::Inline, &mut response)?;
            match response.kind() {
                Kind::Continuation => return Ok(None),
                Kind::Untagged => {}
                Kind::Tagged(t) if t == tag => match self.answer(&response)? {
                    Ok(_) => return Err(self.out_of_step("APPEND done before its literal")),
                    refused => return Ok(Some(refused)),
                },
                Kind::Tagged(t) => return Err(self.out_of_step(&format!("an answer tagged {t:?}"))),
            }
        }
    }
}

/// The messages of each APPEND command of a batch, as ranges of `messages`: one per
/// message without MULTIAPPEND, else as many as the bounds allow.
fn command_ranges(messages: &[Outgoing<'_>], mode: AppendMode) -> Vec<std::ops::Range<usize>> {
    let mut commands = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, message) in messages.iter().enumerate() {
        let full =
            i - start >= MESSAGES_PER_COMMAND || bytes + message.bytes.len() > BYTES_PER_COMMAND;
        if i > start && (!mode.multi || full) {
            commands.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += message.bytes.len();
    }
    if start < messages.len() {
        commands.push(start..messages.len());
    }
    commands
}

/// For the APPEND commands of a batch, which held `counts` messages each, and their
/// `answers`: each message's APPENDUID (UIDVALIDITY, UID) if the server sent one, or the
/// first refusal once every answer is in (the others may have been stored: the engine
/// finds those by content).
pub(crate) fn appended_uids(
    counts: &[usize],
    answers: Vec<Answer>,
) -> Result<Vec<Option<(u32, u32)>>, CommandError> {
    let mut uids = Vec::with_capacity(counts.iter().sum());
    let mut refusal = None;
    for (count, answer) in counts.iter().zip(answers) {
        match answer {
            Ok(tagged) => match append_uids(&tagged, *count) {
                Some((validity, new)) => {
                    uids.extend(new.into_iter().map(|uid| Some((validity, uid))))
                }
                None => uids.extend((0..*count).map(|_| None)),
            },
            Err(text) => {
                refusal.get_or_insert(text);
                uids.extend((0..*count).map(|_| None));
            }
        }
    }
    match refusal {
        Some(text) => Err(CommandError::Refused(text)),
        None => Ok(uids),
    }
}

/// An APPEND written: waiting for its answer (LITERAL+), or answered already.
enum Sent {
    Waiting(String),
    Answered(Answer),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appenduid_names_the_uids_in_order() {
        assert_eq!(
            append_uids(b"t1 OK [APPENDUID 38505 3955] APPEND completed\r\n", 1),
            Some((38505, vec![3955]))
        );
        assert_eq!(
            append_uids(b"t1 OK [APPENDUID 7 10:12,20] done\r\n", 4),
            Some((7, vec![10, 11, 12, 20]))
        );
        assert_eq!(
            append_uids(b"t1 ok [appenduid 7 12:10] done\r\n", 3),
            Some((7, vec![10, 11, 12]))
        );
        // Too few, too many, garbage, none: no UIDs rather than wrong ones.
        assert_eq!(append_uids(b"t1 OK [APPENDUID 7 10:12] x\r\n", 4), None);
        assert_eq!(append_uids(b"t1 OK [APPENDUID 7 10:12] x\r\n", 2), None);
        assert_eq!(
            append_uids(b"t1 OK [APPENDUID 7 1:4294967295] x\r\n", 2),
            None
        );
        assert_eq!(append_uids(b"t1 OK [APPENDUID 7 0] x\r\n", 1), None);
        assert_eq!(append_uids(b"t1 OK [APPENDUID x 1] x\r\n", 1), None);
        assert_eq!(append_uids(b"t1 OK done\r\n", 1), None);
    }
}
