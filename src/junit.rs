//! JUnit XML for CI dashboards, written with `quick-junit` (nextest's own writer).
//!
//! Every testcase carries `<properties>` that tie it back to the evidence: work item,
//! bullet text, gate codes observed, report path and seal digest, and for a run the proven
//! provider, model and admission status. The XML is derived from the sealed report, which
//! has already been scanned for secrets.

use std::path::Path;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report as JunitReport, TestCase, TestCaseStatus, TestSuite};

use crate::output::{Report, RunOutcome};
use crate::run_folder as names;

/// The name of the run's testcase: the real Stage 2 case for real evidence.
pub(crate) fn run_case_name(report: &Report) -> &'static str {
    match report.evidence_kind {
        crate::output::EvidenceKind::RealStage2 => "CTO-WORK-022::real-case-stage2",
        crate::output::EvidenceKind::Simulated => "CTO-WORK-022::simulated-case-run",
    }
}

/// Properties that tie a testcase to a sealed report.
pub(crate) fn report_properties(report: &Report, report_path: &Path) -> Vec<Property> {
    let mut properties = vec![
        Property::new("outcome", report.outcome.as_str()),
        Property::new("evidence_kind", report.evidence_kind.as_str()),
        Property::new("report_path", report_path.display().to_string()),
        Property::new(
            "report_digest",
            report.seal.as_ref().map(|seal| seal.digest.clone()).unwrap_or_default(),
        ),
        Property::new("case_process_started", report.case_process_started.to_string()),
        Property::new(
            "gate_codes_blocked",
            report
                .blocked
                .iter()
                .map(|code| code.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
    ];
    for (name, value) in [
        ("case_model_provider", report.case_model_provider.as_deref()),
        ("case_model", report.case_model.as_deref()),
        (
            "case_model_admission_status",
            report.case_model_admission_status.map(|status| status.as_str()),
        ),
    ] {
        properties.push(Property::new(name, value.unwrap_or_default().to_owned()));
    }
    if let Some(proof) = &report.fallback_proof {
        properties.push(Property::new(
            "served_by_admitted_model",
            proof.served_by_admitted_model.to_string(),
        ));
        properties.push(Property::new("fallback_attempts", proof.fallback_attempts.to_string()));
        properties.push(Property::new("no_fallback", proof.no_fallback.to_string()));
    }
    properties.push(Property::new("secret_scan_clean", report.secret_scan.clean.to_string()));
    properties
}

/// Why a run's JUnit file could not be written (the evidence module maps it onto its own
/// `EvidenceError`, same messages).
#[derive(Debug, thiserror::Error)]
pub enum JunitError {
    /// The JUnit XML could not be rendered.
    #[error("cannot render {}", names::JUNIT)]
    Render(#[source] quick_junit::SerializeError),
    /// Writing the file failed.
    #[error(transparent)]
    Io(#[from] crate::path_io::PathIoError),
}

/// Writes `junit.xml` into a run folder: one testcase for the run.
pub fn write_run_junit(run_dir: &Path, report: &Report) -> Result<(), JunitError> {
    let xml = render_run_junit(report, &run_dir.join(names::REPORT))?;
    Ok(crate::path_io::write_atomically(
        &run_dir.join(names::JUNIT),
        xml.as_bytes(),
    )?)
}

/// The `report_path` property of a run's JUnit file (XML entities decoded), as `verify` reads
/// it back before recomputing the file.
pub(crate) fn recorded_report_path(xml: &str) -> Option<String> {
    const START: &str = "<property name=\"report_path\" value=\"";
    let rest = &xml[xml.find(START)? + START.len()..];
    let value = &rest[..rest.find('"')?];
    Some(
        value
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// The run's JUnit XML for `report`, naming `report_path`: a pure function of the report, so
/// `verify` can recompute it.
pub(crate) fn render_run_junit(report: &Report, report_path: &Path) -> Result<String, JunitError> {
    let status = match report.outcome {
        RunOutcome::Pass => TestCaseStatus::success(),
        outcome => {
            let mut status = TestCaseStatus::non_success(if outcome == RunOutcome::Fail {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            });
            status.set_message(format!("{}: {}", outcome.as_str(), report.reasons.join("; ")));
            status
        }
    };
    let mut case = TestCase::new(run_case_name(report), status);
    case.set_classname("case-harness run");
    if let Some(summary) = &report.case {
        case.set_time(Duration::from_millis(summary.duration_ms));
    }
    case.add_properties(report_properties(report, report_path));
    let mut suite = TestSuite::new("case-harness run");
    suite.add_test_case(case);
    let mut junit = JunitReport::new("case-harness");
    junit.add_test_suite(suite);
    junit.to_string().map_err(JunitError::Render)
}
