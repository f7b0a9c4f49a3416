//! A hostile or broken upstream (red-team findings #11.3, #11.10, #11.4 and the `[DONE]`
//! low): whatever it echoes, names or fails to finish, Case never gets a secret, the ledger
//! says what happened, and nothing of it counts as served.

use case_harness::adapter::Outcome;
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use crate::support::{MODEL, TOKEN, TestAdapter, contains_secret, upstream_answering_all, upstream_base};

const KEY: &str = "upstream-key-canary-51d2e8b4";

/// The `Authorization` header the upstream received (what an echoing server hands back).
fn authorization(request: &Request) -> String {
    request
        .headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// An upstream that answers every chat completion with the key it was sent, in the content.
async fn echoing_upstream(stream: bool) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(move |request: &Request| {
            let echoed = format!("you sent: {}", authorization(request));
            if stream {
                let chunks = [
                    json!({"model": MODEL, "choices": [{"index": 0, "delta": {"role": "assistant", "content": echoed}}]}),
                    json!({"model": MODEL, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
                ];
                let body: String = chunks.iter().map(|chunk| format!("data: {chunk}\n\n")).collect::<String>()
                    + "data: [DONE]\n\n";
                ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
            } else {
                ResponseTemplate::new(200).set_body_json(json!({
                    "id": "x", "object": "chat.completion", "model": MODEL,
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": echoed}}]
                }))
            }
        })
        .mount(&server)
        .await;
    server
}

fn ask(stream: bool) -> Value {
    json!({"model": MODEL, "stream": stream, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]})
}

/// Case got no key, the one ledger line says the upstream echoed a secret, and it was not
/// counted as served.
fn assert_echo_caught(adapter: &TestAdapter, body: &[u8]) {
    assert!(
        !contains_secret(body, KEY),
        "the upstream key reached Case: {}",
        String::from_utf8_lossy(body)
    );
    assert!(
        String::from_utf8_lossy(body).contains("[redacted]"),
        "{}",
        String::from_utf8_lossy(body)
    );
    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].outcome, Outcome::SecretEchoed, "{:?}", ledger[0]);
    let totals = adapter.handle.totals();
    assert_eq!((totals.secret_echoes, totals.served_by_admitted_model), (1, 0));
    adapter.assert_totals_match_file();
}

#[tokio::test]
async fn finding_11_3_an_upstream_echoing_the_key_in_a_plain_openai_answer_is_redacted_and_recorded() {
    let server = echoing_upstream(false).await;
    let adapter = TestAdapter::start_with_key(&upstream_base(&server), KEY).await;
    let response = adapter.chat(ask(false)).await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.expect("body");
    assert_echo_caught(&adapter, &body);
}

#[tokio::test]
async fn finding_11_3_an_upstream_echoing_the_key_in_an_openai_stream_is_redacted_and_recorded() {
    let server = echoing_upstream(true).await;
    let adapter = TestAdapter::start_with_key(&upstream_base(&server), KEY).await;
    let response = adapter.chat(ask(true)).await;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.expect("body");
    assert_echo_caught(&adapter, &body);
}

#[tokio::test]
async fn finding_11_3_an_upstream_echoing_the_key_through_the_anthropic_translation_is_redacted_and_recorded() {
    for stream in [false, true] {
        let server = echoing_upstream(stream).await;
        let adapter = TestAdapter::start_with_key(&upstream_base(&server), KEY).await;
        let response = adapter
            .post("/v1/messages")
            .header("anthropic-version", "2023-06-01")
            .json(&ask(stream))
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), 200, "stream={stream}");
        let body = response.bytes().await.expect("body");
        assert_echo_caught(&adapter, &body);
    }
}

#[tokio::test]
async fn finding_11_3_a_key_spread_over_two_stream_events_is_recorded_as_an_echo() {
    let (head, tail) = KEY.split_at(9);
    let chunks = [
        json!({"model": MODEL, "choices": [{"index": 0, "delta": {"content": format!("key: {head}")}}]}),
        json!({"model": MODEL, "choices": [{"index": 0, "delta": {"content": tail}, "finish_reason": "stop"}]}),
    ];
    let body: String = chunks
        .iter()
        .map(|chunk| format!("data: {chunk}\n\n"))
        .collect::<String>()
        + "data: [DONE]\n\n";
    let server = upstream_answering_all(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")).await;
    let adapter = TestAdapter::start_with_key(&upstream_base(&server), KEY).await;
    let response = adapter.chat(ask(true)).await;
    drop(response.bytes().await.expect("body"));
    assert_eq!(adapter.ledger()[0].outcome, Outcome::SecretEchoed);
}

#[tokio::test]
async fn finding_11_10_an_external_model_reported_by_the_upstream_is_recorded_even_after_a_local_one() {
    let chunks = [
        json!({"model": MODEL, "choices": [{"index": 0, "delta": {"content": "Par"}}]}),
        json!({"model": "claude-sonnet-4-6", "choices": [{"index": 0, "delta": {"content": "is"}, "finish_reason": "stop"}]}),
    ];
    let body: String = chunks
        .iter()
        .map(|chunk| format!("data: {chunk}\n\n"))
        .collect::<String>()
        + "data: [DONE]\n\n";
    let server = upstream_answering_all(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")).await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    drop(adapter.chat(ask(true)).await.bytes().await.expect("body"));
    assert_eq!(adapter.ledger()[0].upstream_model.as_deref(), Some("claude-sonnet-4-6"));
    let proof = case_harness::evidence::fallback_proof(&adapter.ledger(), MODEL, &server.address().to_string());
    assert!(
        !proof.no_fallback,
        "an answer from claude-sonnet-4-6 was called no fallback"
    );
}

#[tokio::test]
async fn finding_11_4_a_percent_encoded_token_in_a_path_is_not_written_to_the_ledger() {
    let server = upstream_answering_all(ResponseTemplate::new(404)).await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    let encoded: String = TOKEN.bytes().map(|byte| format!("%{byte:02x}")).collect();
    for path in [
        format!("/v1/{encoded}"),
        format!("/v1/%63{}", &TOKEN[1..]),
        format!("/v1/{}", TOKEN.to_ascii_uppercase()),
    ] {
        let response = adapter
            .client
            .get(adapter.url(&path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("answer");
        assert!(response.status().is_client_error(), "{path}: {}", response.status());
    }
    let ledger = std::fs::read_to_string(adapter.ledger_path()).expect("ledger");
    let lower = ledger.to_ascii_lowercase();
    assert!(!lower.contains(TOKEN), "{ledger}");
    assert!(!lower.contains(&encoded), "{ledger}");
    assert!(!lower.contains(&format!("%63{}", &TOKEN[1..])), "{ledger}");
    assert_eq!(adapter.ledger().len(), 3);
}

#[tokio::test]
async fn an_openai_stream_ending_in_done_without_a_finish_reason_is_not_served() {
    let chunk = json!({"model": MODEL, "choices": [{"index": 0, "delta": {"content": "Par"}}]});
    let body = format!("data: {chunk}\n\ndata: [DONE]\n\n");
    let server = upstream_answering_all(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")).await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    drop(adapter.chat(ask(true)).await.bytes().await.expect("body"));
    let line = &adapter.ledger()[0];
    assert_eq!(line.outcome, Outcome::UpstreamError, "{line:?}");
    assert_eq!(adapter.handle.totals().served_by_admitted_model, 0);
}
