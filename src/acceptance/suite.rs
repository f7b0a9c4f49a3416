//! The suite: SOT file(s) and a scenarios folder turned into `libtest-mimic` trials, run, and
//! written up (JUnit, `trials.json`, `summary.md`); the nextest traps closed here are in the
//! module documentation of [`crate::acceptance`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};

use super::error::AcceptanceError;
use super::planning::{PlannedTrial, TrialKind, plan};
#[cfg(test)]
use super::report::write_summary;
use super::scenario;
use super::steps::{StepContext, TrialEvidence};
use super::{TrialRecord, binary, report, steps};
use crate::config::Environment;
use crate::sot::SotDocument;

/// How the message of a trial that was planned but never started begins (a stop by signal,
/// `--fail-fast`): `evidence --failed` re-runs such trials too.
pub(crate) const NOT_RUN: &str = "not run";

/// Environment variable that overrides where the acceptance JUnit file is written.
pub(crate) const ENV_JUNIT_PATH: &str = "CASE_HARNESS_JUNIT_PATH";
/// Environment variable that overrides where trials keep their run folders.
pub(crate) const ENV_WORK_DIR: &str = "CASE_HARNESS_ACCEPTANCE_DIR";
/// Environment variable: every trial's `run` pins this temperature (`run --temperature`).
pub const ENV_TEMPERATURE: &str = "CASE_HARNESS_TEMPERATURE";
/// Environment variable: every trial's `run` pins this seed (`run --seed`).
pub const ENV_SEED: &str = "CASE_HARNESS_SEED";

/// An acceptance suite: SOT file(s) + a scenarios folder → trials.
#[derive(Debug, Clone)]
pub struct AcceptanceSuite {
    sots: Vec<PathBuf>,
    scenarios_dir: PathBuf,
    harness_binary: Option<PathBuf>,
    fixtures_dir: Option<PathBuf>,
    cases_dir: Option<PathBuf>,
    work_dir: PathBuf,
    junit_path: Option<PathBuf>,
    /// Run only these trials (`evidence --failed`); `None`: every planned trial.
    only: Option<std::collections::BTreeSet<String>>,
    /// After the first failed trial, start no other (`evidence --fail-fast`).
    fail_fast: bool,
    /// The environment, read once when the suite is made; every trial asks this snapshot.
    environment: Arc<Environment>,
}

impl AcceptanceSuite {
    /// A suite over one SOT file and a scenarios folder. The binary is found when the suite
    /// runs (see the [module documentation](crate::acceptance)); there is no fixtures or cases folder
    /// until one is given; run folders go under `target/case-harness/acceptance/`
    /// (or `$CASE_HARNESS_ACCEPTANCE_DIR`), JUnit at `target/case-harness/junit/acceptance.xml`
    /// (or `$CASE_HARNESS_JUNIT_PATH`).
    pub fn new(sot: impl Into<PathBuf>, scenarios_dir: impl Into<PathBuf>) -> Self {
        let environment = Environment::capture();
        let target = environment
            .var_os("CARGO_TARGET_DIR")
            .map_or_else(|| PathBuf::from("target"), PathBuf::from);
        AcceptanceSuite {
            sots: vec![sot.into()],
            scenarios_dir: scenarios_dir.into(),
            harness_binary: None,
            fixtures_dir: None,
            cases_dir: None,
            work_dir: environment
                .var_os(ENV_WORK_DIR)
                .map_or_else(|| target.join("case-harness/acceptance"), PathBuf::from),
            junit_path: Some(
                environment
                    .var_os(ENV_JUNIT_PATH)
                    .map_or_else(|| target.join("case-harness/junit/acceptance.xml"), PathBuf::from),
            ),
            only: None,
            fail_fast: false,
            environment: Arc::new(environment),
        }
    }

    /// The environment the trials read, instead of the process's (`evidence` hands down the
    /// snapshot cli took, with its sampling pin set in it).
    pub(crate) fn environment(mut self, environment: Environment) -> Self {
        self.environment = Arc::new(environment);
        self
    }

    /// Adds another SOT file (its work items join the suite).
    pub fn sot(mut self, sot: impl Into<PathBuf>) -> Self {
        self.sots.push(sot.into());
        self
    }

    /// The `case-harness` binary the trials drive (a bare name is looked up on `PATH`); it
    /// must be of this library's version. Without it the binary is found as the
    /// [module documentation](crate::acceptance) says.
    pub fn harness_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.harness_binary = Some(path.into());
        self
    }

    /// The consumer's fixtures folder: `decision/`, `admission/` and `tasks/`, each holding
    /// `STEM.json` files that steps name by stem. Required by any step that uses a fixture.
    pub fn fixtures_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.fixtures_dir = Some(path.into());
        self
    }

    /// The folder `{cases}` stands for in Case commands (required when a command uses it).
    pub fn cases_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.cases_dir = Some(path.into());
        self
    }

    /// Where trials keep their run folders (one sub-folder per trial).
    pub(crate) fn work_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.work_dir = path.into();
        self
    }

    /// Where the JUnit file goes (`None`: no file).
    pub(crate) fn junit_path(mut self, path: Option<PathBuf>) -> Self {
        self.junit_path = path;
        self
    }

    /// Runs only the trials named in `names` (the others are not planned, so neither run nor
    /// reported): `evidence --failed` re-runs what failed last time.
    pub(crate) fn only(mut self, names: std::collections::BTreeSet<String>) -> Self {
        self.only = Some(names);
        self
    }

    /// After the first failed trial, trials not yet started are recorded as not run and
    /// are not started (`evidence --fail-fast`; trials already running finish).
    pub(crate) fn fail_fast(mut self, fail_fast: bool) -> Self {
        self.fail_fast = fail_fast;
        self
    }

    /// Plans every trial: one per bullet, one per orphan scenario, one per named trial.
    pub fn plan(&self) -> Result<Vec<PlannedTrial>, AcceptanceError> {
        let mut documents: Vec<(PathBuf, SotDocument)> = Vec::new();
        for path in &self.sots {
            documents.push((path.clone(), crate::sot::load(path)?));
        }
        let scenarios = scenario::load_dir(&self.scenarios_dir)?;
        let planned = plan(&documents, &scenarios, &self.environment);
        if !planned.iter().any(|trial| !trial.bullet.is_empty()) {
            return Err(AcceptanceError::Config(format!(
                "no acceptance bullets found in {:?}: refusing to report success with zero trials",
                self.sots
            )));
        }
        Ok(planned)
    }

    fn context(&self, trial: &PlannedTrial, harness_binary: &Path) -> StepContext {
        StepContext {
            harness_binary: harness_binary.to_owned(),
            fixtures_dir: self.fixtures_dir.as_deref().map(absolute),
            cases_dir: self.cases_dir.as_deref().map(absolute),
            // Each bullet's trial runs against the SOT it comes from.
            sot: absolute(trial.sot.as_ref().unwrap_or(&self.sots[0])),
            work_dir: absolute(&self.work_dir).join(trial.name.replace("::", "__")),
            environment: Arc::clone(&self.environment),
        }
    }

    /// Runs the suite with libtest's arguments and returns what each executed trial did.
    pub(crate) fn run(
        &self,
        args: &Arguments,
    ) -> Result<(libtest_mimic::Conclusion, Vec<TrialRecord>), AcceptanceError> {
        let mut planned = self.plan()?;
        if let Some(only) = &self.only {
            planned.retain(|trial| only.contains(&trial.name));
        }
        guard_nextest_exact(args, &planned, self.environment.var_os("NEXTEST").is_some())?;
        // Listing runs nothing, so it needs no binary (nextest lists before it runs).
        let harness_binary = if args.list {
            PathBuf::new()
        } else {
            binary::resolve(self.harness_binary.as_deref(), &self.environment)?
        };
        for trial in &planned {
            if let (Some(reason), false) = (&trial.ignored, args.list) {
                eprintln!("note: {} is ignored: {reason}", trial.name);
            }
        }
        let records: Arc<Mutex<Vec<TrialRecord>>> = Arc::default();
        let failed_once: Arc<AtomicBool> = Arc::default();
        let trials: Vec<Trial> = planned
            .iter()
            .map(|trial| self.trial(trial, &harness_binary, Arc::clone(&records), Arc::clone(&failed_once)))
            .collect();
        let conclusion = libtest_mimic::run(args, trials);
        let mut records = records.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        if !args.list {
            // Ignored trials that were selected but not run are recorded as skipped.
            for trial in &planned {
                let selected = !args.is_filtered_out(&placeholder(trial)) && args.is_ignored(&placeholder(trial));
                if selected && trial.ignored.is_some() {
                    records.push(record(
                        trial,
                        "skipped",
                        trial.ignored.clone(),
                        Duration::ZERO,
                        TrialEvidence::default(),
                    ));
                }
            }
            records.sort_by(|a, b| a.name.cmp(&b.name));
            if let Some(path) = &self.junit_path {
                self.write_junit(path, &planned, &records)?;
            }
        }
        Ok((conclusion, records))
    }

    /// The `main` of a `harness = false` test target: parses libtest's flags, runs, exits.
    pub fn main(self) -> ExitCode {
        let args = Arguments::from_args();
        match self.run(&args) {
            Ok((conclusion, _)) => conclusion.exit_code(),
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::from(101)
            }
        }
    }

    fn trial(
        &self,
        planned: &PlannedTrial,
        harness_binary: &Path,
        records: Arc<Mutex<Vec<TrialRecord>>>,
        failed_once: Arc<AtomicBool>,
    ) -> Trial {
        let trial = planned.clone();
        let context = self.context(planned, harness_binary);
        let ignored = planned.ignored.is_some();
        let fail_fast = self.fail_fast;
        Trial::test(planned.name.clone(), move || {
            let started = Instant::now();
            // `--fail-fast`: a trial failed, so the ones not yet started are not run.
            if fail_fast && failed_once.load(Ordering::SeqCst) {
                let message = format!("{NOT_RUN}: an earlier trial failed (--fail-fast)");
                let entry = record(&trial, "skipped", Some(message.clone()), Duration::ZERO, TrialEvidence::default());
                records.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(entry);
                return Err(Failed::from(message));
            }
            // `evidence` was stopped: trials not yet started are not run.
            if let Some(signal) = crate::signals::stop_requested() {
                let message = format!("{NOT_RUN}: the evidence run was stopped by {signal}");
                let entry = record(&trial, "skipped", Some(message.clone()), Duration::ZERO, TrialEvidence::default());
                records.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(entry);
                return Err(Failed::from(message));
            }
            let result = match &trial.kind {
                TrialKind::Bound { steps, .. } | TrialKind::Named { steps, .. } => {
                    steps::execute(steps, &context).map_err(|err| err.to_string())
                }
                TrialKind::Unmapped { closest } => Err(match closest {
                    Some(closest) => format!(
                        "unmapped acceptance bullet {:?}: no scenario binds it; the closest unused scenario is {closest:?}",
                        trial.bullet
                    ),
                    None => format!("unmapped acceptance bullet {:?}: no scenario binds it", trial.bullet),
                }),
                TrialKind::Orphan { file } => Err(format!(
                    "scenario in {} binds {:?}, which is not an acceptance bullet of {} any more",
                    file.display(),
                    trial.bullet,
                    trial.work_item
                )),
            };
            let (status, message, evidence) = match result {
                Ok(evidence) => ("passed", None, evidence),
                // Stopped by a signal midway: neither a pass nor a failure.
                Err(message) if crate::signals::stop_requested().is_some() => (
                    "interrupted",
                    Some(format!("{message}: the trial did not finish (not a failure)")),
                    TrialEvidence::default(),
                ),
                Err(message) => ("failed", Some(message), TrialEvidence::default()),
            };
            if status == "failed" {
                failed_once.store(true, Ordering::SeqCst);
            }
            let entry = record(&trial, status, message.clone(), started.elapsed(), evidence);
            records.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(entry);
            match message {
                None => Ok(()),
                Some(message) => Err(Failed::from(message)),
            }
        })
        .with_ignored_flag(ignored)
    }

    fn write_junit(
        &self,
        path: &Path,
        planned: &[PlannedTrial],
        records: &[TrialRecord],
    ) -> Result<(), AcceptanceError> {
        let Some(run_id) = self.environment.var("NEXTEST_RUN_ID") else {
            report::write_acceptance_junit(path, records)?;
            return self.write_trials_beside(path, records);
        };
        // One process per trial: add this process's records as fragments, then merge.
        let all_fragments = path.with_file_name("fragments");
        let fragments = all_fragments.join(&run_id);
        std::fs::create_dir_all(&fragments).map_err(crate::path_io::at(&fragments))?;
        remove_stale_fragments(&all_fragments, &fragments);
        for record in records {
            let file = fragments.join(format!("{}.json", record.name.replace("::", "__")));
            let bytes = serde_json::to_vec(record).map_err(|source| AcceptanceError::Fragment {
                path: file.clone(),
                source,
            })?;
            crate::evidence::write_atomically(&file, &bytes)?;
        }
        let _lock = FileLock::acquire(&fragments.join(".lock"))?;
        let mut merged: Vec<TrialRecord> = Vec::new();
        for entry in std::fs::read_dir(&fragments).map_err(crate::path_io::at(&fragments))? {
            let file = entry.map_err(crate::path_io::at(&fragments))?.path();
            if file.extension().is_some_and(|ext| ext == "json") {
                let bytes = std::fs::read(&file).map_err(crate::path_io::at(&file))?;
                let record =
                    serde_json::from_slice::<TrialRecord>(&bytes).map_err(|source| AcceptanceError::Fragment {
                        path: file.clone(),
                        source,
                    })?;
                merged.push(record);
            }
        }
        // nextest never starts ignored trials: record them as skipped, with the reason.
        for trial in planned.iter().filter(|trial| trial.ignored.is_some()) {
            if !merged.iter().any(|record| record.name == trial.name) {
                merged.push(record(
                    trial,
                    "skipped",
                    trial.ignored.clone(),
                    Duration::ZERO,
                    TrialEvidence::default(),
                ));
            }
        }
        merged.sort_by(|a, b| a.name.cmp(&b.name));
        report::write_acceptance_junit(path, &merged)?;
        self.write_trials_beside(path, &merged)
    }

    /// Writes `trials.json` beside the JUnit file: the records `case-harness evidence merge`
    /// joins across nextest shards (see [`crate::bundle`]).
    fn write_trials_beside(&self, junit: &Path, records: &[TrialRecord]) -> Result<(), AcceptanceError> {
        let path = junit.with_file_name(crate::bundle::TRIALS);
        let file = crate::bundle::TrialsFile {
            sot_sha256: std::fs::read(&self.sots[0])
                .ok()
                .map(|bytes| crate::records::sha256_hex(&bytes)),
            shards: Vec::new(),
            shard_keys: Vec::new(),
            trials: records.to_vec(),
        };
        Ok(crate::bundle::write_trials(&path, &file)?)
    }
}

/// Fragments of nextest runs that ended more than a day ago are removed; the current run's
/// stay (a run in progress keeps touching its folder).
fn remove_stale_fragments(all: &Path, current: &Path) {
    let day = Duration::from_secs(24 * 60 * 60);
    for entry in std::fs::read_dir(all).into_iter().flatten().flatten() {
        let path = entry.path();
        let stale = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > day);
        if path != current && stale {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

fn record(
    trial: &PlannedTrial,
    status: &str,
    message: Option<String>,
    duration: Duration,
    evidence: TrialEvidence,
) -> TrialRecord {
    TrialRecord {
        name: trial.name.clone(),
        work_item: trial.work_item.clone(),
        bullet: trial.bullet.clone(),
        status: status.to_owned(),
        message,
        duration_ms: duration.as_millis() as u64,
        gate_codes: evidence.gate_codes,
        reports: evidence
            .reports
            .into_iter()
            .map(|(path, digest)| (path.display().to_string(), digest))
            .collect(),
        forged_reports: evidence
            .forged
            .into_iter()
            .map(|path| path.display().to_string())
            .collect(),
        proof: trial.proof().to_owned(),
    }
}

/// A libtest trial with the same name and ignored flag (for libtest's own filter logic).
fn placeholder(trial: &PlannedTrial) -> Trial {
    Trial::test(trial.name.clone(), || Ok(())).with_ignored_flag(trial.ignored.is_some())
}

/// Under nextest, `--exact NAME` must select exactly one trial: zero would "pass" silently.
fn guard_nextest_exact(args: &Arguments, planned: &[PlannedTrial], under_nextest: bool) -> Result<(), AcceptanceError> {
    if !under_nextest || args.list || !args.exact {
        return Ok(());
    }
    let Some(filter) = &args.filter else {
        return Ok(());
    };
    let matching = planned.iter().filter(|trial| &trial.name == filter).count();
    if matching == 1 {
        Ok(())
    } else {
        Err(AcceptanceError::Config(format!(
            "--exact {filter:?} matches {matching} trials (expected exactly 1): the trial list changed since nextest listed it?"
        )))
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// An exclusive lock on a file (std's `File::lock`, an `flock(2)` on Linux), released
/// when the file is closed on drop.
struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    fn acquire(path: &Path) -> Result<FileLock, crate::path_io::PathIoError> {
        let at = crate::path_io::at(path);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(at)?;
        file.lock().map_err(crate::path_io::at(path))?;
        Ok(FileLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::planning::tests::seed;
    use super::super::scenario::Scenarios;

    /// Regression: an unreadable SOT made `summary.md` silently lose its status section.
    #[test]
    fn a_summary_whose_status_cannot_be_derived_says_so_and_fails() {
        let dir = tempfile::tempdir().expect("tempdir");
        let summary = dir.path().join("summary.md");
        let missing_sot = dir.path().join("no-such-sot.md");
        let error = write_summary(&summary, &missing_sot, &[], dir.path(), None).expect_err("must fail");
        assert!(matches!(error, AcceptanceError::Status(_)), "{error}");
        let text = std::fs::read_to_string(&summary).expect("summary still written");
        assert!(text.contains("Not derived:"), "{text}");
        assert!(text.contains("no-such-sot.md"), "{text}");
    }

    #[test]
    fn under_nextest_an_exact_name_must_match_exactly_one_trial() {
        let planned = plan(&seed(), &Scenarios::default(), &Environment::default());
        let exact = |name: &str| Arguments::from_iter(["acceptance", "--exact", name, "--nocapture"]);
        let real = "CTO-WORK-022::04-missing-local-adapter-config-blocks-before-case-process-started";
        assert!(guard_nextest_exact(&exact(real), &planned, true).is_ok());
        let error = guard_nextest_exact(&exact("CTO-WORK-022::04-renamed"), &planned, true).expect_err("zero matches");
        assert!(error.to_string().contains("matches 0 trials"), "{error}");
        // Outside nextest libtest's own semantics apply (zero matches is a filter, not an error).
        assert!(guard_nextest_exact(&exact("CTO-WORK-022::04-renamed"), &planned, false).is_ok());
    }
}
