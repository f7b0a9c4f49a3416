//! Sealing a run: the ledger read back and checked against the adapter's own count, the trace
//! finished and checked, every file of the run folder digested, the report scanned for the
//! run's secrets, the outcome decided, and the report written with its seal.

use std::collections::BTreeMap;
use std::path::Path;

use super::outcome::decide_outcome;
use super::{
    EvidenceError, REPORT_SCHEMA_VERSION, RunObservations, SEAL_ALGORITHM, check_input_copies, fallback_proof, files,
    names, pretty, sampling, seal_digest, trace_shows_case_started, verify, walk_run_folder, write_atomically,
};
use crate::output::{ChannelScan, FallbackProof, FileDigest, GateStatus, Report, RunOutcome, Seal, SecretScanSummary};
use crate::trace;

/// Decides the outcome from the observations, hashes the run folder and writes the sealed
/// report. `scan_report` is called with the report's bytes so that the report channel of
/// the secret scan covers the report itself.
pub(crate) fn seal(
    observations: RunObservations,
    trace: &trace::Trace,
    scan_report: impl Fn(&[u8]) -> Vec<crate::secrets::SecretHit>,
) -> Result<Report, EvidenceError> {
    let run_dir = observations.run_dir.clone();
    let trace_path = run_dir.join(names::TRACE);
    let mut run_errors = observations.run_errors.clone();

    // The harness knows whether it spawned Case; the trace on disk must say the same.
    let case_process_started = observations.case.is_some();
    if trace_shows_case_started(&trace_path) != Some(case_process_started) {
        run_errors.push(format!(
            "{} does not show case_process_started={case_process_started} as the harness observed",
            names::TRACE
        ));
    }
    let fallback_proof = if case_process_started {
        read_fallback_proof(&observations, &run_dir, &mut run_errors)
    } else {
        None
    };
    finish_trace(trace, &trace_path, &mut run_errors)?;
    let artifacts = digest_run_folder(&run_dir, &observations.inputs, &mut run_errors)?;
    let mut report = unsealed_report(observations, case_process_started, fallback_proof, artifacts);
    scan_report_channel(&mut report, &scan_report)?;
    let (outcome, mut reasons) = decide_outcome(&report, &run_errors);
    if outcome == RunOutcome::Fail && case_process_started {
        reasons.extend(case_stderr_tail(&run_dir, &scan_report));
    }
    report.outcome = outcome;
    report.reasons = reasons;
    report.seal = Some(Seal {
        algorithm: SEAL_ALGORITHM.to_owned(),
        digest: seal_digest(&report)?,
    });
    write_atomically(&run_dir.join(names::REPORT), &pretty(&report)?)?;
    Ok(report)
}

/// The fallback proof from the ledger as read back, checked against what the adapter
/// counted in memory and against the sampling pin.
fn read_fallback_proof(
    observations: &RunObservations,
    run_dir: &Path,
    run_errors: &mut Vec<String>,
) -> Option<FallbackProof> {
    match verify::read_ledger_bounded(run_dir) {
        Ok(ledger) => {
            // Case runs as the same user and could rewrite the ledger file; the adapter's
            // own in-memory count is the reference.
            if observations.adapter_totals.as_ref() != Some(&crate::adapter::summarize(&ledger)) {
                run_errors.push(format!(
                    "{} does not match what the adapter counted in memory: it was changed during the run",
                    names::LEDGER
                ));
            }
            run_errors.extend(sampling::pin_problems(&ledger, observations.sampling.as_ref()));
            Some(fallback_proof(
                &ledger,
                observations.case_model.as_deref().unwrap_or_default(),
                observations.upstream.as_deref().unwrap_or_default(),
            ))
        }
        Err(err) => {
            run_errors.push(format!("the adapter ledger cannot be read back: {err}"));
            None
        }
    }
}

/// Writes the last trace event (before hashing, so the sealed trace is final) and checks that
/// the trace on disk is the one the harness wrote.
fn finish_trace(trace: &trace::Trace, trace_path: &Path, run_errors: &mut Vec<String>) -> Result<(), EvidenceError> {
    trace
        .record(&trace::TraceEvent::EvidenceSealed {
            report: names::REPORT.to_owned(),
        })
        .map_err(crate::path_io::at(trace_path))?;
    // Streamed and type-checked: Case may have swapped the trace for a FIFO or a link.
    let on_disk = files::sha256_streamed(trace_path).map_err(|err| err.to_string());
    if trace
        .written_digest()
        .is_some_and(|written| on_disk.as_ref() != Ok(&written))
    {
        run_errors.push(format!(
            "{} was changed by someone other than the harness during the run",
            names::TRACE
        ));
    }
    Ok(())
}

/// Nothing in the folder escapes the digests: what cannot be digested fails the run.
fn digest_run_folder(
    run_dir: &Path,
    inputs: &BTreeMap<String, FileDigest>,
    run_errors: &mut Vec<String>,
) -> Result<BTreeMap<String, String>, EvidenceError> {
    let walk = walk_run_folder(run_dir)?;
    run_errors.extend(walk.refused);
    if std::fs::symlink_metadata(run_dir.join(names::JUNIT)).is_ok() {
        run_errors.push(format!(
            "{} existed before the harness wrote it: someone else put it in the run folder",
            names::JUNIT
        ));
    }
    run_errors.extend(check_input_copies(run_dir, inputs));
    Ok(walk.digests)
}

/// The report before its outcome and seal: everything observed, the artifacts digested.
fn unsealed_report(
    observations: RunObservations,
    case_process_started: bool,
    fallback_proof: Option<FallbackProof>,
    artifacts: BTreeMap<String, String>,
) -> Report {
    Report {
        schema_version: REPORT_SCHEMA_VERSION,
        harness_version: env!("CARGO_PKG_VERSION").to_owned(),
        outcome: RunOutcome::Incomplete,
        reasons: Vec::new(),
        evidence_kind: observations.evidence_kind,
        case_model_provider: observations.case_model_provider,
        case_model: observations.case_model,
        case_model_admission_status: observations.case_model_admission_status,
        upstream: observations.upstream,
        upstream_fingerprint: observations.upstream_fingerprint,
        blocked: observations
            .gates
            .iter()
            .filter(|gate| gate.status == GateStatus::Blocked)
            .map(|gate| gate.code)
            .collect(),
        gates: observations.gates,
        case_process_started,
        case: observations.case,
        fallback_proof,
        adapter_mode: observations.adapter_mode,
        sampling: observations.sampling,
        scrubbed_variables: observations.scrubbed_variables,
        isolation: observations.isolation,
        case_home: observations.case_home,
        secret_scan: SecretScanSummary {
            clean: true,
            secrets: observations.secret_names,
            channels: observations.secret_channels,
        },
        inputs: observations.inputs,
        artifacts,
        seal: None,
    }
}

/// The report channel: scan the report as it will be written (hits never add a value, so
/// scanning once more after recording them is not needed).
fn scan_report_channel(
    report: &mut Report,
    scan_report: &impl Fn(&[u8]) -> Vec<crate::secrets::SecretHit>,
) -> Result<(), EvidenceError> {
    let report_hits = scan_report(&pretty(report)?);
    report.secret_scan.channels.push(ChannelScan {
        channel: "report".to_owned(),
        scanned: vec![names::REPORT.to_owned()],
        hits: report_hits,
        skipped: None,
    });
    report.secret_scan.clean = report
        .secret_scan
        .channels
        .iter()
        .all(|channel| channel.hits.is_empty());
    Ok(())
}

/// At most this many of the last lines of Case's stderr end a failed run's reasons.
pub(crate) const STDERR_TAIL_LINES: usize = 10;
/// ...read from at most this many of its last bytes.
pub(crate) const STDERR_TAIL_BYTES: u64 = 2048;

/// The reasons that end a failed run: where Case's stderr is and its last lines, since why
/// Case failed is usually there. A line in which `find_secrets` finds one of the run's
/// secrets (in any encoding the scan knows) is withheld whole, never shown.
fn case_stderr_tail(run_dir: &Path, find_secrets: impl Fn(&[u8]) -> Vec<crate::secrets::SecretHit>) -> Vec<String> {
    let log = run_dir.join(names::STDERR);
    let lines = files::tail_lines(&log, STDERR_TAIL_LINES, STDERR_TAIL_BYTES);
    if lines.is_empty() {
        return vec![format!("Case wrote nothing to stderr ({})", log.display())];
    }
    let mut reasons = vec![format!(
        "the last {} line(s) of Case's stderr ({}):",
        lines.len(),
        log.display()
    )];
    reasons.extend(lines.into_iter().map(|line| {
        if find_secrets(line.as_bytes()).is_empty() {
            format!("stderr: {line}")
        } else {
            "stderr: [line withheld: it holds one of the run's secrets]".to_owned()
        }
    }));
    reasons
}
