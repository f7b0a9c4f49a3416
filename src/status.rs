//! Work-item status derived from evidence, never from anyone's say-so.
//!
//! Rules (DESIGN §4.5, issue 5):
//! * **CTO-WORK-022** stays `blocked` until a *verified* `real_stage2` report with outcome
//!   `pass` exists; then its remaining blocker is cleared (`unblocked`).
//! * **CTO-WORK-020** stays `blocked` until such a report exists *for a model whose admission
//!   says `admitted`* — both in the sealed report and, when an admission file is configured,
//!   in that file now, for the same provider/model. The harness never admits anything.
//! * Any other work item keeps the status written in the SOT (no evidence rule applies).
//!
//! Simulated reports and reports that fail verification never count; the latter are listed
//! with the reason. This module reports; it never edits the SOT.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::output::{DerivedStatus, EvidenceRef, StatusOutput, WorkItemOutput};
use crate::records::{AdmissionRecord, AdmissionStatus};
use crate::sot::SotDocument;

/// The work item that owns decision and admission.
pub const ADMISSION_WORK_ITEM: &str = crate::records::OWNING_WORK_ITEM;
/// The work item whose remaining blocker is real Stage 2 pass evidence.
pub const ROUTE_WORK_ITEM: &str = "CTO-WORK-022";

/// What status derivation needs from one verified report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReport {
    /// Where the report is.
    pub path: PathBuf,
    /// Its seal digest.
    pub digest: String,
    /// `pass`, `fail`, `blocked` or `incomplete`.
    pub outcome: String,
    /// `real_stage2` or `simulated`.
    pub evidence_kind: String,
    /// The provider the run proved.
    pub case_model_provider: String,
    /// The model the run proved.
    pub case_model: String,
    /// The admission status recorded at run time.
    pub case_model_admission_status: String,
}

impl VerifiedReport {
    fn is_real_pass(&self) -> bool {
        self.outcome == "pass" && self.evidence_kind == "real_stage2"
    }

    fn reference(&self) -> EvidenceRef {
        EvidenceRef {
            report: self.path.display().to_string(),
            digest: self.digest.clone(),
        }
    }
}

/// Reports found under an evidence folder: the verified ones, and the rest with reasons.
#[derive(Debug, Default)]
pub struct EvidenceFolder {
    /// Reports that passed verification.
    pub verified: Vec<VerifiedReport>,
    /// (path, why it does not count).
    pub rejected: Vec<(PathBuf, String)>,
}

/// Finds every `report.json` under `dir` (depth-first, sorted) and verifies each with `verify`.
pub fn collect_reports(
    dir: &Path,
    verify: impl Fn(&Path) -> Result<VerifiedReport, String>,
) -> std::io::Result<EvidenceFolder> {
    let mut folder = EvidenceFolder::default();
    let mut pending = vec![dir.to_owned()];
    let mut reports = Vec::new();
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                pending.push(entry.path());
            } else if file_type.is_file() && entry.file_name() == "report.json" {
                reports.push(entry.path());
            }
        }
    }
    reports.sort();
    for path in reports {
        match verify(&path) {
            Ok(report) => folder.verified.push(report),
            Err(reason) => folder.rejected.push((path, reason)),
        }
    }
    Ok(folder)
}

/// Derives the status of every work item (and CTO-WORK-020, even when the SOT omits it).
pub fn derive(
    document: &SotDocument,
    evidence: &EvidenceFolder,
    admission_now: Option<&AdmissionRecord>,
) -> StatusOutput {
    let work_items = document
        .work_items
        .iter()
        .map(|item| WorkItemOutput {
            id: item.id.clone(),
            title: item.title.clone(),
            status: item.status.clone(),
            acceptance: item.acceptance.clone(),
            blocked_by: item.blocked_by.clone(),
            current_unblock: item.current_unblock.clone(),
        })
        .collect();

    let not_counted: Vec<String> = evidence
        .rejected
        .iter()
        .map(|(path, reason)| format!("{} does not count: {reason}", path.display()))
        .collect();
    let real_passes: Vec<&VerifiedReport> = evidence
        .verified
        .iter()
        .filter(|report| report.is_real_pass())
        .collect();

    let mut derived = BTreeMap::new();
    for item in &document.work_items {
        let status = match item.id.as_str() {
            ROUTE_WORK_ITEM => derive_route(&real_passes, &not_counted),
            ADMISSION_WORK_ITEM => derive_admission(&real_passes, admission_now, &not_counted),
            _ => DerivedStatus {
                status: item.status.clone(),
                reasons: vec!["no evidence rule applies: status as written in the SOT".to_owned()],
                evidence: Vec::new(),
            },
        };
        derived.insert(item.id.clone(), status);
    }
    derived
        .entry(ADMISSION_WORK_ITEM.to_owned())
        .or_insert_with(|| derive_admission(&real_passes, admission_now, &not_counted));
    StatusOutput { work_items, derived }
}

fn derive_route(real_passes: &[&VerifiedReport], not_counted: &[String]) -> DerivedStatus {
    if real_passes.is_empty() {
        let mut reasons = vec![
            "remaining blocker: no verified real_stage2 pass report (run `case-harness run` against CTO_HARNESS_CASE_LOCAL_BASE_URL)".to_owned(),
        ];
        reasons.extend_from_slice(not_counted);
        return DerivedStatus {
            status: "blocked".to_owned(),
            reasons,
            evidence: Vec::new(),
        };
    }
    DerivedStatus {
        status: "unblocked".to_owned(),
        reasons: real_passes
            .iter()
            .map(|report| {
                format!(
                    "remaining blocker cleared: verified real_stage2 pass on {}/{} ({}, sha256 {})",
                    report.case_model_provider,
                    report.case_model,
                    report.path.display(),
                    report.digest
                )
            })
            .collect(),
        evidence: real_passes.iter().map(|report| report.reference()).collect(),
    }
}

fn derive_admission(
    real_passes: &[&VerifiedReport],
    admission_now: Option<&AdmissionRecord>,
    not_counted: &[String],
) -> DerivedStatus {
    let mut reasons = Vec::new();
    let admitted_now = |report: &VerifiedReport| match admission_now {
        None => true,
        Some(admission) => {
            admission.case_model_admission_status == AdmissionStatus::Admitted
                && admission.case_model_provider.as_str() == report.case_model_provider
                && admission.case_model.as_str() == report.case_model
        }
    };
    let qualifying: Vec<&VerifiedReport> = real_passes
        .iter()
        .copied()
        .filter(|report| report.case_model_admission_status == "admitted" && admitted_now(report))
        .collect();
    if !qualifying.is_empty() {
        return DerivedStatus {
            status: "unblocked".to_owned(),
            reasons: qualifying
                .iter()
                .map(|report| {
                    format!(
                        "admitted model {}/{} has a verified real_stage2 pass ({}, sha256 {})",
                        report.case_model_provider,
                        report.case_model,
                        report.path.display(),
                        report.digest
                    )
                })
                .collect(),
            evidence: qualifying.iter().map(|report| report.reference()).collect(),
        };
    }
    match admission_now {
        Some(admission) if admission.case_model_admission_status != AdmissionStatus::Admitted => reasons.push(format!(
            "admission for {}/{} is {:?}, not \"admitted\" (the harness never admits; CTO-WORK-020 does)",
            admission.case_model_provider,
            admission.case_model,
            admission.case_model_admission_status.as_str()
        )),
        Some(_) => {}
        None => reasons
            .push("no admission record says \"admitted\" (CTO_HARNESS_CASE_MODEL_ADMISSION_FILE not set)".to_owned()),
    }
    if real_passes.is_empty() {
        reasons.push("no verified real_stage2 pass report".to_owned());
    } else {
        for report in real_passes {
            reasons.push(format!(
                "{} is a verified real_stage2 pass for {}/{}, but its admission status was {:?}, not \"admitted\"",
                report.path.display(),
                report.case_model_provider,
                report.case_model,
                report.case_model_admission_status
            ));
        }
    }
    reasons.extend_from_slice(not_counted);
    DerivedStatus {
        status: "blocked".to_owned(),
        reasons,
        evidence: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> SotDocument {
        let text = include_str!("../fixtures/sot/seed-one-line.md");
        crate::sot::parse(Path::new("seed"), text).expect("seed parses")
    }

    fn report(kind: &str, outcome: &str, admission: &str) -> VerifiedReport {
        VerifiedReport {
            path: PathBuf::from(format!("ev/{kind}-{outcome}-{admission}/report.json")),
            digest: "d".repeat(64),
            outcome: outcome.to_owned(),
            evidence_kind: kind.to_owned(),
            case_model_provider: "llama.cpp".to_owned(),
            case_model: "smollm2-135m-instruct".to_owned(),
            case_model_admission_status: admission.to_owned(),
        }
    }

    fn derived(reports: Vec<VerifiedReport>) -> BTreeMap<String, DerivedStatus> {
        let folder = EvidenceFolder {
            verified: reports,
            rejected: Vec::new(),
        };
        derive(&seed(), &folder, None).derived
    }

    #[test]
    fn empty_evidence_keeps_both_blocked() {
        let derived = derived(Vec::new());
        assert_eq!(derived["CTO-WORK-020"].status, "blocked");
        assert_eq!(derived["CTO-WORK-022"].status, "blocked");
        assert_eq!(derived["CTO-WORK-021"].status, "validated");
    }

    #[test]
    fn simulated_pass_counts_for_nothing() {
        let derived = derived(vec![report("simulated", "pass", "admitted")]);
        assert_eq!(derived["CTO-WORK-020"].status, "blocked");
        assert_eq!(derived["CTO-WORK-022"].status, "blocked");
    }

    #[test]
    fn real_pass_on_a_candidate_clears_022_but_not_020() {
        let derived = derived(vec![report("real_stage2", "pass", "candidate")]);
        assert_eq!(derived["CTO-WORK-022"].status, "unblocked");
        assert_eq!(derived["CTO-WORK-022"].evidence.len(), 1);
        assert_eq!(derived["CTO-WORK-020"].status, "blocked");
    }

    #[test]
    fn real_pass_on_an_admitted_model_clears_020() {
        let derived = derived(vec![report("real_stage2", "pass", "admitted")]);
        assert_eq!(derived["CTO-WORK-020"].status, "unblocked");
    }
}
