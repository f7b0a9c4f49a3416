//! The OpenAI routes — `GET /v1/models` and `POST /v1/chat/completions` — and the relay
//! of the upstream's answer back to Case.
//!
//! The upstream already speaks OpenAI, so nothing is translated: the admitted request goes
//! up, the answer comes back with its status and body unchanged. A non-streamed answer is
//! read whole (to record the `model` it reports); an SSE answer is relayed chunk by chunk
//! the moment each arrives, while [`SseDataDecoder`] watches the `data:` lines go by for the
//! reported model. The decoder is shared with the Anthropic translation, which needs the
//! same upstream chunks as JSON.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use futures_util::{Stream, StreamExt};
use serde_json::Value;

use super::ledger::{Api, Outcome, RequestLog};
use super::pinning::admit_request;
use super::{MAX_UPSTREAM_BODY_BYTES, Shared, UpstreamFailure, local_error, reported_model, response};
use crate::upstream::{self, UpstreamError};

/// Longest SSE line the decoder keeps looking into (1 MiB); longer lines are skipped.
const MAX_SSE_LINE_BYTES: usize = 1024 * 1024;

/// `GET /v1/models`: the upstream's list, as it is.
pub(crate) async fn models(shared: &Arc<Shared>, mut log: RequestLog) -> Response {
    log.set_forwarded(None, &shared.upstream_host);
    match shared.send_upstream(Method::GET, "models", None, None).await {
        Ok(answer) => relay(shared, Api::OpenAi, answer, log).await,
        Err(failure) => shared.upstream_failed(Api::OpenAi, log, failure),
    }
}

/// `POST /v1/chat/completions`: admitted (or refused) by the one pinning rule, then relayed.
pub(crate) async fn chat_completions(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    body: Bytes,
    mut log: RequestLog,
) -> Response {
    let api = Api::OpenAi;
    let path = "/v1/chat/completions";
    let mut object = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(object)) => object,
        _ => {
            let message = "case-harness adapter: the request body must be a JSON object";
            return local_error(log, api, StatusCode::BAD_REQUEST, Outcome::BadRequest, message);
        }
    };
    match admit_request(api, &shared.model, headers, &mut object) {
        Ok(admission) => log.set_requested_model(admission.requested_model.as_deref()),
        Err(refusal) => return shared.refuse(api, log, path, refusal),
    }
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
        .send_upstream(Method::POST, "chat/completions", Some(upstream_body), accept)
        .await
    {
        Ok(answer) => relay(shared, api, answer, log).await,
        Err(failure) => shared.upstream_failed(api, log, failure),
    }
}

/// The upstream headers Case gets back.
fn relayed_headers(upstream: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in [CONTENT_TYPE, CACHE_CONTROL, RETRY_AFTER] {
        if let Some(value) = upstream.get(&name) {
            headers.insert(name, value.clone());
        }
    }
    headers
}

/// The ledger reason for an upstream status that is not a plain success.
fn status_reason(status: StatusCode) -> Option<String> {
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
pub(crate) async fn relay(
    shared: &Arc<Shared>,
    api: Api,
    mut answer: reqwest::Response,
    mut log: RequestLog,
) -> Response {
    let status = answer.status();
    let headers = relayed_headers(answer.headers());
    let is_sse = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().to_ascii_lowercase().starts_with("text/event-stream"));
    if is_sse {
        log.set_status(status.as_u16());
        let stream = SseRelay {
            upstream: Box::pin(answer.bytes_stream()),
            decoder: SseDataDecoder::default(),
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
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout(shared.upstream_timeout, answer.chunk()).await {
            Err(_) => return shared.upstream_failed(api, log, UpstreamFailure::Timeout),
            Ok(Err(err)) => {
                let failure = UpstreamFailure::Transport(upstream::transport_error(&shared.upstream, err));
                return shared.upstream_failed(api, log, failure);
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => {
                if body.len() + chunk.len() > MAX_UPSTREAM_BODY_BYTES {
                    let failure = UpstreamFailure::Transport(UpstreamError::Transport {
                        host: shared.upstream_host.clone(),
                        reason: format!("answer larger than {} MiB", MAX_UPSTREAM_BODY_BYTES / (1024 * 1024)),
                    });
                    return shared.upstream_failed(api, log, failure);
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
    if let Some(model) = reported_model(&body) {
        log.note_upstream_model(&model);
    }
    let reason = status_reason(status);
    log.finish(
        status.as_u16(),
        body.len() as u64,
        Outcome::Forwarded,
        reason.as_deref(),
    );
    response(status, headers, Body::from(body))
}

type UpstreamStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// One SSE answer being relayed; its ledger line is written when the stream ends, breaks,
/// or is dropped because Case went away.
struct SseRelay {
    upstream: UpstreamStream,
    decoder: SseDataDecoder,
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
                if !log.has_upstream_model() {
                    for data in self.decoder.feed(&chunk) {
                        if let Some(model) = reported_model(data.as_bytes()) {
                            log.note_upstream_model(&model);
                            break;
                        }
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

/// Splits an SSE byte stream, fed in arbitrary pieces, into the payloads of its `data:`
/// lines (the `[DONE]` sentinel included; callers skip what is not JSON).
#[derive(Debug, Default)]
pub(crate) struct SseDataDecoder {
    pending: Vec<u8>,
    /// Inside a line longer than [`MAX_SSE_LINE_BYTES`]: skip to its end.
    skipping: bool,
}

impl SseDataDecoder {
    /// Feeds the next piece; returns the `data:` payloads of the lines it completed.
    pub(crate) fn feed(&mut self, mut piece: &[u8]) -> Vec<String> {
        let mut payloads = Vec::new();
        while let Some(end) = piece.iter().position(|byte| *byte == b'\n') {
            if self.skipping {
                self.skipping = false;
            } else {
                self.pending.extend_from_slice(&piece[..end]);
                if let Some(payload) = data_payload(&self.pending) {
                    payloads.push(payload);
                }
            }
            self.pending.clear();
            piece = &piece[end + 1..];
        }
        if !self.skipping {
            self.pending.extend_from_slice(piece);
            if self.pending.len() > MAX_SSE_LINE_BYTES {
                self.pending.clear();
                self.skipping = true;
            }
        }
        payloads
    }
}

fn data_payload(line: &[u8]) -> Option<String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let value = line.strip_prefix(b"data:")?;
    let value = value.strip_prefix(b" ").unwrap_or(value);
    Some(String::from_utf8_lossy(value).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lines_are_found_across_arbitrary_splits() {
        let stream = b"event: x\r\ndata: {\"model\":\"m1\"}\r\n\r\n: comment\ndata:{\"a\":1}\n\ndata: [DONE]\n\n";
        for split in 1..stream.len() {
            let mut decoder = SseDataDecoder::default();
            let mut payloads = decoder.feed(&stream[..split]);
            payloads.extend(decoder.feed(&stream[split..]));
            assert_eq!(
                payloads,
                [r#"{"model":"m1"}"#, r#"{"a":1}"#, "[DONE]"],
                "split at {split}"
            );
        }
    }

    #[test]
    fn an_endless_line_is_skipped_not_buffered() {
        let mut decoder = SseDataDecoder::default();
        let big = vec![b'x'; MAX_SSE_LINE_BYTES + 1];
        assert!(decoder.feed(b"data: ").is_empty());
        assert!(decoder.feed(&big).is_empty());
        assert!(decoder.pending.len() <= MAX_SSE_LINE_BYTES);
        assert_eq!(decoder.feed(b"tail\ndata: ok\n"), ["ok"]);
    }

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
