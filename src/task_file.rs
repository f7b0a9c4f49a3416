//! The task file `run` hands to Case: the task gate (`task_file_invalid`) and the reference
//! Case's task format.
//!
//! The gate reads the file once, before the run folder is created or anything is spawned: it
//! must exist, be a regular file of at most [`MAX_TASK_BYTES`], and hold one JSON object. When
//! the bundled reference Case is the one that runs, the object must also be a task in its
//! format (below): a typo such as `temprature` is refused naming the field, rather than
//! failing the run after Case has started. Another Case's task format is its own business.
//!
//! The reference Case's format (JSON, unknown fields refused):
//! ```json
//! { "prompt": "What is the capital of France? Answer in one word.",
//!   "system": "optional system prompt",
//!   "max_tokens": 24, "temperature": 0, "stream": false,
//!   "checks": [ {"kind": "non_empty"}, {"kind": "word", "value": "Paris"} ] }
//! ```
//! Checks, each on the reply:
//! - `non_empty`: not blank;
//! - `contains` / `not_contains`: the value is (is not) a case-sensitive substring;
//! - `word`: the value occurs as a whole word, case-insensitively (`Paris` holds in "paris."
//!   but not in "…LAS PARISES.");
//! - `exact`: the reply, trimmed, equals the value, trimmed;
//! - `regex`: the pattern (the `regex` crate's syntax) matches somewhere in the reply.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The gate's stable code.
pub(crate) const GATE_CODE: &str = "task_file_invalid";

/// Largest task file the gate reads.
pub(crate) const MAX_TASK_BYTES: u64 = 1024 * 1024;

/// Why the task file cannot be handed to Case. Displays the path once, then the problem.
#[derive(Debug, thiserror::Error)]
#[error("{GATE_CODE}: task file {}: {problem}", path.display())]
pub(crate) struct TaskFileError {
    /// The path as given to `--task`.
    pub(crate) path: PathBuf,
    /// What is wrong with it.
    #[source]
    pub(crate) problem: TaskFileProblem,
}

/// What is wrong with a task file (never repeats the path; [`TaskFileError`] says it).
#[derive(Debug, thiserror::Error)]
pub(crate) enum TaskFileProblem {
    /// Nothing at the path.
    #[error("does not exist: check --task")]
    Missing,
    /// A folder, FIFO or device.
    #[error("is a {0}, not a regular file: --task names a JSON file")]
    NotAFile(&'static str),
    /// Larger than [`MAX_TASK_BYTES`].
    #[error("is larger than {MAX_TASK_BYTES} bytes")]
    TooLarge,
    /// Could not be opened or read.
    #[error("cannot read it ({0})")]
    Io(#[source] std::io::Error),
    /// Zero bytes, or only whitespace.
    #[error("empty file: it must hold one JSON object")]
    Empty,
    /// Not JSON at all.
    #[error("not JSON ({0})")]
    NotJson(#[source] serde_json::Error),
    /// JSON, but not an object.
    #[error("must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    /// Not a task for the reference Case.
    #[error("not a task for the reference Case: {0}")]
    ReferenceTask(#[source] TaskError),
}

/// The task gate: reads `path` and returns its bytes when they may be handed to Case.
/// `reference_case` is true when the bundled reference Case runs (its format is checked too).
pub(crate) fn read_task_file(path: &Path, reference_case: bool) -> Result<Vec<u8>, TaskFileError> {
    let error = |problem| TaskFileError {
        path: path.to_owned(),
        problem,
    };
    let bytes = read_bounded(path).map_err(error)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(error(TaskFileProblem::Empty));
    }
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(_)) => {}
        Ok(other) => return Err(error(TaskFileProblem::NotAnObject(json_kind(&other)))),
        Err(err) => return Err(error(TaskFileProblem::NotJson(err))),
    }
    if reference_case {
        parse_task(&bytes).map_err(|err| error(TaskFileProblem::ReferenceTask(err)))?;
    }
    Ok(bytes)
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, TaskFileProblem> {
    use crate::guarded_files::{FinalSymlink, RunFileError, read_guarded};
    read_guarded(path, MAX_TASK_BYTES, FinalSymlink::Follow).map_err(|err| match err {
        RunFileError::Missing { .. } => TaskFileProblem::Missing,
        RunFileError::NotRegular { kind, .. } => TaskFileProblem::NotAFile(kind),
        RunFileError::TooLarge { .. } => TaskFileProblem::TooLarge,
        RunFileError::Io { source, .. } => TaskFileProblem::Io(source),
    })
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A task for the reference Case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Task {
    pub(crate) prompt: String,
    #[serde(default)]
    pub(crate) system: Option<String>,
    #[serde(default = "default_max_tokens")]
    pub(crate) max_tokens: u32,
    #[serde(default)]
    pub(crate) temperature: f64,
    #[serde(default)]
    pub(crate) stream: bool,
    #[serde(default)]
    pub(crate) checks: Vec<Check>,
}

fn default_max_tokens() -> u32 {
    64
}

/// One check on the reference Case's reply.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Check {
    NonEmpty,
    Contains { value: String },
    NotContains { value: String },
    Word { value: String },
    Exact { value: String },
    Regex { value: String },
}

impl Check {
    /// Whether the check holds on `reply`. A pattern that does not compile never holds
    /// ([`parse_task`] refuses it before the run, so this is only a second line).
    pub(crate) fn holds(&self, reply: &str) -> bool {
        match self {
            Check::NonEmpty => !reply.trim().is_empty(),
            Check::Contains { value } => reply.contains(value.as_str()),
            Check::NotContains { value } => !reply.contains(value.as_str()),
            Check::Word { value } => word_pattern(value).is_ok_and(|pattern| pattern.is_match(reply)),
            Check::Exact { value } => reply.trim() == value.trim(),
            Check::Regex { value } => regex::Regex::new(value).is_ok_and(|pattern| pattern.is_match(reply)),
        }
    }

    /// What is wrong with the check itself (an empty value, a pattern that does not compile).
    fn problem(&self) -> Option<String> {
        match self {
            Check::NonEmpty => None,
            Check::Contains { value }
            | Check::NotContains { value }
            | Check::Word { value }
            | Check::Exact { value }
                if value.trim().is_empty() =>
            {
                Some("`value` is empty: give the text to look for".to_owned())
            }
            Check::Regex { value } => regex::Regex::new(value)
                .err()
                .map(|err| format!("`value` is not a valid regex ({err})")),
            _ => None,
        }
    }
}

/// `value` as a whole word, case-insensitively: not preceded or followed by a letter, digit or
/// `_` (Unicode-aware), so a value that starts or ends with punctuation works too.
fn word_pattern(value: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!(r"(?iu)(?:^|\W){}(?:\W|$)", regex::escape(value)))
}

/// Why a task file is not a task for the reference Case: the field and what to do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TaskError {
    /// Not JSON, a wrong type, an unknown or a missing field (the path names the field).
    #[error("field `{path}`: {source}")]
    Field {
        /// Where in the task, e.g. `checks[1].kind` or `.` for the whole file.
        path: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// A check that could never be judged as meant.
    #[error("field `checks[{index}]`: {problem}")]
    Check {
        /// Its position in `checks`.
        index: usize,
        /// What is wrong.
        problem: String,
    },
}

/// Parses and checks a task for the reference Case: unknown fields refused, every check
/// judgeable. The task gate and the reference Case itself both read a task this way.
pub(crate) fn parse_task(bytes: &[u8]) -> Result<Task, TaskError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let task: Task = serde_path_to_error::deserialize(deserializer).map_err(|err| TaskError::Field {
        path: err.path().to_string(),
        source: err.into_inner(),
    })?;
    if let Some((index, problem)) = task
        .checks
        .iter()
        .enumerate()
        .find_map(|(index, check)| check.problem().map(|problem| (index, problem)))
    {
        return Err(TaskError::Check { index, problem });
    }
    Ok(task)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: &str, value: &str) -> Check {
        serde_json::from_value(serde_json::json!({ "kind": kind, "value": value })).expect("a check")
    }

    #[test]
    fn word_is_a_whole_word_case_insensitively() {
        let paris = check("word", "Paris");
        assert!(paris.holds("The capital of France is Paris."));
        assert!(paris.holds("paris"));
        assert!(paris.holds("PARIS, of course"));
        assert!(!paris.holds("…LAS PARISES."), "a longer word is not the word");
        assert!(!paris.holds("Parisian"));
        assert!(!paris.holds("_paris"));
        assert!(check("word", "C++").holds("I write C++ daily"));
        // `contains` alone is fooled by exactly this reply.
        assert!(check("contains", "PARIS").holds("…LAS PARISES."));
    }

    #[test]
    fn exact_compares_after_trimming() {
        let exact = check("exact", "Paris");
        assert!(exact.holds("  Paris\n"));
        assert!(!exact.holds("Paris."));
        assert!(!exact.holds("paris"));
    }

    #[test]
    fn regex_and_not_contains() {
        let pattern = check("regex", r"^\s*Paris\.?\s*$");
        assert!(pattern.holds("Paris."));
        assert!(!pattern.holds("It is Paris."));
        let absent = check("not_contains", "London");
        assert!(absent.holds("Paris"));
        assert!(!absent.holds("London, not Paris"));
    }

    #[test]
    fn a_task_is_refused_naming_the_field() {
        let typo = br#"{"prompt": "hi", "temprature": 0}"#;
        let err = parse_task(typo).expect_err("a typo");
        assert!(err.to_string().contains("temprature"), "{err}");
        let bad_kind = br#"{"prompt": "hi", "checks": [{"kind": "non_empty"}, {"kind": "wrod", "value": "x"}]}"#;
        let err = parse_task(bad_kind).expect_err("an unknown kind");
        assert!(err.to_string().contains("checks[1]"), "{err}");
        let bad_regex = br#"{"prompt": "hi", "checks": [{"kind": "regex", "value": "(unclosed"}]}"#;
        let err = parse_task(bad_regex).expect_err("a regex that does not compile");
        assert!(
            err.to_string().contains("checks[0]") && err.to_string().contains("regex"),
            "{err}"
        );
        let empty = br#"{"prompt": "hi", "checks": [{"kind": "word", "value": " "}]}"#;
        assert!(parse_task(empty).is_err());
        let bundled = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/tasks/capital-of-france.json"
        ))
        .expect("the bundled task");
        parse_task(&bundled).expect("the bundled task is valid");
    }

    #[test]
    fn the_gate_refuses_what_is_not_a_task_file_naming_the_path_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let refused = |name: &str, bytes: Option<&[u8]>, reference: bool| -> String {
            let path = dir.path().join(name);
            if let Some(bytes) = bytes {
                std::fs::write(&path, bytes).expect("write");
            }
            let err = read_task_file(&path, reference).expect_err("refused").to_string();
            assert_eq!(err.matches(&path.display().to_string()).count(), 1, "{err}");
            assert!(err.starts_with("task_file_invalid: "), "{err}");
            err
        };
        assert!(refused("missing.json", None, false).contains("does not exist"));
        assert!(refused("empty.json", Some(b""), false).contains("empty file"));
        assert!(refused("blank.json", Some(b"  \n"), false).contains("empty file"));
        assert!(refused("array.json", Some(b"[]"), false).contains("must be a JSON object, not an array"));
        assert!(refused("junk.json", Some(b"{nope"), false).contains("not JSON"));
        let typo = refused("typo.json", Some(br#"{"prompt": "hi", "temprature": 0}"#), true);
        assert!(typo.contains("`temprature`"), "{typo}");
        std::fs::create_dir(dir.path().join("folder.json")).expect("mkdir");
        let err = read_task_file(&dir.path().join("folder.json"), false).expect_err("a folder");
        assert!(err.to_string().contains("is a folder, not a regular file"), "{err}");
        std::fs::write(dir.path().join("big.json"), vec![b' '; MAX_TASK_BYTES as usize + 1]).expect("write");
        let err = read_task_file(&dir.path().join("big.json"), false).expect_err("too large");
        assert!(err.to_string().contains("larger than"), "{err}");
        // Another Case's task format is its own: any JSON object passes the gate.
        let path = dir.path().join("other.json");
        std::fs::write(&path, br#"{"temprature": 0}"#).expect("write");
        assert!(read_task_file(&path, false).is_ok());
    }
}
