//! What in a Case command line *configures* an external model, provider or endpoint.
//!
//! The external-fallback gate used to block any argument that merely contained `claude` or
//! `anthropic`, which blocked the Claude Code binary itself (`claude`) and any script whose
//! file name or folder holds one of those words (`sdk/anthropic_case.py`). What the route
//! forbids is a Case *configured* to reach something other than the admitted local model, so
//! this module looks for configuration, never for names of programs or files:
//!
//! * a model flag (`--model`, `--small-fast-model`, …) whose value names an external
//!   provider or model (`claude-sonnet-4-6`, `anthropic/…`, `bedrock/…`, `qwen3:cloud`);
//! * a fallback-model flag (`--fallback-model …`) with any value but the admitted model;
//! * a provider flag (`--provider anthropic`) naming a hosted provider;
//! * an endpoint flag (`--base-url`, `--api-base`, …) or any URL anywhere whose host is not
//!   loopback (`127.0.0.0/8`, `::1`, `localhost`);
//! * an assignment `NAME=VALUE` (e.g. through `env` or `sh -c`) to a variable that routes an
//!   agent or carries a provider credential (`ANTHROPIC_BASE_URL=…`, `CLAUDE_CODE_USE_BEDROCK=1`);
//! * inline JSON configuration (`--settings '{"env": {...}, "model": ...}'`) doing any of that;
//! * a bare Claude model id as an argument (`claude-sonnet-4-6`: a model id, not a file).
//!
//! * for Codex CLI, from the argument that runs it: `-m`, `--oss`, `--profile` and `-c` settings
//!   of `model`, `model_provider` and `model_providers.<id>` ([`codex`]);
//! * an assignment to a `CODEX_…` variable (`CODEX_HOME=…` points Codex at a configuration
//!   the harness did not make).
//!
//! Arguments are also split on whitespace, so a shell script given with `sh -c "…"` is judged
//! word by word. The program (argument 0) is never judged. Findings name the argument and
//! what it configures; variable values and URL credentials are never echoed. The README's
//! "Case command line" table lists examples of both kinds.

mod codex;

use crate::external_names::SCRUBBED_PATTERNS;

/// Flags whose value selects the model an agent asks for.
const MODEL_FLAGS: &[&str] = &[
    "model",
    "model-name",
    "llm-model",
    "small-fast-model",
    "weak-model",
    "editor-model",
    "subagent-model",
];

/// Flags whose value is a model to fall back to: a fallback is what the route forbids.
const FALLBACK_FLAGS: &[&str] = &["fallback-model", "fallback-models", "fallback"];

/// Flags whose value names the provider an agent talks to.
const PROVIDER_FLAGS: &[&str] = &["provider", "api-provider", "llm-provider", "model-provider"];

/// Flags whose value is the endpoint an agent talks to.
const ENDPOINT_FLAGS: &[&str] = &[
    "base-url",
    "api-base",
    "api-base-url",
    "api-url",
    "endpoint",
    "openai-api-base",
    "anthropic-base-url",
];

/// Hosted providers that a provider flag or a `provider/model` value may name.
const HOSTED_PROVIDERS: &[&str] = &[
    "anthropic",
    "claude",
    "bedrock",
    "vertex",
    "vertex_ai",
    "azure",
    "gemini",
    "google",
    "openrouter",
    "together",
    "together_ai",
    "fireworks",
    "fireworks_ai",
    "groq",
    "mistral",
    "cohere",
    "deepseek",
    "xai",
];

/// Switches in the scrubbed families that only turn traffic or telemetry *off*; an
/// assignment to one of them configures no route. (The harness sets them itself.)
const HARMLESS_ASSIGNMENTS: &[&str] = &[
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "CLAUDE_CODE_ATTRIBUTION_HEADER",
    "DISABLE_NON_ESSENTIAL_MODEL_CALLS",
    "OLLAMA_NO_CLOUD",
];

/// Keys of inline JSON configuration (Claude Code's `--settings`, and similar) that select a
/// model or a fallback.
const JSON_MODEL_KEYS: &[&str] = &["model", "smallFastModel", "small_fast_model", "subagentModel"];
const JSON_FALLBACK_KEYS: &[&str] = &["fallbackModel", "fallback_model", "fallbackModels", "fallbacks"];

/// One piece of external configuration found on the command line, as a message fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArgvFinding(pub(crate) String);

/// Every external model, provider or endpoint that `command` configures. `admitted_model`
/// (when the admission loaded) is the one model a model or fallback flag may name freely.
pub(crate) fn external_configuration(command: &[String], admitted_model: Option<&str>) -> Vec<ArgvFinding> {
    let judge = Judge { admitted_model };
    let codex = codex::CodexJudge {
        admitted_model,
        defined_providers: codex::CodexJudge::defined_providers(command),
    };
    // Codex's flags count from the first argument or word that runs it (the program too).
    let mut in_codex = command
        .first()
        .is_some_and(|program| program.split_whitespace().map(trim_shell).any(codex::runs_codex));
    let mut findings = Vec::new();
    for (index, arg) in command.iter().enumerate().skip(1) {
        let mut found = Vec::new();
        if let Ok(serde_json::Value::Object(object)) = serde_json::from_str::<serde_json::Value>(arg) {
            judge.json_object(&object, &mut found);
        }
        let words: Vec<&str> = arg
            .split_whitespace()
            .map(trim_shell)
            .filter(|w| !w.is_empty())
            .collect();
        // The flag before this argument counts for its first word (`--model` `claude-…`).
        let previous_flag = index
            .checked_sub(1)
            .filter(|previous| *previous >= 1)
            .and_then(|previous| command.get(previous))
            .and_then(|previous| previous.split_whitespace().last())
            .map(trim_shell);
        if in_codex {
            codex.argument(arg, previous_flag, &mut found);
        }
        for (position, word) in words.iter().enumerate() {
            let flag = if position == 0 {
                previous_flag
            } else {
                Some(words[position - 1])
            };
            judge.word(word, flag, &mut found);
            if in_codex {
                codex.word(word, position.checked_sub(1).map(|before| words[before]), &mut found);
            }
            in_codex |= codex::runs_codex(word);
        }
        found.dedup();
        findings.extend(
            found
                .into_iter()
                .map(|what| ArgvFinding(format!("Case command argument {index} {what}"))),
        );
    }
    findings
}

struct Judge<'a> {
    admitted_model: Option<&'a str>,
}

impl Judge<'_> {
    /// Judges one word, given the word (or argument) just before it.
    fn word(&self, word: &str, previous: Option<&str>, found: &mut Vec<String>) {
        let before = found.len();
        if let Some((flag, value)) = long_flag_with_value(word) {
            self.flag_value(&flag, trim_shell(value), found);
        } else if let Some(flag) = previous.and_then(long_flag_name) {
            self.flag_value(&flag, word, found);
        }
        if let Some((name, value)) = assignment(word) {
            self.assignment(name, value, found);
        }
        if let Some(what) = non_loopback_url(word) {
            found.push(what);
        }
        // A model id already reported as a flag's value is not reported twice.
        if found.len() == before && looks_like_claude_model_id(word) {
            found.push(format!(
                "names the Claude model {word:?}: a Case may use only the admitted model"
            ));
        }
    }

    fn flag_value(&self, flag: &str, value: &str, found: &mut Vec<String>) {
        if value.is_empty() || value.starts_with('-') {
            return;
        }
        if MODEL_FLAGS.contains(&flag) {
            if let Some(name) = self.external_model(value) {
                found.push(format!("sets --{flag} to {} (names `{name}`)", shown_value(value)));
            }
        } else if FALLBACK_FLAGS.contains(&flag) {
            if !self.is_admitted_or_variable(value) {
                found.push(format!("configures a fallback model: --{flag} {}", shown_value(value)));
            }
        } else if PROVIDER_FLAGS.contains(&flag) {
            if let Some(name) = hosted_provider(value) {
                found.push(format!("sets --{flag} to the hosted provider `{name}`"));
            }
        } else if ENDPOINT_FLAGS.contains(&flag) && !value.contains("://") && !is_variable(value) {
            let host = value.split([':', '/']).next().unwrap_or(value);
            if !is_loopback_host(host) {
                found.push(format!(
                    "sets --{flag} to the non-loopback endpoint {}",
                    shown_value(host)
                ));
            }
        }
    }

    fn assignment(&self, name: &str, value: &str, found: &mut Vec<String>) {
        if HARMLESS_ASSIGNMENTS.contains(&name) {
            return;
        }
        if name.starts_with("CODEX_") {
            found.push(format!(
                "assigns {name}, which points Codex at a home or key the harness did not make \
                 (the harness sets CODEX_HOME to a fresh case-home/.codex; the value is not shown)"
            ));
        } else if SCRUBBED_PATTERNS.iter().any(|pattern| name.starts_with(pattern)) {
            found.push(format!(
                "assigns {name}, a variable that routes an agent or carries a provider credential \
                 (the harness sets the ones Case needs; the value is not shown)"
            ));
        } else if let Some(what) = non_loopback_url(value) {
            found.push(format!("assigns {name}: {what}"));
        }
    }

    fn json_object(&self, object: &serde_json::Map<String, serde_json::Value>, found: &mut Vec<String>) {
        for (key, value) in object {
            match value {
                serde_json::Value::Object(inner) if key == "env" => {
                    for (name, value) in inner {
                        let text = value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string());
                        self.assignment(name, &text, found);
                    }
                }
                serde_json::Value::Object(inner) => self.json_object(inner, found),
                serde_json::Value::String(text) if JSON_MODEL_KEYS.contains(&key.as_str()) => {
                    if let Some(name) = self.external_model(text) {
                        found.push(format!("sets `{key}` to {} (names `{name}`)", shown_value(text)));
                    }
                }
                _ if JSON_FALLBACK_KEYS.contains(&key.as_str()) => {
                    let admitted_only = match value {
                        serde_json::Value::Array(items) => items
                            .iter()
                            .all(|item| item.as_str().is_some_and(|item| self.is_admitted_or_variable(item))),
                        serde_json::Value::String(text) => self.is_admitted_or_variable(text),
                        _ => value.is_null(),
                    };
                    if !admitted_only {
                        found.push(format!("configures a fallback model in `{key}`"));
                    }
                }
                serde_json::Value::String(text) => {
                    if let Some(what) = non_loopback_url(text) {
                        found.push(format!("sets `{key}`: {what}"));
                    }
                }
                _ => {}
            }
        }
    }

    /// The external name a model value names, if any.
    fn external_model(&self, value: &str) -> Option<&'static str> {
        // `--model /models/x.gguf` (llama.cpp and friends) names a file, not a model to ask for.
        if self.is_admitted_or_variable(value) || is_file_path(value) {
            return None;
        }
        if let Some(name) = crate::external_names::external_reference(value) {
            return Some(name);
        }
        // LiteLLM-style `provider/model`.
        value
            .split_once('/')
            .and_then(|(provider, _)| hosted_provider(provider))
    }

    fn is_admitted_or_variable(&self, value: &str) -> bool {
        is_variable(value) || self.admitted_model.is_some_and(|admitted| admitted == value)
    }
}

/// `--name=value` → (`name`, `value`), the name normalised.
fn long_flag_with_value(word: &str) -> Option<(String, &str)> {
    let (flag, value) = word.split_once('=')?;
    long_flag_name(flag).map(|name| (name, value))
}

/// `--Some_Flag` → `some-flag`; anything else (including `-m`: `python3 -m module`) → None.
fn long_flag_name(word: &str) -> Option<String> {
    let name = word.strip_prefix("--")?;
    if name.is_empty() || name.contains('=') {
        return None;
    }
    Some(name.to_ascii_lowercase().replace('_', "-"))
}

/// `NAME=value` with a shell variable name (upper case, digits, `_`).
fn assignment(word: &str) -> Option<(&str, &str)> {
    let (name, value) = word.split_once('=')?;
    let valid = !name.is_empty()
        && name.chars().next().is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    valid.then_some((name, trim_shell(value)))
}

/// A URL in `word` whose host is not loopback, described without credentials.
fn non_loopback_url(word: &str) -> Option<String> {
    let start = word.find("://")?;
    let scheme_start = word[..start]
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
        .map_or(0, |i| i + 1);
    let candidate = trim_shell(&word[scheme_start..]);
    let url = url::Url::parse(candidate).ok()?;
    if url.scheme() == "file" {
        return None;
    }
    let loopback = match url.host() {
        None => return None,
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost" || name.starts_with('$'),
    };
    (!loopback).then(|| {
        format!(
            "names the non-loopback endpoint {}://{}: Case may reach only the adapter",
            url.scheme(),
            url.host_str().unwrap_or_default()
        )
    })
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A hosted provider named by `value` (`anthropic`, `Bedrock`, `vertex_ai`…).
fn hosted_provider(value: &str) -> Option<&'static str> {
    let lower = value.to_ascii_lowercase();
    HOSTED_PROVIDERS.iter().copied().find(|provider| *provider == lower)
}

/// `claude-sonnet-4-6`, `claude-3-5-haiku-latest`, `claude-opus-4@20250514`: a Claude model id
/// (never a path: no `/`, no file extension).
fn looks_like_claude_model_id(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("claude-") else {
        return false;
    };
    let family = ["opus", "sonnet", "haiku", "instant", "2", "3", "4", "5"];
    !word.contains('/')
        && !std::path::Path::new(word)
            .extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| ext.len() <= 4 && ext.chars().all(|c| c.is_ascii_alphabetic()))
        && family.iter().any(|family| rest.starts_with(family))
}

/// A path to a file (`/m/x.gguf`, `./x`, `models/x.safetensors`), as opposed to a model id.
fn is_file_path(value: &str) -> bool {
    const MODEL_FILE_EXTENSIONS: &[&str] = &["gguf", "ggml", "bin", "safetensors", "onnx", "pt", "pth"];
    ["/", "./", "../", "~/"].iter().any(|prefix| value.starts_with(prefix))
        || std::path::Path::new(value)
            .extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| MODEL_FILE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
}

/// `$CASE_MODEL`, `${CASE_MODEL}`: expands to a value from Case's environment, which the
/// harness builds and the gate checks on its own.
fn is_variable(value: &str) -> bool {
    value.starts_with('$')
}

/// Shell quoting and punctuation around a word (`"…"`, `'…'`, a trailing `;`).
fn trim_shell(word: &str) -> &str {
    word.trim_matches(|c: char| matches!(c, '"' | '\'' | ';' | '&' | '|' | '(' | ')' | '`'))
}

/// A value as it may be shown: identifiers as they are, anything else not at all.
fn shown_value(value: &str) -> String {
    let plain = value.len() <= 80
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/' | '@'));
    if plain {
        format!("{value:?}")
    } else {
        "(a value not shown)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(args: &[&str]) -> Vec<String> {
        let command: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        external_configuration(&command, Some("smollm2-135m-instruct"))
            .into_iter()
            .map(|finding| finding.0)
            .collect()
    }

    #[test]
    fn program_paths_and_file_names_never_count() {
        for command in [
            &["claude", "-p", "--bare", "--model", "smollm2-135m-instruct", "Say hi"][..],
            &["/opt/claude-tools/run.sh"],
            &["python3", "sdk/anthropic_case.py"],
            &["python3", "-m", "anthropic_case"],
            &[
                "/usr/bin/claude",
                "-p",
                "--model",
                "$CASE_MODEL",
                "--output-format",
                "json",
                "hi",
            ],
            &[
                "sh",
                "-c",
                "exec claude -p --model \"$CASE_MODEL\" hi > \"$CASE_OUTPUT_DIR/out.json\"",
            ],
            &["env", "CLAUDE_CODE_ATTRIBUTION_HEADER=0", "claude", "-p", "hi"],
            &["node", "claude-case.js", "--base-url", "http://127.0.0.1:8080/v1"],
            &[
                "case",
                "--endpoint",
                "localhost:8080",
                "--settings",
                "claude-settings.json",
            ],
            &["llama-case", "--model", "/models/claude-distill.gguf"],
            &["claude", "--fallback-model", "smollm2-135m-instruct", "-p", "hi"],
            &["curl", "http://[::1]:9/v1/models", "file:///etc/anthropic/x"],
        ] {
            assert_eq!(judged(command), Vec::<String>::new(), "{command:?}");
        }
    }

    #[test]
    fn configuring_an_external_model_provider_or_endpoint_counts() {
        for (command, expected) in [
            (
                &["claude", "--model", "claude-sonnet-4-6"][..],
                "argument 2 sets --model",
            ),
            (&["claude", "--model=claude-sonnet-4-6"], "argument 1 sets --model"),
            (&["agent", "--model", "anthropic/claude-3-5-haiku"], "names `anthropic`"),
            (&["agent", "--model", "bedrock/llama3"], "names `bedrock`"),
            (&["agent", "--model", "qwen3:cloud"], "names `:cloud`"),
            (
                &["claude", "-p", "--fallback-model", "claude-haiku-4-5", "hi"],
                "configures a fallback model",
            ),
            (&["claude", "--fallback-model", "llama3"], "configures a fallback model"),
            (&["agent", "--provider", "anthropic"], "hosted provider `anthropic`"),
            (&["agent", "--provider=Bedrock"], "hosted provider `bedrock`"),
            (
                &["agent", "--base-url", "https://api.example.com/v1"],
                "non-loopback endpoint https://api.example.com",
            ),
            (
                &["agent", "--api-base", "10.0.0.7:8080"],
                "non-loopback endpoint \"10.0.0.7\"",
            ),
            (
                &["agent", "see http://169.254.169.254/latest"],
                "non-loopback endpoint http://169.254.169.254",
            ),
            (
                &["env", "ANTHROPIC_BASE_URL=http://127.0.0.1:9", "claude"],
                "assigns ANTHROPIC_BASE_URL",
            ),
            (
                &["env", "CLAUDE_CODE_USE_BEDROCK=1", "claude"],
                "assigns CLAUDE_CODE_USE_BEDROCK",
            ),
            (
                &["sh", "-c", "OPENAI_API_KEY=sk-x python3 case.py"],
                "assigns OPENAI_API_KEY",
            ),
            (
                &["sh", "-c", "export HTTPS_PROXY=http://127.0.0.1:3128; claude -p hi"],
                "assigns HTTPS_PROXY",
            ),
            (
                &["sh", "-c", "API=https://api.example.org python3 c.py"],
                "assigns API: names the non-loopback",
            ),
            (
                &[
                    "claude",
                    "--settings",
                    r#"{"env": {"ANTHROPIC_BASE_URL": "http://127.0.0.1:1"}}"#,
                ],
                "assigns ANTHROPIC_BASE_URL",
            ),
            (
                &["claude", "--settings", r#"{"model": "claude-opus-4-1"}"#],
                "sets `model`",
            ),
            (
                &["claude", "--settings", r#"{"fallbackModel": "sonnet"}"#],
                "configures a fallback model in `fallbackModel`",
            ),
            (
                &["sh", "-c", "touch x", "case", "--model", "claude-sonnet-4-6"],
                "argument 5 sets --model",
            ),
            (
                &["agent", "claude-sonnet-4-6"],
                "names the Claude model \"claude-sonnet-4-6\"",
            ),
        ] {
            let found = judged(command);
            assert!(
                found.iter().any(|finding| finding.contains(expected)),
                "{command:?}: expected {expected:?} in {found:?}"
            );
        }
    }

    #[test]
    fn values_of_assignments_and_url_credentials_are_never_echoed() {
        let found = judged(&[
            "sh",
            "-c",
            "ANTHROPIC_API_KEY=sk-sekrit-1 claude --base-url https://user:sekrit2@api.example.com/?key=sekrit3",
        ])
        .join("\n");
        assert!(found.contains("ANTHROPIC_API_KEY"), "{found}");
        assert!(found.contains("api.example.com"), "{found}");
        assert!(!found.contains("sekrit"), "{found}");
    }

    #[test]
    fn without_an_admission_only_external_names_count_for_models() {
        let command: Vec<String> = ["agent", "--model", "llama3", "--model", "claude-3-opus"]
            .iter()
            .map(|arg| (*arg).to_owned())
            .collect();
        let found = external_configuration(&command, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].0.contains("argument 4"), "{found:?}");
    }
}
