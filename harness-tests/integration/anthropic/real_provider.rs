//! The Anthropic routes on the real local provider of `eval "$(scripts/local-provider.sh start
//! [--server llama-server])"`: what only pass-through can carry works on llama-server, and the
//! translation to llama-cpp-python refuses it plainly. The adapter picks the mode itself
//! (`--upstream-api auto`); which server is there is found independently (llama-server answers
//! `GET /props`, llama-cpp-python does not). CI runs this once per provider.

use std::time::Duration;

use case_harness::adapter::{AdapterMode, Outcome, UpstreamApi};
use serde_json::{Value, json};

use super::{messages, sse_events};
use crate::support::{MODEL, TestAdapter, client};

/// A request with extended thinking on, and a thinking block in its history: Messages-API
/// content that chat completions cannot carry.
fn thinking_request(stream: bool) -> Value {
    json!({"model": MODEL, "max_tokens": 256, "stream": stream,
           "thinking": {"type": "enabled", "budget_tokens": 128},
           "messages": [
               {"role": "user", "content": "hi"},
               {"role": "assistant", "content": [
                   {"type": "thinking", "thinking": "A greeting.", "signature": "sig"},
                   {"type": "text", "text": "Hello!"}]},
               {"role": "user", "content": "What is the capital of France? Answer in one word."}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs CTO_HARNESS_CASE_LOCAL_BASE_URL (eval \"$(scripts/local-provider.sh start)\")"]
async fn thinking_is_served_through_pass_through_and_refused_by_translation_on_the_real_server() {
    let base = std::env::var("CTO_HARNESS_CASE_LOCAL_BASE_URL")
        .expect("set CTO_HARNESS_CASE_LOCAL_BASE_URL: eval \"$(scripts/local-provider.sh start)\"");
    let origin = base.trim_end_matches('/').trim_end_matches("/v1");
    let props = client()
        .get(format!("{origin}/props"))
        .send()
        .await
        .expect("the provider answers");
    let llama_server = props.status().is_success();
    let adapter = TestAdapter::start_as(&base, None, Duration::from_secs(120), UpstreamApi::Auto).await;
    let expected = if llama_server {
        AdapterMode::PassThrough
    } else {
        AdapterMode::Translate
    };
    assert_eq!(adapter.handle.mode(), expected, "llama-server: {llama_server}");

    for stream in [false, true] {
        let response = messages(&adapter, &thinking_request(stream)).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        if llama_server {
            assert_eq!(status, 200, "stream {stream}: {text}");
            let answer = if stream {
                sse_events(&text)
                    .iter()
                    .filter_map(|(_, data)| data["delta"]["text"].as_str().map(str::to_owned))
                    .collect::<String>()
            } else {
                let message: Value = serde_json::from_str(&text).expect("json");
                assert_eq!(message["model"], MODEL);
                message["content"][0]["text"].as_str().unwrap_or_default().to_owned()
            };
            assert!(!answer.trim().is_empty(), "stream {stream}: {text}");
        } else {
            assert_eq!(status, 400, "stream {stream}: {text}");
            let error: Value = serde_json::from_str(&text).expect("json");
            assert_eq!(error["error"]["type"], "invalid_request_error");
            assert!(
                error["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("thinking"),
                "{error}"
            );
        }
    }
    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), 2);
    for line in &ledger {
        if llama_server {
            assert_eq!((line.outcome, line.status), (Outcome::Forwarded, 200), "{line:?}");
            assert_eq!(line.forwarded_model.as_deref(), Some(MODEL));
        } else {
            assert_eq!(line.outcome, Outcome::BadRequest, "{line:?}");
            assert_eq!(line.upstream, None, "a refused request was forwarded");
        }
    }
}
