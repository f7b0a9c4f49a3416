//! The fake provider the steps (and the CLI tests) run against: `wiremock` on 127.0.0.1,
//! OpenAI-compatible, one model, one fixed reply.

use serde_json::{Value, json};

/// A `wiremock` OpenAI-compatible provider on 127.0.0.1: lists one model, answers every chat
/// completion with a fixed reply. The CLI tests drive the same provider from plain `#[test]`s.
pub struct FakeProvider {
    server: wiremock::MockServer,
}

/// An OpenAI `GET /models` answer listing `models`, shaped like llama.cpp's.
pub fn model_list(models: &[&str]) -> Value {
    let data: Vec<Value> = models
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1_780_000_000, "owned_by": "wiremock"}))
        .collect();
    json!({"object": "list", "data": data})
}

impl FakeProvider {
    /// Starts the provider serving `model`.
    pub async fn start(model: &str, reply: &str) -> FakeProvider {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, ResponseTemplate};
        let provider = FakeProvider::empty().await;
        provider.list_models(&[model]).await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "chatcmpl-fake", "object": "chat.completion", "model": model,
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": reply }, "finish_reason": "stop" }],
                "usage": { "prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20 }
            })))
            .mount(&provider.server)
            .await;
        provider
    }

    /// A provider with nothing mounted: every request gets wiremock's 404.
    pub async fn empty() -> FakeProvider {
        FakeProvider {
            server: wiremock::MockServer::start().await,
        }
    }

    /// Answers `GET /v1/models` with [`model_list`] of `models`.
    pub async fn list_models(&self, models: &[&str]) {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, ResponseTemplate};
        Mock::given(method("GET"))
            .and(path("/v1/models"))
            .respond_with(ResponseTemplate::new(200).set_body_json(model_list(models)))
            .mount(&self.server)
            .await;
    }

    /// The wiremock server (to mount more answers or read what it received).
    pub fn server(&self) -> &wiremock::MockServer {
        &self.server
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.uri())
    }

    /// How many chat completions reached the provider (`None` if it recorded nothing,
    /// which must never read as "none arrived").
    pub(crate) async fn chat_requests(&self) -> Option<usize> {
        let requests = self.server.received_requests().await?;
        Some(
            requests
                .iter()
                .filter(|request| request.url.path() == "/v1/chat/completions")
                .count(),
        )
    }
}
