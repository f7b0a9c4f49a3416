//! The probes that ask the upstream which API it speaks: one way of asking (a small JSON
//! `POST` naming only the admitted model, the upstream key, a loopback peer, a bounded answer
//! within [`PROBE_TIMEOUT`]), and one finding per API it is asked about.
//!
//! * [`probe_messages`]: `POST {base}/messages/count_tokens` with a one-word Messages body;
//!   only a 200 whose JSON has an integer `input_tokens` — which only a server that speaks the
//!   Messages API gives, and which costs no generation — is [`Probe::SpeaksMessages`].
//! * [`probe_responses`]: `POST {base}/responses` with a one-word input and
//!   `max_output_tokens: 1` (one generated token: the Responses API has no free request such
//!   as `count_tokens`); only a 200 whose JSON has `"object": "response"` is
//!   [`ResponsesProbe::SpeaksResponses`].
//!
//! Anything else (a 404 from an OpenAI-only server such as llama-cpp-python, any other
//! status, a timeout, a non-loopback peer, an answer of another shape) is a finding that the
//! API is not spoken, with a text that says why (no URL, no body content).

use std::time::Duration;

use axum::http::HeaderValue;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::secrets::SecretValue;
use crate::upstream::{self, BodyReadError, LocalBaseUrl};

/// The `anthropic-version` the adapter sends upstream when Case sends none.
pub(crate) const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

/// Longest probe answer read.
const MAX_PROBE_BODY_BYTES: usize = 64 * 1024;

/// Longest wait for the probe's answer (capped by `upstream_timeout`).
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the start-up probe of the Anthropic routes found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    /// `count_tokens` answered 200 with an integer `input_tokens`.
    SpeaksMessages,
    /// Anything else; the text says what (no URL, no body content).
    NoMessagesApi(String),
}

/// What the first `POST /v1/responses` found out about the upstream's own Responses API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResponsesProbe {
    /// `POST {base}/responses` answered 200 with a JSON `response` object.
    SpeaksResponses,
    /// Anything else; the text says what (no URL, no body content).
    NoResponsesApi(String),
}

/// Where the probes go, and with what: the upstream and its key.
#[derive(Clone, Copy)]
pub(crate) struct Asked<'a> {
    pub(crate) client: &'a reqwest::Client,
    pub(crate) base: &'a LocalBaseUrl,
    pub(crate) key: Option<&'a SecretValue>,
    /// The admitted model: the only name a probe sends.
    pub(crate) model: &'a str,
    /// `upstream_timeout`; a probe waits at most [`PROBE_TIMEOUT`] of it.
    pub(crate) timeout: Duration,
}

/// One probe request.
struct ProbeRequest {
    /// Under the base URL.
    endpoint: &'static str,
    body: Value,
    /// An Anthropic request: `anthropic-version` goes along, and the key as `x-api-key` too.
    anthropic: bool,
    /// What a 200 whose body cannot be read is called.
    unreadable: fn(&LocalBaseUrl, BodyReadError) -> String,
}

/// Asks the upstream whether it speaks the Messages API (see the module docs). The upstream
/// key goes as `Authorization: Bearer` and `x-api-key`.
pub(crate) async fn probe_messages(asked: Asked<'_>) -> Probe {
    let request = ProbeRequest {
        endpoint: "messages/count_tokens",
        body: json!({"model": asked.model, "messages": [{"role": "user", "content": "ping"}]}),
        anthropic: true,
        unreadable: |base, err| match err {
            BodyReadError::Transport(err) => upstream::transport_error(base, err).to_string(),
            BodyReadError::TooLarge => "answered 200 with an oversized body".to_owned(),
            BodyReadError::Timeout => "did not answer in time".to_owned(),
        },
    };
    match ask(asked, request).await {
        Err(why) => Probe::NoMessagesApi(why),
        Ok(value) if value.get("input_tokens").is_some_and(Value::is_u64) => Probe::SpeaksMessages,
        Ok(_) => Probe::NoMessagesApi("answered 200 without an integer input_tokens".to_owned()),
    }
}

/// Asks the upstream whether it speaks the Responses API (see the module docs). The upstream
/// key goes as `Authorization: Bearer`.
pub(crate) async fn probe_responses(asked: Asked<'_>) -> ResponsesProbe {
    let request = ProbeRequest {
        endpoint: "responses",
        body: json!({"model": asked.model, "input": "ping", "max_output_tokens": 1, "stream": false, "store": false}),
        anthropic: false,
        unreadable: |_, _| "answered 200 with an unreadable or oversized body".to_owned(),
    };
    match ask(asked, request).await {
        Err(why) => ResponsesProbe::NoResponsesApi(why),
        Ok(value) if value.get("object").and_then(Value::as_str) == Some("response") => ResponsesProbe::SpeaksResponses,
        Ok(_) => ResponsesProbe::NoResponsesApi("answered 200 without a response object".to_owned()),
    }
}

/// Sends one probe and returns its 200 answer's JSON (`Null` when it is not JSON), or why
/// there is none.
async fn ask(asked: Asked<'_>, probe: ProbeRequest) -> Result<Value, String> {
    let base = asked.base;
    let mut request = asked
        .client
        .post(base.endpoint(probe.endpoint))
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(ACCEPT, HeaderValue::from_static("application/json"));
    if probe.anthropic {
        request = request.header("anthropic-version", DEFAULT_ANTHROPIC_VERSION);
    }
    let mut request = request.body(probe.body.to_string());
    if let Some(key) = asked.key {
        request = request.bearer_auth(key.expose());
        if probe.anthropic {
            request = request.header("x-api-key", key.expose());
        }
    }
    let answered = async {
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
            .map_err(|err| (probe.unreadable)(base, err))
    };
    match tokio::time::timeout(asked.timeout.min(PROBE_TIMEOUT), answered).await {
        Err(_) => Err("did not answer in time".to_owned()),
        Ok(Err(why)) => Err(why),
        Ok(Ok(bytes)) => Ok(serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null)),
    }
}
