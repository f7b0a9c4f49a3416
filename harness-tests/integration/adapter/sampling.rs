//! The sampling pin (`--temperature`, `--seed`) against a fake upstream that records what it
//! received: Case's own `temperature: 1.3` is overridden on every route, in both modes, and
//! the ledger line says both what Case asked for and what was sent; an upstream that refuses
//! a pinned field leaves a cause naming it (which fails the run, see `evidence`).

use std::time::Duration;

use case_harness::adapter::UpstreamApi;
use case_harness::output::{PinnedField, SamplingPin, UpstreamCause};
use serde_json::{Number, Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{MODEL, TestAdapter, received, upstream_base};

fn pin() -> SamplingPin {
    SamplingPin::new(Some(0.0), Some(42)).expect("pin")
}

async fn upstream(route: &str, answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

fn chat_answer() -> Value {
    json!({
        "id": "c1", "object": "chat.completion", "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    })
}

fn message_answer() -> Value {
    json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": MODEL,
        "content": [{"type": "text", "text": "Paris"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1}
    })
}

fn anthropic_request() -> Value {
    json!({
        "model": MODEL, "max_tokens": 16, "temperature": 1.3,
        "messages": [{"role": "user", "content": "The capital of France?"}]
    })
}

async fn body_received(server: &MockServer) -> Value {
    let requests = received(server).await;
    assert_eq!(requests.len(), 1, "exactly one request went upstream");
    serde_json::from_slice(&requests[0].body).expect("JSON body upstream")
}

/// The one ledger line says Case asked for 1.3 and 0 (with seed 42) was sent.
fn assert_recorded(adapter: &TestAdapter) {
    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), 1);
    let record = ledger[0].sampling.as_ref().expect("the line records the pin");
    assert_eq!(record.requested.temperature, Number::from_f64(1.3));
    assert_eq!(record.sent.temperature, Number::from_f64(0.0));
    assert_eq!(record.sent.seed, Some(Number::from(42)));
    assert!(record.departures(&pin()).is_empty());
}

/// `request` sent to the adapter's `path`, pinned, in front of an upstream answering `answer`
/// on `route` as `api`: the adapter, and the body the upstream received.
async fn send_pinned(route: &str, answer: Value, api: UpstreamApi, path: &str, request: Value) -> (TestAdapter, Value) {
    let server = upstream(route, ResponseTemplate::new(200).set_body_json(answer)).await;
    let adapter = TestAdapter::start_pinned(&upstream_base(&server), api, pin(), None, Duration::from_secs(5)).await;
    let answer = adapter.post(path).json(&request).send().await.expect("adapter answers");
    assert_eq!(answer.status(), 200);
    let sent = body_received(&server).await;
    (adapter, sent)
}

#[tokio::test]
async fn translation_overrides_the_agents_temperature_and_records_it() {
    let (adapter, sent) = send_pinned(
        "/v1/chat/completions",
        chat_answer(),
        UpstreamApi::OpenAi,
        "/v1/messages",
        anthropic_request(),
    )
    .await;
    assert_eq!(sent["temperature"], json!(0.0));
    assert_eq!(sent["seed"], json!(42));
    assert_recorded(&adapter);
}

#[tokio::test]
async fn pass_through_overrides_the_agents_temperature_and_records_it() {
    let (adapter, sent) = send_pinned(
        "/v1/messages",
        message_answer(),
        UpstreamApi::Anthropic,
        "/v1/messages",
        anthropic_request(),
    )
    .await;
    assert_eq!(sent["temperature"], json!(0.0));
    assert_eq!(sent["seed"], json!(42), "the seed is sent, not dropped");
    assert_recorded(&adapter);
}

#[tokio::test]
async fn chat_completions_override_the_agents_temperature_and_record_it() {
    let request = json!({"model": MODEL, "temperature": 1.3, "messages": [{"role": "user", "content": "hi"}]});
    let (adapter, sent) = send_pinned(
        "/v1/chat/completions",
        chat_answer(),
        UpstreamApi::OpenAi,
        "/v1/chat/completions",
        request,
    )
    .await;
    assert_eq!(sent["temperature"], json!(0.0));
    assert_eq!(sent["seed"], json!(42));
    assert_recorded(&adapter);
}

#[tokio::test]
async fn without_a_pin_the_agents_temperature_goes_up_and_nothing_is_recorded() {
    let server = upstream(
        "/v1/chat/completions",
        ResponseTemplate::new(200).set_body_json(chat_answer()),
    )
    .await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    let answer = adapter
        .chat(json!({"model": MODEL, "temperature": 1.3, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(body_received(&server).await["temperature"], json!(1.3));
    assert_eq!(adapter.ledger()[0].sampling, None);
}

#[tokio::test]
async fn an_upstream_refusing_a_pinned_field_leaves_a_cause_naming_it_in_both_modes() {
    let refusal = json!({"error": {"message": "Unsupported parameter: 'seed' is not supported", "type": "invalid_request_error"}});
    for (api, route) in [
        (UpstreamApi::OpenAi, "/v1/chat/completions"),
        (UpstreamApi::Anthropic, "/v1/messages"),
    ] {
        let server = upstream(route, ResponseTemplate::new(400).set_body_json(refusal.clone())).await;
        let adapter =
            TestAdapter::start_pinned(&upstream_base(&server), api, pin(), None, Duration::from_secs(5)).await;
        let answer = adapter
            .post("/v1/messages")
            .json(&anthropic_request())
            .send()
            .await
            .expect("adapter answers");
        assert_eq!(answer.status(), 400, "{api:?}: the refusal reaches Case");
        let ledger = adapter.ledger();
        assert_eq!(
            ledger[0].upstream_cause,
            Some(UpstreamCause::PinRejected {
                field: PinnedField::Seed,
                status: 400
            }),
            "{api:?}"
        );
        let reason = ledger[0].reason.clone().unwrap_or_default();
        assert!(reason.contains("`seed`"), "{api:?}: {reason}");
    }
}

fn responses_request() -> Value {
    json!({
        "model": MODEL, "stream": false, "temperature": 1.3,
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "The capital of France?"}]}]
    })
}

/// `/v1/responses` (Codex) is pinned like the other routes: translated, the chat request
/// upstream carries the pin; passed through, the Responses request does.
#[tokio::test]
async fn the_responses_route_overrides_the_agents_temperature_in_both_modes() {
    let response_answer = json!({
        "id": "resp_1", "object": "response", "status": "completed", "model": MODEL,
        "output": [{"type": "message", "id": "m1", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": "Paris", "annotations": []}]}],
        "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}
    });
    for (route, answer, api) in [
        ("/v1/chat/completions", chat_answer(), UpstreamApi::OpenAi),
        ("/v1/responses", response_answer, UpstreamApi::Auto),
    ] {
        let server = upstream(route, ResponseTemplate::new(200).set_body_json(answer)).await;
        let adapter =
            TestAdapter::start_pinned(&upstream_base(&server), api, pin(), None, Duration::from_secs(5)).await;
        let answer = adapter
            .post("/v1/responses")
            .json(&responses_request())
            .send()
            .await
            .expect("adapter answers");
        assert_eq!(answer.status(), 200, "{route}");
        // Passed through, the mode probe went first: the request of interest is the last.
        let requests = received(&server).await;
        let sent: Value = serde_json::from_slice(&requests.last().expect("a request upstream").body).expect("JSON");
        assert_eq!(sent["temperature"], json!(0.0), "{route}: {sent}");
        assert_eq!(sent["seed"], json!(42), "{route}: {sent}");
        assert_recorded(&adapter);
    }
}
