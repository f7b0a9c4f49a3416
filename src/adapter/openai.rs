//! The OpenAI routes — `GET /v1/models` and `POST /v1/chat/completions` — and the relay
//! of the upstream's answer back to Case.
//!
//! `POST /v1/chat/completions` forwards only an allow-list of top-level fields
//! ([`CHAT_COMPLETIONS`]): `model`, `messages`, `max_tokens`,
//! `max_completion_tokens`, `temperature`, `top_p`, `n`, `stop`, `stream`, `stream_options`,
//! `tools`, `tool_choice`, `parallel_tool_calls`, `response_format`, `seed`,
//! `presence_penalty`, `frequency_penalty`, `logit_bias`, `logprobs`, `top_logprobs`, `user`,
//! and llama.cpp's `top_k`, `min_p`, `repeat_penalty`, `typical_p`. Any other field is a 400
//! naming it (never forwarded); one that looks like routing is a 403 fallback attempt.
//!
//! The upstream already speaks OpenAI, so nothing is translated: the admitted request goes
//! up, the answer comes back with its status and body unchanged. A non-streamed answer is
//! read whole (to record the `model` it reports); an SSE answer is relayed chunk by chunk
//! the moment each arrives, while the one SSE parser of the adapter
//! ([`SseParser`], shared with the Anthropic translation) watches
//! the `data:` payloads go by for the reported model.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde_json::Value;

use super::api_error::response;
use super::forward::{
    Endpoint, MAX_UPSTREAM_BODY_BYTES, UpstreamAnswer, is_event_stream, redact_body, relayed_headers, reported_model,
};
use super::ledger::{Api, Outcome, RequestLog};
use super::redact::SpreadSecretWatch;
use super::sampling;
use super::sse::SseData;
use super::sse_driver::{SseDriver, SseHandler, Step, UpstreamEvent};
use super::state::{Shared, Upward};
use super::upstream_api::{CHAT_COMPLETIONS, CHAT_COMPLETIONS_PATH};
use super::upstream_error::{classify_request, record_cause};

/// `GET /v1/models`: the upstream's list, as it is.
pub(crate) async fn models(shared: &Arc<Shared>, mut log: RequestLog) -> Response {
    log.set_forwarded(None, &shared.upstream_host);
    match shared
        .send_upstream(Method::GET, Endpoint::Models, None, None, None)
        .await
    {
        Ok(answer) => relay(shared, Api::OpenAi, answer, false, log).await,
        Err(failure) => shared.upstream_failed(Api::OpenAi, log, failure),
    }
}

/// `POST /v1/chat/completions`: admitted (or refused) by the one pinning rule, then relayed.
pub(crate) async fn chat_completions(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    body: Bytes,
    log: RequestLog,
) -> Response {
    let api = Api::OpenAi;
    let (mut object, mut log) = match shared.pin_body(
        api,
        CHAT_COMPLETIONS_PATH,
        Some(CHAT_COMPLETIONS.forwarded),
        headers,
        &body,
        log,
    ) {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    sampling::apply(&shared.sampling, &mut object, &mut log);
    // What goes up is exactly what was admitted: re-serialised from the checked object.
    let upward = Upward {
        endpoint: Endpoint::ChatCompletions,
        served_model: Some(&shared.model),
        accept: headers.get(ACCEPT),
        anthropic_version: None,
        unencodable: "case-harness adapter: the admitted request could not be re-encoded",
    };
    match shared.post_admitted(api, log, &object, upward).await {
        Ok((answer, log)) => relay(shared, api, answer, true, log).await,
        Err(refused) => refused,
    }
}

/// Returns the upstream's answer to Case: SSE relayed as it arrives, anything else read
/// whole (bounded) and returned unchanged (error bodies redacted).
///
/// For a chat completion (`chat`), a 2xx is recorded as [`Outcome::Forwarded`] — and so counts
/// as served by the admitted model — only when it is an answer: a JSON body with a non-empty
/// `choices` array and no `error`, or a stream in which some chunk had a non-null
/// `finish_reason` (`[DONE]` alone is not an answer) and no chunk had an
/// `error`. Anything else is relayed just the same but recorded as [`Outcome::UpstreamError`].
pub(crate) async fn relay(
    shared: &Arc<Shared>,
    api: Api,
    answer: UpstreamAnswer,
    chat: bool,
    mut log: RequestLog,
) -> Response {
    let status = answer.status();
    let headers = relayed_headers(answer.headers());
    // Only a success is streamed: an error body is read whole, so that it can be redacted.
    if status.is_success() && is_event_stream(&headers) {
        let watch = ChatStreamWatch {
            chat,
            finished: false,
            errored: false,
            spread: log.spread_secret_watch(),
        };
        let body = SseDriver::body(shared, answer, watch, log, status);
        return response(status, headers, body);
    }
    let body = match shared.read_body(answer, MAX_UPSTREAM_BODY_BYTES).await {
        Ok(body) => body,
        Err(failure) => return shared.upstream_failed(api, log, failure),
    };
    // Everything Case gets is redacted, answers as much as errors (and an echo fails the run);
    // the redacted answer is parsed once, for everything the ledger line says about it.
    let body = redact_body(&mut log, body);
    let parsed = serde_json::from_slice::<Value>(&body).ok();
    if let Some(model) = parsed.as_ref().and_then(reported_model) {
        log.note_upstream_model(model);
    }
    let reason = if status.is_success() {
        None
    } else {
        let cause = classify_request(&log, status, parsed.as_ref());
        record_cause(&mut log, status, cause)
    };
    let (outcome, reason) = match reason {
        None if chat && !parsed.as_ref().is_some_and(is_chat_answer) => (
            Outcome::UpstreamError,
            Some(format!(
                "upstream answered {} without a completion (no choices, or an error); relayed as is",
                status.as_u16()
            )),
        ),
        reason => (Outcome::Forwarded, reason),
    };
    log.finish(status.as_u16(), body.len() as u64, outcome, reason.as_deref());
    response(status, headers, Body::from(body))
}

/// True for a JSON object with a non-empty `choices` array and no (non-null) `error`.
fn is_chat_answer(answer: &Value) -> bool {
    let Value::Object(object) = answer else {
        return false;
    };
    let has_choices = object
        .get("choices")
        .and_then(Value::as_array)
        .is_some_and(|choices| !choices.is_empty());
    has_choices && object.get("error").is_none_or(Value::is_null)
}

/// Watches a relayed OpenAI SSE answer go by (the bytes go to Case as they are): the model
/// it reports, and for a chat completion whether it completed.
struct ChatStreamWatch {
    /// A chat completion: its end is judged (see [`relay`]).
    chat: bool,
    /// A non-null `finish_reason` went by.
    finished: bool,
    /// A chunk carried an `error`, or the stream stopped parsing.
    errored: bool,
    /// Notices a secret the upstream spread over several deltas.
    spread: SpreadSecretWatch,
}

impl ChatStreamWatch {
    /// Notes what one `data:` payload says about the stream.
    fn watch(&mut self, log: &mut RequestLog, payload: &SseData) {
        match payload {
            SseData::Json(value) => {
                if let Some(model) = value.get("model").and_then(Value::as_str) {
                    log.note_upstream_model(model);
                }
                if value.get("error").is_some_and(|error| !error.is_null()) {
                    self.errored = true;
                }
                self.spread.push_payload(value);
                // Only a finish_reason ends an answer: `[DONE]` alone does not (as on the
                // Anthropic route, where only message_stop does).
                if value
                    .get("choices")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|choice| choice.get("finish_reason").is_some_and(|reason| !reason.is_null()))
                {
                    self.finished = true;
                }
            }
            SseData::Done => {}
        }
    }
}

impl SseHandler for ChatStreamWatch {
    fn saw_spread_secret(&self) -> bool {
        self.spread.found()
    }

    fn on_event(&mut self, log: &mut RequestLog, event: UpstreamEvent<'_>) -> Step {
        match event {
            UpstreamEvent::Chunk(chunk, payloads) => {
                match payloads {
                    Ok(payloads) => {
                        for payload in &payloads {
                            self.watch(log, payload);
                        }
                    }
                    Err(_) => self.errored = true,
                }
                Step::More(chunk.clone())
            }
            UpstreamEvent::Closed => {
                let (outcome, reason) = if self.chat && (self.errored || !self.finished) {
                    let reason = if self.errored {
                        "the stream carried an error (or was not SSE); relayed as is"
                    } else {
                        "the stream ended without a finish_reason; relayed as is"
                    };
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
            UpstreamEvent::Broken(reason) => Step::Cut {
                reason: format!("stream {reason}"),
            },
        }
    }
}
