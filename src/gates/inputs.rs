//! What the gates look at and what they hand on: the inputs of one evaluation and its result,
//! which the run reuses (records, base URL, fingerprint) instead of loading them again.

use std::time::Duration;

use crate::config::HarnessConfig;
use crate::output::{GateCode, GateResult, GateStatus};
use crate::records::{AdmissionRecord, DecisionRecord, LoadedRecord};
use crate::upstream::LocalBaseUrl;

/// Default bound on the `GET {base}/models` probe.
pub(crate) const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything the gates look at.
#[derive(Debug, Clone)]
pub(crate) struct GateInputs<'a> {
    /// Environment and flags.
    pub config: &'a HarnessConfig,
    /// The Case command that would be spawned (empty for `check`).
    pub case_command: &'a [String],
    /// Bound on the `/models` probe.
    pub probe_timeout: Duration,
    /// How much of the upstream's fingerprint to collect: all of it for a run's report, only
    /// what a gate reads for `check`.
    pub fingerprint: crate::fingerprint::FingerprintScope,
}

/// The outcome of evaluating every gate, plus what they loaded (so the run reuses it).
#[derive(Debug)]
pub(crate) struct GateEvaluation {
    /// One result per gate, in [`GateCode::ALL`] order.
    pub results: Vec<GateResult>,
    /// The decision record, if it loaded.
    pub decision: Option<LoadedRecord<DecisionRecord>>,
    /// The admission record, if it loaded.
    pub admission: Option<LoadedRecord<AdmissionRecord>>,
    /// The base URL, if it passed the URL gates.
    pub base_url: Option<LocalBaseUrl>,
    /// What the upstream said about itself, if the probe succeeded.
    pub fingerprint: Option<crate::fingerprint::Fingerprint>,
}

impl GateEvaluation {
    /// Codes of the blocking gates, in order.
    pub(crate) fn blocked_codes(&self) -> Vec<GateCode> {
        self.results
            .iter()
            .filter(|result| result.status == GateStatus::Blocked)
            .map(|result| result.code)
            .collect()
    }

    /// True when every gate passed.
    pub(crate) fn is_ready(&self) -> bool {
        self.results.iter().all(|result| result.status == GateStatus::Pass)
    }
}
