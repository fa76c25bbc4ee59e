//! Changes since a MODSEQ (`Folder::list_changes`), by the best tier the server offers:
//!
//! - **QRESYNC** (Dovecot, Cyrus): `ENABLE QRESYNC` once per connection, then
//!   `UID FETCH 1:* (UID FLAGS RFC822.SIZE) (CHANGEDSINCE m VANISHED)`: the messages changed
//!   since `m` and, in `* VANISHED (EARLIER)`, the UIDs expunged since (RFC 7162 3.2.6).
//! - **CONDSTORE** only (Gmail): the same without `VANISHED`; expunges are unknown (`None`),
//!   and the engine detects them by counting.
//! - **neither** (Exchange), or a mailbox without MODSEQs, or a `since` above the mailbox's
//!   HIGHESTMODSEQ (the server lost its MODSEQ state): `None`, a full listing.
//!
//! One round trip per changed folder, shared with its SELECT (and `ENABLE QRESYNC` on a
//! connection's first use), and the bytes of what changed, instead of a `UID SEARCH` and a
//! `FETCH` of every message; none for a folder whose HIGHESTMODSEQ, from the listing's
//! SELECTs, is the one recorded.

use std::collections::HashMap;

use backend_api::{BackendError, FolderChanges, MessageInfo, Uid};
use imap_proto::types::Response;

use crate::connection::CommandError;
use crate::folder::{qresync_enabled_in, ImapFolder};
use crate::response;
use crate::wire;

impl ImapFolder {
    /// See [`backend_api::Folder::list_changes`].
    pub(crate) fn changes_since(
        &mut self,
        since: u64,
    ) -> Result<Option<FolderChanges>, BackendError> {
        if !self.condstore {
            return Ok(None);
        }
        match self.highest_modseq {
            Some(highest) if highest >= since => {}
            other => {
                log::debug!(
                    "folder {}: no changes since MODSEQ {since}: the mailbox's HIGHESTMODSEQ is {other:?}",
                    self.path
                );
                return Ok(None);
            }
        }
        if self.session.is_none() && self.highest_modseq == Some(since) {
            // Not selected yet: the status came from the listing's snapshot, and nothing
            // changed since `since` up to it. A QRESYNC server raises HIGHESTMODSEQ on
            // every expunge too (RFC 7162 3.2.10), so nothing vanished either; without
            // QRESYNC the engine counts messages to catch expunges, as after CHANGEDSINCE.
            log::debug!(
                "folder {}: HIGHESTMODSEQ {since} as recorded: no changes, not selected",
                self.path
            );
            return Ok(Some(FolderChanges {
                changed: Vec::new(),
                vanished: self.qresync.then(Vec::new),
            }));
        }
        let selecting = self.session.is_none();
        let qresync = if selecting {
            // ENABLE QRESYNC goes with the SELECT (`read_pipelined`).
            self.qresync
        } else {
            self.session()?.has("QRESYNC") && self.enable_qresync()?
        };
        let command = format!(
            "UID FETCH 1:* (UID FLAGS RFC822.SIZE) (CHANGEDSINCE {since}{})",
            if qresync { " VANISHED" } else { "" }
        );
        let answer = self.read_pipelined("list its changes", &[command])?.pop();
        // Known only once selected.
        let qresync = qresync && self.session()?.qresync_enabled;
        let buffer = match answer {
            Some(Ok(buffer)) => buffer,
            Some(Err(text)) => {
                // A mailbox without MODSEQs (NOMODSEQ) refuses CHANGEDSINCE, and so does
                // a server that did not enable QRESYNC for VANISHED.
                log::debug!(
                    "folder {}: CHANGEDSINCE refused ({text}); listing in full",
                    self.path
                );
                return Ok(None);
            }
            None => return Ok(None),
        };
        let Some(changed) = changed_messages(&buffer) else {
            log::debug!(
                "folder {}: a changed message came without FLAGS or RFC822.SIZE; listing in full",
                self.path
            );
            return Ok(None);
        };
        let vanished = match (qresync, vanished_uids(&buffer)) {
            (false, _) => None,
            (true, Some(mut uids)) => {
                uids.retain(|uid| changed.binary_search_by_key(uid, |m| m.uid).is_err());
                Some(uids)
            }
            (true, None) => {
                log::debug!(
                    "folder {}: VANISHED names more than {MAX_VANISHED} UIDs; listing in full",
                    self.path
                );
                return Ok(None);
            }
        };
        Ok(Some(FolderChanges { changed, vanished }))
    }

    /// `ENABLE QRESYNC` on this connection unless done before; whether it is enabled.
    fn enable_qresync(&mut self) -> Result<bool, BackendError> {
        if self.session()?.qresync_enabled {
            return Ok(true);
        }
        let result = self.session()?.run("ENABLE QRESYNC");
        match result {
            Ok(buffer) => {
                let enabled = qresync_enabled_in(&buffer);
                if !enabled {
                    log::debug!("folder {}: ENABLE QRESYNC did not enable it", self.path);
                }
                self.session()?.qresync_enabled = enabled;
                Ok(enabled)
            }
            Err(CommandError::Refused(text)) => {
                log::debug!("folder {}: ENABLE QRESYNC refused: {text}", self.path);
                Ok(false)
            }
            Err(broken) => Err(self.failed("enable QRESYNC", broken)),
        }
    }
}

/// The messages the FETCH responses in `buffer` describe, ascending by UID, a message
/// answered in several responses merged; `None` if one lacks its flags or size (an
/// unsolicited FETCH alone does not count: the server answers the command for it too).
pub(crate) fn changed_messages(buffer: &[u8]) -> Option<Vec<MessageInfo>> {
    let mut found: HashMap<Uid, MessageInfo> = HashMap::new();
    let mut complete: HashMap<Uid, (bool, bool)> = HashMap::new();
    for record in response::parse_fetch(buffer) {
        let Some(uid) = record.uid.filter(|uid| *uid != 0) else {
            continue;
        };
        let entry = found.entry(uid).or_insert_with(|| MessageInfo {
            uid,
            flags: Default::default(),
            size: 0,
            modseq: None,
        });
        let seen = complete.entry(uid).or_default();
        if let Some(flags) = &record.flags {
            entry.flags = wire::flags_from_imap(flags);
            seen.0 = true;
        }
        if let Some(size) = record.size {
            entry.size = u64::from(size);
            seen.1 = true;
        }
        if record.modseq.is_some() {
            entry.modseq = record.modseq;
        }
    }
    if complete.values().any(|(flags, size)| !(flags & size)) {
        return None;
    }
    let mut messages: Vec<MessageInfo> = found.into_values().collect();
    messages.sort_unstable_by_key(|m| m.uid);
    Some(messages)
}

/// Most UIDs we expand from VANISHED ranges (40 MB). Servers may name UIDs that were
/// never given out (`1:4294967295` is a valid answer), and expanding that would take
/// 16 GB; past the bound the changes are not used and the folder is listed in full.
const MAX_VANISHED: u64 = 10_000_000;

/// The UIDs of every `* VANISHED` response in `buffer`, ascending, without duplicates;
/// `None` if the ranges name more than [`MAX_VANISHED`] UIDs.
pub(crate) fn vanished_uids(buffer: &[u8]) -> Option<Vec<Uid>> {
    let mut ranges = Vec::new();
    response::for_each_response(buffer, |_, response| {
        if let Response::Vanished { uids, .. } = response {
            ranges.extend(uids);
        }
    });
    let total: u64 = ranges
        .iter()
        .map(|r| u64::from(r.end().saturating_sub(*r.start())) + 1)
        .sum();
    if total > MAX_VANISHED {
        return None;
    }
    let mut uids: Vec<Uid> = ranges
        .into_iter()
        .flat_map(|range| range.filter(|uid| *uid != 0))
        .collect();
    uids.sort_unstable();
    uids.dedup();
    Some(uids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use backend_api::SystemFlag;

    #[test]
    fn changed_messages_and_vanished_uids() {
        let buffer = b"* VANISHED (EARLIER) 3:5,9\r\n\
* 2 FETCH (UID 7 FLAGS (\\Seen) RFC822.SIZE 120 MODSEQ (12))\r\n\
* 1 FETCH (UID 2 FLAGS () RFC822.SIZE 80 MODSEQ (11))\r\n\
* 1 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (13))\r\n\
A1 OK done\r\n";
        let changed = changed_messages(buffer).unwrap();
        assert_eq!(
            changed.iter().map(|m| m.uid).collect::<Vec<_>>(),
            vec![2, 7]
        );
        assert!(
            changed[0].flags.contains(SystemFlag::Flagged),
            "the later response wins"
        );
        assert_eq!((changed[0].size, changed[0].modseq), (80, Some(13)));
        assert!(changed[1].flags.contains(SystemFlag::Seen));
        assert_eq!(vanished_uids(buffer), Some(vec![3, 4, 5, 9]));
    }

    #[test]
    fn a_changed_message_without_its_size_is_not_trusted() {
        let buffer = b"* 1 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (13))\r\nA1 OK done\r\n";
        assert_eq!(changed_messages(buffer), None);
        assert_eq!(changed_messages(b"A1 OK done\r\n"), Some(vec![]));
    }

    /// Found while fuzzing the response parsers (issue 12): a server may answer
    /// `VANISHED (EARLIER) 1:4294967295`, which was expanded into 16 GB of UIDs.
    #[test]
    fn vanished_ranges_are_not_expanded_beyond_a_bound() {
        let buffer = b"* VANISHED (EARLIER) 1:4294967295\r\nt1 OK done\r\n";
        assert_eq!(vanished_uids(buffer), None);
        let buffer = b"* VANISHED (EARLIER) 4294967290:4294967295,1\r\nt1 OK done\r\n";
        assert_eq!(
            vanished_uids(buffer),
            Some(vec![
                1, 4294967290, 4294967291, 4294967292, 4294967293, 4294967294, 4294967295
            ])
        );
    }
}
