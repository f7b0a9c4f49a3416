//! Work-item status derived from evidence, never from anyone's say-so.
//!
//! Rules (README, "Evidence and verification"). A report *counts* as real Stage 2 evidence when it verifies,
//! its outcome is `pass`, its kind is `real_stage2`, and its upstream fingerprint identifies
//! the server (a known server type, or the admission's `model_sha256` matched the served model
//! file; a mismatch never counts; when the run's admission or the admission now pins
//! `model_sha256`, only a match counts). When an admission file is configured, the report must also
//! be for that admission's provider/model, and a `rejected`/`revoked` admission counts nothing.
//! * **CTO-WORK-022** stays `blocked` until a counting report exists; then its remaining
//!   blocker is cleared (`unblocked`).
//! * **CTO-WORK-020** stays `blocked` until a counting report exists whose run used an
//!   `admitted` admission *and* the configured admission file says `admitted` now, for the
//!   same provider/model. Without a configured admission file it stays blocked: the harness
//!   cannot confirm the admission, and it never admits anything.
//! * Any other work item keeps the status written in the SOT (no evidence rule applies).
//!
//! Simulated reports and reports that fail verification never count; the latter are listed
//! with the reason. This module reports; it never edits the SOT.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::evidence::VerifiedReport;
use crate::output::{DerivedStatus, EvidenceKind, EvidenceRef, RunOutcome, Sha256Check, StatusOutput, WorkItemOutput};
use crate::records::{AdmissionRecord, AdmissionStatus};
use crate::sot::SotDocument;

/// The work item that owns decision and admission.
pub(crate) const ADMISSION_WORK_ITEM: &str = crate::records::OWNING_WORK_ITEM;
/// The work item whose remaining blocker is real Stage 2 pass evidence.
pub(crate) const ROUTE_WORK_ITEM: &str = "CTO-WORK-022";

impl VerifiedReport {
    /// Why this report does not count as real Stage 2 evidence (for `admission_now`), if it does not.
    fn does_not_count(&self, admission_now: Option<&AdmissionRecord>, count_unconfined: bool) -> Option<String> {
        if self.outcome != RunOutcome::Pass || self.evidence_kind != EvidenceKind::RealStage2 {
            return Some(format!(
                "a {} {} report",
                self.evidence_kind.as_str(),
                self.outcome.as_str()
            ));
        }
        if !self.confined && !count_unconfined {
            return Some(
                "Case ran unconfined (isolation: none, or a required layer of the confinement missing): nothing stopped it from reaching another model or the evidence; \
                 `status --count-unconfined` counts it anyway"
                    .to_owned(),
            );
        }
        let check = self.model_sha256_check.as_ref();
        let matched = check.is_some_and(Sha256Check::is_match);
        if check == Some(&Sha256Check::Mismatch) {
            return Some("its served model file did not match the admission's model_sha256".to_owned());
        }
        // A pinned digest is the strongest identity claim there is: when one was pinned (by the
        // run's admission or the admission now), only a match counts; a server that merely
        // answered `/props` never stands in for it.
        let pinned_now = admission_now.and_then(|admission| admission.model_sha256.as_ref());
        if let Some(pinned) = pinned_now
            .map(|digest| digest.as_str())
            .or(self.pinned_model_sha256.as_deref())
        {
            if !matched {
                return Some(format!(
                    "the admission pins model_sha256 but the served model file was never matched ({})",
                    check.map_or_else(|| "unknown".to_owned(), Sha256Check::to_string)
                ));
            }
            if self.pinned_model_sha256.as_deref() != Some(pinned) {
                return Some(format!(
                    "the admission now pins model_sha256 {pinned}, but the run matched {:?}",
                    self.pinned_model_sha256
                ));
            }
        }
        if self.upstream_server == "unknown" && !matched {
            return Some("its upstream could not be identified (unknown server, no model_sha256 match)".to_owned());
        }
        if let Some(admission) = admission_now {
            if admission.case_model_provider.as_str() != self.case_model_provider
                || admission.case_model.as_str() != self.case_model
            {
                return Some(format!(
                    "it is for {}/{}, but the admission is for {}/{}",
                    self.case_model_provider, self.case_model, admission.case_model_provider, admission.case_model
                ));
            }
            if matches!(
                admission.case_model_admission_status,
                AdmissionStatus::Rejected | AdmissionStatus::Revoked
            ) {
                return Some(format!(
                    "the admission is now {:?}",
                    admission.case_model_admission_status.as_str()
                ));
            }
        }
        None
    }

    fn describe(&self) -> String {
        format!(
            "{}/{} ({}, sha256 {})",
            self.case_model_provider,
            self.case_model,
            self.path.display(),
            self.digest
        )
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
pub(crate) struct EvidenceFolder {
    /// Reports that passed verification.
    pub verified: Vec<VerifiedReport>,
    /// (path, why it does not count).
    pub rejected: Vec<(PathBuf, String)>,
    /// Count passes of Case runs that were not confined (`status --count-unconfined`).
    pub count_unconfined: bool,
}

/// [`collect_reports`] with the Harness Evidence Interface's own verifier.
pub(crate) fn collect_verified_reports(dir: &Path) -> std::io::Result<EvidenceFolder> {
    collect_reports(dir, |path| {
        crate::evidence::verify(path).map_err(|problems| crate::evidence::join_findings(&problems, "; "))
    })
}

/// Finds every `report.json` under `dir` (depth-first, sorted) and verifies each with `verify`.
pub(crate) fn collect_reports(
    dir: &Path,
    verify: impl Fn(&Path) -> Result<VerifiedReport, String>,
) -> std::io::Result<EvidenceFolder> {
    let mut folder = EvidenceFolder::default();
    let mut pending = vec![dir.to_owned()];
    let mut reports = Vec::new();
    let mut aggregates = Vec::new();
    while let Some(current) = pending.pop() {
        // A folder with a report is a run folder: its report is the only one that speaks for
        // it. Anything below (Case's own output above all) may have been written by the agent
        // under test and is never read as evidence.
        // A folder of `run --attempts` speaks only through its aggregate: an attempt that
        // passed does not count when the attempts together did not.
        let aggregate = current.join(crate::attempts::AGGREGATE);
        if std::fs::symlink_metadata(&aggregate).is_ok() {
            aggregates.push(aggregate);
            continue;
        }
        let report = current.join("report.json");
        // Whatever sits there (a FIFO, a link), it is this folder's report: verification
        // says why it does not count, instead of the folder being skipped in silence.
        if std::fs::symlink_metadata(&report).is_ok() {
            reports.push(report);
            continue;
        }
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() && entry.file_name() != "case-output" {
                pending.push(entry.path());
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
    aggregates.sort();
    for path in aggregates {
        match counted_aggregate(&path, &verify) {
            Ok(report) => folder.verified.push(report),
            Err(reason) => folder.rejected.push((path, reason)),
        }
    }
    Ok(folder)
}

/// What an aggregate counts as: when it verifies and passed, its first passing attempt's
/// verified report (judged by the same rules as any report), under the aggregate's path and
/// digest; otherwise why it does not count.
fn counted_aggregate(
    path: &Path,
    verify: &impl Fn(&Path) -> Result<VerifiedReport, String>,
) -> Result<VerifiedReport, String> {
    let aggregate = crate::attempts::verify_aggregate(path, None)
        .map_err(|problems| crate::evidence::join_findings(&problems, "; "))?;
    if aggregate.outcome != RunOutcome::Pass {
        return Err(format!(
            "an aggregate that did not pass: {} of {} attempts passed, {} required",
            aggregate.passes, aggregate.attempts, aggregate.required
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let first = aggregate
        .runs
        .iter()
        .find(|run| run.outcome == RunOutcome::Pass)
        .ok_or_else(|| "an aggregate that passed without a passing attempt".to_owned())?;
    let mut report = verify(&dir.join(&first.folder).join("report.json"))?;
    report.path = path.to_owned();
    report.digest = aggregate.seal.map(|seal| seal.digest).unwrap_or_default();
    Ok(report)
}

/// Derives the status of every work item (and CTO-WORK-020, even when the SOT omits it).
pub(crate) fn derive(
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

    // Every report that does not count says why, so a reviewer sees what was looked at.
    let mut not_counted: Vec<String> = evidence
        .rejected
        .iter()
        .map(|(path, reason)| format!("{} does not count: {reason}", path.display()))
        .collect();
    let mut counting: Vec<&VerifiedReport> = Vec::new();
    for report in &evidence.verified {
        match report.does_not_count(admission_now, evidence.count_unconfined) {
            None => counting.push(report),
            Some(reason) => not_counted.push(format!("{} does not count: {reason}", report.path.display())),
        }
    }

    let mut derived = BTreeMap::new();
    for item in &document.work_items {
        let status = match item.id.as_str() {
            ROUTE_WORK_ITEM => derive_route(&counting, &not_counted),
            ADMISSION_WORK_ITEM => derive_admission(&counting, admission_now, &not_counted),
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
        .or_insert_with(|| derive_admission(&counting, admission_now, &not_counted));
    StatusOutput { work_items, derived }
}

fn blocked(mut reasons: Vec<String>, not_counted: &[String], evidence: Vec<EvidenceRef>) -> DerivedStatus {
    reasons.extend_from_slice(not_counted);
    DerivedStatus {
        status: "blocked".to_owned(),
        reasons,
        evidence,
    }
}

fn derive_route(counting: &[&VerifiedReport], not_counted: &[String]) -> DerivedStatus {
    if counting.is_empty() {
        return blocked(
            vec!["remaining blocker: no verified real_stage2 pass report (run `case-harness run` against CTO_HARNESS_CASE_LOCAL_BASE_URL)".to_owned()],
            not_counted,
            Vec::new(),
        );
    }
    DerivedStatus {
        status: "unblocked".to_owned(),
        reasons: counting
            .iter()
            .map(|report| {
                format!(
                    "remaining blocker cleared: verified real_stage2 pass on {}",
                    report.describe()
                )
            })
            .collect(),
        evidence: counting.iter().map(|report| report.reference()).collect(),
    }
}

fn derive_admission(
    counting: &[&VerifiedReport],
    admission_now: Option<&AdmissionRecord>,
    not_counted: &[String],
) -> DerivedStatus {
    let evidence = counting.iter().map(|report| report.reference()).collect();
    let Some(admission) = admission_now else {
        let mut reasons = vec![
            "cannot confirm an admission: CTO_HARNESS_CASE_MODEL_ADMISSION_FILE is not set (the harness never admits; CTO-WORK-020 does)".to_owned(),
        ];
        if counting.is_empty() {
            reasons.push("no verified real_stage2 pass report".to_owned());
        }
        return blocked(reasons, not_counted, evidence);
    };
    if admission.case_model_admission_status != AdmissionStatus::Admitted {
        let mut reasons = vec![format!(
            "admission for {}/{} is {:?}, not \"admitted\" (the harness never admits; CTO-WORK-020 does)",
            admission.case_model_provider,
            admission.case_model,
            admission.case_model_admission_status.as_str()
        )];
        reasons.extend(counting.iter().map(|report| {
            format!(
                "{} is a verified real_stage2 pass, but admission is what is missing",
                report.describe()
            )
        }));
        if counting.is_empty() {
            reasons.push("no verified real_stage2 pass report".to_owned());
        }
        return blocked(reasons, not_counted, evidence);
    }
    let qualifying: Vec<&&VerifiedReport> = counting
        .iter()
        .filter(|report| report.case_model_admission_status == Some(AdmissionStatus::Admitted))
        .collect();
    if qualifying.is_empty() {
        let mut reasons = vec![format!(
            "{}/{} is admitted, but no verified real_stage2 pass ran with the admission saying \"admitted\"",
            admission.case_model_provider, admission.case_model
        )];
        reasons.extend(
            counting
                .iter()
                .map(|report| format!("{} ran while the admission was not yet \"admitted\"", report.describe())),
        );
        return blocked(reasons, not_counted, evidence);
    }
    DerivedStatus {
        status: "unblocked".to_owned(),
        reasons: qualifying
            .iter()
            .map(|report| format!("admitted model has a verified real_stage2 pass: {}", report.describe()))
            .collect(),
        evidence: qualifying.iter().map(|report| report.reference()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> SotDocument {
        let text = include_str!("../fixtures/sot/seed-one-line.md");
        crate::sot::parse(Path::new("seed"), text).expect("seed parses")
    }

    fn report(kind: EvidenceKind, outcome: RunOutcome, admission: AdmissionStatus) -> VerifiedReport {
        VerifiedReport {
            path: PathBuf::from(format!(
                "ev/{}-{}-{}/report.json",
                kind.as_str(),
                outcome.as_str(),
                admission.as_str()
            )),
            digest: "d".repeat(64),
            outcome,
            evidence_kind: kind,
            case_model_provider: "llama.cpp".to_owned(),
            case_model: "smollm2-135m-instruct".to_owned(),
            case_model_admission_status: Some(admission),
            upstream_server: "llama-cpp-python".to_owned(),
            model_sha256_check: Some(Sha256Check::Match),
            confined: true,
            pinned_model_sha256: None,
        }
    }

    fn admission(status: AdmissionStatus) -> AdmissionRecord {
        let text = format!(
            r#"{{"work_item":"CTO-WORK-020","decision_status":"local_provider_required","provider_class":"local_case_compatible","case_model_provider":"llama.cpp","case_model":"smollm2-135m-instruct","case_model_admission_status":"{}"}}"#,
            status.as_str()
        );
        crate::records::AdmissionRecord::from_bytes(Path::new("a.json"), text.into_bytes())
            .expect("valid")
            .record
    }

    fn derived(reports: Vec<VerifiedReport>, now: Option<AdmissionStatus>) -> BTreeMap<String, DerivedStatus> {
        let folder = EvidenceFolder {
            verified: reports,
            ..EvidenceFolder::default()
        };
        let now = now.map(admission);
        derive(&seed(), &folder, now.as_ref()).derived
    }

    use AdmissionStatus::{Admitted, Candidate, Revoked};
    use EvidenceKind::{RealStage2, Simulated};

    #[test]
    fn empty_evidence_keeps_both_blocked() {
        let derived = derived(Vec::new(), Some(Admitted));
        assert_eq!(derived["CTO-WORK-020"].status, "blocked");
        assert_eq!(derived["CTO-WORK-022"].status, "blocked");
        assert_eq!(derived["CTO-WORK-021"].status, "validated");
    }

    #[test]
    fn an_unconfined_pass_counts_only_when_told() {
        let mut unconfined = report(RealStage2, RunOutcome::Pass, Admitted);
        unconfined.confined = false;
        let folder = |count_unconfined| EvidenceFolder {
            verified: vec![unconfined.clone()],
            rejected: Vec::new(),
            count_unconfined,
        };
        let status = derive(&seed(), &folder(false), Some(&admission(Admitted)));
        assert_eq!(status.derived["CTO-WORK-022"].status, "blocked");
        assert!(
            status.derived["CTO-WORK-022"]
                .reasons
                .iter()
                .any(|reason| reason.contains("unconfined"))
        );
        let status = derive(&seed(), &folder(true), Some(&admission(Admitted)));
        assert_eq!(status.derived["CTO-WORK-022"].status, "unblocked");
    }

    #[test]
    fn simulated_pass_counts_for_nothing() {
        let derived = derived(vec![report(Simulated, RunOutcome::Pass, Admitted)], Some(Admitted));
        assert_eq!(derived["CTO-WORK-020"].status, "blocked");
        assert_eq!(derived["CTO-WORK-022"].status, "blocked");
    }

    #[test]
    fn real_pass_on_a_candidate_clears_022_but_not_020() {
        let derived = derived(vec![report(RealStage2, RunOutcome::Pass, Candidate)], Some(Candidate));
        assert_eq!(derived["CTO-WORK-022"].status, "unblocked");
        assert_eq!(derived["CTO-WORK-022"].evidence.len(), 1);
        assert_eq!(derived["CTO-WORK-020"].status, "blocked");
    }

    #[test]
    fn real_pass_on_an_admitted_model_clears_020_only_when_the_admission_says_so_now() {
        let pass = || vec![report(RealStage2, RunOutcome::Pass, Admitted)];
        assert_eq!(derived(pass(), Some(Admitted))["CTO-WORK-020"].status, "unblocked");
        assert_eq!(derived(pass(), None)["CTO-WORK-020"].status, "blocked");
        let revoked = derived(pass(), Some(Revoked));
        assert_eq!(revoked["CTO-WORK-020"].status, "blocked");
        assert_eq!(revoked["CTO-WORK-022"].status, "blocked");
    }

    #[test]
    fn an_unidentified_upstream_or_a_model_file_mismatch_does_not_count() {
        let mut unknown = report(RealStage2, RunOutcome::Pass, Candidate);
        unknown.upstream_server = "unknown".to_owned();
        unknown.model_sha256_check = Some(Sha256Check::NotChecked("no model_sha256".to_owned()));
        assert_eq!(derived(vec![unknown], None)["CTO-WORK-022"].status, "blocked");
        let mut mismatch = report(RealStage2, RunOutcome::Pass, Candidate);
        mismatch.model_sha256_check = Some(Sha256Check::Mismatch);
        assert_eq!(derived(vec![mismatch], None)["CTO-WORK-022"].status, "blocked");
    }

    #[test]
    fn only_run_folders_speak_reports_below_them_are_never_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        for folder in [
            "a/run",
            "a/run/case-output/forged",
            "a/run/inputs/nested",
            "b/case-output/x",
        ] {
            std::fs::create_dir_all(dir.path().join(folder)).expect("mkdir");
            std::fs::write(dir.path().join(folder).join("report.json"), "{}").expect("write");
        }
        let seen = std::sync::Mutex::new(Vec::new());
        collect_reports(dir.path(), |path| {
            seen.lock()
                .expect("lock")
                .push(path.strip_prefix(dir.path()).expect("inside").to_owned());
            Err("not a report".to_owned())
        })
        .expect("walk");
        assert_eq!(
            seen.into_inner().expect("lock"),
            vec![PathBuf::from("a/run/report.json")]
        );
    }

    /// Red-team finding 9: a server that merely answered `/props` ("identified") never stands
    /// in for a pinned `model_sha256` that was not matched.
    #[test]
    fn finding_9_an_identified_server_without_a_matched_pinned_digest_counts_for_nothing() {
        let pinned = "ab".repeat(32);
        let mut unmatched = report(RealStage2, RunOutcome::Pass, Admitted);
        unmatched.upstream_server = "llama.cpp".to_owned();
        unmatched.model_sha256_check = Some(Sha256Check::NotChecked(
            "the served model file could not be located".to_owned(),
        ));
        unmatched.pinned_model_sha256 = Some(pinned.clone());
        let derived_now = derived(vec![unmatched.clone()], Some(Admitted));
        assert_eq!(derived_now["CTO-WORK-020"].status, "blocked");
        assert_eq!(derived_now["CTO-WORK-022"].status, "blocked");
        assert!(
            derived_now["CTO-WORK-020"]
                .reasons
                .iter()
                .any(|reason| reason.contains("pins model_sha256 but the served model file was never matched")),
            "{:?}",
            derived_now["CTO-WORK-020"].reasons
        );

        let mut matched = unmatched;
        matched.model_sha256_check = Some(Sha256Check::Match);
        assert_eq!(
            derived(vec![matched.clone()], Some(Admitted))["CTO-WORK-020"].status,
            "unblocked"
        );

        // The admission now pins a digest the run never matched: it does not count either.
        let folder = EvidenceFolder {
            verified: vec![matched],
            rejected: Vec::new(),
            count_unconfined: false,
        };
        let text = format!(
            r#"{{"work_item":"CTO-WORK-020","decision_status":"local_provider_required","provider_class":"local_case_compatible","case_model_provider":"llama.cpp","case_model":"smollm2-135m-instruct","case_model_admission_status":"admitted","model_sha256":"{}"}}"#,
            "cd".repeat(32)
        );
        let now = crate::records::AdmissionRecord::from_bytes(Path::new("a.json"), text.into_bytes())
            .expect("valid")
            .record;
        assert_eq!(
            derive(&seed(), &folder, Some(&now)).derived["CTO-WORK-020"].status,
            "blocked"
        );
    }
}
