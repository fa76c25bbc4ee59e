//! Reading: fetching message files, and the error for one that cannot be read.

use super::*;

impl MaildirFolder {
    pub(super) fn read_message(&self, uid: Uid, file: &MessageFile) -> io::Result<FetchedMessage> {
        let mut handle = File::open(self.file_path(file.subdir, &file.name))?;
        let mut bytes = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
        handle.read_to_end(&mut bytes)?;
        let internal_date = handle
            .metadata()
            .and_then(|metadata| metadata.modified())
            .ok()
            .map(unix_time);
        Ok(FetchedMessage {
            uid,
            bytes: bytes.into(),
            internal_date,
        })
    }

    /// The error for fetching a file that has no UID and could not be read when listed.
    pub(super) fn unreadable_error(&self, file: &MessageFile) -> BackendError {
        let path = self.file_path(file.subdir, &file.name);
        match File::open(&path).and_then(|mut handle| handle.read(&mut [0u8; 1])) {
            Err(error) => BackendError::message(format!(
                "folder {}: cannot read {}: {error}; it has no UID yet, so twinbox leaves it \
                 as it is: repair it (a dangling symbolic link?) or remove it",
                self.path,
                path.display()
            )),
            Ok(_) => BackendError::message(format!(
                "folder {}: {} could not be read when the folder was listed; it is copied by \
                 the next sync",
                self.path,
                path.display()
            ))
            .with_retry(Retry::Later),
        }
    }

    pub(super) fn fetch(&mut self, uids: &[Uid]) -> Result<Vec<FetchedMessage>, BackendError> {
        self.ensure_index()?;
        let mut rescanned = false;
        let mut fetched = Vec::with_capacity(uids.len());
        for &uid in uids {
            if let Some(file) = self.entry(uid) {
                if file.origin == UidOrigin::Unreadable {
                    return Err(self.unreadable_error(file));
                }
            }
            if let Some(message) =
                self.with_file("cannot read", uid, &mut rescanned, |folder, file| {
                    folder.read_message(uid, file)
                })?
            {
                fetched.push(message);
            }
        }
        Ok(fetched)
    }
}
