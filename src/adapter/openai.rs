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
//! ([`SseParser`](super::anthropic::SseParser), shared with the Anthropic translation) watches
//! the `data:` payloads go by for the reported model.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use futures_util::{Stream, StreamExt};
use serde_json::Value;

use super::anthropic::{SseData, SseParser};
use super::ledger::{Api, Outcome, RequestLog};
use super::pinning;
use super::{Endpoint, MAX_UPSTREAM_BODY_BYTES, Shared, is_event_stream, local_error, reported_model, response};
use crate::upstream;

/// `GET /v1/models`: the upstream's list, as it is.
pub(crate) async fn models(shared: &Arc<Shared>, mut log: RequestLog) -> Response {
    log.set_forwarded(None, &shared.upstream_host);
    match shared
        .send_upstream(Method::GET, Endpoint::Api("models"), None, None)
        .await
    {
        Ok(answer) => relay(shared, Api::OpenAi, answer, log).await,
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
    let (object, mut log) = match shared.admit_body(
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
        Ok(answer) => relay(shared, api, answer, log).await,
        Err(failure) => shared.upstream_failed(api, log, failure),
    }
}

/// The upstream headers Case gets back.
pub(crate) fn relayed_headers(upstream: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in [CONTENT_TYPE, CACHE_CONTROL, RETRY_AFTER] {
        if let Some(value) = upstream.get(&name) {
            headers.insert(name, value.clone());
        }
    }
    headers
}

/// The ledger reason for an upstream status that is not a plain success.
pub(crate) fn status_reason(status: StatusCode) -> Option<String> {
    if status.is_success() {
        None
    } else if status.is_redirection() {
        Some(format!(
            "upstream answered {}; redirect not followed, Location withheld",
            status.as_u16()
        ))
    } else {
        Some(format!(
            "upstream answered {}; returned as is, not retried",
            status.as_u16()
        ))
    }
}

/// Returns the upstream's answer to Case: SSE relayed as it arrives, anything else read
/// whole (bounded) and returned unchanged.
pub(crate) async fn relay(shared: &Arc<Shared>, api: Api, answer: reqwest::Response, mut log: RequestLog) -> Response {
    let status = answer.status();
    let headers = relayed_headers(answer.headers());
    // Only a success is streamed: an error body is read whole, so that it can be redacted.
    if status.is_success() && is_event_stream(&headers) {
        log.set_status(status.as_u16());
        let stream = SseRelay {
            upstream: Box::pin(answer.bytes_stream()),
            parser: Some(SseParser::new()),
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
    let reason = status_reason(status);
    log.finish(
        status.as_u16(),
        body.len() as u64,
        Outcome::Forwarded,
        reason.as_deref(),
    );
    response(status, headers, Body::from(body))
}

/// An upstream error body with the run's secrets redacted (an upstream may echo the key it
/// was sent, or the request, into its error text). Unchanged when it holds none.
pub(crate) fn redact_body(log: &RequestLog, body: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8_lossy(&body);
    let redacted = log.redact(&text);
    if redacted == text { body } else { redacted.into_bytes() }
}

/// An upstream body as a stream of chunks.
pub(crate) type UpstreamStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// One SSE answer being relayed; its ledger line is written when the stream ends, breaks,
/// or is dropped because Case went away.
struct SseRelay {
    upstream: UpstreamStream,
    /// Looks for the reported model; `None` once found, or once the stream stopped parsing
    /// (the bytes are relayed as they are either way: parsing is only for the ledger).
    parser: Option<SseParser>,
    /// `None` once the ledger line is written: the stream then ends.
    log: Option<RequestLog>,
    idle: Duration,
    status: StatusCode,
    bytes_out: u64,
    base: crate::upstream::LocalBaseUrl,
}

impl SseRelay {
    async fn step(mut self) -> Option<(Result<Bytes, std::io::Error>, SseRelay)> {
        let mut log = self.log.take()?;
        match tokio::time::timeout(self.idle, self.upstream.next()).await {
            Ok(Some(Ok(chunk))) => {
                self.bytes_out += chunk.len() as u64;
                log.set_bytes_out(self.bytes_out);
                if let Some(parser) = &mut self.parser {
                    match parser.push(&chunk) {
                        Ok(payloads) => {
                            let model = payloads.iter().find_map(|payload| match payload {
                                SseData::Json(value) => value.get("model").and_then(Value::as_str),
                                SseData::Done => None,
                            });
                            if let Some(model) = model {
                                log.note_upstream_model(model);
                                self.parser = None;
                            }
                        }
                        Err(_) => self.parser = None,
                    }
                }
                self.log = Some(log);
                Some((Ok(chunk), self))
            }
            Ok(None) => {
                let reason = status_reason(self.status);
                log.finish(
                    self.status.as_u16(),
                    self.bytes_out,
                    Outcome::Forwarded,
                    reason.as_deref(),
                );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_safe_upstream_headers_come_back() {
        let mut upstream = HeaderMap::new();
        upstream.insert(CONTENT_TYPE, "application/json".parse().expect("value"));
        upstream.insert(RETRY_AFTER, "3".parse().expect("value"));
        upstream.insert("location", "http://example.com/".parse().expect("value"));
        upstream.insert("set-cookie", "a=b".parse().expect("value"));
        let relayed = relayed_headers(&upstream);
        assert_eq!(relayed.len(), 2);
        assert!(relayed.get("location").is_none());
    }

    #[test]
    fn redirects_and_errors_get_a_reason() {
        assert_eq!(status_reason(StatusCode::OK), None);
        assert!(status_reason(StatusCode::FOUND).is_some_and(|reason| reason.contains("not followed")));
        assert!(status_reason(StatusCode::TOO_MANY_REQUESTS).is_some_and(|reason| reason.contains("429")));
    }
}
