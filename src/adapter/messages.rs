//! The Anthropic routes — `POST /v1/messages` (plain and streamed) and
//! `POST /v1/messages/count_tokens` — on top of everything the OpenAI routes use.
//!
//! Nothing here decides anything the OpenAI side decides differently: authentication,
//! [`pin_request`](super::pinning::pin_request) (the one pinning rule; a refusal is a fallback attempt),
//! [`Shared::send_upstream`] (loopback client, peer check, timeouts), the ledger line and the
//! evidence headers are shared. What is added is the translation, all of it in the pure
//! [`anthropic`] module: the request becomes an OpenAI chat request for the
//! admitted model (`POST {base}/chat/completions`), the answer an Anthropic `message` whose
//! `model` is the admitted name, and an SSE answer is translated chunk by chunk as it arrives
//! ([`SseParser`] → [`StreamTranslator`]) — `message_start` and `ping` go out as soon as the
//! upstream has accepted the request.
//!
//! Errors are in Anthropic's shape. An upstream error keeps the upstream's status code (as
//! the OpenAI relay does) and is said by [`anthropic_upstream_error`], as in pass-through; a
//! request the translation refuses is a 400 `invalid_request_error`; an upstream answer that
//! cannot be translated is a 502 `api_error`.
//!
//! `count_tokens` asks the upstream's own tokenizer when it has one — llama.cpp's
//! `POST {origin}/tokenize` (`{"content"}` → `{"tokens":[…]}`) or llama-cpp-python's
//! `POST {origin}/extras/tokenize/count` (`{"input"}` → `{"count"}`) — and otherwise answers
//! [`estimate_input_tokens`]; the [`HEADER_TOKEN_COUNT`] header
//! says which. The tokenizers are asked only when the base URL's path is exactly `/v1`: under
//! any other path the server root may not be the model server's. llama-cpp-python's request
//! names the admitted model; a count never counts as a request served by the admitted model.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::anthropic::{
    self, StreamTranslator, count_tokens_text, estimate_input_tokens, from_openai_response, to_openai_request,
};
use super::api_error::{ErrorType, TranslateError, error_response, response};
use super::forward::{Endpoint, MAX_UPSTREAM_BODY_BYTES, UpstreamAnswer, is_event_stream, reported_model};
use super::ledger::{Api, Outcome, RequestLog};
use super::redact::SpreadSecretWatch;
use super::sampling;
use super::sse::{SseData, SseEvent};
use super::sse_driver::{SseDriver, SseHandler, Step, UpstreamEvent};
use super::state::{HEADER_TOKEN_COUNT, Shared, Upward, accept};
use super::tokenizer::TokenCount;
use super::upstream_api::{COUNT_TOKENS_PATH, MESSAGES_PATH};
use super::upstream_error::anthropic_upstream_error;

const API: Api = Api::Anthropic;

/// Longest error message the adapter sends Case (its own words and a quoted upstream text).
const MAX_ERROR_MESSAGE_CHARS: usize = 400;

/// `message` with the run's secrets redacted, then cut to [`MAX_ERROR_MESSAGE_CHARS`] — in
/// that order, so that a cut never leaves a secret's prefix behind.
fn quoted(log: &RequestLog, message: &str) -> String {
    let redacted = log.redact(message);
    if redacted.chars().count() <= MAX_ERROR_MESSAGE_CHARS {
        return redacted;
    }
    redacted.chars().take(MAX_ERROR_MESSAGE_CHARS).collect::<String>() + "…"
}

/// `POST /v1/messages`.
pub(crate) async fn create(shared: &Arc<Shared>, headers: &HeaderMap, body: Bytes, log: RequestLog) -> Response {
    let (object, mut log) = match shared.pin_body(API, MESSAGES_PATH, None, headers, &body, log) {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let request = Value::Object(object);
    let mut upstream_request = match to_openai_request(&request, &shared.model) {
        Ok(translated) => translated,
        Err(err) => return translate_refused(log, &err),
    };
    if let Value::Object(translated) = &mut upstream_request {
        sampling::apply(&shared.sampling, translated, &mut log);
    }
    let streaming = upstream_request.get("stream").and_then(Value::as_bool) == Some(true);
    let upward = Upward {
        endpoint: Endpoint::ChatCompletions,
        served_model: Some(&shared.model),
        accept: Some(&accept(streaming)),
        anthropic_version: None,
        unencodable: "case-harness adapter: the translated request could not be encoded",
    };
    let (answer, mut log) = match shared.post_admitted(API, log, &upstream_request, upward).await {
        Ok(sent) => sent,
        Err(refused) => return refused,
    };
    let status = answer.status();
    let sse = is_event_stream(answer.headers());
    if status.is_success() && streaming && sse {
        return stream_response(shared, answer, log);
    }
    let retry_after = answer.headers().get(RETRY_AFTER).cloned();
    let body = match shared.read_body(answer, MAX_UPSTREAM_BODY_BYTES).await {
        Ok(body) => body,
        Err(failure) => return shared.upstream_failed(API, log, failure),
    };
    // Everything Case gets is made from the redacted answer (and an echo fails the run).
    let body = log.redact_upstream_bytes(body);
    let parsed = serde_json::from_slice::<Value>(&body).ok();
    if let Some(model) = parsed.as_ref().and_then(reported_model) {
        log.note_upstream_model(model);
    }
    if !status.is_success() {
        return anthropic_upstream_error(log, status, retry_after, &body);
    }
    if streaming != sse {
        let message = format!(
            "case-harness adapter: the local upstream answered a {} request with {}; nothing to translate",
            if streaming { "streaming" } else { "non-streaming" },
            if sse { "a stream" } else { "a single JSON answer" },
        );
        return untranslatable(log, &message);
    }
    let Some(parsed) = parsed else {
        return untranslatable(log, "case-harness adapter: the local upstream's answer is not JSON");
    };
    match from_openai_response(&parsed, &shared.model, &message_id()) {
        Ok(message) => {
            let bytes = message.to_string().into_bytes();
            log.finish(status.as_u16(), bytes.len() as u64, Outcome::Forwarded, None);
            json_response(StatusCode::OK, bytes, HeaderMap::new())
        }
        Err(err) => untranslatable(log, &format!("case-harness adapter: {}", err.message)),
    }
}

/// A request the translation refuses: never forwarded, and not a fallback attempt.
fn translate_refused(log: RequestLog, err: &TranslateError) -> Response {
    let status = StatusCode::from_u16(err.kind.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let message = format!("case-harness adapter: {}", err.message);
    error_response(
        log,
        API,
        status,
        err.kind,
        Outcome::BadRequest,
        &message,
        HeaderMap::new(),
    )
}

/// A 2xx upstream answer that cannot be turned into an Anthropic one: 502 `api_error`.
fn untranslatable(log: RequestLog, message: &str) -> Response {
    let message = quoted(&log, message);
    error_response(
        log,
        API,
        StatusCode::BAD_GATEWAY,
        ErrorType::Api,
        Outcome::UpstreamError,
        &message,
        HeaderMap::new(),
    )
}

fn json_response(status: StatusCode, body: Vec<u8>, mut headers: HeaderMap) -> Response {
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response(status, headers, Body::from(body))
}

/// A fresh Anthropic-style message id, `msg_` and 24 hex digits.
fn message_id() -> String {
    let bytes: [u8; 12] = rand::random();
    format!("msg_{}", hex::encode(bytes))
}

// ---- streaming

/// Starts the translated event stream of an upstream SSE answer.
fn stream_response(shared: &Arc<Shared>, answer: UpstreamAnswer, log: RequestLog) -> Response {
    let translation = MessageStream {
        translator: StreamTranslator::new(&shared.model, &message_id()),
        spread: log.spread_secret_watch(),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let body = SseDriver::body(shared, answer, translation, log, StatusCode::OK);
    response(StatusCode::OK, headers, body)
}

/// One upstream SSE answer being translated: each upstream chunk becomes the Anthropic
/// events it made available, sent at once.
struct MessageStream {
    translator: StreamTranslator,
    /// Notices a secret the upstream spread over several text deltas.
    spread: SpreadSecretWatch,
}

impl SseHandler for MessageStream {
    fn saw_spread_secret(&self) -> bool {
        self.spread.found()
    }

    fn start(&mut self, log: &mut RequestLog) -> Bytes {
        // `message_start` and `ping` as soon as the upstream accepted the request.
        let start = self.translator.start();
        wire_bytes(log, &start)
    }

    fn on_event(&mut self, log: &mut RequestLog, event: UpstreamEvent<'_>) -> Step {
        let (events, ended) = match event {
            UpstreamEvent::Chunk(_, Err(err)) => (vec![stream_error(log, &err)], true),
            UpstreamEvent::Chunk(_, Ok(payloads)) => self.translate(log, payloads),
            // The upstream closed without `[DONE]`: complete if it had finished the answer.
            UpstreamEvent::Closed => (self.translator.finish(), true),
            UpstreamEvent::Broken(how) => {
                let reason = format!("case-harness adapter: the local upstream's stream {how}");
                (vec![SseEvent::error(ErrorType::Api, &log.redact(&reason))], true)
            }
        };
        let bytes = wire_bytes(log, &events);
        if !ended {
            return Step::More(bytes);
        }
        let (outcome, reason) = match events.last() {
            Some(last) if last.event == "error" => {
                let message = last.data["error"]["message"].as_str().unwrap_or("stream failed");
                (
                    Outcome::UpstreamError,
                    Some(format!("stream ended with an error event: {message}")),
                )
            }
            _ => (Outcome::Forwarded, None),
        };
        Step::End { bytes, outcome, reason }
    }
}

impl MessageStream {
    /// The events one chunk's payloads make available, and whether the stream ended.
    fn translate(&mut self, log: &mut RequestLog, payloads: Vec<SseData>) -> (Vec<SseEvent>, bool) {
        let mut events = Vec::new();
        for payload in payloads {
            match payload {
                SseData::Json(value) => {
                    if let Some(model) = value.get("model").and_then(Value::as_str) {
                        log.note_upstream_model(model);
                    }
                    self.spread.push_payload(&value);
                    match self.translator.on_chunk(&value) {
                        Ok(more) => events.extend(more),
                        Err(err) => {
                            events.push(stream_error(log, &err));
                            return (events, true);
                        }
                    }
                }
                // Whatever the upstream sends after `[DONE]` is not read.
                SseData::Done => {
                    events.extend(self.translator.finish());
                    return (events, true);
                }
            }
        }
        (events, false)
    }
}

/// The wire bytes of `events`. `error` events can quote the upstream (its error object, a
/// tool call's arguments), so their message has the run's secrets redacted, whichever step
/// made them.
fn wire_bytes(log: &RequestLog, events: &[SseEvent]) -> Bytes {
    let mut bytes = Vec::new();
    for event in events {
        if event.event == "error"
            && let Some(message) = event.data["error"]["message"].as_str()
        {
            let mut event = event.clone();
            event.data["error"]["message"] = Value::from(quoted(log, message));
            bytes.extend_from_slice(&event.to_bytes());
            continue;
        }
        bytes.extend_from_slice(&event.to_bytes());
    }
    Bytes::from(bytes)
}

/// An `error` event for a failure after the stream has started (the status is already 200).
fn stream_error(log: &RequestLog, err: &TranslateError) -> SseEvent {
    let message = format!("case-harness adapter: {}", err.message);
    SseEvent::error(err.kind, &log.redact(&message))
}

/// `POST /v1/messages/count_tokens`.
pub(crate) async fn count_tokens(shared: &Arc<Shared>, headers: &HeaderMap, body: Bytes, log: RequestLog) -> Response {
    let (object, mut log) = match shared.pin_body(API, COUNT_TOKENS_PATH, None, headers, &body, log) {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let request = Value::Object(object);
    let text = match count_tokens_text(&request) {
        Ok(text) => text,
        Err(err) => return translate_refused(log, &err),
    };
    let (tokens, flag, outcome, reason) = match shared.count_tokens(&text, &mut log).await {
        TokenCount::Exact { tokens, via } => (
            tokens,
            "exact",
            Outcome::Forwarded,
            format!(
                "input tokens counted by the upstream's tokenizer (POST /{})",
                via.path()
            ),
        ),
        TokenCount::Estimate { why } => (
            estimate_input_tokens(&request),
            "estimate",
            Outcome::AnsweredLocally,
            format!(
                "input tokens estimated as characters / {}: {why}",
                anthropic::ESTIMATE_CHARS_PER_TOKEN
            ),
        ),
    };
    let bytes = json!({"input_tokens": tokens}).to_string().into_bytes();
    log.finish(StatusCode::OK.as_u16(), bytes.len() as u64, outcome, Some(&reason));
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static(HEADER_TOKEN_COUNT),
        HeaderValue::from_static(flag),
    );
    json_response(StatusCode::OK, bytes, headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_look_like_anthropic_ones_and_differ() {
        let (a, b) = (message_id(), message_id());
        assert!(a.starts_with("msg_") && a.len() == 28, "{a}");
        assert_ne!(a, b);
    }
}
