//! The adapter: the loopback proxy between Case and the one admitted local model server.
//!
//! Case is given the adapter's address instead of the model server's, so every request Case
//! makes passes through one place that can prove what happened to it (README, "`run` and its run folder"). It
//! speaks three APIs to Case (OpenAI chat completions and Responses, Anthropic Messages) and
//! one or two to the upstream (`upstream_api/` owns this table):
//!
//! | route | API (ledger `api`) | upstream |
//! |---|---|---|
//! | `GET /v1/models` | `openai` | `GET {base}/models`, passed through |
//! | `POST /v1/chat/completions` (plain or SSE) | `openai` | `POST {base}/chat/completions`, passed through |
//! | `POST /v1/messages` (plain or SSE) | `anthropic` | `POST {base}/chat/completions`, translated both ways |
//! | `POST /v1/messages/count_tokens` | `anthropic` | the server's tokenizer, else an estimate |
//! | `POST /v1/responses` (plain or SSE) | `openai` | `POST {base}/responses` passed through, or `POST {base}/chat/completions` translated (`responses/`) |
//! | `POST /api/event_logging/batch` | `local` | none: 204 (agent telemetry) |
//! | `HEAD /`, `HEAD /api/hello` | `local` | none: 200, no credentials needed (agents' warm-up probe) |
//! | anything else | `local` | none: 404 (403, a fallback attempt, for a `POST` naming another model) |
//!
//! * **Local only.** It listens only on a loopback address and talks only to the configured
//!   [`LocalBaseUrl`](crate::upstream::LocalBaseUrl), through [`upstream::loopback_client`](crate::upstream::loopback_client) (no redirects, no proxy, no
//!   retries); every upstream response's peer address is checked to be loopback
//!   (`upstream::check_peer`) and refused with 502 otherwise.
//! * **Authenticated.** Case presents the per-run token as `Authorization: Bearer TOKEN` or
//!   `x-api-key: TOKEN` (every credential presented must match, compared in constant time);
//!   anything else is answered 401 on any path. Case's credentials never go upstream.
//!   `anthropic-version`, `anthropic-beta` and SDK headers (`x-stainless-*`) are accepted and
//!   never forwarded.
//! * **Pinned.** `pinning` decides, in one function for every API, whether a request may
//!   go upstream: only the admitted model, no smuggled routing. A refusal is a 403 error in
//!   the API's own shape (OpenAI's, or Anthropic's `permission_error`) that says why, counted
//!   as a fallback attempt (ledger and the trace's `fallback_attempt`). A Claude model, a Haiku
//!   "small/fast" model, anything else: refused, never remapped to the admitted one.
//! * **Passed through as it is** (OpenAI routes). The upstream's status and body come back
//!   unchanged — a 401, 404, 429 or 5xx is not retried, and nothing is ever tried on another
//!   model or host. A 3xx is returned without its `Location`, so Case's own HTTP client cannot
//!   follow it elsewhere either. Streams (SSE) are relayed chunk by chunk as they arrive.
//! * **Translated** (Anthropic routes). Request and answer go through the pure
//!   [`anthropic`] module; a stream is translated chunk by chunk as it arrives (nothing is
//!   held back to the end), and the answer's `model` is the admitted name, never the
//!   upstream's echo. Upstream errors keep their status code and get Anthropic's error shape
//!   (`anthropic::ErrorType::from_upstream_status`); content the translation cannot carry
//!   (images, documents, server tools, extended thinking, …) is a 400
//!   `invalid_request_error`, never silently dropped.
//! * **Few headers.** Upstream gets only `content-type: application/json` (the body is
//!   re-serialised from what was checked, so duplicate keys cannot show the upstream a
//!   different model than the one admitted), an `accept`, and the configured upstream
//!   secret as `Authorization: Bearer`. Case gets back only `content-type`, `cache-control`
//!   and `retry-after` of the upstream's headers.
//! * **Local answers.** Paths it does not serve get a 404 JSON answer — unless it is a `POST`
//!   whose JSON body names another model or asks for routing, which is refused (403) and
//!   counted as a fallback attempt like on a served route — agent telemetry
//!   (`POST /api/event_logging/batch`) a 204; neither is forwarded; both are in the ledger.
//! * **Evidence.** Every response carries [`HEADER_SERVED_MODEL`], [`HEADER_UPSTREAM`] and
//!   [`HEADER_FALLBACK_ATTEMPTS`]; every request leaves one [`LedgerEntry`] line.
//!
//! `count_tokens` asks the upstream's own tokenizer — llama.cpp's `POST {origin}/tokenize`,
//! then llama-cpp-python's `POST {origin}/extras/tokenize/count` — and remembers which one
//! answered (or that neither exists); without one it answers
//! [`anthropic::estimate_input_tokens`] (⌈characters / 4⌉). [`HEADER_TOKEN_COUNT`] says
//! `exact` or `estimate`. The tokenizers are asked only when the base URL's path is exactly
//! `/v1` (else the root may not be the model server's); llama-cpp-python's request names the
//! admitted model. A count is never counted as a request served by the admitted model.
//!
//! Bounds: at most [`MAX_IN_FLIGHT`] requests are handled at once (a stream until it ends;
//! the rest wait), a request body is at most [`MAX_REQUEST_BYTES`] (8 MiB, else 413), and the
//! bodies of all requests in flight together at most [`MAX_BUFFERED_BODY_BYTES`] (64 MiB; a
//! request waits until its `Content-Length`, or 8 MiB without one, fits).
//!
//! Timeouts: `upstream_timeout` bounds the wait for the upstream's response headers and,
//! separately, each silence between two body chunks — not a whole stream, which may
//! legitimately run for minutes on a slow local model.
//!
//! Layout, one concept per file, imports only sideways or down (this file holds no code):
//! `server.rs` starts and stops it; `routing.rs` is the one handler (bounds, authentication,
//! dispatch, local answers); `upstream_api/` what the upstream speaks (per API
//! pass-through or translation, the probes that decide it, the allow-lists, hosted tools and
//! the route table); `state.rs` what requests share and the admit/refuse decision
//! they share; `forward.rs` the upstream call; `api_error.rs` error bodies in each API's
//! shape; `pinning.rs` the pinning rule; `sampling.rs` the sampling pin (`--temperature`, `--seed`) set on every forwarded generation request; `ledger.rs` the ledger; `openai.rs` the OpenAI
//! routes (pass-through and SSE relay); `messages.rs` the Anthropic routes; [`anthropic`]
//! the pure translation (request, tools, response, stream, count_tokens); `responses/` the
//! Responses route (Codex CLI's API: pass-through, or translation to chat completions); `sse.rs` the one
//! SSE parser both use; `sse_driver.rs` the one driver of every streamed answer; `tokenizer.rs` the upstream's tokenizer for `count_tokens`;
//! `standalone.rs` the `case-harness adapter` command. `docs/anthropic-compat.md` lists what of the Anthropic API is supported and why
//! not the rest.

pub mod anthropic;
mod api_error;
mod forward;
mod ledger;
mod messages;
mod openai;
mod passthrough;
mod pinning;
mod redact;
mod responses;
mod routing;
mod sampling;
mod server;
mod sse;
mod sse_driver;
mod standalone;
mod state;
mod tokenizer;
mod upstream_api;
mod upstream_error;

pub use ledger::{Api, LEDGER_FILE_NAME, LedgerEntry, LedgerTotals, Outcome, read_ledger, summarize};
pub use routing::{MAX_BUFFERED_BODY_BYTES, MAX_IN_FLIGHT, MAX_REQUEST_BYTES};
pub use server::{AdapterConfig, AdapterError, AdapterHandle, start, start_on};
pub(crate) use standalone::Standalone;
pub use state::{HEADER_FALLBACK_ATTEMPTS, HEADER_SERVED_MODEL, HEADER_TOKEN_COUNT, HEADER_UPSTREAM};
pub use upstream_api::{AdapterMode, UpstreamApi};
