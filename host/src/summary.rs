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
    for side in Side::BOTH {
        let copied = report.copied_to[side];
        let flags = report.flags_on[side];
        let deleted = report.deleted_on[side];
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
    if report.paired_by_content > 0 {
        parts.push(format!(
            "{} {}paired by content",
            report.paired_by_content,
            if dry_run { "would be " } else { "" }
        ));
    }
    if report.near_duplicates > 0 {
        parts.push(format!(
            "{} near-duplicates not paired",
            report.near_duplicates
        ));
    }
    if report.too_big > 0 {
        parts.push(format!("{} larger than maxsize not copied", report.too_big));
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
        for side in Side::BOTH {
            totals.copied_to[side] += folder.copied_to[side];
            totals.flags_on[side] += folder.flags_on[side];
            totals.deleted_on[side] += folder.deleted_on[side];
        }
        totals.recovered += folder.recovered;
        totals.paired_by_content += folder.paired_by_content;
        totals.near_duplicates += folder.near_duplicates;
        totals.too_big += folder.too_big;
    }
    let created = report
        .folders
        .iter()
        .filter(|f| f.created_on.is_some())
        .count();
    let copied: usize = totals.copied_to.iter().sum();
    let flags: usize = totals.flags_on.iter().sum();
    let deleted: usize = totals.deleted_on.iter().sum();
    let folders = report.folders.len();
    let changes = if copied
        + flags
        + deleted
        + created
        + totals.recovered
        + totals.paired_by_content
        == 0
    {
        "no changes".to_owned()
    } else {
        let per_side: Vec<String> = Side::BOTH
            .iter()
            .map(|&side| format!("{} to {side}", totals.copied_to[side]))
            .collect();
        format!(
            "{copied} messages copied ({}), {flags} flag updates, {deleted} deletions, {created} folders created",
            per_side.join(", ")
        )
    };
    let mut changes = changes;
    if totals.paired_by_content > 0 {
        changes.push_str(&format!(", {} paired by content", totals.paired_by_content));
    }
    if totals.near_duplicates > 0 {
        changes.push_str(&format!(
            ", {} near-duplicates not paired",
            totals.near_duplicates
        ));
    }
    if totals.too_big > 0 {
        changes.push_str(&format!(
            ", {} larger than maxsize not copied",
            totals.too_big
        ));
    }
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
        inbox.copied_to[Side::Local] = 3;
        inbox.flags_on[Side::Remote] = 1;
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

    #[test]
    fn says_how_many_were_paired_by_content() {
        let mut inbox = FolderReport::for_folder(&FolderPath::inbox());
        inbox.paired_by_content = 325;
        inbox.copied_to[Side::Remote] = 2;
        inbox.near_duplicates = 2;
        let mut report = AccountReport {
            account: "A".into(),
            folders: vec![inbox],
            dry_run: true,
            ..Default::default()
        };
        let text = render(&report);
        assert!(
            text.contains("  INBOX  2 would be copied to remote, 325 would be paired by content, 2 near-duplicates not paired\n"),
            "{text}"
        );
        assert!(
            text.ends_with("would sync 1 folders: 2 messages copied (0 to local, 2 to remote), 0 flag updates, 0 deletions, 0 folders created, 325 paired by content, 2 near-duplicates not paired\n"),
            "{text}"
        );
        report.folders[0].copied_to[Side::Remote] = 0;
        report.folders[0].near_duplicates = 0;
        report.dry_run = false;
        assert_eq!(
            render(&report),
            "  INBOX  325 paired by content\nAccount A: synced 1 folders: 0 messages copied (0 to local, 0 to remote), 0 flag updates, 0 deletions, 0 folders created, 325 paired by content\n"
        );
    }
}
