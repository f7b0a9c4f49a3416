//! The machine-readable shapes other tools read: `check --format json` and
//! `status --format json` (README, "Commands"). Plain serde types, changed only on purpose — scripts
//! outside the project rely on every field name here.

use std::collections::BTreeMap;

use crate::records::AdmissionStatus;

mod adapter;
mod aggregate;
mod fingerprint;
mod gate;
mod sampling;
mod trial;

pub use adapter::{AdapterMode, Api, LedgerTotals};
pub use aggregate::{AggregateReport, AttemptRef, Interval, PassAtK};
pub use fingerprint::{ModelFile, Sha256Check, UpstreamFingerprint};
pub use gate::{GateCode, GateResult, GateStatus};
pub use sampling::{PinnedField, SamplingPin, SamplingRecord, SamplingValues};
pub use trial::TrialRecord;

/// `case-harness check --format json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckOutput {
    /// `ready` or `blocked`.
    pub outcome: CheckOutcome,
    /// Codes of the blocking gates, in gate order.
    pub blocked: Vec<GateCode>,
    /// Every gate's result, in gate order.
    pub gates: Vec<GateResult>,
    /// Always `false`: `check` never starts Case.
    pub case_process_started: bool,
}

/// Whether the route may start Case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// Every gate passed.
    Ready,
    /// At least one gate blocks.
    Blocked,
}

impl CheckOutput {
    /// Builds the output from every gate's result, in gate order.
    pub fn from_results(results: &[GateResult]) -> Self {
        CheckOutput {
            outcome: if results.iter().all(|result| result.status == GateStatus::Pass) {
                CheckOutcome::Ready
            } else {
                CheckOutcome::Blocked
            },
            blocked: results
                .iter()
                .filter(|result| result.status == GateStatus::Blocked)
                .map(|result| result.code)
                .collect(),
            gates: results.to_vec(),
            case_process_started: false,
        }
    }
}

/// `case-harness status --format json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct StatusOutput {
    /// The SOT's work items as written.
    pub work_items: Vec<WorkItemOutput>,
    /// Work item id → the status the evidence supports (CTO-WORK-020 always included).
    pub derived: BTreeMap<String, DerivedStatus>,
}

/// One work item as written in the SOT.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct WorkItemOutput {
    /// e.g. `CTO-WORK-022`.
    pub id: String,
    /// Heading title.
    pub title: String,
    /// `Status:` as written.
    pub status: String,
    /// Acceptance bullets.
    pub acceptance: Vec<String>,
    /// `Blocked by:` bullets.
    pub blocked_by: Vec<String>,
    /// `Current unblock:` bullets.
    pub current_unblock: Vec<String>,
}

/// The status a work item's evidence supports, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct DerivedStatus {
    /// `blocked`, `unblocked`, or the SOT status unchanged when no evidence rule applies.
    pub status: String,
    /// Each reason: the missing piece, or the evidence that cleared it.
    pub reasons: Vec<String>,
    /// Verified reports that count for this work item (path and digest).
    pub evidence: Vec<EvidenceRef>,
}

/// A pointer to a verified report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct EvidenceRef {
    /// Path of `report.json`.
    pub report: String,
    /// Its seal digest.
    pub digest: String,
}

/// The harness report (`report.json`): what a run proved, sealed. Built only by
/// [`crate::evidence`]; `case-harness verify` recomputes every field it can from the run
/// folder. Unknown fields are refused when reading one back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Format version of this report (1).
    pub schema_version: u32,
    /// The case-harness version that wrote it.
    pub harness_version: String,
    /// `pass`, `fail`, `blocked` or `incomplete`.
    pub outcome: RunOutcome,
    /// Why the outcome is what it is (every failed condition, or the pass conditions met).
    pub reasons: Vec<String>,
    /// `real_stage2` or `simulated`; only `real_stage2` can count as Stage 2 evidence.
    pub evidence_kind: EvidenceKind,
    /// The provider named by the admission record.
    pub case_model_provider: Option<String>,
    /// The one model the adapter forwarded.
    pub case_model: Option<String>,
    /// The admission status at run time.
    pub case_model_admission_status: Option<AdmissionStatus>,
    /// The local upstream, `host:port`.
    pub upstream: Option<String>,
    /// What the upstream said about itself at the start of the run.
    pub upstream_fingerprint: Option<UpstreamFingerprint>,
    /// Every gate's result.
    pub gates: Vec<GateResult>,
    /// Codes of the blocking gates.
    pub blocked: Vec<GateCode>,
    /// True only if the trace shows Case was spawned.
    pub case_process_started: bool,
    /// How Case ended and what it said.
    pub case: Option<CaseSummary>,
    /// Totals recomputed from the adapter ledger.
    pub fallback_proof: Option<FallbackProof>,
    /// How the adapter served Case's Anthropic routes: `translate` (to OpenAI chat
    /// completions) or `pass_through` (to an upstream that speaks the Messages API); absent
    /// when no adapter ran. Matches the trace's `adapter_started`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter_mode: Option<AdapterMode>,
    /// The sampling pin (`--temperature`, `--seed`) the adapter set on every forwarded
    /// generation request; absent when nothing was pinned. Matches the trace's
    /// `adapter_started`, and every ledger line's `sampling.sent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<SamplingPin>,
    /// Names (never values) of routing/credential variables Case did not get.
    pub scrubbed_variables: Vec<String>,
    /// What confined Case (`none` when it ran unconfined); absent when Case never ran.
    #[serde(default)]
    pub isolation: Option<Isolation>,
    /// Case's home and agent configuration directory, when Case was spawned
    /// (see `case_home`). Absent in reports written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_home: Option<CaseHomeFacts>,
    /// The secret scan, per channel.
    pub secret_scan: SecretScanSummary,
    /// Inputs by role (`decision`, `admission`, `task`, `sot`): path and sha256.
    pub inputs: BTreeMap<String, FileDigest>,
    /// Run-folder files (relative path) → sha256.
    pub artifacts: BTreeMap<String, String>,
    /// The seal; absent only in an `incomplete` placeholder.
    pub seal: Option<Seal>,
}

/// What confined Case during a run: the confinement in force, or `"none"`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Isolation {
    /// `"none"`: Case ran unconfined (`run --allow-unconfined` on a kernel without namespaces).
    None(NoIsolation),
    /// Case ran in kernel namespaces (boxed: it is far larger than `none`).
    Confined(Box<Confinement>),
}

/// The word `none`, as a report writes an unconfined run's isolation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoIsolation {
    /// No confinement.
    None,
}

/// The confinement of a confined run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confinement {
    /// `namespace`: only the adapter's listener is reachable.
    pub network: String,
    /// `read_only_run_folder`: only `case-output/` and `case-home/` are writable.
    pub filesystem: String,
    /// `namespace`: every process Case starts dies with the run.
    pub pid: String,
    /// The user id Case ran as (outside any user namespace).
    pub uid: u32,
    /// The mechanism.
    pub how: String,
    /// The layers in force (`sandbox::Layer` names), as the sandbox reported them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
    /// The folders Case could write (besides its private `/tmp` and `/dev/shm`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writable: Vec<String>,
    /// The paths Case found empty (key folders, credential places).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden: Vec<String>,
    /// What Case could consume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounds: Option<Bounds>,
}

/// What Case may consume. The defaults are far above what a real agent uses (Claude Code:
/// ~20 processes, ~400 MB resident, a few MB written), so they only stop runaways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    /// Processes (and threads) alive at once in Case's PID namespace.
    pub processes: u64,
    /// Resident memory of all of Case's processes together, in bytes.
    pub memory_bytes: u64,
    /// Bytes written by Case's processes (`write(2)` and friends, all of them summed), and
    /// the largest file it may write.
    pub written_bytes: u64,
    /// The size of the private `/tmp` and `/dev/shm`, each, in bytes.
    pub tmp_bytes: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        const GIB: u64 = 1 << 30;
        Bounds {
            processes: 1024,
            memory_bytes: 8 * GIB,
            written_bytes: 4 * GIB,
            tmp_bytes: GIB,
        }
    }
}

impl Isolation {
    /// The isolation of a run confined by kernel namespaces, before the layers are known.
    pub fn confined(uid: u32, how: &str) -> Isolation {
        Isolation::Confined(Box::new(Confinement {
            network: "namespace".to_owned(),
            filesystem: "read_only_host".to_owned(),
            pid: "namespace".to_owned(),
            uid,
            how: how.to_owned(),
            layers: Vec::new(),
            writable: Vec::new(),
            hidden: Vec::new(),
            bounds: None,
        }))
    }
}

/// Which of the harness's agent-configuration protections were in force for Case.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseHomeFacts {
    /// `case-home` (a fresh `HOME` in the run folder), or that the user's `HOME` was kept.
    pub home: String,
    /// The fresh agent configuration directory (`CLAUDE_CONFIG_DIR`), relative to the run folder.
    pub agent_config_dir: String,
    /// Agent switches set, as `NAME=value`.
    pub agent_switches: Vec<String>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Every pass condition was observed.
    Pass,
    /// Case ran, and at least one pass condition failed.
    Fail,
    /// A gate blocked before `case_process_started`.
    Blocked,
    /// The run did not finish (interrupted, or an internal error).
    Incomplete,
}

impl RunOutcome {
    /// The outcome as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Pass => "pass",
            RunOutcome::Fail => "fail",
            RunOutcome::Blocked => "blocked",
            RunOutcome::Incomplete => "incomplete",
        }
    }
}

/// What kind of evidence a report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// A run against the real local endpoint of `CTO_HARNESS_CASE_LOCAL_BASE_URL`.
    RealStage2,
    /// A run against a fake provider (`run --simulated`); never Stage 2 evidence.
    Simulated,
}

impl EvidenceKind {
    /// The kind as written in reports.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::RealStage2 => "real_stage2",
            EvidenceKind::Simulated => "simulated",
        }
    }
}

/// Case's end, as observed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSummary {
    /// The file name of the Case program (`argv[0]`).
    pub program: String,
    /// Exit code, when it exited normally.
    pub exit_code: Option<i32>,
    /// Signal that ended it.
    pub signal: Option<i32>,
    /// Killed for exceeding `--timeout`.
    pub timed_out: bool,
    /// Spawn-to-exit wall time.
    pub duration_ms: u64,
    /// The bound Case passed, when the sandbox ended it for that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<String>,
    /// `verdict` from `case-output/result.json` (`pass`/`fail`), if it wrote one.
    pub verdict: Option<Verdict>,
}

/// Case's own verdict, as it writes it in `case-output/result.json`: only these two words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Case says the task passed.
    Pass,
    /// Case says the task failed.
    Fail,
}

impl Verdict {
    /// The verdict as written in `result.json` and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
    }
}

/// How Case ended, as the trace's `case_process_exited` records it (the report's
/// [`CaseSummary`] carries the same facts).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseExit {
    /// Exit code, when it exited normally.
    pub exit_code: Option<i32>,
    /// Signal that ended it, when one did.
    pub signal: Option<i32>,
    /// True when the harness killed it for exceeding the timeout.
    pub timed_out: bool,
    /// Wall time from spawn to exit, in milliseconds.
    pub duration_ms: u64,
    /// The bound Case passed (processes, memory, bytes written), when the sandbox ended it
    /// for that: the failure names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<String>,
}

impl CaseExit {
    /// The exit recorded for a Case that could not be started at all.
    pub fn never_ran() -> CaseExit {
        CaseExit {
            exit_code: None,
            signal: None,
            timed_out: false,
            duration_ms: 0,
            bound: None,
        }
    }
}

/// The fallback proof: ledger totals plus the judgement drawn from them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackProof {
    /// Requests the adapter saw.
    pub requests: u64,
    /// Requests forwarded upstream.
    pub forwarded: u64,
    /// Forwarded requests the upstream answered with 2xx (always for the admitted model).
    pub served_by_admitted_model: u64,
    /// Requests refused as fallback attempts (other model, smuggled routing).
    pub fallback_attempts: u64,
    /// Every model name Case asked for.
    pub models_requested: Vec<String>,
    /// Every model name forwarded upstream (only ever the admitted one).
    pub models_forwarded: Vec<String>,
    /// What the upstream's answers claimed (recorded, never trusted: local servers echo).
    pub upstream_models_reported: Vec<String>,
    /// Every upstream `host:port` contacted.
    pub upstream_hosts: Vec<String>,
    /// Answers in which the upstream echoed one of the run's secrets (redacted before Case
    /// got them); any fails the run.
    #[serde(default)]
    pub upstream_secret_echoes: u64,
    /// Why the upstream refused or failed requests, one entry per distinct cause (a prompt
    /// longer than the local model's context, a server error): named in a failed run's reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream_errors: Vec<UpstreamCause>,
    /// True when nothing fell back: zero attempts, only the admitted model forwarded, only
    /// the configured loopback upstream contacted, no external name forwarded or reported
    /// by the upstream as the model that answered.
    pub no_fallback: bool,
}

/// What an upstream's error answer meant, read from its body by the adapter
/// (`adapter::upstream_error`): typed, so the report names the cause and never quotes the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum UpstreamCause {
    /// The request is longer than the local model's context window (either count may be
    /// unknown when the server did not say it).
    ContextExceeded {
        /// Tokens the request needs, as the server counted them.
        request_tokens: Option<u64>,
        /// The model's context window, in tokens.
        context_tokens: Option<u64>,
    },
    /// The upstream refused a request naming a field the adapter pinned (HTTP 400 whose
    /// error names `temperature` or `seed`): the pin was not honoured, so the run fails.
    PinRejected {
        /// The pinned field the upstream named.
        field: PinnedField,
        /// The upstream's status.
        status: u16,
    },
    /// The upstream failed with a server error (HTTP 5xx) of its own.
    ServerError {
        /// The upstream's status.
        status: u16,
    },
}

impl std::fmt::Display for UpstreamCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamCause::ContextExceeded {
                request_tokens,
                context_tokens,
            } => {
                let tokens = |count: &Option<u64>| count.map_or(String::new(), |count| format!(" ({count} tokens)"));
                write!(
                    f,
                    "the local model's context{} is smaller than the request{}",
                    tokens(context_tokens),
                    tokens(request_tokens)
                )
            }
            UpstreamCause::PinRejected { field, status } => write!(
                f,
                "the local upstream refused the pinned `{}` (HTTP {status}); the pin was not dropped, so the run cannot pass",
                field.as_str()
            ),
            UpstreamCause::ServerError { status } => write!(f, "the local upstream failed with HTTP {status}"),
        }
    }
}

/// The secret scan's result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretScanSummary {
    /// True when no secret was found anywhere.
    pub clean: bool,
    /// Names of the secrets searched for (e.g. `upstream_api_key` or `canary`, `case_token`).
    pub secrets: Vec<String>,
    /// Each channel scanned, with what was looked at and what was found.
    pub channels: Vec<ChannelScan>,
}

/// One channel of the secret scan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelScan {
    /// e.g. `sot`, `argv`, `task_file`, `backend_logs`, `report`, `trace`, `generated_config`,
    /// `commit`, `adapter_ledger`, `case_output`, `junit`.
    pub channel: String,
    /// What was scanned (files, `argv`, `git log`), or why nothing was.
    pub scanned: Vec<String>,
    /// Hits: secret name and location, never the value.
    pub hits: Vec<SecretHit>,
    /// Why the channel could not be scanned, when it could not (e.g. no `--sot`). A skipped
    /// channel other than `commit` outside a git work tree keeps a run from passing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// One place a secret was found: which secret, which channel, which file (never the value).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
// A field the harness never writes is a forgery: `verify` must refuse it (found by
// harness-tests/integration/run/sealing.rs), not drop it while the seal still matches.
#[serde(deny_unknown_fields)]
pub struct SecretHit {
    /// Name of the secret found.
    pub secret: String,
    /// The channel, e.g. `backend_logs`.
    pub channel: String,
    /// The file (or `argv[N]`, `git log`) it was found in.
    pub location: String,
}

/// A file's path and digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    /// Where it was read.
    pub path: String,
    /// sha256, lowercase hex.
    pub sha256: String,
}

/// The report's seal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seal {
    /// Always `sha256-canonical-json`.
    pub algorithm: String,
    /// sha256 of the canonical JSON of the report without `seal` (which covers the artifact digests).
    pub digest: String,
}
