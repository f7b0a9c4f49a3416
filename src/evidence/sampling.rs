//! The sampling pin checked against the ledger: every generation request that went upstream
//! must record the pinned values as sent, and a ledger without a pin must record none. The
//! seal and `verify` run the same check, so an edited line fails both.

use crate::adapter::LedgerEntry;
use crate::output::SamplingPin;

/// The routes whose forwarded requests generate, and so carry the pin.
const GENERATION_PATHS: &[&str] = &["/v1/chat/completions", "/v1/messages"];

/// Every way the ledger departs from `pin` (one message per line, naming line and field).
pub(crate) fn pin_problems(entries: &[LedgerEntry], pin: Option<&SamplingPin>) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let line = index + 1;
        match (pin, &entry.sampling) {
            (None, Some(_)) => problems.push(format!(
                "adapter ledger line {line} records a sampling pin, but the report records none"
            )),
            (None, None) => {}
            (Some(pin), Some(record)) => {
                for field in record.departures(pin) {
                    problems.push(format!(
                        "adapter ledger line {line} sent `{}` other than the pinned {}",
                        field.as_str(),
                        pin.describe()
                    ));
                }
            }
            (Some(pin), None) => {
                let generation = entry.upstream.is_some() && GENERATION_PATHS.contains(&entry.path.as_str());
                if generation {
                    problems.push(format!(
                        "adapter ledger line {line} ({}) went upstream without the pinned {}",
                        entry.path,
                        pin.describe()
                    ));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{FallbackProof, PinnedField, Report, RunOutcome, UpstreamCause};

    fn placeholder() -> Report {
        let dir = tempfile::tempdir().expect("tempdir");
        crate::evidence::write_placeholder(dir.path(), crate::output::EvidenceKind::Simulated).expect("placeholder");
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).expect("report")).expect("typed")
    }

    #[test]
    fn an_upstream_refusing_the_pin_fails_the_run_naming_the_field() {
        let mut report = placeholder();
        report.fallback_proof = Some(FallbackProof {
            requests: 1,
            forwarded: 1,
            served_by_admitted_model: 1,
            fallback_attempts: 0,
            models_requested: Vec::new(),
            models_forwarded: Vec::new(),
            upstream_models_reported: Vec::new(),
            upstream_hosts: Vec::new(),
            upstream_secret_echoes: 0,
            upstream_errors: vec![UpstreamCause::PinRejected {
                field: PinnedField::Seed,
                status: 400,
            }],
            no_fallback: true,
        });
        let (outcome, reasons) = crate::evidence::decide_outcome(&report, &[]);
        assert_eq!(outcome, RunOutcome::Fail);
        assert!(
            reasons
                .iter()
                .any(|reason| reason.contains("refused the pinned `seed`")),
            "{reasons:?}"
        );
    }

    #[test]
    fn a_generation_line_without_the_pin_is_named() {
        let line: LedgerEntry = serde_json::from_value(serde_json::json!({
            "unix_ms": 1, "api": "anthropic", "method": "POST", "path": "/v1/messages",
            "requested_model": "m", "forwarded_model": "m", "upstream_model": null,
            "upstream": "127.0.0.1:1", "status": 200, "bytes_in": 1, "bytes_out": 1,
            "latency_ms": 1, "outcome": "forwarded", "reason": null
        }))
        .expect("line");
        let pin = SamplingPin::new(Some(0.0), None).expect("pin");
        let problems = pin_problems(std::slice::from_ref(&line), Some(&pin));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("line 1 (/v1/messages) went upstream without"));
        assert!(pin_problems(&[line], None).is_empty());
    }
}
