//! The Anthropic routes in pass-through mode: `POST /v1/messages` (plain and streamed) and
//! `POST /v1/messages/count_tokens` forwarded as Anthropic requests to an upstream that
//! speaks the Messages API itself (see `adapter/upstream_api/` for how that is decided).
//!
//! Pinned exactly as in translation mode: the same [`Shared::pin_body`] (only the admitted
//! model, smuggled routing refused and counted as a fallback attempt), plus an allow-list of
//! top-level fields ([`MESSAGES_PASS_THROUGH`]: its forwarded fields go up, its dropped ones
//! are accepted and never sent; anything else is a 400 naming it). What goes up is re-serialised from the checked
//! object; the only headers are `content-type`, `accept`, `anthropic-version` (Case's, else
//! `2023-06-01`) and the upstream key (`Authorization: Bearer` and `x-api-key`) — never the
//! per-run token, `anthropic-beta` or SDK headers.
//!
//! The answer comes back as the upstream gave it, with one exception: a non-streamed
//! message's `model` is replaced by the admitted name (local servers echo whatever name they
//! are asked for, so the upstream's is recorded in the ledger and never trusted). A stream
//! is relayed chunk by chunk through the one [`SseDriver`], which records the model
//! `message_start` reports and counts as served only a stream that reached `message_stop`
//! without an `error` event. Upstream errors keep their status and are said in Anthropic's
//! shape by the same [`anthropic_upstream_error`] as in translation mode (llama-server answers
//! its Messages route's errors in OpenAI's shape), with the run's secrets redacted. A count is
//! never counted as a request served by the model.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use serde_json::{Map, Value};

use super::api_error::response;
use super::forward::{Endpoint, MAX_UPSTREAM_BODY_BYTES, is_event_stream, redact_body, relayed_headers};
use super::ledger::{Api, Outcome, RequestLog};
use super::redact::SpreadSecretWatch;
use super::sampling;
use super::sse::SseData;
use super::sse_driver::{SseDriver, SseHandler, Step, UpstreamEvent};
use super::state::{HEADER_TOKEN_COUNT, Shared, Upward, accept};
use super::upstream_api::{COUNT_TOKENS_PATH, DEFAULT_ANTHROPIC_VERSION, MESSAGES_PASS_THROUGH, MESSAGES_PATH};
use super::upstream_error::anthropic_upstream_error;

const API: Api = Api::Anthropic;

/// Which Anthropic route is passed through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `POST /v1/messages`.
    Messages,
    /// `POST /v1/messages/count_tokens`.
    CountTokens,
}

impl Route {
    fn path(self) -> &'static str {
        match self {
            Route::Messages => MESSAGES_PATH,
            Route::CountTokens => COUNT_TOKENS_PATH,
        }
    }

    /// Under the base URL (`{base}/messages`, `{base}/messages/count_tokens`).
    fn endpoint(self) -> Endpoint<'static> {
        match self {
            Route::Messages => Endpoint::Messages,
            Route::CountTokens => Endpoint::CountTokens,
        }
    }
}

/// Pins and forwards one Anthropic request; relays the answer.
pub(crate) async fn forward(
    shared: &Arc<Shared>,
    route: Route,
    headers: &HeaderMap,
    body: Bytes,
    log: RequestLog,
) -> Response {
    let allowed = MESSAGES_PASS_THROUGH.accepted();
    let (mut object, mut log) = match shared.pin_body(API, route.path(), Some(&allowed), headers, &body, log) {
        Ok(pinned) => pinned,
        Err(refused) => return refused,
    };
    object.retain(|key, _| MESSAGES_PASS_THROUGH.forwards(key));
    if route == Route::Messages {
        sampling::apply(&shared.sampling, &mut object, &mut log);
    }
    let streaming = route == Route::Messages && object.get("stream").and_then(Value::as_bool) == Some(true);
    let version = headers
        .get("anthropic-version")
        .filter(|value| value.to_str().is_ok_and(is_version))
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static(DEFAULT_ANTHROPIC_VERSION));
    let upward = Upward {
        endpoint: route.endpoint(),
        served_model: (route == Route::Messages).then_some(shared.model.as_str()),
        accept: Some(&accept(streaming)),
        anthropic_version: Some(&version),
        unencodable: "case-harness adapter: the pinned request could not be re-encoded",
    };
    let (answer, mut log) = match shared.post_admitted(API, log, &object, upward).await {
        Ok(sent) => sent,
        Err(refused) => return refused,
    };
    let status = answer.status();
    let mut headers = relayed_headers(answer.headers());
    if status.is_success() && route == Route::Messages && is_event_stream(&headers) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        let watch = MessageStreamWatch {
            stopped: false,
            errored: false,
            spread: log.spread_secret_watch(),
        };
        let body = SseDriver::body(shared, answer, watch, log, status);
        return response(status, headers, body);
    }
    let body = match shared.read_body(answer, MAX_UPSTREAM_BODY_BYTES).await {
        Ok(body) => body,
        Err(failure) => return shared.upstream_failed(API, log, failure),
    };
    // Everything Case gets is redacted, answers as much as errors (and an echo fails the run).
    let body = redact_body(&mut log, body);
    if !status.is_success() {
        return anthropic_upstream_error(log, status, headers.get(RETRY_AFTER).cloned(), &body);
    }
    let (body, outcome, reason) = match route {
        Route::Messages => pinned_message(&shared.model, &body, &mut log),
        Route::CountTokens => counted(&body, &mut headers),
    };
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    log.finish(status.as_u16(), body.len() as u64, outcome, reason.as_deref());
    response(status, headers, Body::from(body))
}

/// An `anthropic-version` worth forwarding: a date such as `2023-06-01`.
fn is_version(value: &str) -> bool {
    value.len() == 10
        && value.bytes().enumerate().all(|(index, byte)| {
            if index == 4 || index == 7 {
                byte == b'-'
            } else {
                byte.is_ascii_digit()
            }
        })
}

/// A non-streamed message with the admitted name as its `model` (the upstream's recorded),
/// served only when it is a `message`; anything else is relayed as it is, not served.
fn pinned_message(admitted: &str, body: &[u8], log: &mut RequestLog) -> (Vec<u8>, Outcome, Option<String>) {
    let Ok(Value::Object(mut message)) = serde_json::from_slice::<Value>(body) else {
        let reason = "upstream answered 2xx without a JSON message; relayed as is";
        return (body.to_vec(), Outcome::UpstreamError, Some(reason.to_owned()));
    };
    if let Some(model) = message.get("model").and_then(Value::as_str) {
        log.note_upstream_model(model);
    }
    if message.get("type").and_then(Value::as_str) != Some("message") {
        let reason = "upstream answered 2xx with something other than a message; relayed as is";
        return (body.to_vec(), Outcome::UpstreamError, Some(reason.to_owned()));
    }
    message.insert("model".to_owned(), Value::from(admitted));
    let bytes = Value::Object(message).to_string().into_bytes();
    (bytes, Outcome::Forwarded, None)
}

/// A count answer: flagged `exact` (the upstream's own tokenizer counted) when it has an
/// integer `input_tokens`.
fn counted(body: &[u8], headers: &mut HeaderMap) -> (Vec<u8>, Outcome, Option<String>) {
    let exact = serde_json::from_slice::<Map<String, Value>>(body)
        .ok()
        .is_some_and(|answer| answer.get("input_tokens").is_some_and(Value::is_u64));
    if !exact {
        let reason = "upstream answered 2xx without an integer input_tokens; relayed as is";
        return (body.to_vec(), Outcome::UpstreamError, Some(reason.to_owned()));
    }
    headers.insert(
        HeaderName::from_static(HEADER_TOKEN_COUNT),
        HeaderValue::from_static("exact"),
    );
    let reason = "input tokens counted by the upstream (POST /v1/messages/count_tokens)";
    (body.to_vec(), Outcome::Forwarded, Some(reason.to_owned()))
}

/// Watches a relayed Anthropic stream go by: the model `message_start` reports, and whether
/// it completed (`message_stop`, no `error` event).
struct MessageStreamWatch {
    stopped: bool,
    errored: bool,
    /// Notices a secret the upstream spread over several text deltas.
    spread: SpreadSecretWatch,
}

impl SseHandler for MessageStreamWatch {
    fn saw_spread_secret(&self) -> bool {
        self.spread.found()
    }

    fn on_event(&mut self, log: &mut RequestLog, event: UpstreamEvent<'_>) -> Step {
        match event {
            UpstreamEvent::Chunk(chunk, payloads) => {
                match payloads {
                    Ok(payloads) => {
                        for payload in payloads {
                            let SseData::Json(value) = payload else { continue };
                            self.spread.push_payload(&value);
                            match value.get("type").and_then(Value::as_str) {
                                Some("message_start") => {
                                    if let Some(model) = value.pointer("/message/model").and_then(Value::as_str) {
                                        log.note_upstream_model(model);
                                    }
                                }
                                Some("message_stop") => self.stopped = true,
                                Some("error") => self.errored = true,
                                _ => {}
                            }
                        }
                    }
                    Err(_) => self.errored = true,
                }
                Step::More(chunk.clone())
            }
            UpstreamEvent::Closed => {
                let (outcome, reason) = if self.errored {
                    let reason = "the stream carried an error event (or was not SSE); relayed as is";
                    (Outcome::UpstreamError, Some(reason.to_owned()))
                } else if !self.stopped {
                    let reason = "the stream ended without message_stop; relayed as is";
                    (Outcome::UpstreamError, Some(reason.to_owned()))
                } else {
                    (Outcome::Forwarded, None)
                };
                Step::End {
                    bytes: Bytes::new(),
                    outcome,
                    reason,
                }
            }
            UpstreamEvent::Broken(how) => Step::Cut {
                reason: format!("stream {how}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_date_versions_are_forwarded() {
        assert!(is_version("2023-06-01"));
        for bad in ["", "2023-6-1", "2023-06-01x", "latest", "2023/06/01", "abcd-ef-gh"] {
            assert!(!is_version(bad), "{bad}");
        }
    }
}
