//! The binary's entry: parse the flags, read the environment once, call the command's body
//! (each in its own file under `cli/`) and turn its result into one exit code.

use std::process::ExitCode;

use clap::Parser;

use super::bundled::{BUNDLED_SEED, bundled_root};
use super::exit::{self, CliError, Exit};
use super::{
    Cli, Command, EvidenceAction, adapter, check, completions, doctor, evidence_suite, reference_case, run_command,
    scan, seconds, signing, status,
};
use crate::config::Environment;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // Case's sandbox must be set up in a single-threaded process: before clap, before any
    // runtime (see `crate::sandbox`).
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|first| first == crate::sandbox::SUBCOMMAND) {
        return crate::sandbox::inside::main(args);
    }
    let cli = Cli::parse();
    // The one read of the environment: every command is handed this snapshot.
    let environment = Environment::capture();
    if matches!(
        cli.command,
        Command::Check { .. } | Command::Status { .. } | Command::Verify { .. } | Command::Scan { .. }
    ) {
        crate::signals::die_quietly_on_a_closed_pipe();
    }
    let exit = match run(cli, &environment) {
        Ok(exit) => exit,
        Err(error) => {
            eprintln!("case-harness: error: {}", exit::render_chain(&error));
            error.exit_code()
        }
    };
    ExitCode::from(exit.code())
}

fn run(cli: Cli, environment: &Environment) -> Result<Exit, CliError> {
    let config = environment.config();
    match cli.command {
        Command::Check {
            decision,
            format,
            probe_timeout,
        } => check::check(config, decision, format, probe_timeout),
        Command::Status {
            sot,
            evidence,
            count_unconfined,
            format,
            key,
        } => {
            let sot = sot.unwrap_or_else(|| bundled_root().join(BUNDLED_SEED));
            status::status(&config, &sot, &evidence, count_unconfined, format, key.as_deref())
        }
        Command::Run(flags) => run_command::run(config, flags),
        Command::Adapter {
            upstream,
            model,
            listen,
            upstream_api,
            sampling,
        } => adapter::adapter(&config, &upstream, model, listen, upstream_api, sampling.pin()?),
        Command::Evidence {
            action:
                Some(EvidenceAction::Merge {
                    shards,
                    shard_keys,
                    out,
                    sot,
                    scenarios,
                }),
            ..
        } => {
            let root = bundled_root();
            let sot = sot.unwrap_or_else(|| root.join(BUNDLED_SEED));
            let scenarios = scenarios.unwrap_or_else(|| root.join("scenarios"));
            signing::merge(&config, &shards, &shard_keys, &out, &sot, &scenarios)
        }
        Command::Evidence {
            action: Some(EvidenceAction::Sign { dir }),
            ..
        } => signing::sign(&config, &dir),
        Command::Evidence {
            action: None,
            sot,
            scenarios,
            fixtures,
            cases,
            out,
            force,
            selection,
            sampling,
        } => {
            let mut suite_environment = environment.clone();
            sampling.export_to_suite(&mut suite_environment)?;
            let setup = evidence_suite::SuiteSetup {
                fixtures,
                cases,
                environment: suite_environment,
            };
            evidence_suite::evidence(&config, sot, scenarios, setup, out, force, selection)
        }
        Command::Verify { report, key } => signing::verify(&report, key.as_deref()),
        Command::Keygen { path } => signing::keygen(&config, path.as_deref()),
        Command::Scan { secret_env, paths } => scan::scan(environment, &secret_env, &paths),
        Command::Doctor { format, probe_timeout } => {
            doctor::doctor(environment, format, seconds("--probe-timeout", probe_timeout)?)
        }
        Command::Completions { shell } => completions::completions(shell),
        Command::Man { dir } => completions::man(dir.as_deref()),
        Command::ReferenceCase => Ok(reference_case::main(environment)),
    }
}
