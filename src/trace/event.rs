//! Every event the harness writes to `trace.jsonl`, one variant each, with typed fields.
//!
//! The writers (run, case_process, adapter, evidence) build a [`TraceEvent`] and `verify`
//! parses every line back into one, so a field renamed on one side cannot silently read back
//! as absent on the other. Reading is strict: an unknown event, an unknown field or a field of
//! the wrong type makes the line, and so the trace, unreadable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::output::{
    AdapterMode, Api, CaseExit, EvidenceKind, GateCode, GateResult, Isolation, LedgerTotals, SamplingPin,
};

/// One event of the run trace. On disk: `{"event": "<snake_case name>", ...fields}` plus the
/// envelope ([`super::TraceLine`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum TraceEvent {
    /// The run began (inputs are about to be read); the kind of evidence is fixed here.
    RunStarted {
        /// `real_stage2` or `simulated`.
        evidence_kind: EvidenceKind,
    },
    /// Every gate was evaluated.
    GatesEvaluated {
        /// Codes of the blocking gates, in gate order.
        blocked: Vec<GateCode>,
        /// Every gate's result, as the report records them.
        gates: Vec<GateResult>,
    },
    /// One gate blocked; one event per blocking gate.
    GateBlocked {
        /// Which gate.
        code: GateCode,
    },
    /// The adapter is listening.
    AdapterStarted {
        /// Its `host:port`.
        listen: String,
        /// The upstream's `host:port`.
        upstream: String,
        /// The admitted model every request is pinned to.
        model: String,
        /// Where the ledger is written (absent for a standalone adapter without one).
        ledger: Option<String>,
        /// How the Anthropic routes are served.
        adapter_mode: AdapterMode,
        /// How that mode was chosen.
        adapter_mode_reason: String,
        /// The sampling pin set on every forwarded generation request; absent when none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sampling: Option<SamplingPin>,
    },
    /// What confines Case (the report's `isolation`), written before Case is spawned.
    CaseIsolation {
        /// The confinement in force, or `none`.
        isolation: Isolation,
    },
    /// Written immediately before Case is spawned — and only then.
    CaseProcessStarted {
        /// The program's file name (never its full path: it may reveal a home folder).
        program: String,
        /// How many arguments, the program included (never their values).
        argc: usize,
    },
    /// Case exited, was killed, or never ran after its start was traced.
    CaseProcessExited(CaseExit),
    /// Case was killed for exceeding `--timeout`.
    CaseTimedOut {
        /// The timeout it exceeded.
        timeout_ms: u64,
    },
    /// The harness was interrupted (SIGINT/SIGTERM) while the run went on; it stays `incomplete`.
    RunInterrupted {
        /// `SIGINT` or `SIGTERM`.
        signal: String,
    },
    /// A request asked for another model or smuggled routing; refused, not forwarded. Every
    /// text is scrubbed of the run's secrets before it is written.
    FallbackAttempt {
        /// The API the request spoke.
        api: Api,
        /// The request path.
        path: String,
        /// The model it asked for, if it named one.
        requested_model: Option<String>,
        /// Why it was refused.
        reason: String,
        /// The refusal's stable code.
        code: String,
        /// The count of fallback attempts so far, this one included.
        attempt: u64,
    },
    /// The adapter stopped.
    AdapterStopped {
        /// Its `host:port`.
        listen: String,
        /// What it counted in memory (`verify` compares these with the ledger).
        totals: LedgerTotals,
    },
    /// The secret scan finished.
    SecretScan {
        /// Channel → how many hits (never values).
        hits: BTreeMap<String, usize>,
    },
    /// The report was sealed; the last event of a finished run.
    EvidenceSealed {
        /// The report's file name.
        report: String,
    },
}

impl TraceEvent {
    /// The event's name as written in the `event` field.
    pub fn name(&self) -> &'static str {
        match self {
            TraceEvent::RunStarted { .. } => "run_started",
            TraceEvent::GatesEvaluated { .. } => "gates_evaluated",
            TraceEvent::GateBlocked { .. } => "gate_blocked",
            TraceEvent::AdapterStarted { .. } => "adapter_started",
            TraceEvent::CaseIsolation { .. } => "case_isolation",
            TraceEvent::CaseProcessStarted { .. } => "case_process_started",
            TraceEvent::CaseProcessExited(_) => "case_process_exited",
            TraceEvent::CaseTimedOut { .. } => "case_timed_out",
            TraceEvent::RunInterrupted { .. } => "run_interrupted",
            TraceEvent::FallbackAttempt { .. } => "fallback_attempt",
            TraceEvent::AdapterStopped { .. } => "adapter_stopped",
            TraceEvent::SecretScan { .. } => "secret_scan",
            TraceEvent::EvidenceSealed { .. } => "evidence_sealed",
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::output::{GateStatus, Isolation};

    /// One event of every kind, with every optional field filled.
    pub(crate) fn one_of_each() -> Vec<TraceEvent> {
        vec![
            TraceEvent::RunStarted {
                evidence_kind: EvidenceKind::Simulated,
            },
            TraceEvent::GatesEvaluated {
                blocked: vec![GateCode::DecisionRecordMissing],
                gates: vec![GateResult {
                    code: GateCode::DecisionRecordMissing,
                    status: GateStatus::Blocked,
                    detail: "no decision record".to_owned(),
                }],
            },
            TraceEvent::GateBlocked {
                code: GateCode::DecisionRecordMissing,
            },
            TraceEvent::AdapterStarted {
                listen: "127.0.0.1:1".to_owned(),
                upstream: "127.0.0.1:2".to_owned(),
                model: "m".to_owned(),
                ledger: Some("/run/adapter-ledger.jsonl".to_owned()),
                adapter_mode: AdapterMode::PassThrough,
                adapter_mode_reason: "--upstream-api anthropic".to_owned(),
                sampling: Some(SamplingPin::new(Some(0.0), Some(42)).expect("pin")),
            },
            TraceEvent::CaseIsolation {
                isolation: Isolation::confined(1000, "kernel namespaces"),
            },
            TraceEvent::CaseProcessStarted {
                program: "python3".to_owned(),
                argc: 2,
            },
            TraceEvent::CaseProcessExited(CaseExit {
                exit_code: Some(0),
                signal: None,
                timed_out: false,
                duration_ms: 5,
                bound: None,
            }),
            TraceEvent::CaseTimedOut { timeout_ms: 1000 },
            TraceEvent::RunInterrupted {
                signal: "SIGTERM".to_owned(),
            },
            TraceEvent::FallbackAttempt {
                api: Api::Anthropic,
                path: "/v1/messages".to_owned(),
                requested_model: Some("other".to_owned()),
                reason: "not the admitted model".to_owned(),
                code: "model_not_admitted".to_owned(),
                attempt: 1,
            },
            TraceEvent::AdapterStopped {
                listen: "127.0.0.1:1".to_owned(),
                totals: LedgerTotals::default(),
            },
            TraceEvent::SecretScan {
                hits: BTreeMap::from([("argv".to_owned(), 0)]),
            },
            TraceEvent::EvidenceSealed {
                report: "report.json".to_owned(),
            },
        ]
    }

    #[test]
    fn every_event_reads_back_as_itself_under_its_name() {
        let events = one_of_each();
        assert_eq!(events.len(), 13, "one_of_each lists every variant");
        for event in events {
            let value = serde_json::to_value(&event).expect("serialise");
            assert_eq!(value["event"], event.name());
            let back: TraceEvent = serde_json::from_value(value).expect("read back");
            assert_eq!(back, event);
        }
    }

    #[test]
    fn an_unknown_event_is_refused() {
        let forged = serde_json::json!({ "event": "case_passed" });
        assert!(serde_json::from_value::<TraceEvent>(forged).is_err());
    }

    #[test]
    fn an_unknown_field_is_refused_in_every_kind_of_event() {
        for event in one_of_each() {
            let mut value = serde_json::to_value(&event).expect("serialise");
            value["forged"] = serde_json::Value::Bool(true);
            assert!(
                serde_json::from_value::<TraceEvent>(value).is_err(),
                "{} accepted an unknown field",
                event.name()
            );
        }
    }

    #[test]
    fn a_field_of_the_wrong_type_is_refused() {
        let forged = serde_json::json!({ "event": "case_process_started", "program": "p", "argc": "2" });
        assert!(serde_json::from_value::<TraceEvent>(forged).is_err());
        let forged = serde_json::json!({ "event": "run_started", "evidence_kind": "real" });
        assert!(serde_json::from_value::<TraceEvent>(forged).is_err());
    }
}
