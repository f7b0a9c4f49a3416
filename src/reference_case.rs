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
//!   "checks": [ {"kind": "non_empty"}, {"kind": "contains", "value": "Paris"} ] }
//! ```
//! `contains` is an exact, case-sensitive substring test on the reply.

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
}

impl Check {
    fn holds(&self, reply: &str) -> bool {
        match self {
            Check::NonEmpty => !reply.trim().is_empty(),
            Check::Contains { value } => reply.contains(value.as_str()),
        }
    }
}

struct Contract {
    base_url: String,
    model: String,
    api_key: String,
    task_file: PathBuf,
    output_dir: PathBuf,
}

fn variable(name: &str) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .ok_or_else(|| format!("{name} is not set: run me through `case-harness run`"))
}

fn contract() -> Result<Contract, String> {
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
    let contract = match contract() {
        Ok(contract) => contract,
        Err(message) => {
            eprintln!("reference-case: {message}");
            return Exit::Error;
        }
    };
    let task: Task = match std::fs::read(&contract.task_file)
        .map_err(|err| err.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|err| err.to_string()))
    {
        Ok(task) => task,
        Err(err) => {
            eprintln!("reference-case: task file {}: {err}", contract.task_file.display());
            return Exit::Error;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("reference-case: cannot start a runtime: {err}");
            return Exit::Error;
        }
    };
    let answer = runtime.block_on(ask(&contract, &task));
    let (reply, error) = match answer {
        Ok(reply) => (Some(reply), None),
        Err(err) => (None, Some(err)),
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
    let written = serde_json::to_vec_pretty(&result)
        .map_err(|err| err.to_string())
        .and_then(|bytes| std::fs::write(&path, bytes).map_err(|err| err.to_string()));
    if let Err(err) = written {
        eprintln!("reference-case: cannot write {}: {err}", path.display());
        return Exit::Error;
    }
    if pass { Exit::Success } else { Exit::Failed }
}

/// One chat completion through the adapter; returns the assistant's text.
async fn ask(contract: &Contract, task: &Task) -> Result<String, String> {
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
        .map_err(|err| format!("cannot build an HTTP client: {}", err.without_url()))?;
    let url = format!("{}/chat/completions", contract.base_url.trim_end_matches('/'));
    let mut response = client
        .post(url)
        .bearer_auth(&contract.api_key)
        .json(&body)
        .send()
        .await
        .map_err(|err| format!("request failed: {}", err.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        return Err(format!("HTTP {status}: {}", text.chars().take(500).collect::<String>()));
    }
    if !task.stream {
        let value: Value = response
            .json()
            .await
            .map_err(|err| format!("answer is not JSON: {}", err.without_url()))?;
        return value["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "answer has no choices[0].message.content".to_owned());
    }
    // Streaming: concatenate `delta.content` from each `data:` line.
    let mut reply = String::new();
    let mut pending = String::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| format!("stream failed: {}", err.without_url()))?
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
            let value: Value = serde_json::from_str(data).map_err(|err| format!("bad stream chunk: {err}"))?;
            if let Some(text) = value["choices"][0]["delta"]["content"].as_str() {
                reply.push_str(text);
            }
        }
    }
    Ok(reply)
}
