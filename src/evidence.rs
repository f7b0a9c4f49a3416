//! The Harness Evidence Interface: the only code that builds, seals and verifies reports.
//!
//! A run hands over what it *observed* ([`RunObservations`]: gate results, whether Case was
//! spawned, how it exited, the adapter ledger, the secret-scan hits); this module decides the
//! outcome from those facts alone, hashes every artifact in the run folder, and seals the
//! report: a sha256 over the report's canonical JSON, which includes the artifact digests.
//!
//! [`verify`] recomputes everything it can from the run folder — seal, artifact digests,
//! ledger totals, trace facts, Case's own result file, and the outcome rule — so a report
//! edited or written by hand fails. The seal is a digest, not a signature: it proves the
//! report and the run folder agree with each other, not who produced them. Forging a pass
//! therefore means fabricating a whole consistent run folder; reviewers who need more should
//! keep evidence folders in a place the agent under test cannot write.
//!
//! Reports are written atomically (temp file, fsync, rename). A run writes an unsealed
//! `incomplete` placeholder first, so an interrupted run never leaves a pass behind.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::adapter::{LedgerEntry, read_ledger};
use crate::gates::{GateCode, GateResult, GateStatus};
use crate::output::{
    CaseSummary, ChannelScan, EvidenceKind, FallbackProof, FileDigest, Report, RunOutcome, Seal, SecretScanSummary,
};
use crate::records::sha256_hex;
use crate::status::VerifiedReport;
use crate::trace;

/// Report format version.
pub const REPORT_SCHEMA_VERSION: u32 = 1;
/// The seal algorithm name written into reports.
pub const SEAL_ALGORITHM: &str = "sha256-canonical-json";

/// Fixed names inside a run folder (DESIGN §4.4).
pub mod names {
    /// The sealed report.
    pub const REPORT: &str = "report.json";
    /// The event log.
    pub const TRACE: &str = "trace.jsonl";
    /// One line per adapter request.
    pub const LEDGER: &str = "adapter-ledger.jsonl";
    /// The generated Case configuration.
    pub const CASE_CONFIG: &str = "case-config.json";
    /// The task as given to Case.
    pub const TASK: &str = "task.json";
    /// Case's stdout.
    pub const STDOUT: &str = "case-stdout.log";
    /// Case's stderr.
    pub const STDERR: &str = "case-stderr.log";
    /// Case's `CASE_OUTPUT_DIR`.
    pub const CASE_OUTPUT: &str = "case-output";
    /// Case's own writable home folder (its `HOME` and agent config live there).
    pub const CASE_HOME: &str = "case-home";
    /// Case's verdict file inside `case-output/`.
    pub const RESULT: &str = "case-output/result.json";
    /// Exact copies of the decision and admission records the gates read.
    pub const INPUTS: &str = "inputs";
    /// The admission copy inside `inputs/`.
    pub const ADMISSION_COPY: &str = "inputs/admission.json";
    /// JUnit for this run.
    pub const JUNIT: &str = "junit.xml";
}

/// Everything a run observed, handed to the evidence interface.
#[derive(Debug, Clone)]
pub struct RunObservations {
    /// The run folder.
    pub run_dir: PathBuf,
    /// Real or simulated.
    pub evidence_kind: EvidenceKind,
    /// Admission facts, when the admission loaded.
    pub case_model_provider: Option<String>,
    /// The admitted model, when the admission loaded.
    pub case_model: Option<String>,
    /// The admission status at run time.
    pub case_model_admission_status: Option<String>,
    /// Upstream `host:port`, when the URL passed the gates.
    pub upstream: Option<String>,
    /// What the upstream said about itself.
    pub upstream_fingerprint: Option<Value>,
    /// Every gate result.
    pub gates: Vec<GateResult>,
    /// How Case ended, when it was spawned.
    pub case: Option<CaseSummary>,
    /// Routing/credential variable names Case did not get.
    pub scrubbed_variables: Vec<String>,
    /// Case's home and agent configuration, when Case was spawned.
    pub case_home: Option<crate::output::CaseHomeFacts>,
    /// What confined Case, when it was spawned.
    pub isolation: Option<crate::output::Isolation>,
    /// Secret-scan channels (everything but the report itself, which is scanned here).
    pub secret_channels: Vec<ChannelScan>,
    /// Names of the secrets searched for.
    pub secret_names: Vec<String>,
    /// Inputs by role.
    pub inputs: BTreeMap<String, FileDigest>,
    /// What the adapter counted in memory (Case cannot touch this copy; the ledger file on
    /// disk must agree with it).
    pub adapter_totals: Option<crate::adapter::LedgerTotals>,
    /// Failures noticed during the run that are not captured by the other facts
    /// (e.g. Case's result file was unreadable).
    pub run_errors: Vec<String>,
}

/// Why evidence could not be written or verified.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// I/O on a run-folder file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Serialisation failed (should not happen for these types).
    #[error("cannot serialise the report: {0}")]
    Json(#[from] serde_json::Error),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> EvidenceError + '_ {
    move |source| EvidenceError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes the unsealed `incomplete` placeholder that stands until the run finishes.
pub fn write_placeholder(run_dir: &Path, evidence_kind: EvidenceKind) -> Result<(), EvidenceError> {
    let report = Report {
        schema_version: REPORT_SCHEMA_VERSION,
        harness_version: env!("CARGO_PKG_VERSION").to_owned(),
        outcome: RunOutcome::Incomplete,
        reasons: vec!["the run started but did not finish (interrupted, or failed internally)".to_owned()],
        evidence_kind,
        case_model_provider: None,
        case_model: None,
        case_model_admission_status: None,
        upstream: None,
        upstream_fingerprint: None,
        gates: Vec::new(),
        blocked: Vec::new(),
        case_process_started: false,
        case: None,
        fallback_proof: None,
        scrubbed_variables: Vec::new(),
        case_home: None,
        isolation: None,
        secret_scan: SecretScanSummary {
            clean: false,
            secrets: Vec::new(),
            channels: Vec::new(),
        },
        inputs: BTreeMap::new(),
        artifacts: BTreeMap::new(),
        seal: None,
    };
    write_atomically(&run_dir.join(names::REPORT), &pretty(&report)?)
}

/// Decides the outcome from the observations, hashes the run folder and writes the sealed
/// report. `scan_report` is called with the report's bytes so that the report channel of
/// the secret scan covers the report itself.
pub fn seal(
    observations: RunObservations,
    trace: &trace::Trace,
    scan_report: impl Fn(&[u8]) -> Vec<crate::secrets::SecretHit>,
) -> Result<Report, EvidenceError> {
    let run_dir = observations.run_dir.clone();
    let trace_path = run_dir.join(names::TRACE);
    let mut run_errors = observations.run_errors.clone();

    // The harness knows whether it spawned Case; the trace on disk must say the same.
    let case_process_started = observations.case.is_some();
    if trace_has(&trace_path, trace::CASE_PROCESS_STARTED) != case_process_started {
        run_errors.push(format!(
            "{} does not show case_process_started={case_process_started} as the harness observed",
            names::TRACE
        ));
    }
    let fallback_proof = if case_process_started {
        match read_ledger(&run_dir.join(names::LEDGER)) {
            Ok(ledger) => {
                // Case runs as the same user and could rewrite the ledger file; the adapter's
                // own in-memory count is the reference.
                if observations.adapter_totals.as_ref() != Some(&crate::adapter::summarize(&ledger)) {
                    run_errors.push(format!(
                        "{} does not match what the adapter counted in memory: it was changed during the run",
                        names::LEDGER
                    ));
                }
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
    } else {
        None
    };

    // The last trace event is written before hashing, so the sealed trace is final.
    trace
        .event(trace::EVIDENCE_SEALED, serde_json::json!({ "report": names::REPORT }))
        .map_err(io_error(&trace_path))?;
    let on_disk = std::fs::read(&trace_path).map_err(io_error(&trace_path))?;
    if trace
        .written_digest()
        .is_some_and(|written| written != sha256_hex(&on_disk))
    {
        run_errors.push(format!(
            "{} was changed by someone other than the harness during the run",
            names::TRACE
        ));
    }
    let artifacts = digest_run_folder(&run_dir)?;

    let mut report = Report {
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
        scrubbed_variables: observations.scrubbed_variables,
        case_home: observations.case_home,
        isolation: observations.isolation,
        secret_scan: SecretScanSummary {
            clean: true,
            secrets: observations.secret_names,
            channels: observations.secret_channels,
        },
        inputs: observations.inputs,
        artifacts,
        seal: None,
    };
    // The report channel: scan the report as it will be written (hits never add a value,
    // so scanning once more after recording them is not needed).
    let report_hits = scan_report(&pretty(&report)?);
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
    let (outcome, reasons) = decide_outcome(&report, &run_errors);
    report.outcome = outcome;
    report.reasons = reasons;
    report.seal = Some(Seal {
        algorithm: SEAL_ALGORITHM.to_owned(),
        digest: seal_digest(&report)?,
    });
    write_atomically(&run_dir.join(names::REPORT), &pretty(&report)?)?;
    Ok(report)
}

/// Files every run that started Case must leave (a Case could delete its own logs to hide
/// what it printed; a missing log is never a clean one).
pub const REQUIRED_AFTER_CASE: &[&str] = &[
    names::TRACE,
    names::LEDGER,
    names::CASE_CONFIG,
    names::TASK,
    names::STDOUT,
    names::STDERR,
];

/// The outcome rule, applied identically when sealing and when verifying.
pub fn decide_outcome(report: &Report, run_errors: &[String]) -> (RunOutcome, Vec<String>) {
    if !report.blocked.is_empty() {
        let codes: Vec<&str> = report.blocked.iter().map(|code| code.as_str()).collect();
        let mut reasons = vec![format!("blocked before case_process_started by: {}", codes.join(", "))];
        if report.case_process_started {
            reasons.push("but the trace shows case_process_started: the run is not trustworthy".to_owned());
            return (RunOutcome::Fail, reasons);
        }
        return (RunOutcome::Blocked, reasons);
    }
    let mut failures = Vec::new();
    if report.gates.len() != GateCode::ALL.len() || report.gates.iter().any(|gate| gate.status != GateStatus::Pass) {
        failures.push("not every gate passed".to_owned());
    }
    if !report.case_process_started {
        failures.push("the trace has no case_process_started: Case never ran".to_owned());
    }
    match &report.case {
        None => failures.push("no record of how Case ended".to_owned()),
        Some(case) => {
            if case.timed_out {
                failures.push(format!("Case timed out after {} ms and was killed", case.duration_ms));
            } else if case.exit_code != Some(0) {
                failures.push(match (case.exit_code, case.signal) {
                    (Some(code), _) => format!("Case exited with code {code}"),
                    (None, Some(signal)) => format!("Case was killed by signal {signal}"),
                    (None, None) => "Case ended without an exit code".to_owned(),
                });
            }
            match case.verdict.as_deref() {
                Some("pass") => {}
                Some(other) => failures.push(format!("Case's verdict is {other:?}, not \"pass\"")),
                None => failures.push(format!("Case wrote no verdict in {}", names::RESULT)),
            }
        }
    }
    match &report.fallback_proof {
        None => failures.push("no adapter ledger totals".to_owned()),
        Some(proof) => {
            if proof.served_by_admitted_model == 0 {
                failures.push("no request was served by the admitted model through the adapter".to_owned());
            }
            if proof.fallback_attempts > 0 {
                // Name what Case asked for, so the report says which fallback it attempted.
                let others: Vec<&str> = proof
                    .models_requested
                    .iter()
                    .map(String::as_str)
                    .filter(|model| Some(*model) != report.case_model.as_deref())
                    .collect();
                let named = if others.is_empty() {
                    String::new()
                } else {
                    format!(" (other models requested: {})", others.join(", "))
                };
                failures.push(format!(
                    "{} fallback attempt(s) refused by the adapter{named}",
                    proof.fallback_attempts
                ));
            }
            if !proof.no_fallback {
                failures.push("the ledger does not prove that nothing fell back".to_owned());
            }
        }
    }
    // Judged from the channels themselves, never from the `clean` flag.
    for channel in &report.secret_scan.channels {
        for hit in &channel.hits {
            failures.push(format!(
                "secret `{}` found in {} ({})",
                hit.secret, channel.channel, hit.location
            ));
        }
        if let Some(reason) = channel.skipped.as_ref().filter(|_| channel.channel != "commit") {
            failures.push(format!(
                "the {} channel was not scanned for secrets: {reason}",
                channel.channel
            ));
        }
    }
    for required in REQUIRED_AFTER_CASE {
        if !report.artifacts.contains_key(*required) {
            failures.push(format!("{required} is missing from the run folder"));
        }
    }
    failures.extend(run_errors.iter().cloned());
    if failures.is_empty() {
        let served = report
            .fallback_proof
            .as_ref()
            .map_or(0, |proof| proof.served_by_admitted_model);
        (
            RunOutcome::Pass,
            vec![format!(
                "every gate passed; Case exited 0 with verdict pass; {served} request(s) served by the admitted model; no fallback attempt; secret scan clean"
            )],
        )
    } else {
        (RunOutcome::Fail, failures)
    }
}

/// Computes the fallback proof from ledger entries: a pure function, so the verifier gets the
/// same answer from the same ledger.
pub fn fallback_proof(entries: &[LedgerEntry], admitted_model: &str, upstream: &str) -> FallbackProof {
    let totals = crate::adapter::summarize(entries);
    let set = |values: &BTreeSet<String>| values.iter().cloned().collect::<Vec<_>>();
    let models_forwarded: BTreeSet<String> = entries
        .iter()
        .filter_map(|entry| entry.forwarded_model.clone())
        .collect();
    let no_fallback = totals.fallback_attempts == 0
        && models_forwarded.iter().all(|model| model == admitted_model)
        && totals.upstream_hosts.iter().all(|host| host == upstream)
        && !models_forwarded
            .iter()
            .any(|model| crate::gates::external_reference(model).is_some());
    FallbackProof {
        requests: totals.requests,
        forwarded: totals.forwarded,
        served_by_admitted_model: totals.served_by_admitted_model,
        fallback_attempts: totals.fallback_attempts,
        models_requested: set(&totals.models_requested),
        models_forwarded: models_forwarded.into_iter().collect(),
        upstream_models_reported: set(&totals.upstream_models_reported),
        upstream_hosts: set(&totals.upstream_hosts),
        no_fallback,
    }
}

fn trace_has(path: &Path, event: &str) -> bool {
    trace::read(path).is_ok_and(|events| {
        events
            .iter()
            .any(|line| line.get("event").and_then(Value::as_str) == Some(event))
    })
}

/// sha256 of every regular file in the run folder except the report and the JUnit file
/// (which are written from the report), keyed by relative path with `/` separators.
pub fn digest_run_folder(run_dir: &Path) -> Result<BTreeMap<String, String>, EvidenceError> {
    let mut digests = BTreeMap::new();
    let mut pending = vec![run_dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io_error(&dir))? {
            let entry = entry.map_err(io_error(&dir))?;
            let path = entry.path();
            let file_type = entry.file_type().map_err(io_error(&path))?;
            if file_type.is_dir() {
                pending.push(path);
                continue;
            }
            if !file_type.is_file() {
                continue;
            }
            let relative = relative_name(run_dir, &path);
            if relative == names::REPORT || relative == names::JUNIT || relative.starts_with(TEMP_PREFIX) {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(io_error(&path))?;
            digests.insert(relative, sha256_hex(&bytes));
        }
    }
    Ok(digests)
}

fn relative_name(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|component| component.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The seal digest: sha256 over the canonical JSON of the report with `seal` removed.
pub fn seal_digest(report: &Report) -> Result<String, EvidenceError> {
    let mut value = serde_json::to_value(report)?;
    if let Value::Object(map) = &mut value {
        map.remove("seal");
    }
    Ok(sha256_hex(canonical_json(&value).as_bytes()))
}

/// JSON with object keys sorted and no insignificant whitespace, independent of how
/// serde_json's maps are configured.
pub fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|key| format!("{}:{}", Value::from(key.as_str()), canonical_json(&map[key])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical_json).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

fn pretty(report: &Report) -> Result<Vec<u8>, EvidenceError> {
    let mut bytes = serde_json::to_vec_pretty(report)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Prefix of the temp files [`write_atomically`] creates (never digested as artifacts).
const TEMP_PREFIX: &str = ".case-harness-tmp-";

/// Writes `bytes` to `path` via a temp file in the same folder, fsync and rename, so readers
/// see the old file or the new one, never a torn one. The temp file has a random name and
/// is created exclusively, so nothing planted in the folder (a symlink) can redirect it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), EvidenceError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(io_error(dir))?;
    temp.write_all(bytes).map_err(io_error(temp.path()))?;
    temp.as_file().sync_all().map_err(io_error(path))?;
    temp.persist(path).map_err(|err| EvidenceError::Io {
        path: path.to_owned(),
        source: err.error,
    })?;
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Recomputes everything checkable about `report_path` from its run folder. On success,
/// returns what status derivation needs; on failure, every discrepancy found.
pub fn verify(report_path: &Path) -> Result<VerifiedReport, Vec<String>> {
    let mut problems = Vec::new();
    let bytes = crate::records::read_bounded(report_path).map_err(|err| vec![err.to_string()])?;
    let report: Report = serde_json::from_slice(&bytes)
        .map_err(|err| vec![format!("{}: not a harness report: {err}", report_path.display())])?;
    let run_dir = report_path.parent().unwrap_or(Path::new(".")).to_owned();

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
        match std::fs::read(run_dir.join(name)) {
            Ok(bytes) if sha256_hex(&bytes) == *digest => {}
            Ok(_) => problems.push(format!("artifact {name} changed since the report was sealed")),
            Err(err) => problems.push(format!("artifact {name} is missing: {err}")),
        }
    }
    match digest_run_folder(&run_dir) {
        Ok(present) => {
            for name in present.keys().filter(|name| !report.artifacts.contains_key(*name)) {
                problems.push(format!("file {name} is in the run folder but not in the report"));
            }
        }
        Err(err) => problems.push(err.to_string()),
    }
    let required: &[&str] = match report.outcome {
        RunOutcome::Blocked => &[names::TRACE],
        _ => REQUIRED_AFTER_CASE,
    };
    for name in required.iter().filter(|name| !report.artifacts.contains_key(**name)) {
        problems.push(format!("required artifact {name} is not in the report"));
    }

    // Trace facts: what the harness wrote as it happened must agree with the report.
    match trace::read(&run_dir.join(names::TRACE)) {
        Err(err) => problems.push(err),
        Ok(events) => problems.extend(check_against_trace(&report, &events, &run_dir)),
    }

    // The admission the run used, from its sealed copy.
    if report.inputs.contains_key("admission") {
        let copy = run_dir.join(names::ADMISSION_COPY);
        match crate::records::read_bounded(&copy)
            .and_then(|bytes| crate::records::AdmissionRecord::from_bytes(&copy, bytes))
        {
            Err(err) => problems.push(format!("sealed admission copy: {err}")),
            Ok(loaded) => {
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
                        report.case_model_admission_status.as_deref(),
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
        match read_ledger(&run_dir.join(names::LEDGER)) {
            Err(err) => problems.push(err.to_string()),
            Ok(entries) => {
                let recomputed = fallback_proof(
                    &entries,
                    report.case_model.as_deref().unwrap_or_default(),
                    report.upstream.as_deref().unwrap_or_default(),
                );
                if report.fallback_proof.as_ref() != Some(&recomputed) {
                    problems.push("fallback proof does not match the adapter ledger".to_owned());
                }
            }
        }
    }

    // Case's own verdict.
    let verdict = std::fs::read(run_dir.join(names::RESULT))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|value| value.get("verdict").and_then(Value::as_str).map(str::to_owned));
    if let Some(case) = report.case.as_ref().filter(|case| case.verdict != verdict) {
        problems.push(format!(
            "report says Case's verdict is {:?} but {} says {verdict:?}",
            case.verdict,
            names::RESULT
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
    let fingerprint = |key: &str| {
        report
            .upstream_fingerprint
            .as_ref()
            .and_then(|value| value.get(key))
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned()
    };
    Ok(VerifiedReport {
        path: report_path.to_owned(),
        digest: report.seal.as_ref().map(|seal| seal.digest.clone()).unwrap_or_default(),
        outcome: claimed,
        evidence_kind: report.evidence_kind,
        upstream_server: fingerprint("server"),
        model_sha256_check: fingerprint("model_sha256_check"),
        case_model_provider: report.case_model_provider.unwrap_or_default(),
        case_model: report.case_model.unwrap_or_default(),
        confined: report
            .isolation
            .as_ref()
            .is_some_and(crate::output::Isolation::is_confined),
        case_model_admission_status: report
            .case_model_admission_status
            .as_deref()
            .and_then(|status| serde_json::from_value(Value::from(status)).ok()),
    })
}

/// Compares the report with the trace: evidence kind, gates, Case start and end, secret-scan
/// hits, and the adapter's own totals against the ledger.
fn check_against_trace(report: &Report, events: &[serde_json::Map<String, Value>], run_dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let sequence_ok = events
        .iter()
        .enumerate()
        .all(|(index, event)| event.get("seq").and_then(Value::as_u64) == Some(index as u64 + 1));
    if !sequence_ok {
        problems.push("trace sequence numbers are not 1, 2, 3, …".to_owned());
    }
    let event_named = |name: &str| {
        events
            .iter()
            .find(|event| event.get("event").and_then(Value::as_str) == Some(name))
    };
    // The kind of evidence is fixed when the run starts; a report that claims another is forged.
    let traced_kind = event_named(trace::RUN_STARTED)
        .and_then(|event| event.get("evidence_kind"))
        .and_then(Value::as_str);
    if traced_kind != Some(report.evidence_kind.as_str()) {
        problems.push(format!(
            "report says evidence_kind {} but the trace's run_started says {traced_kind:?}",
            report.evidence_kind.as_str()
        ));
    }
    let traced_gates = event_named(trace::GATES_EVALUATED).and_then(|event| event.get("gates"));
    if traced_gates != Some(&serde_json::to_value(&report.gates).unwrap_or_default()) {
        problems.push("report's gate results differ from the trace's gates_evaluated".to_owned());
    }
    let started = event_named(trace::CASE_PROCESS_STARTED).is_some();
    if started != report.case_process_started {
        problems.push(format!(
            "report says case_process_started={} but the trace says {started}",
            report.case_process_started
        ));
    }
    // What confined Case is traced before Case starts; a report that claims more is forged.
    let traced_isolation = event_named(trace::CASE_ISOLATION).and_then(|event| event.get("isolation"));
    let claimed_isolation = report
        .isolation
        .as_ref()
        .and_then(|isolation| serde_json::to_value(isolation).ok());
    if traced_isolation != claimed_isolation.as_ref() {
        problems.push(format!(
            "report says isolation {} but the trace's case_isolation says {}",
            claimed_isolation.map_or("absent".to_owned(), |value| value.to_string()),
            traced_isolation.map_or("nothing".to_owned(), Value::to_string)
        ));
    }
    if let Some(case) = &report.case {
        let exited = event_named(trace::CASE_PROCESS_EXITED);
        let field = |name: &str| exited.and_then(|event| event.get(name)).cloned().unwrap_or(Value::Null);
        let traced = (field("exit_code"), field("signal"), field("timed_out"));
        let claimed = (
            serde_json::to_value(case.exit_code).unwrap_or_default(),
            serde_json::to_value(case.signal).unwrap_or_default(),
            Value::Bool(case.timed_out),
        );
        if traced != claimed {
            problems.push(format!(
                "report says Case ended with {claimed:?} but the trace says {traced:?}"
            ));
        }
    }
    if let Some(scan) = event_named(trace::SECRET_SCAN).and_then(|event| event.get("hits")) {
        for channel in report
            .secret_scan
            .channels
            .iter()
            .filter(|channel| channel.channel != "report")
        {
            let traced = scan.get(&channel.channel).and_then(Value::as_u64);
            if traced != Some(channel.hits.len() as u64) {
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
    if report.case_process_started {
        let traced_totals = event_named(trace::ADAPTER_STOPPED)
            .and_then(|event| event.get("totals"))
            .cloned();
        let ledger_totals = read_ledger(&run_dir.join(names::LEDGER))
            .ok()
            .and_then(|entries| serde_json::to_value(crate::adapter::summarize(&entries)).ok());
        if traced_totals.is_none() || traced_totals != ledger_totals {
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
