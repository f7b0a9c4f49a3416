//! The Harness Evidence Interface: the only code that builds, seals and verifies reports.
//!
//! A run hands over what it *observed* (`RunObservations`: gate results, whether Case was
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
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::adapter::LedgerEntry;
use crate::output::{
    CaseSummary, ChannelScan, EvidenceKind, FallbackProof, FileDigest, GateResult, Report, RunOutcome,
    SecretScanSummary, Verdict,
};
use crate::records::sha256_hex;
use crate::trace;

pub use crate::guarded_files as files;
mod confinement;
mod outcome;
mod sampling;
mod seal;
mod verify;

pub(crate) use outcome::{REQUIRED_AFTER_CASE, decide_outcome};
pub(crate) use seal::seal;
pub(crate) use verify::join_findings;
pub use verify::{Finding, TraceFinding, VerifiedReport, verify};

/// Report format version.
pub(crate) const REPORT_SCHEMA_VERSION: u32 = 1;
/// The seal algorithm name written into reports.
pub(crate) const SEAL_ALGORITHM: &str = "sha256-canonical-json";

/// The fixed file names of a run folder (one home for them all: `run_folder`).
pub(crate) use crate::run_folder as names;

/// Everything a run observed, handed to the evidence interface.
#[derive(Debug, Clone)]
pub(crate) struct RunObservations {
    /// The run folder.
    pub run_dir: PathBuf,
    /// Real or simulated.
    pub evidence_kind: EvidenceKind,
    /// Admission facts, when the admission loaded.
    pub case_model_provider: Option<String>,
    /// The admitted model, when the admission loaded.
    pub case_model: Option<String>,
    /// The admission status at run time.
    pub case_model_admission_status: Option<crate::records::AdmissionStatus>,
    /// Upstream `host:port`, when the URL passed the gates.
    pub upstream: Option<String>,
    /// What the upstream said about itself.
    pub upstream_fingerprint: Option<crate::output::UpstreamFingerprint>,
    /// Every gate result.
    pub gates: Vec<GateResult>,
    /// How Case ended, when it was spawned.
    pub case: Option<CaseSummary>,
    /// Routing/credential variable names Case did not get.
    pub scrubbed_variables: Vec<String>,
    /// What confined Case, when it was spawned.
    pub isolation: Option<crate::output::Isolation>,
    /// Case's home and agent configuration, when Case was spawned.
    pub case_home: Option<crate::output::CaseHomeFacts>,
    /// Secret-scan channels (everything but the report itself, which is scanned here).
    pub secret_channels: Vec<ChannelScan>,
    /// Names of the secrets searched for.
    pub secret_names: Vec<String>,
    /// Inputs by role.
    pub inputs: BTreeMap<String, FileDigest>,
    /// What the adapter counted in memory (Case cannot touch this copy; the ledger file on
    /// disk must agree with it).
    pub adapter_totals: Option<crate::adapter::LedgerTotals>,
    /// How the adapter served the Anthropic routes, when it ran.
    pub adapter_mode: Option<crate::adapter::AdapterMode>,
    /// The sampling pin the adapter set, when it ran with one.
    pub sampling: Option<crate::output::SamplingPin>,
    /// Failures noticed during the run that are not captured by the other facts
    /// (e.g. Case's result file was unreadable).
    pub run_errors: Vec<String>,
}

/// Why evidence could not be written or verified.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// I/O on a run-folder file.
    #[error(transparent)]
    Io(#[from] crate::path_io::PathIoError),
    /// Serialisation failed (should not happen for these types).
    #[error("cannot serialise the report: {0}")]
    Json(#[from] serde_json::Error),
    /// A run-folder file could not be read (not a regular file, too large, unreadable).
    #[error(transparent)]
    RunFile(#[from] files::RunFileError),
    /// The JUnit XML could not be rendered.
    #[error("cannot render {}", names::JUNIT)]
    Junit(#[source] quick_junit::SerializeError),
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
        adapter_mode: None,
        sampling: None,
        scrubbed_variables: Vec::new(),
        isolation: None,
        case_home: None,
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
            .chain(&totals.upstream_models_reported)
            .any(|model| crate::external_names::external_reference(model).is_some());
    FallbackProof {
        requests: totals.requests,
        forwarded: totals.forwarded,
        served_by_admitted_model: totals.served_by_admitted_model,
        fallback_attempts: totals.fallback_attempts,
        models_requested: set(&totals.models_requested),
        models_forwarded: models_forwarded.into_iter().collect(),
        upstream_models_reported: set(&totals.upstream_models_reported),
        upstream_hosts: set(&totals.upstream_hosts),
        upstream_secret_echoes: totals.secret_echoes,
        upstream_errors: totals.upstream_errors.into_iter().collect(),
        no_fallback,
    }
}

/// Whether the trace on disk has `case_process_started`; `None` when it cannot be read as a
/// trace the harness wrote (then it shows neither).
fn trace_shows_case_started(path: &Path) -> Option<bool> {
    let text = files::read_text(path, files::MAX_LOG_FILE_BYTES).ok()?;
    let lines = trace::parse(path, &text).ok()?;
    Some(
        lines
            .iter()
            .any(|line| matches!(line.event, trace::TraceEvent::CaseProcessStarted { .. })),
    )
}

/// What a walk of the run folder found: a streamed sha256 of every regular file except the
/// report, the JUnit file (both written from the report) and the signed envelope (written
/// over all of them), keyed by relative path with `/` separators; and every entry that is not a regular file or folder, or whose name is not
/// UTF-8 (each a reason the run cannot be trusted: nothing in a run folder escapes the digests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct RunFolderWalk {
    /// Relative name → sha256.
    pub digests: BTreeMap<String, String>,
    /// One sentence per entry that could not be digested (symlink, FIFO, device, socket,
    /// non-UTF-8 name, or a `junit.xml` that is not a regular file).
    pub refused: Vec<String>,
}

/// Walks the run folder; see [`RunFolderWalk`]. Symlinks are never followed: a link (to a
/// file holding a secret, to `/dev/zero`, to a folder outside) is itself a finding.
pub(crate) fn walk_run_folder(run_dir: &Path) -> Result<RunFolderWalk, EvidenceError> {
    let mut walk = RunFolderWalk::default();
    let mut pending = vec![run_dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(crate::path_io::at(&dir))? {
            let entry = entry.map_err(crate::path_io::at(&dir))?;
            let path = entry.path();
            let file_type = entry.file_type().map_err(crate::path_io::at(&path))?;
            let relative = files::relative_name(run_dir, &path);
            if entry.file_name().to_str().is_none() {
                walk.refused.push(format!(
                    "{relative:?} has a file name that is not UTF-8; the harness cannot name it in a report"
                ));
                continue;
            }
            if file_type.is_dir() {
                if relative == names::JUNIT {
                    walk.refused.push(format!(
                        "{relative} is a folder; the harness writes its own JUnit file there"
                    ));
                }
                pending.push(path);
                continue;
            }
            if !file_type.is_file() {
                walk.refused.push(format!(
                    "{relative} is a {}; a run folder may hold only regular files and folders",
                    files::kind_of(file_type)
                ));
                continue;
            }
            if relative == names::REPORT || relative == names::JUNIT || relative == names::ENVELOPE {
                continue;
            }
            match files::sha256_streamed(&path) {
                Ok(digest) => {
                    walk.digests.insert(relative, digest);
                }
                // Replaced between listing and opening: as good as any other odd entry.
                Err(err @ files::RunFileError::NotRegular { .. }) => walk.refused.push(err.to_string()),
                Err(err) => return Err(err.into()),
            }
        }
    }
    walk.refused.sort();
    Ok(walk)
}

/// Case's verdict from `case-output/result.json`, read the same way when sealing and when
/// verifying: a regular file of at most [`files::MAX_SMALL_FILE_BYTES`], a JSON object whose
/// `verdict` is `"pass"` or `"fail"`. A missing file is `Ok(None)`; anything else is an error
/// that names the file and what to do.
pub(crate) fn read_case_verdict(run_dir: &Path) -> Result<Option<Verdict>, String> {
    let path = run_dir.join(names::RESULT);
    let bytes = match files::read_bounded(&path, files::MAX_SMALL_FILE_BYTES) {
        Ok(bytes) => bytes,
        Err(files::RunFileError::Missing { .. }) => return Ok(None),
        Err(err) => return Err(format!("Case's result file: {err}")),
    };
    let value: Value = serde_json::from_slice(&bytes).map_err(|err| format!("{}: not JSON: {err}", path.display()))?;
    match value.get("verdict").and_then(Value::as_str) {
        Some("pass") => Ok(Some(Verdict::Pass)),
        Some("fail") => Ok(Some(Verdict::Fail)),
        _ => Err(format!(
            "{}: field `verdict` must be \"pass\" or \"fail\"",
            path.display()
        )),
    }
}

/// The run-folder copies of the inputs, by role: each must hash to the digest the report
/// gives for that role (Case could rewrite a copy during the run).
pub(crate) const INPUT_COPIES: &[(&str, &str)] = &[
    ("decision", "inputs/decision.json"),
    ("admission", names::ADMISSION_COPY),
    ("task", names::TASK),
];

/// Compares every input copy in the run folder with `inputs`: a copy whose digest differs, a
/// copy without an input digest, or an input digest without its copy is a finding.
pub(crate) fn check_input_copies(run_dir: &Path, inputs: &BTreeMap<String, FileDigest>) -> Vec<String> {
    let mut problems = Vec::new();
    for (role, copy) in INPUT_COPIES {
        let path = run_dir.join(copy);
        let actual = match files::sha256_streamed(&path) {
            Ok(digest) => Some(digest),
            Err(files::RunFileError::Missing { .. }) => None,
            Err(err) => {
                problems.push(format!("input copy {copy}: {err}"));
                continue;
            }
        };
        match (inputs.get(*role), actual) {
            (Some(input), Some(actual)) if input.sha256 != actual => problems.push(format!(
                "{copy} has sha256 {actual}, but the report's `inputs.{role}` digest is {}: the copy was changed",
                input.sha256
            )),
            (Some(_), None) => problems.push(format!(
                "the report has `inputs.{role}` but {copy} is missing from the run folder"
            )),
            (None, Some(_)) => problems.push(format!(
                "{copy} is in the run folder but the report has no `inputs.{role}` digest"
            )),
            _ => {}
        }
    }
    problems
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

/// Writes `bytes` to `path` atomically ([`crate::path_io::write_atomically`]), as evidence.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), EvidenceError> {
    Ok(crate::path_io::write_atomically(path, bytes)?)
}

/// The JUnit writer's failures are evidence failures of the same kind.
impl From<crate::junit::JunitError> for EvidenceError {
    fn from(err: crate::junit::JunitError) -> Self {
        match err {
            crate::junit::JunitError::Render(source) => EvidenceError::Junit(source),
            crate::junit::JunitError::Io(source) => EvidenceError::Io(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_files_are_0644_like_summary_md() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("junit.xml");
        write_atomically(&path, b"<testsuites/>").expect("write");
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
}
