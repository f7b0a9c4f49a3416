//! The minimal fast upstream every figure is measured against: an OpenAI-compatible model
//! server (and an Anthropic Messages one, for pass-through) on 127.0.0.1 that answers at once,
//! so that what is measured is the proxies, not a model.
//!
//! It runs on its own thread and single-thread runtime, like a separate server process, with
//! `TCP_NODELAY` on every connection (without it, a response written in two pieces can wait
//! ~40 ms for a delayed ACK and swamp the measurement). It serves the model the reference
//! admission names, so `check` and a whole `run` can use it too.

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};

#[path = "../support/loopback_server.rs"]
mod loopback_server;
use loopback_server::{LoopbackServer, json_answer};

/// The one model the upstream lists: the model of `fixtures/admission/candidate-smollm2.json`.
pub const MODEL: &str = "smollm2-135m-instruct";
/// The answer's text; the reference task checks for it.
pub const ANSWER_TEXT: &str = "Paris";
/// SSE chunks of a streamed chat answer (before `data: [DONE]`).
const STREAM_CHUNKS: usize = 20;

const CHAT_ANSWER: &str = concat!(
    r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"smollm2-135m-instruct","#,
    r#""choices":[{"index":0,"message":{"role":"assistant","content":"Paris"},"finish_reason":"stop"}],"#,
    r#""usage":{"prompt_tokens":12,"completion_tokens":1,"total_tokens":13}}"#
);
const MESSAGES_ANSWER: &str = concat!(
    r#"{"id":"msg_bench","type":"message","role":"assistant","model":"smollm2-135m-instruct","#,
    r#""content":[{"type":"text","text":"Paris"}],"stop_reason":"end_turn","stop_sequence":null,"#,
    r#""usage":{"input_tokens":12,"output_tokens":1}}"#
);
const MODELS_ANSWER: &str = r#"{"object":"list","data":[{"id":"smollm2-135m-instruct","object":"model","created":1700000000,"owned_by":"bench"}]}"#;

/// The fake local model server.
pub struct Upstream {
    pub addr: SocketAddr,
    server: LoopbackServer,
}

impl Upstream {
    pub fn start() -> Upstream {
        let app = axum::Router::new()
            .route("/v1/models", get(|| async { json_answer(MODELS_ANSWER) }))
            .route(
                "/v1/chat/completions",
                post(|body: Bytes| async move { chat_answer(&body) }),
            )
            .route("/v1/messages", post(|| async { json_answer(MESSAGES_ANSWER) }));
        let server = LoopbackServer::start(app);
        Upstream {
            addr: server.addr,
            server,
        }
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_v1(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn stop(self) {
        self.server.stop();
    }
}

fn chat_answer(request: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(request) else {
        let mut response = json_answer(r#"{"error":{"message":"not JSON"}}"#);
        *response.status_mut() = StatusCode::BAD_REQUEST;
        return response;
    };
    if request.get("stream") != Some(&serde_json::Value::Bool(true)) {
        return json_answer(CHAT_ANSWER);
    }
    // One chunk per poll, with a yield in between, so that each is written on its own as a
    // model server writes tokens (only much faster).
    let chunks = futures_util::stream::unfold(0usize, move |index| async move {
        if index > 0 {
            tokio::task::yield_now().await;
        }
        let chunk = stream_chunk(index)?;
        Some((Ok::<Bytes, std::convert::Infallible>(chunk), index + 1))
    });
    let mut response = Response::new(Body::from_stream(chunks));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Chunk `index` of a streamed answer: the first carries the answer, the last is `[DONE]`.
fn stream_chunk(index: usize) -> Option<Bytes> {
    if index > STREAM_CHUNKS {
        return None;
    }
    if index == STREAM_CHUNKS {
        return Some(Bytes::from_static(b"data: [DONE]\n\n"));
    }
    let content = if index == 0 { ANSWER_TEXT } else { " ." };
    let finish = if index + 1 == STREAM_CHUNKS {
        r#""stop""#
    } else {
        "null"
    };
    Some(Bytes::from(format!(
        "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\
         \"model\":\"{MODEL}\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\
         \"finish_reason\":{finish}}}]}}\n\n"
    )))
}
