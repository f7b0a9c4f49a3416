//! What the upstream speaks: for each API the adapter serves Case — OpenAI chat completions,
//! Anthropic Messages (with `count_tokens`) and OpenAI Responses — whether the upstream serves
//! it by pass-through or the adapter translates it, the probe that decides it, what of a
//! request may go up, and the route table. The handlers (`openai.rs`, `passthrough.rs`,
//! `messages.rs`, `responses/`) only carry these decisions out.
//!
//! | route | API (ledger `api`) | upstream | decided by | allow-list |
//! |---|---|---|---|---|
//! | `GET /v1/models` | `openai` | `GET {base}/models`, passed through | always | — |
//! | `POST /v1/chat/completions` | `openai` | `POST {base}/chat/completions`, passed through | always | [`CHAT_COMPLETIONS`] |
//! | `POST /v1/messages` | `anthropic` | `POST {base}/messages` passed through, or `POST {base}/chat/completions` translated | start-up probe or flag | [`MESSAGES_PASS_THROUGH`] / [`MESSAGES_TRANSLATION`] |
//! | `POST /v1/messages/count_tokens` | `anthropic` | passed through, or the server's tokenizer, else an estimate | as `/v1/messages` | as `/v1/messages` |
//! | `POST /v1/responses` | `openai` | `POST {base}/responses` passed through, or `POST {base}/chat/completions` translated | first request's probe, or flag | [`RESPONSES`] |
//!
//! Files: `choice.rs` the operator's `--upstream-api`; `probe.rs` the probes;
//! `decision.rs` the modes; `fields.rs` the allow-lists; `tools.rs` hosted tools;
//! `routes.rs` the route table.

mod chat_answer;
mod choice;
mod decision;
mod fields;
mod probe;
mod routes;
mod tools;

pub(crate) use self::chat_answer::{FirstChoice, first_choice};
pub use self::choice::UpstreamApi;
pub(crate) use self::decision::{ResponsesUpstream, decide_at_start};
pub(crate) use self::fields::{CHAT_COMPLETIONS, MESSAGES_PASS_THROUGH, MESSAGES_TRANSLATION, RESPONSES};
pub(crate) use self::probe::{Asked, DEFAULT_ANTHROPIC_VERSION};
pub(crate) use self::routes::{CHAT_COMPLETIONS_PATH, COUNT_TOKENS_PATH, MESSAGES_PATH, RESPONSES_PATH, Route};
pub(crate) use self::tools::strip_hosted_tools;
pub use crate::output::AdapterMode;
