//! One suite, both modes: the pinning, fallback and secret rules of the Anthropic routes hold
//! the same whether the adapter translates to an OpenAI-only upstream or passes through to an
//! upstream that speaks the Messages API itself. Each test runs once per [`Mode`] against the
//! fake upstream of that mode, with `--upstream-api auto`, so the start-up probe choosing the
//! mode is exercised too.

use std::time::Duration;

use case_harness::adapter::{AdapterMode, Api, Outcome, UpstreamApi};
use case_harness::output::UpstreamCause;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{anthropic_post, assert_not_forwarded_headers, completion, hello, messages};
use crate::support::{MODEL, TOKEN, TestAdapter, contains_secret, fallback_attempts_header, received, upstream_base};

/// The upstream key of this suite (a canary: it may go upstream only, never to Case).
const KEY: &str = "upstream-key-canary-51d0a9e4";

/// What the upstream speaks, and so how the adapter serves `/v1/messages`.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// OpenAI chat completions only (llama-cpp-python): translated.
    Translate,
    /// The Anthropic Messages API (llama-server, Ollama, vLLM): passed through.
    PassThrough,
}

const MODES: [Mode; 2] = [Mode::Translate, Mode::PassThrough];

impl Mode {
    fn expected(self) -> AdapterMode {
        match self {
            Mode::Translate => AdapterMode::Translate,
            Mode::PassThrough => AdapterMode::PassThrough,
        }
    }

    /// The path a served `/v1/messages` request reaches upstream.
    fn upstream_path(self) -> &'static str {
        match self {
            Mode::Translate => "/v1/chat/completions",
            Mode::PassThrough => "/v1/messages",
        }
    }

    /// The fake upstream of this mode, answering with `status` (and, for errors, `error_text`).
    /// An OpenAI-only server has no `/v1/messages*` (wiremock answers 404); a Messages server
    /// answers `count_tokens` and `messages`, echoing a model name of its own.
    async fn upstream(self, status: u16, error_text: &str) -> MockServer {
        self.upstream_erring(status, json!({"error": {"message": error_text}}))
            .await
    }

    /// [`Mode::upstream`] with a whole error body of the server's own.
    async fn upstream_erring(self, status: u16, error: Value) -> MockServer {
        self.upstream_with(status, error, "pong").await
    }

    /// [`Mode::upstream_erring`] whose answers (status 200) say `text`.
    async fn upstream_with(self, status: u16, error: Value, text: &str) -> MockServer {
        let server = MockServer::start().await;
        let answer = |ok: Value| {
            if status == 200 {
                ResponseTemplate::new(200).set_body_json(ok)
            } else {
                ResponseTemplate::new(status).set_body_json(error.clone())
            }
        };
        match self {
            Mode::Translate => {
                let ok = completion(json!({"role": "assistant", "content": text}), "stop");
                Mock::given(method("POST"))
                    .and(path("/v1/chat/completions"))
                    .respond_with(answer(ok))
                    .mount(&server)
                    .await;
            }
            Mode::PassThrough => {
                Mock::given(method("POST"))
                    .and(path("/v1/messages/count_tokens"))
                    .respond_with(ResponseTemplate::new(200).set_body_json(json!({"input_tokens": 9})))
                    .mount(&server)
                    .await;
                let ok = json!({"id": "msg_1", "type": "message", "role": "assistant",
                                "model": "whatever-the-server-says",
                                "content": [{"type": "text", "text": text}],
                                "stop_reason": "end_turn", "stop_sequence": null,
                                "usage": {"input_tokens": 9, "output_tokens": 1}});
                Mock::given(method("POST"))
                    .and(path("/v1/messages"))
                    .respond_with(answer(ok))
                    .mount(&server)
                    .await;
            }
        }
        server
    }

    /// An adapter left to probe `server`; checks it chose this mode. Returns it with the
    /// number of requests the probe made (every later one is Case's).
    async fn adapter(self, server: &MockServer) -> (TestAdapter, usize) {
        let adapter = TestAdapter::start_as(
            &upstream_base(server),
            Some(KEY),
            Duration::from_secs(10),
            UpstreamApi::Auto,
        )
        .await;
        assert_eq!(adapter.handle.mode(), self.expected(), "the probe chose the wrong mode");
        let probes = received(server).await.len();
        assert_eq!(probes, 1, "{self:?}: one probe, nothing else, at start");
        (adapter, probes)
    }
}

/// What reached the upstream after the start-up probe.
async fn forwarded(server: &MockServer, probes: usize) -> Vec<wiremock::Request> {
    received(server).await.split_off(probes)
}

#[tokio::test]
async fn a_claude_model_is_refused_not_forwarded_and_recorded_as_a_fallback_attempt() {
    for mode in MODES {
        let server = mode.upstream(200, "").await;
        let (adapter, probes) = mode.adapter(&server).await;
        let mut streaming = hello("claude-3-5-haiku-latest");
        streaming["stream"] = json!(true);
        let count = json!({"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]});
        let attempts = [
            ("/v1/messages", hello("claude-sonnet-4-6")),
            ("/v1/messages", streaming),
            ("/v1/messages/count_tokens", count),
        ];
        for (index, (path, body)) in attempts.iter().enumerate() {
            let response = anthropic_post(&adapter, path, body).send().await.expect("answer");
            assert_eq!(response.status(), 403, "{mode:?} {path}");
            assert_eq!(fallback_attempts_header(response.headers()), (index + 1).to_string());
            let error: Value = response.json().await.expect("json");
            assert_eq!(error["type"], "error");
            assert_eq!(error["error"]["type"], "permission_error");
            let message = error["error"]["message"].as_str().expect("message");
            assert!(
                message.contains(body["model"].as_str().expect("model")) && message.contains(MODEL),
                "{message}"
            );
        }
        assert!(
            forwarded(&server, probes).await.is_empty(),
            "{mode:?}: a refused request reached the upstream"
        );
        let ledger = adapter.ledger();
        assert_eq!(ledger.len(), 3);
        for (line, (path, body)) in ledger.iter().zip(&attempts) {
            assert_eq!(
                (line.api, line.outcome, line.status),
                (Api::Anthropic, Outcome::FallbackRefused, 403)
            );
            assert_eq!(line.path, *path);
            assert_eq!(line.requested_model.as_deref(), body["model"].as_str());
            assert_eq!(
                (line.forwarded_model.as_deref(), line.upstream.as_deref()),
                (None, None)
            );
        }
        adapter.assert_refused_fallbacks(3, "claude-sonnet-4-6");
    }
}

#[tokio::test]
async fn smuggled_routing_is_a_fallback_attempt_and_unknown_fields_a_400_never_forwarded() {
    for mode in MODES {
        let server = mode.upstream(200, "").await;
        let (adapter, probes) = mode.adapter(&server).await;
        let mut routed = hello(MODEL);
        routed["fallbacks"] = json!(["claude-sonnet-4-6"]);
        let response = messages(&adapter, &routed).await;
        assert_eq!(response.status(), 403, "{mode:?}");
        let mut unknown = hello(MODEL);
        unknown["container"] = json!("c-1");
        let response = messages(&adapter, &unknown).await;
        assert_eq!(response.status(), 400, "{mode:?}");
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["type"], "invalid_request_error");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|text| text.contains("container")),
            "{mode:?}: {error}"
        );
        assert!(forwarded(&server, probes).await.is_empty(), "{mode:?}");
        let outcomes: Vec<_> = adapter.ledger().iter().map(|line| line.outcome).collect();
        assert_eq!(outcomes, [Outcome::FallbackRefused, Outcome::BadRequest], "{mode:?}");
        assert_eq!(adapter.handle.totals().fallback_attempts, 1);
    }
}

#[tokio::test]
async fn only_the_admitted_model_goes_up_its_answer_names_it_and_case_credentials_stay_home() {
    for mode in MODES {
        let server = mode.upstream(200, "").await;
        let (adapter, probes) = mode.adapter(&server).await;
        let response = messages(&adapter, &hello(MODEL)).await;
        assert_eq!(response.status(), 200, "{mode:?}");
        let message: Value = response.json().await.expect("json");
        assert_eq!(
            message["model"], MODEL,
            "{mode:?}: the upstream's echo is never trusted"
        );
        assert_eq!(message["content"][0]["text"], "pong");
        let count = json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]});
        let response = anthropic_post(&adapter, "/v1/messages/count_tokens", &count)
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), 200, "{mode:?}");

        let requests = forwarded(&server, probes).await;
        let served: Vec<_> = requests
            .iter()
            .filter(|request| request.url.path() == mode.upstream_path())
            .collect();
        assert_eq!(served.len(), 1, "{mode:?}");
        let body: Value = serde_json::from_slice(&served[0].body).expect("json");
        assert_eq!(body["model"], MODEL);
        for request in &requests {
            assert!(
                !contains_secret(&request.body, TOKEN),
                "{mode:?}: the token went upstream"
            );
            assert_eq!(request.headers["authorization"], format!("Bearer {KEY}").as_str());
            for name in ["anthropic-beta", "x-stainless-lang", "x-stainless-retry-count"] {
                assert!(request.headers.get(name).is_none(), "{mode:?}: {name} went upstream");
            }
            if matches!(mode, Mode::Translate) {
                assert_not_forwarded_headers(request);
            } else {
                // The upstream's key, as an Anthropic server expects it; never Case's token.
                assert_eq!(request.headers["x-api-key"], KEY);
                assert_eq!(request.headers["anthropic-version"], "2023-06-01");
            }
        }
        let line = adapter
            .ledger()
            .into_iter()
            .find(|line| line.path == "/v1/messages")
            .expect("ledger line");
        assert_eq!(
            (line.outcome, line.forwarded_model.as_deref()),
            (Outcome::Forwarded, Some(MODEL))
        );
        // Recorded, never trusted.
        assert_eq!(line.upstream_model.as_deref(), Some("whatever-the-server-says"));
        let totals = adapter.handle.totals();
        assert_eq!((totals.served_by_admitted_model, totals.fallback_attempts), (1, 0));
        adapter.assert_totals_match_file();
    }
}

#[tokio::test]
async fn upstream_errors_reach_case_with_the_secrets_redacted() {
    for mode in MODES {
        let text = format!("crashed with key {KEY} for {TOKEN}");
        let server = mode.upstream(500, &text).await;
        let (adapter, _) = mode.adapter(&server).await;
        let response = messages(&adapter, &hello(MODEL)).await;
        assert_eq!(response.status(), 500, "{mode:?}");
        let bytes = response.bytes().await.expect("body");
        let body = String::from_utf8_lossy(&bytes);
        assert!(
            body.contains("crashed with key"),
            "{mode:?}: the upstream's words reach Case: {body}"
        );
        assert!(
            !contains_secret(&bytes, KEY) && !contains_secret(&bytes, TOKEN),
            "{mode:?}: {body}"
        );
        // An upstream that echoes the run's secrets at all is marked (and fails the run),
        // whether it said so in an answer or in an error.
        let line = &adapter.ledger()[0];
        assert_eq!((line.outcome, line.status), (Outcome::SecretEchoed, 500), "{mode:?}");
        assert_eq!(line.upstream_cause, Some(UpstreamCause::ServerError { status: 500 }));
        assert_eq!(adapter.handle.totals().served_by_admitted_model, 0);
    }
}

#[tokio::test]
async fn an_answer_echoing_the_upstream_key_reaches_case_redacted_and_fails_the_line() {
    for mode in MODES {
        let server = mode.upstream_with(200, Value::Null, &format!("the key is {KEY}")).await;
        let (adapter, _) = mode.adapter(&server).await;
        let response = messages(&adapter, &hello(MODEL)).await;
        assert_eq!(response.status(), 200, "{mode:?}");
        let bytes = response.bytes().await.expect("body");
        let body = String::from_utf8_lossy(&bytes);
        assert!(!contains_secret(&bytes, KEY), "{mode:?}: the key reached Case: {body}");
        assert!(body.contains("the key is [redacted]"), "{mode:?}: {body}");
        let line = &adapter.ledger()[0];
        assert_eq!(line.outcome, Outcome::SecretEchoed, "{mode:?}");
        assert_eq!(adapter.handle.totals().served_by_admitted_model, 0, "{mode:?}");
    }
}

#[tokio::test]
async fn a_local_server_error_tells_case_not_to_retry_but_overload_does_not() {
    for mode in MODES {
        for (status, retry) in [(500, Some("false")), (503, None)] {
            let server = mode.upstream(status, "no").await;
            let (adapter, _) = mode.adapter(&server).await;
            let response = messages(&adapter, &hello(MODEL)).await;
            assert_eq!(response.status(), status, "{mode:?}");
            let hint = response
                .headers()
                .get("x-should-retry")
                .map(|value| value.to_str().expect("ascii"));
            assert_eq!(hint, retry, "{mode:?} {status}");
        }
    }
}

#[tokio::test]
async fn a_prompt_longer_than_the_local_context_is_anthropics_prompt_too_long_named_in_the_ledger() {
    // Measured: llama-server's answer on both its routes (llama-cpp-python 0.3.36's sdist).
    let exceeded = json!({"error": {"code": 400, "type": "exceed_context_size_error",
        "message": "request (12031 tokens) exceeds the available context size (8192 tokens), try increasing it",
        "n_prompt_tokens": 12031, "n_ctx": 8192}});
    let cause = UpstreamCause::ContextExceeded {
        request_tokens: Some(12031),
        context_tokens: Some(8192),
    };
    for mode in MODES {
        let server = mode.upstream_erring(400, exceeded.clone()).await;
        let (adapter, _) = mode.adapter(&server).await;
        let response = messages(&adapter, &hello(MODEL)).await;
        assert_eq!(response.status(), 400, "{mode:?}");
        assert_eq!(response.headers()["x-should-retry"], "false", "{mode:?}");
        let error: Value = response.json().await.expect("json");
        // Anthropic's own shape and words: what Claude Code recognises (and stops on).
        assert_eq!(error["type"], "error", "{mode:?}: {error}");
        assert_eq!(error["error"]["type"], "invalid_request_error", "{mode:?}");
        let message = error["error"]["message"].as_str().expect("message");
        assert!(
            message.starts_with("prompt is too long: 12031 tokens > 8192 maximum"),
            "{mode:?}: {message}"
        );
        let line = &adapter.ledger()[0];
        assert_eq!(line.upstream_cause, Some(cause), "{mode:?}");
        let reason = line.reason.as_deref().unwrap_or_default();
        assert!(reason.contains(&cause.to_string()), "{mode:?}: {reason}");
        assert_eq!(
            adapter.handle.totals().upstream_errors.into_iter().collect::<Vec<_>>(),
            [cause]
        );
    }
}

#[tokio::test]
async fn thinking_passes_through_but_translation_refuses_it_with_a_clear_400() {
    for mode in MODES {
        let server = mode.upstream(200, "").await;
        let (adapter, probes) = mode.adapter(&server).await;
        let mut body = hello(MODEL);
        body["max_tokens"] = json!(2048);
        body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
        let response = messages(&adapter, &body).await;
        let requests = forwarded(&server, probes).await;
        match mode {
            Mode::Translate => {
                assert_eq!(response.status(), 400);
                let error: Value = response.json().await.expect("json");
                assert_eq!(error["error"]["type"], "invalid_request_error");
                let message = error["error"]["message"].as_str().expect("message");
                assert!(message.contains("thinking"), "{message}");
                assert!(requests.is_empty(), "a refused request reached the upstream");
            }
            Mode::PassThrough => {
                assert_eq!(response.status(), 200);
                assert_eq!(requests.len(), 1);
                let sent: Value = serde_json::from_slice(&requests[0].body).expect("json");
                assert_eq!(sent["thinking"], body["thinking"]);
                assert_eq!(sent["model"], MODEL);
            }
        }
    }
}

/// An Anthropic SSE body as a Messages server streams it; `complete` ends with `message_stop`.
fn anthropic_stream(complete: bool) -> String {
    let mut events = vec![
        json!({"type": "message_start", "message": {"id": "msg_s", "type": "message", "role": "assistant",
               "model": "whatever-the-server-says", "content": [], "stop_reason": null,
               "usage": {"input_tokens": 9, "output_tokens": 0}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "pong"}}),
        json!({"type": "content_block_stop", "index": 0}),
    ];
    if complete {
        events.push(
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}}),
        );
        events.push(json!({"type": "message_stop"}));
    }
    events
        .iter()
        .map(|event| {
            format!(
                "event: {}\ndata: {event}\n\n",
                event["type"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

#[tokio::test]
async fn a_passed_through_stream_is_relayed_as_it_is_and_served_only_when_complete() {
    for complete in [true, false] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/messages/count_tokens"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"input_tokens": 9})))
            .mount(&server)
            .await;
        let stream = anthropic_stream(complete);
        Mock::given(method("POST"))
            .and(path("/v1/messages"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(stream.clone(), "text/event-stream"))
            .mount(&server)
            .await;
        let (adapter, probes) = Mode::PassThrough.adapter(&server).await;
        let mut body = hello(MODEL);
        body["stream"] = json!(true);
        let response = messages(&adapter, &body).await;
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .is_ok_and(|value| value.starts_with("text/event-stream"))
        );
        let text = response.text().await.expect("body");
        assert_eq!(text, stream, "relayed byte for byte");
        let sent: Value = serde_json::from_slice(&forwarded(&server, probes).await[0].body).expect("json");
        assert_eq!(
            (sent["model"].as_str(), sent["stream"].as_bool()),
            (Some(MODEL), Some(true))
        );
        let line = &adapter.ledger()[0];
        assert_eq!(line.bytes_out, stream.len() as u64, "every byte served is counted");
        assert_eq!(line.upstream_model.as_deref(), Some("whatever-the-server-says"));
        let (outcome, served) = if complete {
            (Outcome::Forwarded, 1)
        } else {
            (Outcome::UpstreamError, 0)
        };
        assert_eq!(line.outcome, outcome, "complete: {complete}");
        assert_eq!(adapter.handle.totals().served_by_admitted_model, served);
        adapter.assert_totals_match_file();
    }
}
