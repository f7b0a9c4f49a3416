//! `POST /v1/responses` — the OpenAI Responses API, which Codex CLI speaks (and only it) —
//! pinned exactly like the other routes, and served two ways.
//!
//! Both ways share what every route shares: authentication, [`Shared::pin_body`] (only the
//! admitted model; another model or smuggled routing is a fallback attempt, refused
//! with a 400 in OpenAI's error shape, `{"error":{"message","type","code"}}` — the one status
//! Codex does not retry: it retries a 403 like any "unexpected status", five times, measured
//! with 0.169.0 — and never forwarded), the ledger line, redaction of every upstream byte,
//! upstream causes and the evidence headers. Only the forwarded fields of its allow-list (`upstream_api::RESPONSES`) go up;
//! the allow-list's dropped fields are accepted and never sent; any other field is a 400 naming it.
//! Non-function tools (`web_search`, Codex's `custom` tools, …) are stripped, and the ledger
//! line's reason names each one.
//!
//! * **Pass-through** to an upstream that speaks the Responses API itself (llama.cpp's
//!   `llama-server`; Ollama since v0.13.3, stateless; vLLM). The answer comes back as the
//!   upstream gave it, except that a non-streamed response's `model` is the admitted name. A
//!   stream is relayed chunk by chunk and counts as served only when `response.completed` (or
//!   `response.incomplete`) went by without `response.failed` or `error`.
//! * **Translation** to chat completions for one that does not (llama-cpp-python): the
//!   pure [`request`], [`response`] and [`stream`] modules.
//!
//! Which one is decided by the first request (`upstream_api::ResponsesUpstream`).
//! Upstream errors keep their status and body (redacted), as on chat completions.
//!
//! Files: `create.rs` the entry; `pass_through.rs` and `translate.rs` the two ways;
//! `answers.rs` what both answer alike; `request.rs`, `response.rs`, `stream.rs` the pure
//! translation.

mod answers;
mod create;
mod pass_through;
mod request;
mod response;
mod stream;
mod translate;

pub(crate) use self::create::create;
