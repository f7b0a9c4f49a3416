//! `POST /v1/responses` translated to chat completions for an upstream that does not speak
//! the Responses API: the pure `request`, `response` and `stream` modules do the work; this
//! file sends, reads and relays.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

use super::answers::{API, refused, stream_headers, upstream_error};
use super::request::to_chat_request;
use super::response::{from_chat_completion, new_id, skeleton};
use super::stream::ResponsesStream;
use crate::adapter::api_error::{ErrorType, error_response, response};
use crate::adapter::forward::{
    Endpoint, MAX_UPSTREAM_BODY_BYTES, is_event_stream, redact_body, relayed_headers, reported_model,
};
use crate::adapter::ledger::{Outcome, RequestLog};
use crate::adapter::redact::SpreadSecretWatch;
use crate::adapter::sampling;
use crate::adapter::sse::{SseData, SseEvent};
use crate::adapter::sse_driver::{SseDriver, SseHandler, Step, UpstreamEvent};
use crate::adapter::state::{Shared, Upward, accept};

/// Translates the admitted request to `POST {base}/chat/completions` and the answer back.
pub(super) async fn translate(
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
    let skeleton = skeleton(&object, &shared.model, &new_id("resp"));
    let upward = Upward {
        endpoint: Endpoint::ChatCompletions,
        served_model: Some(&shared.model),
        accept: Some(&accept(streaming)),
        anthropic_version: None,
        unencodable: "case-harness adapter: the translated request could not be encoded",
    };
    let (answer, mut log) = match shared.post_admitted(API, log, &chat.body, upward).await {
        Ok(sent) => sent,
        Err(refused) => return refused,
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
                    self.spread.push_payload(&value);
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
