//! An upstream's error answer, read for what it means and said the way Case's client acts on.
//!
//! Local servers word the commonest failure, a prompt longer than the model's context, each
//! their own way: llama-server answers `exceed_context_size_error` with `n_prompt_tokens` and
//! `n_ctx`; llama-cpp-python and vLLM answer OpenAI's `context_length_exceeded` ("maximum
//! context length is N tokens. However, you requested M tokens"); an Anthropic-speaking server
//! says "prompt is too long: M tokens > N maximum". [`classify`] reads each into one typed
//! [`UpstreamCause`], which the ledger line keeps (so a failed run's report names it), and
//! [`anthropic_upstream_error`] gives Case Anthropic's own words for it — Claude Code
//! recognises them and stops instead of retrying.
//!
//! Whether Case's client should retry is said by [`retry_hint`]: the official SDKs and Claude
//! Code obey `x-should-retry`. Measured with Claude Code 2.1.328: an upstream 500 without the
//! header was sent 9 times in 120 s; with `x-should-retry: false`, once.

use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::api_error::{ErrorType, anthropic_error_body, response};
use super::forward::status_reason;
use super::ledger::{Outcome, RequestLog};
use crate::output::UpstreamCause;

/// The header Anthropic's and OpenAI's SDKs (and Claude Code) read to decide on a retry.
pub(crate) const SHOULD_RETRY: HeaderName = HeaderName::from_static("x-should-retry");

/// Longest upstream error text quoted back to Case, in characters.
const MAX_QUOTED_UPSTREAM_CHARS: usize = 300;

/// `x-should-retry: false` for an error answer that would fail the same way again: anything
/// but the statuses that mean "later" (408, 409, 429, 502 from a dropped connection, 503, 529).
/// A local model's 500 is its answer to this request (llama-cpp-python answers a malformed one
/// with 500), and a local model that timed out (504) will time out again.
pub(crate) fn retry_hint(status: StatusCode) -> Option<HeaderValue> {
    let error = status.is_client_error() || status.is_server_error();
    let transient = matches!(status.as_u16(), 408 | 409 | 429 | 502 | 503 | 529);
    (error && !transient).then(|| HeaderValue::from_static("false"))
}

/// What an upstream error answer with `status` and JSON `body` means, when it says.
pub(crate) fn classify(status: StatusCode, body: Option<&Value>) -> Option<UpstreamCause> {
    if let Some(cause) = body.and_then(context_exceeded) {
        return Some(cause);
    }
    status.is_server_error().then_some(UpstreamCause::ServerError {
        status: status.as_u16(),
    })
}

/// What an upstream error answer to a request `log` describes means: a refusal of a pinned
/// sampling field first (the run must fail naming it), else [`classify`].
pub(crate) fn classify_request(log: &RequestLog, status: StatusCode, body: Option<&Value>) -> Option<UpstreamCause> {
    let rejected = log
        .pin()
        .and_then(|pin| super::sampling::rejected_field(pin, status, body));
    match rejected {
        Some(field) => Some(UpstreamCause::PinRejected {
            field,
            status: status.as_u16(),
        }),
        None => classify(status, body),
    }
}

/// A too-long prompt in any of the wordings above.
fn context_exceeded(body: &Value) -> Option<UpstreamCause> {
    let error = body.get("error")?;
    let text = |key: &str| error.get(key).and_then(Value::as_str).unwrap_or_default();
    let message = text("message");
    if text("type") == "exceed_context_size_error" {
        return Some(UpstreamCause::ContextExceeded {
            request_tokens: error.get("n_prompt_tokens").and_then(Value::as_u64),
            context_tokens: error.get("n_ctx").and_then(Value::as_u64),
        });
    }
    if text("code") == "context_length_exceeded" || message.contains("maximum context length is") {
        return Some(UpstreamCause::ContextExceeded {
            request_tokens: number_after(message, "you requested "),
            context_tokens: number_after(message, "maximum context length is "),
        });
    }
    if let Some(counts) = message.strip_prefix("prompt is too long: ") {
        let (request, context) = counts.split_once(" > ")?;
        return Some(UpstreamCause::ContextExceeded {
            request_tokens: number_after(request, ""),
            context_tokens: number_after(context, ""),
        });
    }
    None
}

/// The whole number that follows the first `marker` in `text`.
fn number_after(text: &str, marker: &str) -> Option<u64> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .map_or(rest, |end| &rest[..end]);
    digits.parse().ok()
}

/// The text of an OpenAI-style (`error.message`, `error`), Anthropic-style (`error.message`),
/// FastAPI-style (`detail`) or plain (`message`) error body.
fn upstream_error_text(value: &Value) -> Option<String> {
    let error = value.get("error");
    let text = error
        .and_then(|error| error.get("message"))
        .or(error.filter(|error| error.is_string()))
        .or_else(|| value.get("detail"))
        .or_else(|| value.get("message"))?;
    Some(match text {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    })
}

/// Keeps `cause` on the ledger line and returns the line's reason: Case gets the upstream's
/// words, the ledger only the status and the typed cause (it never holds body content).
pub(crate) fn record_cause(log: &mut RequestLog, status: StatusCode, cause: Option<UpstreamCause>) -> Option<String> {
    let Some(cause) = cause else {
        return status_reason(status);
    };
    log.set_upstream_cause(cause);
    Some(format!("upstream answered {}: {cause}; not retried", status.as_u16()))
}

/// An upstream error answer (already redacted) for an Anthropic route, in Anthropic's shape,
/// with the upstream's status: the same in translation and pass-through mode. A too-long prompt
/// is said in Anthropic's words; the cause goes to the ledger line, which is written here.
pub(crate) fn anthropic_upstream_error(
    mut log: RequestLog,
    status: StatusCode,
    retry_after: Option<HeaderValue>,
    body: &[u8],
) -> Response {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let cause = classify_request(&log, status, parsed.as_ref());
    let detail = parsed
        .as_ref()
        .and_then(upstream_error_text)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    // Redacted before the cut, which could otherwise leave a secret's prefix behind.
    let detail: String = log.redact(&detail).chars().take(MAX_QUOTED_UPSTREAM_CHARS).collect();
    let mut message = match cause {
        Some(UpstreamCause::ContextExceeded {
            request_tokens: Some(request),
            context_tokens: Some(context),
        }) => format!(
            "prompt is too long: {request} tokens > {context} maximum (the local model's context window); \
             case-harness adapter: the local upstream answered HTTP {}; not retried",
            status.as_u16()
        ),
        _ => format!(
            "case-harness adapter: the local upstream answered HTTP {}; not retried",
            status.as_u16()
        ),
    };
    if !detail.is_empty() {
        message.push_str(": ");
        message.push_str(&detail);
    }
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(value) = retry_after {
        headers.insert(RETRY_AFTER, value);
    }
    let kind = ErrorType::from_upstream_status(status.as_u16());
    // `detail`, the only upstream text in `message`, is redacted above.
    let bytes = anthropic_error_body(kind, &message).to_string().into_bytes();
    let reason = record_cause(&mut log, status, cause);
    log.finish(
        status.as_u16(),
        bytes.len() as u64,
        Outcome::Forwarded,
        reason.as_deref(),
    );
    response(status, headers, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn too_long(request: Option<u64>, context: Option<u64>) -> Option<UpstreamCause> {
        Some(UpstreamCause::ContextExceeded {
            request_tokens: request,
            context_tokens: context,
        })
    }

    #[test]
    fn each_servers_too_long_prompt_is_one_cause() {
        let bad = StatusCode::BAD_REQUEST;
        // Measured: llama-server (llama.cpp in llama-cpp-python 0.3.36's sdist), both routes.
        let llama_server = json!({"error": {"code": 400, "type": "exceed_context_size_error",
            "message": "request (12031 tokens) exceeds the available context size (8192 tokens), try increasing it",
            "n_prompt_tokens": 12031, "n_ctx": 8192}});
        assert_eq!(classify(bad, Some(&llama_server)), too_long(Some(12031), Some(8192)));
        // Measured: llama-cpp-python 0.3.36 (vLLM words it the same way).
        let openai = json!({"error": {"type": "invalid_request_error", "code": "context_length_exceeded",
            "message": "This model's maximum context length is 2048 tokens. However, you requested 36092 tokens (4092 in the messages, 32000 in the completion)."}});
        assert_eq!(classify(bad, Some(&openai)), too_long(Some(36092), Some(2048)));
        let anthropic = json!({"type": "error", "error": {"type": "invalid_request_error",
            "message": "prompt is too long: 208310 tokens > 200000 maximum"}});
        assert_eq!(classify(bad, Some(&anthropic)), too_long(Some(208310), Some(200000)));
        let unnumbered = json!({"error": {"code": "context_length_exceeded", "message": "too long"}});
        assert_eq!(classify(bad, Some(&unnumbered)), too_long(None, None));
    }

    #[test]
    fn other_errors_are_a_server_error_or_nothing() {
        let other = json!({"error": {"message": "model crashed"}});
        assert_eq!(
            classify(StatusCode::INTERNAL_SERVER_ERROR, Some(&other)),
            Some(UpstreamCause::ServerError { status: 500 })
        );
        assert_eq!(classify(StatusCode::BAD_REQUEST, Some(&other)), None);
        assert_eq!(classify(StatusCode::BAD_REQUEST, None), None);
    }

    #[test]
    fn causes_read_as_the_report_says_them() {
        assert_eq!(
            too_long(Some(12031), Some(8192)).expect("cause").to_string(),
            "the local model's context (8192 tokens) is smaller than the request (12031 tokens)"
        );
        assert_eq!(
            too_long(None, None).expect("cause").to_string(),
            "the local model's context is smaller than the request"
        );
    }

    #[test]
    fn only_errors_that_would_repeat_say_do_not_retry() {
        for status in [400, 401, 403, 404, 413, 422, 500, 501, 504] {
            let status = StatusCode::from_u16(status).expect("status");
            assert_eq!(retry_hint(status), Some(HeaderValue::from_static("false")), "{status}");
        }
        for status in [200, 204, 302, 408, 409, 429, 502, 503, 529] {
            let status = StatusCode::from_u16(status).expect("status");
            assert_eq!(retry_hint(status), None, "{status}");
        }
    }

    #[test]
    fn upstream_error_texts_of_common_servers() {
        for (body, text) in [
            (
                json!({"error": {"message": "context too long", "type": "x"}}),
                "context too long",
            ),
            (json!({"error": "model crashed"}), "model crashed"),
            (json!({"detail": "Not Found"}), "Not Found"),
            (json!({"message": "busy"}), "busy"),
        ] {
            assert_eq!(upstream_error_text(&body).as_deref(), Some(text), "{body}");
        }
        assert_eq!(upstream_error_text(&json!({"other": 1})), None);
    }
}
