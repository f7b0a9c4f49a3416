//! Which API the adapter speaks upstream for Case's Anthropic routes: translate them to
//! OpenAI chat completions, or pass them through to an upstream that speaks the Anthropic
//! Messages API itself (llama.cpp's `llama-server`, Ollama, vLLM, …). Pass-through keeps
//! what translation must refuse (thinking, images, exact token counts) while pinning stays
//! exactly the same.
//!
//! [`mode_for`] is the one decision. With `--upstream-api auto` (the default) the adapter
//! asks the upstream once at start, `POST {base}/messages/count_tokens` with a one-word
//! Messages body naming the admitted model: only a 200 whose JSON has an integer
//! `input_tokens` — which only a server that speaks the Messages API gives, and which
//! costs no generation — selects pass-through. Anything else (404 from an OpenAI-only
//! server such as llama-cpp-python, any other status, a timeout, a non-loopback peer, an
//! answer of another shape) selects translation. `anthropic` and `openai` skip the probe.

use std::str::FromStr;
use std::time::Duration;

use axum::http::HeaderValue;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::secrets::SecretValue;
use crate::upstream::{self, LocalBaseUrl};

/// The `anthropic-version` the adapter sends upstream when Case sends none.
pub(crate) const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

/// Longest probe answer read.
const MAX_PROBE_BODY_BYTES: usize = 64 * 1024;

/// Longest wait for the probe's answer (capped by `upstream_timeout`).
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the operator asked for (`--upstream-api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamApi {
    /// Probe the upstream at start and pass through when it speaks the Messages API.
    #[default]
    Auto,
    /// The upstream speaks the Anthropic Messages API: pass through, no probe.
    Anthropic,
    /// The upstream speaks only OpenAI chat completions: translate, no probe.
    OpenAi,
}

impl FromStr for UpstreamApi {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "auto" => Ok(UpstreamApi::Auto),
            "anthropic" => Ok(UpstreamApi::Anthropic),
            "openai" => Ok(UpstreamApi::OpenAi),
            other => Err(format!("{other:?} is not one of auto, anthropic, openai")),
        }
    }
}

impl UpstreamApi {
    /// The flag's spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            UpstreamApi::Auto => "auto",
            UpstreamApi::Anthropic => "anthropic",
            UpstreamApi::OpenAi => "openai",
        }
    }
}

pub use crate::output::AdapterMode;

/// What the start-up probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    /// `count_tokens` answered 200 with an integer `input_tokens`.
    SpeaksMessages,
    /// Anything else; the text says what (no URL, no body content).
    NoMessagesApi(String),
}

/// The one decision: the mode for `choice`, given the probe's finding when one was made.
pub(crate) fn mode_for(choice: UpstreamApi, probe: Option<&Probe>) -> AdapterMode {
    match (choice, probe) {
        (UpstreamApi::Anthropic, _) => AdapterMode::PassThrough,
        (UpstreamApi::OpenAi, _) => AdapterMode::Translate,
        (UpstreamApi::Auto, Some(Probe::SpeaksMessages)) => AdapterMode::PassThrough,
        (UpstreamApi::Auto, _) => AdapterMode::Translate,
    }
}

/// What the trace and the report say about how the mode was chosen.
pub(crate) fn explain(choice: UpstreamApi, probe: Option<&Probe>) -> String {
    match (choice, probe) {
        (UpstreamApi::Auto, Some(Probe::SpeaksMessages)) => {
            "probe: POST /messages/count_tokens answered 200 with input_tokens".to_owned()
        }
        (UpstreamApi::Auto, Some(Probe::NoMessagesApi(why))) => format!("probe: POST /messages/count_tokens {why}"),
        (choice, _) => format!("--upstream-api {}", choice.as_str()),
    }
}

/// Asks the upstream whether it speaks the Messages API (see the module docs). Only the
/// admitted model is named; the upstream key goes as `Authorization: Bearer` and
/// `x-api-key`; the answer must come from a loopback peer.
pub(crate) async fn probe(
    client: &reqwest::Client,
    base: &LocalBaseUrl,
    key: Option<&SecretValue>,
    model: &str,
    timeout: Duration,
) -> Probe {
    let body = json!({"model": model, "messages": [{"role": "user", "content": "ping"}]});
    let mut request = client
        .post(base.endpoint("messages/count_tokens"))
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .header("anthropic-version", DEFAULT_ANTHROPIC_VERSION)
        .body(body.to_string());
    if let Some(key) = key {
        request = request.bearer_auth(key.expose()).header("x-api-key", key.expose());
    }
    let asked = async {
        let mut answer = request
            .send()
            .await
            .map_err(|err| upstream::transport_error(base, err).to_string())?;
        upstream::check_peer(base, &answer).map_err(|err| err.to_string())?;
        let status = answer.status();
        if status.as_u16() != 200 {
            return Err(format!("answered HTTP {}", status.as_u16()));
        }
        upstream::read_body_bounded(&mut answer, MAX_PROBE_BODY_BYTES, None)
            .await
            .map_err(|err| match err {
                upstream::BodyReadError::Transport(err) => upstream::transport_error(base, err).to_string(),
                upstream::BodyReadError::TooLarge => "answered 200 with an oversized body".to_owned(),
                upstream::BodyReadError::Timeout => "did not answer in time".to_owned(),
            })
    };
    match tokio::time::timeout(timeout.min(PROBE_TIMEOUT), asked).await {
        Err(_) => Probe::NoMessagesApi("did not answer in time".to_owned()),
        Ok(Err(why)) => Probe::NoMessagesApi(why),
        Ok(Ok(bytes)) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) if value.get("input_tokens").is_some_and(Value::is_u64) => Probe::SpeaksMessages,
            _ => Probe::NoMessagesApi("answered 200 without an integer input_tokens".to_owned()),
        },
    }
}

/// What the first `POST /v1/responses` found out about the upstream's own Responses API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResponsesProbe {
    /// `POST {base}/responses` answered 200 with a JSON `response` object.
    SpeaksResponses,
    /// Anything else; the text says what (no URL, no body content).
    NoResponsesApi(String),
}

/// How `POST /v1/responses` is served: decided once, by the first such request, so that an
/// adapter whose Case never speaks the Responses API never asks (and the start-up probe of the
/// Anthropic routes stays the only request at start). `--upstream-api openai` means "chat
/// completions only": translate, no probe. Otherwise the upstream is asked once,
/// `POST {base}/responses` with a one-word input naming the admitted model and
/// `max_output_tokens: 1` (one generated token: the Responses API has no free request such
/// as `count_tokens`); only a 200 whose JSON has `"object": "response"` selects pass-through.
#[derive(Debug)]
pub(crate) struct ResponsesUpstream {
    choice: UpstreamApi,
    decided: tokio::sync::OnceCell<(AdapterMode, String)>,
}

impl ResponsesUpstream {
    pub(crate) fn new(choice: UpstreamApi) -> Self {
        ResponsesUpstream {
            choice,
            decided: tokio::sync::OnceCell::new(),
        }
    }

    /// The mode, and why (for the ledger line), probing with `probe` the first time only.
    pub(crate) async fn mode<F>(&self, probe: F) -> (AdapterMode, String)
    where
        F: std::future::Future<Output = ResponsesProbe>,
    {
        if self.choice == UpstreamApi::OpenAi {
            return (AdapterMode::Translate, "--upstream-api openai".to_owned());
        }
        self.decided
            .get_or_init(|| async {
                match probe.await {
                    ResponsesProbe::SpeaksResponses => (
                        AdapterMode::PassThrough,
                        "probe: POST /responses answered 200 with a response".to_owned(),
                    ),
                    ResponsesProbe::NoResponsesApi(why) => {
                        (AdapterMode::Translate, format!("probe: POST /responses {why}"))
                    }
                }
            })
            .await
            .clone()
    }
}

/// Asks the upstream whether it speaks the Responses API (see [`ResponsesUpstream`]): only
/// the admitted model is named, the key goes as `Authorization: Bearer`, and the answer must
/// come from a loopback peer.
pub(crate) async fn probe_responses(
    client: &reqwest::Client,
    base: &LocalBaseUrl,
    key: Option<&SecretValue>,
    model: &str,
    timeout: Duration,
) -> ResponsesProbe {
    let body = json!({"model": model, "input": "ping", "max_output_tokens": 1, "stream": false, "store": false});
    let mut request = client
        .post(base.endpoint("responses"))
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .body(body.to_string());
    if let Some(key) = key {
        request = request.bearer_auth(key.expose());
    }
    let asked = async {
        let mut answer = request
            .send()
            .await
            .map_err(|err| upstream::transport_error(base, err).to_string())?;
        upstream::check_peer(base, &answer).map_err(|err| err.to_string())?;
        let status = answer.status();
        if status.as_u16() != 200 {
            return Err(format!("answered HTTP {}", status.as_u16()));
        }
        upstream::read_body_bounded(&mut answer, MAX_PROBE_BODY_BYTES, None)
            .await
            .map_err(|_| "answered 200 with an unreadable or oversized body".to_owned())
    };
    match tokio::time::timeout(timeout.min(PROBE_TIMEOUT), asked).await {
        Err(_) => ResponsesProbe::NoResponsesApi("did not answer in time".to_owned()),
        Ok(Err(why)) => ResponsesProbe::NoResponsesApi(why),
        Ok(Ok(bytes)) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) if value.get("object").and_then(Value::as_str) == Some("response") => {
                ResponsesProbe::SpeaksResponses
            }
            _ => ResponsesProbe::NoResponsesApi("answered 200 without a response object".to_owned()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_messages_answer_or_the_flag_selects_pass_through() {
        let speaks = Probe::SpeaksMessages;
        let absent = Probe::NoMessagesApi("answered HTTP 404".to_owned());
        assert_eq!(mode_for(UpstreamApi::Auto, Some(&speaks)), AdapterMode::PassThrough);
        assert_eq!(mode_for(UpstreamApi::Auto, Some(&absent)), AdapterMode::Translate);
        assert_eq!(mode_for(UpstreamApi::Auto, None), AdapterMode::Translate);
        assert_eq!(mode_for(UpstreamApi::Anthropic, None), AdapterMode::PassThrough);
        assert_eq!(mode_for(UpstreamApi::OpenAi, Some(&speaks)), AdapterMode::Translate);
        assert_eq!(explain(UpstreamApi::OpenAi, None), "--upstream-api openai");
        assert!(explain(UpstreamApi::Auto, Some(&absent)).ends_with("answered HTTP 404"));
    }

    #[test]
    fn the_flag_is_spelt_three_ways() {
        for choice in [UpstreamApi::Auto, UpstreamApi::Anthropic, UpstreamApi::OpenAi] {
            assert_eq!(choice.as_str().parse::<UpstreamApi>(), Ok(choice));
        }
        assert!("Anthropic".parse::<UpstreamApi>().is_err());
        assert_eq!(AdapterMode::PassThrough.as_str(), "pass_through");
        assert_eq!(
            serde_json::to_value(AdapterMode::PassThrough).expect("json"),
            json!("pass_through")
        );
    }
}
