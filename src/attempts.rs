//! `run --attempts N [--require K] [--parallel P]`: one sampled run of an agent is an
//! anecdote, so Case runs N times — each attempt the whole existing run pipeline
//! ([`crate::run::run`]: its own fresh sandbox, adapter, folder `OUT/attempt-i/` and sealed,
//! signed report) — and `OUT/aggregate.json` sums them up: passes, the pass rate with its 95%
//! Wilson interval, pass@k, and each attempt's report digest. It is sealed like a report and,
//! with a signing key, signed over the whole folder (`OUT/attestation.dsse.json`).
//!
//! The aggregate passes only when at least K attempts passed (default: all N, so one failure
//! shows). `verify OUT/aggregate.json` recomputes everything from the attempts
//! ([`verify::verify_aggregate`]); `status` counts an aggregate folder through its aggregate
//! only. The file is `aggregate.json`, not `report.json`, so that a `report.json` always means
//! one run (see docs/decisions.md).

use std::path::{Path, PathBuf};

use futures_util::StreamExt as _;

use crate::config::HarnessConfig;
use crate::evidence::{self, canonical_json};
use crate::output::{AggregateReport, AttemptRef, EvidenceKind, Report, RunOutcome, Seal};
use crate::records::sha256_hex;
use crate::run::{RunError, RunOptions};

mod finding;
mod stats;
pub(crate) mod verify;

pub(crate) use verify::verify_aggregate;

pub(crate) use crate::run_folder::{AGGREGATE, SUMMARY};
/// The aggregate's format version.
const AGGREGATE_SCHEMA_VERSION: u32 = 1;

/// How many attempts, how many must pass, how many at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AttemptPlan {
    /// N ≥ 1.
    pub attempts: u32,
    /// K, 1 ≤ K ≤ N.
    pub required: u32,
    /// P ≥ 1 attempts side by side.
    pub parallel: u32,
}

impl AttemptPlan {
    /// A plan from the flags, or what is wrong with them.
    pub(crate) fn new(attempts: u32, required: Option<u32>, parallel: u32) -> Result<AttemptPlan, String> {
        let required = required.unwrap_or(attempts);
        if attempts == 0 {
            return Err("--attempts must be at least 1".to_owned());
        }
        if required == 0 || required > attempts {
            return Err(format!("--require {required} must be from 1 to --attempts {attempts}"));
        }
        if parallel == 0 {
            return Err("--parallel must be at least 1".to_owned());
        }
        Ok(AttemptPlan {
            attempts,
            required,
            parallel: parallel.min(attempts),
        })
    }
}

/// Why the attempts could not produce an aggregate.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AttemptsError {
    /// `--out` is unusable.
    #[error("{}: the attempts' folder must be empty or not exist yet", path.display())]
    OutDir {
        /// The folder.
        path: PathBuf,
        /// The I/O error, when there was one.
        #[source]
        source: Option<std::io::Error>,
    },
    /// An attempt's run could not finish (interrupted, or an error before its report).
    #[error("attempt {index} ({}): {source}", folder.display())]
    Attempt {
        /// 1-based.
        index: u32,
        /// Its folder.
        folder: PathBuf,
        /// What went wrong (boxed: the run's error is large, and rare).
        #[source]
        source: Box<RunError>,
    },
    /// The aggregate could not be written or signed.
    #[error("cannot write {AGGREGATE}: {0}")]
    Evidence(#[from] evidence::EvidenceError),
    /// The aggregate could not be signed.
    #[error("cannot sign the attempts' folder: {0}")]
    Sign(#[from] crate::attestation::AttestationError),
    /// The signing key could not be used.
    #[error(transparent)]
    Key(#[from] crate::signing::KeyError),
}

/// Runs every attempt, then writes (and signs, with a key) the aggregate.
pub(crate) async fn run_attempts(
    options: &RunOptions,
    config: &HarnessConfig,
    plan: AttemptPlan,
) -> Result<AggregateReport, AttemptsError> {
    // An unsafe key refuses the attempts before anything is written or spawned.
    let signer = match &config.signing_key {
        Some(path) => Some(crate::signing::EvidenceSigner::load(path, &options.out)?),
        None => None,
    };
    let out = prepare_out(&options.out)?;
    let reports: Vec<Result<Report, AttemptsError>> = futures_util::stream::iter(1..=plan.attempts)
        .map(|index| {
            let mut attempt = options.clone();
            attempt.out = out.join(folder_name(index));
            async move {
                crate::run::run(&attempt, config)
                    .await
                    .map_err(|source| AttemptsError::Attempt {
                        index,
                        folder: attempt.out.clone(),
                        source: Box::new(source),
                    })
            }
        })
        .buffered(plan.parallel as usize)
        .collect()
        .await;
    let reports = reports.into_iter().collect::<Result<Vec<_>, _>>()?;
    let sampling = (!options.sampling.is_empty()).then(|| options.sampling.clone());
    let mut aggregate = aggregate_of(&reports, plan, sampling);
    aggregate.seal = Some(Seal {
        algorithm: evidence::SEAL_ALGORITHM.to_owned(),
        digest: seal_digest(&aggregate)?,
    });
    evidence::write_atomically(&out.join(SUMMARY), summary(&aggregate).as_bytes())?;
    evidence::write_atomically(
        &out.join(crate::run_folder::JUNIT),
        junit(&aggregate, &reports, &out)?.as_bytes(),
    )?;
    evidence::write_atomically(&out.join(AGGREGATE), &pretty(&aggregate)?)?;
    if let Some(signer) = &signer {
        let subjects = crate::attestation::digest_tree(&out)?;
        let statement = crate::attestation::statement(
            &subjects,
            predicate(&aggregate).map_err(crate::attestation::AttestationError::from)?,
        );
        let envelope = crate::attestation::sign(&statement, signer)?;
        crate::attestation::write_envelope(&out.join(crate::attestation::ENVELOPE), &envelope)?;
    }
    Ok(aggregate)
}

/// `attempt-1`, `attempt-2`, …
pub(crate) fn folder_name(index: u32) -> String {
    format!("attempt-{index}")
}

fn prepare_out(out: &Path) -> Result<PathBuf, AttemptsError> {
    let error = |source| AttemptsError::OutDir {
        path: out.to_owned(),
        source,
    };
    std::fs::create_dir_all(out).map_err(|err| error(Some(err)))?;
    let mut entries = std::fs::read_dir(out).map_err(|err| error(Some(err)))?;
    if entries.next().is_some() {
        return Err(error(None));
    }
    std::fs::canonicalize(out).map_err(|err| error(Some(err)))
}

/// The aggregate of `reports` (in attempt order), unsealed: a pure function of the reports,
/// which `verify` calls again on the reports it reads back.
pub(crate) fn aggregate_of(
    reports: &[Report],
    plan: AttemptPlan,
    sampling: Option<crate::output::SamplingPin>,
) -> AggregateReport {
    let attempts = reports.len() as u32;
    let passes = reports
        .iter()
        .filter(|report| report.outcome == RunOutcome::Pass)
        .count() as u32;
    let evidence_kind = if reports
        .iter()
        .all(|report| report.evidence_kind == EvidenceKind::RealStage2)
    {
        EvidenceKind::RealStage2
    } else {
        EvidenceKind::Simulated
    };
    let runs: Vec<AttemptRef> = reports
        .iter()
        .enumerate()
        .map(|(index, report)| AttemptRef {
            folder: folder_name(index as u32 + 1),
            outcome: report.outcome,
            report_digest: report.seal.as_ref().map(|seal| seal.digest.clone()).unwrap_or_default(),
        })
        .collect();
    let rate = stats::pass_rate(passes, attempts);
    let interval = stats::wilson_95(passes, attempts);
    let all_blocked = !reports.is_empty() && reports.iter().all(|report| report.outcome == RunOutcome::Blocked);
    let outcome = if all_blocked {
        RunOutcome::Blocked
    } else if passes >= plan.required && attempts == plan.attempts {
        RunOutcome::Pass
    } else {
        RunOutcome::Fail
    };
    let mut reasons = vec![format!(
        "{passes} of {attempts} attempt(s) passed (rate {:.2}, 95% Wilson interval [{:.2}, {:.2}]); {} required",
        rate, interval.low, interval.high, plan.required
    )];
    for run in runs.iter().filter(|run| run.outcome != RunOutcome::Pass) {
        reasons.push(format!("{}: {}", run.folder, run.outcome.as_str()));
    }
    AggregateReport {
        schema_version: AGGREGATE_SCHEMA_VERSION,
        harness_version: env!("CARGO_PKG_VERSION").to_owned(),
        outcome,
        reasons,
        evidence_kind,
        attempts,
        required: plan.required,
        passes,
        pass_rate: rate,
        wilson_95: interval,
        pass_at_k: stats::pass_at_every_k(passes, attempts),
        sampling,
        parallel: plan.parallel,
        runs,
        seal: None,
    }
}

/// sha256 of the canonical JSON of the aggregate without `seal`, as for a report.
pub(crate) fn seal_digest(aggregate: &AggregateReport) -> Result<String, evidence::EvidenceError> {
    let mut value = serde_json::to_value(aggregate)?;
    if let serde_json::Value::Object(map) = &mut value {
        map.remove("seal");
    }
    Ok(sha256_hex(canonical_json(&value).as_bytes()))
}

fn pretty(aggregate: &AggregateReport) -> Result<Vec<u8>, evidence::EvidenceError> {
    let mut bytes = serde_json::to_vec_pretty(aggregate)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The signed predicate of an aggregate: the in-toto Test Result predicate with one test
/// per attempt, and the aggregate's numbers under `case_harness`.
pub(crate) fn predicate(aggregate: &AggregateReport) -> Result<serde_json::Value, serde_json::Error> {
    let names = |passed: bool| -> Vec<String> {
        aggregate
            .runs
            .iter()
            .filter(|run| (run.outcome == RunOutcome::Pass) == passed)
            .map(|run| run.folder.clone())
            .collect()
    };
    let mut extension = serde_json::to_value(aggregate)?;
    if let serde_json::Value::Object(map) = &mut extension {
        map.insert("kind".to_owned(), serde_json::Value::from("aggregate"));
    }
    Ok(serde_json::json!({
        "result": if aggregate.outcome == RunOutcome::Pass { "PASSED" } else { "FAILED" },
        "configuration": [],
        "passedTests": names(true),
        "warnedTests": Vec::<&str>::new(),
        "failedTests": names(false),
        "case_harness": extension,
    }))
}

/// `summary.md`: each attempt and the rate, for a reviewer.
pub(crate) fn summary(aggregate: &AggregateReport) -> String {
    let mut text = format!(
        "# {} of {} attempts passed ({})\n\n- pass rate: {:.2}, 95% Wilson interval [{:.2}, {:.2}]\n- required: {}\n- sampling: {}\n",
        aggregate.passes,
        aggregate.attempts,
        aggregate.outcome.as_str(),
        aggregate.pass_rate,
        aggregate.wilson_95.low,
        aggregate.wilson_95.high,
        aggregate.required,
        aggregate
            .sampling
            .as_ref()
            .map_or_else(|| "not pinned".to_owned(), crate::output::SamplingPin::describe),
    );
    let pass_at: Vec<String> = aggregate
        .pass_at_k
        .iter()
        .map(|estimate| format!("pass@{} {:.2}", estimate.k, estimate.estimate))
        .collect();
    text.push_str(&format!(
        "- {}\n\n| attempt | outcome | report digest |\n|---|---|---|\n",
        pass_at.join(", ")
    ));
    for run in &aggregate.runs {
        text.push_str(&format!(
            "| {} | {} | `{}` |\n",
            run.folder,
            run.outcome.as_str(),
            run.report_digest
        ));
    }
    text
}

/// `junit.xml`: one testcase per attempt (its report's properties, and the rate), in a suite
/// named for the rate, so a CI dashboard shows each attempt and how often it passed.
pub(crate) fn junit(
    aggregate: &AggregateReport,
    reports: &[Report],
    out: &Path,
) -> Result<String, evidence::EvidenceError> {
    use quick_junit::{NonSuccessKind, Property, Report as JunitReport, TestCase, TestCaseStatus, TestSuite};

    let rate = format!(
        "{} of {} passed, rate {:.2}, 95% Wilson [{:.2}, {:.2}], {} required",
        aggregate.passes,
        aggregate.attempts,
        aggregate.pass_rate,
        aggregate.wilson_95.low,
        aggregate.wilson_95.high,
        aggregate.required
    );
    let mut suite = TestSuite::new(format!("case-harness attempts: {rate}"));
    for (run, report) in aggregate.runs.iter().zip(reports) {
        let status = if report.outcome == RunOutcome::Pass {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(format!("{}: {}", report.outcome.as_str(), report.reasons.join("; ")));
            status
        };
        let mut case = TestCase::new(
            format!("{}::{}", crate::junit::run_case_name(report), run.folder),
            status,
        );
        case.set_classname("case-harness attempts");
        let report_path = out.join(&run.folder).join(crate::run_folder::REPORT);
        case.add_properties(crate::junit::report_properties(report, &report_path));
        case.add_property(Property::new(
            "aggregate_pass_rate",
            format!("{:.4}", aggregate.pass_rate),
        ));
        case.add_property(Property::new("aggregate", rate.clone()));
        suite.add_test_case(case);
    }
    let mut junit = JunitReport::new("case-harness");
    junit.add_test_suite(suite);
    junit.to_string().map_err(evidence::EvidenceError::Junit)
}
