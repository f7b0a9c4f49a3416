//! The OpenAI routes — `GET /v1/models` and `POST /v1/chat/completions` — and the relay
//! of the upstream's answer back to Case.
//!
//! `POST /v1/chat/completions` forwards only an allow-list of top-level fields
//! ([`CHAT_COMPLETIONS`]): `model`, `messages`, `max_tokens`,
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
//! ([`SseParser`], shared with the Anthropic translation) watches
//! the `data:` payloads go by for the reported model.

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::api_error::response;
use super::forward::{
    Endpoint, MAX_UPSTREAM_BODY_BYTES, UpstreamAnswer, is_event_stream, redact_body, relayed_headers, reported_model,
};
use super::ledger::{Api, Outcome, RequestLog};
use super::redact::SpreadSecretWatch;
use super::sampling;
use super::sse::SseData;
use super::sse_driver::{SseDriver, SseHandler, Step, UpstreamEvent};
use super::state::{Shared, Upward};
use super::upstream_api::{CHAT_COMPLETIONS, CHAT_COMPLETIONS_PATH};
use super::upstream_error::{classify_request, record_cause};

/// `GET /v1/models`: the upstream's list, as it is.
pub(crate) async fn models(shared: &Arc<Shared>, mut log: RequestLog) -> Response {
    log.set_forwarded(None, &shared.upstream_host);
    match shared
        .send_upstream(Method::GET, Endpoint::Models, None, None, None)
        .await
    {
        Ok(answer) => relay(shared, Api::OpenAi, answer, false, log).await,
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
    let (mut object, mut log) = match shared.pin_body(
        api,
        CHAT_COMPLETIONS_PATH,
        Some(CHAT_COMPLETIONS.forwarded),
        headers,
        &body,
        log,
    ) {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    sampling::apply(&shared.sampling, &mut object, &mut log);
    // What goes up is exactly what was admitted: re-serialised from the checked object.
    let upward = Upward {
        endpoint: Endpoint::ChatCompletions,
        served_model: Some(&shared.model),
        accept: headers.get(ACCEPT),
        anthropic_version: None,
        unencodable: "case-harness adapter: the admitted request could not be re-encoded",
    };
    match shared.post_admitted(api, log, &object, upward).await {
        Ok((answer, log)) => relay(shared, api, answer, true, log).await,
        Err(refused) => refused,
    }
}

/// Returns the upstream's answer to Case: SSE relayed as it arrives, anything else read
/// whole (bounded) and returned unchanged (error bodies redacted).
///
/// For a chat completion (`chat`), a 2xx is recorded as [`Outcome::Forwarded`] — and so counts
/// as served by the admitted model — only when it is an answer: a JSON body with a non-empty
/// `choices` array and no `error`, or a stream in which some chunk had a non-null
/// `finish_reason` (`[DONE]` alone is not an answer) and no chunk had an
/// `error`. Anything else is relayed just the same but recorded as [`Outcome::UpstreamError`].
pub(crate) async fn relay(
    shared: &Arc<Shared>,
    api: Api,
    answer: UpstreamAnswer,
    chat: bool,
    mut log: RequestLog,
) -> Response {
    let status = answer.status();
    let headers = relayed_headers(answer.headers());
    // Only a success is streamed: an error body is read whole, so that it can be redacted.
    if status.is_success() && is_event_stream(&headers) {
        let watch = ChatStreamWatch {
            chat,
            finished: false,
            errored: false,
            spread: log.spread_secret_watch(),
        };
        let body = SseDriver::body(shared, answer, watch, log, status);
        return response(status, headers, body);
    }
    let body = match shared.read_body(answer, MAX_UPSTREAM_BODY_BYTES).await {
        Ok(body) => body,
        Err(failure) => return shared.upstream_failed(api, log, failure),
    };
    // Everything Case gets is redacted, answers as much as errors (and an echo fails the run);
    // the redacted answer is parsed once, for everything the ledger line says about it.
    let body = redact_body(&mut log, body);
    // A success is read through the small view (no tree built); anything it cannot read, and
    // every error (whose cause is classified from its fields), is parsed whole.
    let view = if status.is_success() {
        AnswerView::read(&body)
    } else {
        None
    };
    let parsed = if view.is_none() {
        serde_json::from_slice::<Value>(&body).ok()
    } else {
        None
    };
    let (model, completion) = match &view {
        Some(view) => (view.model.as_deref(), view.is_completion()),
        None => (
            parsed.as_ref().and_then(reported_model),
            parsed.as_ref().is_some_and(is_chat_answer),
        ),
    };
    if let Some(model) = model {
        log.note_upstream_model(model);
    }
    let reason = if status.is_success() {
        None
    } else {
        let cause = classify_request(&log, status, parsed.as_ref());
        record_cause(&mut log, status, cause)
    };
    let (outcome, reason) = match reason {
        None if chat && !completion => (
            Outcome::UpstreamError,
            Some(format!(
                "upstream answered {} without a completion (no choices, or an error); relayed as is",
                status.as_u16()
            )),
        ),
        reason => (Outcome::Forwarded, reason),
    };
    log.finish(status.as_u16(), body.len() as u64, outcome, reason.as_deref());
    response(status, headers, Body::from(body))
}

/// What the relay reads of a whole JSON answer — the model it reports, and whether it is a chat
/// completion — without building a tree of it: the `Value` of a short answer (1.2 µs warm, two
/// dozen allocations) was the relay's largest cost after the ledger line (BENCHMARKS.md, "Fifth
/// round").
///
/// It says the same as [`reported_model`] and [`is_chat_answer`] of every answer it reads; one
/// it cannot read (not a UTF-8 JSON object, a duplicated field, a `model`, `choices` or `error`
/// of another type) goes to them ([`AnswerView::read`] is `None`). It reads JSON as the grammar
/// has it: where a `Value` refuses a well-formed answer for a limit of its own (a number beyond
/// `f64`, nesting deeper than 128, a lone surrogate escape in a skipped string), the view still
/// reads the three fields.
#[derive(Deserialize)]
struct AnswerView<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    choices: Option<Vec<IgnoredAny>>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

impl<'a> AnswerView<'a> {
    fn read(body: &'a [u8]) -> Option<AnswerView<'a>> {
        let text = std::str::from_utf8(body).ok()?;
        // A struct also reads from an array (field by position): only an object is an answer.
        if !text.trim_start().starts_with('{') {
            return None;
        }
        serde_json::from_str(text).ok()
    }

    /// As [`is_chat_answer`]: a non-empty `choices` array and no (non-null) `error`.
    fn is_completion(&self) -> bool {
        self.choices.as_ref().is_some_and(|choices| !choices.is_empty()) && self.error.is_none()
    }
}

/// True for a JSON object with a non-empty `choices` array and no (non-null) `error`.
fn is_chat_answer(answer: &Value) -> bool {
    let Value::Object(object) = answer else {
        return false;
    };
    let has_choices = object
        .get("choices")
        .and_then(Value::as_array)
        .is_some_and(|choices| !choices.is_empty());
    has_choices && object.get("error").is_none_or(Value::is_null)
}

/// Watches a relayed OpenAI SSE answer go by (the bytes go to Case as they are): the model
/// it reports, and for a chat completion whether it completed.
struct ChatStreamWatch {
    /// A chat completion: its end is judged (see [`relay`]).
    chat: bool,
    /// A non-null `finish_reason` went by.
    finished: bool,
    /// A chunk carried an `error`, or the stream stopped parsing.
    errored: bool,
    /// Notices a secret the upstream spread over several deltas.
    spread: SpreadSecretWatch,
}

impl ChatStreamWatch {
    /// Notes what one `data:` payload says about the stream.
    fn watch(&mut self, log: &mut RequestLog, payload: &SseData) {
        match payload {
            SseData::Json(value) => {
                if let Some(model) = value.get("model").and_then(Value::as_str) {
                    log.note_upstream_model(model);
                }
                if value.get("error").is_some_and(|error| !error.is_null()) {
                    self.errored = true;
                }
                self.spread.push_payload(value);
                // Only a finish_reason ends an answer: `[DONE]` alone does not (as on the
                // Anthropic route, where only message_stop does).
                if value
                    .get("choices")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|choice| choice.get("finish_reason").is_some_and(|reason| !reason.is_null()))
                {
                    self.finished = true;
                }
            }
            SseData::Done => {}
        }
    }
}

impl SseHandler for ChatStreamWatch {
    fn saw_spread_secret(&self) -> bool {
        self.spread.found()
    }

    fn on_event(&mut self, log: &mut RequestLog, event: UpstreamEvent<'_>) -> Step {
        match event {
            UpstreamEvent::Chunk(chunk, payloads) => {
                match payloads {
                    Ok(payloads) => {
                        for payload in &payloads {
                            self.watch(log, payload);
                        }
                    }
                    Err(_) => self.errored = true,
                }
                Step::More(chunk.clone())
            }
            UpstreamEvent::Closed => {
                let (outcome, reason) = if self.chat && (self.errored || !self.finished) {
                    let reason = if self.errored {
                        "the stream carried an error (or was not SSE); relayed as is"
                    } else {
                        "the stream ended without a finish_reason; relayed as is"
                    };
                    (Outcome::UpstreamError, Some(reason.to_owned()))
                } else {
                    (Outcome::Forwarded, None)
                };
                Step::End {
                    bytes: Bytes::new(),
                    outcome,
                    reason,
                }
            }
            UpstreamEvent::Broken(reason) => Step::Cut {
                reason: format!("stream {reason}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the `Value` way says of `body`: the model it reports and whether it is an answer.
    fn judged_whole(body: &str) -> (Option<String>, bool) {
        let parsed = serde_json::from_str::<Value>(body).ok();
        (
            parsed.as_ref().and_then(reported_model).map(str::to_owned),
            parsed.as_ref().is_some_and(is_chat_answer),
        )
    }

    #[test]
    fn the_view_says_what_the_whole_parse_says_or_leaves_the_answer_to_it() {
        let read = [
            r#"{"id":"x","model":"smollm2","choices":[{"message":{"content":"Paris"}}]}"#,
            r#"{"model":"m\"quoted\u00e9","choices":[{}],"error":null}"#,
            r#"{"choices":[],"model":"m"}"#,
            r#"{"choices":[{}],"error":{"message":"busy"}}"#,
            r#"{"error":"busy"}"#,
            r#" {"object":"list","data":[{"id":"m"}]}"#,
            r#"{"choices":null,"model":null}"#,
        ];
        for body in read {
            let view = AnswerView::read(body.as_bytes()).unwrap_or_else(|| panic!("the view reads {body}"));
            let seen = (view.model.as_deref().map(str::to_owned), view.is_completion());
            assert_eq!(seen, judged_whole(body), "{body}");
        }
        let left_to_the_whole_parse = [
            r#"["m",[{}],null]"#,
            r#"{"model":"a","model":"b","choices":[{}]}"#,
            r#"{"model":7,"choices":[{}]}"#,
            r#"{"choices":{"0":{}}}"#,
            r#"{"choices":[{}]"#,
            "",
        ];
        for body in left_to_the_whole_parse {
            assert!(AnswerView::read(body.as_bytes()).is_none(), "{body}");
        }
        assert!(
            AnswerView::read(b"{\"choices\":[{}],\"x\":\"\xff\"}").is_none(),
            "not UTF-8"
        );
    }
}
