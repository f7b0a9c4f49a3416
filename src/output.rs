//! The machine-readable shapes other tools read: `check --format json` and
//! `status --format json` (DESIGN §5). Plain serde types, changed only on purpose — scripts
//! outside the project rely on every field name here.

use std::collections::BTreeMap;

use crate::gates::{GateCode, GateEvaluation, GateResult};

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
    /// Builds the output from a gate evaluation.
    pub fn from_evaluation(evaluation: &GateEvaluation) -> Self {
        CheckOutput {
            outcome: if evaluation.is_ready() {
                CheckOutcome::Ready
            } else {
                CheckOutcome::Blocked
            },
            blocked: evaluation.blocked_codes(),
            gates: evaluation.results.clone(),
            case_process_started: false,
        }
    }
}

/// `case-harness status --format json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusOutput {
    /// The SOT's work items as written.
    pub work_items: Vec<WorkItemOutput>,
    /// Work item id → the status the evidence supports (CTO-WORK-020 always included).
    pub derived: BTreeMap<String, DerivedStatus>,
}

/// One work item as written in the SOT.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WorkItemOutput {
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
pub struct DerivedStatus {
    /// `blocked`, `unblocked`, or the SOT status unchanged when no evidence rule applies.
    pub status: String,
    /// Each reason: the missing piece, or the evidence that cleared it.
    pub reasons: Vec<String>,
    /// Verified reports that count for this work item (path and digest).
    pub evidence: Vec<EvidenceRef>,
}

/// A pointer to a verified report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EvidenceRef {
    /// Path of `report.json`.
    pub report: String,
    /// Its seal digest.
    pub digest: String,
}
