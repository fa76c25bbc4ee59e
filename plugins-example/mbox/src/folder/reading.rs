//! Reading: a message's exact bytes back from its record.

use super::*;

impl MboxFolder {
    /// The message of `entry`, exactly as it was given or first found; `None` when the
    /// record there is not that message any more (the mbox changed under us).
    pub(super) fn read_message(&self, entry: &Entry) -> Result<Option<Vec<u8>>, BackendError> {
        let message_error =
            |e: &io::Error| self.io(ErrorScope::Message, "cannot read", &self.mbox, e);
        let file = match File::open(&self.mbox) {
            Ok(file) => file,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(message_error(&error)),
        };
        let mut record = vec![0; usize::try_from(entry.len).unwrap_or(usize::MAX)];
        match file.read_exact_at(&mut record, entry.offset) {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::UnexpectedEof => return Ok(None),
            Err(error) => return Err(message_error(&error)),
        }
        if !record.starts_with(FROM) {
            return Ok(None);
        }
        let normalized = Normalized::of(&format::message_of(&record));
        if normalized.fingerprint() != entry.fingerprint {
            return Ok(None);
        }
        let rest = format::reassemble(&normalized.core, entry.trailing, &entry.removed);
        let message = rest.map(|rest| match &entry.envelope {
            Some(envelope) => [envelope.as_slice(), &rest].concat(),
            None => rest,
        });
        match message {
            Some(bytes) if bytes.len() as u64 == entry.size => Ok(Some(bytes)),
            _ => Err(BackendError::message(format!(
                "folder {}: the index {} does not fit message UID {} (damaged?); delete the \
                 index to re-index the folder under a new UIDVALIDITY",
                self.path,
                self.index_path.display(),
                entry.uid
            ))),
        }
    }

    pub(super) fn fetch(&mut self, uids: &[Uid]) -> Result<Vec<FetchedMessage>, BackendError> {
        self.refresh()?;
        let mut fetched = Vec::with_capacity(uids.len());
        let mut reloaded = false;
        for &uid in uids {
            while let Some(entry) = self.entry(uid).cloned() {
                match self.read_message(&entry)? {
                    Some(bytes) => {
                        fetched.push(FetchedMessage {
                            uid,
                            bytes: bytes.into(),
                            internal_date: entry.date,
                        });
                        break;
                    }
                    // Changed under us (a client rewrote it in place): read it again.
                    None if !reloaded => {
                        reloaded = true;
                        self.reload(true)?;
                    }
                    None => {
                        return Err(BackendError::message(format!(
                            "folder {}: message UID {uid} in {} changed while it was read; \
                             try again",
                            self.path,
                            self.mbox.display()
                        ))
                        .with_retry(Retry::Later))
                    }
                }
            }
        }
        Ok(fetched)
    }
}
