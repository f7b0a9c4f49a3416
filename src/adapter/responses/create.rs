//! The entry of `POST /v1/responses`: the body pinned (every refusal a 400), hosted tools
//! stripped, only the forwarded fields kept, and the mode asked of `upstream_api` (decided by
//! the first request), then served by pass-through or translation.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

use super::answers::{API, refused};
use super::pass_through::pass_through;
use super::translate::translate;
use crate::adapter::api_error::local_error;
use crate::adapter::ledger::{Outcome, RequestLog};
use crate::adapter::pinning;
use crate::adapter::state::Shared;
use crate::adapter::upstream_api::{AdapterMode, Asked, RESPONSES, RESPONSES_PATH, strip_hosted_tools};

/// `POST /v1/responses`.
pub(crate) async fn create(shared: &Arc<Shared>, headers: &HeaderMap, body: Bytes, log: RequestLog) -> Response {
    let (mut object, log) = match pin(shared, headers, &body, log) {
        Ok(pinned) => pinned,
        Err(refused) => return refused,
    };
    let stripped = match strip_hosted_tools(&mut object) {
        Ok(stripped) => stripped,
        Err(err) => return refused(log, &err),
    };
    object.retain(|key, _| RESPONSES.forwards(key));
    let asked = Asked {
        client: &shared.client,
        base: &shared.upstream,
        key: shared.upstream_key.as_ref(),
        model: &shared.model,
        timeout: shared.upstream_timeout,
    };
    let (mode, why) = shared.responses.mode(asked).await;
    let mut notes = vec![match mode {
        AdapterMode::PassThrough => format!("passed through to POST /responses ({why})"),
        AdapterMode::Translate => format!("translated to POST /chat/completions ({why})"),
    }];
    if !stripped.is_empty() {
        notes.push(format!("tools stripped (not function tools): {}", stripped.join(", ")));
    }
    match mode {
        AdapterMode::PassThrough => pass_through(shared, object, log, notes).await,
        AdapterMode::Translate => translate(shared, object, log, notes).await,
    }
}

/// The one pinning rule, as [`Shared::pin_body`] applies it, except that every refusal is a
/// 400 (`invalid_request_error`, code `400`): Codex retries any other 4xx but 429 five times
/// as an "unexpected status", and gives up at once on a 400 (measured with 0.169.0). A
/// fallback attempt is still counted as one.
#[expect(
    clippy::result_large_err,
    reason = "as Shared::pin_body: the refusal goes straight back to the router"
)]
fn pin(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
    mut log: RequestLog,
) -> Result<(Map<String, Value>, RequestLog), Response> {
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(body) else {
        let message = "case-harness adapter: the request body must be a JSON object";
        return Err(local_error(
            log,
            API,
            StatusCode::BAD_REQUEST,
            Outcome::BadRequest,
            message,
        ));
    };
    match pinning::pin_request(API, &shared.model, Some(&RESPONSES.accepted()), headers, &mut object) {
        Ok(pinned) => log.set_requested_model(pinned.requested_model.as_deref()),
        Err(refusal) => return Err(shared.refuse_as(API, log, RESPONSES_PATH, refusal, StatusCode::BAD_REQUEST)),
    }
    Ok((object, log))
}
