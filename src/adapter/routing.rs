//! Routing: the one handler every request goes through — the in-flight bound,
//! authentication with the per-run token, the ledger line, the route's method and body
//! bound — and the dispatch to the OpenAI routes, the Anthropic routes or a local answer.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::Value;

use super::api_error::{local_error, response};
use super::forward::is_event_stream;
use super::ledger::{Api, Outcome, RequestLog};
use super::pinning::{self, Refusal};
use super::state::Shared;
use super::upstream_api::{AdapterMode, Route};
use super::{messages, openai, passthrough, responses};
use crate::secrets::SecretValue;

/// Largest request body Case may send (8 MiB); larger ones are answered 413.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// Most requests handled at once (a stream counts until it ends); more wait their turn, so
/// a runaway Case holds at most this many upstream requests open. 64: an agent with
/// sub-agents, or a benchmark, sends dozens at once, and holding them back here only queues
/// them (docs/decisions.md, "In flight").
pub const MAX_IN_FLIGHT: usize = 64;
/// Most request-body bytes held at once, over every request in flight: the memory bound
/// that [`MAX_IN_FLIGHT`] alone gave when it was 8 (8 × [`MAX_REQUEST_BYTES`]). A request
/// reserves its `Content-Length` (or, without one, [`MAX_REQUEST_BYTES`]) before its body is
/// read, and keeps it as long as its in-flight permit.
pub const MAX_BUFFERED_BODY_BYTES: usize = 8 * MAX_REQUEST_BYTES;
/// The unit of [`MAX_BUFFERED_BODY_BYTES`]' semaphore (one permit per KiB).
pub(super) const BODY_BUDGET_UNIT: usize = 1024;

/// The one handler: every request, whatever its path, goes through authentication, the
/// ledger and the evidence headers here.
pub(super) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    // The semaphores are never closed, so these only wait.
    let in_flight = shared.in_flight.clone().acquire_owned().await.ok();
    let body_budget = shared
        .body_budget
        .clone()
        .acquire_many_owned(body_reservation(request.headers()))
        .await
        .ok();
    let permit = (in_flight, body_budget);
    let route = Route::of(request.uri().path());
    let log = RequestLog::new(
        shared.ledger.clone(),
        route.api(),
        request.method().as_str(),
        request.uri().path(),
    );
    let response = dispatch(&shared, route, request, log).await;
    let response = shared.decorate(response);
    if !is_event_stream(response.headers()) {
        return response;
    }
    // A stream is in flight until its body ends (or Case drops it): it keeps the permit.
    let (parts, body) = response.into_parts();
    let body = body.into_data_stream().map(move |chunk| {
        let _held = &permit;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

async fn dispatch(shared: &Arc<Shared>, route: Route, request: Request, mut log: RequestLog) -> Response {
    let api = route.api();
    if route == Route::WarmUp && request.method() == Method::HEAD {
        // A probe carries no credentials and gets nothing but a 200 and the evidence headers.
        let reason = "connection warm-up probe; answered locally, no credentials needed";
        log.finish(StatusCode::OK.as_u16(), 0, Outcome::AnsweredLocally, Some(reason));
        return response(StatusCode::OK, HeaderMap::new(), Body::empty());
    }
    if let Err(reason) = authenticate(&shared.case_token, request.headers()) {
        let message = format!("case-harness adapter: {reason}");
        return local_error(log, api, StatusCode::UNAUTHORIZED, Outcome::Unauthorized, &message);
    }
    let Some(method) = route.method() else {
        let message = format!(
            "case-harness adapter: {} {} is not served here and was not forwarded",
            request.method(),
            request.uri().path()
        );
        if request.method() == Method::POST {
            let path = request.uri().path().to_owned();
            // A POST naming another model (or routing) is an attempt, whatever the path: it
            // is what a client falling back to another API of another model sends.
            if let Ok(body) = axum::body::to_bytes(request.into_body(), MAX_REQUEST_BYTES).await {
                log.set_bytes_in(body.len());
                if let Some(refusal) = unknown_route_attempt(api, &shared.model, &body) {
                    return shared.refuse(api, log, &path, refusal);
                }
            }
        }
        return local_error(log, api, StatusCode::NOT_FOUND, Outcome::NotFound, &message);
    };
    if request.method() != method {
        let message = format!(
            "case-harness adapter: {} accepts only {method}, not {}",
            request.uri().path(),
            request.method()
        );
        return local_error(
            log,
            api,
            StatusCode::METHOD_NOT_ALLOWED,
            Outcome::MethodNotAllowed,
            &message,
        );
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            let message = format!(
                "case-harness adapter: the request body could not be read (larger than {} MiB, or cut off)",
                MAX_REQUEST_BYTES / (1024 * 1024)
            );
            return local_error(log, api, StatusCode::PAYLOAD_TOO_LARGE, Outcome::BadRequest, &message);
        }
    };
    log.set_bytes_in(body.len());
    match route {
        Route::Models => openai::models(shared, log).await,
        Route::ChatCompletions => openai::chat_completions(shared, &parts.headers, body, log).await,
        Route::Responses => responses::create(shared, &parts.headers, body, log).await,
        Route::Messages | Route::CountTokens if shared.mode == AdapterMode::PassThrough => {
            let route = if route == Route::Messages {
                passthrough::Route::Messages
            } else {
                passthrough::Route::CountTokens
            };
            passthrough::forward(shared, route, &parts.headers, body, log).await
        }
        Route::Messages => messages::create(shared, &parts.headers, body, log).await,
        Route::CountTokens => messages::count_tokens(shared, &parts.headers, body, log).await,
        Route::EventLogging => {
            log.finish(
                StatusCode::NO_CONTENT.as_u16(),
                0,
                Outcome::AnsweredLocally,
                Some("agent telemetry, answered locally"),
            );
            response(StatusCode::NO_CONTENT, HeaderMap::new(), Body::empty())
        }
        // Unknown has no method and WarmUp only HEAD: both returned above.
        Route::WarmUp | Route::Unknown => local_error(log, api, StatusCode::NOT_FOUND, Outcome::NotFound, "not served"),
    }
}

/// The share of [`MAX_BUFFERED_BODY_BYTES`] (in [`BODY_BUDGET_UNIT`]s) a request reserves
/// before its body is read: its `Content-Length`, or [`MAX_REQUEST_BYTES`] when it has none
/// or claims more (such a body is refused at that limit, 413).
fn body_reservation(headers: &HeaderMap) -> u32 {
    let bytes = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok())
        .map_or(MAX_REQUEST_BYTES, |length| length.min(MAX_REQUEST_BYTES));
    // At least one unit: a bodiless request still counts against the budget's waiters.
    u32::try_from(bytes.div_ceil(BODY_BUDGET_UNIT).max(1)).unwrap_or(u32::MAX)
}

/// The refusal for a `POST` to a path the adapter does not serve whose body is a JSON object
/// naming a model other than the admitted one, or asking for routing; `None` otherwise.
fn unknown_route_attempt(api: Api, admitted: &str, body: &[u8]) -> Option<Refusal> {
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    match pinning::pin_request(api, admitted, None, &HeaderMap::new(), &mut object) {
        Err(refusal) if refusal.is_fallback_attempt() => Some(refusal),
        _ => None,
    }
}

/// Checks the per-run token: at least one credential, and every one presented must match.
fn authenticate(token: &SecretValue, headers: &HeaderMap) -> Result<(), &'static str> {
    let mut presented = false;
    for value in headers.get_all(AUTHORIZATION) {
        presented = true;
        let credential = bearer_credential(value.as_bytes())
            .ok_or("the Authorization header is not `Bearer TOKEN`; the per-run token is required")?;
        if !token.matches(credential) {
            return Err("the Authorization header does not carry the per-run token");
        }
    }
    for value in headers.get_all("x-api-key") {
        presented = true;
        if !token.matches(value.as_bytes()) {
            return Err("the x-api-key header does not carry the per-run token");
        }
    }
    if presented {
        Ok(())
    } else {
        Err("no per-run token; send `Authorization: Bearer TOKEN` or `x-api-key: TOKEN`")
    }
}

fn bearer_credential(value: &[u8]) -> Option<&[u8]> {
    let scheme = value.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let credential = value.get(7..)?.trim_ascii();
    (!credential.is_empty()).then_some(credential)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("value"));
        }
        map
    }

    #[test]
    fn either_credential_header_authenticates() {
        let token = SecretValue::new("tok-1".to_owned());
        assert_eq!(
            authenticate(&token, &headers(&[("authorization", "Bearer tok-1")])),
            Ok(())
        );
        assert_eq!(
            authenticate(&token, &headers(&[("authorization", "bearer  tok-1 ")])),
            Ok(())
        );
        assert_eq!(authenticate(&token, &headers(&[("x-api-key", "tok-1")])), Ok(()));
    }

    #[test]
    fn missing_wrong_or_mixed_credentials_are_refused() {
        let token = SecretValue::new("tok-1".to_owned());
        for case in [
            headers(&[]),
            headers(&[("authorization", "Bearer tok-2")]),
            headers(&[("authorization", "Basic tok-1")]),
            headers(&[("authorization", "Bearer ")]),
            headers(&[("authorization", "tok-1")]),
            headers(&[("x-api-key", "tok-1x")]),
            headers(&[("x-api-key", "tok-1"), ("authorization", "Bearer other")]),
            headers(&[("x-api-key", "tok-1"), ("x-api-key", "other")]),
        ] {
            assert!(authenticate(&token, &case).is_err(), "{case:?}");
        }
    }
}
