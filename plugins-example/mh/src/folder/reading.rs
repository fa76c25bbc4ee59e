//! Reading: fetching messages, each checked to be still the one listed.

use super::*;

impl MhFolder {
    pub(super) fn fetch(&mut self, uids: &[Uid]) -> Result<Vec<FetchedMessage>, BackendError> {
        let _lock = self.lock()?;
        self.ensure_index()?;
        let mut fetched = Vec::with_capacity(uids.len());
        for &uid in uids {
            let Some(listed) = self.listed(uid) else {
                continue;
            };
            let path = self.message_path(listed.number);
            let mut file = match File::open(&path) {
                Ok(file) => file,
                Err(error) if error.kind() == ErrorKind::NotFound => continue,
                Err(error) => {
                    return Err(self.io(ErrorScope::Message, "cannot read", &path, &error))
                }
            };
            let metadata = file
                .metadata()
                .map_err(|e| self.io(ErrorScope::Message, "cannot read", &path, &e))?;
            let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
            file.read_to_end(&mut bytes)
                .map_err(|e| self.io(ErrorScope::Message, "cannot read", &path, &e))?;
            if Stamp::of(&metadata) != listed.fingerprint.stamp
                && identity(&bytes) != listed.fingerprint.identity
            {
                log::info!(
                    "folder {}: {} is no longer the message listed as UID {uid}; the next \
                     listing sorts it out",
                    self.path,
                    path.display()
                );
                continue;
            }
            fetched.push(FetchedMessage {
                uid,
                bytes: bytes.into(),
                internal_date: metadata.modified().ok().map(unix_time),
            });
        }
        Ok(fetched)
    }
}
