//! The one way out to the upstream: hyper-util's pooled HTTP/1 client ([`Forwarder`]) with
//! `TCP_NODELAY` and the route URLs parsed once, sending only the allow-listed headers, checking
//! the loopback peer, with per-step timeouts, bounded reads, and the 502/504 answer when the
//! upstream gives nothing usable (never retried).
//!
//! It knows nothing of the adapter's shared state: [`super::state::Shared`] holds a
//! [`Forwarder`] and hands every route its methods. reqwest stays for the start-up probes only
//! (docs/decisions.md, "Forwarding on hyper's client").

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;
use futures_util::Stream;
use http_body_util::{BodyDataStream, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::api_error::local_error;
use super::ledger::{Api, Outcome, RequestLog};
use crate::secrets::SecretValue;
use crate::upstream::{LocalBaseUrl, UpstreamError};

/// Largest non-streamed upstream answer relayed (64 MiB); larger ones become a 502.
pub(crate) const MAX_UPSTREAM_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Longest wait for a TCP connection to the upstream (as the probes' reqwest client).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an idle pooled upstream connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

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
    models: Uri,
    chat_completions: Uri,
    messages: Uri,
    count_tokens: Uri,
    responses: Uri,
}

impl UpstreamUrls {
    pub(crate) fn new(base: &LocalBaseUrl) -> Result<UpstreamUrls, axum::http::uri::InvalidUri> {
        let parse = |path| Uri::try_from(base.endpoint(path));
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

/// The upstream's answer: status and headers, and its body still to be read (whole with
/// [`Forwarder::read_body`], or chunk by chunk with [`UpstreamAnswer::bytes_stream`]).
pub(crate) struct UpstreamAnswer {
    inner: axum::http::Response<Incoming>,
}

/// An upstream body as a stream of chunks.
pub(crate) type UpstreamChunks = Pin<Box<dyn Stream<Item = Result<Bytes, hyper::Error>> + Send>>;

impl UpstreamAnswer {
    pub(crate) fn status(&self) -> StatusCode {
        self.inner.status()
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The body's data chunks as they arrive (trailers are dropped).
    pub(crate) fn bytes_stream(self) -> UpstreamChunks {
        Box::pin(BodyDataStream::new(self.inner.into_body()))
    }
}

/// Resolves only `localhost`, and only to the loopback addresses (as the probes' client
/// pins it): `/etc/hosts` cannot send the adapter elsewhere. Any other name is refused; the
/// base URL's host is a loopback literal or `localhost` (`LocalBaseUrl`).
#[derive(Clone, Copy)]
struct LoopbackResolver;

impl tower_service::Service<Name> for LoopbackResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        std::future::ready(if name.as_str().eq_ignore_ascii_case("localhost") {
            Ok(vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 0),
            ]
            .into_iter())
        } else {
            Err(std::io::Error::other(format!(
                "{} is not a loopback name; only localhost is resolved",
                name.as_str()
            )))
        })
    }
}

/// The forwarding client and everything a request to the upstream needs, made once.
pub(crate) struct Forwarder {
    client: Client<HttpConnector<LoopbackResolver>, Full<Bytes>>,
    urls: UpstreamUrls,
    base: LocalBaseUrl,
    host: String,
    timeout: Duration,
    /// `Authorization: Bearer …` and `x-api-key: …`, built once and marked sensitive (hyper
    /// never logs them).
    credentials: Option<(HeaderValue, HeaderValue)>,
}

/// Why a [`Forwarder`] cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ForwarderError {
    /// An endpoint URL does not parse as a request URI.
    #[error("cannot build the upstream's endpoint URLs: {0}")]
    Url(#[source] axum::http::uri::InvalidUri),
    /// The upstream key cannot be sent in a header (the message never quotes it).
    #[error("the upstream key cannot be sent in an HTTP header (it contains a control character)")]
    Key,
}

impl Forwarder {
    /// The pooled client for `base` (HTTP/1, no proxy, no redirects, no retries,
    /// `TCP_NODELAY`), with `key` sent as a bearer token. Timeouts are applied per step
    /// (headers, each chunk) by the caller's `timeout`: a whole-request one would cut long
    /// streams off.
    pub(crate) fn new(
        base: &LocalBaseUrl,
        key: Option<&SecretValue>,
        timeout: Duration,
    ) -> Result<Forwarder, ForwarderError> {
        let urls = UpstreamUrls::new(base).map_err(ForwarderError::Url)?;
        let credentials = match key {
            None => None,
            Some(key) => {
                let mut bearer =
                    HeaderValue::try_from(format!("Bearer {}", key.expose())).map_err(|_| ForwarderError::Key)?;
                bearer.set_sensitive(true);
                let mut api_key = HeaderValue::try_from(key.expose()).map_err(|_| ForwarderError::Key)?;
                api_key.set_sensitive(true);
                Some((bearer, api_key))
            }
        };
        let mut connector = HttpConnector::new_with_resolver(LoopbackResolver);
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .retry_canceled_requests(false)
            .build(connector);
        Ok(Forwarder {
            client,
            urls,
            base: base.clone(),
            host: base.host_port(),
            timeout,
            credentials,
        })
    }

    /// How long a request waits for the upstream's headers, and a read for each chunk.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends one request to the upstream `endpoint` with only the allow-listed headers, and
    /// checks that the answer came from a loopback peer. With `anthropic_version` the request
    /// is an Anthropic one (pass-through): that header goes along, and the upstream key is
    /// sent as `x-api-key` too, as Anthropic-speaking servers expect it.
    pub(crate) async fn send(
        &self,
        method: Method,
        endpoint: Endpoint<'_>,
        json_body: Option<Vec<u8>>,
        accept: Option<&HeaderValue>,
        anthropic_version: Option<&HeaderValue>,
    ) -> Result<UpstreamAnswer, UpstreamFailure> {
        let uri = match endpoint {
            Endpoint::Models => self.urls.models.clone(),
            Endpoint::ChatCompletions => self.urls.chat_completions.clone(),
            Endpoint::Messages => self.urls.messages.clone(),
            Endpoint::CountTokens => self.urls.count_tokens.clone(),
            Endpoint::Responses => self.urls.responses.clone(),
            Endpoint::Origin(path) => Uri::try_from(self.base.origin_endpoint(path)).map_err(|err| {
                UpstreamFailure::Transport(UpstreamError::Transport {
                    host: self.host.clone(),
                    reason: format!("request failed (the URL of /{path} does not parse: {err})"),
                })
            })?,
        };
        let has_body = json_body.is_some();
        let mut request = Request::new(Full::new(Bytes::from(json_body.unwrap_or_default())));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        if has_body {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        headers.insert(
            ACCEPT,
            accept.cloned().unwrap_or_else(|| HeaderValue::from_static("*/*")),
        );
        if let Some(version) = anthropic_version {
            headers.insert(HeaderName::from_static("anthropic-version"), version.clone());
        }
        if let Some((bearer, api_key)) = &self.credentials {
            headers.insert(AUTHORIZATION, bearer.clone());
            if anthropic_version.is_some() {
                headers.insert(HeaderName::from_static("x-api-key"), api_key.clone());
            }
        }
        let response = match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Err(_) => return Err(UpstreamFailure::Timeout),
            Ok(Err(err)) => return Err(UpstreamFailure::Transport(self.client_error(&err))),
            Ok(Ok(response)) => response,
        };
        check_peer(&self.host, &response).map_err(UpstreamFailure::NotLoopback)?;
        Ok(UpstreamAnswer { inner: response })
    }

    /// Reads a whole (non-streamed) upstream body, at most `limit` bytes, waiting at most
    /// the upstream timeout for each chunk.
    pub(crate) async fn read_body(&self, answer: UpstreamAnswer, limit: usize) -> Result<Vec<u8>, UpstreamFailure> {
        let mut body = answer.inner.into_body();
        let mut whole = Vec::new();
        loop {
            let frame = tokio::time::timeout(self.timeout, body.frame())
                .await
                .map_err(|_| UpstreamFailure::Timeout)?;
            match frame {
                None => return Ok(whole),
                Some(Err(err)) => return Err(UpstreamFailure::Transport(stream_error(&self.base, &err))),
                Some(Ok(frame)) => {
                    let Ok(chunk) = frame.into_data() else { continue };
                    if whole.len() + chunk.len() > limit {
                        return Err(UpstreamFailure::Transport(UpstreamError::Transport {
                            host: self.host.clone(),
                            reason: format!("answer larger than {} MiB", limit / (1024 * 1024)),
                        }));
                    }
                    if whole.is_empty() {
                        whole.reserve(chunk.len());
                    }
                    whole.extend_from_slice(&chunk);
                }
            }
        }
    }

    /// Answers 504 (timeout) or 502 (anything else) for an upstream that gave no usable
    /// answer, and writes the ledger line. Nothing is retried.
    pub(crate) fn failed(&self, api: Api, log: RequestLog, failure: UpstreamFailure) -> Response {
        let (status, message) = match failure {
            UpstreamFailure::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "case-harness adapter: the local upstream {} did not answer within {} s; not retried",
                    self.host,
                    self.timeout.as_secs_f64()
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

    /// A client error described without its URL, worded as the probes' errors are.
    fn client_error(&self, err: &hyper_util::client::legacy::Error) -> UpstreamError {
        let kind = if err.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        UpstreamError::Transport {
            host: self.host.clone(),
            reason: format!("{kind} ({})", error_chain(err)),
        }
    }
}

/// A broken upstream body (mid-answer), described without its URL.
pub(crate) fn stream_error(base: &LocalBaseUrl, err: &hyper::Error) -> UpstreamError {
    UpstreamError::Transport {
        host: base.host_port(),
        reason: format!("request failed ({})", error_chain(err)),
    }
}

/// `err` and its sources, `: `-joined (none of them holds a URL: hyper's errors do not).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Refuses an answer whose connection peer (hyper-util's `HttpInfo`) is not loopback or is
/// unknown.
fn check_peer<B>(host: &str, response: &axum::http::Response<B>) -> Result<(), UpstreamError> {
    let peer = response
        .extensions()
        .get::<hyper_util::client::legacy::connect::HttpInfo>()
        .map(|info| info.remote_addr());
    match peer {
        Some(peer) if peer.ip().is_loopback() => Ok(()),
        other => Err(UpstreamError::NotLoopbackPeer {
            host: host.to_owned(),
            peer: other.map_or_else(|| "an unknown address".to_owned(), |peer| peer.to_string()),
        }),
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
    log.redact_upstream_bytes(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_without_a_loopback_peer_is_refused_by_the_peer_check() {
        // Built, not received: it has no remote address at all.
        let answer = axum::http::Response::new("");
        let refused = check_peer("127.0.0.1:8080", &answer).expect_err("no peer is not loopback");
        assert!(matches!(refused, UpstreamError::NotLoopbackPeer { .. }), "{refused:?}");
    }

    #[test]
    fn only_localhost_is_resolved_and_only_to_loopback() {
        use tower_service::Service as _;
        let resolve = |name: &str| {
            let name: Name = name.parse().expect("name");
            LoopbackResolver.call(name).into_inner()
        };
        let addrs: Vec<SocketAddr> = resolve("localhost").expect("localhost").collect();
        assert!(
            !addrs.is_empty() && addrs.iter().all(|addr| addr.ip().is_loopback()),
            "{addrs:?}"
        );
        assert!(resolve("example.com").is_err());
    }

    #[tokio::test]
    async fn forwarded_requests_carry_only_the_allow_listed_headers_over_one_pooled_connection() {
        use std::sync::{Arc, Mutex};
        let seen: Arc<Mutex<Vec<(HeaderMap, std::net::SocketAddr)>>> = Arc::default();
        let record = seen.clone();
        let app = axum::Router::new().fallback(
            move |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
                  headers: HeaderMap| {
                let record = record.clone();
                async move {
                    record.lock().expect("lock").push((headers, peer));
                    "{}"
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
        });
        let base = LocalBaseUrl::parse(&format!("http://localhost:{}/v1", addr.port())).expect("base");
        let key = SecretValue::new("upstream-key-1234".to_owned());
        let forwarder = Forwarder::new(&base, Some(&key), Duration::from_secs(5)).expect("forwarder");
        let version = HeaderValue::from_static("2023-06-01");
        for anthropic in [None, Some(&version)] {
            let answer = match forwarder
                .send(
                    Method::POST,
                    Endpoint::ChatCompletions,
                    Some(b"{}".to_vec()),
                    None,
                    anthropic,
                )
                .await
            {
                Ok(answer) => answer,
                Err(_) => panic!("the upstream did not answer"),
            };
            assert_eq!(answer.status(), StatusCode::OK);
            let body = match forwarder.read_body(answer, 1024).await {
                Ok(body) => body,
                Err(_) => panic!("the body was not read"),
            };
            assert_eq!(body, b"{}");
        }
        let seen = seen.lock().expect("lock");
        assert_eq!(seen.len(), 2);
        let (plain, anthropic) = (&seen[0].0, &seen[1].0);
        assert_eq!(plain.get(AUTHORIZATION).expect("bearer"), "Bearer upstream-key-1234");
        assert!(plain.get("x-api-key").is_none());
        assert_eq!(anthropic.get("x-api-key").expect("x-api-key"), "upstream-key-1234");
        assert_eq!(anthropic.get("anthropic-version").expect("version"), "2023-06-01");
        let mut names: Vec<&str> = plain.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["accept", "authorization", "content-length", "content-type", "host"]
        );
        // Kept alive: the second request came over the first one's connection.
        assert_eq!(seen[0].1, seen[1].1);
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
