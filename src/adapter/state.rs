//! What every request of one adapter shares ([`Shared`]), the evidence headers it adds to
//! every answer, and the two decisions every model-naming route makes the same way: pin
//! the body by the one pinning rule, or refuse it (counting a fallback attempt).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

use super::api_error::local_error;
use super::forward::{Endpoint, Forwarder, UpstreamAnswer, UpstreamFailure};
use super::ledger::{Api, Ledger, Outcome, RequestLog};
use super::pinning::{self, Refusal};
use super::tokenizer::{self, TokenCount, TokenizerProbe};
use super::upstream_api::{AdapterMode, ResponsesUpstream};
use super::upstream_error::{SHOULD_RETRY, retry_hint};
use crate::output::SamplingPin;
use crate::secrets::SecretValue;
use crate::trace::{Trace, TraceEvent};
use crate::upstream::LocalBaseUrl;

/// Response header naming the admitted model, on every response.
pub const HEADER_SERVED_MODEL: &str = "x-case-harness-served-model";
/// Response header naming the upstream `host:port`, on every response.
pub const HEADER_UPSTREAM: &str = "x-case-harness-upstream";
/// Response header counting the fallback attempts refused so far (this request included).
pub const HEADER_FALLBACK_ATTEMPTS: &str = "x-case-harness-fallback-attempts";
/// Response header of `POST /v1/messages/count_tokens`: `exact` when the upstream's own
/// tokenizer counted, `estimate` when the adapter estimated (see the module docs).
pub const HEADER_TOKEN_COUNT: &str = "x-case-harness-token-count";

/// State shared by every request of one adapter.
pub(crate) struct Shared {
    pub(super) upstream: LocalBaseUrl,
    /// The forwarding client (hyper's pooled one); every route's way out to the upstream.
    pub(super) forwarder: Forwarder,
    pub(super) upstream_host: String,
    pub(super) model: String,
    pub(super) upstream_key: Option<SecretValue>,
    pub(super) case_token: SecretValue,
    pub(super) trace: Trace,
    pub(super) upstream_timeout: Duration,
    /// The probes' client (the mode and Responses probes, once each): reqwest, shared with the
    /// gates' probes in `crate::upstream` (docs/decisions.md, "Forwarding on hyper's client").
    pub(super) client: reqwest::Client,
    pub(super) ledger: Arc<Ledger>,
    pub(super) fallback_attempts: AtomicU64,
    pub(super) served_model_header: HeaderValue,
    pub(super) upstream_header: HeaderValue,
    /// What `count_tokens` has learnt about the upstream's tokenizer endpoint.
    pub(super) tokenizer: std::sync::Mutex<TokenizerProbe>,
    /// [`MAX_IN_FLIGHT`](super::MAX_IN_FLIGHT) permits, one held by each request being handled.
    pub(super) in_flight: Arc<tokio::sync::Semaphore>,
    /// [`MAX_BUFFERED_BODY_BYTES`](super::MAX_BUFFERED_BODY_BYTES) in KiB permits: request
    /// bodies held at once.
    pub(super) body_budget: Arc<tokio::sync::Semaphore>,
    /// How the Anthropic routes are served (decided once, at start).
    pub(super) mode: AdapterMode,
    /// How `POST /v1/responses` is served (decided by its first request).
    pub(super) responses: ResponsesUpstream,
    /// The sampling pin set on every forwarded generation request (see `sampling.rs`).
    pub(super) sampling: SamplingPin,
}

/// An admitted JSON request on its way up, as [`Shared::post_admitted`] sends it.
pub(crate) struct Upward<'a> {
    /// Where it goes.
    pub(crate) endpoint: Endpoint<'a>,
    /// The model the ledger says served it (`None` for a request that asks no model).
    pub(crate) served_model: Option<&'a str>,
    /// `Accept` (see [`accept`]; the chat route passes Case's own).
    pub(crate) accept: Option<&'a HeaderValue>,
    /// `anthropic-version`, on the Anthropic pass-through routes.
    pub(crate) anthropic_version: Option<&'a HeaderValue>,
    /// The local error's words should the body not encode.
    pub(crate) unencodable: &'static str,
}

/// `Accept` for an upstream request that asks for an event stream or for JSON.
pub(crate) fn accept(streaming: bool) -> HeaderValue {
    HeaderValue::from_static(if streaming {
        "text/event-stream"
    } else {
        "application/json"
    })
}

impl Shared {
    /// Sends an admitted request up: encodes `body`, writes into `log` that it was forwarded,
    /// and posts it. `Err` is the answer Case gets instead: a local 500 when `body` does not
    /// encode (serde_json fails only on map keys that are not strings, which a parsed request
    /// cannot hold), or the upstream's failure. Every generation route goes up through here.
    pub(crate) async fn post_admitted(
        &self,
        api: Api,
        mut log: RequestLog,
        body: &impl serde::Serialize,
        upward: Upward<'_>,
    ) -> Result<(UpstreamAnswer, RequestLog), Response> {
        let Ok(upstream_body) = serde_json::to_vec(body) else {
            let status = StatusCode::INTERNAL_SERVER_ERROR;
            return Err(local_error(log, api, status, Outcome::BadRequest, upward.unencodable));
        };
        log.set_forwarded(upward.served_model, &self.upstream_host);
        let sent = self
            .send_upstream(
                Method::POST,
                upward.endpoint,
                Some(upstream_body),
                upward.accept,
                upward.anthropic_version,
            )
            .await;
        match sent {
            Ok(answer) => Ok((answer, log)),
            Err(failure) => Err(self.upstream_failed(api, log, failure)),
        }
    }

    /// Sends one request to the upstream (see [`Forwarder::send`]).
    pub(crate) async fn send_upstream(
        &self,
        method: Method,
        endpoint: Endpoint<'_>,
        json_body: Option<Vec<u8>>,
        accept: Option<&HeaderValue>,
        anthropic_version: Option<&HeaderValue>,
    ) -> Result<UpstreamAnswer, UpstreamFailure> {
        self.forwarder
            .send(method, endpoint, json_body, accept, anthropic_version)
            .await
    }

    /// Reads a whole (non-streamed) upstream body, at most `limit` bytes (see
    /// [`Forwarder::read_body`]).
    pub(crate) async fn read_body(&self, answer: UpstreamAnswer, limit: usize) -> Result<Vec<u8>, UpstreamFailure> {
        self.forwarder.read_body(answer, limit).await
    }

    /// Answers 504 or 502 for an upstream that gave no usable answer (see [`Forwarder::failed`]).
    pub(crate) fn upstream_failed(&self, api: Api, log: RequestLog, failure: UpstreamFailure) -> Response {
        self.forwarder.failed(api, log, failure)
    }

    /// Counts `text`'s tokens with the upstream's own tokenizer when it has one this adapter
    /// knows, remembering what it learns (see [`tokenizer::count_with_upstream`]).
    pub(crate) async fn count_tokens(&self, text: &str, log: &mut RequestLog) -> TokenCount {
        tokenizer::count_with_upstream(
            &self.forwarder,
            &self.tokenizer,
            &self.upstream,
            &self.upstream_host,
            &self.model,
            text,
            log,
        )
        .await
    }

    /// Adds the three evidence headers, and to an error that would fail the same way again
    /// `x-should-retry: false` ([`retry_hint`]), whichever room made it.
    pub(super) fn decorate(&self, mut response: Response) -> Response {
        let attempts = self.fallback_attempts.load(Ordering::SeqCst);
        let headers = response.headers_mut();
        headers.insert(
            HeaderName::from_static(HEADER_SERVED_MODEL),
            self.served_model_header.clone(),
        );
        headers.insert(HeaderName::from_static(HEADER_UPSTREAM), self.upstream_header.clone());
        headers.insert(
            HeaderName::from_static(HEADER_FALLBACK_ATTEMPTS),
            HeaderValue::from(attempts),
        );
        if let Some(hint) = retry_hint(response.status()) {
            response.headers_mut().insert(SHOULD_RETRY, hint);
        }
        response
    }

    /// The body of a model-naming `POST` as a JSON object the pinning rule lets through (its
    /// requested model noted in `log`), or the local answer refusing it: 400 for a body that is
    /// not an object, else what [`Shared::refuse`] answers. The OpenAI and Anthropic routes
    /// share it so that both pin exactly the same way.
    #[expect(
        clippy::result_large_err,
        reason = "the refusal goes straight back to the router, once per request: boxing it buys nothing"
    )]
    pub(crate) fn pin_body(
        &self,
        api: Api,
        path: &str,
        allowed: Option<&[&str]>,
        headers: &HeaderMap,
        body: &[u8],
        mut log: RequestLog,
    ) -> Result<(Map<String, Value>, RequestLog), Response> {
        let mut object = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => object,
            _ => {
                let message = "case-harness adapter: the request body must be a JSON object";
                return Err(local_error(
                    log,
                    api,
                    StatusCode::BAD_REQUEST,
                    Outcome::BadRequest,
                    message,
                ));
            }
        };
        match pinning::pin_request(api, &self.model, allowed, headers, &mut object) {
            Ok(pinned) => log.set_requested_model(pinned.requested_model.as_deref()),
            Err(refusal) => return Err(self.refuse(api, log, path, refusal)),
        }
        Ok((object, log))
    }

    /// Answers a refused request: records the fallback attempt (trace and counter) when it
    /// is one, answers 403/400 with the reasons, and writes the ledger line.
    pub(crate) fn refuse(&self, api: Api, log: RequestLog, path: &str, refusal: Refusal) -> Response {
        let status = refusal.status();
        self.refuse_as(api, log, path, refusal, status)
    }

    /// [`Shared::refuse`] answering `status` instead of the refusal's own (the Responses
    /// route answers a fallback attempt 400: Codex retries a 403, and stops on a 400).
    pub(crate) fn refuse_as(
        &self,
        api: Api,
        mut log: RequestLog,
        path: &str,
        refusal: Refusal,
        status: StatusCode,
    ) -> Response {
        log.set_requested_model(refusal.requested_model.as_deref());
        let outcome = if refusal.is_fallback_attempt() {
            let attempt = self.fallback_attempts.fetch_add(1, Ordering::SeqCst) + 1;
            let scrubber = self.ledger.scrubber();
            let event = TraceEvent::FallbackAttempt {
                api,
                path: scrubber.clean(path),
                requested_model: refusal.requested_model.as_deref().map(|model| scrubber.clean(model)),
                reason: scrubber.clean(&refusal.message),
                code: refusal.code().to_owned(),
                attempt,
            };
            if let Err(err) = self.trace.record(&event) {
                eprintln!("case-harness adapter: warning: cannot write the trace: {err}");
            }
            Outcome::FallbackRefused
        } else {
            Outcome::BadRequest
        };
        local_error(log, api, status, outcome, &refusal.message)
    }
}
