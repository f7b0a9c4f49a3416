//! The probes that ask the upstream which API it speaks: one way of asking (a small JSON
//! `POST` naming only the admitted model, the upstream key, a loopback peer, a bounded answer
//! within [`PROBE_TIMEOUT`]) and one [`ProbeSpec`] per API it can be asked about:
//!
//! * [`MESSAGES_PROBE`]: `POST {base}/messages/count_tokens` with a one-word Messages body;
//!   only a 200 whose JSON has an integer `input_tokens` — which only a server that speaks the
//!   Messages API gives, and which costs no generation — shows the API.
//! * [`RESPONSES_PROBE`]: `POST {base}/responses` with a one-word input and
//!   `max_output_tokens: 1` (one generated token: the Responses API has no free request such
//!   as `count_tokens`); only a 200 whose JSON has `"object": "response"` shows it.
//!
//! Anything else (a 404 from an OpenAI-only server such as llama-cpp-python, any other
//! status, a timeout, a non-loopback peer, an answer of another shape) is a finding that the
//! API is not spoken, with a text that says why (no URL, no body content). Asking about
//! another API is one more [`ProbeSpec`].

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

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// The upstream answered 200 with what only a server speaking the API answers.
    Speaks,
    /// Anything else; the text says what (no URL, no body content).
    DoesNot(String),
}

/// How to ask the upstream whether it speaks one API, and how to read its answer.
pub(crate) struct ProbeSpec {
    /// Under the base URL; the reasons name it as `POST /{endpoint}`.
    endpoint: &'static str,
    /// The request body, naming the admitted model.
    body: fn(&str) -> Value,
    /// An Anthropic request: `anthropic-version` goes along, and the key as `x-api-key` too.
    anthropic: bool,
    /// What a 200 whose body cannot be read is called.
    unreadable: fn(&LocalBaseUrl, BodyReadError) -> String,
    /// True for a 200 answer that shows the API.
    shows: fn(&Value) -> bool,
    /// What a 200 that shows the API is called.
    shown: &'static str,
    /// What a 200 that does not is called.
    not_shown: &'static str,
}

/// Does the upstream speak the Anthropic Messages API (see the module docs)?
pub(crate) const MESSAGES_PROBE: ProbeSpec = ProbeSpec {
    endpoint: "messages/count_tokens",
    body: |model| json!({"model": model, "messages": [{"role": "user", "content": "ping"}]}),
    anthropic: true,
    unreadable: |base, err| match err {
        BodyReadError::Transport(err) => upstream::transport_error(base, err).to_string(),
        BodyReadError::TooLarge => "answered 200 with an oversized body".to_owned(),
        BodyReadError::Timeout => "did not answer in time".to_owned(),
    },
    shows: |answer| answer.get("input_tokens").is_some_and(Value::is_u64),
    shown: "answered 200 with input_tokens",
    not_shown: "answered 200 without an integer input_tokens",
};

/// Does the upstream speak the OpenAI Responses API (see the module docs)?
pub(crate) const RESPONSES_PROBE: ProbeSpec = ProbeSpec {
    endpoint: "responses",
    body: |model| json!({"model": model, "input": "ping", "max_output_tokens": 1, "stream": false, "store": false}),
    anthropic: false,
    unreadable: |_, _| "answered 200 with an unreadable or oversized body".to_owned(),
    shows: |answer| answer.get("object").and_then(Value::as_str) == Some("response"),
    shown: "answered 200 with a response",
    not_shown: "answered 200 without a response object",
};

impl ProbeSpec {
    /// What the trace, the report or the ledger say about a mode this probe decided.
    pub(crate) fn reason(&self, finding: &Finding) -> String {
        match finding {
            Finding::Speaks => format!("probe: POST /{} {}", self.endpoint, self.shown),
            Finding::DoesNot(why) => format!("probe: POST /{} {why}", self.endpoint),
        }
    }
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

/// Asks the upstream what `spec` asks; the upstream key goes as `Authorization: Bearer`
/// (and `x-api-key` on an Anthropic probe), and the answer must come from a loopback peer.
pub(crate) async fn probe(spec: &ProbeSpec, asked: Asked<'_>) -> Finding {
    match tokio::time::timeout(asked.timeout.min(PROBE_TIMEOUT), answer(spec, asked)).await {
        Err(_) => Finding::DoesNot("did not answer in time".to_owned()),
        Ok(Err(why)) => Finding::DoesNot(why),
        Ok(Ok(bytes)) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) if (spec.shows)(&value) => Finding::Speaks,
            _ => Finding::DoesNot(spec.not_shown.to_owned()),
        },
    }
}

/// The body of the upstream's 200 answer to `spec`'s request, or why there is none.
async fn answer(spec: &ProbeSpec, asked: Asked<'_>) -> Result<Vec<u8>, String> {
    let base = asked.base;
    let mut request = asked
        .client
        .post(base.endpoint(spec.endpoint))
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(ACCEPT, HeaderValue::from_static("application/json"));
    if spec.anthropic {
        request = request.header("anthropic-version", DEFAULT_ANTHROPIC_VERSION);
    }
    let mut request = request.body((spec.body)(asked.model).to_string());
    if let Some(key) = asked.key {
        request = request.bearer_auth(key.expose());
        if spec.anthropic {
            request = request.header("x-api-key", key.expose());
        }
    }
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
        .map_err(|err| (spec.unreadable)(base, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reasons_name_the_probe_and_what_it_found() {
        assert_eq!(
            MESSAGES_PROBE.reason(&Finding::Speaks),
            "probe: POST /messages/count_tokens answered 200 with input_tokens"
        );
        assert_eq!(
            RESPONSES_PROBE.reason(&Finding::DoesNot("answered HTTP 404".to_owned())),
            "probe: POST /responses answered HTTP 404"
        );
        assert_eq!(
            RESPONSES_PROBE.reason(&Finding::Speaks),
            "probe: POST /responses answered 200 with a response"
        );
    }

    #[test]
    fn only_the_apis_own_answer_shows_it() {
        assert!((MESSAGES_PROBE.shows)(&json!({"input_tokens": 3})));
        for other in [
            json!({"input_tokens": "3"}),
            json!({"input_tokens": -1}),
            json!({}),
            Value::Null,
        ] {
            assert!(!(MESSAGES_PROBE.shows)(&other), "{other}");
        }
        assert!((RESPONSES_PROBE.shows)(&json!({"object": "response"})));
        for other in [json!({"object": "chat.completion"}), json!({}), Value::Null] {
            assert!(!(RESPONSES_PROBE.shows)(&other), "{other}");
        }
    }
}
