//! Anthropic Messages API ⇄ OpenAI chat-completions translation (pure: no I/O).
//!
//! The adapter speaks Anthropic's `POST /v1/messages` to Case and, for an upstream that
//! speaks only the OpenAI API, `POST /v1/chat/completions` to the upstream. This module
//! holds only the translation, one concept per file; the server (`messages.rs`) calls it:
//!
//! * `to_openai_request` (`request.rs`) — Anthropic request → OpenAI request for the
//!   admitted model;
//! * `from_openai_response` (`response.rs`) — OpenAI `chat.completion` → Anthropic `message`;
//! * `StreamTranslator` (`stream.rs`) — upstream `data:` payloads (from the adapter's one
//!   `SseParser`) → Anthropic stream events, one upstream chunk at a time (nothing is held
//!   back to the end);
//! * `count_tokens_text` / [`estimate_input_tokens`] (`count_tokens.rs`) —
//!   `POST /v1/messages/count_tokens`;
//! * `ErrorType`, `TranslateError`, `error_body` — errors in Anthropic's shape (they
//!   live in the adapter's `api_error` module and are re-exported here).

mod count_tokens;
mod fields;
mod request;
mod response;
mod stream;
#[cfg(test)]
mod test_support;
mod tools;
mod top_level;

pub(crate) use super::sse::SseParser;
pub use count_tokens::estimate_input_tokens;
pub(crate) use count_tokens::{ESTIMATE_CHARS_PER_TOKEN, count_tokens_text};
pub(crate) use request::to_openai_request;
pub(crate) use response::from_openai_response;
pub(crate) use stream::StreamTranslator;
