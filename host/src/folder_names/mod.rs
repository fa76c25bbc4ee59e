//! Folder names as OfflineIMAP users configure them: `folderfilter`, `nametrans` and
//! `folderincludes`.

pub mod lambda;
pub mod python_re;

#[cfg(test)]
mod lambda_tests;
