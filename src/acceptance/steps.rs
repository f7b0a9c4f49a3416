//! Executing a scenario: each step drives the real `case-harness` binary in a sandbox folder
//! and checks what actually happened — exit codes, the report and trace on disk, the
//! requests the fake provider received, the bytes of the input files.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::scenario::{Action, Expect, Step};
use crate::config::{ENV_ADMISSION_FILE, ENV_DECISION_FILE, ENV_LOCAL_API_KEY, ENV_LOCAL_BASE_URL, Environment};
use crate::evidence::names;

mod error;
mod fake_provider;
mod run_step;

pub(crate) use error::StepError;

pub use fake_provider::{FakeProvider, model_list};

/// Where a trial finds what it needs.
#[derive(Debug, Clone)]
pub(crate) struct StepContext {
    /// The `case-harness` binary to drive.
    pub harness_binary: PathBuf,
    /// The consumer's fixtures folder (with `decision/`, `admission/`, `tasks/`), if given.
    pub fixtures_dir: Option<PathBuf>,
    /// Folder substituted for `{cases}` in Case commands, if given.
    pub cases_dir: Option<PathBuf>,
    /// The SOT the scenarios bind (passed to `run --sot` and `status --sot`).
    pub sot: PathBuf,
    /// This trial's own folder; emptied before the trial.
    pub work_dir: PathBuf,
    /// The suite's environment snapshot (read once, when the suite was made).
    pub environment: Arc<Environment>,
}

/// What a trial observed, for JUnit properties and `summary.md`.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrialEvidence {
    /// Gate codes seen blocking, in order of first appearance.
    pub gate_codes: Vec<String>,
    /// Reports written by the trial's runs: (path, seal digest or empty).
    pub reports: Vec<(PathBuf, String)>,
    /// Reports among `reports` rewritten on purpose by a `forge_pass` step.
    pub forged: Vec<PathBuf>,
}

/// The decision fixture stem a step uses when it names none.
pub const DEFAULT_DECISION: &str = "local-provider-required";
/// The admission fixture stem a step uses when it names none.
pub const DEFAULT_ADMISSION: &str = "candidate-smollm2";
/// The task fixture stem a step uses when it names none.
pub const DEFAULT_TASK: &str = "capital-of-france";

/// The default answer of the fake provider (what the bundled task checks for).
pub const DEFAULT_FAKE_REPLY: &str = "The capital of France is Paris.";

/// How a step that was stopped by a signal begins its error (the trial is then recorded as
/// interrupted, not failed).
pub(crate) const INTERRUPTED_BY: &str = "interrupted by ";

/// Bound on any one harness invocation, beyond the step's own `--timeout`.
const COMMAND_GRACE: Duration = Duration::from_secs(120);

/// Runs every step in order; the first failed expectation ends the trial.
pub(crate) fn execute(steps: &[Step], context: &StepContext) -> Result<TrialEvidence, StepError> {
    reset_dir(&context.work_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(StepError::Runtime)?;
    let canary = crate::secrets::SecretValue::random("chc-scenario-canary-");
    let mut evidence = TrialEvidence::default();
    let mut last_report: Option<PathBuf> = None;
    for (index, step) in steps.iter().enumerate() {
        if let Some(signal) = crate::signals::stop_requested() {
            return Err(StepError::Interrupted {
                signal,
                before: Some(index + 1),
            });
        }
        let step_dir = context.work_dir.join(format!("step-{}", index + 1));
        std::fs::create_dir_all(&step_dir).map_err(StepError::io(&step_dir))?;
        let mut run = StepRun {
            step,
            context,
            step_dir,
            canary: canary.expose(),
            runtime: &runtime,
            evidence: &mut evidence,
            last_report: &mut last_report,
        };
        run.execute().map_err(|err| StepError::AtStep {
            step: index + 1,
            action: step.action,
            source: Box::new(err),
        })?;
    }
    Ok(evidence)
}

/// Every harness command of a step: the environment cleared but for `PATH` (so a binary found
/// on `PATH`, and anything it starts, is found again), stdin closed.
fn cleared_command(binary: &Path, environment: &Environment) -> Command {
    let mut command = Command::new(binary);
    command.env_clear().stdin(Stdio::null());
    if let Some(path) = environment.var_os("PATH") {
        command.env("PATH", path);
    }
    command
}

fn reset_dir(dir: &Path) -> Result<(), StepError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|source| StepError::Clear {
            path: dir.to_owned(),
            source,
        })?;
    }
    std::fs::create_dir_all(dir).map_err(|source| StepError::Create {
        path: dir.to_owned(),
        source,
    })
}

struct StepRun<'a> {
    step: &'a Step,
    context: &'a StepContext,
    step_dir: PathBuf,
    canary: &'a str,
    runtime: &'a tokio::runtime::Runtime,
    evidence: &'a mut TrialEvidence,
    last_report: &'a mut Option<PathBuf>,
}

/// A fixture file with its bytes and mtime before the step.
struct InputSnapshot {
    path: PathBuf,
    bytes: Vec<u8>,
    modified: Option<SystemTime>,
}

impl InputSnapshot {
    fn take(path: &Path) -> Result<InputSnapshot, StepError> {
        Ok(InputSnapshot {
            path: path.to_owned(),
            bytes: std::fs::read(path).map_err(StepError::io(path))?,
            modified: std::fs::metadata(path).and_then(|metadata| metadata.modified()).ok(),
        })
    }

    fn unchanged(&self) -> bool {
        std::fs::read(&self.path).is_ok_and(|bytes| bytes == self.bytes)
            && std::fs::metadata(&self.path)
                .and_then(|metadata| metadata.modified())
                .ok()
                == self.modified
    }
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl StepRun<'_> {
    fn execute(&mut self) -> Result<(), StepError> {
        match self.step.action {
            Action::Run => self.run(),
            Action::Check => self.check(),
            Action::Status => self.status(),
            Action::ForgePass => self.forge_pass(),
            Action::CommitAndScan => self.commit_and_scan(),
        }
    }

    fn expectations(&self) -> &Expect {
        &self.step.expect
    }

    /// `FIXTURES/kind/stem.json`; `key` is the step's key, for the messages.
    fn fixture(&self, kind: &str, key: &str, stem: &str, named: bool) -> Result<PathBuf, StepError> {
        let Some(dir) = &self.context.fixtures_dir else {
            return Err(StepError::NoFixturesDir {
                kind: kind.to_owned(),
                stem: stem.to_owned(),
            });
        };
        let path = dir.join(kind).join(format!("{stem}.json"));
        if path.is_file() {
            Ok(path)
        } else if named {
            Err(StepError::FixtureMissing {
                path,
                key: key.to_owned(),
                stem: stem.to_owned(),
            })
        } else {
            Err(StepError::DefaultFixtureMissing {
                path,
                key: key.to_owned(),
                stem: stem.to_owned(),
                dir: dir.clone(),
                kind: kind.to_owned(),
            })
        }
    }

    fn is_real(&self) -> bool {
        self.step.base_url.as_deref() == Some("real")
    }

    fn decision_path(&self) -> Result<Option<PathBuf>, StepError> {
        if self.is_real()
            && self.step.decision.is_none()
            && let Some(path) = self.env(ENV_DECISION_FILE).filter(|value| !value.is_empty())
        {
            return Ok(Some(PathBuf::from(path)));
        }
        match self.step.decision.as_deref().unwrap_or(DEFAULT_DECISION) {
            "unset" => Ok(None),
            stem => self
                .fixture("decision", "decision", stem, self.step.decision.is_some())
                .map(Some),
        }
    }

    fn admission_path(&self) -> Result<Option<PathBuf>, StepError> {
        if self.is_real() && self.step.admission.is_none() {
            return self
                .env(ENV_ADMISSION_FILE)
                .filter(|value| !value.is_empty())
                .map(|path| Some(PathBuf::from(path)))
                .ok_or(StepError::NeedsEnv {
                    variable: ENV_ADMISSION_FILE,
                });
        }
        match self.step.admission.as_deref().unwrap_or(DEFAULT_ADMISSION) {
            "unset" => Ok(None),
            stem => self
                .fixture("admission", "admission", stem, self.step.admission.is_some())
                .map(Some),
        }
    }

    /// A variable of the suite's environment snapshot.
    fn env(&self, name: &str) -> Option<&std::ffi::OsStr> {
        self.context.environment.var_os(name)
    }

    /// A harness command: [`cleared_command`] on the suite's binary.
    fn command(&self) -> Command {
        cleared_command(&self.context.harness_binary, &self.context.environment)
    }

    /// The command with a cleared environment plus PATH, the records and the step's env.
    fn harness(&self, decision: Option<&Path>, admission: Option<&Path>, base_url: Option<&str>) -> Command {
        let mut command = self.command();
        if let Some(path) = decision {
            command.env(ENV_DECISION_FILE, path);
        }
        if let Some(path) = admission {
            command.env(ENV_ADMISSION_FILE, path);
        }
        if let Some(url) = base_url {
            command.env(ENV_LOCAL_BASE_URL, url);
        }
        if self.step.secret {
            command.env(ENV_LOCAL_API_KEY, self.canary);
        } else if self.is_real()
            && let Some(key) = self.env(ENV_LOCAL_API_KEY)
        {
            command.env(ENV_LOCAL_API_KEY, key);
        }
        // Runs sign their evidence with the suite's key, when one is configured.
        if let Some(key) = self.env(crate::signing::ENV_SIGNING_KEY).filter(|key| !key.is_empty()) {
            command.env(crate::signing::ENV_SIGNING_KEY, key);
        }
        command.envs(&self.step.env);
        command
    }

    /// The step's provider: a fake started now (the default), the real endpoint, none, or a
    /// literal URL; and the base URL to give the harness.
    fn provider(&self, admission: Option<&Path>) -> Result<(Option<FakeProvider>, Option<String>), StepError> {
        match self.step.base_url.as_deref() {
            None | Some("fake") => {
                let model = admission.and_then(admission_field_of("case_model"));
                let reply = self.step.fake_reply.as_deref().unwrap_or(DEFAULT_FAKE_REPLY);
                let fake = self
                    .runtime
                    .block_on(FakeProvider::start(model.as_deref().unwrap_or("none"), reply));
                let url = fake.base_url();
                Ok((Some(fake), Some(url)))
            }
            Some("unset") => Ok((None, None)),
            Some("real") => self
                .context
                .environment
                .var(ENV_LOCAL_BASE_URL)
                .map(|url| (None, Some(url)))
                .ok_or(StepError::NeedsEnv {
                    variable: ENV_LOCAL_BASE_URL,
                }),
            Some(literal) => Ok((None, Some(literal.to_owned()))),
        }
    }

    fn spawn(&self, mut command: Command, limit: Duration) -> Result<Output, StepError> {
        let stdout_path = self.step_dir.join("harness-stdout.txt");
        let stderr_path = self.step_dir.join("harness-stderr.txt");
        let create = |path: &Path| std::fs::File::create(path).map_err(StepError::io(path));
        command.stdout(create(&stdout_path)?).stderr(create(&stderr_path)?);
        let mut child = command.spawn().map_err(|source| StepError::Spawn {
            binary: self.context.harness_binary.clone(),
            source,
        })?;
        let deadline = Instant::now() + limit;
        let mut forwarded = None;
        let status = loop {
            // `evidence` was asked to stop: the `run` in progress is stopped the same way (it
            // ends Case and leaves its run incomplete), and the trial says it was interrupted.
            if let (None, Some(signal)) = (forwarded, crate::signals::stop_requested()) {
                forwarded = Some(signal);
                // SAFETY: kill(2) on the child this function started and has not reaped.
                unsafe { libc::kill(child.id() as libc::pid_t, crate::signals::number_of(signal)) };
            }
            match child.try_wait() {
                Ok(Some(status)) => match forwarded {
                    Some(signal) => return Err(StepError::Interrupted { signal, before: None }),
                    None => break status,
                },
                Ok(None) if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(StepError::TimedOut {
                        seconds: limit.as_secs(),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(err) => return Err(StepError::Lost(err)),
            }
        };
        Ok(Output {
            code: status.code(),
            stdout: std::fs::read_to_string(&stdout_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
        })
    }

    fn verify(&self, report: &Path) -> Result<Output, StepError> {
        let mut command = self.command();
        command.arg("verify").arg(report);
        self.spawn(command, COMMAND_GRACE)
    }

    fn check(&mut self) -> Result<(), StepError> {
        let decision = self.decision_path()?;
        let admission = self.admission_path()?;
        let (fake, base_url) = self.provider(admission.as_deref())?;
        let mut command = self.harness(decision.as_deref(), admission.as_deref(), base_url.as_deref());
        command.args(["check", "--format", "json"]);
        let output = self.spawn(command, COMMAND_GRACE)?;
        drop(fake);
        let value: Value = serde_json::from_str(&output.stdout).map_err(|source| StepError::CheckNoJson {
            source,
            stdout: output.stdout.clone(),
            stderr: output.stderr.clone(),
        })?;
        self.note_codes(&value["blocked"]);
        let expect = self.expectations();
        check_eq("exit code", &expect.exit, &output.code)?;
        check_blocked(&expect.blocked, &value["blocked"])?;
        check_eq(
            "case_process_started",
            &expect.case_process_started,
            &value["case_process_started"].as_bool(),
        )?;
        Ok(())
    }

    fn status(&mut self) -> Result<(), StepError> {
        let admission = self.admission_path()?;
        let mut command = self.harness(None, admission.as_deref(), None);
        command
            .args(["status", "--format", "json", "--sot"])
            .arg(&self.context.sot)
            .arg("--evidence")
            .arg(&self.context.work_dir);
        let output = self.spawn(command, COMMAND_GRACE)?;
        check_eq("exit code", &self.expectations().exit.or(Some(0)), &output.code)
            .map_err(|err| err.with_output(format!(": {}", output.stderr)))?;
        let value: Value = serde_json::from_str(&output.stdout).map_err(StepError::StatusNoJson)?;
        for (id, expected) in &self.expectations().derived {
            let actual = value["derived"][id]["status"].as_str();
            if actual != Some(expected.as_str()) {
                return Err(StepError::Derived {
                    work_item: id.clone(),
                    found: actual.map(str::to_owned),
                    expected: expected.clone(),
                    reasons: value["derived"][id]["reasons"].clone(),
                });
            }
        }
        Ok(())
    }

    fn forge_pass(&mut self) -> Result<(), StepError> {
        let path = self.last_report.clone().ok_or(StepError::NoEarlierRun)?;
        let bytes = std::fs::read(&path).map_err(StepError::io(&path))?;
        let mut report: crate::output::Report = serde_json::from_slice(&bytes).map_err(StepError::Json)?;
        report.outcome = crate::output::RunOutcome::Pass;
        report.reasons = vec!["hand-written pass".to_owned()];
        report.evidence_kind = crate::output::EvidenceKind::RealStage2;
        let digest = crate::evidence::seal_digest(&report).map_err(StepError::Seal)?;
        if let Some(seal) = report.seal.as_mut() {
            seal.digest = digest;
        }
        let forged = serde_json::to_vec_pretty(&report).map_err(StepError::Json)?;
        std::fs::write(&path, forged).map_err(StepError::io(&path))?;
        if !self.evidence.forged.contains(&path) {
            self.evidence.forged.push(path.clone());
        }
        let output = self.verify(&path)?;
        check_eq("verify exit code", &self.expectations().exit, &output.code)
            .map_err(|err| err.with_output(format!("\n{}", output.stdout)))?;
        if let Some(expected) = self.expectations().verify {
            check_eq(
                "verify accepts the forged report",
                &Some(expected),
                &Some(output.code == Some(0)),
            )?;
        }
        Ok(())
    }

    fn commit_and_scan(&mut self) -> Result<(), StepError> {
        let repo = &self.context.work_dir;
        if self.step.leak {
            std::fs::write(repo.join("leaked-config.env"), format!("API_KEY={}\n", self.canary))
                .map_err(StepError::Leak)?;
        }
        let git = |args: &[&str]| -> Result<(), StepError> {
            let status = Command::new("git")
                .args([
                    "-c",
                    "user.name=case-harness",
                    "-c",
                    "user.email=case-harness@localhost",
                    "-c",
                    "commit.gpgsign=false",
                ])
                .args(args)
                .current_dir(repo)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(StepError::Git)?;
            if status.success() {
                Ok(())
            } else {
                Err(StepError::GitFailed {
                    args: args.iter().map(|arg| (*arg).to_owned()).collect(),
                })
            }
        };
        if !repo.join(".git").exists() {
            git(&["init", "-q"])?;
        }
        git(&["add", "-A"])?;
        git(&["commit", "-q", "-m", "evidence", "--allow-empty"])?;
        if self.step.leak {
            // The file is gone from the tree but stays in history: only a history scan finds it.
            std::fs::remove_file(repo.join("leaked-config.env")).map_err(StepError::Unleak)?;
            git(&["add", "-A"])?;
            git(&["commit", "-q", "-m", "remove leak"])?;
        }
        let mut command = self.command();
        command
            .env(ENV_LOCAL_API_KEY, self.canary)
            .args(["scan", "--secret-env", ENV_LOCAL_API_KEY])
            .arg(repo);
        let output = self.spawn(command, COMMAND_GRACE)?;
        check_eq("scan exit code", &self.expectations().exit, &output.code)
            .map_err(|err| err.with_output(format!("\n{}", output.stdout)))
    }

    fn note_codes(&mut self, blocked: &Value) {
        for code in blocked.as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !self.evidence.gate_codes.iter().any(|seen| seen == code) {
                self.evidence.gate_codes.push(code.to_owned());
            }
        }
    }

    /// Turns an expected TOML value into JSON, expanding `"{admission.FIELD}"`.
    fn expand(&self, expected: &toml::Value, admission: Option<&Path>) -> Result<Value, StepError> {
        if let Some(field) = expected
            .as_str()
            .and_then(|text| text.strip_prefix("{admission."))
            .and_then(|rest| rest.strip_suffix('}'))
        {
            let path = admission.ok_or(StepError::NoAdmission)?;
            return admission_field_of(field)(path)
                .map(Value::from)
                .ok_or_else(|| StepError::AdmissionField {
                    field: field.to_owned(),
                });
        }
        serde_json::to_value(expected).map_err(StepError::Json)
    }
}

/// The channels the seed's secret bullet names.
pub(crate) const SEED_SECRET_CHANNELS: &[&str] = &[
    "sot",
    "argv",
    "task_file",
    "backend_logs",
    "report",
    "trace",
    "generated_config",
    "commit",
];

fn admission_field_of(field: &str) -> impl Fn(&Path) -> Option<String> + '_ {
    move |path| {
        let value = read_json(path).ok()?;
        value.get(field).and_then(Value::as_str).map(str::to_owned)
    }
}

fn read_json(path: &Path) -> Result<Value, StepError> {
    let bytes = std::fs::read(path).map_err(StepError::io(path))?;
    serde_json::from_slice(&bytes).map_err(|source| StepError::NotJson {
        path: path.to_owned(),
        source,
    })
}

fn check_eq<T: PartialEq + std::fmt::Debug>(
    what: &'static str,
    expected: &Option<T>,
    actual: &Option<T>,
) -> Result<(), StepError> {
    match expected {
        Some(expected) if Some(expected) != actual.as_ref() => {
            // Never Rust's `Some(3)` in a message a person reads.
            let found = actual
                .as_ref()
                .map_or_else(|| "none".to_owned(), |actual| format!("{actual:?}"));
            Err(StepError::Mismatch {
                what,
                expected: format!("{expected:?}"),
                found,
            })
        }
        _ => Ok(()),
    }
}

fn check_blocked(expected: &Option<Vec<String>>, actual: &Value) -> Result<(), StepError> {
    let actual: Vec<String> = actual
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    check_eq("blocked gate codes", expected, &Some(actual))
}

/// `--temperature T --seed N` from [`super::ENV_TEMPERATURE`] and [`super::ENV_SEED`], when
/// set: the suite (and `evidence`, which runs it) pins sampling the way `run` does. A value
/// `run` would refuse is named here, before any trial starts Case.
fn sampling_args(environment: &Environment) -> Result<Vec<String>, StepError> {
    let mut args = Vec::new();
    for (name, flag) in [(super::ENV_TEMPERATURE, "--temperature"), (super::ENV_SEED, "--seed")] {
        let Some(value) = environment.var_os(name) else {
            continue;
        };
        let value = value.to_str().ok_or(StepError::EnvNotUtf8 { name })?.to_owned();
        let valid = match flag {
            "--seed" => value.parse::<u64>().is_ok(),
            _ => value
                .parse::<f64>()
                .is_ok_and(|temperature| crate::output::SamplingPin::new(Some(temperature), None).is_ok()),
        };
        if !valid {
            return Err(StepError::EnvInvalid { name, value, flag });
        }
        args.extend([flag.to_owned(), value]);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mismatch_reads_as_values_not_rust_options() {
        let err = check_eq("exit code", &Some(0), &Some(3)).expect_err("differs");
        assert!(matches!(&err, StepError::Mismatch { what: "exit code", .. }), "{err}");
        assert_eq!(err.to_string(), "exit code: expected 0, found 3");
        let err = check_eq("exit code", &Some(0), &None).expect_err("differs");
        assert_eq!(err.to_string(), "exit code: expected 0, found none");
        assert!(check_eq::<i32>("exit code", &None, &Some(3)).is_ok());
    }

    /// Issue 23: `verify = true` failed when the binary came from PATH, because the `verify`
    /// command was the one built without PATH. Catches dropping PATH from the shared builder.
    #[test]
    fn every_step_command_keeps_path_and_nothing_else() {
        let environment = Environment::capture();
        let command = cleared_command(Path::new("case-harness"), &environment);
        let envs: Vec<_> = command.get_envs().collect();
        let path = environment.var_os("PATH").expect("tests run with PATH");
        assert_eq!(envs, vec![(std::ffi::OsStr::new("PATH"), Some(path))]);
    }
}
