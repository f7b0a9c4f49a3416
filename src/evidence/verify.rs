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
use crate::output::{AdapterMode, EvidenceKind, Isolation, Report, RunOutcome, Sha256Check};
use crate::records::AdmissionStatus;
use crate::trace::{self, TraceEvent, TraceLine};

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
/// returns what status derivation needs; on failure, every discrepancy found.
pub fn verify(report_path: &Path) -> Result<VerifiedReport, Vec<String>> {
    let mut problems = Vec::new();
    let bytes = files::read_bounded(report_path, MAX_SMALL_FILE_BYTES).map_err(|err| vec![err.to_string()])?;
    let report: Report = serde_json::from_slice(&bytes)
        .map_err(|err| vec![format!("{}: not a harness report: {err}", report_path.display())])?;
    let run_dir = report_path.parent().unwrap_or(Path::new(".")).to_owned();
    // The seal is a digest of the typed report, so the file must hold exactly that report:
    // a field removed (a null one reads back as the same value), added or retyped would
    // otherwise leave the digest unchanged.
    let exact = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .zip(serde_json::to_value(&report).ok())
        .is_some_and(|(raw, typed)| raw == typed);
    if !exact {
        problems.push(
            "report.json is not in the exact form the harness writes (a field was added, removed or retyped)"
                .to_owned(),
        );
    }

    match &report.seal {
        None => {
            return Err(vec![format!(
                "report is not sealed (outcome {})",
                report.outcome.as_str()
            )]);
        }
        Some(seal) => {
            if seal.algorithm != SEAL_ALGORITHM {
                problems.push(format!("unknown seal algorithm {:?}", seal.algorithm));
            }
            match seal_digest(&report) {
                Ok(digest) if digest == seal.digest => {}
                Ok(_) => {
                    problems.push("seal digest does not match the report's content (edited after sealing?)".to_owned())
                }
                Err(err) => problems.push(err.to_string()),
            }
        }
    }
    if report.schema_version != REPORT_SCHEMA_VERSION {
        problems.push(format!("unsupported schema_version {}", report.schema_version));
    }

    // Artifacts: every file listed must exist with its digest, and every file present must be listed.
    for (name, digest) in &report.artifacts {
        if !is_safe_relative(name) {
            problems.push(format!("artifact name {name:?} escapes the run folder"));
            continue;
        }
        match files::sha256_streamed(&run_dir.join(name)) {
            Ok(actual) if actual == *digest => {}
            Ok(_) => problems.push(format!("artifact {name} changed since the report was sealed")),
            Err(files::RunFileError::Missing { .. }) => problems.push(format!("artifact {name} is missing")),
            Err(err) => problems.push(format!("artifact {name}: {err}")),
        }
    }
    match walk_run_folder(&run_dir) {
        Ok(present) => {
            for name in present
                .digests
                .keys()
                .filter(|name| !report.artifacts.contains_key(*name))
            {
                problems.push(format!("file {name} is in the run folder but not in the report"));
            }
            // What could not be digested when sealing is among the reasons of the sealed fail;
            // anything else (or any of it under a pass) appeared after sealing.
            problems.extend(
                present
                    .refused
                    .into_iter()
                    .filter(|entry| report.outcome == RunOutcome::Pass || !report.reasons.contains(entry)),
            );
        }
        Err(err) => problems.push(err.to_string()),
    }
    problems.extend(check_input_copies(&run_dir, &report.inputs));
    problems.extend(check_junit(&report, &run_dir));
    let required: &[&str] = match report.outcome {
        RunOutcome::Blocked => &[names::TRACE],
        _ => REQUIRED_AFTER_CASE,
    };
    for name in required.iter().filter(|name| !report.artifacts.contains_key(**name)) {
        problems.push(format!("required artifact {name} is not in the report"));
    }

    // Trace facts: what the harness wrote as it happened must agree with the report.
    let trace_path = run_dir.join(names::TRACE);
    match files::read_text(&trace_path, MAX_LOG_FILE_BYTES)
        .map_err(|err| err.to_string())
        .and_then(|text| trace::parse(&trace_path, &text).map_err(|err| err.to_string()))
    {
        Err(err) => problems.push(err),
        Ok(lines) => problems.extend(check_against_trace(&report, &lines, &run_dir)),
    }

    // The admission the run used, from its sealed copy.
    let mut pinned_model_sha256 = None;
    if report.inputs.contains_key("admission") {
        let copy = run_dir.join(names::ADMISSION_COPY);
        match files::read_bounded(&copy, MAX_SMALL_FILE_BYTES)
            .map_err(|err| err.to_string())
            .and_then(|bytes| crate::records::AdmissionRecord::from_bytes(&copy, bytes).map_err(|err| err.to_string()))
        {
            Err(err) => problems.push(format!("sealed admission copy: {err}")),
            Ok(loaded) => {
                pinned_model_sha256 = loaded.record.model_sha256.as_ref().map(|digest| digest.to_string());
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
                for (field, sealed, claimed) in expected {
                    if sealed != claimed {
                        problems.push(format!(
                            "report says {field} {claimed:?} but the admission the run used says {sealed:?}"
                        ));
                    }
                }
                if report
                    .inputs
                    .get("admission")
                    .is_some_and(|digest| digest.sha256 != loaded.sha256)
                {
                    problems.push("the admission copy's digest differs from the report's input digest".to_owned());
                }
            }
        }
    }
    let clean = report
        .secret_scan
        .channels
        .iter()
        .all(|channel| channel.hits.is_empty());
    if report.secret_scan.clean != clean {
        problems.push(format!(
            "secret_scan.clean is {} but its channels say {clean}",
            report.secret_scan.clean
        ));
    }

    // Ledger totals.
    if report.case_process_started {
        match read_ledger_bounded(&run_dir) {
            Err(err) => problems.push(err),
            Ok(entries) => {
                let recomputed = fallback_proof(
                    &entries,
                    report.case_model.as_deref().unwrap_or_default(),
                    report.upstream.as_deref().unwrap_or_default(),
                );
                if report.fallback_proof.as_ref() != Some(&recomputed) {
                    problems.push("fallback proof does not match the adapter ledger".to_owned());
                }
                problems.extend(super::sampling::pin_problems(&entries, report.sampling.as_ref()));
            }
        }
    }

    // Case's own verdict.
    // The very function the seal used: what the seal recorded as "no verdict" (missing or
    // malformed) must read back the same way.
    let verdict = read_case_verdict(&run_dir).unwrap_or(None);
    if let Some(case) = report.case.as_ref().filter(|case| case.verdict != verdict) {
        problems.push(format!(
            "report says Case's verdict is {} but {} says {}",
            case.verdict.map_or("none", |verdict| verdict.as_str()),
            names::RESULT,
            verdict.map_or("none", |verdict| verdict.as_str())
        ));
    }

    // The outcome rule.
    let (outcome, _) = decide_outcome(&report, &[]);
    let claimed = report.outcome;
    let consistent = outcome == claimed
        || (claimed == RunOutcome::Fail && outcome == RunOutcome::Pass && !report.reasons.is_empty());
    if !consistent {
        problems.push(format!(
            "outcome {} does not follow from the evidence (expected {})",
            claimed.as_str(),
            outcome.as_str()
        ));
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(VerifiedReport {
        path: report_path.to_owned(),
        digest: report.seal.as_ref().map(|seal| seal.digest.clone()).unwrap_or_default(),
        outcome: claimed,
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
    })
}

/// Compares the report with the trace: evidence kind, gates, Case start and end, secret-scan
/// hits, and the adapter's own totals against the ledger. Each fact is taken from the first
/// event of its kind.
fn check_against_trace(report: &Report, lines: &[TraceLine], run_dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let sequence_ok = lines
        .iter()
        .enumerate()
        .all(|(index, line)| line.seq == index as u64 + 1);
    if !sequence_ok {
        problems.push("trace sequence numbers are not 1, 2, 3, …".to_owned());
    }
    let events = || lines.iter().map(|line| &line.event);
    // The kind of evidence is fixed when the run starts; a report that claims another is forged.
    let traced_kind = events().find_map(|event| match event {
        TraceEvent::RunStarted { evidence_kind } => Some(*evidence_kind),
        _ => None,
    });
    if traced_kind != Some(report.evidence_kind) {
        problems.push(format!(
            "report says evidence_kind {} but the trace's run_started says {:?}",
            report.evidence_kind.as_str(),
            traced_kind.map(EvidenceKind::as_str)
        ));
    }
    let traced_gates = events().find_map(|event| match event {
        TraceEvent::GatesEvaluated { gates, .. } => Some(gates),
        _ => None,
    });
    if traced_gates != Some(&report.gates) {
        problems.push("report's gate results differ from the trace's gates_evaluated".to_owned());
    }
    let started = events().any(|event| matches!(event, TraceEvent::CaseProcessStarted { .. }));
    if started != report.case_process_started {
        problems.push(format!(
            "report says case_process_started={} but the trace says {started}",
            report.case_process_started
        ));
    }
    // What confined Case is traced before Case starts; a report that claims more is forged.
    let traced_isolation = events().find_map(|event| match event {
        TraceEvent::CaseIsolation { isolation } => Some(isolation),
        _ => None,
    });
    if traced_isolation != report.isolation.as_ref() {
        let shown = |isolation: Option<&Isolation>, none: &str| {
            isolation
                .and_then(|isolation| serde_json::to_string(isolation).ok())
                .unwrap_or_else(|| none.to_owned())
        };
        problems.push(format!(
            "report says isolation {} but the trace's case_isolation says {}",
            shown(report.isolation.as_ref(), "absent"),
            shown(traced_isolation, "nothing")
        ));
    }
    if let Some(case) = &report.case {
        let traced = events()
            .find_map(|event| match event {
                TraceEvent::CaseProcessExited(exit) => Some(exit),
                _ => None,
            })
            .map(|exit| (exit.exit_code, exit.signal, exit.timed_out));
        let claimed = (case.exit_code, case.signal, case.timed_out);
        if traced != Some(claimed) {
            // Said in words, never as Rust's `Some(3)`.
            let ended = |(code, signal, timed_out): (Option<i32>, Option<i32>, bool)| {
                let mut words = match (code, signal) {
                    (Some(code), _) => format!("exit code {code}"),
                    (None, Some(signal)) => format!("signal {signal}"),
                    (None, None) => "no exit code".to_owned(),
                };
                if timed_out {
                    words.push_str(", timed out");
                }
                words
            };
            problems.push(format!(
                "report says Case ended with {} but the trace says {}",
                ended(claimed),
                traced.map_or_else(|| "nothing (no case_process_exited)".to_owned(), ended)
            ));
        }
    }
    let traced_hits = events().find_map(|event| match event {
        TraceEvent::SecretScan { hits } => Some(hits),
        _ => None,
    });
    if let Some(scan) = traced_hits {
        for channel in report
            .secret_scan
            .channels
            .iter()
            .filter(|channel| channel.channel != "report")
        {
            let traced = scan.get(&channel.channel).copied();
            if traced != Some(channel.hits.len()) {
                problems.push(format!(
                    "report lists {} secret hit(s) in {} but the trace says {traced:?}",
                    channel.hits.len(),
                    channel.channel
                ));
            }
        }
    } else if !report.secret_scan.channels.is_empty() {
        problems.push("the trace has no secret_scan event".to_owned());
    }
    let traced_mode = events().find_map(|event| match event {
        TraceEvent::AdapterStarted { adapter_mode, .. } => Some(*adapter_mode),
        _ => None,
    });
    if traced_mode != report.adapter_mode {
        problems.push(format!(
            "report says adapter_mode {:?} but the trace's adapter_started says {:?}",
            report.adapter_mode.map(AdapterMode::as_str),
            traced_mode.map(AdapterMode::as_str)
        ));
    }
    let traced_sampling = events().find_map(|event| match event {
        TraceEvent::AdapterStarted { sampling, .. } => Some(sampling.clone()),
        _ => None,
    });
    if traced_sampling.is_some_and(|traced| traced != report.sampling) {
        problems.push("report's sampling pin differs from the trace's adapter_started".to_owned());
    }
    if report.case_process_started {
        let traced_totals = events().find_map(|event| match event {
            TraceEvent::AdapterStopped { totals, .. } => Some(totals),
            _ => None,
        });
        let ledger_totals = read_ledger_bounded(run_dir)
            .ok()
            .map(|entries| crate::adapter::summarize(&entries));
        if traced_totals.is_none() || traced_totals != ledger_totals.as_ref() {
            problems.push("the adapter's own totals (trace adapter_stopped) differ from the ledger".to_owned());
        }
    }
    problems
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
fn check_junit(report: &Report, run_dir: &Path) -> Vec<String> {
    let path = run_dir.join(names::JUNIT);
    let text = match files::read_text(&path, MAX_SMALL_FILE_BYTES) {
        Ok(text) => text,
        Err(err) => return vec![format!("{}: {err}", names::JUNIT)],
    };
    let Some(recorded) = crate::junit::recorded_report_path(&text).filter(|path| path.ends_with(names::REPORT)) else {
        return vec![format!(
            "{} has no report_path property naming a {}",
            names::JUNIT,
            names::REPORT
        )];
    };
    match crate::junit::render_run_junit(report, Path::new(&recorded)) {
        Ok(expected) if expected == text => Vec::new(),
        Ok(_) => vec![format!(
            "{} differs from the JUnit the harness writes for this report (replaced after sealing?)",
            names::JUNIT
        )],
        Err(err) => vec![err.to_string()],
    }
}
