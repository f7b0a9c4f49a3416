//! `POST /v1/responses` — the OpenAI Responses API, which Codex CLI speaks (and only it) —
//! pinned exactly like the other routes, and served two ways.
//!
//! Both ways share what every route shares: authentication, [`Shared::pin_body`] (only the
//! admitted model; another model or smuggled routing is a fallback attempt, refused
//! with a 400 in OpenAI's error shape, `{"error":{"message","type","code"}}` — the one status
//! Codex does not retry: it retries a 403 like any "unexpected status", five times, measured
//! with 0.169.0 — and never forwarded), the ledger line, redaction of every upstream byte,
//! upstream causes and the evidence headers. Only [`FORWARDED_FIELDS`] go up;
//! [`DROPPED_FIELDS`](request::DROPPED_FIELDS) are accepted and never sent; any other field is a 400 naming it.
//! Non-function tools (`web_search`, Codex's `custom` tools, …) are stripped, and the ledger
//! line's reason names each one.
//!
//! * **Pass-through** to an upstream that speaks the Responses API itself (llama.cpp's
//!   `llama-server`; Ollama since v0.13.3, stateless; vLLM). The answer comes back as the
//!   upstream gave it, except that a non-streamed response's `model` is the admitted name. A
//!   stream is relayed chunk by chunk and counts as served only when `response.completed` (or
//!   `response.incomplete`) went by without `response.failed` or `error`.
//! * **Translation** to chat completions for one that does not (llama-cpp-python): the
//!   pure [`request`], [`response`] and [`stream`] modules.
//!
//! Which one is decided by the first request ([`ResponsesUpstream`](super::mode::ResponsesUpstream)).
//! Upstream errors keep their status and body (redacted), as on chat completions.

mod request;
mod response;
mod stream;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

use self::request::{FORWARDED_FIELDS, accepted_fields, strip_unsupported_tools, to_chat_request};
use self::response::{from_chat_completion, new_id, skeleton};
use self::stream::ResponsesStream;
use super::api_error::{ErrorType, TranslateError, error_response, local_error, response};
use super::forward::{
    Endpoint, MAX_UPSTREAM_BODY_BYTES, is_event_stream, redact_body, relayed_headers, reported_model,
};
use super::ledger::{Api, Outcome, RequestLog};
use super::mode::{AdapterMode, probe_responses};
use super::pinning;
use super::redact::{SpreadSecretWatch, streamed_texts};
use super::sampling;
use super::sse::{SseData, SseEvent};
use super::sse_driver::{SseDriver, SseHandler, Step, UpstreamEvent};
use super::state::Shared;
use super::upstream_error::{classify, record_cause};

const API: Api = Api::OpenAi;
const PATH: &str = "/v1/responses";

/// `POST /v1/responses`.
pub(crate) async fn create(shared: &Arc<Shared>, headers: &HeaderMap, body: Bytes, log: RequestLog) -> Response {
    let (mut object, log) = match pin(shared, headers, &body, log) {
        Ok(pinned) => pinned,
        Err(refused) => return refused,
    };
    let stripped = match strip_unsupported_tools(&mut object) {
        Ok(stripped) => stripped,
        Err(err) => return refused(log, &err),
    };
    object.retain(|key, _| FORWARDED_FIELDS.contains(&key.as_str()));
    let (mode, why) = shared
        .responses
        .mode(probe_responses(
            &shared.client,
            &shared.upstream,
            shared.upstream_key.as_ref(),
            &shared.model,
            shared.upstream_timeout,
        ))
        .await;
    let mut notes = vec![match mode {
        AdapterMode::PassThrough => format!("passed through to POST /responses ({why})"),
        AdapterMode::Translate => format!("translated to POST /chat/completions ({why})"),
    }];
    if !stripped.is_empty() {
        notes.push(format!("tools stripped (not function tools): {}", stripped.join(", ")));
    }
    match mode {
        AdapterMode::PassThrough => pass_through(shared, object, log, notes).await,
        AdapterMode::Translate => translate(shared, object, log, notes).await,
    }
}

/// The one pinning rule, as [`Shared::pin_body`] applies it, except that every refusal is a
/// 400 (`invalid_request_error`, code `400`): Codex retries any other 4xx but 429 five times
/// as an "unexpected status", and gives up at once on a 400 (measured with 0.169.0). A
/// fallback attempt is still counted as one.
#[expect(
    clippy::result_large_err,
    reason = "as Shared::pin_body: the refusal goes straight back to the router"
)]
fn pin(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
    mut log: RequestLog,
) -> Result<(Map<String, Value>, RequestLog), Response> {
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(body) else {
        let message = "case-harness adapter: the request body must be a JSON object";
        return Err(local_error(
            log,
            API,
            StatusCode::BAD_REQUEST,
            Outcome::BadRequest,
            message,
        ));
    };
    match pinning::pin_request(API, &shared.model, Some(&accepted_fields()), headers, &mut object) {
        Ok(pinned) => log.set_requested_model(pinned.requested_model.as_deref()),
        Err(refusal) => return Err(shared.refuse_as(API, log, PATH, refusal, StatusCode::BAD_REQUEST)),
    }
    Ok((object, log))
}

/// A request this route refuses (never forwarded, not a fallback attempt): 400.
fn refused(log: RequestLog, err: &TranslateError) -> Response {
    let message = format!("case-harness adapter: {}", err.message);
    error_response(
        log,
        API,
        StatusCode::BAD_REQUEST,
        ErrorType::InvalidRequest,
        Outcome::BadRequest,
        &message,
        HeaderMap::new(),
    )
}

fn encode(value: &impl serde::Serialize) -> Option<Vec<u8>> {
    serde_json::to_vec(value).ok()
}

fn accept(streaming: bool) -> HeaderValue {
    HeaderValue::from_static(if streaming {
        "text/event-stream"
    } else {
        "application/json"
    })
}

fn stream_headers(mut headers: HeaderMap) -> HeaderMap {
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers
}

/// An upstream error answer: its status and (redacted) body, as on chat completions, with
/// the cause on the ledger line.
fn upstream_error(mut log: RequestLog, status: StatusCode, headers: HeaderMap, body: Vec<u8>) -> Response {
    let parsed = serde_json::from_slice::<Value>(&body).ok();
    let reason = record_cause(&mut log, status, classify(status, parsed.as_ref()));
    log.finish(
        status.as_u16(),
        body.len() as u64,
        Outcome::Forwarded,
        reason.as_deref(),
    );
    response(status, headers, Body::from(body))
}

// ---- pass-through

async fn pass_through(
    shared: &Arc<Shared>,
    mut object: Map<String, Value>,
    mut log: RequestLog,
    notes: Vec<String>,
) -> Response {
    sampling::apply(&shared.sampling, &mut object, &mut log);
    let streaming = object.get("stream").and_then(Value::as_bool) == Some(true);
    let Some(upstream_body) = encode(&object) else {
        let message = "case-harness adapter: the pinned request could not be re-encoded";
        return local_error(
            log,
            API,
            StatusCode::INTERNAL_SERVER_ERROR,
            Outcome::BadRequest,
            message,
        );
    };
    log.set_forwarded(Some(&shared.model), &shared.upstream_host);
    let answer = match shared
        .send_upstream(
            Method::POST,
            Endpoint::Responses,
            Some(upstream_body),
            Some(&accept(streaming)),
            None,
        )
        .await
    {
        Ok(answer) => answer,
        Err(failure) => return shared.upstream_failed(API, log, failure),
    };
    let status = answer.status();
    let headers = relayed_headers(answer.headers());
    if status.is_success() && is_event_stream(&headers) {
        let watch = RelayedStream {
            completed: false,
            failed: false,
            spread: log.spread_secret_watch(),
            notes,
        };
        let body = SseDriver::body(shared, answer, watch, log, status);
        return response(status, stream_headers(headers), body);
    }
    let body = match shared.read_body(answer, MAX_UPSTREAM_BODY_BYTES).await {
        Ok(body) => body,
        Err(failure) => return shared.upstream_failed(API, log, failure),
    };
    let body = redact_body(&mut log, body);
    if !status.is_success() {
        return upstream_error(log, status, headers, body);
    }
    let mut notes = notes;
    let (body, outcome) = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut answer)) if answer.get("object").and_then(Value::as_str) == Some("response") => {
            if let Some(model) = answer.get("model").and_then(Value::as_str) {
                log.note_upstream_model(model);
            }
            answer.insert("model".to_owned(), Value::from(shared.model.as_str()));
            (Value::Object(answer).to_string().into_bytes(), Outcome::Forwarded)
        }
        _ => {
            notes.push("upstream answered 2xx without a response object; relayed as is".to_owned());
            (body, Outcome::UpstreamError)
        }
    };
    let mut headers = headers;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    log.finish(status.as_u16(), body.len() as u64, outcome, Some(&notes.join("; ")));
    response(status, headers, Body::from(body))
}

/// Watches a relayed Responses stream go by: the model `response.created` reports, and
/// whether it completed.
struct RelayedStream {
    completed: bool,
    failed: bool,
    spread: SpreadSecretWatch,
    notes: Vec<String>,
}

impl SseHandler for RelayedStream {
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
                            if let Some(delta) = value.get("delta").and_then(Value::as_str) {
                                self.spread.push(delta);
                            }
                            match value.get("type").and_then(Value::as_str) {
                                Some("response.created") => {
                                    if let Some(model) = value.pointer("/response/model").and_then(Value::as_str) {
                                        log.note_upstream_model(model);
                                    }
                                }
                                Some("response.completed" | "response.incomplete") => self.completed = true,
                                Some("response.failed" | "error") => self.failed = true,
                                _ => {}
                            }
                        }
                    }
                    Err(_) => self.failed = true,
                }
                Step::More(chunk.clone())
            }
            UpstreamEvent::Closed => {
                let (outcome, why) = if self.failed {
                    (
                        Outcome::UpstreamError,
                        Some("the stream carried a failure (or was not SSE); relayed as is"),
                    )
                } else if !self.completed {
                    (
                        Outcome::UpstreamError,
                        Some("the stream ended without response.completed; relayed as is"),
                    )
                } else {
                    (Outcome::Forwarded, None)
                };
                let mut notes = std::mem::take(&mut self.notes);
                notes.extend(why.map(str::to_owned));
                Step::End {
                    bytes: Bytes::new(),
                    outcome,
                    reason: Some(notes.join("; ")),
                }
            }
            UpstreamEvent::Broken(how) => Step::Cut {
                reason: format!("stream {how}"),
            },
        }
    }
}

// ---- translation

async fn translate(
    shared: &Arc<Shared>,
    object: Map<String, Value>,
    mut log: RequestLog,
    mut notes: Vec<String>,
) -> Response {
    let mut chat = match to_chat_request(&object, &shared.model) {
        Ok(chat) => chat,
        Err(err) => return refused(log, &err),
    };
    if let Value::Object(body) = &mut chat.body {
        sampling::apply(&shared.sampling, body, &mut log);
    }
    notes.extend(chat.notes);
    let streaming = chat.body.get("stream").and_then(Value::as_bool) == Some(true);
    let Some(upstream_body) = encode(&chat.body) else {
        let message = "case-harness adapter: the translated request could not be encoded";
        return local_error(
            log,
            API,
            StatusCode::INTERNAL_SERVER_ERROR,
            Outcome::BadRequest,
            message,
        );
    };
    let skeleton = skeleton(&object, &shared.model, &new_id("resp"));
    log.set_forwarded(Some(&shared.model), &shared.upstream_host);
    let answer = match shared
        .send_upstream(
            Method::POST,
            Endpoint::ChatCompletions,
            Some(upstream_body),
            Some(&accept(streaming)),
            None,
        )
        .await
    {
        Ok(answer) => answer,
        Err(failure) => return shared.upstream_failed(API, log, failure),
    };
    let status = answer.status();
    let sse = is_event_stream(answer.headers());
    if status.is_success() && streaming && sse {
        let handler = TranslatedStream {
            translator: ResponsesStream::new(skeleton),
            spread: log.spread_secret_watch(),
            notes,
        };
        let body = SseDriver::body(shared, answer, handler, log, StatusCode::OK);
        return response(StatusCode::OK, stream_headers(HeaderMap::new()), body);
    }
    let headers = relayed_headers(answer.headers());
    let body = match shared.read_body(answer, MAX_UPSTREAM_BODY_BYTES).await {
        Ok(body) => body,
        Err(failure) => return shared.upstream_failed(API, log, failure),
    };
    let body = redact_body(&mut log, body);
    let parsed = serde_json::from_slice::<Value>(&body).ok();
    if let Some(model) = parsed.as_ref().and_then(reported_model) {
        log.note_upstream_model(model);
    }
    if !status.is_success() {
        return upstream_error(log, status, headers, body);
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
    match from_chat_completion(&parsed, skeleton) {
        Ok(answer) => {
            let bytes = answer.to_string().into_bytes();
            log.finish(
                status.as_u16(),
                bytes.len() as u64,
                Outcome::Forwarded,
                Some(&notes.join("; ")),
            );
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response(StatusCode::OK, headers, Body::from(bytes))
        }
        Err(err) => untranslatable(log, &format!("case-harness adapter: {}", err.message)),
    }
}

/// A 2xx upstream answer that cannot be made a response: 502.
fn untranslatable(log: RequestLog, message: &str) -> Response {
    let message = log.redact(message);
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

/// One upstream chat stream being translated into Responses events as it arrives.
struct TranslatedStream {
    translator: ResponsesStream,
    spread: SpreadSecretWatch,
    notes: Vec<String>,
}

impl TranslatedStream {
    fn translate(&mut self, log: &mut RequestLog, payloads: Vec<SseData>) -> (Vec<SseEvent>, bool) {
        let mut events = Vec::new();
        for payload in payloads {
            match payload {
                SseData::Json(value) => {
                    if let Some(model) = value.get("model").and_then(Value::as_str) {
                        log.note_upstream_model(model);
                    }
                    for text in streamed_texts(&value) {
                        self.spread.push(text);
                    }
                    match self.translator.on_chunk(&value) {
                        Ok(more) => events.extend(more),
                        Err(message) => {
                            events.extend(self.translator.fail(&log.redact(&message)));
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

impl SseHandler for TranslatedStream {
    fn saw_spread_secret(&self) -> bool {
        self.spread.found()
    }

    fn start(&mut self, _log: &mut RequestLog) -> Bytes {
        wire_bytes(&self.translator.start())
    }

    fn on_event(&mut self, log: &mut RequestLog, event: UpstreamEvent<'_>) -> Step {
        let (events, ended) = match event {
            UpstreamEvent::Chunk(_, Err(err)) => (self.translator.fail(&log.redact(&err.message)), true),
            UpstreamEvent::Chunk(_, Ok(payloads)) => self.translate(log, payloads),
            UpstreamEvent::Closed => (self.translator.finish(), true),
            UpstreamEvent::Broken(how) => {
                let message = format!("the local upstream's stream {how}");
                (self.translator.fail(&log.redact(&message)), true)
            }
        };
        let bytes = wire_bytes(&events);
        if !ended {
            return Step::More(bytes);
        }
        let mut notes = std::mem::take(&mut self.notes);
        let outcome = match events.last() {
            Some(last) if last.event == "response.failed" => {
                let message = last.data["response"]["error"]["message"]
                    .as_str()
                    .unwrap_or("stream failed");
                notes.push(format!("stream ended with response.failed: {message}"));
                Outcome::UpstreamError
            }
            _ => Outcome::Forwarded,
        };
        Step::End {
            bytes,
            outcome,
            reason: Some(notes.join("; ")),
        }
    }
}

fn wire_bytes(events: &[SseEvent]) -> Bytes {
    let mut bytes = Vec::new();
    for event in events {
        bytes.extend_from_slice(&event.to_bytes());
    }
    Bytes::from(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_accepts_what_codex_sends() {
        let accepted = accepted_fields();
        for field in [
            "client_metadata",
            "include",
            "input",
            "instructions",
            "model",
            "parallel_tool_calls",
            "prompt_cache_key",
            "reasoning",
            "store",
            "stream",
            "tool_choice",
            "tools",
        ] {
            assert!(accepted.contains(&field), "{field}");
        }
        assert!(
            !FORWARDED_FIELDS.contains(&"client_metadata") && request::DROPPED_FIELDS.contains(&"prompt_cache_key")
        );
    }
}
