//! Step 4: new messages are copied in batches, each in four moves: its pending entries
//! are recorded (intent), the messages appended (effect) and flushed (durability), then
//! their pairs recorded and the pending entries dropped in one transaction (record).

use std::collections::{HashMap, HashSet};

use backend_api::{ErrorScope, FetchedMessage, MessageInfo, NewMessage, Uid};
use backend_kit::line_endings;

use super::batches::batches;
use super::failure::FolderFailure;
use super::folder::FolderSync;
use super::late_copies;
use super::plan::CommonFlags;
use super::recovery::Unfound;
use super::report::{FolderReport, SyncEvent};
use crate::side::Side;
use crate::state::{ContentDigest, PendingCopy, StateChange};

/// What an append's success says of its messages.
enum Appended {
    /// `append_messages` returned: durable once the folder is flushed.
    NotYetDurable,
    /// `finish_append` returned: durable.
    Durable,
}

/// A batch ready to append: the messages, and the pending entry of each (with its id).
struct PreparedBatch {
    pending: Vec<(u64, PendingCopy)>,
    messages: Vec<NewMessage>,
}

impl FolderSync<'_> {
    /// Copies `uids` from the other side to `destination`; `source_listing` is the other
    /// side's listing, which holds their sizes and flags, and `destination_uid_next` the
    /// destination's UIDNEXT read at the start of the run: every copy gets a UID at or
    /// above it, which is all a pending entry needs (no status is read per batch).
    pub(super) fn copy_messages(
        &mut self,
        destination: Side,
        uids: &[Uid],
        source_listing: &[MessageInfo],
        destination_uid_next: Uid,
        common: &CommonFlags,
        report: &mut FolderReport,
    ) -> Result<(), FolderFailure> {
        let source = destination.other();
        let by_uid: HashMap<Uid, &MessageInfo> =
            source_listing.iter().map(|m| (m.uid, m)).collect();
        let messages: Vec<&MessageInfo> = uids
            .iter()
            .filter_map(|uid| by_uid.get(uid).copied())
            .collect();
        if !messages.is_empty() {
            self.observer.event(&SyncEvent::CopiesPlanned {
                account: self.account,
                folder: self.path,
                to: destination,
                messages: messages.len(),
                bytes: messages.iter().map(|m| m.size).sum(),
            });
        }
        let mut all_known = true;
        let batches = batches(&messages, self.batch_bytes);
        // A batch whose append was started and not finished: while it travels, the next
        // one is read and started behind it.
        let mut in_flight: Option<Vec<(u64, PendingCopy)>> = None;
        for (index, batch) in batches.iter().enumerate() {
            // The source can fetch the next batches while this one is written.
            self.announce_batches(source, &batches, index)?;
            let bytes = batch
                .iter()
                .filter_map(|uid| by_uid.get(uid))
                .map(|m| m.size);
            let _share = self.body_budget.take(bytes.sum());
            let fetched = self.fetch_isolating_bad_messages(source, batch, report)?;
            all_known &= self.copy_batch(
                destination,
                fetched,
                &by_uid,
                destination_uid_next,
                common,
                &mut in_flight,
                report,
            )?;
        }
        if let Some(last) = in_flight.take() {
            all_known &= self.finish_append(destination, last, &mut in_flight, report)?;
        }
        if !all_known {
            // The destination could not tell every new UID: find them by content now, once
            // for the folder, as a restart would. What is not found stays pending for the
            // next run.
            let listing = self.folders[destination]
                .folder
                .list_messages()
                .map_err(FolderFailure::backend(destination))?;
            let mut pairs = self.state.pairs(self.path)?;
            self.resolve_pending(destination, &listing, &mut pairs, Unfound::KeepPending)?;
        }
        Ok(())
    }

    /// Fetches a batch; if a message-level error spoils it, fetches one by one and skips
    /// (and reports) the messages that cannot be read.
    fn fetch_isolating_bad_messages(
        &mut self,
        source: Side,
        uids: &[Uid],
        report: &mut FolderReport,
    ) -> Result<Vec<FetchedMessage>, FolderFailure> {
        match self.folders[source].folder.fetch_messages(uids) {
            Ok(fetched) => return Ok(fetched),
            Err(error) if error.scope == ErrorScope::Message => {}
            Err(error) => return Err(FolderFailure::backend(source)(error)),
        }
        let mut fetched = Vec::with_capacity(uids.len());
        for uid in uids {
            match self.folders[source].folder.fetch_messages(&[*uid]) {
                Ok(mut one) => fetched.append(&mut one),
                Err(error) if error.scope == ErrorScope::Message => {
                    let line = format!(
                        "{} repository: message UID {uid} skipped: {error}",
                        source.name()
                    );
                    self.observer.event(&SyncEvent::MessageSkipped {
                        account: self.account,
                        folder: self.path,
                        error: &line,
                    });
                    report.errors.push(line);
                }
                Err(error) => return Err(FolderFailure::backend(source)(error)),
            }
        }
        Ok(fetched)
    }

    /// Copies one fetched batch to `destination`: intent, effect, durability, record.
    /// Where the destination starts appends without waiting for them
    /// ([`backend_api::Folder::start_append`]), the batch is started and becomes the one
    /// `in_flight`, and the one that was (started before) is finished, made durable and
    /// recorded. Returns whether the destination told every copy's UID of the batches
    /// finished here.
    #[allow(clippy::too_many_arguments)]
    fn copy_batch(
        &mut self,
        destination: Side,
        fetched: Vec<FetchedMessage>,
        source_info: &HashMap<Uid, &MessageInfo>,
        destination_uid_next: Uid,
        common: &CommonFlags,
        in_flight: &mut Option<Vec<(u64, PendingCopy)>>,
        report: &mut FolderReport,
    ) -> Result<bool, FolderFailure> {
        if fetched.is_empty() {
            return Ok(true);
        }
        let PreparedBatch { pending, messages } = self.prepare_batch(
            destination,
            fetched,
            source_info,
            destination_uid_next,
            common,
        )?;
        let intents: Vec<StateChange> = pending
            .iter()
            .map(|(id, copy)| StateChange::AddPending {
                id: *id,
                copy: copy.clone(),
            })
            .collect();
        // The pairs will carry the source's flags as listed.
        self.make_listed_durable()?;
        self.state.commit(self.path, &intents)?;

        let folder = &mut self.folders[destination].folder;
        let messages = match folder.start_append(messages) {
            Ok(Some(messages)) => messages,
            Ok(None) => {
                return match in_flight.replace(pending) {
                    Some(before) => self.finish_append(destination, before, in_flight, report),
                    None => Ok(true),
                };
            }
            Err(error) => return Err(FolderFailure::backend(destination)(error)),
        };
        let new_uids = folder.append_messages(messages);
        self.appended(
            destination,
            pending,
            new_uids,
            Appended::NotYetDurable,
            report,
        )
    }

    /// Finishes the append of `started`, the oldest batch started, while `in_flight` (the
    /// one started behind it, if any) travels on.
    fn finish_append(
        &mut self,
        destination: Side,
        started: Vec<(u64, PendingCopy)>,
        in_flight: &mut Option<Vec<(u64, PendingCopy)>>,
        report: &mut FolderReport,
    ) -> Result<bool, FolderFailure> {
        let new_uids = self.folders[destination].folder.finish_append();
        if matches!(&new_uids, Err(error) if error.scope == ErrorScope::Message) {
            // Sorting out a refused batch takes other calls on the folder: the batch
            // behind it is finished first, so that nothing is in flight meanwhile.
            let behind = in_flight
                .take()
                .map(|pending| (pending, self.folders[destination].folder.finish_append()));
            let mut all_known =
                self.appended(destination, started, new_uids, Appended::Durable, report)?;
            if let Some((pending, new_uids)) = behind {
                all_known &=
                    self.appended(destination, pending, new_uids, Appended::Durable, report)?;
            }
            return Ok(all_known);
        }
        self.appended(destination, started, new_uids, Appended::Durable, report)
    }

    /// After the append of the batch `pending` answered `new_uids`: durability, then the
    /// record; a refused message is sorted out one message at a time.
    fn appended(
        &mut self,
        destination: Side,
        pending: Vec<(u64, PendingCopy)>,
        new_uids: Result<Vec<Option<Uid>>, backend_api::BackendError>,
        appended: Appended,
        report: &mut FolderReport,
    ) -> Result<bool, FolderFailure> {
        let new_uids = match new_uids {
            Ok(uids) => uids,
            Err(error) if error.scope == ErrorScope::Message => {
                return self.append_one_at_a_time(destination, &pending, error, report);
            }
            Err(error) => return Err(FolderFailure::backend(destination)(error)),
        };
        match appended {
            Appended::NotYetDurable => self.flush(destination)?,
            // A finished append is durable (the folder may not be flushed while the batch
            // behind it travels): only the step is counted.
            Appended::Durable => self.state.durable_step()?,
        }

        let all_known = self.record_copies(&pending, new_uids)?;
        report.copied_to[destination] += pending.len();
        self.observer.event(&SyncEvent::MessagesCopied {
            account: self.account,
            folder: self.path,
            to: destination,
            messages: pending.len(),
            bytes: pending.iter().map(|(_, copy)| copy.size).sum(),
        });
        Ok(all_known)
    }

    /// After the destination refused a message of the batch `pending` (`error`): the
    /// copies that landed all the same are found by content, and the rest are fetched
    /// again and appended one at a time, so that one bad message does not fail the others.
    /// A message refused on its own is reported (folder, UID, size) and left uncopied, its
    /// pending entry dropped: it was not stored, and the next run tries again. If every
    /// message of a batch of several is refused (a full mailbox, a folder the server will
    /// not append to), the fault is the folder's, not a message's: the folder fails with
    /// the first refusal rather than report each message. Returns whether every copy's UID was told.
    fn append_one_at_a_time(
        &mut self,
        destination: Side,
        pending: &[(u64, PendingCopy)],
        error: backend_api::BackendError,
        report: &mut FolderReport,
    ) -> Result<bool, FolderFailure> {
        let source = destination.other();
        let fail = FolderFailure::backend(destination);
        self.flush(destination)?;
        let listing = self.folders[destination]
            .folder
            .list_messages()
            .map_err(&fail)?;
        let mut pairs = self.state.pairs(self.path)?;
        self.resolve_pending(destination, &listing, &mut pairs, Unfound::KeepPending)?;
        let batch: HashSet<u64> = pending.iter().map(|(id, _)| *id).collect();
        let left: Vec<(u64, PendingCopy)> = self
            .state
            .pending(self.path)?
            .into_iter()
            .filter(|(id, _)| batch.contains(id))
            .collect();

        let from = self.folders[source].line_ending;
        let to = self.folders[destination].line_ending;
        let mut appended = Vec::new();
        let mut refused = Vec::new();
        let mut gone = Vec::new();
        for (id, copy) in left.iter().cloned() {
            let fetched = self.folders[source]
                .folder
                .fetch_messages(&[copy.source_uid])
                .map_err(FolderFailure::backend(source))?;
            let Some(message) = fetched.into_iter().next() else {
                // Expunged meanwhile: nothing to copy; the next run sees it gone.
                gone.push(StateChange::RemovePending { id });
                continue;
            };
            let one = NewMessage {
                bytes: line_endings::convert(message.bytes, from, to),
                flags: copy.flags.clone(),
                internal_date: message.internal_date,
            };
            match self.folders[destination].folder.append_messages(vec![one]) {
                Ok(uids) => appended.push(((id, copy), uids)),
                Err(error) if error.scope == ErrorScope::Message => refused.push((id, copy, error)),
                Err(error) => return Err(fail(error)),
            }
        }
        self.state.commit(self.path, &gone)?;
        self.flush(destination)?;
        let mut all_known = true;
        for (copy, uids) in &appended {
            all_known &= self.record_copies(std::slice::from_ref(copy), uids.clone())?;
        }
        report.copied_to[destination] += appended.len();
        if !appended.is_empty() {
            self.observer.event(&SyncEvent::MessagesCopied {
                account: self.account,
                folder: self.path,
                to: destination,
                messages: appended.len(),
                bytes: appended.iter().map(|((_, copy), _)| copy.size).sum(),
            });
        }

        let dropped: Vec<StateChange> = refused
            .iter()
            .map(|(id, _, _)| StateChange::RemovePending { id: *id })
            .collect();
        self.state.commit(self.path, &dropped)?;
        if refused.len() > 1 && refused.len() == pending.len() {
            let first = refused.into_iter().next().map(|(_, _, e)| e);
            return Err(fail(first.unwrap_or(error)));
        }
        for (_, copy, error) in refused {
            let line = format!(
                "{} repository: message UID {} of the {} repository ({} bytes) not copied: {error}",
                destination.name(),
                copy.source_uid,
                source.name(),
                copy.size,
            );
            self.observer.event(&SyncEvent::MessageSkipped {
                account: self.account,
                folder: self.path,
                error: &line,
            });
            report.errors.push(line);
        }
        Ok(all_known)
    }

    /// Each fetched message converted to the destination's line endings, with the flags
    /// both sides can store, and its pending entry holding what the copy will be found by
    /// after a crash.
    fn prepare_batch(
        &mut self,
        destination: Side,
        fetched: Vec<FetchedMessage>,
        source_info: &HashMap<Uid, &MessageInfo>,
        destination_uid_next: Uid,
        common: &CommonFlags,
    ) -> Result<PreparedBatch, FolderFailure> {
        let from = self.folders[destination.other()].line_ending;
        let to = self.folders[destination].line_ending;
        let first_id = self.next_pending_id()?;
        let started_at = Some(late_copies::now());

        let mut pending = Vec::with_capacity(fetched.len());
        let mut messages = Vec::with_capacity(fetched.len());
        self.pending_ids_from = Some(first_id + fetched.len() as u64);
        for (id, message) in (first_id..).zip(fetched) {
            let flags = source_info
                .get(&message.uid)
                .map(|m| common.restrict(&m.flags))
                .unwrap_or_default();
            let bytes = line_endings::convert(message.bytes, from, to);
            let copy = PendingCopy {
                destination,
                source_uid: message.uid,
                size: bytes.len() as u64,
                digest: ContentDigest::of(&bytes),
                destination_uid_next,
                flags: flags.clone(),
                retried: self.retrying.contains(&(destination, message.uid)),
                started_at,
            };
            pending.push((id, copy));
            messages.push(NewMessage {
                bytes,
                flags,
                internal_date: message.internal_date,
            });
        }
        Ok(PreparedBatch { pending, messages })
    }

    /// The id for the next pending copy: read from the state once per folder sync, then
    /// counted here (reading it per batch would read every pending entry each time).
    fn next_pending_id(&mut self) -> Result<u64, FolderFailure> {
        match self.pending_ids_from {
            Some(id) => Ok(id),
            None => Ok(self.state.next_pending_id(self.path)?),
        }
    }

    /// Records the pairs of the copies whose new UID the destination told (`new_uids`, in
    /// the order of `pending`) and drops their pending entries, in one transaction.
    /// Returns whether every copy's UID was told.
    fn record_copies(
        &mut self,
        pending: &[(u64, PendingCopy)],
        new_uids: Vec<Option<Uid>>,
    ) -> Result<bool, FolderFailure> {
        let mut records = Vec::with_capacity(pending.len() * 2);
        let mut all_known = true;
        // A plugin that answers fewer UIDs than it was given messages told nothing of the
        // rest: they are looked for by content, like copies whose UID is unknown.
        let told = new_uids.into_iter().chain(std::iter::repeat(None));
        for ((id, copy), uid) in pending.iter().zip(told) {
            match uid {
                Some(uid) => {
                    records.push(StateChange::PutPair(copy.pair(uid)));
                    records.push(StateChange::RemovePending { id: *id });
                }
                None => all_known = false,
            }
        }
        self.state.commit(self.path, &records)?;
        Ok(all_known)
    }
}
