//! `case-harness` decides, proves and records whether the agent **Case** may run its Stage 2
//! against an admitted **local** model provider, and that the run used that model and
//! nothing else.
//!
//! The pieces, from the outside in (dependencies point down this list):
//! * [`cli`] — the `case-harness` command line; parses flags, calls a pipeline, maps the
//!   outcome to an exit code.
//! * [`status`] — derives each work item's status from verified evidence.
//! * [`gates`] — every reason the route may not start Case, evaluated before any spawn.
//! * [`upstream`] — the validated local base URL and the loopback-only HTTP client.
//! * [`config`], [`records`], [`sot`] — the inputs: environment, the CTO-WORK-020 decision
//!   and admission records, and the planning document.
//! * [`output`] — the JSON shapes other tools read, changed only on purpose.
//! * [`secrets`] — secret values that cannot be printed.
//! * [`trace`] — the `trace.jsonl` event log every run writes.
#![warn(missing_docs)]

pub mod adapter;
pub mod cli;
pub mod config;
pub mod gates;
pub mod output;
pub mod records;
pub mod secrets;
pub mod sot;
pub mod status;
pub mod trace;
pub mod upstream;
