//! Why a step failed: one typed error per way a step can fail, naming the file, the
//! expectation (`exit code`, `report field …`, a secret-scan channel) or the variable. The
//! trial's failure message is its `Display`, the text the steps have always written.

use std::path::PathBuf;

use serde_json::Value;

use super::super::scenario::Action;

/// Why a step (or the trial around it) failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StepError {
    /// The step numbered `step` failed.
    #[error("step {step} ({action:?}): {source}")]
    AtStep {
        /// 1-based.
        step: usize,
        /// What the step does.
        action: Action,
        /// Why it failed.
        source: Box<StepError>,
    },
    /// `evidence` was asked to stop.
    #[error("{}{signal}{}", super::INTERRUPTED_BY, before.map_or_else(String::new, |step| format!(" before step {step}")))]
    Interrupted {
        /// The signal.
        signal: &'static str,
        /// The step that was not started, if the stop came between steps.
        before: Option<usize>,
    },
    /// The trial's runtime could not start.
    #[error("cannot start a runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A file or folder could not be read, written or created.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The trial's work folder could not be cleared.
    #[error("{}: cannot clear: {source}", path.display())]
    Clear {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The trial's work folder could not be created.
    #[error("{}: cannot create: {source}", path.display())]
    Create {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file the step reads is not JSON.
    #[error("{}: {source}", path.display())]
    NotJson {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The step uses a fixture, but the suite has no fixtures folder.
    #[error(
        "this step uses the {kind} fixture {stem:?}, but the suite has no fixtures folder: \
         call AcceptanceSuite::fixtures_dir (or pass `evidence --fixtures DIR`)"
    )]
    NoFixturesDir {
        /// `decision`, `admission` or `tasks`.
        kind: String,
        /// The fixture's stem.
        stem: String,
    },
    /// The fixture the step names does not exist.
    #[error("fixture {} (`{key} = {stem:?}`) does not exist", path.display())]
    FixtureMissing {
        /// Where it was looked for.
        path: PathBuf,
        /// The step's key.
        key: String,
        /// The stem it names.
        stem: String,
    },
    /// The default fixture of a key the step leaves out does not exist.
    #[error(
        "fixture {} does not exist: the step names no `{key}`, and {stem:?} is the default; \
         name one of your own fixtures in the step (`{key} = \"STEM\"` for {}/{kind}/STEM.json)",
        path.display(),
        dir.display()
    )]
    DefaultFixtureMissing {
        /// Where it was looked for.
        path: PathBuf,
        /// The step's key.
        key: String,
        /// The default stem.
        stem: String,
        /// The fixtures folder.
        dir: PathBuf,
        /// The fixture kind.
        kind: String,
    },
    /// The Case command uses `{cases}`, but the suite has no cases folder.
    #[error(
        "the Case command uses {{cases}}, but the suite has no cases folder: \
         call AcceptanceSuite::cases_dir (or pass `evidence --cases DIR`)"
    )]
    NoCasesDir,
    /// The real Stage 2 step needs a variable that is unset.
    #[error("the real Stage 2 step needs {variable}")]
    NeedsEnv {
        /// The variable.
        variable: &'static str,
    },
    /// A suite variable (`CASE_HARNESS_TEMPERATURE`, `CASE_HARNESS_SEED`) is not UTF-8.
    #[error("{name} is not UTF-8")]
    EnvNotUtf8 {
        /// The variable.
        name: &'static str,
    },
    /// A suite variable holds a value `run` would refuse.
    #[error("{name}={value:?} is not a valid {flag}")]
    EnvInvalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// The `run` flag it becomes.
        flag: &'static str,
    },
    /// The harness binary could not be started.
    #[error("cannot start {}: {source}", binary.display())]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The harness did not finish in time.
    #[error("case-harness did not finish within {seconds} s")]
    TimedOut {
        /// The bound.
        seconds: u64,
    },
    /// Waiting for the harness failed.
    #[error("lost the case-harness process: {0}")]
    Lost(#[source] std::io::Error),
    /// An expectation of the step's `expect` table did not hold.
    #[error("{what}: expected {expected}, found {found}")]
    Mismatch {
        /// The expectation (`exit code`, `outcome`, …).
        what: &'static str,
        /// The expected value, as written in the scenario.
        expected: String,
        /// The value found (`none` when there is none).
        found: String,
    },
    /// A `report.FIELD` expectation did not hold.
    #[error("report field {pointer}: expected {expected}, found {found}")]
    ReportField {
        /// The field, dotted.
        pointer: String,
        /// The expected value.
        expected: Value,
        /// The report's value.
        found: Value,
    },
    /// `reasons_contain`: the report's reasons lack a needle.
    #[error("report reasons do not mention {needle:?}: {reasons}")]
    ReasonMissing {
        /// The needle.
        needle: String,
        /// The report's reasons, as JSON.
        reasons: String,
    },
    /// `secret_channels_scanned`: a channel the seed names was not scanned.
    #[error("secret scan did not cover the {channel} channel: {entry}")]
    ChannelNotScanned {
        /// The channel.
        channel: &'static str,
        /// Its entry in the report, if any (Rust's debug form).
        entry: String,
    },
    /// `derived`: `status` derives another status for a work item.
    #[error("status derives {work_item} as {found:?}, expected {expected:?} ({reasons})")]
    Derived {
        /// The work item.
        work_item: String,
        /// What `status` derives.
        found: Option<String>,
        /// What the step expects.
        expected: String,
        /// `status`'s reasons, as JSON.
        reasons: Value,
    },
    /// `check --format json` printed no JSON.
    #[error("check printed no JSON ({source}): {stdout}{stderr}")]
    CheckNoJson {
        /// The parser's error.
        #[source]
        source: serde_json::Error,
        /// What the command printed.
        stdout: String,
        /// What it printed to stderr.
        stderr: String,
    },
    /// `status --format json` printed no JSON.
    #[error("status printed no JSON: {0}")]
    StatusNoJson(#[source] serde_json::Error),
    /// The trace could not be read.
    #[error("trace: {0}")]
    Trace(#[source] std::io::Error),
    /// The trace is not a trace.
    #[error(transparent)]
    TraceMalformed(crate::trace::TraceParseError),
    /// `forge_pass` without an earlier `run` step.
    #[error("forge_pass needs an earlier run step")]
    NoEarlierRun,
    /// A report could not be (de)serialised, or an expected value is not JSON.
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    /// The forged report could not be resealed.
    #[error("{0}")]
    Seal(#[source] crate::evidence::EvidenceError),
    /// `commit_and_scan`: the leak could not be written.
    #[error("cannot write the leak: {0}")]
    Leak(#[source] std::io::Error),
    /// `commit_and_scan`: the leak could not be removed again.
    #[error("{0}")]
    Unleak(#[source] std::io::Error),
    /// `git` could not be started.
    #[error("git: {0}")]
    Git(#[source] std::io::Error),
    /// A `git` command failed.
    #[error("git {args:?} failed")]
    GitFailed {
        /// Its arguments.
        args: Vec<String>,
    },
    /// `{admission.FIELD}` in an expectation, without an admission file.
    #[error("`{{admission.…}}` used without an admission file")]
    NoAdmission,
    /// `{admission.FIELD}` names a field the admission does not have.
    #[error("admission has no {field}")]
    AdmissionField {
        /// The field.
        field: String,
    },
    /// An error with what the harness printed after it (its stdout, or both streams).
    #[error("{source}{output}")]
    WithOutput {
        /// The error.
        source: Box<StepError>,
        /// The text after it, separator included.
        output: String,
    },
}

impl StepError {
    /// This error followed by `output` (separator included).
    pub(crate) fn with_output(self, output: String) -> StepError {
        StepError::WithOutput {
            source: Box::new(self),
            output,
        }
    }

    /// An I/O error on `path`.
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> StepError + '_ {
        move |source| StepError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trial messages people (and `evidence --failed`) read keep their words.
    #[test]
    fn the_messages_are_the_ones_the_steps_always_wrote() {
        let interrupted = StepError::Interrupted {
            signal: "SIGTERM",
            before: Some(3),
        };
        assert_eq!(interrupted.to_string(), "interrupted by SIGTERM before step 3");
        let midway = StepError::Interrupted {
            signal: "SIGINT",
            before: None,
        };
        assert!(midway.to_string().starts_with(super::super::INTERRUPTED_BY));
        let at_step = StepError::AtStep {
            step: 2,
            action: Action::Run,
            source: Box::new(
                StepError::Mismatch {
                    what: "exit code",
                    expected: "0".to_owned(),
                    found: "3".to_owned(),
                }
                .with_output("\nharness stdout:\nx".to_owned()),
            ),
        };
        assert_eq!(
            at_step.to_string(),
            "step 2 (Run): exit code: expected 0, found 3\nharness stdout:\nx"
        );
        assert_eq!(
            StepError::NoCasesDir.to_string(),
            "the Case command uses {cases}, but the suite has no cases folder: call AcceptanceSuite::cases_dir (or pass `evidence --cases DIR`)"
        );
        assert_eq!(
            StepError::NoAdmission.to_string(),
            "`{admission.…}` used without an admission file"
        );
        let git = StepError::GitFailed {
            args: vec!["add".to_owned(), "-A".to_owned()],
        };
        assert_eq!(git.to_string(), r#"git ["add", "-A"] failed"#);
    }
}
