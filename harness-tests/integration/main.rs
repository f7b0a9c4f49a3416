//! The end-to-end tests, one integration binary (ripgrep's `tests/tests.rs` layout): each
//! integration binary links the whole crate, so four of them cost four links on every change.
//! Run one area with a filter, e.g. `cargo test --test integration run::leak_channels`.
//! `acceptance` (a `harness = false` libtest-mimic target) and `sdk` (ignored until the
//! Python SDKs' venv exists) stay binaries of their own.

// Shared with the `sdk` target: an adapter on 127.0.0.1, the ledger and trace read back.
#[path = "../support/mod.rs"]
mod support;

// The `case-harness` binary's commands other than `run`: check, status, help, the SOT
// parser's library API, the records, and whole-output snapshots of what they print.
mod cli;
// `case-harness run` and `verify` through the real binary, against a fake provider on
// 127.0.0.1 and the Case stand-ins in `harness-tests/cases/`.
mod run;
// The adapter's OpenAI routes over real sockets: pinning, faults, load, hostile upstreams.
mod adapter;
// The adapter's Anthropic Messages routes, in translation and pass-through modes.
mod anthropic;
// The adapter's OpenAI Responses route (Codex CLI's API), in translation and pass-through modes.
mod responses;
