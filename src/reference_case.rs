//! The reference **Case**: the smallest agent that honours the Case contract, so that
//! `case-harness run` works out of the box. Any other Case-compatible command can replace it.
//!
//! It is a hidden subcommand of the one binary (`case-harness reference-case`), not a second
//! binary: `cargo run` builds only the default binary, so a separate one was missing on a
//! fresh clone and the README's first command failed (see docs/decisions.md).
//!
//! Contract (README, "`run` and its run folder"): reads `CASE_TASK_FILE`, talks to `CASE_BASE_URL` (an
//! OpenAI-compatible `/v1` base — the harness's adapter) as `CASE_MODEL` with bearer
//! `CASE_API_KEY`, and writes `$CASE_OUTPUT_DIR/result.json`:
//! `{"verdict":"pass"|"fail","reply":…,"checks":[…],"error":…}`. Exit 0 on pass, 1 on fail,
//! 2 when the contract itself is broken (missing variable, unreadable task).
//!
//! Task file (JSON, unknown fields refused):
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
//!   but not in "LAS PARISES.");
//! - `exact`: the reply, trimmed, equals the value, trimmed;
//! - `regex`: the pattern (the `regex` crate's syntax) matches somewhere in the reply.
//!
//! `case-harness run` validates a task with [`validate_task`] before anything is written or
//! spawned when this Case is the one that runs (gate `task_file_invalid`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cli::Exit;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Task {
    prompt: String,
    #[serde(default)]
    system: Option<String>,
    #[serde(default = "default_max_tokens")]
    max_tokens: u32,
    #[serde(default)]
    temperature: f64,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    checks: Vec<Check>,
}

fn default_max_tokens() -> u32 {
    64
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum Check {
    NonEmpty,
    Contains { value: String },
    NotContains { value: String },
    Word { value: String },
    Exact { value: String },
    Regex { value: String },
}

impl Check {
    /// Whether the check holds on `reply`. A pattern that does not compile never holds
    /// ([`validate_task`] refuses it before the run, so this is only a second line).
    fn holds(&self, reply: &str) -> bool {
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

/// Parses and checks a task for the reference Case (unknown fields refused, every check
/// judgeable), as the run's task gate does before Case starts.
pub(crate) fn validate_task(bytes: &[u8]) -> Result<(), TaskError> {
    parse_task(bytes).map(|_| ())
}

fn parse_task(bytes: &[u8]) -> Result<Task, TaskError> {
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

struct Contract {
    base_url: String,
    model: String,
    api_key: String,
    task_file: PathBuf,
    output_dir: PathBuf,
}

/// Why the reference Case cannot even ask (exit 2): the contract is broken.
#[derive(Debug, thiserror::Error)]
enum ContractError {
    /// A contract variable is missing or empty.
    #[error("{name} is not set: run me through `case-harness run`")]
    Unset { name: &'static str },
    /// The task file cannot be read.
    #[error("task file {}: {source}", path.display())]
    TaskUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The task file is not a task.
    #[error("task file {}: {source}", path.display())]
    TaskInvalid {
        path: PathBuf,
        #[source]
        source: TaskError,
    },
    /// No async runtime.
    #[error("cannot start a runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// `result.json` cannot be encoded.
    #[error("cannot encode result.json: {0}")]
    Encode(#[source] serde_json::Error),
    /// `result.json` cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Why the model gave no reply (recorded in `result.json`; the verdict is `fail`).
#[derive(Debug, thiserror::Error)]
enum AskError {
    #[error("cannot build an HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("request failed: {0}")]
    Request(#[source] reqwest::Error),
    #[error("HTTP {status}: {body}")]
    Status {
        status: reqwest::StatusCode,
        /// The first 500 characters of the answer.
        body: String,
    },
    #[error("answer is not JSON: {0}")]
    NotJson(#[source] reqwest::Error),
    #[error("answer has no choices[0].message.content")]
    NoContent,
    #[error("stream failed: {0}")]
    Stream(#[source] reqwest::Error),
    #[error("bad stream chunk: {0}")]
    BadChunk(#[source] serde_json::Error),
}

fn variable(name: &'static str) -> Result<String, ContractError> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .ok_or(ContractError::Unset { name })
}

fn contract() -> Result<Contract, ContractError> {
    Ok(Contract {
        base_url: variable("CASE_BASE_URL")?,
        model: variable("CASE_MODEL")?,
        api_key: variable("CASE_API_KEY")?,
        task_file: PathBuf::from(variable("CASE_TASK_FILE")?),
        output_dir: PathBuf::from(variable("CASE_OUTPUT_DIR")?),
    })
}

/// Runs the reference Case in this process: [`Exit::Success`] on pass, [`Exit::Failed`] on
/// fail, [`Exit::Error`] when the contract itself is broken.
pub(crate) fn main() -> Exit {
    match run() {
        Ok(exit) => exit,
        Err(error) => {
            eprintln!("reference-case: {error}");
            Exit::Error
        }
    }
}

fn read_task(path: &std::path::Path) -> Result<Task, ContractError> {
    let bytes = std::fs::read(path).map_err(|source| ContractError::TaskUnreadable {
        path: path.to_owned(),
        source,
    })?;
    parse_task(&bytes).map_err(|source| ContractError::TaskInvalid {
        path: path.to_owned(),
        source,
    })
}

fn run() -> Result<Exit, ContractError> {
    let contract = contract()?;
    let task = read_task(&contract.task_file)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ContractError::Runtime)?;
    let answer = runtime.block_on(ask(&contract, &task));
    let (reply, error) = match answer {
        Ok(reply) => (Some(reply), None),
        Err(err) => (None, Some(err.to_string())),
    };
    let checks: Vec<Value> = task
        .checks
        .iter()
        .map(|check| {
            let passed = reply.as_deref().is_some_and(|reply| check.holds(reply));
            let mut value = serde_json::to_value(check).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut value {
                map.insert("passed".to_owned(), Value::Bool(passed));
            }
            value
        })
        .collect();
    let pass = error.is_none() && checks.iter().all(|check| check["passed"] == Value::Bool(true));
    let verdict = if pass { "pass" } else { "fail" };
    println!(
        "reference-case: model {} replied {:?}; verdict {verdict}",
        contract.model,
        reply.as_deref().unwrap_or("")
    );
    if let Some(error) = &error {
        eprintln!("reference-case: {error}");
    }
    let result = json!({ "verdict": verdict, "model": contract.model, "prompt": task.prompt, "reply": reply, "checks": checks, "error": error });
    let path = contract.output_dir.join("result.json");
    let bytes = serde_json::to_vec_pretty(&result).map_err(ContractError::Encode)?;
    std::fs::write(&path, bytes).map_err(|source| ContractError::Write { path, source })?;
    Ok(if pass { Exit::Success } else { Exit::Failed })
}

/// One chat completion through the adapter; returns the assistant's text.
async fn ask(contract: &Contract, task: &Task) -> Result<String, AskError> {
    let mut messages = Vec::new();
    if let Some(system) = &task.system {
        messages.push(json!({ "role": "system", "content": system }));
    }
    messages.push(json!({ "role": "user", "content": task.prompt }));
    let body = json!({
        "model": contract.model,
        "messages": messages,
        "max_tokens": task.max_tokens,
        "temperature": task.temperature,
        "stream": task.stream,
    });
    let client = crate::upstream::loopback_client(Some(Duration::from_secs(120)))
        .map_err(|err| AskError::Client(err.without_url()))?;
    let url = format!("{}/chat/completions", contract.base_url.trim_end_matches('/'));
    let mut response = client
        .post(url)
        .bearer_auth(&contract.api_key)
        .json(&body)
        .send()
        .await
        .map_err(|err| AskError::Request(err.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        return Err(AskError::Status {
            status,
            body: text.chars().take(500).collect(),
        });
    }
    if !task.stream {
        let value: Value = response
            .json()
            .await
            .map_err(|err| AskError::NotJson(err.without_url()))?;
        return value["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_owned)
            .ok_or(AskError::NoContent);
    }
    // Streaming: concatenate `delta.content` from each `data:` line.
    let mut reply = String::new();
    let mut pending = String::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| AskError::Stream(err.without_url()))?
    {
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find('\n') {
            let line = pending[..end].trim_end_matches('\r').to_owned();
            pending.drain(..=end);
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                return Ok(reply);
            }
            let value: Value = serde_json::from_str(data).map_err(AskError::BadChunk)?;
            if let Some(text) = value["choices"][0]["delta"]["content"].as_str() {
                reply.push_str(text);
            }
        }
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: &str, value: &str) -> Check {
        serde_json::from_value(json!({ "kind": kind, "value": value })).expect("a check")
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
        let err = validate_task(typo).expect_err("a typo");
        assert!(err.to_string().contains("temprature"), "{err}");
        let bad_kind = br#"{"prompt": "hi", "checks": [{"kind": "non_empty"}, {"kind": "wrod", "value": "x"}]}"#;
        let err = validate_task(bad_kind).expect_err("an unknown kind");
        assert!(err.to_string().contains("checks[1]"), "{err}");
        let bad_regex = br#"{"prompt": "hi", "checks": [{"kind": "regex", "value": "(unclosed"}]}"#;
        let err = validate_task(bad_regex).expect_err("a regex that does not compile");
        assert!(err.to_string().contains("checks[0]") && err.to_string().contains("regex"), "{err}");
        let empty = br#"{"prompt": "hi", "checks": [{"kind": "word", "value": " "}]}"#;
        assert!(validate_task(empty).is_err());
        let bundled = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tasks/capital-of-france.json"))
            .expect("the bundled task");
        validate_task(&bundled).expect("the bundled task is valid");
    }
}
