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
//! the OpenAI relay does) with the type [`ErrorType::from_upstream_status`] gives it; a
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
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::anthropic::{
    self, StreamTranslator, count_tokens_text, estimate_input_tokens, from_openai_response, to_openai_request,
};
use super::api_error::{ErrorType, TranslateError, error_response, local_error, response};
use super::forward::{Endpoint, MAX_UPSTREAM_BODY_BYTES, UpstreamStream, is_event_stream, status_reason};
use super::ledger::{Api, Outcome, RequestLog};
use super::sse::{SseData, SseEvent, SseParser};
use super::state::{HEADER_TOKEN_COUNT, Shared};
use super::tokenizer::{TokenCount, count_with_upstream};
use crate::upstream::{self, LocalBaseUrl};

const API: Api = Api::Anthropic;

/// Longest upstream error text quoted back to Case, in characters.
const MAX_QUOTED_UPSTREAM_CHARS: usize = 300;

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
    let (object, mut log) = match shared.pin_body(API, "/v1/messages", None, headers, &body, log) {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let request = Value::Object(object);
    let upstream_request = match to_openai_request(&request, &shared.model) {
        Ok(translated) => translated,
        Err(err) => return translate_refused(log, &err),
    };
    let streaming = upstream_request.get("stream").and_then(Value::as_bool) == Some(true);
    let upstream_body = match serde_json::to_vec(&upstream_request) {
        Ok(bytes) => bytes,
        Err(_) => {
            let message = "case-harness adapter: the translated request could not be encoded";
            return local_error(
                log,
                API,
                StatusCode::INTERNAL_SERVER_ERROR,
                Outcome::BadRequest,
                message,
            );
        }
    };
    log.set_forwarded(Some(&shared.model), &shared.upstream_host);
    let accept = HeaderValue::from_static(if streaming {
        "text/event-stream"
    } else {
        "application/json"
    });
    let answer = match shared
        .send_upstream(
            Method::POST,
            Endpoint::Api("chat/completions"),
            Some(upstream_body),
            Some(&accept),
        )
        .await
    {
        Ok(answer) => answer,
        Err(failure) => return shared.upstream_failed(API, log, failure),
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
    let parsed = serde_json::from_slice::<Value>(&body).ok();
    if let Some(model) = parsed
        .as_ref()
        .and_then(|value| value.get("model"))
        .and_then(Value::as_str)
    {
        log.note_upstream_model(model);
    }
    if !status.is_success() {
        return upstream_error(log, status, retry_after, parsed.as_ref(), &body);
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

/// An upstream error answer, in Anthropic's shape, with the upstream's own status code.
fn upstream_error(
    log: RequestLog,
    status: StatusCode,
    retry_after: Option<HeaderValue>,
    parsed: Option<&Value>,
    body: &[u8],
) -> Response {
    let detail = parsed.and_then(upstream_error_text).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        text.trim().to_owned()
    });
    // Redacted before the cut, which could otherwise leave a secret's prefix behind.
    let detail: String = log.redact(&detail).chars().take(MAX_QUOTED_UPSTREAM_CHARS).collect();
    let mut message = format!(
        "case-harness adapter: the local upstream answered HTTP {}; not retried",
        status.as_u16()
    );
    if !detail.is_empty() {
        message.push_str(": ");
        message.push_str(&detail);
    }
    let mut headers = HeaderMap::new();
    if let Some(value) = retry_after {
        headers.insert(RETRY_AFTER, value);
    }
    let kind = ErrorType::from_upstream_status(status.as_u16());
    let bytes = anthropic::error_body(kind, &log.redact(&message))
        .to_string()
        .into_bytes();
    // Case gets the upstream's words; the ledger only the status (it never holds body content).
    let reason = status_reason(status);
    log.finish(
        status.as_u16(),
        bytes.len() as u64,
        Outcome::Forwarded,
        reason.as_deref(),
    );
    json_response(status, bytes, headers)
}

/// The message of an OpenAI-style (`error.message`, `error`), FastAPI-style (`detail`) or
/// plain (`message`) error body.
fn upstream_error_text(value: &Value) -> Option<String> {
    let error = value.get("error");
    let text = error
        .and_then(|error| error.get("message"))
        .or(error.filter(|error| error.is_string()))
        .or_else(|| value.get("detail"))
        .or_else(|| value.get("message"))?;
    Some(match text {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    })
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
fn stream_response(shared: &Arc<Shared>, answer: reqwest::Response, mut log: RequestLog) -> Response {
    log.set_status(StatusCode::OK.as_u16());
    let stream = MessageStream {
        upstream: Box::pin(answer.bytes_stream()),
        parser: SseParser::new(),
        translator: StreamTranslator::new(&shared.model, &message_id()),
        log: Some(log),
        idle: shared.upstream_timeout,
        bytes_out: 0,
        base: shared.upstream.clone(),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response(
        StatusCode::OK,
        headers,
        Body::from_stream(futures_util::stream::unfold(stream, MessageStream::step)),
    )
}

/// One upstream SSE answer being translated. Each step sends what one upstream chunk made
/// available; the ledger line is written when the stream ends (or, through `RequestLog`'s
/// `Drop`, when Case goes away first).
struct MessageStream {
    upstream: UpstreamStream,
    parser: SseParser,
    translator: StreamTranslator,
    /// `None` once the ledger line is written: the stream then ends.
    log: Option<RequestLog>,
    idle: Duration,
    bytes_out: u64,
    base: LocalBaseUrl,
}

/// What one upstream chunk led to.
enum Step {
    /// Events to send; the stream goes on.
    More(Vec<SseEvent>),
    /// The last events; the stream ends.
    End(Vec<SseEvent>),
}

impl MessageStream {
    async fn step(mut self) -> Option<(Result<Bytes, std::io::Error>, MessageStream)> {
        let mut log = self.log.take()?;
        let start = self.translator.start();
        if !start.is_empty() {
            // `message_start` and `ping` as soon as the upstream accepted the request.
            let bytes = self.account(&mut log, &start);
            self.log = Some(log);
            return Some((Ok(bytes), self));
        }
        loop {
            match self.next_events(&mut log).await {
                Step::More(events) if events.is_empty() => continue,
                Step::More(events) => {
                    let bytes = self.account(&mut log, &events);
                    self.log = Some(log);
                    return Some((Ok(bytes), self));
                }
                Step::End(events) => {
                    let bytes = self.account(&mut log, &events);
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
                    log.finish(StatusCode::OK.as_u16(), self.bytes_out, outcome, reason.as_deref());
                    return Some((Ok(bytes), self));
                }
            }
        }
    }

    /// Waits for the next upstream chunk and translates it.
    async fn next_events(&mut self, log: &mut RequestLog) -> Step {
        let chunk = match tokio::time::timeout(self.idle, self.upstream.next()).await {
            Ok(Some(Ok(chunk))) => chunk,
            // The upstream closed without `[DONE]`: complete if it had finished the answer.
            Ok(None) => return Step::End(self.translator.finish()),
            Ok(Some(Err(err))) => {
                let reason = format!(
                    "case-harness adapter: the local upstream's stream was cut short: {}",
                    upstream::transport_error(&self.base, err)
                );
                return Step::End(vec![SseEvent::error(ErrorType::Api, &log.redact(&reason))]);
            }
            Err(_) => {
                let reason = format!(
                    "case-harness adapter: the local upstream's stream went silent for {} s",
                    self.idle.as_secs_f64()
                );
                return Step::End(vec![SseEvent::error(ErrorType::Api, &reason)]);
            }
        };
        let payloads = match self.parser.push(&chunk) {
            Ok(payloads) => payloads,
            Err(err) => return Step::End(vec![stream_error(log, &err)]),
        };
        let mut events = Vec::new();
        for payload in payloads {
            match payload {
                SseData::Json(value) => {
                    if !log.has_upstream_model()
                        && let Some(model) = value.get("model").and_then(Value::as_str)
                    {
                        log.note_upstream_model(model);
                    }
                    match self.translator.on_chunk(&value) {
                        Ok(more) => events.extend(more),
                        Err(err) => {
                            events.push(stream_error(log, &err));
                            return Step::End(events);
                        }
                    }
                }
                // Whatever the upstream sends after `[DONE]` is not read.
                SseData::Done => {
                    events.extend(self.translator.finish());
                    return Step::End(events);
                }
            }
        }
        Step::More(events)
    }

    /// The wire bytes of `events`, counted into the ledger line.
    /// `error` events can quote the upstream (its error object, a tool call's arguments), so
    /// their message has the run's secrets redacted, whichever step made them.
    fn account(&mut self, log: &mut RequestLog, events: &[SseEvent]) -> Bytes {
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
        self.bytes_out += bytes.len() as u64;
        log.set_bytes_out(self.bytes_out);
        Bytes::from(bytes)
    }
}

/// An `error` event for a failure after the stream has started (the status is already 200).
fn stream_error(log: &RequestLog, err: &TranslateError) -> SseEvent {
    let message = format!("case-harness adapter: {}", err.message);
    SseEvent::error(err.kind, &log.redact(&message))
}

/// `POST /v1/messages/count_tokens`.
pub(crate) async fn count_tokens(shared: &Arc<Shared>, headers: &HeaderMap, body: Bytes, log: RequestLog) -> Response {
    let (object, mut log) = match shared.pin_body(API, "/v1/messages/count_tokens", None, headers, &body, log) {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let request = Value::Object(object);
    let text = match count_tokens_text(&request) {
        Ok(text) => text,
        Err(err) => return translate_refused(log, &err),
    };
    let (tokens, flag, outcome, reason) = match count_with_upstream(shared, &text, &mut log).await {
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
    fn upstream_error_texts_of_common_servers() {
        for (body, text) in [
            (
                json!({"error": {"message": "context too long", "type": "x"}}),
                "context too long",
            ),
            (json!({"error": "model crashed"}), "model crashed"),
            (json!({"detail": "Not Found"}), "Not Found"),
            (json!({"message": "busy"}), "busy"),
        ] {
            assert_eq!(upstream_error_text(&body).as_deref(), Some(text), "{body}");
        }
        assert_eq!(upstream_error_text(&json!({"other": 1})), None);
    }

    #[test]
    fn message_ids_look_like_anthropic_ones_and_differ() {
        let (a, b) = (message_id(), message_id());
        assert!(a.starts_with("msg_") && a.len() == 28, "{a}");
        assert_ne!(a, b);
    }
}
