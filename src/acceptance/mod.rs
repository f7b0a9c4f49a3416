//! The acceptance plugin: every acceptance bullet of a planning document becomes one
//! generated `libtest-mimic` trial, runnable with `cargo test` and `cargo nextest run`.
//!
//! A consumer's `harness = false` test target is a few lines (`examples/consumer/` in this
//! repository is a whole crate doing it, with its own plan, scenarios and fixtures):
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
//!     case_harness::acceptance::AcceptanceSuite::new(root.join("plan.md"), root.join("scenarios"))
//!         .fixtures_dir(root.join("fixtures"))
//!         .main()
//! }
//! ```
//!
//! The `case-harness` binary the trials drive is, in this order: the one given to
//! [`AcceptanceSuite::harness_binary`], `$CASE_HARNESS_BIN`, nextest's
//! `NEXTEST_BIN_EXE_case-harness` or Cargo's `CARGO_BIN_EXE_case-harness` (set for this
//! package's own tests only), then `case-harness` on `PATH`; none is an error that says how to
//! get one. A binary whose `--version` is not this library's version is refused, naming both.
//! Fixtures are the consumer's own: a step that uses one needs
//! [`AcceptanceSuite::fixtures_dir`] (there is no default folder), and `{cases}` in a Case
//! command needs [`AcceptanceSuite::cases_dir`]. The scenario format is in [`scenario`] and
//! `docs/scenario.schema.json`.
//!
//! Planning alone reads the files and names the trials, without running anything:
//!
//! ```
//! let suite = case_harness::acceptance::AcceptanceSuite::new("fixtures/sot/seed-one-line.md", "scenarios");
//! let trials = suite.plan().expect("the bundled seed and scenarios");
//! assert_eq!(trials.iter().filter(|trial| !trial.bullet.is_empty()).count(), 19);
//! assert!(trials.iter().any(|trial| trial.name == "CTO-WORK-022::real-case-stage2"));
//! ```
//!
//! Coverage is complete by construction: a bullet with no scenario is a *failing* trial
//! ("unmapped acceptance bullet", naming the nearest scenario), and so is a scenario whose
//! bullet is gone. Names are stable and filterable:
//! `CTO-WORK-022::04-missing-local-adapter-config-blocks-before-case-process-started`.
//!
//! nextest runs each trial in its own process (`--exact NAME --nocapture`) and judges by exit
//! code alone, which opens two traps this module closes: an `--exact` that matches no trial
//! (or several) fails loudly instead of passing with zero tests, and "ignored" is decided
//! when the list is built (from the environment), never inside a trial, because a skip
//! decided at run time would be reported as a pass. Trials are lazy: building the list
//! parses files only; a trial's sandbox and fake provider start when it runs.
//!
//! JUnit: `cargo test` (one process) writes the file once at the end. Under nextest each
//! process writes a fragment keyed by `NEXTEST_RUN_ID` and re-merges all fragments of the
//! run into the one file (under a lock), so the file is complete when the last trial ends.

pub mod binary;
mod report;
pub mod scenario;
pub mod steps;

pub(crate) use report::{write_acceptance_junit, write_summary};

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};

use self::scenario::{LoadedScenario, Scenarios, Step};
use self::steps::{StepContext, TrialEvidence};
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

/// One planned trial: its name and what it is.
#[derive(Debug, Clone)]
pub struct PlannedTrial {
    /// Full trial name, `WORK-ITEM::NN-slug` or `WORK-ITEM::name`.
    pub name: String,
    /// The work item.
    pub work_item: String,
    /// The bullet's text (empty for named trials).
    pub bullet: String,
    /// What the trial does.
    pub kind: TrialKind,
    /// Why it is ignored, when it is (decided now, from the environment).
    pub ignored: Option<String>,
    /// The SOT the bullet (or the named trial's work item) comes from; `None` for an orphan
    /// scenario, which runs against the suite's first SOT.
    pub sot: Option<PathBuf>,
}

/// What a planned trial is.
#[derive(Debug, Clone)]
pub enum TrialKind {
    /// A bullet bound to a scenario.
    Bound {
        /// The scenario's proof sentence.
        proof: String,
        /// The steps.
        steps: Vec<Step>,
    },
    /// A named trial (not a bullet).
    Named {
        /// The proof sentence.
        proof: String,
        /// The steps.
        steps: Vec<Step>,
    },
    /// A bullet with no scenario: always fails.
    Unmapped {
        /// The nearest unused scenario text, if any.
        closest: Option<String>,
    },
    /// A scenario whose bullet is not in the SOT: always fails.
    Orphan {
        /// The scenario file.
        file: PathBuf,
    },
}

impl PlannedTrial {
    /// How many run reports the trial lists when it passes (one per `run` step) and how many
    /// of them it forges on purpose (one per `forge_pass` step): what `evidence merge` requires
    /// of a passed record. A trial without steps always fails and lists none.
    pub(crate) fn report_steps(&self) -> (usize, usize) {
        match &self.kind {
            TrialKind::Bound { steps, .. } | TrialKind::Named { steps, .. } => {
                let count = |action: scenario::Action| steps.iter().filter(|step| step.action == action).count();
                (count(scenario::Action::Run), count(scenario::Action::ForgePass))
            }
            TrialKind::Unmapped { .. } | TrialKind::Orphan { .. } => (0, 0),
        }
    }

    fn proof(&self) -> &str {
        match &self.kind {
            TrialKind::Bound { proof, .. } | TrialKind::Named { proof, .. } => proof,
            TrialKind::Unmapped { .. } => "unmapped acceptance bullet",
            TrialKind::Orphan { .. } => "scenario without a bullet",
        }
    }
}

/// The result of one trial; its shape lives in `output` (bundle reads it from `trials.json`).
pub use crate::output::TrialRecord;

/// Why the suite could not even be planned.
#[derive(Debug, thiserror::Error)]
pub enum AcceptanceError {
    /// The SOT could not be read.
    #[error(transparent)]
    Sot(#[from] crate::sot::SotError),
    /// The scenarios could not be read.
    #[error(transparent)]
    Scenarios(#[from] scenario::ScenarioError),
    /// Configuration mistakes that would otherwise pass silently.
    #[error("{0}")]
    Config(String),
    /// The work-item status could not be derived for `summary.md`.
    #[error("cannot derive the work-item status for summary.md: {0}")]
    Status(#[source] StatusUnavailable),
    /// No usable `case-harness` binary (none found, or of another version).
    #[error(transparent)]
    Binary(#[from] binary::BinaryError),
    /// Writing JUnit, the summary or a fragment failed.
    #[error(transparent)]
    Io(#[from] crate::path_io::PathIoError),
    /// Writing a file atomically failed.
    #[error(transparent)]
    Evidence(#[from] crate::evidence::EvidenceError),
    /// `trials.json` could not be written.
    #[error(transparent)]
    Trials(#[from] crate::bundle::BundleError),
    /// A nextest fragment is not a trial record (or a record could not be encoded).
    #[error("fragment {}: {source}", path.display())]
    Fragment {
        /// The fragment file.
        path: PathBuf,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
}

/// Why `summary.md` has no work-item status section.
#[derive(Debug, thiserror::Error)]
pub enum StatusUnavailable {
    /// The SOT could not be read.
    #[error(transparent)]
    Sot(#[from] crate::sot::SotError),
    /// The evidence folder could not be walked.
    #[error("cannot read the evidence folder {}: {source}", path.display())]
    EvidenceFolder {
        /// The folder.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

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
}

impl AcceptanceSuite {
    /// A suite over one SOT file and a scenarios folder. The binary is found when the suite
    /// runs (see the [module documentation](self)); there is no fixtures or cases folder
    /// until one is given; run folders go under `target/case-harness/acceptance/`
    /// (or `$CASE_HARNESS_ACCEPTANCE_DIR`), JUnit at `target/case-harness/junit/acceptance.xml`
    /// (or `$CASE_HARNESS_JUNIT_PATH`).
    pub fn new(sot: impl Into<PathBuf>, scenarios_dir: impl Into<PathBuf>) -> Self {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
        AcceptanceSuite {
            sots: vec![sot.into()],
            scenarios_dir: scenarios_dir.into(),
            harness_binary: None,
            fixtures_dir: None,
            cases_dir: None,
            work_dir: std::env::var_os(ENV_WORK_DIR)
                .map_or_else(|| target.join("case-harness/acceptance"), PathBuf::from),
            junit_path: Some(
                std::env::var_os(ENV_JUNIT_PATH)
                    .map_or_else(|| target.join("case-harness/junit/acceptance.xml"), PathBuf::from),
            ),
            only: None,
            fail_fast: false,
        }
    }

    /// Adds another SOT file (its work items join the suite).
    pub fn sot(mut self, sot: impl Into<PathBuf>) -> Self {
        self.sots.push(sot.into());
        self
    }

    /// The `case-harness` binary the trials drive (a bare name is looked up on `PATH`); it
    /// must be of this library's version. Without it the binary is found as the
    /// [module documentation](self) says.
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
        let planned = plan(&documents, &scenarios);
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
        guard_nextest_exact(args, &planned, std::env::var_os("NEXTEST").is_some())?;
        // Listing runs nothing, so it needs no binary (nextest lists before it runs).
        let harness_binary = if args.list {
            PathBuf::new()
        } else {
            binary::resolve(self.harness_binary.as_deref())?
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
                TrialKind::Bound { steps, .. } | TrialKind::Named { steps, .. } => steps::execute(steps, &context),
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
        let Ok(run_id) = std::env::var("NEXTEST_RUN_ID") else {
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

/// Collapses a bullet into a stable name: lower-case ASCII letters and digits, `-` between.
pub(crate) fn slug(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

/// Whitespace-normalised text, backticks kept: how bullets and scenarios are matched (the
/// SOT parser normalises bullets the same way).
pub(crate) use crate::sot::normalise;

fn similarity(a: &str, b: &str) -> f64 {
    let words =
        |text: &str| -> std::collections::BTreeSet<String> { slug(text).split('-').map(str::to_owned).collect() };
    let (a, b) = (words(a), words(b));
    let union = a.union(&b).count().max(1);
    a.intersection(&b).count() as f64 / union as f64
}

/// Matches bullets to scenarios and names every trial.
pub(crate) fn plan(documents: &[(PathBuf, SotDocument)], scenarios: &Scenarios) -> Vec<PlannedTrial> {
    let mut used = vec![false; scenarios.bullets.len()];
    let mut planned = Vec::new();
    for (sot, document) in documents {
        for item in &document.work_items {
            for (index, bullet) in item.acceptance.iter().enumerate() {
                let name = format!("{}::{:02}-{}", item.id, index + 1, slug(bullet));
                let found = scenarios.bullets.iter().position(|loaded| {
                    loaded.work_item == item.id && normalise(&loaded.scenario.bullet) == normalise(bullet)
                });
                let kind = match found {
                    Some(position) => {
                        used[position] = true;
                        let scenario = &scenarios.bullets[position].scenario;
                        TrialKind::Bound {
                            proof: scenario.proof.clone(),
                            steps: scenario.steps.clone(),
                        }
                    }
                    None => TrialKind::Unmapped { closest: None },
                };
                planned.push(PlannedTrial {
                    name,
                    work_item: item.id.clone(),
                    bullet: bullet.clone(),
                    kind,
                    ignored: None,
                    sot: Some(sot.clone()),
                });
            }
        }
    }
    // Suggest, for each unmapped bullet, the most similar scenario nobody used.
    let unused: Vec<&LoadedScenario> = scenarios
        .bullets
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(loaded, _)| loaded)
        .collect();
    for trial in &mut planned {
        if let TrialKind::Unmapped { closest } = &mut trial.kind {
            *closest = unused
                .iter()
                .map(|loaded| {
                    (
                        similarity(&trial.bullet, &loaded.scenario.bullet),
                        &loaded.scenario.bullet,
                    )
                })
                .filter(|(score, _)| *score > 0.0)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, bullet)| bullet.clone());
        }
    }
    for loaded in unused {
        planned.push(PlannedTrial {
            name: format!(
                "{}::orphan-scenario-{}",
                loaded.work_item,
                slug(&loaded.scenario.bullet)
            ),
            work_item: loaded.work_item.clone(),
            bullet: loaded.scenario.bullet.clone(),
            kind: TrialKind::Orphan {
                file: loaded.file.clone(),
            },
            ignored: None,
            sot: None,
        });
    }
    for (work_item, trial) in &scenarios.named {
        let ignored = trial.requires_env.as_ref().and_then(|variable| {
            let set = std::env::var_os(variable).is_some_and(|value| !value.is_empty());
            (!set).then(|| format!("set {variable} to run it (a real local provider endpoint is needed)"))
        });
        planned.push(PlannedTrial {
            name: format!("{work_item}::{}", trial.name),
            work_item: work_item.clone(),
            bullet: String::new(),
            kind: TrialKind::Named {
                proof: trial.proof.clone(),
                steps: trial.steps.clone(),
            },
            ignored,
            // A named trial runs against the SOT that holds its work item.
            sot: documents
                .iter()
                .find(|(_, document)| document.work_items.iter().any(|item| &item.id == work_item))
                .map(|(sot, _)| sot.clone()),
        });
    }
    planned
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

    #[test]
    fn slugs_are_stable_and_filterable() {
        assert_eq!(
            slug("Missing local adapter config blocks before `case_process_started`."),
            "missing-local-adapter-config-blocks-before-case-process-started"
        );
        assert_eq!(
            slug("Requires `CTO_HARNESS_CASE_MODEL_ADMISSION_FILE`."),
            "requires-cto-harness-case-model-admission-file"
        );
    }

    fn seed() -> Vec<(PathBuf, SotDocument)> {
        let path = PathBuf::from("seed");
        let document = crate::sot::parse(&path, include_str!("../../fixtures/sot/seed-one-line.md")).expect("seed");
        vec![(path, document)]
    }

    #[test]
    fn unmapped_bullets_and_orphan_scenarios_become_failing_trials() {
        let text = r#"
work_item = "CTO-WORK-022"
[[scenario]]
bullet = "Missing local adapter config blocks  before `case_process_started`."
proof = "p"
[[scenario.step]]
action = "check"
expect = { exit = 3 }
[[scenario]]
bullet = "Provider class is local_case_compatible (reworded)."
proof = "p"
[[scenario.step]]
action = "check"
expect = { exit = 3 }
"#;
        let file: scenario::ScenarioFile = toml::from_str(text).expect("toml");
        let scenarios = Scenarios {
            bullets: file
                .scenarios
                .into_iter()
                .map(|scenario| LoadedScenario {
                    file: PathBuf::from("s.toml"),
                    work_item: "CTO-WORK-022".to_owned(),
                    scenario,
                })
                .collect(),
            named: Vec::new(),
        };
        let planned = plan(&seed(), &scenarios);
        assert_eq!(
            planned
                .iter()
                .filter(|t| !t.bullet.is_empty() && !matches!(t.kind, TrialKind::Orphan { .. }))
                .count(),
            19
        );
        let bound = planned
            .iter()
            .find(|t| t.name == "CTO-WORK-022::04-missing-local-adapter-config-blocks-before-case-process-started")
            .expect("named as documented");
        assert!(matches!(bound.kind, TrialKind::Bound { .. }));
        let unmapped = planned
            .iter()
            .find(|t| t.name.starts_with("CTO-WORK-022::02-"))
            .expect("bullet 2");
        match &unmapped.kind {
            TrialKind::Unmapped { closest } => {
                assert_eq!(
                    closest.as_deref(),
                    Some("Provider class is local_case_compatible (reworded).")
                )
            }
            other => panic!("expected unmapped, got {other:?}"),
        }
        assert!(
            planned
                .iter()
                .any(|t| t.name.starts_with("CTO-WORK-022::orphan-scenario-provider-class"))
        );
    }

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

    /// Regression: with several SOTs every trial was given the first one as `--sot`.
    #[test]
    fn each_bullet_runs_against_the_sot_it_comes_from() {
        let other_path = PathBuf::from("other");
        let other = crate::sot::parse(
            &other_path,
            "## CTO-WORK-777 - Another item\n\nStatus: blocked\n\nAcceptance:\n- Something else holds.\n",
        )
        .expect("other SOT");
        let mut documents = seed();
        documents.push((other_path.clone(), other));
        let planned = plan(&documents, &Scenarios::default());
        let from = |prefix: &str| {
            planned
                .iter()
                .find(|trial| trial.name.starts_with(prefix))
                .and_then(|trial| trial.sot.clone())
        };
        assert_eq!(from("CTO-WORK-022::01-"), Some(PathBuf::from("seed")));
        assert_eq!(from("CTO-WORK-777::01-"), Some(other_path));
    }

    #[test]
    fn under_nextest_an_exact_name_must_match_exactly_one_trial() {
        let planned = plan(&seed(), &Scenarios::default());
        let exact = |name: &str| Arguments::from_iter(["acceptance", "--exact", name, "--nocapture"]);
        let real = "CTO-WORK-022::04-missing-local-adapter-config-blocks-before-case-process-started";
        assert!(guard_nextest_exact(&exact(real), &planned, true).is_ok());
        let error = guard_nextest_exact(&exact("CTO-WORK-022::04-renamed"), &planned, true).expect_err("zero matches");
        assert!(error.to_string().contains("matches 0 trials"), "{error}");
        // Outside nextest libtest's own semantics apply (zero matches is a filter, not an error).
        assert!(guard_nextest_exact(&exact("CTO-WORK-022::04-renamed"), &planned, false).is_ok());
    }
}
