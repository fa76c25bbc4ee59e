//! Flags: changing them renames a file into `cur/` with the new info part.

use super::*;

impl MaildirFolder {
    pub(super) fn change_flags(
        &mut self,
        uids: &[Uid],
        add: &Flags,
        remove: &Flags,
    ) -> Result<(), BackendError> {
        self.check_writable("change flags")?;
        self.ensure_index()?;
        let storable = permanent_flags();
        let mut rescanned = false;
        for &uid in uids {
            if self.is_unreadable(uid) {
                continue;
            }
            let moved = self.with_file("cannot rename", uid, &mut rescanned, |folder, file| {
                let flags = storable.storable(&file.name.flags().union(add).difference(remove));
                if flags == file.name.flags() {
                    return Ok(None);
                }
                // A flag change means a client has seen the message: it goes to cur/.
                let renamed = file.name.with_flags(&flags);
                rename_noreplace(
                    &folder.file_path(file.subdir, &file.name),
                    &folder.file_path(Subdir::Cur, &renamed),
                )?;
                Ok(Some((file.subdir, renamed)))
            })?;
            if let Some(Some((from, renamed))) = moved {
                self.scanned = None;
                self.unsynced.mark(from);
                self.unsynced.mark(Subdir::Cur);
                if let Some(file) = self.index.as_mut().and_then(|index| index.get_mut(&uid)) {
                    file.subdir = Subdir::Cur;
                    file.name = renamed;
                }
            }
        }
        Ok(())
    }
}
