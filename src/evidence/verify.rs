//! `verify`: recomputes everything checkable about a sealed report from its run folder.
//!
//! Every file is read through [`super::files`] (regular files only, bounded or streamed), so a
//! run folder holding a FIFO, a device or a symlink yields a finding, never a hang.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::files::{self, MAX_LOG_FILE_BYTES, MAX_SMALL_FILE_BYTES};
use super::{
    REPORT_SCHEMA_VERSION, REQUIRED_AFTER_CASE, SEAL_ALGORITHM, check_input_copies, decide_outcome, fallback_proof,
    names, read_case_verdict, seal_digest, walk_run_folder,
};
use crate::adapter::LedgerEntry;
use crate::output::{EvidenceKind, Report, RunOutcome, Sha256Check};
use crate::records::AdmissionStatus;
use crate::trace;

mod finding;
mod trace_facts;

pub(crate) use finding::join_findings;
pub use finding::{Finding, TraceFinding};

/// What a report that verified says: what `status` derives work-item status from. It lives
/// here, beside the one function that makes it, so status depends on evidence, not back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReport {
    /// Where the report is.
    pub path: PathBuf,
    /// Its seal digest.
    pub digest: String,
    /// How the run ended.
    pub outcome: RunOutcome,
    /// Real or simulated.
    pub evidence_kind: EvidenceKind,
    /// The provider the run proved.
    pub case_model_provider: String,
    /// The model the run proved.
    pub case_model: String,
    /// The admission status recorded at run time.
    pub case_model_admission_status: Option<AdmissionStatus>,
    /// The fingerprint's server type (`unknown` when it could not tell).
    pub upstream_server: String,
    /// The fingerprint's `model_sha256_check`; `None` when the report has no fingerprint.
    pub model_sha256_check: Option<Sha256Check>,
    /// Case ran confined (network, filesystem and PID namespaces); `isolation: none` is false.
    pub confined: bool,
    /// The `model_sha256` of the admission the run used (its sealed copy), if it pinned one.
    pub pinned_model_sha256: Option<String>,
}

/// Recomputes everything checkable about `report_path` from its run folder. On success,
/// returns what status derivation needs; on failure, every discrepancy found, each a typed
/// [`Finding`] naming the file and field.
pub fn verify(report_path: &Path) -> Result<VerifiedReport, Vec<Finding>> {
    let (report, exact) = read_report(report_path).map_err(|finding| vec![finding])?;
    let run_dir = report_path.parent().unwrap_or(Path::new(".")).to_owned();
    let mut problems = Vec::new();
    if !exact {
        problems.push(Finding::NotExactForm);
    }
    problems.extend(check_seal(&report)?);
    if report.schema_version != REPORT_SCHEMA_VERSION {
        problems.push(Finding::UnsupportedSchema {
            version: report.schema_version,
        });
    }
    problems.extend(check_artifacts(&report, &run_dir));
    problems.extend(
        check_input_copies(&run_dir, &report.inputs)
            .into_iter()
            .map(Finding::InputCopy),
    );
    problems.extend(check_junit(&report, &run_dir));
    problems.extend(check_required(&report));
    problems.extend(check_trace(&report, &run_dir));
    let (pinned_model_sha256, admission_problems) = check_admission(&report, &run_dir);
    problems.extend(admission_problems);
    problems.extend(check_secret_scan(&report));
    problems.extend(check_ledger(&report, &run_dir));
    problems.extend(check_verdict(&report, &run_dir));
    problems.extend(check_outcome(&report));
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(verified(report_path, report, pinned_model_sha256))
}

/// Reads and parses the report; `true` when the file holds exactly the typed report. The
/// seal is a digest of the typed report, so the file must hold exactly that report: a field
/// removed (a null one reads back as the same value), added or retyped would otherwise leave
/// the digest unchanged.
fn read_report(report_path: &Path) -> Result<(Report, bool), Finding> {
    let bytes = files::read_bounded(report_path, MAX_SMALL_FILE_BYTES).map_err(Finding::ReportUnreadable)?;
    let report: Report = serde_json::from_slice(&bytes).map_err(|source| Finding::NotAReport {
        path: report_path.to_owned(),
        source,
    })?;
    let exact = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .zip(serde_json::to_value(&report).ok())
        .is_some_and(|(raw, typed)| raw == typed);
    Ok((report, exact))
}

/// The seal: present (else verification stops here, with only that finding), of the
/// harness's algorithm, and the digest of the report's content.
fn check_seal(report: &Report) -> Result<Vec<Finding>, Vec<Finding>> {
    let Some(seal) = &report.seal else {
        return Err(vec![Finding::NotSealed {
            outcome: report.outcome.as_str(),
        }]);
    };
    let mut problems = Vec::new();
    if seal.algorithm != SEAL_ALGORITHM {
        problems.push(Finding::UnknownSealAlgorithm {
            algorithm: seal.algorithm.clone(),
        });
    }
    match seal_digest(report) {
        Ok(digest) if digest == seal.digest => {}
        Ok(_) => problems.push(Finding::SealMismatch),
        Err(err) => problems.push(Finding::SealUncomputable(err)),
    }
    Ok(problems)
}

/// Every file listed must exist with its digest, and every file present must be listed.
fn check_artifacts(report: &Report, run_dir: &Path) -> Vec<Finding> {
    let mut problems = Vec::new();
    for (name, digest) in &report.artifacts {
        if !is_safe_relative(name) {
            problems.push(Finding::ArtifactEscapes { name: name.clone() });
            continue;
        }
        let name = name.clone();
        match files::sha256_streamed(&run_dir.join(&name)) {
            Ok(actual) if actual == *digest => {}
            Ok(_) => problems.push(Finding::ArtifactChanged { name }),
            Err(files::RunFileError::Missing { .. }) => problems.push(Finding::ArtifactMissing { name }),
            Err(source) => problems.push(Finding::ArtifactUnreadable { name, source }),
        }
    }
    match walk_run_folder(run_dir) {
        Ok(present) => {
            for name in present
                .digests
                .keys()
                .filter(|name| !report.artifacts.contains_key(*name))
            {
                problems.push(Finding::Unlisted { name: name.clone() });
            }
            // What could not be digested when sealing is among the reasons of the sealed fail;
            // anything else (or any of it under a pass) appeared after sealing.
            problems.extend(
                present
                    .refused
                    .into_iter()
                    .filter(|entry| report.outcome == RunOutcome::Pass || !report.reasons.contains(entry))
                    .map(Finding::Refused),
            );
        }
        Err(err) => problems.push(Finding::Walk(err)),
    }
    problems
}

/// The files every report of its outcome lists.
fn check_required(report: &Report) -> impl Iterator<Item = Finding> + '_ {
    let required: &[&'static str] = match report.outcome {
        RunOutcome::Blocked => &[names::TRACE],
        _ => REQUIRED_AFTER_CASE,
    };
    required
        .iter()
        .filter(|name| !report.artifacts.contains_key(**name))
        .map(|name| Finding::RequiredMissing { name })
}

/// Trace facts: what the harness wrote as it happened must agree with the report.
fn check_trace(report: &Report, run_dir: &Path) -> Vec<Finding> {
    let trace_path = run_dir.join(names::TRACE);
    let text = match files::read_text(&trace_path, MAX_LOG_FILE_BYTES) {
        Ok(text) => text,
        Err(err) => return vec![Finding::TraceUnreadable(err)],
    };
    match trace::parse(&trace_path, &text) {
        Err(err) => vec![Finding::TraceMalformed(err)],
        Ok(lines) => trace_facts::check_against_trace(report, &lines, run_dir)
            .into_iter()
            .map(Finding::Trace)
            .collect(),
    }
}

/// The admission the run used, from its sealed copy: its fields must be the report's. Returns
/// the `model_sha256` it pinned, if any, beside the findings.
fn check_admission(report: &Report, run_dir: &Path) -> (Option<String>, Vec<Finding>) {
    if !report.inputs.contains_key("admission") {
        return (None, Vec::new());
    }
    let copy = run_dir.join(names::ADMISSION_COPY);
    let loaded = match files::read_bounded(&copy, MAX_SMALL_FILE_BYTES)
        .map_err(|err| err.to_string())
        .and_then(|bytes| crate::records::AdmissionRecord::from_bytes(&copy, bytes).map_err(|err| err.to_string()))
    {
        Err(err) => return (None, vec![Finding::AdmissionCopy(err)]),
        Ok(loaded) => loaded,
    };
    let pinned = loaded.record.model_sha256.as_ref().map(|digest| digest.to_string());
    let admission = &loaded.record;
    let expected = [
        (
            "case_model_provider",
            Some(admission.case_model_provider.as_str()),
            report.case_model_provider.as_deref(),
        ),
        (
            "case_model",
            Some(admission.case_model.as_str()),
            report.case_model.as_deref(),
        ),
        (
            "case_model_admission_status",
            Some(admission.case_model_admission_status.as_str()),
            report.case_model_admission_status.map(AdmissionStatus::as_str),
        ),
    ];
    let mut problems: Vec<Finding> = expected
        .into_iter()
        .filter(|(_, sealed, claimed)| sealed != claimed)
        .map(|(field, sealed, claimed)| Finding::AdmissionField {
            field,
            claimed: claimed.map(str::to_owned),
            sealed: sealed.map(str::to_owned),
        })
        .collect();
    if report
        .inputs
        .get("admission")
        .is_some_and(|digest| digest.sha256 != loaded.sha256)
    {
        problems.push(Finding::AdmissionDigest);
    }
    (pinned, problems)
}

/// `secret_scan.clean` must be what its channels say.
fn check_secret_scan(report: &Report) -> Option<Finding> {
    let clean = report
        .secret_scan
        .channels
        .iter()
        .all(|channel| channel.hits.is_empty());
    (report.secret_scan.clean != clean).then_some(Finding::SecretScanClean {
        claimed: report.secret_scan.clean,
        channels: clean,
    })
}

/// Ledger totals: the fallback proof and the sampling pin, recomputed from the ledger.
fn check_ledger(report: &Report, run_dir: &Path) -> Vec<Finding> {
    if !report.case_process_started {
        return Vec::new();
    }
    let entries = match read_ledger_bounded(run_dir) {
        Err(err) => return vec![Finding::Ledger(err)],
        Ok(entries) => entries,
    };
    let mut problems = Vec::new();
    let recomputed = fallback_proof(
        &entries,
        report.case_model.as_deref().unwrap_or_default(),
        report.upstream.as_deref().unwrap_or_default(),
    );
    if report.fallback_proof.as_ref() != Some(&recomputed) {
        problems.push(Finding::FallbackProof);
    }
    problems.extend(
        super::sampling::pin_problems(&entries, report.sampling.as_ref())
            .into_iter()
            .map(Finding::SamplingPin),
    );
    problems
}

/// Case's own verdict, read by the very function the seal used: what the seal recorded as
/// "no verdict" (missing or malformed) must read back the same way.
fn check_verdict(report: &Report, run_dir: &Path) -> Option<Finding> {
    let verdict = read_case_verdict(run_dir).unwrap_or(None);
    let case = report.case.as_ref().filter(|case| case.verdict != verdict)?;
    Some(Finding::Verdict {
        claimed: case.verdict.map_or("none", |verdict| verdict.as_str()),
        file: names::RESULT,
        found: verdict.map_or("none", |verdict| verdict.as_str()),
    })
}

/// The outcome rule: the claimed outcome follows from the report (a pass may be turned into
/// a fail with reasons, never the other way).
fn check_outcome(report: &Report) -> Option<Finding> {
    let (outcome, _) = decide_outcome(report, &[]);
    let claimed = report.outcome;
    let consistent = outcome == claimed
        || (claimed == RunOutcome::Fail && outcome == RunOutcome::Pass && !report.reasons.is_empty());
    (!consistent).then_some(Finding::Outcome {
        claimed: claimed.as_str(),
        expected: outcome.as_str(),
    })
}

/// What a report that verified says.
fn verified(report_path: &Path, report: Report, pinned_model_sha256: Option<String>) -> VerifiedReport {
    VerifiedReport {
        path: report_path.to_owned(),
        digest: report.seal.as_ref().map(|seal| seal.digest.clone()).unwrap_or_default(),
        outcome: report.outcome,
        evidence_kind: report.evidence_kind,
        upstream_server: report
            .upstream_fingerprint
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), |fingerprint| fingerprint.server.clone()),
        model_sha256_check: report
            .upstream_fingerprint
            .map(|fingerprint| fingerprint.model_sha256_check),
        pinned_model_sha256,
        case_model_provider: report.case_model_provider.unwrap_or_default(),
        case_model: report.case_model.unwrap_or_default(),
        confined: report.isolation.as_ref().is_some_and(super::confinement::is_confined),
        case_model_admission_status: report.case_model_admission_status,
    }
}

fn is_safe_relative(name: &str) -> bool {
    let path = Path::new(name);
    !name.is_empty()
        && path
            .components()
            .all(|component| matches!(component, Component::Normal(_)))
}

/// The adapter ledger, read as a bounded regular file and parsed line by line (the seal
/// reads it this way too: Case could have swapped it for a FIFO or a link to `/dev/zero`).
pub(super) fn read_ledger_bounded(run_dir: &Path) -> Result<Vec<LedgerEntry>, String> {
    let path = run_dir.join(names::LEDGER);
    let text = files::read_text(&path, MAX_LOG_FILE_BYTES).map_err(|err| err.to_string())?;
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_str::<LedgerEntry>(line)
                .map_err(|err| format!("{} line {}: {err}", path.display(), index + 1))
        })
        .collect()
}

/// `junit.xml` is written from the sealed report after sealing, so it cannot be among the
/// digests; instead it is recomputed from the report and must match byte for byte. The only
/// value taken from the file itself is `report_path` (where the folder was when the run wrote
/// it: evidence may have been moved since), and it must name a `report.json`.
fn check_junit(report: &Report, run_dir: &Path) -> Option<Finding> {
    let path = run_dir.join(names::JUNIT);
    let text = match files::read_text(&path, MAX_SMALL_FILE_BYTES) {
        Ok(text) => text,
        Err(source) => {
            return Some(Finding::JunitUnreadable {
                file: names::JUNIT,
                source,
            });
        }
    };
    let Some(recorded) = crate::junit::recorded_report_path(&text).filter(|path| path.ends_with(names::REPORT)) else {
        return Some(Finding::JunitNoReportPath {
            file: names::JUNIT,
            report: names::REPORT,
        });
    };
    match crate::junit::render_run_junit(report, Path::new(&recorded)) {
        Ok(expected) if expected == text => None,
        Ok(_) => Some(Finding::JunitDiffers { file: names::JUNIT }),
        Err(err) => Some(Finding::JunitRender(err)),
    }
}
