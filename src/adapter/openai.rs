//! The OpenAI routes — `GET /v1/models` and `POST /v1/chat/completions` — and the relay
//! of the upstream's answer back to Case.
//!
//! `POST /v1/chat/completions` forwards only an allow-list of top-level fields
//! ([`pinning::OPENAI_CHAT_FIELDS`]): `model`, `messages`, `max_tokens`,
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
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::Value;

use super::api_error::{local_error, response};
use super::forward::{
    Endpoint, MAX_UPSTREAM_BODY_BYTES, UpstreamStream, is_event_stream, redact_body, relayed_headers, reported_model,
    status_reason,
};
use super::ledger::{Api, Outcome, RequestLog};
use super::pinning;
use super::sse::{SseData, SseParser};
use super::state::Shared;
use crate::upstream;

/// `GET /v1/models`: the upstream's list, as it is.
pub(crate) async fn models(shared: &Arc<Shared>, mut log: RequestLog) -> Response {
    log.set_forwarded(None, &shared.upstream_host);
    match shared
        .send_upstream(Method::GET, Endpoint::Api("models"), None, None)
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
    let (object, mut log) = match shared.pin_body(
        api,
        "/v1/chat/completions",
        Some(pinning::OPENAI_CHAT_FIELDS),
        headers,
        &body,
        log,
    ) {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    // What goes up is exactly what was admitted: re-serialised from the checked object.
    let upstream_body = match serde_json::to_vec(&object) {
        Ok(bytes) => bytes,
        Err(_) => {
            let message = "case-harness adapter: the admitted request could not be re-encoded";
            return local_error(
                log,
                api,
                StatusCode::INTERNAL_SERVER_ERROR,
                Outcome::BadRequest,
                message,
            );
        }
    };
    log.set_forwarded(Some(&shared.model), &shared.upstream_host);
    let accept = headers.get(ACCEPT);
    match shared
        .send_upstream(
            Method::POST,
            Endpoint::Api("chat/completions"),
            Some(upstream_body),
            accept,
        )
        .await
    {
        Ok(answer) => relay(shared, api, answer, true, log).await,
        Err(failure) => shared.upstream_failed(api, log, failure),
    }
}

/// Returns the upstream's answer to Case: SSE relayed as it arrives, anything else read
/// whole (bounded) and returned unchanged (error bodies redacted).
///
/// For a chat completion (`chat`), a 2xx is recorded as [`Outcome::Forwarded`] — and so counts
/// as served by the admitted model — only when it is an answer: a JSON body with a non-empty
/// `choices` array and no `error`, or a stream in which some chunk had a non-null
/// `finish_reason` (or `[DONE]` came after at least one choice chunk) and no chunk had an
/// `error`. Anything else is relayed just the same but recorded as [`Outcome::UpstreamError`].
pub(crate) async fn relay(
    shared: &Arc<Shared>,
    api: Api,
    answer: reqwest::Response,
    chat: bool,
    mut log: RequestLog,
) -> Response {
    let status = answer.status();
    let headers = relayed_headers(answer.headers());
    // Only a success is streamed: an error body is read whole, so that it can be redacted.
    if status.is_success() && is_event_stream(&headers) {
        log.set_status(status.as_u16());
        let stream = SseRelay {
            upstream: Box::pin(answer.bytes_stream()),
            parser: Some(SseParser::new()),
            chat,
            saw_choice: false,
            finished: false,
            errored: false,
            log: Some(log),
            idle: shared.upstream_timeout,
            status,
            bytes_out: 0,
            base: shared.upstream.clone(),
        };
        return response(
            status,
            headers,
            Body::from_stream(futures_util::stream::unfold(stream, SseRelay::step)),
        );
    }
    let body = match shared.read_body(answer, MAX_UPSTREAM_BODY_BYTES).await {
        Ok(body) => body,
        Err(failure) => return shared.upstream_failed(api, log, failure),
    };
    if let Some(model) = reported_model(&body) {
        log.note_upstream_model(&model);
    }
    let body = if status.is_success() {
        body
    } else {
        redact_body(&log, body)
    };
    let (outcome, reason) = match status_reason(status) {
        None if chat && !is_chat_answer(&body) => (
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
fn is_chat_answer(body: &[u8]) -> bool {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let has_choices = object
        .get("choices")
        .and_then(Value::as_array)
        .is_some_and(|choices| !choices.is_empty());
    has_choices && object.get("error").is_none_or(Value::is_null)
}

/// One SSE answer being relayed; its ledger line is written when the stream ends, breaks,
/// or is dropped because Case went away.
struct SseRelay {
    upstream: UpstreamStream,
    /// Reads the stream for the ledger (the reported model, and whether it completed);
    /// `None` once the stream stopped parsing (the bytes are relayed as they are either way).
    parser: Option<SseParser>,
    /// A chat completion: its end is judged (see [`relay`]).
    chat: bool,
    /// A chunk with a non-empty `choices` array went by.
    saw_choice: bool,
    /// A non-null `finish_reason`, or `[DONE]` after a choice chunk, went by.
    finished: bool,
    /// A chunk carried an `error`, or the stream stopped parsing.
    errored: bool,
    /// `None` once the ledger line is written: the stream then ends.
    log: Option<RequestLog>,
    idle: Duration,
    status: StatusCode,
    bytes_out: u64,
    base: crate::upstream::LocalBaseUrl,
}

impl SseRelay {
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
                if let Some(choices) = value.get("choices").and_then(Value::as_array)
                    && !choices.is_empty()
                {
                    self.saw_choice = true;
                    if choices
                        .iter()
                        .any(|choice| choice.get("finish_reason").is_some_and(|reason| !reason.is_null()))
                    {
                        self.finished = true;
                    }
                }
            }
            SseData::Done => {
                if self.saw_choice {
                    self.finished = true;
                }
            }
        }
    }

    async fn step(mut self) -> Option<(Result<Bytes, std::io::Error>, SseRelay)> {
        let mut log = self.log.take()?;
        match tokio::time::timeout(self.idle, self.upstream.next()).await {
            Ok(Some(Ok(chunk))) => {
                self.bytes_out += chunk.len() as u64;
                log.set_bytes_out(self.bytes_out);
                if let Some(parser) = &mut self.parser {
                    match parser.push(&chunk) {
                        Ok(payloads) => {
                            for payload in &payloads {
                                self.watch(&mut log, payload);
                            }
                        }
                        Err(_) => {
                            self.parser = None;
                            self.errored = true;
                        }
                    }
                }
                self.log = Some(log);
                Some((Ok(chunk), self))
            }
            Ok(None) => {
                let (outcome, reason) = match status_reason(self.status) {
                    None if self.chat && (self.errored || !self.finished) => (
                        Outcome::UpstreamError,
                        Some(
                            if self.errored {
                                "the stream carried an error (or was not SSE); relayed as is"
                            } else {
                                "the stream ended without a finish_reason; relayed as is"
                            }
                            .to_owned(),
                        ),
                    ),
                    reason => (Outcome::Forwarded, reason),
                };
                log.finish(self.status.as_u16(), self.bytes_out, outcome, reason.as_deref());
                None
            }
            Ok(Some(Err(err))) => {
                let reason = format!("stream cut short: {}", upstream::transport_error(&self.base, err));
                log.finish(
                    self.status.as_u16(),
                    self.bytes_out,
                    Outcome::UpstreamError,
                    Some(&reason),
                );
                Some((Err(std::io::Error::other("the upstream stream broke")), self))
            }
            Err(_) => {
                let reason = format!("stream cut short: upstream silent for {} s", self.idle.as_secs_f64());
                log.finish(
                    self.status.as_u16(),
                    self.bytes_out,
                    Outcome::UpstreamError,
                    Some(&reason),
                );
                Some((Err(std::io::Error::other("the upstream stream went silent")), self))
            }
        }
    }
}
