//! The upstream call every route shares: one request to the configured local upstream with
//! only the allow-listed headers, the loopback peer check, per-step timeouts, bounded reads,
//! and the 502/504 answer when the upstream gives nothing usable (never retried).

use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;

use super::api_error::local_error;
use super::ledger::{Api, Outcome, RequestLog};
use super::state::Shared;
use crate::upstream::{self, BodyReadError, LocalBaseUrl, UpstreamError};

/// Largest non-streamed upstream answer relayed (64 MiB); larger ones become a 502.
pub(crate) const MAX_UPSTREAM_BODY_BYTES: usize = 64 * 1024 * 1024;

/// True when `headers` declare an SSE body (`text/event-stream`).
pub(crate) fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().to_ascii_lowercase().starts_with("text/event-stream"))
}

/// Where under the upstream a request goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Endpoint<'a> {
    /// `{base}/models`.
    Models,
    /// `{base}/chat/completions`.
    ChatCompletions,
    /// `{base}/messages` (pass-through).
    Messages,
    /// `{base}/messages/count_tokens` (pass-through).
    CountTokens,
    /// `{base}/responses` (Responses pass-through).
    Responses,
    /// Under the server's root (`{origin}/tokenize`): a server's own endpoints, which local
    /// servers mount beside their OpenAI API, not under it.
    Origin(&'a str),
}

/// The upstream URLs of the forwarded routes, parsed once at start: parsing one per request
/// (with its IDNA host check) was 3% of the adapter's CPU in a profile (BENCHMARKS.md).
pub(crate) struct UpstreamUrls {
    models: reqwest::Url,
    chat_completions: reqwest::Url,
    messages: reqwest::Url,
    count_tokens: reqwest::Url,
    responses: reqwest::Url,
}

impl UpstreamUrls {
    pub(crate) fn new(base: &LocalBaseUrl) -> Result<UpstreamUrls, url::ParseError> {
        let parse = |path| reqwest::Url::parse(&base.endpoint(path));
        Ok(UpstreamUrls {
            models: parse("models")?,
            chat_completions: parse("chat/completions")?,
            messages: parse("messages")?,
            count_tokens: parse("messages/count_tokens")?,
            responses: parse("responses")?,
        })
    }
}

/// Why the upstream gave no usable answer.
pub(crate) enum UpstreamFailure {
    /// No response headers within `upstream_timeout`, or a body chunk overdue.
    Timeout,
    /// Connection or protocol failure, or an answer too large to relay.
    Transport(UpstreamError),
    /// The connection's peer was not loopback.
    NotLoopback(UpstreamError),
}

impl Shared {
    /// Sends one request to the upstream `endpoint` with only the allow-listed headers, and
    /// checks that the answer came from a loopback peer. With `anthropic_version` the request
    /// is an Anthropic one (pass-through): that header goes along, and the upstream key is
    /// sent as `x-api-key` too, as Anthropic-speaking servers expect it.
    pub(crate) async fn send_upstream(
        &self,
        method: Method,
        endpoint: Endpoint<'_>,
        json_body: Option<Vec<u8>>,
        accept: Option<&HeaderValue>,
        anthropic_version: Option<&HeaderValue>,
    ) -> Result<reqwest::Response, UpstreamFailure> {
        let urls = &self.upstream_urls;
        let mut request = match endpoint {
            Endpoint::Models => self.client.request(method, urls.models.clone()),
            Endpoint::ChatCompletions => self.client.request(method, urls.chat_completions.clone()),
            Endpoint::Messages => self.client.request(method, urls.messages.clone()),
            Endpoint::CountTokens => self.client.request(method, urls.count_tokens.clone()),
            Endpoint::Responses => self.client.request(method, urls.responses.clone()),
            Endpoint::Origin(path) => self.client.request(method, self.upstream.origin_endpoint(path)),
        };
        if let Some(body) = json_body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body);
        }
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept.clone());
        }
        if let Some(version) = anthropic_version {
            request = request.header("anthropic-version", version.clone());
        }
        if let Some(key) = &self.upstream_key {
            request = request.bearer_auth(key.expose());
            if anthropic_version.is_some() {
                request = request.header("x-api-key", key.expose());
            }
        }
        let response = match tokio::time::timeout(self.upstream_timeout, request.send()).await {
            Err(_) => return Err(UpstreamFailure::Timeout),
            Ok(Err(err)) if err.is_timeout() => return Err(UpstreamFailure::Timeout),
            Ok(Err(err)) => {
                return Err(UpstreamFailure::Transport(upstream::transport_error(
                    &self.upstream,
                    err,
                )));
            }
            Ok(Ok(response)) => response,
        };
        upstream::check_peer(&self.upstream, &response).map_err(UpstreamFailure::NotLoopback)?;
        Ok(response)
    }

    /// Reads a whole (non-streamed) upstream body, at most `limit` bytes, waiting at most
    /// `upstream_timeout` for each chunk.
    pub(crate) async fn read_body(
        &self,
        mut answer: reqwest::Response,
        limit: usize,
    ) -> Result<Vec<u8>, UpstreamFailure> {
        upstream::read_body_bounded(&mut answer, limit, Some(self.upstream_timeout))
            .await
            .map_err(|err| match err {
                BodyReadError::Timeout => UpstreamFailure::Timeout,
                BodyReadError::Transport(err) => {
                    UpstreamFailure::Transport(upstream::transport_error(&self.upstream, err))
                }
                BodyReadError::TooLarge => UpstreamFailure::Transport(UpstreamError::Transport {
                    host: self.upstream_host.clone(),
                    reason: format!("answer larger than {} MiB", limit / (1024 * 1024)),
                }),
            })
    }

    /// Answers 504 (timeout) or 502 (anything else) for an upstream that gave no usable
    /// answer, and writes the ledger line. Nothing is retried.
    pub(crate) fn upstream_failed(&self, api: Api, log: RequestLog, failure: UpstreamFailure) -> Response {
        let (status, message) = match failure {
            UpstreamFailure::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "case-harness adapter: the local upstream {} did not answer within {} s; not retried",
                    self.upstream_host,
                    self.upstream_timeout.as_secs_f64()
                ),
            ),
            UpstreamFailure::Transport(err) => (
                StatusCode::BAD_GATEWAY,
                format!("case-harness adapter: {err}; not retried"),
            ),
            UpstreamFailure::NotLoopback(err) => (
                StatusCode::BAD_GATEWAY,
                format!("case-harness adapter: {err}; the answer was discarded"),
            ),
        };
        local_error(log, api, status, Outcome::UpstreamError, &message)
    }
}

/// The model name a JSON answer reports in its top-level `model` field.
pub(crate) fn reported_model(answer: &serde_json::Value) -> Option<&str> {
    answer.get("model")?.as_str()
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

/// An upstream body (answer or error) with the run's secrets redacted: an upstream may echo
/// the key it was sent, or the request, into what it says. An echo marks the ledger line
/// [`super::ledger::Outcome::SecretEchoed`], which fails the run.
pub(crate) fn redact_body(log: &mut RequestLog, body: Vec<u8>) -> Vec<u8> {
    log.redact_upstream_bytes(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_without_a_loopback_peer_is_refused_by_the_peer_check() {
        let base = LocalBaseUrl::parse("http://127.0.0.1:8080/v1").expect("url");
        // Built, not received: it has no remote address at all.
        let answer = reqwest::Response::from(axum::http::Response::new(""));
        assert!(answer.remote_addr().is_none());
        let refused = upstream::check_peer(&base, &answer).expect_err("no peer is not loopback");
        assert!(matches!(refused, UpstreamError::NotLoopbackPeer { .. }), "{refused:?}");
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
