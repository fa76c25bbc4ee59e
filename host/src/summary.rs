//! The end-of-sync summary the CLI prints: one block per account, one line per folder that
//! changed or failed, one total line. Formatting lives here, never in the engine.

use std::fmt::Write;

use crate::engine::{AccountReport, FolderReport};
use crate::side::Side;

fn folder_name(report: &FolderReport) -> String {
    report
        .folder
        .as_ref()
        .map_or_else(|| "(account)".to_owned(), ToString::to_string)
}

fn folder_line(report: &FolderReport, dry_run: bool) -> String {
    let mut parts = Vec::new();
    if let Some(side) = report.created_on {
        parts.push(format!(
            "{} on {side}",
            if dry_run { "would create" } else { "created" }
        ));
    }
    let would = if dry_run { "would be " } else { "" };
    for side in [Side::Local, Side::Remote] {
        let (copied, flags, deleted) = match side {
            Side::Local => (
                report.copied_to_local,
                report.flags_on_local,
                report.deleted_on_local,
            ),
            Side::Remote => (
                report.copied_to_remote,
                report.flags_on_remote,
                report.deleted_on_remote,
            ),
        };
        if copied > 0 {
            parts.push(format!("{copied} {would}copied to {side}"));
        }
        if flags > 0 {
            parts.push(format!(
                "{flags} flag updates {}on {side}",
                if dry_run { "would be made " } else { "" }
            ));
        }
        if deleted > 0 {
            parts.push(format!("{deleted} {would}deleted on {side}"));
        }
    }
    if report.recovered > 0 {
        parts.push(format!("{} interrupted copies recovered", report.recovered));
    }
    parts.join(", ")
}

/// The summary of one account, ending with a newline.
pub fn render(report: &AccountReport) -> String {
    let mut out = String::new();
    let verb = if report.dry_run {
        "would sync"
    } else {
        "synced"
    };
    if let Some(error) = &report.error {
        let _ = writeln!(out, "Account {}: FAILED: {error}", report.account);
        return out;
    }
    let width = report
        .folders
        .iter()
        .map(|f| folder_name(f).chars().count())
        .max()
        .unwrap_or(0);
    let mut totals = FolderReport::default();
    let mut errors = 0;
    for folder in &report.folders {
        let name = folder_name(folder);
        let line = folder_line(folder, report.dry_run);
        if !line.is_empty() {
            let _ = writeln!(out, "  {name:<width$}  {line}");
        }
        for error in &folder.errors {
            errors += 1;
            let _ = writeln!(out, "  {name:<width$}  ERROR: {error}");
        }
        totals.copied_to_local += folder.copied_to_local;
        totals.copied_to_remote += folder.copied_to_remote;
        totals.flags_on_local += folder.flags_on_local;
        totals.flags_on_remote += folder.flags_on_remote;
        totals.deleted_on_local += folder.deleted_on_local;
        totals.deleted_on_remote += folder.deleted_on_remote;
        totals.recovered += folder.recovered;
    }
    let created = report
        .folders
        .iter()
        .filter(|f| f.created_on.is_some())
        .count();
    let copied = totals.copied_to_local + totals.copied_to_remote;
    let flags = totals.flags_on_local + totals.flags_on_remote;
    let deleted = totals.deleted_on_local + totals.deleted_on_remote;
    let folders = report.folders.len();
    let changes = if copied + flags + deleted + created + totals.recovered == 0 {
        "no changes".to_owned()
    } else {
        format!(
            "{copied} messages copied ({} to local, {} to remote), {flags} flag updates, {deleted} deletions, {created} folders created",
            totals.copied_to_local, totals.copied_to_remote
        )
    };
    let errors = match errors {
        0 => String::new(),
        1 => ", 1 error".to_owned(),
        n => format!(", {n} errors"),
    };
    let _ = writeln!(
        out,
        "Account {}: {verb} {folders} folders: {changes}{errors}",
        report.account
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use backend_api::FolderPath;

    #[test]
    fn quiet_when_nothing_changed() {
        let report = AccountReport {
            account: "Personal".into(),
            folders: vec![FolderReport::for_folder(&FolderPath::inbox())],
            ..Default::default()
        };
        assert_eq!(
            render(&report),
            "Account Personal: synced 1 folders: no changes\n"
        );
    }

    #[test]
    fn lists_changes_and_errors_per_folder() {
        let mut inbox = FolderReport::for_folder(&FolderPath::inbox());
        inbox.copied_to_local = 3;
        inbox.flags_on_remote = 1;
        let mut work = FolderReport::for_folder(&FolderPath::new("Work").unwrap());
        work.errors.push("boom".into());
        let report = AccountReport {
            account: "A".into(),
            folders: vec![inbox, work],
            ..Default::default()
        };
        let text = render(&report);
        assert!(
            text.contains("  INBOX  3 copied to local, 1 flag updates on remote\n"),
            "{text}"
        );
        assert!(text.contains("  Work   ERROR: boom\n"), "{text}");
        assert!(text.ends_with("1 error\n"), "{text}");
    }
}
