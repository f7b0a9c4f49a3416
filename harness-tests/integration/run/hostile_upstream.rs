//! Runs against an upstream that answers, but not as an admitted local model should: the
//! run fails on what the ledger recorded (red-team findings #11.3 and #11.10), and the
//! failure verifies.

use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::run::common::*;

const KEY: &str = "sk-upstream-canary-8e1f0c93d2";

/// A run of the well-behaved Case against a provider whose chat answers `answer` builds.
async fn run_against(answer: impl Fn(&Request) -> serde_json::Value + Send + Sync + 'static) -> Sandbox {
    let sandbox = Sandbox::new();
    let provider = provider().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(move |request: &Request| ResponseTemplate::new(200).set_body_json(answer(request)))
        .with_priority(1)
        .mount(provider.server())
        .await;
    let mut command = harness(&sandbox, Some(&base_url(&provider)));
    command.env("CTO_HARNESS_CASE_LOCAL_API_KEY", KEY);
    let output = run(command, &sandbox, case_script("well_behaved.py"), &[]).await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(sandbox.report()["outcome"], "fail");
    assert_eq!(verify(&sandbox.out().join("report.json")).status.code(), Some(0));
    sandbox
}

fn completion(model: &str, content: &str) -> serde_json::Value {
    serde_json::json!({
        "id": "x", "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_11_3_an_upstream_echoing_its_key_fails_the_run_and_case_never_sees_the_key() {
    let sandbox = run_against(|request| {
        let auth = request
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        completion(MODEL, &format!("Paris. (you sent {auth})"))
    })
    .await;
    let report = sandbox.report();
    assert_eq!(report["fallback_proof"]["upstream_secret_echoes"], 1);
    assert!(
        report["reasons"]
            .to_string()
            .contains("echoed one of the run's secrets"),
        "{}",
        report["reasons"]
    );
    // Case printed what it got: the reply, redacted; its log is clean.
    let stdout = std::fs::read_to_string(sandbox.out().join("case-stdout.log")).expect("log");
    assert!(stdout.contains("[redacted]") && !stdout.contains(KEY), "{stdout}");
    assert_eq!(report["secret_scan"]["clean"], true, "{}", report["secret_scan"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_11_10_an_upstream_that_says_claude_answered_fails_the_run() {
    let sandbox = run_against(|_| completion("claude-sonnet-4-6", "The capital of France is Paris.")).await;
    let report = sandbox.report();
    assert_eq!(report["fallback_proof"]["no_fallback"], false);
    assert!(
        report["reasons"]
            .to_string()
            .contains("\\\"claude-sonnet-4-6\\\" (names `claude`) as the model that answered"),
        "{}",
        report["reasons"]
    );
}
