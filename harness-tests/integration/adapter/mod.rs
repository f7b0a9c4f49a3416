//! The adapter, end to end over real sockets: `wiremock` (or, where timing matters, a tiny
//! axum server) on 127.0.0.1 plays the local model server, `reqwest` plays Case.
//!
//! Every test starts its own servers on 127.0.0.1 and sends traffic nowhere else. Each one
//! checks an observable fact — what the upstream received (or that it received nothing),
//! what Case got back, what the ledger and trace files say — so it fails if the behaviour
//! it names goes away.

/// Upstream faults and load.
mod faults;
/// An upstream that echoes secrets, names external models or never finishes.
mod hostile_upstream;
/// What the adapter refuses and never forwards: other models, smuggled routing, unknown
/// fields, a missing token; and which credential goes upstream.
mod refusals;
/// The sampling pin: an agent's own temperature overridden and recorded, a refusal named.
mod sampling;
/// Upstream answers relayed as they are: errors (redacted, never retried), non-answers,
/// redirects.
mod upstream_answers;

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::{
    MODEL, TOKEN, TestAdapter, contains_secret, received, start_held_back_sse_upstream, trace_event_names,
    upstream_answering_all, upstream_base,
};
use case_harness::adapter::{
    self, AdapterConfig, AdapterError, Api, HEADER_FALLBACK_ATTEMPTS, HEADER_SERVED_MODEL, HEADER_UPSTREAM, Outcome,
};
use case_harness::secrets::SecretValue;
use case_harness::trace::Trace;
use case_harness::upstream::LocalBaseUrl;
use serde_json::{Value, json};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A canary, like [`TOKEN`]: if the upstream key shows up in a file or an answer, it leaked.
const KEY: &str = "upstream-key-canary-51d2e8b4";

fn chat_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Reply with the single word: pong"}]})
}

fn completion(model: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "The perfect pong."}}]
    })
}

fn assert_evidence_headers(response: &reqwest::Response, upstream: &str, attempts: u64) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing on a {} response", response.status()))
            .to_str()
            .expect("ascii")
            .to_owned()
    };
    assert_eq!(header(HEADER_SERVED_MODEL), MODEL);
    assert_eq!(header(HEADER_UPSTREAM), upstream);
    assert_eq!(header(HEADER_FALLBACK_ATTEMPTS), attempts.to_string());
}

async fn error_message(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("JSON error body");
    body["error"]["message"].as_str().expect("error.message").to_owned()
}

#[tokio::test]
async fn non_streaming_chat_is_passed_through_and_recorded() {
    let server = MockServer::start().await;
    let upstream_answer = completion("whatever-the-server-says");
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&upstream_answer))
        .expect(1)
        .mount(&server)
        .await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;

    let request = chat_body(MODEL);
    let sent = serde_json::to_vec(&request).expect("json");
    let response = adapter.chat(request.clone()).await;
    assert_eq!(response.status(), 200);
    assert_evidence_headers(&response, &server.address().to_string(), 0);
    let bytes = response.bytes().await.expect("body");
    assert_eq!(serde_json::from_slice::<Value>(&bytes).expect("json"), upstream_answer);

    let got = received(&server).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body_json::<Value>().expect("json"), request);

    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), 1);
    let line = &ledger[0];
    assert_eq!(
        (line.api, line.outcome, line.status),
        (Api::OpenAi, Outcome::Forwarded, 200)
    );
    assert_eq!(line.method, "POST");
    assert_eq!(line.path, "/v1/chat/completions");
    assert_eq!(line.requested_model.as_deref(), Some(MODEL));
    assert_eq!(line.forwarded_model.as_deref(), Some(MODEL));
    assert_eq!(line.upstream_model.as_deref(), Some("whatever-the-server-says"));
    assert_eq!(line.upstream.as_deref(), Some(server.address().to_string().as_str()));
    assert_eq!(line.bytes_in, sent.len() as u64);
    assert_eq!(line.bytes_out, bytes.len() as u64);
    assert_eq!(line.reason, None);
    let totals = adapter.handle.totals();
    assert_eq!(
        (totals.requests, totals.forwarded, totals.served_by_admitted_model),
        (1, 1, 1)
    );
    adapter.assert_totals_match_file();
}

#[tokio::test]
async fn the_model_list_is_passed_through_but_serves_no_model() {
    let server = MockServer::start().await;
    let list = json!({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "me"}]});
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&list))
        .expect(1)
        .mount(&server)
        .await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;

    let response = adapter
        .client
        .get(adapter.url("/v1/models"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    assert_evidence_headers(&response, &server.address().to_string(), 0);
    assert_eq!(response.json::<Value>().await.expect("json"), list);
    let line = &adapter.ledger()[0];
    assert_eq!(
        (line.outcome, line.forwarded_model.as_deref()),
        (Outcome::Forwarded, None)
    );
    let totals = adapter.handle.totals();
    assert_eq!((totals.forwarded, totals.served_by_admitted_model), (1, 0));
}

/// The first SSE event of a chat stream, which the held-back upstream sends at once.
const HELD_BACK_FIRST: &str = "data: {\"id\":\"c1\",\"model\":\"sse-reported-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"The\"}}]}\n\n";
/// The rest, which it sends only once Case has seen the first.
const HELD_BACK_REST: &str = "data: {\"id\":\"c1\",\"model\":\"sse-reported-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" pong.\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";

#[tokio::test]
async fn streamed_chunks_reach_case_before_the_upstream_finishes() {
    let (upstream, release, released_by_case) = start_held_back_sse_upstream(HELD_BACK_FIRST, HELD_BACK_REST).await;
    let adapter = TestAdapter::start(&format!("http://{upstream}/v1")).await;

    let mut body = chat_body(MODEL);
    body["stream"] = json!(true);
    let mut response = adapter.chat(body).await;
    assert_eq!(response.status(), 200);
    assert_evidence_headers(&response, &upstream.to_string(), 0);
    assert_eq!(response.headers()["content-type"], "text/event-stream");

    let first = tokio::time::timeout(Duration::from_secs(2), response.chunk())
        .await
        .expect("the first event arrives while the upstream is still holding the rest")
        .expect("body")
        .expect("a chunk");
    let first = String::from_utf8(first.to_vec()).expect("utf-8");
    assert!(first.contains("\"The\"") && !first.contains("[DONE]"), "{first}");
    release.notify_one();
    let mut all = first;
    while let Some(chunk) = response.chunk().await.expect("body") {
        all.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
    }
    assert!(
        released_by_case.load(Ordering::SeqCst),
        "the upstream finished before Case saw anything"
    );
    assert!(all.ends_with("data: [DONE]\n\n"), "{all}");

    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), 1, "the stream's line is written when it ends");
    assert_eq!(ledger[0].outcome, Outcome::Forwarded);
    assert_eq!(ledger[0].upstream_model.as_deref(), Some("sse-reported-model"));
    assert_eq!(ledger[0].bytes_out, all.len() as u64);
    assert_eq!(adapter.handle.totals().served_by_admitted_model, 1);
}

#[tokio::test]
async fn unknown_paths_are_answered_locally_and_never_forwarded() {
    let server = upstream_answering_all(ResponseTemplate::new(200).set_body_json(completion(MODEL))).await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    let host = server.address().to_string();

    for (verb, path) in [
        ("POST", "/v1/complete"),
        ("POST", "/chat/completions"),
        ("POST", "/v1/completions"),
        ("GET", "/v1/models/claude-sonnet-4-6"),
        ("POST", "/v1/oauth/token"),
        ("GET", "/v2/"),
    ] {
        let response = adapter
            .client
            .request(verb.parse().expect("method"), adapter.url(path))
            .bearer_auth(TOKEN)
            .json(&chat_body(MODEL))
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), 404, "{verb} {path}");
        assert_evidence_headers(&response, &host, 0);
        assert!(error_message(response).await.contains("not forwarded"));
    }
    let wrong_method = adapter
        .client
        .get(adapter.url("/v1/chat/completions"))
        .bearer_auth(TOKEN)
        .send()
        .await;
    let wrong_method = wrong_method.expect("answer");
    assert_eq!(wrong_method.status(), 405);
    assert_evidence_headers(&wrong_method, &host, 0);
    let telemetry = adapter
        .post("/api/event_logging/batch")
        .json(&json!({"events": [{"name": "tengu_init"}]}))
        .send()
        .await
        .expect("answer");
    assert_eq!(telemetry.status(), 204);
    assert_evidence_headers(&telemetry, &host, 0);

    assert!(
        received(&server).await.is_empty(),
        "a locally answered path was forwarded"
    );
    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), 8);
    assert!(
        ledger[..6]
            .iter()
            .all(|line| line.outcome == Outcome::NotFound && line.api == Api::Local)
    );
    assert_eq!(ledger[6].outcome, Outcome::MethodNotAllowed);
    assert_eq!((ledger[7].outcome, ledger[7].status), (Outcome::AnsweredLocally, 204));
    assert!(ledger.iter().all(|line| line.upstream.is_none()));
}

/// Claude Code's warm-up probes (`HEAD /`, `HEAD /api/hello`) carry no credentials: each is a
/// 200 with nothing in it, a ledger line, and nothing upstream; any other method there still
/// needs the token, and a HEAD elsewhere is no probe.
#[tokio::test]
async fn warm_up_probes_are_answered_locally_without_credentials() {
    let server = upstream_answering_all(ResponseTemplate::new(200).set_body_json(completion(MODEL))).await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    let host = server.address().to_string();
    for path in ["/", "/api/hello"] {
        let probe = adapter.client.head(adapter.url(path)).send().await.expect("answer");
        assert_eq!(probe.status(), 200, "HEAD {path}");
        assert_evidence_headers(&probe, &host, 0);
        assert!(probe.bytes().await.expect("body").is_empty());
        let unauthenticated = adapter.client.get(adapter.url(path)).send().await.expect("answer");
        assert_eq!(unauthenticated.status(), 401, "GET {path}");
    }
    let elsewhere = adapter
        .client
        .head(adapter.url("/v1/models"))
        .send()
        .await
        .expect("answer");
    assert_eq!(elsewhere.status(), 401);
    assert!(received(&server).await.is_empty(), "a probe was forwarded");
    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), 5);
    for line in [&ledger[0], &ledger[2]] {
        assert_eq!(
            (line.api, line.outcome, line.status),
            (Api::Local, Outcome::AnsweredLocally, 200)
        );
    }
}

#[tokio::test]
async fn another_model_on_an_unknown_route_is_a_counted_fallback_attempt() {
    let server = upstream_answering_all(ResponseTemplate::new(200).set_body_json(completion(MODEL))).await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    let host = server.address().to_string();

    let response = adapter
        .post("/v1/completions")
        .json(&json!({"model": "gpt-5", "prompt": "hi"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 403);
    assert_evidence_headers(&response, &host, 1);
    assert!(error_message(response).await.contains("gpt-5"));
    // The admitted model on an unknown route is still just a 404.
    let response = adapter
        .post("/v1/completions")
        .json(&json!({"model": MODEL, "prompt": "hi"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 404);
    assert_evidence_headers(&response, &host, 1);

    assert!(received(&server).await.is_empty(), "an unknown route was forwarded");
    let ledger = adapter.ledger();
    assert_eq!(ledger[0].outcome, Outcome::FallbackRefused);
    assert_eq!(ledger[0].requested_model.as_deref(), Some("gpt-5"));
    assert_eq!(ledger[1].outcome, Outcome::NotFound);
    assert_eq!(adapter.handle.totals().fallback_attempts, 1);
    assert!(trace_event_names(&adapter.trace_path()).contains(&"fallback_attempt".to_owned()));
    adapter.assert_totals_match_file();
}

/// An upstream that answers every chat completion after 200 ms, reading the whole body, and
/// counts how many it is handling at once: (its base URL, the peak count).
async fn slow_counting_upstream() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    let (current, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let peak_in = peak.clone();
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            axum::routing::post(move |_body: axum::body::Bytes| {
                let (current, peak) = (current.clone(), peak_in.clone());
                async move {
                    let now = current.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    current.fetch_sub(1, Ordering::SeqCst);
                    axum::response::Response::builder()
                        .header("content-type", "application/json")
                        .body(axum::body::Body::from(completion(MODEL).to_string()))
                        .expect("response")
                }
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::disable());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1"), peak)
}

#[tokio::test]
async fn requests_in_flight_and_request_bytes_held_are_bounded() {
    let (upstream, peak) = slow_counting_upstream().await;
    // Tens of MiB of JSON through a debug build on a busy machine: give the upstream time.
    let adapter = TestAdapter::start_with_timeout(&upstream, Duration::from_secs(120)).await;

    // More requests at once than the bound: the upstream never sees more than the bound.
    let answers =
        futures_util::future::join_all((0..adapter::MAX_IN_FLIGHT + 8).map(|_| adapter.chat(chat_body(MODEL)))).await;
    assert!(answers.iter().all(|answer| answer.status() == 200));
    let seen = peak.swap(0, Ordering::SeqCst);
    assert!(
        (2..=adapter::MAX_IN_FLIGHT).contains(&seen),
        "{seen} upstream requests at once"
    );

    // Twelve 6 MiB bodies at once: only as many as fit in the body budget are held (and so
    // forwarded) at a time, though the in-flight bound alone would let all twelve through.
    let mut large = chat_body(MODEL);
    large["messages"][0]["content"] = json!("x".repeat(6 * 1024 * 1024));
    let fit = adapter::MAX_BUFFERED_BODY_BYTES / (6 * 1024 * 1024 + 1024);
    assert!(fit < 12 && 12 <= adapter::MAX_IN_FLIGHT);
    let answers = futures_util::future::join_all((0..12).map(|_| adapter.chat(large.clone()))).await;
    let statuses: Vec<u16> = answers.iter().map(|answer| answer.status().as_u16()).collect();
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    let seen = peak.load(Ordering::SeqCst);
    assert!((2..=fit).contains(&seen), "{seen} large requests at once, {fit} fit");

    let mut big = chat_body(MODEL);
    big["messages"][0]["content"] = json!("x".repeat(adapter::MAX_REQUEST_BYTES));
    let response = adapter.chat(big).await;
    assert_eq!(response.status(), 413);
    assert_eq!(adapter::MAX_REQUEST_BYTES, 8 * 1024 * 1024);
}

#[tokio::test]
async fn upstream_silence_is_504_and_a_dead_upstream_502_without_retry() {
    let slow = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(completion(MODEL))
                .set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&slow)
        .await;
    let adapter = TestAdapter::start_with_timeout(&upstream_base(&slow), Duration::from_millis(300)).await;
    let response = adapter.chat(chat_body(MODEL)).await;
    assert_eq!(response.status(), 504);
    assert_evidence_headers(&response, &slow.address().to_string(), 0);
    assert!(error_message(response).await.contains("did not answer"));
    assert_eq!(adapter.ledger()[0].outcome, Outcome::UpstreamError);

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead = closed.local_addr().expect("addr");
    drop(closed);
    let adapter = TestAdapter::start(&format!("http://{dead}/v1")).await;
    let response = adapter.chat(chat_body(MODEL)).await;
    assert_eq!(response.status(), 502);
    assert_evidence_headers(&response, &dead.to_string(), 0);
    let line = &adapter.ledger()[0];
    assert_eq!(
        (line.outcome, line.upstream.as_deref()),
        (Outcome::UpstreamError, Some(dead.to_string().as_str()))
    );
    assert_eq!(adapter.handle.totals().served_by_admitted_model, 0);
}

#[tokio::test]
async fn the_ledger_has_one_line_per_request_and_never_a_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(MODEL)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&server)
        .await;
    let adapter = TestAdapter::start_with_key(&upstream_base(&server), KEY).await;
    let ledger_path = adapter.ledger_path();
    assert!(ledger_path.exists(), "the ledger exists from the start");

    let mut answers = Vec::new();
    let mut requests = 0;
    let mut streaming = chat_body(MODEL);
    streaming["stream"] = json!(true);
    for body in [
        chat_body(MODEL),
        streaming,
        chat_body("claude-sonnet-4-6"),
        chat_body(TOKEN),
        chat_body(KEY),
    ] {
        answers.push(adapter.chat(body).await.bytes().await.expect("body"));
        requests += 1;
    }
    for request in [
        adapter
            .client
            .post(adapter.url("/v1/chat/completions"))
            .bearer_auth(KEY)
            .json(&chat_body(MODEL)),
        adapter
            .client
            .get(adapter.url(&format!("/v1/{TOKEN}")))
            .bearer_auth(TOKEN),
        adapter.client.get(adapter.url("/v1/models")).header("x-api-key", TOKEN),
    ] {
        answers.push(request.send().await.expect("answer").bytes().await.expect("body"));
        requests += 1;
    }

    // What the adapter said back does not echo a secret either (Case may log its answers).
    for answer in &answers {
        for secret in [TOKEN, KEY] {
            assert!(!contains_secret(answer, secret), "an answer echoed a secret");
        }
    }

    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), requests, "one line per request");
    let trace_path = adapter.trace_path();
    let TestAdapter { handle, dir: _dir, .. } = adapter;
    let totals = handle.shutdown().await;
    assert_eq!(totals, adapter::summarize(&ledger));
    assert_eq!(
        (
            totals.requests,
            totals.served_by_admitted_model,
            totals.fallback_attempts
        ),
        (8, 2, 3)
    );

    for file in [&ledger_path, &trace_path] {
        let bytes = std::fs::read(file).expect("read");
        for secret in [TOKEN, KEY] {
            assert!(!contains_secret(&bytes, secret), "{} contains a secret", file.display());
        }
    }
    let events = trace_event_names(&trace_path);
    assert_eq!(events.first().map(String::as_str), Some("adapter_started"));
    assert_eq!(events.last().map(String::as_str), Some("adapter_stopped"));
}

#[tokio::test]
async fn it_refuses_to_listen_beyond_loopback() {
    let config = AdapterConfig {
        upstream: LocalBaseUrl::parse("http://127.0.0.1:9/v1").expect("url"),
        model: MODEL.to_owned(),
        upstream_key: None,
        case_token: SecretValue::new(TOKEN.to_owned()),
        ledger_path: None,
        trace: Trace::disabled(),
        upstream_timeout: Duration::from_secs(1),
        upstream_api: adapter::UpstreamApi::OpenAi,
        sampling: Default::default(),
    };
    let result = adapter::start(config, "0.0.0.0:0".parse().expect("addr")).await;
    assert!(
        matches!(result, Err(AdapterError::ListenNotLoopback { .. })),
        "{result:?}"
    );
}
