//! What the acceptance suite leaves for people and CI: `summary.md` (a table of trials and
//! the work-item status their reports support) and the suite's JUnit (one testcase per trial,
//! with the properties and `[[ATTACHMENT|…]]` lines that tie it to the evidence). The run
//! folder's own JUnit is `crate::junit`'s.

use std::path::Path;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report as JunitReport, TestCase, TestCaseStatus, TestSuite};

use super::{AcceptanceError, TrialRecord};
use crate::evidence;

/// Writes `summary.md`: one table row per trial (work item, bullet, result, proof with the
/// report and digest behind it), then the work-item status the verified reports support.
pub(crate) fn write_summary(
    path: &Path,
    sot: &Path,
    records: &[TrialRecord],
    evidence_dir: &Path,
    admission_now: Option<&crate::records::AdmissionRecord>,
) -> Result<(), AcceptanceError> {
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    let count = |status: &str| records.iter().filter(|record| record.status == status).count();
    let mut text = String::new();
    text.push_str("# Acceptance evidence\n\n");
    text.push_str(&format!(
        "SOT: `{}`. Trials: {} passed, {} failed, {} skipped{}. Each report below verifies with `case-harness verify`.\n\n",
        sot.display(),
        count("passed"),
        count("failed"),
        count("skipped"),
        match count("interrupted") {
            0 => String::new(),
            interrupted => format!(", {interrupted} interrupted (the run was stopped)"),
        }
    ));
    text.push_str("| Work item | Bullet | Result | Proof |\n|---|---|---|---|\n");
    for record in records {
        let bullet = if record.bullet.is_empty() {
            record.name.as_str()
        } else {
            record.bullet.as_str()
        };
        let result = match (record.status.as_str(), &record.message) {
            ("passed", _) => "✅ pass".to_owned(),
            ("skipped", Some(reason)) => format!("⏭ skipped: {reason}"),
            ("interrupted", Some(reason)) => format!("⏸ interrupted: {reason}"),
            (_, Some(message)) => format!("❌ fail: {}", message.lines().next().unwrap_or_default()),
            (status, None) => status.to_owned(),
        };
        let mut proof = record.proof.clone();
        if let Some((report, digest)) = record.reports.last() {
            let shown = Path::new(report)
                .strip_prefix(evidence_dir)
                .map_or_else(|_| report.clone(), |p| p.display().to_string());
            proof.push_str(&format!(
                " — last report `{shown}` (sha256 `{}…`)",
                digest.get(..12).unwrap_or(digest)
            ));
        }
        if !record.gate_codes.is_empty() {
            proof.push_str(&format!(" — gates seen blocking: {}", record.gate_codes.join(", ")));
        }
        text.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            record.work_item,
            cell(bullet),
            cell(&result),
            cell(&proof)
        ));
    }
    text.push_str("\n## Work-item status supported by these reports\n\n");
    // The status section is never dropped silently: if it cannot be derived, the summary says
    // why and the summary is still written, then the error is returned (the job fails).
    let derived = crate::sot::load(sot)
        .map_err(|err| AcceptanceError::Status(err.into()))
        .and_then(|document| {
            let folder = crate::status::collect_verified_reports(evidence_dir).map_err(|source| {
                AcceptanceError::Status(super::StatusUnavailable::EvidenceFolder {
                    path: evidence_dir.to_owned(),
                    source,
                })
            })?;
            Ok(crate::status::derive(&document, &folder, admission_now))
        });
    match &derived {
        Ok(status) => {
            for (id, derived) in &status.derived {
                text.push_str(&format!(
                    "- **{id}**: {} — {}\n",
                    derived.status,
                    derived.reasons.first().map_or("", String::as_str)
                ));
            }
        }
        Err(err) => text.push_str(&format!("Not derived: {err}\n")),
    }
    std::fs::write(path, text).map_err(crate::path_io::at(path))?;
    derived.map(|_| ())
}

/// `[[ATTACHMENT|path]]` lines (the convention Jenkins' JUnit attachments plugin and Azure
/// DevOps read from a testcase's system-out): every report of the trial and, when the run was
/// signed, its envelope. Paths are relative to `junit_dir` (the JUnit file's folder) when they
/// are inside it, so they still hold after the evidence folder is moved or downloaded.
pub(crate) fn attachment_lines(record: &TrialRecord, junit_dir: &Path) -> String {
    let junit_dir = std::path::absolute(junit_dir).unwrap_or_else(|_| junit_dir.to_owned());
    let shown = |path: &Path| match path.strip_prefix(&junit_dir) {
        Ok(_) => crate::guarded_files::relative_name(&junit_dir, path),
        Err(_) => path.display().to_string(),
    };
    let mut lines = String::new();
    for (report, _) in &record.reports {
        lines.push_str(&format!("[[ATTACHMENT|{}]]\n", shown(Path::new(report))));
        let envelope = Path::new(report).with_file_name(crate::attestation::ENVELOPE);
        if envelope.is_file() {
            lines.push_str(&format!("[[ATTACHMENT|{}]]\n", shown(&envelope)));
        }
    }
    lines
}

/// Writes the acceptance suite's JUnit: one testcase per trial (skipped ones with their
/// reason), each with work item, bullet, observed gate codes, report paths and digests.
pub(crate) fn write_acceptance_junit(path: &Path, records: &[TrialRecord]) -> Result<(), evidence::EvidenceError> {
    let mut suite = TestSuite::new("acceptance");
    for record in records {
        let status = match record.status.as_str() {
            "passed" => TestCaseStatus::success(),
            // JUnit has no "interrupted": a skip with the reason, never a failure.
            "skipped" | "interrupted" => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(record.message.clone().unwrap_or_default());
                status
            }
            _ => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(record.message.clone().unwrap_or_default());
                status
            }
        };
        let mut case = TestCase::new(record.name.as_str(), status);
        case.set_classname(record.work_item.as_str());
        case.set_time(Duration::from_millis(record.duration_ms));
        case.add_property(Property::new("work_item", record.work_item.as_str()));
        case.add_property(Property::new("bullet", record.bullet.as_str()));
        case.add_property(Property::new("proof", record.proof.as_str()));
        case.add_property(Property::new("gate_codes", record.gate_codes.join(",")));
        for (index, (report, digest)) in record.reports.iter().enumerate() {
            case.add_property(Property::new(format!("report_path.{}", index + 1), report.as_str()));
            case.add_property(Property::new(format!("report_digest.{}", index + 1), digest.as_str()));
        }
        let attachments = attachment_lines(record, path.parent().unwrap_or(Path::new(".")));
        if !attachments.is_empty() {
            case.set_system_out(attachments);
        }
        suite.add_test_case(case);
    }
    let mut junit = JunitReport::new("case-harness acceptance");
    junit.add_test_suite(suite);
    let xml = junit.to_string().map_err(evidence::EvidenceError::Junit)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(crate::path_io::at(parent))?;
    }
    evidence::write_atomically(path, xml.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_are_relative_to_the_junit_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = dir.path().join("runs/W__1/step-1/run");
        std::fs::create_dir_all(&run).expect("mkdir");
        std::fs::write(run.join(crate::attestation::ENVELOPE), "{}").expect("write");
        let record = TrialRecord {
            name: "W::1".to_owned(),
            work_item: "W".to_owned(),
            bullet: "b".to_owned(),
            status: "passed".to_owned(),
            message: None,
            duration_ms: 1,
            gate_codes: Vec::new(),
            reports: vec![
                (run.join("report.json").display().to_string(), "ab".repeat(32)),
                ("/elsewhere/run/report.json".to_owned(), "cd".repeat(32)),
            ],
            forged_reports: Vec::new(),
            proof: "p".to_owned(),
        };
        assert_eq!(
            attachment_lines(&record, dir.path()),
            "[[ATTACHMENT|runs/W__1/step-1/run/report.json]]\n\
             [[ATTACHMENT|runs/W__1/step-1/run/attestation.dsse.json]]\n\
             [[ATTACHMENT|/elsewhere/run/report.json]]\n"
        );
    }
}
