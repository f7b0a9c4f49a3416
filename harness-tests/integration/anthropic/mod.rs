//! The adapter's Anthropic Messages routes end to end over real sockets: `wiremock` (or,
//! where timing matters, a tiny axum server) on 127.0.0.1 plays the local OpenAI-compatible
//! server, `reqwest` plays an Anthropic client.
//!
//! Each test checks what the upstream received (or that it received nothing), what the client
//! got back, and what the ledger and trace say, so it fails if the behaviour it names goes.
//! The official SDKs judge the same routes in the `sdk` target.

// `count_tokens`: the upstream's own tokenizer when it has one, a flagged estimate when not.
mod count_tokens;

// The pinning, fallback and secret rules, once per mode (translation and pass-through).
mod modes;

// What only pass-through carries, on the real local provider (ignored without one).
mod real_provider;

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::{
    MODEL, TOKEN, TestAdapter, client, contains_secret, fallback_attempts_header, received,
    start_held_back_sse_upstream, upstream_answering_all, upstream_base,
};
use case_harness::adapter::anthropic::estimate_input_tokens;
use case_harness::adapter::{Api, HEADER_SERVED_MODEL, HEADER_TOKEN_COUNT, Outcome};
use serde_json::{Value, json};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A request as an Anthropic SDK sends it: token in `x-api-key`, version and beta headers,
/// and the SDK's own `x-stainless-*` headers — none of which may go upstream.
fn anthropic_post(adapter: &TestAdapter, path: &str, body: &Value) -> reqwest::RequestBuilder {
    client()
        .post(adapter.url(path))
        .header("x-api-key", TOKEN)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "token-counting-2024-11-01")
        .header("x-stainless-lang", "python")
        .header("x-stainless-retry-count", "0")
        .json(body)
}

async fn messages(adapter: &TestAdapter, body: &Value) -> reqwest::Response {
    anthropic_post(adapter, "/v1/messages", body)
        .send()
        .await
        .expect("adapter answers")
}

fn completion(message: Value, finish: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "whatever-the-server-says",
           "choices": [{"index": 0, "finish_reason": finish, "message": message}],
           "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}})
}

fn hello(model: &str) -> Value {
    json!({"model": model, "max_tokens": 32,
           "messages": [{"role": "user", "content": "Reply with the single word: pong"}]})
}

/// Splits an Anthropic SSE body into (event name, data) pairs, checking that every event's
/// `type` names the event.
fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str::<Value>(value).expect("event data is JSON"));
                }
            }
            let (name, data) = (name.expect("event name"), data.expect("event data"));
            assert_eq!(data["type"], name.as_str(), "{block}");
            (name, data)
        })
        .collect()
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

fn assert_not_forwarded_headers(request: &wiremock::Request) {
    for name in [
        "x-api-key",
        "anthropic-version",
        "anthropic-beta",
        "x-stainless-lang",
        "x-stainless-retry-count",
    ] {
        assert!(request.headers.get(name).is_none(), "{name} was forwarded upstream");
    }
    for (name, value) in &request.headers {
        assert!(
            !contains_secret(value.as_bytes(), TOKEN),
            "the per-run token went upstream in {name}"
        );
    }
}

#[tokio::test]
async fn a_message_is_translated_both_ways_and_reports_the_admitted_model() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            json!({"role": "assistant", "content": "The perfect pong."}),
            "stop",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;

    let mut request = hello(MODEL);
    request["system"] = json!([{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]);
    request["metadata"] = json!({"user_id": "user-7"});
    request["stop_sequences"] = json!(["END"]);
    request["temperature"] = json!(0);
    let response = messages(&adapter, &request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[HEADER_SERVED_MODEL], MODEL);
    assert_eq!(fallback_attempts_header(response.headers()), "0");
    let message: Value = response.json().await.expect("JSON message");
    let id = message["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("msg_"), "{id}");
    assert_eq!(
        message,
        json!({"id": id, "type": "message", "role": "assistant", "model": MODEL,
               "content": [{"type": "text", "text": "The perfect pong."}],
               "stop_reason": "end_turn", "stop_sequence": null,
               "usage": {"input_tokens": 11, "output_tokens": 4}})
    );

    let got = received(&server).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].body_json::<Value>().expect("json"),
        json!({"model": MODEL, "max_tokens": 32, "temperature": 0, "stop": ["END"],
               "messages": [{"role": "system", "content": "Be brief."},
                            {"role": "user", "content": "Reply with the single word: pong"}]}),
        "metadata never goes upstream; cache_control is dropped"
    );
    assert_eq!(got[0].headers["accept"], "application/json");
    assert_not_forwarded_headers(&got[0]);

    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), 1);
    let line = &ledger[0];
    assert_eq!(
        (line.api, line.outcome, line.status),
        (Api::Anthropic, Outcome::Forwarded, 200)
    );
    assert_eq!(line.path, "/v1/messages");
    assert_eq!(line.requested_model.as_deref(), Some(MODEL));
    assert_eq!(line.forwarded_model.as_deref(), Some(MODEL));
    assert_eq!(line.upstream_model.as_deref(), Some("whatever-the-server-says"));
    assert_eq!(adapter.handle.totals().served_by_admitted_model, 1);
    adapter.assert_totals_match_file();
}

/// The first OpenAI chunk of a stream, which the held-back upstream sends at once.
const HELD_BACK_FIRST: &str = "data: {\"id\":\"c1\",\"model\":\"sse-model\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"The\"},\"finish_reason\":null}]}\n\n";
/// The rest, which it sends only once the client has seen the first chunk's text.
const HELD_BACK_REST: &str = concat!(
    "data: {\"id\":\"c1\",\"model\":\"sse-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" pong.\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"model\":\"sse-model\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c1\",\"model\":\"sse-model\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}}\n\n",
    "data: [DONE]\n\n",
);

#[tokio::test]
async fn a_stream_is_translated_chunk_by_chunk_before_the_upstream_finishes() {
    let (upstream, release, released_by_client) = start_held_back_sse_upstream(HELD_BACK_FIRST, HELD_BACK_REST).await;
    let adapter = TestAdapter::start(&format!("http://{upstream}/v1")).await;

    let mut request = hello(MODEL);
    request["stream"] = json!(true);
    let mut response = messages(&adapter, &request).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/event-stream")
    );
    assert_eq!(response.headers()[HEADER_SERVED_MODEL], MODEL);

    // Read until the first text delta has arrived; the upstream is still holding the rest.
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !seen.contains("\"text\":\"The\"") {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("the first delta arrives while the upstream is still holding the rest")
            .expect("body")
            .expect("a chunk before the end");
        seen.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
    }
    assert!(!seen.contains("message_stop"), "{seen}");
    release.notify_one();
    while let Some(chunk) = response.chunk().await.expect("body") {
        seen.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
    }
    assert!(
        released_by_client.load(Ordering::SeqCst),
        "the upstream finished before the client saw anything"
    );

    let events = sse_events(&seen);
    assert_eq!(
        names(&events),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert_eq!(events[0].1["message"]["model"], MODEL);
    assert_eq!(events[3].1["delta"], json!({"type": "text_delta", "text": "The"}));
    assert_eq!(events[4].1["delta"], json!({"type": "text_delta", "text": " pong."}));
    assert_eq!(
        events[6].1,
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"input_tokens": 9, "output_tokens": 2}})
    );

    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), 1, "the stream's line is written when it ends");
    let line = &ledger[0];
    assert_eq!(
        (line.api, line.outcome, line.status),
        (Api::Anthropic, Outcome::Forwarded, 200)
    );
    assert_eq!(line.upstream_model.as_deref(), Some("sse-model"));
    assert_eq!(line.bytes_out, seen.len() as u64);
    assert_eq!(adapter.handle.totals().served_by_admitted_model, 1);
}

#[tokio::test]
async fn the_upstream_is_asked_for_a_stream_with_usage() {
    let server = MockServer::start().await;
    let body = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n"
    );
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
        .expect(1)
        .mount(&server)
        .await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    let mut request = hello(MODEL);
    request["stream"] = json!(true);
    let text = messages(&adapter, &request).await.text().await.expect("body");
    assert_eq!(names(&sse_events(&text)).last(), Some(&"message_stop"));
    let got = received(&server).await;
    let sent = got[0].body_json::<Value>().expect("json");
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
    assert_eq!(got[0].headers["accept"], "text/event-stream");
    assert_not_forwarded_headers(&got[0]);
}

#[tokio::test]
async fn tool_use_round_trips_plain_and_streamed() {
    let server = MockServer::start().await;
    let call = json!({"id": "call_7", "type": "function",
                      "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}});
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(wiremock::matchers::body_partial_json(json!({"stream": true})))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            concat!(
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_7\",\"type\":\"function\",\"function\":{\"name\":\"weather\",\"arguments\":\"{\\\"ci\"}}]},\"finish_reason\":null}]}\n\n",
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ty\\\":\\\"Paris\\\"}\"}}]},\"finish_reason\":null}]}\n\n",
                "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
                "data: [DONE]\n\n"
            ),
            "text/event-stream",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            json!({"role": "assistant", "content": null, "tool_calls": [call]}),
            "tool_calls",
        )))
        .mount(&server)
        .await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;

    let tools = json!([{"name": "weather", "description": "Current weather",
                        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let mut request = hello(MODEL);
    request["tools"] = tools.clone();
    request["tool_choice"] = json!({"type": "any"});
    let message: Value = messages(&adapter, &request).await.json().await.expect("json");
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(
        message["content"],
        json!([{"type": "tool_use", "id": "call_7", "name": "weather", "input": {"city": "Paris"}}])
    );
    let sent = received(&server).await[0].body_json::<Value>().expect("json");
    assert_eq!(
        sent["tools"],
        json!([{"type": "function", "function": {"name": "weather", "description": "Current weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
    );
    assert_eq!(sent["tool_choice"], "required");

    // The client runs the tool and sends the result back: it reaches the upstream as a
    // `role: tool` message right after the assistant's call.
    let mut follow_up = hello(MODEL);
    follow_up["tools"] = tools;
    follow_up["messages"] = json!([
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": message["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_7", "content": "sunny"}]},
    ]);
    follow_up["stream"] = json!(true);
    let text = messages(&adapter, &follow_up).await.text().await.expect("body");
    let sent = received(&server).await[1].body_json::<Value>().expect("json");
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_7", "content": "sunny"},
        ])
    );
    // The streamed answer is another call whose arguments arrived in two pieces.
    let events = sse_events(&text);
    assert_eq!(
        events[2].1["content_block"],
        json!({"type": "tool_use", "id": "call_7", "name": "weather", "input": {}})
    );
    let partial: String = events
        .iter()
        .filter(|(name, _)| name == "content_block_delta")
        .map(|(_, data)| {
            data["delta"]["partial_json"]
                .as_str()
                .expect("input_json_delta")
                .to_owned()
        })
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&partial).expect("json"),
        json!({"city": "Paris"})
    );
    let delta = events
        .iter()
        .find(|(name, _)| name == "message_delta")
        .expect("message_delta");
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
    assert_eq!(names(&events).last(), Some(&"message_stop"));
    assert!(adapter.ledger().iter().all(|line| line.outcome == Outcome::Forwarded));
}

#[tokio::test]
async fn upstream_errors_keep_their_status_in_anthropic_shape() {
    for (status, kind) in [
        (400u16, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (503, "overloaded_error"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_json(json!({"error": {"message": format!("upstream says {status}")}}))
                    .insert_header("retry-after", "7"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let adapter = TestAdapter::start(&upstream_base(&server)).await;
        let response = messages(&adapter, &hello(MODEL)).await;
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.headers()["retry-after"], "7");
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["type"], "error");
        assert_eq!(error["error"]["type"], kind, "{status}");
        let message = error["error"]["message"].as_str().expect("message");
        assert!(message.contains(&format!("upstream says {status}")), "{message}");
        server.verify().await;
        let line = &adapter.ledger()[0];
        assert_eq!((line.outcome, line.status), (Outcome::Forwarded, status));
        assert!(
            !line.reason.as_deref().unwrap_or_default().contains("upstream says"),
            "the ledger never holds body content"
        );
        assert_eq!(adapter.handle.totals().served_by_admitted_model, 0);
    }
}

#[tokio::test]
async fn upstream_error_texts_reach_case_with_the_secrets_redacted() {
    const KEY: &str = "upstream-key-canary-7e13a0c2";
    // The token straddles the 300-character quote limit: a cut before redaction would leave
    // its prefix behind.
    let padding = "x".repeat(288);
    for status in [401u16, 500] {
        let server = MockServer::start().await;
        let text = format!("{padding} {TOKEN} and key {KEY}");
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({"error": {"message": text}})))
            .expect(1)
            .mount(&server)
            .await;
        let adapter = TestAdapter::start_with_key(&upstream_base(&server), KEY).await;
        let response = messages(&adapter, &hello(MODEL)).await;
        assert_eq!(response.status().as_u16(), status);
        let bytes = response.bytes().await.expect("body");
        assert!(!contains_secret(&bytes, KEY), "{status}: the upstream key reached Case");
        assert!(
            !contains_secret(&bytes, &TOKEN[..8]),
            "{status}: the token (or its prefix) reached Case"
        );
        server.verify().await;
    }
    // A 2xx carrying an error object, quoted in a 502, with the token past the quote limit.
    let server = MockServer::start().await;
    let text = format!("{} {TOKEN}", "x".repeat(290));
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"error": {"message": text}})))
        .mount(&server)
        .await;
    let adapter = TestAdapter::start_with_key(&upstream_base(&server), KEY).await;
    let response = messages(&adapter, &hello(MODEL)).await;
    assert_eq!(response.status(), 502);
    let bytes = response.bytes().await.expect("body");
    assert!(
        !contains_secret(&bytes, &TOKEN[..8]),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    // A stream's error event quoting the upstream.
    let server = MockServer::start().await;
    let chunk = json!({"error": {"message": format!("oom for key {KEY} and {TOKEN}")}});
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(format!("data: {chunk}\n\n"), "text/event-stream"))
        .mount(&server)
        .await;
    let adapter = TestAdapter::start_with_key(&upstream_base(&server), KEY).await;
    let mut body = hello(MODEL);
    body["stream"] = json!(true);
    let response = messages(&adapter, &body).await;
    let bytes = response.bytes().await.expect("body");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("event: error"), "{text}");
    assert!(
        !contains_secret(&bytes, KEY) && !contains_secret(&bytes, TOKEN),
        "{text}"
    );
}

#[tokio::test]
async fn an_answer_without_a_finish_reason_is_a_502_not_a_served_request() {
    let mut answer = completion(json!({"role": "assistant", "content": "po"}), "stop");
    answer["choices"][0]
        .as_object_mut()
        .expect("choice")
        .remove("finish_reason");
    let server = upstream_answering_all(ResponseTemplate::new(200).set_body_json(answer)).await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    let response = messages(&adapter, &hello(MODEL)).await;
    assert_eq!(response.status(), 502);
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"]["type"], "api_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("finish_reason")
    );
    let line = &adapter.ledger()[0];
    assert_eq!((line.outcome, line.status), (Outcome::UpstreamError, 502));
    assert_eq!(adapter.handle.totals().served_by_admitted_model, 0);
}

#[tokio::test]
async fn unsupported_or_malformed_requests_are_400_and_never_forwarded() {
    let server = upstream_answering_all(
        ResponseTemplate::new(200).set_body_json(completion(json!({"role": "assistant", "content": "x"}), "stop")),
    )
    .await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;

    let image = json!({"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}]});
    let mut no_max_tokens = hello(MODEL);
    no_max_tokens.as_object_mut().expect("object").remove("max_tokens");
    let mut server_tool = hello(MODEL);
    server_tool["tools"] = json!([{"type": "web_search_20250305", "name": "web_search"}]);
    for (body, expected) in [
        (image, "`image`"),
        (no_max_tokens, "max_tokens"),
        (server_tool, "web_search"),
    ] {
        let response = messages(&adapter, &body).await;
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["type"], "invalid_request_error");
        let message = error["error"]["message"].as_str().expect("message");
        assert!(message.contains(expected), "{message}");
    }
    let response = anthropic_post(&adapter, "/v1/messages", &json!(["not", "an", "object"]))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 400);

    assert!(received(&server).await.is_empty(), "a refused request was forwarded");
    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), 4);
    assert!(
        ledger
            .iter()
            .all(|line| line.outcome == Outcome::BadRequest && line.api == Api::Anthropic)
    );
    assert_eq!(
        adapter.handle.totals().fallback_attempts,
        0,
        "a bad request is not a fallback"
    );
}

#[tokio::test]
async fn authentication_errors_take_the_anthropic_shape() {
    let server = MockServer::start().await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    for request in [
        client().post(adapter.url("/v1/messages")),
        client().post(adapter.url("/v1/messages")).header("x-api-key", "wrong"),
        client()
            .post(adapter.url("/v1/messages/count_tokens"))
            .bearer_auth("wrong"),
    ] {
        let response = request
            .header("anthropic-version", "2023-06-01")
            .json(&hello(MODEL))
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), 401);
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["type"], "error");
        assert_eq!(error["error"]["type"], "authentication_error");
    }
    // Bearer works as well as x-api-key.
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200).set_body_json(completion(json!({"role": "assistant", "content": "x"}), "stop")),
        )
        .mount(&server)
        .await;
    let response = client()
        .post(adapter.url("/v1/messages"))
        .bearer_auth(TOKEN)
        .json(&hello(MODEL))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_stream_cut_off_before_its_finish_ends_with_an_error_event() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"},\"finish_reason\":null}]}\n\n",
            "text/event-stream",
        ))
        .mount(&server)
        .await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    let mut request = hello(MODEL);
    request["stream"] = json!(true);
    let text = messages(&adapter, &request).await.text().await.expect("body");
    let events = sse_events(&text);
    let (last, data) = events.last().expect("events");
    assert_eq!(last, "error");
    assert_eq!(data["error"]["type"], "api_error");
    assert!(!names(&events).contains(&"message_stop"));
    let line = &adapter.ledger()[0];
    assert_eq!(line.outcome, Outcome::UpstreamError);
    assert_eq!(adapter.handle.totals().served_by_admitted_model, 0);
}
