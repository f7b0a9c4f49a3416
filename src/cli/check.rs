//! `case-harness check`: every gate, evaluated and printed; Case never starts.

use std::path::PathBuf;

use super::exit::{CliError, Exit};
use super::{Format, seconds, to_json};
use crate::config::HarnessConfig;
use crate::gates::{self, GateInputs, GateStatus};
use crate::output::CheckOutput;

/// `case-harness check [--decision PATH] [--format F] [--probe-timeout SECS]`.
pub(super) fn check(
    config: HarnessConfig,
    decision: Option<PathBuf>,
    format: Format,
    timeout: f64,
) -> Result<Exit, CliError> {
    let config = config.with_decision_flag(decision);
    for warning in config.warnings() {
        eprintln!("case-harness: warning: {warning}");
    }
    let inputs = GateInputs {
        config: &config,
        case_command: &[],
        probe_timeout: seconds("--probe-timeout", timeout)?,
        // `check` prints gates, not the fingerprint: ask the upstream only what a gate reads.
        fingerprint: crate::fingerprint::FingerprintScope::Gates,
    };
    let evaluation = crate::signals::block_on(gates::evaluate(&inputs)).map_err(CliError::Runtime)?;
    let output = CheckOutput::from_results(&evaluation.results);
    match format {
        Format::Json => println!("{}", to_json(&output)?),
        Format::Human => print_check(&output),
    }
    Ok(if evaluation.is_ready() {
        Exit::Success
    } else {
        Exit::Blocked
    })
}

fn print_check(output: &CheckOutput) {
    if output.blocked.is_empty() {
        println!("ready: every gate passed; Case may start");
    } else {
        println!(
            "blocked: {} gate(s) block before case_process_started: {}",
            output.blocked.len(),
            output
                .blocked
                .iter()
                .map(|code| code.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for gate in &output.gates {
        let status = match gate.status {
            GateStatus::Pass => "pass",
            GateStatus::Blocked => "BLOCKED",
            GateStatus::Skipped => "skipped",
        };
        println!("  {status:<8} {:<44} {}", gate.code.as_str(), gate.detail);
    }
}
