//! The official Python SDKs (`anthropic`, `openai`, pinned by `scripts/python-sdks.sh`) judge
//! the adapter's wire compatibility: each test starts a fake OpenAI-compatible upstream
//! (`wiremock`) and the adapter on 127.0.0.1, runs one scenario of a program in
//! `harness-tests/sdk/` with the venv's python — the SDK configured only by the environment
//! variables an agent would get — and checks what the SDK saw, what the upstream received and
//! what the ledger says. The last test runs the real `case-harness run` binary with a Case
//! written against the Anthropic SDK.
//!
//! Every test here is `#[ignore]`d because it needs that venv. Run them with
//! `scripts/python-sdks.sh && cargo test --test sdk -- --include-ignored` (nextest:
//! `--run-ignored all`). With `--include-ignored` and no venv they fail, naming the script:
//! a judge that is missing must not look like a judge that agreed.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use case_harness::adapter::{self, Api, Outcome};
use serde_json::{Value, json};
use support::{MODEL, TOKEN, TestAdapter, upstream_base};
use wiremock::matchers::{method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const NEEDS_VENV: &str = "needs the SDK venv: run scripts/python-sdks.sh, then --include-ignored";

/// The venv's python: `$CASE_HARNESS_SDK_VENV` (relative to the repository) or
/// `target/case-harness/sdk-venv`, as `scripts/python-sdks.sh` makes it.
fn venv_python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var_os("CASE_HARNESS_SDK_VENV")
        .filter(|value| !value.is_empty())
        .map_or_else(|| PathBuf::from("target/case-harness/sdk-venv"), PathBuf::from);
    let venv = root.join(venv);
    let python = venv.join("bin").join("python");
    assert!(
        python.is_file(),
        "the SDK venv {} does not exist (no {}): run scripts/python-sdks.sh first — these tests \
         ({NEEDS_VENV}) use the official SDKs it installs",
        venv.display(),
        python.display()
    );
    python
}

// ---- the fake upstream

/// Matches a chat request by a predicate on its JSON body.
struct BodyIs(fn(&Value) -> bool);

impl Match for BodyIs {
    fn matches(&self, request: &Request) -> bool {
        serde_json::from_slice::<Value>(&request.body).is_ok_and(|body| (self.0)(&body))
    }
}

fn streams(body: &Value) -> bool {
    body["stream"] == true
}

/// Tools offered and no tool result in the conversation yet: the model calls the tool.
fn calls_tool(body: &Value) -> bool {
    let offered = body["tools"].as_array().is_some_and(|tools| !tools.is_empty());
    let answered = body["messages"]
        .as_array()
        .is_some_and(|messages| messages.iter().any(|message| message["role"] == "tool"));
    offered && !answered
}

fn chunk(delta: Value, finish: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "echoed-name",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn sse(chunks: &[Value]) -> String {
    let mut body: String = chunks.iter().map(|chunk| format!("data: {chunk}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    body
}

fn completion(message: Value, finish: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "echoed-name",
           "choices": [{"index": 0, "message": message, "finish_reason": finish}],
           "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16}})
}

/// A local model server that lists the admitted model, answers "The capital of France is
/// Paris." (streamed in three pieces when asked to stream), calls `weather` for Paris when
/// tools are offered, and has llama.cpp's `/tokenize`.
async fn fake_upstream() -> MockServer {
    let server = MockServer::start().await;
    let text_stream = sse(&[
        chunk(json!({"role": "assistant", "content": "The capital"}), Value::Null),
        chunk(json!({"content": " of France is"}), Value::Null),
        chunk(json!({"content": " Paris."}), Value::Null),
        chunk(json!({}), json!("stop")),
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "echoed-name",
               "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16}}),
    ]);
    let tool_stream = sse(&[
        chunk(
            json!({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                   "function": {"name": "weather", "arguments": "{\"ci"}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "ty\": \"Paris\"}"}}]}),
            Value::Null,
        ),
        chunk(json!({}), json!("tool_calls")),
    ]);
    let chat = || Mock::given(method("POST")).and(path("/v1/chat/completions"));
    chat()
        .and(BodyIs(|body| streams(body) && calls_tool(body)))
        .respond_with(ResponseTemplate::new(200).set_body_raw(tool_stream, "text/event-stream"))
        .with_priority(1)
        .mount(&server)
        .await;
    chat()
        .and(BodyIs(streams))
        .respond_with(ResponseTemplate::new(200).set_body_raw(text_stream, "text/event-stream"))
        .with_priority(2)
        .mount(&server)
        .await;
    chat()
        .and(BodyIs(calls_tool))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                   "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}}]}),
            "tool_calls",
        )))
        .with_priority(3)
        .mount(&server)
        .await;
    chat()
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            json!({"role": "assistant", "content": "The capital of France is Paris."}),
            "stop",
        )))
        .with_priority(4)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "me"}]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/tokenize"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tokens": [1, 2, 3, 4, 5]})))
        .mount(&server)
        .await;
    server
}

/// A local model server whose every chat answer is a 500.
async fn crashing_upstream() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"error": {"message": "model crashed"}})))
        .mount(&server)
        .await;
    server
}

async fn chat_requests(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|request| request.url.path() == "/v1/chat/completions")
        .collect()
}

/// Nothing an SDK sends besides the JSON body goes upstream: not its credential, not
/// `anthropic-version`/`-beta`, not its `x-stainless-*` telemetry headers. (`authorization`
/// is the harness's own upstream key — a canary in a run — never the per-run token.)
fn assert_only_allowed_headers(requests: &[Request]) {
    for request in requests {
        for (name, value) in &request.headers {
            let name = name.as_str();
            assert!(
                [
                    "content-type",
                    "accept",
                    "content-length",
                    "host",
                    "accept-encoding",
                    "authorization"
                ]
                .contains(&name),
                "header {name} was forwarded upstream"
            );
            assert!(
                !value.as_bytes().windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
                "the token went upstream"
            );
        }
        let body: Value = serde_json::from_slice(&request.body).expect("json");
        assert_eq!(body["model"], MODEL, "only the admitted model is ever forwarded");
    }
}

// ---- running a program

async fn run_python(script: &Path, args: &[&str], envs: &[(&str, String)]) -> Output {
    let mut command = tokio::process::Command::new(venv_python());
    command
        .arg(script)
        .args(args)
        .env_clear()
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true);
    for (name, value) in envs {
        command.env(name, value);
    }
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the SDK program finished within 120 s")
        .expect("the SDK program runs")
}

/// Runs one scenario of `harness-tests/sdk/{program}` against `adapter` and returns what it
/// observed; fails the test with the program's own report when a check failed.
async fn scenario(program: &str, name: &str, adapter: &TestAdapter) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("harness-tests/sdk")
        .join(program);
    let envs = [
        // A private HOME: no profile or config of the person running the tests is read.
        ("HOME", adapter.dir.path().display().to_string()),
        ("ANTHROPIC_BASE_URL", adapter.root()),
        ("ANTHROPIC_API_KEY", TOKEN.to_owned()),
        ("OPENAI_BASE_URL", adapter.url("/v1")),
        ("OPENAI_API_KEY", TOKEN.to_owned()),
        ("CASE_MODEL", MODEL.to_owned()),
    ];
    let output = run_python(&script, &[name], &envs).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} {name} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a JSON report");
    assert_eq!(report["failures"], json!([]), "{report}");
    eprintln!(
        "{program} {name}: SDK {} observed {}",
        report["sdk_version"], report["observed"]
    );
    report["observed"].clone()
}

// ---- the Anthropic SDK

#[tokio::test]
#[ignore = "needs the SDK venv: run scripts/python-sdks.sh, then --include-ignored"]
async fn messages_sdk_plain_message() {
    let upstream = fake_upstream().await;
    let adapter = TestAdapter::start(&upstream_base(&upstream)).await;
    let observed = scenario("messages_sdk_checks.py", "text", &adapter).await;
    assert_eq!(observed["served_model_header"], MODEL);
    let requests = chat_requests(&upstream).await;
    assert_eq!(requests.len(), 1);
    assert_only_allowed_headers(&requests);
    let sent: Value = serde_json::from_slice(&requests[0].body).expect("json");
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Answer in one word."})
    );
    assert_eq!(sent["stop"], json!(["\n\n"]));
    assert_eq!(sent["temperature"], 0, "extra_body's temperature is carried over");
    for dropped in ["metadata", "cache_control", "output_config", "thinking"] {
        assert!(sent.get(dropped).is_none(), "{dropped} was forwarded: {sent}");
    }
    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), 1);
    assert_eq!((ledger[0].api, ledger[0].outcome), (Api::Anthropic, Outcome::Forwarded));
    assert_eq!(ledger[0].upstream_model.as_deref(), Some("echoed-name"));
}

#[tokio::test]
#[ignore = "needs the SDK venv: run scripts/python-sdks.sh, then --include-ignored"]
async fn messages_sdk_streaming() {
    let upstream = fake_upstream().await;
    let adapter = TestAdapter::start(&upstream_base(&upstream)).await;
    let observed = scenario("messages_sdk_checks.py", "stream", &adapter).await;
    assert_eq!(observed["pieces"], json!(["The capital", " of France is", " Paris."]));
    let requests = chat_requests(&upstream).await;
    assert_eq!(requests.len(), 2);
    assert_only_allowed_headers(&requests);
    let ledger = adapter.ledger();
    assert!(
        ledger
            .iter()
            .all(|line| line.api == Api::Anthropic && line.outcome == Outcome::Forwarded && line.status == 200)
    );
    assert_eq!(adapter.handle.totals().served_by_admitted_model, 2);
}

#[tokio::test]
#[ignore = "needs the SDK venv: run scripts/python-sdks.sh, then --include-ignored"]
async fn messages_sdk_tool_use_round_trip() {
    let upstream = fake_upstream().await;
    let adapter = TestAdapter::start(&upstream_base(&upstream)).await;
    scenario("messages_sdk_checks.py", "tools", &adapter).await;
    let requests = chat_requests(&upstream).await;
    assert_eq!(requests.len(), 3);
    assert_only_allowed_headers(&requests);
    let second: Value = serde_json::from_slice(&requests[1].body).expect("json");
    let messages = second["messages"].as_array().expect("messages");
    assert_eq!(messages[1]["tool_calls"][0]["function"]["name"], "weather");
    assert_eq!(
        messages[2],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "sunny"})
    );
}

#[tokio::test]
#[ignore = "needs the SDK venv: run scripts/python-sdks.sh, then --include-ignored"]
async fn messages_sdk_count_tokens() {
    let upstream = fake_upstream().await;
    let adapter = TestAdapter::start(&upstream_base(&upstream)).await;
    let observed = scenario("messages_sdk_checks.py", "count_tokens", &adapter).await;
    assert_eq!(observed["input_tokens"], 5, "the upstream tokenizer's count");
    assert_eq!(observed["token_count_header"], "exact");
    assert!(chat_requests(&upstream).await.is_empty());
}

#[tokio::test]
#[ignore = "needs the SDK venv: run scripts/python-sdks.sh, then --include-ignored"]
async fn messages_sdk_upstream_error_is_the_sdks_error_type() {
    let upstream = crashing_upstream().await;
    let adapter = TestAdapter::start(&upstream_base(&upstream)).await;
    let observed = scenario("messages_sdk_checks.py", "upstream_error", &adapter).await;
    assert_eq!(observed["plain"]["exception"], "InternalServerError");
    assert_eq!(chat_requests(&upstream).await.len(), 2, "the adapter retried nothing");
    let ledger = adapter.ledger();
    assert!(
        ledger
            .iter()
            .all(|line| (line.api, line.outcome, line.status) == (Api::Anthropic, Outcome::Forwarded, 500))
    );
}

#[tokio::test]
#[ignore = "needs the SDK venv: run scripts/python-sdks.sh, then --include-ignored"]
async fn messages_sdk_claude_model_is_permission_denied_and_never_forwarded() {
    let upstream = fake_upstream().await;
    let adapter = TestAdapter::start(&upstream_base(&upstream)).await;
    let observed = scenario("messages_sdk_checks.py", "refused_model", &adapter).await;
    assert_eq!(observed["messages claude-sonnet-4-6"]["status"], 403);
    assert!(
        upstream.received_requests().await.unwrap_or_default().is_empty(),
        "a refused request reached the upstream"
    );
    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), 3);
    assert!(ledger.iter().all(|line| line.outcome == Outcome::FallbackRefused));
    assert_eq!(adapter.handle.totals().fallback_attempts, 3);
}

// ---- the OpenAI SDK

#[tokio::test]
#[ignore = "needs the SDK venv: run scripts/python-sdks.sh, then --include-ignored"]
async fn chat_sdk_plain_streaming_and_tools() {
    let upstream = fake_upstream().await;
    let adapter = TestAdapter::start(&upstream_base(&upstream)).await;
    for name in ["text", "stream", "tools"] {
        scenario("chat_sdk_checks.py", name, &adapter).await;
    }
    let requests = chat_requests(&upstream).await;
    assert_eq!(requests.len(), 3);
    assert_only_allowed_headers(&requests);
    let ledger = adapter.ledger();
    assert!(
        ledger
            .iter()
            .all(|line| (line.api, line.outcome, line.status) == (Api::OpenAi, Outcome::Forwarded, 200))
    );
}

#[tokio::test]
#[ignore = "needs the SDK venv: run scripts/python-sdks.sh, then --include-ignored"]
async fn chat_sdk_upstream_error_and_refused_model() {
    let upstream = crashing_upstream().await;
    let adapter = TestAdapter::start(&upstream_base(&upstream)).await;
    scenario("chat_sdk_checks.py", "upstream_error", &adapter).await;
    scenario("chat_sdk_checks.py", "refused_model", &adapter).await;
    assert_eq!(
        chat_requests(&upstream).await.len(),
        1,
        "only the admitted request went up"
    );
    let totals = adapter.handle.totals();
    assert_eq!((totals.requests, totals.fallback_attempts), (3, 2));
}

// ---- the OpenAI SDK's Responses API (Codex CLI's API), translated to chat completions

#[tokio::test]
#[ignore = "needs the SDK venv: run scripts/python-sdks.sh, then --include-ignored"]
async fn responses_sdk_plain_response() {
    let upstream = fake_upstream().await;
    let adapter = TestAdapter::start(&upstream_base(&upstream)).await;
    let observed = scenario("responses_sdk_checks.py", "text", &adapter).await;
    assert_eq!(observed["model"], MODEL);
    let requests = chat_requests(&upstream).await;
    assert_eq!(requests.len(), 1);
    assert_only_allowed_headers(&requests);
    let sent: Value = serde_json::from_slice(&requests[0].body).expect("json");
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Answer briefly."})
    );
    let ledger = adapter.ledger();
    assert_eq!(
        (ledger[0].api, ledger[0].outcome, ledger[0].path.as_str()),
        (Api::OpenAi, Outcome::Forwarded, "/v1/responses")
    );
}

#[tokio::test]
#[ignore = "needs the SDK venv: run scripts/python-sdks.sh, then --include-ignored"]
async fn responses_sdk_streaming() {
    let upstream = fake_upstream().await;
    let adapter = TestAdapter::start(&upstream_base(&upstream)).await;
    let observed = scenario("responses_sdk_checks.py", "stream", &adapter).await;
    assert_eq!(observed["pieces"], json!(["The capital", " of France is", " Paris."]));
    let requests = chat_requests(&upstream).await;
    assert_eq!(requests.len(), 1);
    assert_only_allowed_headers(&requests);
    assert_eq!(adapter.handle.totals().served_by_admitted_model, 1);
}

#[tokio::test]
#[ignore = "needs the SDK venv: run scripts/python-sdks.sh, then --include-ignored"]
async fn responses_sdk_foreign_model_is_a_bad_request_and_never_forwarded() {
    let upstream = fake_upstream().await;
    let adapter = TestAdapter::start(&upstream_base(&upstream)).await;
    let observed = scenario("responses_sdk_checks.py", "refused_model", &adapter).await;
    assert_eq!(observed["status"], 400);
    assert_eq!(chat_requests(&upstream).await.len(), 0, "nothing went up");
    assert_eq!(adapter.handle.totals().fallback_attempts, 1);
}

// ---- a Case written against the Anthropic SDK, end to end

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).expect("json")).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SDK venv: run scripts/python-sdks.sh, then --include-ignored"]
async fn a_case_using_the_anthropic_sdk_passes_a_run_with_zero_fallbacks() {
    let python = venv_python();
    let upstream = fake_upstream().await;
    let sandbox = tempfile::tempdir().expect("tempdir");
    let dir = sandbox.path();
    write_json(
        &dir.join("decision.json"),
        &json!({"work_item": "CTO-WORK-020", "decision_status": "local_provider_required",
                "provider_class": "local_case_compatible"}),
    );
    write_json(
        &dir.join("admission.json"),
        &json!({"work_item": "CTO-WORK-020", "decision_status": "local_provider_required",
                "provider_class": "local_case_compatible", "case_model_provider": "llama.cpp",
                "case_model": MODEL, "case_model_admission_status": "candidate"}),
    );
    write_json(
        &dir.join("task.json"),
        &json!({"prompt": "What is the capital of France? Answer in one word.", "max_tokens": 24,
                "temperature": 0, "checks": [{"kind": "non_empty"}, {"kind": "contains", "value": "Paris"}]}),
    );
    let out = dir.join("run");
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("harness-tests/cases/messages_sdk_case.py");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_case-harness"));
    command
        .env_clear()
        .env("HOME", dir)
        .env("CTO_HARNESS_CASE_DECISION_FILE", dir.join("decision.json"))
        .env("CTO_HARNESS_CASE_MODEL_ADMISSION_FILE", dir.join("admission.json"))
        .env("CTO_HARNESS_CASE_LOCAL_BASE_URL", upstream_base(&upstream))
        .args(["run", "--simulated", "--timeout", "120", "--task"])
        .arg(dir.join("task.json"))
        .arg("--out")
        .arg(&out)
        .arg("--")
        .arg(&python)
        .arg(&case);
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    let output = tokio::task::spawn_blocking(move || command.output().expect("case-harness runs"))
        .await
        .expect("join");
    let log = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}\ncase stdout: {}\ncase stderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        log("case-stdout.log"),
        log("case-stderr.log"),
    );

    let report: Value = serde_json::from_str(&log("report.json")).expect("report");
    assert_eq!(report["outcome"], "pass");
    assert_eq!(report["evidence_kind"], "simulated");
    assert_eq!(report["case_model_provider"], "llama.cpp");
    assert_eq!(report["case_model"], MODEL);
    assert_eq!(report["case"]["verdict"], "pass");
    assert_eq!(report["fallback_proof"]["fallback_attempts"], 0);
    assert_eq!(report["fallback_proof"]["no_fallback"], true);
    assert_eq!(report["secret_scan"]["clean"], true);

    let ledger = adapter::read_ledger(&out.join(adapter::LEDGER_FILE_NAME)).expect("ledger");
    let messages: Vec<_> = ledger.iter().filter(|line| line.path == "/v1/messages").collect();
    assert_eq!(messages.len(), 2, "one plain and one streamed message: {ledger:?}");
    assert!(
        messages
            .iter()
            .all(|line| (line.api, line.outcome, line.status) == (Api::Anthropic, Outcome::Forwarded, 200))
    );
    assert!(ledger.iter().all(|line| line.api == Api::Anthropic), "{ledger:?}");
    assert!(
        ledger
            .iter()
            .all(|line| line.requested_model.as_deref().is_none_or(|model| model == MODEL)),
        "{ledger:?}"
    );
    let result: Value = serde_json::from_str(&log("case-output/result.json")).expect("result");
    assert!(
        result["streamed_reply"]
            .as_str()
            .is_some_and(|reply| reply.contains("Paris"))
    );
    assert_eq!(result["input_tokens"], 5);
    assert_only_allowed_headers(&chat_requests(&upstream).await);
}
