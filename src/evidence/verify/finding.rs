//! What `verify` found wrong with a run folder: one typed finding per discrepancy, naming the
//! file and the field, like the trace's own errors. The CLI renders them with `Display`, whose
//! text is the one `verify` has always printed (the snapshots hold it byte for byte).

use std::path::PathBuf;

use crate::guarded_files::RunFileError;

/// Findings in one line, as `status` and the signed-origin check quote them.
pub(crate) fn join_findings(findings: &[impl std::fmt::Display], separator: &str) -> String {
    findings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

/// One discrepancy between a sealed report and its run folder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Finding {
    /// The report file itself could not be read.
    #[error(transparent)]
    ReportUnreadable(RunFileError),
    /// The report file is not a harness report.
    #[error("{}: not a harness report: {source}", path.display())]
    NotAReport {
        /// The report file.
        path: PathBuf,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// `report.json` holds more, less or other than the typed report the seal covers.
    #[error("report.json is not in the exact form the harness writes (a field was added, removed or retyped)")]
    NotExactForm,
    /// `seal` is absent.
    #[error("report is not sealed (outcome {outcome})")]
    NotSealed {
        /// The report's `outcome`.
        outcome: &'static str,
    },
    /// `seal.algorithm` is not the harness's.
    #[error("unknown seal algorithm {algorithm:?}")]
    UnknownSealAlgorithm {
        /// The report's `seal.algorithm`.
        algorithm: String,
    },
    /// `seal.digest` differs from the digest of the report's content.
    #[error("seal digest does not match the report's content (edited after sealing?)")]
    SealMismatch,
    /// The seal digest could not be computed.
    #[error(transparent)]
    SealUncomputable(super::super::EvidenceError),
    /// `schema_version` is not one this harness reads.
    #[error("unsupported schema_version {version}")]
    UnsupportedSchema {
        /// The report's `schema_version`.
        version: u32,
    },
    /// An `artifacts` key is not a plain relative path inside the run folder.
    #[error("artifact name {name:?} escapes the run folder")]
    ArtifactEscapes {
        /// The `artifacts` key.
        name: String,
    },
    /// An artifact's content differs from its `artifacts` digest.
    #[error("artifact {name} changed since the report was sealed")]
    ArtifactChanged {
        /// The file, relative to the run folder.
        name: String,
    },
    /// An artifact listed in `artifacts` is not in the run folder.
    #[error("artifact {name} is missing")]
    ArtifactMissing {
        /// The file, relative to the run folder.
        name: String,
    },
    /// An artifact listed in `artifacts` could not be read (not a regular file, unreadable).
    #[error("artifact {name}: {source}")]
    ArtifactUnreadable {
        /// The file, relative to the run folder.
        name: String,
        /// Why.
        #[source]
        source: RunFileError,
    },
    /// A file in the run folder is not among `artifacts`.
    #[error("file {name} is in the run folder but not in the report")]
    Unlisted {
        /// The file, relative to the run folder.
        name: String,
    },
    /// The run-folder walk refused an entry (a FIFO, a symlink, a name that is not UTF-8…)
    /// that the sealed report does not give as a reason.
    #[error("{0}")]
    Refused(String),
    /// The run folder could not be walked.
    #[error(transparent)]
    Walk(super::super::EvidenceError),
    /// A sealed input copy under `inputs/` differs from the report's `inputs` digest.
    #[error("{0}")]
    InputCopy(String),
    /// `junit.xml` could not be read.
    #[error("{file}: {source}")]
    JunitUnreadable {
        /// The JUnit file's name.
        file: &'static str,
        /// Why.
        #[source]
        source: RunFileError,
    },
    /// `junit.xml` has no `report_path` property naming a `report.json`.
    #[error("{file} has no report_path property naming a {report}")]
    JunitNoReportPath {
        /// The JUnit file's name.
        file: &'static str,
        /// The report's file name.
        report: &'static str,
    },
    /// `junit.xml` is not what the harness renders for this report.
    #[error("{file} differs from the JUnit the harness writes for this report (replaced after sealing?)")]
    JunitDiffers {
        /// The JUnit file's name.
        file: &'static str,
    },
    /// The JUnit for this report could not be rendered.
    #[error(transparent)]
    JunitRender(crate::junit::JunitError),
    /// A file every report of this outcome lists is not among `artifacts`.
    #[error("required artifact {name} is not in the report")]
    RequiredMissing {
        /// The file's name.
        name: &'static str,
    },
    /// The trace could not be read.
    #[error(transparent)]
    TraceUnreadable(RunFileError),
    /// The trace is not a trace.
    #[error(transparent)]
    TraceMalformed(crate::trace::TraceParseError),
    /// A fact of the report differs from what the trace recorded as it happened.
    #[error(transparent)]
    Trace(#[from] TraceFinding),
    /// The sealed admission copy could not be read or is not an admission record.
    #[error("sealed admission copy: {0}")]
    AdmissionCopy(String),
    /// A report field differs from the admission the run used.
    #[error("report says {field} {claimed:?} but the admission the run used says {sealed:?}")]
    AdmissionField {
        /// The report field.
        field: &'static str,
        /// What the report says.
        claimed: Option<String>,
        /// What the sealed admission copy says.
        sealed: Option<String>,
    },
    /// The admission copy's digest differs from `inputs.admission`.
    #[error("the admission copy's digest differs from the report's input digest")]
    AdmissionDigest,
    /// `secret_scan.clean` contradicts the hits of its channels.
    #[error("secret_scan.clean is {claimed} but its channels say {channels}")]
    SecretScanClean {
        /// The report's `secret_scan.clean`.
        claimed: bool,
        /// What its channels say.
        channels: bool,
    },
    /// The adapter ledger could not be read or parsed.
    #[error("{0}")]
    Ledger(String),
    /// `fallback_proof` is not what the ledger gives.
    #[error("fallback proof does not match the adapter ledger")]
    FallbackProof,
    /// The ledger shows a request sent without the report's `sampling` pin.
    #[error("{0}")]
    SamplingPin(String),
    /// `case.verdict` differs from Case's result file.
    #[error("report says Case's verdict is {claimed} but {file} says {found}")]
    Verdict {
        /// The report's `case.verdict`.
        claimed: &'static str,
        /// Case's result file.
        file: &'static str,
        /// What the file says.
        found: &'static str,
    },
    /// `outcome` does not follow from the rest of the report.
    #[error("outcome {claimed} does not follow from the evidence (expected {expected})")]
    Outcome {
        /// The report's `outcome`.
        claimed: &'static str,
        /// What the outcome rule gives.
        expected: &'static str,
    },
}

/// A report field that differs from the trace (`trace.jsonl`), which the harness writes as
/// the run happens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceFinding {
    /// The trace's `seq` numbers are not 1, 2, 3, …
    #[error("trace sequence numbers are not 1, 2, 3, …")]
    Sequence,
    /// `evidence_kind` differs from `run_started`.
    #[error("report says evidence_kind {claimed} but the trace's run_started says {traced:?}")]
    EvidenceKind {
        /// The report's `evidence_kind`.
        claimed: &'static str,
        /// The trace's, if any.
        traced: Option<&'static str>,
    },
    /// `gates` differ from `gates_evaluated`.
    #[error("report's gate results differ from the trace's gates_evaluated")]
    Gates,
    /// `case_process_started` differs from the trace.
    #[error("report says case_process_started={claimed} but the trace says {traced}")]
    CaseStarted {
        /// The report's `case_process_started`.
        claimed: bool,
        /// Whether the trace has `case_process_started`.
        traced: bool,
    },
    /// `isolation` differs from `case_isolation`.
    #[error("report says isolation {claimed} but the trace's case_isolation says {traced}")]
    Isolation {
        /// The report's `isolation`, as JSON (`absent` when there is none).
        claimed: String,
        /// The trace's, as JSON (`nothing` when there is none).
        traced: String,
    },
    /// `case`'s exit differs from `case_process_exited`.
    #[error("report says Case ended with {claimed} but the trace says {traced}")]
    CaseEnded {
        /// The report's `case` exit, in words.
        claimed: String,
        /// The trace's, in words.
        traced: String,
    },
    /// A `secret_scan.channels` entry's hit count differs from the trace's `secret_scan`.
    #[error("report lists {claimed} secret hit(s) in {channel} but the trace says {traced:?}")]
    SecretHits {
        /// The channel.
        channel: String,
        /// The report's hit count.
        claimed: usize,
        /// The trace's, if it names the channel.
        traced: Option<usize>,
    },
    /// The report lists scanned channels but the trace has no `secret_scan`.
    #[error("the trace has no secret_scan event")]
    NoSecretScan,
    /// `adapter_mode` differs from `adapter_started`.
    #[error("report says adapter_mode {claimed:?} but the trace's adapter_started says {traced:?}")]
    AdapterMode {
        /// The report's `adapter_mode`.
        claimed: Option<&'static str>,
        /// The trace's.
        traced: Option<&'static str>,
    },
    /// `sampling` differs from `adapter_started`.
    #[error("report's sampling pin differs from the trace's adapter_started")]
    Sampling,
    /// The adapter's totals in `adapter_stopped` differ from the ledger's.
    #[error("the adapter's own totals (trace adapter_stopped) differ from the ledger")]
    AdapterTotals,
}
