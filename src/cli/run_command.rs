//! `case-harness run`: the flags made into run options, then one run or `--attempts N`.

use std::path::PathBuf;

use super::bundled::bundled_sot;
use super::exit::{CliError, Exit};
use super::{RunFlags, run_output, seconds};
use crate::config::HarnessConfig;

/// `case-harness run --task PATH [--out DIR] … [-- CASE_CMD…]`.
pub(super) fn run(config: HarnessConfig, flags: RunFlags) -> Result<Exit, CliError> {
    let RunFlags {
        decision,
        admission,
        task,
        out,
        format,
        timeout,
        probe_timeout: probe,
        sot,
        simulated,
        allow_unconfined,
        hide,
        keep_home,
        confinement,
        case_command,
        upstream_api,
        sampling,
        attempts,
        require,
        parallel,
    } = flags;
    let options = crate::run::RunOptions {
        task,
        timeout: seconds("--timeout", timeout)?,
        case_command,
        simulated,
        sot: sot.or_else(bundled_sot),
        probe_timeout: seconds("--probe-timeout", probe)?,
        allow_unconfined,
        hidden_paths: hide,
        writable_paths: confinement.writable.clone(),
        bounds: confinement.bounds(),
        without_layers: confinement.unsafe_without_layer.clone(),
        keep_home,
        upstream_api,
        sampling: sampling.pin()?,
        // Last: a usage error above leaves no empty runs/<timestamp> behind.
        out: run_output::out_or_new(out)?,
    };
    match attempts {
        None => run_output::finish(
            format,
            &options.out,
            run_pipeline(config, &options, decision, admission),
        ),
        Some(attempts) => {
            let plan = crate::attempts::AttemptPlan::new(attempts, require, parallel).map_err(CliError::Attempts)?;
            run_output::finish(
                format,
                &options.out,
                run_attempts(config, &options, decision, admission, plan),
            )
        }
    }
}

/// The environment with `run`'s record flags on top, its warnings printed once.
fn run_config(config: HarnessConfig, decision: Option<PathBuf>, admission: Option<PathBuf>) -> HarnessConfig {
    let config = config.with_decision_flag(decision).with_admission_flag(admission);
    for warning in config.warnings() {
        eprintln!("case-harness: warning: {warning}");
    }
    config
}

fn run_pipeline(
    config: HarnessConfig,
    options: &crate::run::RunOptions,
    decision: Option<PathBuf>,
    admission: Option<PathBuf>,
) -> Result<run_output::RunEnded, CliError> {
    let config = run_config(config, decision, admission);
    let report = crate::signals::block_on(crate::run::run(options, &config)).map_err(CliError::Runtime)??;
    Ok(run_output::RunEnded {
        outcome: report.outcome,
        report: options.out.join(crate::run_folder::REPORT),
        reasons: report.reasons,
    })
}

/// `run --attempts N`: every attempt, then the aggregate's verdict.
fn run_attempts(
    config: HarnessConfig,
    options: &crate::run::RunOptions,
    decision: Option<PathBuf>,
    admission: Option<PathBuf>,
    plan: crate::attempts::AttemptPlan,
) -> Result<run_output::RunEnded, CliError> {
    let config = run_config(config, decision, admission);
    let aggregate = crate::signals::block_on(crate::attempts::run_attempts(options, &config, plan))
        .map_err(CliError::Runtime)?
        .map_err(|err| CliError::Attempts(err.to_string()))?;
    Ok(run_output::RunEnded {
        outcome: aggregate.outcome,
        report: options.out.join(crate::attempts::AGGREGATE),
        reasons: aggregate.reasons,
    })
}
