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
//! Task file: the format of [`crate::task_file`] (unknown fields refused; `word`, `exact`,
//! `regex`, `contains`, `not_contains` and `non_empty` checks).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::Exit;
use crate::config::Environment;
use crate::task_file::{Task, TaskError, parse_task};

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

fn variable(environment: &Environment, name: &'static str) -> Result<String, ContractError> {
    environment
        .var(name)
        .filter(|value| !value.is_empty())
        .ok_or(ContractError::Unset { name })
}

fn contract(environment: &Environment) -> Result<Contract, ContractError> {
    Ok(Contract {
        base_url: variable(environment, "CASE_BASE_URL")?,
        model: variable(environment, "CASE_MODEL")?,
        api_key: variable(environment, "CASE_API_KEY")?,
        task_file: PathBuf::from(variable(environment, "CASE_TASK_FILE")?),
        output_dir: PathBuf::from(variable(environment, "CASE_OUTPUT_DIR")?),
    })
}

/// Runs the reference Case in this process: [`Exit::Success`] on pass, [`Exit::Failed`] on
/// fail, [`Exit::Error`] when the contract itself is broken.
pub(crate) fn main(environment: &Environment) -> Exit {
    match run(environment) {
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

fn run(environment: &Environment) -> Result<Exit, ContractError> {
    let contract = contract(environment)?;
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
