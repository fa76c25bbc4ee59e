//! `--json`: one JSON object per line on stdout for every event, and a final `summary`
//! object, for cron, systemd and job runners. The schema is a public interface (the
//! README's "JSON output" reference): fields are only ever added, never renamed or
//! removed, and `schema` in the `start` object changes if that promise is ever broken.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::engine::{AccountReport, FolderReport, SyncEvent};
use crate::side::{PerSide, Side};

/// The version of the event schema, in the `start` object.
pub const SCHEMA: u32 = 1;

/// Writes one event as a line on stdout, with its `event` name and `time` first. A
/// whole line is written under the stdout lock, so events from threads never interleave.
pub fn emit(event: &str, fields: Value) {
    let mut object = Map::new();
    object.insert("event".into(), event.into());
    object.insert("time".into(), rfc3339_now().into());
    if let Value::Object(fields) = fields {
        object.extend(fields);
    }
    let line = Value::Object(object).to_string();
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (the consumer went away) must not stop the sync: the state and the
    // mail are what matter, and the exit code still tells.
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// The JSON form of an engine event, as `(event name, fields)`.
pub fn event(event: &SyncEvent<'_>) -> (&'static str, Value) {
    match event {
        SyncEvent::FoldersPlanned { account, folders } => (
            "folders_planned",
            json!({ "account": account, "folders": folders }),
        ),
        SyncEvent::FolderStarted { account, folder } => (
            "folder_started",
            json!({ "account": account, "folder": folder.as_str() }),
        ),
        SyncEvent::CopiesPlanned {
            account,
            folder,
            to,
            messages,
            bytes,
        } => (
            "copies_planned",
            json!({
                "account": account, "folder": folder.as_str(), "to": to.name(),
                "messages": messages, "bytes": bytes,
            }),
        ),
        SyncEvent::MessagesCopied {
            account,
            folder,
            to,
            messages,
            bytes,
        } => (
            "copied",
            json!({
                "account": account, "folder": folder.as_str(), "to": to.name(),
                "messages": messages, "bytes": bytes,
            }),
        ),
        SyncEvent::MessageSkipped {
            account,
            folder,
            error,
        } => (
            "message_skipped",
            json!({ "account": account, "folder": folder.as_str(), "error": error }),
        ),
        SyncEvent::FolderFinished { account, report } => {
            let mut fields = json!({
                "account": account,
                "folder": report.folder.as_ref().map(|f| f.as_str()),
                "ok": report.errors.is_empty(),
                "errors": report.errors,
            });
            merge(&mut fields, changes(std::slice::from_ref(report)));
            if let Some(object) = fields.as_object_mut() {
                object.insert(
                    "created_on".into(),
                    report.created_on.map(Side::name).into(),
                );
            }
            ("folder_finished", fields)
        }
    }
}

/// The `account_finished` object of an account's report.
pub fn account_finished(report: &AccountReport) -> Value {
    let failed_folders = report
        .folders
        .iter()
        .filter(|f| !f.errors.is_empty())
        .count();
    let mut fields = json!({
        "account": report.account,
        "ok": !report.failed(),
        "dry_run": report.dry_run,
        "error": report.error,
        "folders": report.folders.len(),
        "failed_folders": failed_folders,
    });
    merge(&mut fields, changes(&report.folders));
    fields
}

/// The final `summary` object of a run over `reports`; `problems` are the errors outside
/// any account (the mailbox list could not be written, ...).
pub fn summary(
    reports: &[AccountReport],
    problems: &[String],
    exit_code: u8,
    seconds: f64,
) -> Value {
    let folders: Vec<FolderReport> = reports
        .iter()
        .flat_map(|r| r.folders.iter().cloned())
        .collect();
    let folder_errors: usize = folders.iter().map(|f| f.errors.len()).sum();
    let account_errors = reports.iter().filter(|r| r.error.is_some()).count();
    let mut fields = json!({
        "ok": exit_code == 0,
        "exit_code": exit_code,
        "accounts": reports.len(),
        "failed_accounts": reports.iter().filter(|r| r.failed()).map(|r| &r.account).collect::<Vec<_>>(),
        "folders": folders.len(),
        "failed_folders": folders.iter().filter(|f| !f.errors.is_empty()).count(),
        "errors": folder_errors + account_errors + problems.len(),
        "problems": problems,
        "seconds": (seconds * 1000.0).round() / 1000.0,
    });
    merge(&mut fields, changes(&folders));
    fields
}

/// The `summary` object of a run that stopped before syncing anything (bad usage or
/// configuration: exit code 2).
pub fn usage_summary(error: &str, exit_code: u8) -> Value {
    json!({
        "ok": false,
        "exit_code": exit_code,
        "error": error,
        "accounts": 0,
        "failed_accounts": [],
        "folders": 0,
        "failed_folders": 0,
        "errors": 1,
        "problems": [error],
    })
}

/// The change counts over `folders`: `copied`, `flags`, `deleted` (each per side),
/// `folders_created`, `recovered`, `paired_by_content`, `near_duplicates`, `too_big`.
fn changes(folders: &[FolderReport]) -> Value {
    let per_side = |count: &dyn Fn(&FolderReport) -> &PerSide<usize>| {
        let total = |side: Side| folders.iter().map(|f| count(f)[side]).sum::<usize>();
        json!({ "local": total(Side::Local), "remote": total(Side::Remote) })
    };
    json!({
        "copied": per_side(&|f| &f.copied_to),
        "flags": per_side(&|f| &f.flags_on),
        "deleted": per_side(&|f| &f.deleted_on),
        "folders_created": folders.iter().filter(|f| f.created_on.is_some()).count(),
        "recovered": folders.iter().map(|f| f.recovered).sum::<usize>(),
        "paired_by_content": folders.iter().map(|f| f.paired_by_content).sum::<usize>(),
        "near_duplicates": folders.iter().map(|f| f.near_duplicates).sum::<usize>(),
        "too_big": folders.iter().map(|f| f.too_big).sum::<usize>(),
    })
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

/// Now as RFC 3339 UTC with milliseconds (`2026-11-30T06:40:01.123Z`).
fn rfc3339_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(since.as_secs(), since.subsec_millis())
}

fn rfc3339(secs: u64, millis: u32) -> String {
    let (year, month, day) = backend_kit::calendar::civil_from_days((secs / 86_400) as i64);
    let rest = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use backend_api::FolderPath;

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(1_796_020_801, 123), "2026-11-30T06:40:01.123Z");
    }

    #[test]
    fn a_finished_folder_carries_its_counts_and_errors() {
        let mut report = FolderReport::for_folder(&FolderPath::new("Work").unwrap());
        report.copied_to[Side::Local] = 2;
        report.created_on = Some(Side::Local);
        report.errors.push("boom".into());
        let (name, fields) = event(&SyncEvent::FolderFinished {
            account: "A",
            report: &report,
        });
        assert_eq!(name, "folder_finished");
        assert_eq!(fields["folder"], "Work");
        assert_eq!(fields["ok"], false);
        assert_eq!(fields["errors"], json!(["boom"]));
        assert_eq!(fields["copied"], json!({"local": 2, "remote": 0}));
        assert_eq!(fields["created_on"], "local");
        assert_eq!(fields["folders_created"], 1);
    }

    #[test]
    fn the_summary_totals_every_account() {
        let mut inbox = FolderReport::for_folder(&FolderPath::inbox());
        inbox.copied_to[Side::Remote] = 3;
        inbox.deleted_on[Side::Local] = 1;
        let reports = [
            AccountReport {
                account: "A".into(),
                folders: vec![inbox],
                ..Default::default()
            },
            AccountReport {
                account: "B".into(),
                error: Some("login failed".into()),
                ..Default::default()
            },
        ];
        let summary = summary(&reports, &[], 1, 0.25);
        assert_eq!(summary["exit_code"], 1);
        assert_eq!(summary["ok"], false);
        assert_eq!(summary["failed_accounts"], json!(["B"]));
        assert_eq!(summary["copied"], json!({"local": 0, "remote": 3}));
        assert_eq!(summary["deleted"], json!({"local": 1, "remote": 0}));
        assert_eq!(summary["errors"], 1);
        assert_eq!(summary["folders"], 1);
    }
}
