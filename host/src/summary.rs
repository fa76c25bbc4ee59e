//! The end-of-sync summary the CLI prints: one block per account, one line per folder that
//! changed or failed, one total line. Formatting lives here, never in the engine.

use std::fmt::Write;

use crate::engine::{AccountReport, FolderReport};
use crate::side::Side;

/// `count` and its noun, singular for exactly one: `1 message`, `0 messages`, `2 messages`.
pub fn counted(count: usize, singular: &str, plural: &str) -> String {
    format!("{count} {}", if count == 1 { singular } else { plural })
}

fn folder_name(report: &FolderReport) -> String {
    report
        .folder
        .as_ref()
        .map_or_else(|| "(account)".to_owned(), ToString::to_string)
}

/// What a sync did to one folder, e.g. `created on local, 3 copied to local`; empty when
/// it changed nothing.
pub fn folder_changes(report: &FolderReport, dry_run: bool) -> String {
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
                "{} {}on {side}",
                counted(flags, "flag update", "flag updates"),
                if dry_run { "would be made " } else { "" }
            ));
        }
        if deleted > 0 {
            parts.push(format!("{deleted} {would}deleted on {side}"));
        }
    }
    if report.recovered > 0 {
        parts.push(format!(
            "{} recovered",
            counted(report.recovered, "interrupted copy", "interrupted copies")
        ));
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
            "{} not paired",
            counted(report.near_duplicates, "near-duplicate", "near-duplicates")
        ));
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
        let line = folder_changes(folder, report.dry_run);
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
    let changes =
        if copied + flags + deleted + created + totals.recovered + totals.paired_by_content == 0 {
            "no changes".to_owned()
        } else {
            let per_side: Vec<String> = Side::BOTH
                .iter()
                .map(|&side| format!("{} to {side}", totals.copied_to[side]))
                .collect();
            format!(
                "{} copied ({}), {}, {}, {}",
                counted(copied, "message", "messages"),
                per_side.join(", "),
                counted(flags, "flag update", "flag updates"),
                counted(deleted, "deletion", "deletions"),
                counted(created, "folder created", "folders created"),
            )
        };
    let mut changes = changes;
    if totals.paired_by_content > 0 {
        changes.push_str(&format!(", {} paired by content", totals.paired_by_content));
    }
    if totals.near_duplicates > 0 {
        changes.push_str(&format!(
            ", {} not paired",
            counted(totals.near_duplicates, "near-duplicate", "near-duplicates")
        ));
    }
    let errors = match errors {
        0 => String::new(),
        n => format!(", {}", counted(n, "error", "errors")),
    };
    let _ = writeln!(
        out,
        "Account {}: {verb} {}: {changes}{errors}",
        report.account,
        counted(folders, "folder", "folders")
    );
    out
}

/// Only what failed in an account (`-q`): its `FAILED` line, or its folders' `ERROR`
/// lines and its account line; nothing when it all went well.
pub fn render_failures(report: &AccountReport) -> String {
    if !report.failed() {
        return String::new();
    }
    render(report)
        .lines()
        .filter(|line| !line.starts_with("  ") || line.contains("  ERROR: "))
        .map(|line| format!("{line}\n"))
        .collect()
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
            "Account Personal: synced 1 folder: no changes\n"
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
            text.contains("  INBOX  3 copied to local, 1 flag update on remote\n"),
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
            text.ends_with("would sync 1 folder: 2 messages copied (0 to local, 2 to remote), 0 flag updates, 0 deletions, 0 folders created, 325 paired by content, 2 near-duplicates not paired\n"),
            "{text}"
        );
        report.folders[0].copied_to[Side::Remote] = 0;
        report.folders[0].near_duplicates = 0;
        report.dry_run = false;
        assert_eq!(
            render(&report),
            "  INBOX  325 paired by content\nAccount A: synced 1 folder: 0 messages copied (0 to local, 0 to remote), 0 flag updates, 0 deletions, 0 folders created, 325 paired by content\n"
        );
    }

    #[test]
    fn one_of_a_thing_is_singular() {
        let mut inbox = FolderReport::for_folder(&FolderPath::inbox());
        inbox.copied_to[Side::Local] = 1;
        inbox.flags_on[Side::Remote] = 1;
        inbox.deleted_on[Side::Remote] = 1;
        inbox.recovered = 1;
        inbox.near_duplicates = 1;
        inbox.created_on = Some(Side::Local);
        let report = AccountReport {
            account: "A".into(),
            folders: vec![inbox],
            ..Default::default()
        };
        assert_eq!(
            render(&report),
            "  INBOX  created on local, 1 copied to local, 1 flag update on remote, 1 deleted on remote, \
             1 interrupted copy recovered, 1 near-duplicate not paired\n\
             Account A: synced 1 folder: 1 message copied (1 to local, 0 to remote), 1 flag update, \
             1 deletion, 1 folder created, 1 near-duplicate not paired\n"
        );
        assert_eq!(counted(0, "folder", "folders"), "0 folders");
        assert_eq!(counted(2, "folder", "folders"), "2 folders");
    }
}
