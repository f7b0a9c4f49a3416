//! What both ways of serving `POST /v1/responses` answer alike: a refusal, an upstream
//! error and the headers of a stream.

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::adapter::api_error::{ErrorType, TranslateError, error_response, response};
use crate::adapter::ledger::{Api, Outcome, RequestLog};
use crate::adapter::upstream_error::{classify, record_cause};

/// The ledger's `api` of the route, and the shape of its errors.
pub(super) const API: Api = Api::OpenAi;

/// A request this route refuses (never forwarded, not a fallback attempt): 400.
pub(super) fn refused(log: RequestLog, err: &TranslateError) -> Response {
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

pub(super) fn stream_headers(mut headers: HeaderMap) -> HeaderMap {
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers
}

/// An upstream error answer: its status and (redacted) body, as on chat completions, with
/// the cause on the ledger line.
pub(super) fn upstream_error(mut log: RequestLog, status: StatusCode, headers: HeaderMap, body: Vec<u8>) -> Response {
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
