//! Syncing one folder pair: the four steps in an order that survives a crash anywhere.
//!
//! 1. Interrupted copies of an earlier run (pending entries in the state) are resolved
//!    first: the copy is looked for at or above the UIDNEXT recorded before it, by size
//!    and MD5; found, it is paired; not found, the entry is dropped and the message, still
//!    unpaired, is copied again below. So no copy is lost or made twice.
//! 2. Flag changes are applied to both sides, made durable, then recorded.
//! 3. Deletions are applied, made durable, then recorded. A crash before the record leaves
//!    a pair whose message is gone from both sides, which the next run forgets.
//! 4. New messages are copied in batches: pending entries recorded, messages appended,
//!    flushed, then pairs recorded and pending entries dropped in one transaction.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use backend_api::{
    BackendError, ErrorScope, FetchedMessage, Flags, Folder, FolderPath, FolderStatus, LineEnding,
    MessageInfo, NewMessage, Uid,
};
use backend_kit::line_endings;

use super::plan::{plan_folder, CommonFlags, FlagChange, FolderPlan};
use super::report::{FolderReport, SyncEvent, SyncObserver};
use crate::state::{FolderRecord, Pair, PendingCopy, Side, StateChange, StateError, SyncState};

/// Copies go in batches of at most this many messages...
const BATCH_MESSAGES: usize = 256;
/// ... or this many bytes, whichever comes first, so memory stays bounded.
const BATCH_BYTES: u64 = 16 * 1024 * 1024;

/// Why a folder pair could not be synced (one line each, with what to do).
#[derive(Debug)]
pub enum FolderFailure {
    Backend {
        side: Side,
        error: BackendError,
    },
    State(StateError),
    UidValidityChanged {
        side: Side,
        recorded: u32,
        found: u32,
    },
}

impl FolderFailure {
    /// Whether the whole repository is unusable, so other folders should not be tried.
    pub fn stops_account(&self) -> bool {
        match self {
            FolderFailure::Backend { error, .. } => error.scope == ErrorScope::Repository,
            FolderFailure::State(_) => true,
            FolderFailure::UidValidityChanged { .. } => false,
        }
    }
}

impl fmt::Display for FolderFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FolderFailure::Backend { side, error } => write!(f, "{} repository: {error}", side.name()),
            FolderFailure::State(error) => write!(f, "{error}"),
            FolderFailure::UidValidityChanged {
                side,
                recorded,
                found,
            } => write!(
                f,
                "the {} folder's UIDVALIDITY changed from {recorded} to {found} (it was recreated or renumbered), so its UIDs no longer name the same messages; nothing was changed on either side. To start this folder over: move the {} copy of the folder aside (keep it until you have checked), then run `twinbox forget` for this account and folder and sync again",
                side.name(),
                Side::Local.name(),
            ),
        }
    }
}

impl From<StateError> for FolderFailure {
    fn from(error: StateError) -> Self {
        FolderFailure::State(error)
    }
}

/// A side's folder with what the engine needs to know of it.
pub struct OpenFolder {
    pub folder: Box<dyn Folder>,
    pub line_ending: LineEnding,
}

/// The sync of one folder pair.
pub struct FolderSync<'a> {
    pub account: &'a str,
    pub path: &'a FolderPath,
    pub local: OpenFolder,
    pub remote: OpenFolder,
    pub state: &'a SyncState,
    pub dry_run: bool,
    /// Sides configured `readonly`: never changed.
    pub read_only: &'a [Side],
    pub observer: &'a dyn SyncObserver,
}

fn on(side: Side) -> impl Fn(BackendError) -> FolderFailure {
    move |error| FolderFailure::Backend { side, error }
}

impl FolderSync<'_> {
    fn side(&mut self, side: Side) -> &mut OpenFolder {
        match side {
            Side::Local => &mut self.local,
            Side::Remote => &mut self.remote,
        }
    }

    /// Runs the sync, filling `report`; an error stops the folder (what was done and
    /// recorded before it stays done).
    pub fn run(mut self, report: &mut FolderReport) -> Result<(), FolderFailure> {
        let (local_status, remote_status) = self.checked_statuses()?;
        let common = CommonFlags::new(
            local_status.permanent_flags.clone(),
            remote_status.permanent_flags.clone(),
        );

        // Remote first, as for the status: a failing server leaves the local side untouched.
        let remote_listing = self
            .remote
            .folder
            .list_messages()
            .map_err(on(Side::Remote))?;
        let local_listing = self.local.folder.list_messages().map_err(on(Side::Local))?;
        let mut pairs = self.state.pairs(self.path)?;
        if !self.dry_run {
            report.recovered = self.resolve_pending(
                &[Side::Local, Side::Remote],
                &local_listing,
                &remote_listing,
                &mut pairs,
                true,
            )?;
        }

        let mut plan = plan_folder(&local_listing, &remote_listing, &pairs, &common);
        for side in self.read_only {
            plan = plan.without_changes_to(*side);
        }
        if self.dry_run {
            self.count_plan(&plan, report);
            return Ok(());
        }
        self.apply_flags(&plan, report)?;
        self.apply_deletions(&plan, report)?;
        for side in [Side::Local, Side::Remote] {
            let source_listing = match side {
                Side::Local => &remote_listing,
                Side::Remote => &local_listing,
            };
            self.copy_messages(side, plan.copies_to(side), source_listing, &common, report)?;
        }
        Ok(())
    }

    fn count_plan(&self, plan: &FolderPlan, report: &mut FolderReport) {
        for side in [Side::Local, Side::Remote] {
            *report.copied_to(side) = plan.copies_to(side).len();
            *report.flags_on(side) = plan.flag_changes_on(side).len();
            *report.deleted_on(side) = plan.deletions_on(side).len();
        }
    }

    /// Reads each side's status and compares its UIDVALIDITY with the recorded one, the
    /// remote side first: a server that recreated a folder is the usual cause, and then
    /// the local side is not even looked at (a Maildir's status may name new files).
    fn checked_statuses(&mut self) -> Result<(FolderStatus, FolderStatus), FolderFailure> {
        let recorded = self.state.folder(self.path)?;
        let remote = self.checked_status(Side::Remote, recorded)?;
        let local = self.checked_status(Side::Local, recorded)?;
        if recorded.is_none() && !self.dry_run {
            let record = FolderRecord {
                local_uid_validity: local.uid_validity,
                remote_uid_validity: remote.uid_validity,
            };
            self.state
                .commit(self.path, &[StateChange::SetFolder(record)])?;
        }
        Ok((local, remote))
    }

    fn checked_status(
        &mut self,
        side: Side,
        recorded: Option<FolderRecord>,
    ) -> Result<FolderStatus, FolderFailure> {
        let status = self.side(side).folder.status().map_err(on(side))?;
        match recorded {
            Some(recorded) if recorded.uid_validity(side) != status.uid_validity => {
                Err(FolderFailure::UidValidityChanged {
                    side,
                    recorded: recorded.uid_validity(side),
                    found: status.uid_validity,
                })
            }
            _ => Ok(status),
        }
    }

    /// Step 1: finds the copies an interrupted run made but did not record, for copies to
    /// the `destinations`. A copy not found is dropped when `drop_unfound` (at the start of
    /// a run: the message is copied again) and otherwise stays pending.
    fn resolve_pending(
        &mut self,
        destinations: &[Side],
        local_listing: &[MessageInfo],
        remote_listing: &[MessageInfo],
        pairs: &mut Vec<Pair>,
        drop_unfound: bool,
    ) -> Result<usize, FolderFailure> {
        let pending = self.state.pending(self.path)?;
        if pending.is_empty() {
            return Ok(0);
        }
        let mut changes = Vec::new();
        let mut recovered = 0;
        for &destination in destinations {
            let listing = match destination {
                Side::Local => local_listing,
                Side::Remote => remote_listing,
            };
            let copies: Vec<&(u64, PendingCopy)> = pending
                .iter()
                .filter(|(_, c)| c.destination == destination)
                .collect();
            if copies.is_empty() {
                continue;
            }
            let source_paired: HashSet<Uid> =
                pairs.iter().map(|p| p.uid(destination.other())).collect();
            let mut taken: HashSet<Uid> = pairs.iter().map(|p| p.uid(destination)).collect();
            let lowest = copies
                .iter()
                .map(|(_, c)| c.destination_uid_next)
                .min()
                .unwrap_or(1);
            let candidates: Vec<&MessageInfo> = listing
                .iter()
                .filter(|m| m.uid >= lowest && !taken.contains(&m.uid))
                .collect();
            let found = self.find_copies(destination, &copies, &candidates)?;
            for (id, copy) in copies {
                if source_paired.contains(&copy.source_uid) {
                    changes.push(StateChange::RemovePending { id: *id });
                    continue;
                }
                let Some(uid) = found.get(id).copied().filter(|uid| !taken.contains(uid)) else {
                    if drop_unfound {
                        // Never made (or not durable): the original is still unpaired and
                        // is copied again by this run.
                        changes.push(StateChange::RemovePending { id: *id });
                    }
                    continue;
                };
                changes.push(StateChange::RemovePending { id: *id });
                taken.insert(uid);
                let pair = make_pair(destination, copy.source_uid, uid, copy.flags.clone());
                changes.push(StateChange::PutPair(pair.clone()));
                pairs.push(pair);
                recovered += 1;
            }
        }
        self.state.commit(self.path, &changes)?;
        Ok(recovered)
    }

    /// For each pending copy, the UID of a candidate with the same size and MD5.
    fn find_copies(
        &mut self,
        destination: Side,
        copies: &[&(u64, PendingCopy)],
        candidates: &[&MessageInfo],
    ) -> Result<HashMap<u64, Uid>, FolderFailure> {
        let sizes: HashSet<u64> = copies.iter().map(|(_, c)| c.size).collect();
        let wanted: Vec<&MessageInfo> = candidates
            .iter()
            .copied()
            .filter(|m| sizes.contains(&m.size))
            .collect();
        let mut digests: BTreeMap<Uid, String> = BTreeMap::new();
        for chunk in batches(&wanted) {
            let fetched = self
                .side(destination)
                .folder
                .fetch_messages(&chunk)
                .map_err(on(destination))?;
            for message in fetched {
                digests.insert(message.uid, md5_hex(&message.bytes));
            }
        }
        let mut found = HashMap::new();
        let mut used = HashSet::new();
        for (id, copy) in copies {
            let hit = digests.iter().find(|(uid, digest)| {
                **digest == copy.md5 && *uid >= &copy.destination_uid_next && !used.contains(*uid)
            });
            if let Some((uid, _)) = hit {
                used.insert(*uid);
                found.insert(*id, *uid);
            }
        }
        Ok(found)
    }

    /// Step 2.
    fn apply_flags(
        &mut self,
        plan: &FolderPlan,
        report: &mut FolderReport,
    ) -> Result<(), FolderFailure> {
        if plan.new_pair_flags.is_empty() {
            return Ok(());
        }
        for side in [Side::Local, Side::Remote] {
            let changes = plan.flag_changes_on(side);
            if changes.is_empty() {
                continue;
            }
            // One call per distinct (add, remove): IMAP turns each into one UID STORE.
            let mut groups: Vec<(&Flags, &Flags, Vec<Uid>)> = Vec::new();
            for FlagChange { uid, add, remove } in changes {
                match groups
                    .iter_mut()
                    .find(|(a, r, _)| *a == add && *r == remove)
                {
                    Some((_, _, uids)) => uids.push(*uid),
                    None => groups.push((add, remove, vec![*uid])),
                }
            }
            let folder = &mut self.side(side).folder;
            for (add, remove, uids) in groups {
                folder.update_flags(&uids, add, remove).map_err(on(side))?;
            }
            folder.flush().map_err(on(side))?;
            *report.flags_on(side) += changes.len();
        }
        let changes: Vec<StateChange> = plan
            .new_pair_flags
            .iter()
            .cloned()
            .map(StateChange::PutPair)
            .collect();
        Ok(self.state.commit(self.path, &changes)?)
    }

    /// Step 3.
    fn apply_deletions(
        &mut self,
        plan: &FolderPlan,
        report: &mut FolderReport,
    ) -> Result<(), FolderFailure> {
        let mut changes: Vec<StateChange> = plan
            .forget_pairs
            .iter()
            .map(|remote| StateChange::RemovePair { remote: *remote })
            .collect();
        for side in [Side::Local, Side::Remote] {
            let deletions = plan.deletions_on(side);
            if deletions.is_empty() {
                continue;
            }
            let uids: Vec<Uid> = deletions.iter().map(|(uid, _)| *uid).collect();
            let folder = &mut self.side(side).folder;
            folder.delete_messages(&uids).map_err(on(side))?;
            folder.flush().map_err(on(side))?;
            *report.deleted_on(side) += uids.len();
            changes.extend(
                deletions
                    .iter()
                    .map(|(_, remote)| StateChange::RemovePair { remote: *remote }),
            );
        }
        Ok(self.state.commit(self.path, &changes)?)
    }

    /// Step 4: copies `uids` from the other side to `destination`.
    fn copy_messages(
        &mut self,
        destination: Side,
        uids: &[Uid],
        source_listing: &[MessageInfo],
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
        for batch in batches(&messages) {
            let fetched = self.fetch_isolating_bad_messages(source, &batch, report)?;
            self.copy_batch(destination, fetched, &by_uid, common, report)?;
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
        match self.side(source).folder.fetch_messages(uids) {
            Ok(fetched) => return Ok(fetched),
            Err(error) if error.scope == ErrorScope::Message => {}
            Err(error) => {
                return Err(FolderFailure::Backend {
                    side: source,
                    error,
                })
            }
        }
        let mut fetched = Vec::with_capacity(uids.len());
        for uid in uids {
            match self.side(source).folder.fetch_messages(&[*uid]) {
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
                Err(error) => {
                    return Err(FolderFailure::Backend {
                        side: source,
                        error,
                    })
                }
            }
        }
        Ok(fetched)
    }

    fn copy_batch(
        &mut self,
        destination: Side,
        fetched: Vec<FetchedMessage>,
        source_info: &HashMap<Uid, &MessageInfo>,
        common: &CommonFlags,
        report: &mut FolderReport,
    ) -> Result<(), FolderFailure> {
        if fetched.is_empty() {
            return Ok(());
        }
        let source = destination.other();
        let from = self.side(source).line_ending;
        let to = self.side(destination).line_ending;
        let uid_next = self
            .side(destination)
            .folder
            .status()
            .map_err(on(destination))?
            .uid_next;

        let first_id = self.state.next_pending_id(self.path)?;
        let mut pending = Vec::with_capacity(fetched.len());
        let mut messages = Vec::with_capacity(fetched.len());
        for (offset, message) in fetched.into_iter().enumerate() {
            let flags = source_info
                .get(&message.uid)
                .map(|m| common.restrict(&m.flags))
                .unwrap_or_default();
            let bytes = line_endings::convert(message.bytes, from, to);
            let copy = PendingCopy {
                destination,
                source_uid: message.uid,
                size: bytes.len() as u64,
                md5: md5_hex(&bytes),
                destination_uid_next: uid_next,
                flags: flags.clone(),
            };
            pending.push((first_id + offset as u64, copy));
            messages.push(NewMessage {
                bytes,
                flags,
                internal_date: message.internal_date,
            });
        }
        let intents: Vec<StateChange> = pending
            .iter()
            .map(|(id, copy)| StateChange::AddPending {
                id: *id,
                copy: copy.clone(),
            })
            .collect();
        self.state.commit(self.path, &intents)?;

        let folder = &mut self.side(destination).folder;
        let new_uids = folder.append_messages(messages).map_err(on(destination))?;
        folder.flush().map_err(on(destination))?;

        let mut records = Vec::with_capacity(pending.len() * 2);
        let mut unknown = Vec::new();
        for ((id, copy), uid) in pending.iter().zip(new_uids) {
            match uid {
                Some(uid) => {
                    records.push(StateChange::PutPair(make_pair(
                        destination,
                        copy.source_uid,
                        uid,
                        copy.flags.clone(),
                    )));
                    records.push(StateChange::RemovePending { id: *id });
                }
                None => unknown.push((*id, copy.clone())),
            }
        }
        let copied = pending.len();
        self.state.commit(self.path, &records)?;
        if !unknown.is_empty() {
            // The destination could not tell the new UIDs: find them by content now, as a
            // restart would. What is not found stays pending for the next run.
            let listing = self
                .side(destination)
                .folder
                .list_messages()
                .map_err(on(destination))?;
            let mut pairs = self.state.pairs(self.path)?;
            let (local, remote) = match destination {
                Side::Local => (listing.as_slice(), &[][..]),
                Side::Remote => (&[][..], listing.as_slice()),
            };
            self.resolve_pending(&[destination], local, remote, &mut pairs, false)?;
        }
        *report.copied_to(destination) += copied;
        Ok(())
    }
}

/// The UIDs of `messages` in batches of at most [`BATCH_MESSAGES`] messages and, unless
/// one message alone is larger, [`BATCH_BYTES`] bytes: what is fetched into memory at once.
fn batches(messages: &[&MessageInfo]) -> Vec<Vec<Uid>> {
    let mut batches = Vec::new();
    let mut batch = Vec::new();
    let mut bytes = 0;
    for message in messages {
        if !batch.is_empty()
            && (batch.len() >= BATCH_MESSAGES || bytes + message.size > BATCH_BYTES)
        {
            batches.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        batch.push(message.uid);
        bytes += message.size;
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches
}

fn make_pair(destination: Side, source_uid: Uid, destination_uid: Uid, flags: Flags) -> Pair {
    match destination {
        Side::Local => Pair {
            local: destination_uid,
            remote: source_uid,
            flags,
        },
        Side::Remote => Pair {
            local: source_uid,
            remote: destination_uid,
            flags,
        },
    }
}

pub fn md5_hex(bytes: &[u8]) -> String {
    format!("{:x}", md5::compute(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sized(uid: Uid, size: u64) -> MessageInfo {
        MessageInfo {
            uid,
            flags: Flags::new(),
            size,
            modseq: None,
        }
    }

    #[test]
    fn batches_are_bounded_by_count_and_bytes() {
        let big = BATCH_BYTES / 2 + 1;
        let messages = [
            sized(1, big),
            sized(2, big),
            sized(3, 10),
            sized(4, 5 * BATCH_BYTES),
        ];
        let refs: Vec<&MessageInfo> = messages.iter().collect();
        assert_eq!(batches(&refs), vec![vec![1], vec![2, 3], vec![4]]);
        let many: Vec<MessageInfo> = (1..=(BATCH_MESSAGES as u32 + 1))
            .map(|uid| sized(uid, 1))
            .collect();
        let refs: Vec<&MessageInfo> = many.iter().collect();
        let split = batches(&refs);
        assert_eq!(split.len(), 2);
        assert_eq!(split[0].len(), BATCH_MESSAGES);
    }
}
