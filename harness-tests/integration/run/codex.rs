//! Codex CLI (the pinned npm release, `scripts/agents.sh install`) as Case, through
//! `scripts/codex-case.py` and the adapter's `/v1/responses`.
//!
//! Every test here is ignored by default because it needs the ~404 MB agent; CI installs it
//! and runs them with `--include-ignored`. An ignored test that runs without the agent fails
//! (it never passes by skipping). `CASE_HARNESS_CODEX` names the binary; otherwise
//! `scripts/agents.sh path codex` finds it in the cache.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::run::common::*;

/// The pinned Codex binary; panics (a failure, not a skip) when it is not installed.
fn codex() -> PathBuf {
    agent_binary("CASE_HARNESS_CODEX", &["codex"], "Codex CLI")
}

/// `python3 scripts/codex-case.py --codex CODEX [-- extra…]`.
fn wrapper_command(extra: &[&str]) -> Vec<String> {
    let wrapper = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/codex-case.py");
    let mut command = vec![
        "python3".to_owned(),
        wrapper.display().to_string(),
        "--codex".to_owned(),
        codex().display().to_string(),
    ];
    if !extra.is_empty() {
        command.push("--".to_owned());
        command.extend(extra.iter().map(|arg| (*arg).to_owned()));
    }
    command
}

/// How the adapter serves `/v1/responses` for the fake upstream.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// The upstream answers `/v1/responses` (as llama-server does).
    PassThrough,
    /// The upstream answers only `/v1/chat/completions` (as llama-cpp-python does).
    Translation,
}

impl Mode {
    /// The ledger reason's words for the mode.
    fn word(self) -> &'static str {
        match self {
            Mode::PassThrough => "passed through to POST /responses",
            Mode::Translation => "translated to POST /chat/completions",
        }
    }
}

/// The shell command the scripted model asks Codex to run.
const SCRIPTED_COMMAND: &str = "printf 'hello from codex' > hello.txt";

fn response_object(output: Value) -> Value {
    json!({"id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": MODEL,
           "output": output, "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}})
}

/// A streamed Responses answer whose one output item is `item`.
fn responses_stream(item: Value) -> ResponseTemplate {
    let events = [
        json!({"type": "response.created", "sequence_number": 0,
               "response": {"id": "resp_1", "object": "response", "status": "in_progress", "model": MODEL, "output": []}}),
        json!({"type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": item}),
        json!({"type": "response.output_item.done", "sequence_number": 2, "output_index": 0, "item": item}),
        json!({"type": "response.completed", "sequence_number": 3, "response": response_object(json!([item]))}),
    ];
    let body: String = events
        .iter()
        .map(|event| {
            format!(
                "event: {}\ndata: {event}\n\n",
                event["type"].as_str().unwrap_or_default()
            )
        })
        .collect();
    ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

/// A streamed chat completion with `delta` and `finish`.
fn chat_stream(mut delta: Value, finish: &str) -> ResponseTemplate {
    if let Some(calls) = delta.get_mut("tool_calls").and_then(Value::as_array_mut) {
        for (index, call) in calls.iter_mut().enumerate() {
            call["index"] = json!(index);
        }
    }
    let chunks = [
        json!({"id": "c1", "object": "chat.completion.chunk", "model": MODEL,
               "choices": [{"index": 0, "delta": delta, "finish_reason": null}]}),
        json!({"id": "c1", "object": "chat.completion.chunk", "model": MODEL,
               "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}),
        json!({"id": "c1", "object": "chat.completion.chunk", "model": MODEL, "choices": [],
               "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
    ];
    let mut body: String = chunks.iter().map(|chunk| format!("data: {chunk}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

/// Scripts the upstream of `mode`: the first turn asks for `exec_command` with
/// [`SCRIPTED_COMMAND`], the turn that carries the command's output answers "Done.".
async fn script_exec_command(provider: &FakeProvider, mode: Mode) {
    let arguments = json!({"cmd": SCRIPTED_COMMAND}).to_string();
    match mode {
        Mode::PassThrough => {
            // The adapter's probe: a plain (not streamed) one-token request.
            Mock::given(method("POST"))
                .and(path("/v1/responses"))
                .and(body_string_contains("\"max_output_tokens\":1"))
                .respond_with(ResponseTemplate::new(200).set_body_json(response_object(json!([]))))
                .with_priority(1)
                .mount(provider.server())
                .await;
            let done = json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                              "content": [{"type": "output_text", "text": "Done.", "annotations": []}]});
            Mock::given(method("POST"))
                .and(path("/v1/responses"))
                .and(body_string_contains("function_call_output"))
                .respond_with(responses_stream(done))
                .with_priority(2)
                .mount(provider.server())
                .await;
            let call = json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "exec_command",
                              "arguments": arguments, "status": "completed"});
            Mock::given(method("POST"))
                .and(path("/v1/responses"))
                .respond_with(responses_stream(call))
                .with_priority(3)
                .mount(provider.server())
                .await;
        }
        Mode::Translation => {
            // No `/v1/responses` here: wiremock answers it 404, so the adapter translates.
            Mock::given(method("POST"))
                .and(path("/v1/chat/completions"))
                .and(body_string_contains("\"role\":\"tool\""))
                .respond_with(chat_stream(json!({"role": "assistant", "content": "Done."}), "stop"))
                .with_priority(2)
                .mount(provider.server())
                .await;
            let call = json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                              "function": {"name": "exec_command", "arguments": arguments}}]});
            Mock::given(method("POST"))
                .and(path("/v1/chat/completions"))
                .respond_with(chat_stream(call, "tool_calls"))
                .with_priority(3)
                .mount(provider.server())
                .await;
        }
    }
}

/// Requests the upstream received on `wanted` (`/v1/responses`, `/v1/chat/completions`).
async fn received_on(provider: &FakeProvider, wanted: &str) -> Vec<Value> {
    provider
        .server()
        .received_requests()
        .await
        .expect("request recording is on")
        .iter()
        .filter(|request| request.url.path() == wanted && request.method.as_str() == "POST")
        .map(|request| serde_json::from_slice(&request.body).unwrap_or(Value::Null))
        .collect()
}

fn ledger(sandbox: &Sandbox) -> Vec<Value> {
    std::fs::read_to_string(sandbox.out().join("adapter-ledger.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("ledger line"))
        .collect()
}

fn assert_passed(sandbox: &Sandbox, output: &std::process::Output) -> Value {
    let report = sandbox.report();
    let stderr = std::fs::read_to_string(sandbox.out().join("case-stderr.log")).unwrap_or_default();
    assert_eq!(
        report["outcome"],
        "pass",
        "{}\n{}\n{stderr}",
        report["reasons"],
        String::from_utf8_lossy(&output.stdout)
    );
    report
}

/// The scripted `exec_command` is run by Codex inside the harness's confinement (its own
/// sandbox off), in both adapter modes: the file it writes lands in `case-output/`, the
/// command's output goes back to the upstream, and the ledger says which mode served it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Codex CLI: scripts/agents.sh install"]
async fn codex_runs_a_scripted_exec_command_inside_the_sandbox_in_both_modes() {
    for mode in [Mode::PassThrough, Mode::Translation] {
        let sandbox = Sandbox::new();
        let provider = provider().await;
        script_exec_command(&provider, mode).await;
        sandbox.write(
            "task.json",
            &json!({"prompt": "Write hello.txt saying hello from codex.",
                    "checks": [{"kind": "file_contains", "path": "hello.txt", "value": "hello from codex"}]}),
        );
        let output = run(
            harness(&sandbox, Some(&base_url(&provider))),
            &sandbox,
            wrapper_command(&[]),
            &["--timeout", "120"],
        )
        .await;
        let report = assert_passed(&sandbox, &output);
        assert_eq!(report["fallback_proof"]["fallback_attempts"], 0, "{mode:?}");
        assert_eq!(
            std::fs::read_to_string(sandbox.out().join("case-output/hello.txt")).expect("the command wrote the file"),
            "hello from codex",
            "{mode:?}"
        );
        let result = read_json(&sandbox.out().join("case-output/result.json"));
        assert_eq!(result["agent"]["commands"][0]["exit_code"], 0, "{mode:?}: {result}");
        assert!(
            sandbox.out().join("case-home/.codex/config.toml").is_file(),
            "the wrapper's config is not in the run's CODEX_HOME"
        );
        let (served_on, result_marker) = match mode {
            Mode::PassThrough => ("/v1/responses", "function_call_output"),
            Mode::Translation => ("/v1/chat/completions", "\"role\":\"tool\""),
        };
        let served = received_on(&provider, served_on).await;
        assert!(
            served.iter().any(|body| body.to_string().contains(result_marker)),
            "{mode:?}: no request carried the command's output"
        );
        let lines: Vec<Value> = ledger(&sandbox)
            .into_iter()
            .filter(|line| line["path"] == "/v1/responses")
            .collect();
        assert!(lines.len() >= 2, "{mode:?}: {lines:?}");
        for line in &lines {
            assert_eq!(line["status"], 200, "{mode:?}: {line}");
            assert!(line.to_string().contains(mode.word()), "{mode:?}: {line}");
        }
    }
}

/// The run is blocked before Case starts, naming `expected`, and the upstream saw nothing.
async fn assert_blocked_before_spawn(case: Vec<String>, expected: &str) {
    let (sandbox, provider, output) = run_against_provider(case, &[]).await;
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = sandbox.report();
    assert_eq!(report["blocked"], json!(["external_fallback_configured"]));
    assert_eq!(report["case_process_started"], false);
    let detail = report["gates"]
        .as_array()
        .expect("gates")
        .iter()
        .find(|gate| gate["code"] == "external_fallback_configured")
        .map(|gate| gate["detail"].to_string())
        .unwrap_or_default();
    assert!(detail.contains(expected), "{detail}");
    assert!(received_on(&provider, "/v1/responses").await.is_empty());
    assert!(chat_bodies(&provider).await.is_empty());
}

/// `-m gpt-5-codex` through the wrapper, `--oss` on Codex itself and a provider that is not
/// the adapter: each blocked by the command-line rule before Codex starts, nothing forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Codex CLI: scripts/agents.sh install"]
async fn a_foreign_model_or_provider_on_codexs_command_line_blocks_before_spawn() {
    assert_blocked_before_spawn(
        wrapper_command(&["-m", "gpt-5-codex"]),
        "sets Codex's model (-m/--model) to \\\"gpt-5-codex\\\"",
    )
    .await;
    let codex = codex().display().to_string();
    assert_blocked_before_spawn(
        vec![
            codex.clone(),
            "exec".into(),
            "--skip-git-repo-check".into(),
            "--oss".into(),
            "hi".into(),
        ],
        "sets Codex's --oss",
    )
    .await;
    assert_blocked_before_spawn(
        vec![
            codex,
            "exec".into(),
            "-c".into(),
            "model_provider=openai".into(),
            "hi".into(),
        ],
        "its built-in provider \\\"openai\\\"",
    )
    .await;
}

/// Runs Codex as Case after Case itself wrote `config` (printf format, `%s` is
/// `$CASE_BASE_URL`) into its `CODEX_HOME`: the command line cannot show that file.
async fn run_with_config_written_by_case(config: &str, timeout: &str) -> (Sandbox, FakeProvider, String) {
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let script = format!(
        "printf '{config}' \"$CASE_BASE_URL\" > \"$CODEX_HOME/config.toml\" && exec \"$0\" exec \
         --skip-git-repo-check --sandbox danger-full-access 'What is the capital of France?'"
    );
    let case = vec!["sh".to_owned(), "-c".to_owned(), script, codex().display().to_string()];
    let output = run(
        harness(&sandbox, Some(&base_url(&provider))),
        &sandbox,
        case,
        &["--timeout", timeout],
    )
    .await;
    let report = sandbox.report();
    let stderr = std::fs::read_to_string(sandbox.out().join("case-stderr.log")).unwrap_or_default();
    assert_eq!(
        report["case_process_started"],
        true,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(report["outcome"], "fail", "{stderr}");
    assert!(
        received_on(&provider, "/v1/responses").await.is_empty(),
        "forwarded: {stderr}"
    );
    assert!(chat_bodies(&provider).await.is_empty(), "forwarded: {stderr}");
    (sandbox, provider, stderr)
}

/// A `config.toml` that Case writes into its own `CODEX_HOME` naming another provider:
/// Codex's built-in `openai` (0.169.0 ignores `OPENAI_BASE_URL` and dials OpenAI's host, which
/// Case's network namespace cannot resolve or reach), and one at the adapter asking for
/// `gpt-5-codex` (refused with a 400 that Codex does not retry). Nothing is forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Codex CLI: scripts/agents.sh install"]
async fn a_config_file_naming_another_provider_or_model_is_refused_with_nothing_forwarded() {
    let (sandbox, _provider, stderr) =
        run_with_config_written_by_case("model = \"gpt-5-codex\"\\nmodel_provider = \"openai\"\\n", "20").await;
    assert_eq!(sandbox.report()["fallback_proof"]["requests"], 0, "{stderr}");

    let at_the_adapter = [
        "model = \"gpt-5-codex\"",
        "model_provider = \"elsewhere\"",
        "[model_providers.elsewhere]",
        "name = \"elsewhere\"",
        "base_url = \"%s\"",
        "env_key = \"CASE_API_KEY\"",
        "wire_api = \"responses\"",
        "",
    ]
    .join("\\n");
    let (sandbox, _provider, stderr) = run_with_config_written_by_case(&at_the_adapter, "60").await;
    let report = sandbox.report();
    let refused: Vec<Value> = ledger(&sandbox)
        .into_iter()
        .filter(|line| line["path"] == "/v1/responses")
        .collect();
    assert_eq!(refused.len(), 1, "Codex retried the refusal: {refused:?}\n{stderr}");
    assert_eq!(refused[0]["status"], 400, "{}", refused[0]);
    assert_eq!(
        report["fallback_proof"]["fallback_attempts"], 1,
        "{}",
        report["fallback_proof"]
    );
    assert_eq!(report["case"]["timed_out"], false, "{stderr}");
}

/// A real Stage 2 with Codex CLI as Case on the project's local provider (`eval
/// "$(scripts/local-provider.sh start)"`; CI runs it on both servers: llama-server passes
/// `/v1/responses` through, llama-cpp-python gets it translated to chat completions): pinned
/// to temperature 0 and seed 42, signed, it passes; `verify --key` and `status --key` treat it
/// as they treat Claude Code's, and the answer names Paris. Fails, never skips, when the
/// provider or the agent is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs CTO_HARNESS_CASE_LOCAL_BASE_URL and CTO_HARNESS_CASE_MODEL_ADMISSION_FILE \
            (eval \"$(scripts/local-provider.sh start)\") and Codex CLI: scripts/agents.sh install"]
async fn real_stage2_with_codex_on_the_local_model_passes() {
    let (Ok(base_url), Some(admission)) = (
        std::env::var("CTO_HARNESS_CASE_LOCAL_BASE_URL"),
        std::env::var_os("CTO_HARNESS_CASE_MODEL_ADMISSION_FILE"),
    ) else {
        panic!(
            "set CTO_HARNESS_CASE_LOCAL_BASE_URL and CTO_HARNESS_CASE_MODEL_ADMISSION_FILE: eval \"$(scripts/local-provider.sh start)\""
        );
    };
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.path("keys")).expect("keys dir");
    let key = sandbox.path("keys").join("signing.key");
    let public = case_harness::signing::keygen(&key).expect("keygen").public_path;
    let mut command = harness_std(&sandbox, Some(&base_url));
    command
        .env("CTO_HARNESS_CASE_MODEL_ADMISSION_FILE", &admission)
        .env("CASE_HARNESS_SIGNING_KEY", &key)
        .args([
            "run",
            "--timeout",
            "600",
            "--temperature",
            "0",
            "--seed",
            "42",
            "--task",
        ])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(sandbox.out())
        .arg("--")
        .args(wrapper_command(&[]));
    let output = tokio::task::spawn_blocking(move || command.output().expect("runs"))
        .await
        .expect("join");
    let report = assert_passed(&sandbox, &output);
    assert_eq!(report["evidence_kind"], "real_stage2");
    let result = read_json(&sandbox.out().join("case-output/result.json"));
    assert!(
        result["reply"].as_str().unwrap_or_default().contains("Paris"),
        "{result}"
    );
    assert_eq!(report["sampling"]["temperature"], 0.0, "{}", report["sampling"]);
    let verified = std::process::Command::new(env!("CARGO_BIN_EXE_case-harness"))
        .env_clear()
        .arg("verify")
        .arg("--key")
        .arg(&public)
        .arg(sandbox.out().join("report.json"))
        .output()
        .expect("verify runs");
    let verified_stdout = String::from_utf8_lossy(&verified.stdout);
    assert_eq!(verified.status.code(), Some(0), "{verified_stdout}");
    assert!(
        verified_stdout.contains("signed: attestation.dsse.json verifies with key"),
        "{verified_stdout}"
    );
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_case-harness"))
        .env_clear()
        .args(["status", "--format", "json", "--key"])
        .arg(&public)
        .arg("--sot")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sot/seed-one-line.md"))
        .arg("--evidence")
        .arg(sandbox.out())
        .output()
        .expect("status runs");
    let status: Value = serde_json::from_slice(&status.stdout).expect("status json");
    assert_eq!(status["derived"]["CTO-WORK-022"]["status"], "unblocked", "{status}");
}
