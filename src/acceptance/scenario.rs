//! Scenario files: one TOML file per work item binding each acceptance bullet to the steps
//! that prove it.
//!
//! ```toml
//! work_item = "CTO-WORK-022"
//!
//! [[scenario]]
//! bullet = "Missing local adapter config blocks before `case_process_started`."
//! proof = "with no CTO_HARNESS_CASE_LOCAL_BASE_URL, run exits 3 and the Case command never runs"
//!
//! [[scenario.step]]
//! action = "run"
//! base_url = "unset"
//! case = ["sh", "-c", "touch {marker}"]
//! expect = { exit = 3, blocked = ["local_adapter_config_missing"], case_process_started = false, marker_exists = false }
//! ```
//!
//! Everything is parsed strictly (unknown keys are errors) and a step whose `expect` asserts
//! nothing is refused: a check that cannot fail is not a check. The same format as a JSON
//! Schema (of the TOML read as JSON): `docs/scenario.schema.json`.
//!
//! # The format, key by key
//!
//! Every `*.toml` file of the scenarios folder is one work item's file:
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `work_item` | string | required | the work item whose bullets the file binds, e.g. `CTO-WORK-022` |
//! | `[[scenario]]` | table array | none | one per acceptance bullet |
//! | `[[trial]]` | table array | none | trials bound to a name, not a bullet |
//!
//! `[[scenario]]`: `bullet` (string, required: the bullet's text, matched with whitespace
//! normalised, backticks kept), `proof` (string, required: one sentence shown in
//! `summary.md`), `[[scenario.step]]` (at least one; run in order, in one folder).
//!
//! `[[trial]]`: `name` (string, required: the trial is `WORK-ITEM::name`), `proof` (required),
//! `requires_env` (string, default none: a variable that must be set, or the trial is listed
//! as ignored with that reason), `[[trial.step]]` (at least one).
//!
//! A step (`[[scenario.step]]` or `[[trial.step]]`):
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `action` | `run`, `check`, `status`, `forge_pass`, `commit_and_scan` | required | `case-harness run`; `check --format json`; `status --format json` over this scenario's runs so far; reseal the previous report as a forged `pass` and `verify` it; commit this scenario's run folders to a fresh git repository and `scan` them |
//! | `decision` | string | `local-provider-required` | stem of `FIXTURES/decision/STEM.json`, or `unset` (no decision file) |
//! | `admission` | string | `candidate-smollm2` (with `base_url = "real"`: `$CTO_HARNESS_CASE_MODEL_ADMISSION_FILE`) | stem of `FIXTURES/admission/STEM.json`, or `unset` |
//! | `task` | string | `capital-of-france` | stem of `FIXTURES/tasks/STEM.json` |
//! | `base_url` | string | `fake` | `fake` (a wiremock provider on 127.0.0.1 serving the admission's model), `real` (`$CTO_HARNESS_CASE_LOCAL_BASE_URL`), `unset`, or a literal URL |
//! | `fake_reply` | string | `The capital of France is Paris.` | what the fake provider's chat completions answer |
//! | `case` | array of strings | the reference Case | the Case command; `{marker}` becomes a file whose existence proves it ran, `{cases}` the suite's cases folder |
//! | `env` | table of strings | empty | extra environment for the harness |
//! | `secret` | bool | `false` | set `CTO_HARNESS_CASE_LOCAL_API_KEY` to a fresh canary for the scenario |
//! | `timeout` | float (seconds) | 60 (600 with `base_url = "real"`) | `run --timeout` |
//! | `leak` | bool | `false` | `commit_and_scan` only: also commit a file holding the canary (a negative control) |
//! | `expect` | table | required, not empty | what must hold afterwards (below) |
//!
//! The fixture stems' defaults are this repository's file names; a consumer's suite names its
//! own in every step (`FIXTURES` is [`AcceptanceSuite::fixtures_dir`](super::AcceptanceSuite::fixtures_dir);
//! there is no default folder).
//!
//! `expect` (every key set is checked; at least one must be set; none has a default):
//!
//! | key | type | holds when |
//! |---|---|---|
//! | `exit` | integer | the command exited with this code |
//! | `blocked` | array of gate codes | exactly these gates blocked, in this order |
//! | `case_process_started` | bool | the report (and trace) say Case was or was not started |
//! | `marker_exists` | bool | the `{marker}` file exists or not afterwards |
//! | `outcome` | string | the report's `outcome` (`pass`, `fail`, `blocked`, …) |
//! | `report` | table: dotted path → value | each report field equals the value; `"{admission.FIELD}"` stands for that field of the admission used |
//! | `reasons_contain` | array of strings | each string appears in the report's `reasons` |
//! | `provider_chat_requests` | integer | the fake provider received this many chat requests |
//! | `secret_scan_clean` | bool | the secret scan is clean or not |
//! | `secret_hit_channels` | array of strings | exactly these channels had a secret hit |
//! | `secret_channels_scanned` | bool | every channel the SOT names was scanned |
//! | `inputs_unchanged` | bool | the decision and admission files kept their bytes and mtime |
//! | `verify` | bool | `case-harness verify` accepts the report or not |
//! | `derived` | table: work item → status | `status` derives these statuses |

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScenarioFile {
    /// The work item whose bullets these scenarios bind.
    pub work_item: String,
    /// The scenarios, one per bullet.
    #[serde(rename = "scenario", default)]
    pub scenarios: Vec<Scenario>,
    /// Trials that prove something beyond one bullet (e.g. the real Stage 2 run).
    #[serde(rename = "trial", default)]
    pub trials: Vec<NamedTrial>,
}

/// A trial bound to a name rather than a bullet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NamedTrial {
    /// The part of the trial name after `WORK-ITEM::`, e.g. `real-case-stage2`.
    pub name: String,
    /// Environment variable that must be set for the trial to run; without it the trial is
    /// listed as ignored (decided when the list is built, never inside the trial).
    #[serde(default)]
    pub requires_env: Option<String>,
    /// One sentence saying what the steps prove.
    pub proof: String,
    /// The steps.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

/// The binding of one acceptance bullet to its proof.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scenario {
    /// The bullet's text, matched whitespace-normalised (backticks kept).
    pub bullet: String,
    /// One sentence saying what the steps prove (shown in `summary.md`).
    pub proof: String,
    /// The steps, run in order in one sandbox.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Action {
    /// `case-harness run`.
    Run,
    /// `case-harness check --format json`.
    Check,
    /// `case-harness status --format json` over the runs of this scenario so far.
    Status,
    /// Turn the previous run's report into a resealed "pass" and `verify` it.
    ForgePass,
    /// Commit this scenario's run folders to a fresh git repository and `scan` them.
    CommitAndScan,
}

/// One step of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// What to do.
    pub(crate) action: Action,
    /// Decision fixture: a file stem under `fixtures/decision/`, or `unset`. Default
    /// `local-provider-required`.
    #[serde(default)]
    pub(crate) decision: Option<String>,
    /// Admission fixture stem under `fixtures/admission/`, or `unset`. Default
    /// `candidate-smollm2`; with `base_url = "real"` the default is the file in
    /// `CTO_HARNESS_CASE_MODEL_ADMISSION_FILE`.
    #[serde(default)]
    pub(crate) admission: Option<String>,
    /// `fake` (a wiremock provider started for the step, the default), `real` (the endpoint
    /// in `CTO_HARNESS_CASE_LOCAL_BASE_URL`), `unset`, or a literal URL.
    #[serde(default)]
    pub(crate) base_url: Option<String>,
    /// What the fake provider's chat completions answer. Default `The capital of France is Paris.`
    #[serde(default)]
    pub(crate) fake_reply: Option<String>,
    /// Case command; `{marker}` becomes a file path whose existence proves the command ran,
    /// `{cases}` the `harness-tests/cases` folder. Default: the reference Case.
    #[serde(default)]
    pub(crate) case: Option<Vec<String>>,
    /// Task fixture stem under `fixtures/tasks/`. Default `capital-of-france`.
    #[serde(default)]
    pub(crate) task: Option<String>,
    /// Extra environment for the harness.
    #[serde(default)]
    pub(crate) env: BTreeMap<String, String>,
    /// Set `CTO_HARNESS_CASE_LOCAL_API_KEY` to a fresh canary for this scenario.
    #[serde(default)]
    pub(crate) secret: bool,
    /// `--timeout` seconds.
    #[serde(default)]
    pub(crate) timeout: Option<f64>,
    /// For `commit_and_scan`: also commit a file that contains the canary (a negative control).
    #[serde(default)]
    pub(crate) leak: bool,
    /// What must hold afterwards.
    pub(crate) expect: Expect,
}

/// Expectations of a step; every field set is checked, and at least one must be set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expect {
    /// Exit code of the command.
    pub exit: Option<i32>,
    /// Exactly these gate codes block (in order).
    pub blocked: Option<Vec<String>>,
    /// The report/check output says (and the trace shows) Case was or was not started.
    pub case_process_started: Option<bool>,
    /// Whether the `{marker}` file exists afterwards.
    pub marker_exists: Option<bool>,
    /// The report's `outcome`.
    pub outcome: Option<String>,
    /// Report fields by dotted path (`fallback_proof.no_fallback`), compared exactly;
    /// `"{admission.FIELD}"` stands for that field of the admission file used.
    #[serde(default)]
    pub report: BTreeMap<String, toml::Value>,
    /// Each string must appear in the report's `reasons`.
    #[serde(default)]
    pub reasons_contain: Vec<String>,
    /// Chat requests the fake provider received.
    pub provider_chat_requests: Option<usize>,
    /// The secret scan is clean.
    pub secret_scan_clean: Option<bool>,
    /// Channels with at least one secret hit (exactly these).
    pub secret_hit_channels: Option<Vec<String>>,
    /// Every secret-scan channel the seed names was scanned.
    pub secret_channels_scanned: Option<bool>,
    /// Decision and admission files are byte-identical and have the same mtime afterwards.
    pub inputs_unchanged: Option<bool>,
    /// `case-harness verify` accepts the report.
    pub verify: Option<bool>,
    /// `status` derives these statuses (work item → status).
    #[serde(default)]
    pub derived: BTreeMap<String, String>,
}

impl Expect {
    /// True when nothing would be checked.
    pub(crate) fn is_empty(&self) -> bool {
        self.exit.is_none()
            && self.blocked.is_none()
            && self.case_process_started.is_none()
            && self.marker_exists.is_none()
            && self.outcome.is_none()
            && self.report.is_empty()
            && self.reasons_contain.is_empty()
            && self.provider_chat_requests.is_none()
            && self.secret_scan_clean.is_none()
            && self.secret_hit_channels.is_none()
            && self.secret_channels_scanned.is_none()
            && self.inputs_unchanged.is_none()
            && self.verify.is_none()
            && self.derived.is_empty()
    }
}

/// Everything in a scenarios folder.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scenarios {
    /// Bullet scenarios with their file and work item.
    pub bullets: Vec<LoadedScenario>,
    /// Named trials with their file and work item.
    pub named: Vec<(String, NamedTrial)>,
}

/// A scenario together with where it came from.
#[derive(Debug, Clone)]
pub(crate) struct LoadedScenario {
    /// Its file.
    pub file: PathBuf,
    /// Its work item.
    pub work_item: String,
    /// The scenario.
    pub scenario: Scenario,
}

fn check_steps(file: &Path, what: &str, steps: &[Step]) -> Result<(), ScenarioError> {
    let invalid = |message: String| ScenarioError::Invalid {
        path: file.to_owned(),
        message,
    };
    if steps.is_empty() {
        return Err(invalid(format!("{what} has no steps")));
    }
    match steps.iter().position(|step| step.expect.is_empty()) {
        Some(index) => Err(invalid(format!(
            "{what}: step {} expects nothing (a check that cannot fail)",
            index + 1
        ))),
        None => Ok(()),
    }
}

/// Why the scenarios folder could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The folder or a file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file is not TOML, or not in the scenario schema.
    #[error("{}: {source}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said.
        #[source]
        source: toml::de::Error,
    },
    /// A file is TOML of the right shape but says something impossible.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Reads every `*.toml` under `dir` (sorted by name).
pub(crate) fn load_dir(dir: &Path) -> Result<Scenarios, ScenarioError> {
    let io = |source| ScenarioError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    let mut loaded = Scenarios::default();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| ScenarioError::Io {
            path: file.clone(),
            source,
        })?;
        let parsed: ScenarioFile = toml::from_str(&text).map_err(|source| ScenarioError::Toml {
            path: file.clone(),
            source,
        })?;
        for scenario in parsed.scenarios {
            check_steps(&file, &format!("scenario for {:?}", scenario.bullet), &scenario.steps)?;
            loaded.bullets.push(LoadedScenario {
                file: file.clone(),
                work_item: parsed.work_item.clone(),
                scenario,
            });
        }
        for trial in parsed.trials {
            check_steps(&file, &format!("trial {:?}", trial.name), &trial.steps)?;
            loaded.named.push((parsed.work_item.clone(), trial));
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> jsonschema::Validator {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("docs/scenario.schema.json")).expect("schema");
        let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
        jsonschema::validator_for(&schema).expect("a valid JSON Schema")
    }

    fn as_json(text: &str) -> serde_json::Value {
        let value: toml::Value = toml::from_str(text).expect("TOML");
        serde_json::to_value(value).expect("JSON")
    }

    /// docs/scenario.schema.json accepts every scenario file of the repository (this crate's
    /// and examples/consumer's), and they load.
    #[test]
    fn the_json_schema_accepts_every_scenario_file_of_the_repository() {
        let validator = schema();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for dir in ["scenarios", "examples/consumer/scenarios"] {
            load_dir(&root.join(dir)).expect("the scenarios load");
            for entry in std::fs::read_dir(root.join(dir)).expect("folder") {
                let path = entry.expect("entry").path();
                if path.extension().is_some_and(|ext| ext == "toml") {
                    let instance = as_json(&std::fs::read_to_string(&path).expect("read"));
                    let errors: Vec<String> = validator.iter_errors(&instance).map(|e| e.to_string()).collect();
                    assert!(errors.is_empty(), "{}: {errors:?}", path.display());
                    seen += 1;
                }
            }
        }
        assert!(seen >= 3, "{seen} files");
    }

    /// The schema and the parser refuse the same mistakes: a misspelled step key, an unknown
    /// action, an empty `expect`. Catches a schema that accepts anything.
    #[test]
    fn the_json_schema_and_the_parser_refuse_the_same_mistakes() {
        let validator = schema();
        let good =
            "work_item = \"X-1\"\n[[scenario]]\nbullet = \"b\"\nproof = \"p\"\n[[scenario.step]]\naction = \"run\"\n";
        let cases = [
            (
                "misspelled key",
                format!("{good}admision = \"a\"\nexpect = {{ exit = 0 }}\n"),
                true,
            ),
            (
                "unknown action",
                good.replace("\"run\"", "\"walk\"") + "expect = { exit = 0 }\n",
                true,
            ),
            ("empty expect", format!("{good}expect = {{}}\n"), true),
            ("fine", format!("{good}task = \"t\"\nexpect = {{ exit = 0 }}\n"), false),
        ];
        for (what, text, refused) in cases {
            assert_eq!(!validator.is_valid(&as_json(&text)), refused, "schema, {what}");
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::write(dir.path().join("x.toml"), &text).expect("write");
            assert_eq!(load_dir(dir.path()).is_err(), refused, "parser, {what}");
        }
    }
}
