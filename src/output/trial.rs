//! One acceptance trial's result, as the plugin writes it into `trials.json` and the JUnit
//! attachments, and as `evidence merge` reads it back from each shard: a shape shared by
//! writer and reader, so it lives here rather than in either.

/// The result of one trial, for JUnit, `summary.md` and `trials.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrialRecord {
    /// Full trial name.
    pub name: String,
    /// The work item.
    pub work_item: String,
    /// The bullet text.
    pub bullet: String,
    /// `passed`, `failed`, `skipped` or `interrupted` (stopped by SIGINT/SIGTERM midway).
    pub status: String,
    /// Failure message or skip reason.
    pub message: Option<String>,
    /// Wall time.
    pub duration_ms: u64,
    /// Gate codes seen blocking.
    pub gate_codes: Vec<String>,
    /// Reports written: (path, digest).
    pub reports: Vec<(String, String)>,
    /// The reports among `reports` this trial rewrote on purpose (a `forge_pass` step) to prove
    /// `verify` rejects them: `evidence merge` requires these to be rejected, every other to verify.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forged_reports: Vec<String>,
    /// What the trial proves.
    pub proof: String,
}
