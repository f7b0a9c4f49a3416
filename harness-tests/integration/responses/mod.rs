//! `POST /v1/responses` (the OpenAI Responses API, which Codex CLI speaks) end to end over real
//! sockets, once per mode: translated to chat completions for an upstream without the route
//! (llama-cpp-python), passed through to one that has it (llama-server, Ollama, vLLM). A
//! `wiremock` server on 127.0.0.1 plays the upstream; each test checks what it received (or
//! that it received nothing), what the client got, and what the ledger and trace say.

use std::time::Duration;

use case_harness::adapter::{Api, Outcome, UpstreamApi};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{MODEL, TOKEN, TestAdapter, contains_secret, fallback_attempts_header, received, upstream_base};

/// What the upstream speaks, and so how the adapter serves `/v1/responses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Translate,
    PassThrough,
}

const MODES: [Mode; 2] = [Mode::Translate, Mode::PassThrough];

impl Mode {
    /// Where a served request reaches the upstream.
    fn upstream_path(self) -> &'static str {
        match self {
            Mode::Translate => "/v1/chat/completions",
            Mode::PassThrough => "/v1/responses",
        }
    }

    /// The ledger reason's word for the mode.
    fn word(self) -> &'static str {
        match self {
            Mode::Translate => "translated to POST /chat/completions",
            Mode::PassThrough => "passed through to POST /responses",
        }
    }
}

fn chat_completion(message: Value, finish: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "whatever-the-server-says",
           "choices": [{"index": 0, "finish_reason": finish, "message": message}],
           "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}})
}

fn response_object(output: Value) -> Value {
    json!({"id": "resp_up", "object": "response", "created_at": 1, "status": "completed",
           "model": "whatever-the-server-says", "output": output, "parallel_tool_calls": true,
           "tool_choice": "auto", "tools": [],
           "usage": {"input_tokens": 11, "output_tokens": 4, "total_tokens": 15}})
}

fn text_item(text: &str) -> Value {
    json!({"type": "message", "id": "msg_up", "status": "completed", "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

/// An SSE body of `events` (each a JSON object with its `type`), named as OpenAI names them.
fn responses_sse(events: &[Value]) -> String {
    events
        .iter()
        .map(|event| format!("event: {}\ndata: {event}\n\n", event["type"].as_str().expect("type")))
        .collect()
}

fn chat_sse(chunks: &[Value]) -> String {
    let mut body: String = chunks.iter().map(|chunk| format!("data: {chunk}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    body
}

/// The fake upstream of `mode`, whose answers (plain and streamed) say `text`, or call
/// `exec_command` when `tool_call` is set.
async fn upstream(mode: Mode, text: &str, tool_call: bool) -> MockServer {
    let server = MockServer::start().await;
    let call = json!({"id": "call_1", "type": "function",
                      "function": {"name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"}});
    match mode {
        Mode::Translate => {
            let message = if tool_call {
                json!({"role": "assistant", "content": null, "tool_calls": [call]})
            } else {
                json!({"role": "assistant", "content": text})
            };
            let finish = if tool_call { "tool_calls" } else { "stop" };
            let stream = chat_sse(&[
                json!({"model": "x", "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}}]}),
                json!({"model": "x", "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}),
                json!({"model": "x", "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 4}}),
            ]);
            Mock::given(method("POST"))
                .and(path("/v1/chat/completions"))
                .and(wiremock::matchers::body_partial_json(json!({"stream": true})))
                .respond_with(ResponseTemplate::new(200).set_body_raw(stream, "text/event-stream"))
                .mount(&server)
                .await;
            Mock::given(method("POST"))
                .and(path("/v1/chat/completions"))
                .respond_with(ResponseTemplate::new(200).set_body_json(chat_completion(message, finish)))
                .mount(&server)
                .await;
        }
        Mode::PassThrough => {
            let output = if tool_call {
                json!([{"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "exec_command",
                        "arguments": "{\"cmd\":\"ls\"}", "status": "completed"}])
            } else {
                json!([text_item(text)])
            };
            let done = response_object(output);
            let stream = responses_sse(&[
                json!({"type": "response.created", "sequence_number": 0,
                       "response": {"id": "resp_up", "object": "response", "model": "whatever-the-server-says", "output": []}}),
                json!({"type": "response.output_text.delta", "sequence_number": 1, "item_id": "msg_up",
                       "output_index": 0, "content_index": 0, "delta": text}),
                json!({"type": "response.completed", "sequence_number": 2, "response": done}),
            ]);
            Mock::given(method("POST"))
                .and(path("/v1/responses"))
                .and(wiremock::matchers::body_partial_json(json!({"stream": true})))
                .respond_with(ResponseTemplate::new(200).set_body_raw(stream, "text/event-stream"))
                .mount(&server)
                .await;
            Mock::given(method("POST"))
                .and(path("/v1/responses"))
                .respond_with(ResponseTemplate::new(200).set_body_json(done))
                .mount(&server)
                .await;
        }
    }
    server
}

/// An adapter left to find out (`--upstream-api auto`) what `server` speaks.
async fn adapter(server: &MockServer) -> TestAdapter {
    TestAdapter::start_as(&upstream_base(server), None, Duration::from_secs(10), UpstreamApi::Auto).await
}

async fn responses(adapter: &TestAdapter, body: &Value) -> reqwest::Response {
    adapter
        .post("/v1/responses")
        .header("originator", "codex_exec")
        .header("session-id", "s-1")
        .json(body)
        .send()
        .await
        .expect("adapter answers")
}

/// What reached the upstream at `path`.
async fn at(server: &MockServer, wanted: &str) -> Vec<wiremock::Request> {
    received(server)
        .await
        .into_iter()
        .filter(|request| request.url.path() == wanted)
        .collect()
}

/// The Case request bodies that reached the served path (the one-time probe excluded).
async fn served_bodies(server: &MockServer, mode: Mode) -> Vec<Value> {
    at(server, mode.upstream_path())
        .await
        .iter()
        .map(|request| serde_json::from_slice::<Value>(&request.body).expect("JSON body"))
        .filter(|body| body.get("input") != Some(&json!("ping")))
        .collect()
}

fn last_line(adapter: &TestAdapter) -> case_harness::adapter::LedgerEntry {
    adapter.ledger().pop().expect("a ledger line")
}

#[tokio::test]
async fn a_plain_answer_is_served_by_the_admitted_model_in_both_modes() {
    for mode in MODES {
        let server = upstream(mode, "Paris", false).await;
        let adapter = adapter(&server).await;
        let answer = responses(&adapter, &json!({"model": MODEL, "input": "Capital of France?"})).await;
        assert_eq!(answer.status(), 200, "{mode:?}");
        let body: Value = answer.json().await.expect("json");
        assert_eq!(body["object"], "response", "{mode:?}");
        assert_eq!(
            body["model"], MODEL,
            "{mode:?}: the admitted name, never the upstream's echo"
        );
        let texts: Vec<&str> = body["output"]
            .as_array()
            .expect("output")
            .iter()
            .flat_map(|item| item["content"].as_array().into_iter().flatten())
            .filter_map(|part| part["text"].as_str())
            .collect();
        assert_eq!(texts, ["Paris"], "{mode:?}");
        let sent = served_bodies(&server, mode).await;
        assert_eq!(sent.len(), 1, "{mode:?}");
        assert_eq!(sent[0]["model"], MODEL);
        for request in received(&server).await {
            assert!(request.headers.get("originator").is_none(), "Codex's headers stay here");
            for (name, value) in &request.headers {
                assert!(
                    !contains_secret(value.as_bytes(), TOKEN),
                    "the token went upstream in {name}"
                );
            }
        }
        let line = last_line(&adapter);
        assert_eq!(
            (line.api, line.outcome, line.status),
            (Api::OpenAi, Outcome::Forwarded, 200)
        );
        assert_eq!(line.forwarded_model.as_deref(), Some(MODEL));
        assert_eq!(
            line.upstream_model.as_deref(),
            Some("whatever-the-server-says"),
            "{mode:?}"
        );
        assert!(
            line.reason
                .as_deref()
                .is_some_and(|reason| reason.contains(mode.word())),
            "{line:?}"
        );
        assert_eq!(adapter.handle.totals().served_by_admitted_model, 1);
    }
}

/// The SSE events of a Responses stream, as (name, data), checking each names its `type`.
fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let name = block
                .lines()
                .find_map(|line| line.strip_prefix("event: "))
                .expect("event name");
            let data = block
                .lines()
                .find_map(|line| line.strip_prefix("data: "))
                .expect("data");
            let data: Value = serde_json::from_str(data).expect("JSON data");
            assert_eq!(data["type"], name);
            (name.to_owned(), data)
        })
        .collect()
}

#[tokio::test]
async fn a_streamed_answer_ends_with_response_completed_in_both_modes() {
    for mode in MODES {
        let server = upstream(mode, "Paris", false).await;
        let adapter = adapter(&server).await;
        let answer = responses(&adapter, &json!({"model": MODEL, "input": "Capital?", "stream": true})).await;
        assert_eq!(answer.status(), 200);
        assert!(
            answer.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/event-stream")
        );
        let events = events(&answer.text().await.expect("body"));
        let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names.first(), Some(&"response.created"), "{mode:?}: {names:?}");
        assert_eq!(names.last(), Some(&"response.completed"), "{mode:?}: {names:?}");
        let deltas: String = events
            .iter()
            .filter(|(name, _)| name == "response.output_text.delta")
            .filter_map(|(_, data)| data["delta"].as_str())
            .collect();
        assert_eq!(deltas, "Paris", "{mode:?}");
        let sent = served_bodies(&server, mode).await;
        assert_eq!(sent[0]["stream"], true);
        let line = last_line(&adapter);
        assert_eq!(
            (line.outcome, line.status),
            (Outcome::Forwarded, 200),
            "{mode:?}: {line:?}"
        );
        assert_eq!(adapter.handle.totals().served_by_admitted_model, 1);
    }
}

#[tokio::test]
async fn a_function_call_round_trip_in_both_modes() {
    for mode in MODES {
        let server = upstream(mode, "", true).await;
        let adapter = adapter(&server).await;
        let tools = json!([{"type": "function", "name": "exec_command", "description": "run",
                            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}]);
        let first = responses(
            &adapter,
            &json!({"model": MODEL, "input": "list files", "tools": tools}),
        )
        .await;
        assert_eq!(first.status(), 200);
        let first: Value = first.json().await.expect("json");
        let call = first["output"]
            .as_array()
            .expect("output")
            .iter()
            .find(|item| item["type"] == "function_call")
            .cloned()
            .expect("a function_call item");
        assert_eq!(
            (call["name"].as_str(), call["call_id"].as_str()),
            (Some("exec_command"), Some("call_1"))
        );
        assert_eq!(call["arguments"], "{\"cmd\":\"ls\"}");
        // Codex performs the call and sends the whole conversation back.
        let input = json!([
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"}]},
            {"type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"}
        ]);
        let second = responses(&adapter, &json!({"model": MODEL, "input": input, "tools": tools})).await;
        assert_eq!(second.status(), 200);
        let sent = served_bodies(&server, mode).await;
        assert_eq!(sent.len(), 2, "{mode:?}");
        match mode {
            Mode::Translate => assert_eq!(
                sent[1]["messages"],
                json!([
                    {"role": "system", "content": "rules"},
                    {"role": "user", "content": "list files"},
                    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"}}]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"}
                ])
            ),
            Mode::PassThrough => assert_eq!(sent[1]["input"], input),
        }
        assert_eq!(adapter.handle.totals().served_by_admitted_model, 2);
    }
}

#[tokio::test]
async fn a_foreign_model_is_refused_with_a_400_codex_does_not_retry_and_nothing_is_forwarded() {
    for mode in MODES {
        let server = upstream(mode, "Paris", false).await;
        let adapter = adapter(&server).await;
        let before = received(&server).await.len();
        for foreign in ["gpt-5-codex", "gpt-oss:20b"] {
            let answer = responses(&adapter, &json!({"model": foreign, "input": "hi", "stream": true})).await;
            assert_eq!(answer.status(), 400, "{mode:?} {foreign}");
            assert_eq!(answer.headers()["x-should-retry"], "false");
            let body: Value = answer.json().await.expect("json");
            let error = &body["error"];
            assert!(
                error["message"]
                    .as_str()
                    .is_some_and(|text| text.contains("not the admitted model")),
                "{body}"
            );
            assert!(error["type"].is_string() && !error["code"].is_null(), "{body}");
        }
        let last = responses(&adapter, &json!({"model": "gpt-5-codex", "input": "hi"})).await;
        assert_eq!(fallback_attempts_header(last.headers()), "3");
        assert_eq!(
            received(&server).await.len(),
            before,
            "{mode:?}: nothing went upstream, not even the probe"
        );
        adapter.assert_refused_fallbacks(3, "gpt-5-codex");
        assert!(
            adapter
                .ledger()
                .iter()
                .all(|line| line.outcome == Outcome::FallbackRefused)
        );
    }
}

#[tokio::test]
async fn hosted_tools_are_stripped_and_the_ledger_names_them_in_both_modes() {
    for mode in MODES {
        let server = upstream(mode, "Paris", false).await;
        let adapter = adapter(&server).await;
        let tools = json!([
            {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
            {"type": "web_search", "external_web_access": false}
        ]);
        let answer = responses(&adapter, &json!({"model": MODEL, "input": "hi", "tools": tools})).await;
        assert_eq!(answer.status(), 200, "{mode:?}");
        let sent = served_bodies(&server, mode).await;
        let sent_tools = sent[0]["tools"].as_array().expect("tools").clone();
        assert_eq!(sent_tools.len(), 1, "{mode:?}: {sent_tools:?}");
        assert!(!sent_tools[0].to_string().contains("web_search"));
        let line = last_line(&adapter);
        let reason = line.reason.unwrap_or_default();
        assert!(
            reason.contains("tools stripped") && reason.contains("web_search"),
            "{reason}"
        );
        // Forcing a hosted tool is refused: it would not happen.
        let forced = json!({"model": MODEL, "input": "hi", "tools": tools, "tool_choice": {"type": "web_search"}});
        assert_eq!(responses(&adapter, &forced).await.status(), 400);
        assert_eq!(served_bodies(&server, mode).await.len(), 1);
    }
}

#[tokio::test]
async fn the_request_codex_0_169_sends_is_served_in_both_modes() {
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/agents/codex-0.169.0-responses-request.json"
    ))
    .expect("fixture");
    let captured: Value = serde_json::from_str(&fixture).expect("fixture JSON");
    for mode in MODES {
        let server = upstream(mode, "Paris", false).await;
        let adapter = adapter(&server).await;
        let answer = responses(&adapter, &captured["body"]).await;
        assert_eq!(answer.status(), 200, "{mode:?}");
        let events = events(&answer.text().await.expect("body"));
        assert_eq!(events.last().map(|(name, _)| name.as_str()), Some("response.completed"));
        let sent = served_bodies(&server, mode).await;
        for dropped in ["client_metadata", "prompt_cache_key"] {
            assert!(sent[0].get(dropped).is_none(), "{mode:?}: {dropped} went upstream");
        }
        let reason = last_line(&adapter).reason.unwrap_or_default();
        assert!(
            reason.contains("web_search") && reason.contains("namespace `multi_agent_v1`"),
            "{reason}"
        );
    }
}
