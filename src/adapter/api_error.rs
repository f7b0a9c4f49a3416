//! Errors in the shape each API's clients parse, and the local answers built from them.
//!
//! [`ErrorType`] names Anthropic's error types (the OpenAI shape reuses the same names as its
//! `type`), [`TranslateError`] is a request or answer the Anthropic translation cannot carry,
//! and [`local_error`]/[`error_response`] turn either into the JSON answer and the ledger
//! line. Both API routes and the router use these, so an error looks the same whichever
//! room made it.

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::ledger::{Api, Outcome, RequestLog};

/// The Anthropic error types this adapter produces, each with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ErrorType {
    /// 400: the request is malformed or asks for something unsupported.
    InvalidRequest,
    /// 401: missing or wrong credentials.
    Authentication,
    /// 403: the credentials may not do this.
    Permission,
    /// 404: no such resource.
    NotFound,
    /// 413: the request is too large.
    RequestTooLarge,
    /// 429: rate limited.
    RateLimit,
    /// 500: an internal error (including an upstream answer we cannot translate).
    Api,
    /// 529: temporarily overloaded.
    Overloaded,
}

impl ErrorType {
    /// The wire name, e.g. `invalid_request_error`.
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid_request_error",
            ErrorType::Authentication => "authentication_error",
            ErrorType::Permission => "permission_error",
            ErrorType::NotFound => "not_found_error",
            ErrorType::RequestTooLarge => "request_too_large",
            ErrorType::RateLimit => "rate_limit_error",
            ErrorType::Api => "api_error",
            ErrorType::Overloaded => "overloaded_error",
        }
    }

    /// The HTTP status Anthropic uses for this type.
    pub(crate) fn status(&self) -> u16 {
        match self {
            ErrorType::InvalidRequest => 400,
            ErrorType::Authentication => 401,
            ErrorType::Permission => 403,
            ErrorType::NotFound => 404,
            ErrorType::RequestTooLarge => 413,
            ErrorType::RateLimit => 429,
            ErrorType::Api => 500,
            ErrorType::Overloaded => 529,
        }
    }

    /// The type to report to the client when the upstream answered with HTTP `status`.
    ///
    /// 400/422 and other unlisted 4xx → `invalid_request_error` (the upstream rejected the
    /// content, e.g. a prompt longer than its context); 413 → `request_too_large`; 429 →
    /// `rate_limit_error`; 503/529 → `overloaded_error`; everything else → `api_error`.
    /// Upstream 401/403/404 are deliberately `api_error`: the client authenticated to the
    /// adapter and the model is pinned, so they mean the harness's upstream credential or
    /// URL is wrong — reporting `authentication_error` would blame the client's token.
    pub(crate) fn from_upstream_status(status: u16) -> ErrorType {
        match status {
            401 | 403 | 404 => ErrorType::Api,
            413 => ErrorType::RequestTooLarge,
            429 => ErrorType::RateLimit,
            503 | 529 => ErrorType::Overloaded,
            400..=499 => ErrorType::InvalidRequest,
            _ => ErrorType::Api,
        }
    }
}

/// A request that cannot be translated, or an upstream answer that cannot be translated back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct TranslateError {
    /// The Anthropic error type (and so the HTTP status).
    pub kind: ErrorType,
    /// A message for the client; never contains headers or secrets.
    pub message: String,
}

impl TranslateError {
    /// An `invalid_request_error`.
    pub(crate) fn invalid_request(message: impl Into<String>) -> TranslateError {
        TranslateError {
            kind: ErrorType::InvalidRequest,
            message: message.into(),
        }
    }

    /// An `api_error` (the upstream's answer could not be translated).
    pub(crate) fn api(message: impl Into<String>) -> TranslateError {
        TranslateError {
            kind: ErrorType::Api,
            message: message.into(),
        }
    }
}

/// The Anthropic error body: `{"type":"error","error":{"type":…,"message":…}}`.
pub(crate) fn anthropic_error_body(kind: ErrorType, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind.as_str(), "message": message}})
}

/// A response with a status, headers and body.
pub(crate) fn response(status: StatusCode, headers: HeaderMap, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The error type of an answer the adapter makes itself with `status` (an upstream's error
/// status is mapped by [`ErrorType::from_upstream_status`] instead).
fn local_error_type(status: StatusCode) -> ErrorType {
    match status {
        StatusCode::UNAUTHORIZED => ErrorType::Authentication,
        StatusCode::FORBIDDEN => ErrorType::Permission,
        StatusCode::NOT_FOUND => ErrorType::NotFound,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorType::RequestTooLarge,
        status if status.is_server_error() => ErrorType::Api,
        _ => ErrorType::InvalidRequest,
    }
}

/// An error body in the shape the API's clients parse: OpenAI's
/// `{"error":{"message","type","code"}}`, or Anthropic's `{"type":"error","error":{"type","message"}}`.
pub(crate) fn error_body(api: Api, status: StatusCode, kind: ErrorType, message: &str) -> Vec<u8> {
    let value = match api {
        Api::Anthropic => anthropic_error_body(kind, message),
        Api::OpenAi | Api::Local => {
            json!({"error": {"message": message, "type": kind.as_str(), "code": status.as_u16()}})
        }
    };
    value.to_string().into_bytes()
}

/// Answers locally with a JSON error and writes the ledger line.
pub(crate) fn local_error(log: RequestLog, api: Api, status: StatusCode, outcome: Outcome, message: &str) -> Response {
    error_response(
        log,
        api,
        status,
        local_error_type(status),
        outcome,
        message,
        HeaderMap::new(),
    )
}

/// A JSON error answer of `status` and `kind` with extra `headers`; writes the ledger line.
/// The message has the run's secrets redacted before it goes anywhere.
pub(crate) fn error_response(
    log: RequestLog,
    api: Api,
    status: StatusCode,
    kind: ErrorType,
    outcome: Outcome,
    message: &str,
    mut headers: HeaderMap,
) -> Response {
    let message = log.redact(message);
    let body = error_body(api, status, kind, &message);
    log.finish(status.as_u16(), body.len() as u64, outcome, Some(&message));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response(status, headers, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- errors

    #[test]
    fn error_types_have_anthropic_names_and_statuses() {
        let all = [
            (ErrorType::InvalidRequest, "invalid_request_error", 400),
            (ErrorType::Authentication, "authentication_error", 401),
            (ErrorType::Permission, "permission_error", 403),
            (ErrorType::NotFound, "not_found_error", 404),
            (ErrorType::RequestTooLarge, "request_too_large", 413),
            (ErrorType::RateLimit, "rate_limit_error", 429),
            (ErrorType::Api, "api_error", 500),
            (ErrorType::Overloaded, "overloaded_error", 529),
        ];
        for (kind, name, status) in all {
            assert_eq!(kind.as_str(), name);
            assert_eq!(kind.status(), status);
        }
    }

    #[test]
    fn upstream_statuses_map_to_client_error_types() {
        assert_eq!(ErrorType::from_upstream_status(400), ErrorType::InvalidRequest);
        assert_eq!(ErrorType::from_upstream_status(422), ErrorType::InvalidRequest);
        assert_eq!(ErrorType::from_upstream_status(413), ErrorType::RequestTooLarge);
        assert_eq!(ErrorType::from_upstream_status(429), ErrorType::RateLimit);
        assert_eq!(ErrorType::from_upstream_status(503), ErrorType::Overloaded);
        assert_eq!(ErrorType::from_upstream_status(500), ErrorType::Api);
        // The upstream credential is the harness's, not the client's.
        assert_eq!(ErrorType::from_upstream_status(401), ErrorType::Api);
        assert_eq!(ErrorType::from_upstream_status(404), ErrorType::Api);
    }

    #[test]
    fn error_body_has_anthropic_shape() {
        assert_eq!(
            anthropic_error_body(ErrorType::RateLimit, "slow down"),
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
        );
        let err = TranslateError::invalid_request("bad");
        assert_eq!(err.to_string(), "bad");
        assert_eq!(
            anthropic_error_body(err.kind, &err.message)["error"]["type"],
            "invalid_request_error"
        );
    }

    #[test]
    fn error_bodies_take_the_api_shape() {
        let body = |api, status| {
            serde_json::from_slice::<serde_json::Value>(&error_body(api, status, local_error_type(status), "no"))
                .expect("json")
        };
        let openai = body(Api::OpenAi, StatusCode::FORBIDDEN);
        assert_eq!(openai["error"]["type"], "permission_error");
        assert_eq!(openai["error"]["message"], "no");
        assert_eq!(openai["error"]["code"], 403);
        let anthropic = body(Api::Anthropic, StatusCode::UNAUTHORIZED);
        assert_eq!(
            anthropic,
            json!({"type": "error", "error": {"type": "authentication_error", "message": "no"}})
        );
        assert_eq!(
            body(Api::Anthropic, StatusCode::FORBIDDEN)["error"]["type"],
            "permission_error"
        );
        assert_eq!(
            body(Api::Anthropic, StatusCode::NOT_FOUND)["error"]["type"],
            "not_found_error"
        );
        assert_eq!(
            body(Api::Anthropic, StatusCode::BAD_GATEWAY)["error"]["type"],
            "api_error"
        );
        assert_eq!(
            body(Api::Anthropic, StatusCode::METHOD_NOT_ALLOWED)["error"]["type"],
            "invalid_request_error"
        );
    }
}
