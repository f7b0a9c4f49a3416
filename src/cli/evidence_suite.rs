//! `case-harness evidence`: the acceptance suite run into an evidence folder, summarised and
//! signed.

use std::path::PathBuf;

use super::bundled::{BUNDLED_SEED, bundled_root};
use super::exit::{CliError, Exit};
use super::values::current_admission;
use super::{evidence_folder, evidence_selection, signing};
use crate::config::{Environment, HarnessConfig};

/// What the suite is given: `evidence --fixtures` and `--cases` (each defaulting to this
/// checkout's own), and the environment its trials read (the snapshot cli took, with the
/// sampling pin set in it).
pub(super) struct SuiteSetup {
    pub(super) fixtures: Option<PathBuf>,
    pub(super) cases: Option<PathBuf>,
    pub(super) environment: Environment,
}

/// `case-harness evidence [--out DIR] [--force] [--failed] …`.
pub(super) fn evidence(
    config: &HarnessConfig,
    sot: Option<PathBuf>,
    scenarios: Option<PathBuf>,
    setup: SuiteSetup,
    out: Option<PathBuf>,
    force: bool,
    selection: evidence_selection::SelectionFlags,
) -> Result<Exit, CliError> {
    let root = bundled_root();
    let sot = sot.unwrap_or_else(|| root.join(BUNDLED_SEED));
    let scenarios = scenarios.unwrap_or_else(|| root.join("scenarios"));
    // The default folder is the harness's own: an earlier run there is replaced without --force,
    // and so is the one `--failed` re-runs.
    let replace = force || out.is_none() || selection.failed;
    let out = out.unwrap_or_else(|| PathBuf::from("target/case-harness/evidence"));
    let out = std::path::absolute(&out).unwrap_or(out);
    // An unsafe key refuses before the folder is touched.
    let signer = signing::signer_from(config, &out)?;
    // `--failed` reads the earlier run before its folder is replaced.
    let only = match selection.failed {
        true => Some(evidence_selection::previously_failed(&out)?),
        false => None,
    };
    if only.as_ref().is_some_and(|names| names.is_empty()) {
        println!("nothing to re-run: no trial failed in {}", out.display());
        return Ok(Exit::Success);
    }
    evidence_folder::prepare(&out, replace)?;
    // Ctrl-C records the trials in progress as interrupted, then stops (exit 130).
    crate::signals::record_stop_requests().map_err(CliError::Signals)?;
    let runs = out.join("runs");
    let harness = std::env::current_exe().map_err(CliError::CurrentExe)?;
    let suite = crate::acceptance::AcceptanceSuite::new(&sot, &scenarios)
        .harness_binary(harness)
        .environment(setup.environment)
        .fixtures_dir(setup.fixtures.unwrap_or_else(|| root.join("fixtures")))
        .cases_dir(setup.cases.unwrap_or_else(|| root.join("harness-tests/cases")))
        .work_dir(&runs)
        .junit_path(Some(out.join("junit.xml")))
        .fail_fast(selection.fail_fast);
    let suite = match only {
        Some(names) => suite.only(names),
        None => suite,
    };
    let args = selection.arguments();
    let (conclusion, records) = suite.run(&args)?;
    let admission = current_admission(config)?;
    crate::acceptance::write_summary(&out.join("summary.md"), &sot, &records, &out, admission.as_ref())?;
    println!();
    println!("evidence: {}", out.display());
    println!("  summary:  {}", out.join("summary.md").display());
    println!("  junit:    {}", out.join("junit.xml").display());
    println!("  runs:     {}", runs.display());
    signing::sign_evidence_folder(&out, signer.as_ref())?;
    if let Some(signal) = crate::signals::stop_requested() {
        println!("stopped by {signal}: the trials in progress are recorded as interrupted, the rest were not run");
        return Ok(Exit::stopped_by(signal));
    }
    Ok(if conclusion.has_failed() {
        Exit::Failed
    } else {
        Exit::Success
    })
}
