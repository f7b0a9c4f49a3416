//! The aggregate report of `run --attempts N` (`OUT/aggregate.json`): N sealed attempt
//! reports summed up as a pass rate with its interval and pass@k, sealed like a run's report
//! and signed over the whole folder. `verify` recomputes every number from the attempts.

use serde::{Deserialize, Serialize};

use super::{EvidenceKind, RunOutcome, SamplingPin, Seal};

/// `OUT/aggregate.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateReport {
    /// Format version (1).
    pub schema_version: u32,
    /// The case-harness version that wrote it.
    pub harness_version: String,
    /// `pass` when at least `required` attempts passed, `blocked` when every attempt was
    /// blocked, else `fail`.
    pub outcome: RunOutcome,
    /// Why, in words (the rate, the interval, the attempts that did not pass).
    pub reasons: Vec<String>,
    /// `real_stage2` or `simulated`, as every attempt's report says.
    pub evidence_kind: EvidenceKind,
    /// Attempts run (`--attempts`).
    pub attempts: u32,
    /// Passes needed for `pass` (`--require`, default all).
    pub required: u32,
    /// Attempts that passed.
    pub passes: u32,
    /// `passes / attempts`.
    pub pass_rate: f64,
    /// The 95% Wilson score interval of the pass rate.
    pub wilson_95: Interval,
    /// The unbiased pass@k estimate (Chen et al., 2021) for k = 1 … attempts; pass@1 is the rate.
    pub pass_at_k: Vec<PassAtK>,
    /// The sampling pin every attempt ran with; absent when nothing was pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<SamplingPin>,
    /// Attempts run side by side at most (`--parallel`).
    pub parallel: u32,
    /// Each attempt, in order.
    pub runs: Vec<AttemptRef>,
    /// The seal (sha256 of the canonical JSON without `seal`).
    pub seal: Option<Seal>,
}

/// A closed interval of rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// One pass@k estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassAtK {
    /// k.
    pub k: u32,
    /// The estimated probability that at least one of k attempts passes.
    pub estimate: f64,
}

/// One attempt as the aggregate lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttemptRef {
    /// Its folder, relative to the aggregate (`attempt-1`, …).
    pub folder: String,
    /// Its report's outcome.
    pub outcome: RunOutcome,
    /// Its report's seal digest.
    pub report_digest: String,
}
