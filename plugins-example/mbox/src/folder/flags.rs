//! Flags: changes are collected here and written by the rewrite at flush (see `writing`).

use super::*;

impl MboxFolder {
    pub(super) fn change_flags(
        &mut self,
        uids: &[Uid],
        add: &Flags,
        remove: &Flags,
    ) -> Result<(), BackendError> {
        self.check_writable("change flags")?;
        self.refresh()?;
        let storable = permanent_flags();
        let add = storable.storable(add);
        let remove = storable.storable(remove);
        for &uid in uids {
            if self.entry(uid).is_none() {
                continue;
            }
            let (set, clear) = self.changes.flags.entry(uid).or_default();
            *set = set.union(&add).difference(&remove);
            *clear = clear.difference(&add).union(&remove);
        }
        Ok(())
    }
}
