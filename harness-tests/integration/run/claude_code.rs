//! Claude Code (the pinned npm release, `scripts/agents.sh install`) as Case.
//!
//! Every test here is ignored by default because it needs the 360 MB agent; CI installs it
//! and runs them with `--include-ignored`. An ignored test that runs without the agent fails
//! (it never passes by skipping). `CASE_HARNESS_CLAUDE` names the binary; otherwise
//! `scripts/agents.sh path` finds it in the cache.

use std::path::{Path, PathBuf};

use crate::run::common::*;

/// The pinned Claude Code binary; panics (a failure, not a skip) when it is not installed.
fn claude() -> PathBuf {
    agent_binary("CASE_HARNESS_CLAUDE", &[], "Claude Code")
}

fn claude_command(args: &[&str]) -> Vec<String> {
    std::iter::once(claude().display().to_string())
        .chain(args.iter().map(|arg| (*arg).to_owned()))
        .collect()
}

/// `scripts/claude-case.py`, the wrapper that runs Claude Code on the Case contract.
fn wrapper() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/claude-case.py")
}

/// The run's report, after asserting that it passed (its reasons and the harness's stdout
/// otherwise).
fn assert_passed(sandbox: &Sandbox, output: &std::process::Output) -> serde_json::Value {
    let report = sandbox.report();
    assert_eq!(
        report["outcome"],
        "pass",
        "{}\n{}",
        report["reasons"],
        String::from_utf8_lossy(&output.stdout)
    );
    report
}

/// A logging stand-in for another provider (`scripts/logging-provider.py`) on 127.0.0.1, and
/// the file it logs to. Killed when dropped.
struct Decoy {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
}

impl Decoy {
    fn start(dir: &Path) -> Decoy {
        use std::io::BufRead;
        let log = dir.join("decoy-requests.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/logging-provider.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .args(["--port", "0", "--max-requests", "20", "--log"])
            .arg(&log)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("decoy prints its port");
        let port = line
            .trim()
            .strip_prefix("PORT=")
            .and_then(|port| port.parse().ok())
            .expect("PORT=n");
        Decoy { child, port, log }
    }

    fn requests(&self) -> usize {
        std::fs::read_to_string(&self.log).map_or(0, |text| text.lines().count())
    }
}

impl Drop for Decoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Claude Code: scripts/agents.sh install"]
async fn a_fallback_model_on_claudes_command_line_blocks_before_spawn() {
    let command = claude_command(&[
        "-p",
        "--fallback-model",
        "claude-haiku-4-5",
        "--model",
        "$CASE_MODEL",
        "hi",
    ]);
    let (sandbox, provider, output) = run_against_provider(command, &[]).await;
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = sandbox.report();
    assert_eq!(report["blocked"], serde_json::json!(["external_fallback_configured"]));
    assert_eq!(report["case_process_started"], false);
    let gate = report["gates"]
        .as_array()
        .expect("gates")
        .iter()
        .find(|gate| gate["code"] == "external_fallback_configured")
        .expect("the gate")
        .clone();
    let detail = gate["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("argument 3 configures a fallback model: --fallback-model \"claude-haiku-4-5\""),
        "{detail}"
    );
    assert!(chat_bodies(&provider).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Claude Code: scripts/agents.sh install"]
async fn the_claude_binary_itself_is_not_blocked_and_gets_a_fresh_home() {
    let command = claude_command(&["--version"]);
    let (sandbox, _provider, output) = run_against_provider(command, &[]).await;
    let report = sandbox.report();
    assert_eq!(
        report["blocked"],
        serde_json::json!([]),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(report["case_process_started"], true);
    let stdout = std::fs::read_to_string(sandbox.out().join("case-stdout.log")).expect("stdout log");
    assert!(stdout.contains("2.1.328 (Claude Code)"), "{stdout}");
    assert_eq!(report["case_home"]["home"], "case-home");
    assert_eq!(report["case_home"]["agent_config_dir"], "case-home/.claude");
    assert!(sandbox.out().join("case-home/.claude").is_dir());
}

/// A user settings file whose `env` block re-routes Claude Code to a decoy: measured to work
/// on a bare `claude`. Run as Case, the run's own (empty) `CLAUDE_CONFIG_DIR` is used, so the
/// decoy sees nothing and every request reaches the adapter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Claude Code: scripts/agents.sh install"]
async fn a_user_settings_file_that_reroutes_claude_has_no_effect() {
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let decoy = Decoy::start(sandbox.dir.path());
    let paris = serde_json::json!({"role": "assistant", "content": "Paris."});
    mount_both_forms(&provider, None, (paris, "stop"), 1).await;
    let user_home = sandbox.path("user-home");
    let settings = serde_json::json!({"env": {
        "ANTHROPIC_BASE_URL": format!("http://127.0.0.1:{}", decoy.port),
        "ANTHROPIC_MODEL": "claude-sonnet-4-6",
    }});
    for dir in [user_home.join(".claude"), user_home.join(".config/claude")] {
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("settings.json"), settings.to_string()).expect("settings");
    }
    let mut command = harness(&sandbox, Some(&base_url(&provider)));
    command.env("HOME", &user_home);
    let case = claude_command(&[
        "-p",
        "--bare",
        "--tools",
        "",
        "--system-prompt",
        "Answer briefly.",
        "--model",
        MODEL,
        "What is the capital of France?",
    ]);
    let output = run(command, &sandbox, case, &["--timeout", "60"]).await;

    assert_eq!(
        decoy.requests(),
        0,
        "the user's settings re-routed Claude Code to the decoy"
    );
    let report = sandbox.report();
    assert_eq!(
        report["case_process_started"],
        true,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let requests = report["fallback_proof"]["requests"].as_u64().unwrap_or_default();
    assert!(
        requests >= 1,
        "the adapter saw no request: {}",
        report["fallback_proof"]
    );
    assert_eq!(report["fallback_proof"]["fallback_attempts"], 0);
    assert_eq!(report["case_home"]["home"], "case-home");
    // The same settings file in the user's HOME with --keep-home: still the run's config dir.
    let kept = Sandbox::new();
    let mut command = harness(&kept, Some(&base_url(&provider)));
    command.env("HOME", &user_home);
    let case = claude_command(&["-p", "--bare", "--tools", "", "--model", MODEL, "hi"]);
    run(command, &kept, case, &["--timeout", "60", "--keep-home"]).await;
    assert_eq!(
        decoy.requests(),
        0,
        "with --keep-home the user's settings re-routed Claude Code"
    );
    assert!(
        kept.report()["case_home"]["home"]
            .as_str()
            .unwrap_or_default()
            .starts_with("kept")
    );
}

/// A project's `.claude/settings.json` in the directory Claude Code works in re-routes it even
/// with `--bare` (measured): no configuration directory stops that. Confinement does: Case
/// writes such a file into its working directory, then runs Claude Code, which tries the decoy
/// on the host's 127.0.0.1 — unreachable from Case's network namespace. The decoy logs
/// nothing. Catches removing the network namespace (the decoy would log the request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Claude Code: scripts/agents.sh install"]
async fn a_project_settings_file_that_reroutes_claude_reaches_nothing_under_confinement() {
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let decoy = Decoy::start(sandbox.dir.path());
    let settings = serde_json::json!({"env": {
        "ANTHROPIC_BASE_URL": format!("http://127.0.0.1:{}", decoy.port),
    }});
    // The settings file is written by Case itself, in its own working directory.
    let script = format!(
        "mkdir -p .claude && printf '%s' '{}' > .claude/settings.json && exec \"$0\" -p --bare --tools '' --model \"$CASE_MODEL\" 'What is the capital of France?'",
        settings
    );
    let case = vec!["sh".to_owned(), "-c".to_owned(), script, claude().display().to_string()];
    let output = run(
        harness(&sandbox, Some(&base_url(&provider))),
        &sandbox,
        case.clone(),
        &["--timeout", "20"],
    )
    .await;
    let report = sandbox.report();
    assert_eq!(
        report["case_process_started"],
        true,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        sandbox.out().join("case-output/.claude/settings.json").is_file(),
        "Case did not write the project settings file"
    );
    assert_eq!(
        decoy.requests(),
        0,
        "a project settings file re-routed Claude Code to the decoy"
    );
    assert_eq!(report["isolation"]["network"], "namespace");
    assert_ne!(
        report["outcome"], "pass",
        "a run whose agent reached no model must not pass"
    );

    // Control: the same Case unconfined (the kernel refusing namespaces, --allow-unconfined)
    // does reach the decoy, so the file is effective and confinement is what stopped it.
    let unconfined = Sandbox::new();
    let mut command = harness_std(&unconfined, Some(&base_url(&provider)));
    command
        .args(["run", "--simulated", "--allow-unconfined", "--timeout", "20", "--task"])
        .arg(unconfined.path("task.json"))
        .arg("--out")
        .arg(unconfined.out())
        .arg("--")
        .args(case);
    let mut wrapped = without_namespaces(&command);
    tokio::task::spawn_blocking(move || wrapped.output().expect("runs"))
        .await
        .expect("join");
    assert!(
        decoy.requests() >= 1,
        "unconfined, the project settings file did not re-route Claude Code"
    );
}

/// Claude Code configured for `claude-sonnet-4-6` in a settings file it is handed (not in
/// argv: a file name is not judged): the adapter refuses with 403, forwards nothing, and the
/// run fails naming the fallback attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Claude Code: scripts/agents.sh install"]
async fn claude_configured_for_sonnet_in_its_settings_is_refused_and_the_run_fails() {
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let settings = sandbox.path("agent-settings.json");
    // The settings' `env` block overrides the environment the harness gives Claude Code
    // (a plain `"model"` key does not: the harness's ANTHROPIC_MODEL wins over it).
    std::fs::write(&settings, r#"{"env": {"ANTHROPIC_MODEL": "claude-sonnet-4-6"}}"#).expect("settings");
    let case = claude_command(&[
        "-p",
        "--bare",
        "--tools",
        "",
        "--settings",
        &settings.display().to_string(),
        "hi",
    ]);
    let output = run(
        harness(&sandbox, Some(&base_url(&provider))),
        &sandbox,
        case,
        &["--timeout", "60"],
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = sandbox.report();
    assert_eq!(report["outcome"], "fail");
    assert!(
        report["fallback_proof"]["fallback_attempts"]
            .as_u64()
            .unwrap_or_default()
            >= 1
    );
    let reasons = report["reasons"].to_string();
    assert!(reasons.contains("claude-sonnet-4-6"), "{reasons}");
    assert!(chat_bodies(&provider).await.is_empty(), "a request was forwarded");
}

/// Claude Code in its default mode (its own prompt, all its tools) against a scripted provider:
/// first a `Write` tool call into `case-output/`, then a final text. The agent really runs the
/// tool, the file exists, the run passes. The provider answers in the form asked (an SSE stream
/// for `stream: true`, one JSON body otherwise); Claude Code 2.1.328 asks for streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Claude Code: scripts/agents.sh install"]
async fn claude_code_in_default_mode_runs_a_scripted_write_tool_call() {
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let target = sandbox.out().join("case-output/hello.txt");
    scripted_tool_call(&provider, &target).await;
    sandbox.write(
        "task.json",
        &serde_json::json!({"prompt": "Write hello.txt saying hello from case.",
            "checks": [{"kind": "file_contains", "path": "hello.txt", "value": "hello from case"}]}),
    );
    let wrapper = wrapper();
    let case = vec![
        "python3".to_owned(),
        wrapper.display().to_string(),
        "--claude".to_owned(),
        claude().display().to_string(),
        "--mode".to_owned(),
        "default".to_owned(),
    ];
    let output = run(
        harness(&sandbox, Some(&base_url(&provider))),
        &sandbox,
        case,
        &["--timeout", "120"],
    )
    .await;
    assert_passed(&sandbox, &output);
    assert_eq!(
        std::fs::read_to_string(&target).expect("the tool wrote the file"),
        "hello from case"
    );
    // Every request was accepted as sent: no 400 made Claude Code drop its `system` turn or
    // its deferred tool and try again.
    let ledger = std::fs::read_to_string(sandbox.out().join("adapter-ledger.jsonl")).expect("ledger");
    for line in ledger.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).expect("ledger line");
        assert_eq!(entry["status"], 200, "{entry}");
    }
    let bodies = chat_bodies(&provider).await;
    assert!(
        bodies.len() >= 2,
        "expected the tool call and the final turn: {}",
        bodies.len()
    );
    assert!(
        bodies.iter().any(|body| body.to_string().contains("\"role\":\"tool\"")),
        "no request carried the tool's result"
    );
}

/// An OpenAI chat completion answer, as one JSON body or as an SSE stream.
fn chat_answer(message: serde_json::Value, finish: &str, streamed: bool) -> wiremock::ResponseTemplate {
    if !streamed {
        return wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "chatcmpl-1",
            "object": "chat.completion", "model": MODEL,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}));
    }
    let mut delta = message;
    if let Some(calls) = delta.get_mut("tool_calls").and_then(serde_json::Value::as_array_mut) {
        for (index, call) in calls.iter_mut().enumerate() {
            call["index"] = serde_json::json!(index);
        }
    }
    let chunks = [
        serde_json::json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": null}]}),
        serde_json::json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": MODEL,
            "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}),
    ];
    let mut body: String = chunks.iter().map(|chunk| format!("data: {chunk}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    wiremock::ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

/// Mounts answers for both forms of a request: streamed (`"stream":true` in the body the
/// adapter sends) and not. `when` narrows the match; lower `priority` wins.
async fn mount_both_forms(
    provider: &FakeProvider,
    when: Option<&str>,
    answer: (serde_json::Value, &str),
    priority: u8,
) {
    use wiremock::matchers::{body_string_contains, method, path};
    for streamed in [true, false] {
        let mut mock = wiremock::Mock::given(method("POST")).and(path("/v1/chat/completions"));
        if let Some(text) = when {
            mock = mock.and(body_string_contains(text));
        }
        if streamed {
            mock = mock.and(body_string_contains("\"stream\":true"));
        }
        mock.respond_with(chat_answer(answer.0.clone(), answer.1, streamed))
            .with_priority(priority + u8::from(!streamed))
            .mount(provider.server())
            .await;
    }
}

/// Answers the first chat completion with a `Write` tool call for `target`, and any request
/// that carries the tool's result with a final text.
async fn scripted_tool_call(provider: &FakeProvider, target: &Path) {
    let arguments = serde_json::json!({"file_path": target, "content": "hello from case"}).to_string();
    let done = serde_json::json!({"role": "assistant", "content": "Done."});
    mount_both_forms(provider, Some("\"role\":\"tool\""), (done, "stop"), 1).await;
    let call = serde_json::json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1",
        "type": "function", "function": {"name": "Write", "arguments": arguments}}]});
    mount_both_forms(provider, None, (call, "tool_calls"), 3).await;
}

/// Claude Code in bare mode through `scripts/claude-case.py` against the fake provider: its
/// request (with `context_management`, adaptive `thinking`, `?beta=true`) is accepted and
/// answered, the wrapper's checks pass, and so does the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Claude Code: scripts/agents.sh install"]
async fn claude_code_in_bare_mode_passes_through_the_wrapper() {
    let wrapper = wrapper();
    let case = vec![
        "python3".to_owned(),
        wrapper.display().to_string(),
        "--claude".to_owned(),
        claude().display().to_string(),
    ];
    let sandbox = Sandbox::new();
    let provider = provider().await;
    // Claude Code streams; the fake provider's default answer is one JSON body.
    let paris = serde_json::json!({"role": "assistant", "content": "The capital of France is Paris."});
    mount_both_forms(&provider, None, (paris, "stop"), 1).await;
    let output = run(
        harness(&sandbox, Some(&base_url(&provider))),
        &sandbox,
        case,
        &["--timeout", "60"],
    )
    .await;
    assert_passed(&sandbox, &output);
    assert!(!chat_bodies(&provider).await.is_empty());
    let result = read_json(&sandbox.out().join("case-output/result.json"));
    assert!(
        result["reply"].as_str().unwrap_or_default().contains("Paris"),
        "{result}"
    );
}

/// `case-harness run` of `scripts/claude-case.py --mode MODE` on the real provider of
/// `eval "$(scripts/local-provider.sh start)"` (its URL and admission); panics without them.
async fn run_wrapper_on_the_real_provider(mode: &str, timeout: &str) -> (Sandbox, std::process::Output) {
    let (Ok(base_url), Some(admission)) = (
        std::env::var("CTO_HARNESS_CASE_LOCAL_BASE_URL"),
        std::env::var_os("CTO_HARNESS_CASE_MODEL_ADMISSION_FILE"),
    ) else {
        panic!(
            "set CTO_HARNESS_CASE_LOCAL_BASE_URL and CTO_HARNESS_CASE_MODEL_ADMISSION_FILE: eval \"$(scripts/local-provider.sh start)\""
        );
    };
    let sandbox = Sandbox::new();
    let wrapper = wrapper();
    let mut command = harness_std(&sandbox, Some(&base_url));
    command
        .env("CTO_HARNESS_CASE_MODEL_ADMISSION_FILE", &admission)
        .args(["run", "--timeout", timeout, "--task"])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(sandbox.out())
        .args(["--", "python3"])
        .arg(&wrapper)
        .args(["--mode", mode, "--claude"])
        .arg(claude());
    let output = tokio::task::spawn_blocking(move || command.output().expect("runs"))
        .await
        .expect("join");
    (sandbox, output)
}

/// A local server that fails (HTTP 500, as llama-cpp-python answers a request it cannot
/// serve): Claude Code is told `x-should-retry: false` and asks once — without the hint it asked
/// 9 times in 120 s (measured) — and the failed run's report names the cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Claude Code: scripts/agents.sh install"]
async fn a_failing_local_server_is_asked_once_and_the_report_names_it() {
    use wiremock::matchers::{method, path};
    let sandbox = Sandbox::new();
    let provider = provider().await;
    wiremock::Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            wiremock::ResponseTemplate::new(500)
                .set_body_json(serde_json::json!({"error": {"message": "model crashed"}})),
        )
        .with_priority(1)
        .mount(provider.server())
        .await;
    // The prompt goes first: `--tools` takes every word after it.
    let case = claude_command(&["-p", "hi", "--bare", "--tools", ""]);
    run(
        harness(&sandbox, Some(&base_url(&provider))),
        &sandbox,
        case,
        &["--timeout", "60"],
    )
    .await;
    let stderr = std::fs::read_to_string(sandbox.out().join("case-stderr.log")).unwrap_or_default();
    assert_eq!(chat_bodies(&provider).await.len(), 1, "Claude Code retried: {stderr}");
    assert_failed_before_the_timeout_naming(&sandbox, "the local upstream failed with HTTP 500");
}

/// The run failed, Case was not killed by the timeout (no retries until then), and the reasons
/// name the upstream's `cause`.
fn assert_failed_before_the_timeout_naming(sandbox: &Sandbox, cause: &str) {
    let report = sandbox.report();
    assert_eq!(report["outcome"], "fail");
    assert_eq!(
        report["case"]["timed_out"], false,
        "Claude Code retried until the timeout"
    );
    let reasons = report["reasons"].to_string();
    assert!(reasons.contains(&format!("upstream error: {cause}")), "{reasons}");
}

/// Claude Code in its default mode (~50 KB: its prompt and 12 tools) on the real small model
/// of llama-cpp-python (context 2048): the run fails within its timeout, a few requests at
/// most, and the report says the local model's context is smaller than the request. Needs
/// the llama-cpp-python provider (`eval "$(scripts/local-provider.sh start)"`): llama-server's
/// context (8192) holds the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs CTO_HARNESS_CASE_LOCAL_BASE_URL and CTO_HARNESS_CASE_MODEL_ADMISSION_FILE \
            (eval \"$(scripts/local-provider.sh start)\") and Claude Code: scripts/agents.sh install"]
async fn default_mode_on_the_real_small_model_fails_fast_naming_the_context() {
    let (sandbox, _) = run_wrapper_on_the_real_provider("default", "120").await;
    assert_failed_before_the_timeout_naming(
        &sandbox,
        "the local model's context (2048 tokens) is smaller than the request",
    );
    let requests = sandbox.report()["fallback_proof"]["requests"]
        .as_u64()
        .unwrap_or_default();
    assert!((1..=3).contains(&requests), "{requests} requests: a retry storm");
}

/// A real Stage 2 with Claude Code as Case on the project's local provider (SmolLM2 via
/// `eval "$(scripts/local-provider.sh start)"`): pass, `verify` ok, `status` counts it, and the
/// answer names Paris. Fails, never skips, when the provider or the agent is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs CTO_HARNESS_CASE_LOCAL_BASE_URL and CTO_HARNESS_CASE_MODEL_ADMISSION_FILE \
            (eval \"$(scripts/local-provider.sh start)\") and Claude Code: scripts/agents.sh install"]
async fn real_stage2_with_claude_code_on_the_local_model_passes() {
    let (sandbox, output) = run_wrapper_on_the_real_provider("bare", "240").await;
    let report = assert_passed(&sandbox, &output);
    assert_eq!(report["evidence_kind"], "real_stage2");
    let result = read_json(&sandbox.out().join("case-output/result.json"));
    assert!(
        result["reply"].as_str().unwrap_or_default().contains("Paris"),
        "{result}"
    );
    assert_eq!(verify(&sandbox.out().join("report.json")).status.code(), Some(0));
    // `status` counts it: a verified real Stage 2 pass unblocks CTO-WORK-022.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_case-harness"))
        .env_clear()
        .args(["status", "--format", "json", "--sot"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sot/seed-one-line.md"))
        .arg("--evidence")
        .arg(sandbox.out())
        .output()
        .expect("status runs");
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status json");
    assert_eq!(status["derived"]["CTO-WORK-022"]["status"], "unblocked", "{status}");
}
