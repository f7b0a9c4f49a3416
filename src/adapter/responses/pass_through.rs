//! `POST /v1/responses` passed through to an upstream that speaks the Responses API itself:
//! the answer comes back as the upstream gave it, except that a non-streamed response's
//! `model` is the admitted name; a stream is relayed chunk by chunk and counts as served only
//! when `response.completed` (or `response.incomplete`) went by without `response.failed` or
//! `error`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use serde_json::{Map, Value};

use super::answers::{API, stream_headers, upstream_error};
use crate::adapter::api_error::response;
use crate::adapter::forward::{Endpoint, MAX_UPSTREAM_BODY_BYTES, is_event_stream, redact_body, relayed_headers};
use crate::adapter::ledger::{Outcome, RequestLog};
use crate::adapter::redact::SpreadSecretWatch;
use crate::adapter::sampling;
use crate::adapter::sse::SseData;
use crate::adapter::sse_driver::{SseDriver, SseHandler, Step, UpstreamEvent};
use crate::adapter::state::{Shared, Upward, accept};

/// Pins the sampling, forwards the admitted request to `POST {base}/responses` and relays
/// the answer.
pub(super) async fn pass_through(
    shared: &Arc<Shared>,
    mut object: Map<String, Value>,
    mut log: RequestLog,
    notes: Vec<String>,
) -> Response {
    sampling::apply(&shared.sampling, &mut object, &mut log);
    let streaming = object.get("stream").and_then(Value::as_bool) == Some(true);
    let upward = Upward {
        endpoint: Endpoint::Responses,
        served_model: Some(&shared.model),
        accept: Some(&accept(streaming)),
        anthropic_version: None,
        unencodable: "case-harness adapter: the pinned request could not be re-encoded",
    };
    let (answer, mut log) = match shared.post_admitted(API, log, &object, upward).await {
        Ok(sent) => sent,
        Err(refused) => return refused,
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
                            self.spread.push_payload(&value);
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
