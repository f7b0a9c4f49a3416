//! The outcome rule, applied identically when sealing and when verifying: blocked, or pass
//! only when Case, the ledger, the scan and the run folder all say so; otherwise fail with
//! every reason.

use super::names;
use crate::output::{ChannelScan, FallbackProof, GateCode, GateStatus, Report, RunOutcome, Verdict};

/// Files every run that started Case must leave (a Case could delete its own logs to hide
/// what it printed; a missing log is never a clean one).
pub(crate) const REQUIRED_AFTER_CASE: &[&str] = &[
    names::TRACE,
    names::LEDGER,
    names::CASE_CONFIG,
    names::TASK,
    names::STDOUT,
    names::STDERR,
];

/// The outcome rule, applied identically when sealing and when verifying.
pub(crate) fn decide_outcome(report: &Report, run_errors: &[String]) -> (RunOutcome, Vec<String>) {
    if !report.blocked.is_empty() {
        return blocked_outcome(report);
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
        Some(case) => case_failures(case, &mut failures),
    }
    match &report.fallback_proof {
        None => failures.push("no adapter ledger totals".to_owned()),
        Some(proof) => ledger_failures(proof, report.case_model.as_deref(), &mut failures),
    }
    scan_failures(&report.secret_scan.channels, &mut failures);
    for required in REQUIRED_AFTER_CASE {
        if !report.artifacts.contains_key(*required) {
            failures.push(format!("{required} is missing from the run folder"));
        }
    }
    failures.extend(run_errors.iter().cloned());
    upstream_error_failures(report.fallback_proof.as_ref(), &mut failures);
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

/// A gate blocked: `blocked`, unless the trace shows Case started anyway.
fn blocked_outcome(report: &Report) -> (RunOutcome, Vec<String>) {
    let codes: Vec<&str> = report.blocked.iter().map(|code| code.as_str()).collect();
    let mut reasons = vec![format!("blocked before case_process_started by: {}", codes.join(", "))];
    if report.case_process_started {
        reasons.push("but the trace shows case_process_started: the run is not trustworthy".to_owned());
        return (RunOutcome::Fail, reasons);
    }
    (RunOutcome::Blocked, reasons)
}

/// How Case ended: bound, timeout, exit code or signal, and its verdict.
fn case_failures(case: &crate::output::CaseSummary, failures: &mut Vec<String>) {
    if let Some(bound) = &case.bound {
        failures.push(bound.clone());
    }
    if case.timed_out {
        failures.push(format!("Case timed out after {} ms and was killed", case.duration_ms));
    } else if case.exit_code != Some(0) {
        failures.push(match (case.exit_code, case.signal) {
            (Some(code), _) => format!("Case exited with code {code}"),
            (None, Some(signal)) => format!("Case was killed by signal {signal}"),
            (None, None) => "Case ended without an exit code".to_owned(),
        });
    }
    match case.verdict {
        Some(Verdict::Pass) => {}
        Some(other) => failures.push(format!("Case's verdict is {:?}, not \"pass\"", other.as_str())),
        None => failures.push(format!("Case wrote no verdict in {}", names::RESULT)),
    }
}

/// What the ledger proves: the admitted model served, nothing fell back, no external model
/// answered, no secret echoed.
fn ledger_failures(proof: &FallbackProof, case_model: Option<&str>, failures: &mut Vec<String>) {
    if proof.served_by_admitted_model == 0 {
        failures.push("no request was served by the admitted model through the adapter".to_owned());
    }
    if proof.fallback_attempts > 0 {
        // Name what Case asked for, so the report says which fallback it attempted.
        let others: Vec<&str> = proof
            .models_requested
            .iter()
            .map(String::as_str)
            .filter(|model| Some(*model) != case_model)
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
    // A gateway that maps names answers as `claude-*` whatever was asked: the model the
    // upstream says answered is recorded, never trusted — and never allowed to be external.
    for model in &proof.upstream_models_reported {
        if let Some(name) = crate::external_names::external_reference(model) {
            failures.push(format!(
                "the upstream reported {model:?} (names `{name}`) as the model that answered"
            ));
        }
    }
    if proof.upstream_secret_echoes > 0 {
        failures.push(format!(
            "the upstream echoed one of the run's secrets in {} answer(s) (redacted before Case got them)",
            proof.upstream_secret_echoes
        ));
    }
    if !proof.no_fallback {
        failures.push("the ledger does not prove that nothing fell back".to_owned());
    }
}

/// Judged from the channels themselves, never from the `clean` flag.
fn scan_failures(channels: &[ChannelScan], failures: &mut Vec<String>) {
    for channel in channels {
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
}

/// A refused sampling pin fails the run; and what the upstream refused is often why Case
/// failed, so a failing run names it (typed, never quoted).
fn upstream_error_failures(proof: Option<&FallbackProof>, failures: &mut Vec<String>) {
    let pin_refused = proof.is_some_and(|proof| {
        proof
            .upstream_errors
            .iter()
            .any(|cause| matches!(cause, crate::output::UpstreamCause::PinRejected { .. }))
    });
    if pin_refused {
        // Named below with the field, among the upstream errors.
        failures.push("the upstream refused the sampling pin".to_owned());
    }
    if !failures.is_empty()
        && let Some(proof) = proof
    {
        failures.extend(
            proof
                .upstream_errors
                .iter()
                .map(|cause| format!("upstream error: {cause}")),
        );
    }
}
