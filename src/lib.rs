//! `case-harness` decides, proves and records whether the agent **Case** may run its Stage 2
//! against an admitted **local** model provider, and that the run used that model and
//! nothing else.
//!
//! The pieces, from the outside in (dependencies point down this list):
//! * [`acceptance`] — the test-harness plugin: every SOT acceptance bullet a generated
//!   `libtest-mimic` trial, plus the `evidence` main job built on it.
//! * [`cli`] — the `case-harness` command line; parses flags, calls a pipeline, maps the
//!   outcome to an exit code.
//! * `run` — the `run` pipeline: gates → [`adapter`] → `case_process` → [`evidence`].
//! * `status` — derives each work item's status from verified evidence.
//! * [`evidence`] — the Harness Evidence Interface: the only code that builds, seals and
//!   verifies reports; [`junit`] renders them for CI dashboards.
//! * [`adapter`] — the loopback proxy between Case and the local provider, pinned to the
//!   admitted model; `case_process` — Case's environment, spawn and timeout;
//!   `case_logs` — its stdout and stderr, capped on disk and scanned whole.
//! * [`sandbox`] — Case's confinement: kernel namespaces in which the adapter is all it can
//!   reach, the evidence is read-only and every process it starts dies with the run.
//! * [`gates`] — every reason the route may not start Case, evaluated before any spawn.
//! * `external_names` — what counts as naming an external provider or model.
//! * [`upstream`] — the validated local base URL and the loopback-only HTTP client;
//!   `fingerprint` — what the upstream says about itself, and the model-file digest check.
//! * [`config`], [`records`], [`sot`] — the inputs: environment, the CTO-WORK-020 decision
//!   and admission records, and the planning document.
//! * [`output`] — the JSON shapes other tools read, changed only on purpose.
//! * [`secrets`] — secret values that cannot be printed, and the scanner that finds them.
//! * `signals` — SIGINT/SIGTERM handling shared by `run` and `adapter`.
//! * [`trace`] — the `trace.jsonl` event log every run writes.
//! * [`path_io`] — an I/O error that names its path, for every module that touches files.
//! * `fuzz_targets` — the bodies of the `cargo fuzz` targets in `fuzz/` (hidden from the docs).
//! * `reference_case` — the bundled reference Case, the hidden `reference-case` subcommand;
//!   `task_file` — the task gate and the reference Case's task format.
//! * [`attestation`], [`signing`] — signed in-toto attestations (DSSE, Ed25519) over evidence
//!   folders, and the keys that sign them; [`bundle`] signs an evidence folder and merges nextest shards.
#![warn(missing_docs)]
#![warn(unreachable_pub)]

pub mod acceptance;
pub mod adapter;
pub(crate) mod attempts;
pub mod attestation;
pub mod bundle;
pub(crate) mod case_argv;
pub(crate) mod case_home;
pub(crate) mod case_logs;
pub(crate) mod case_process;
pub mod cli;
pub mod config;
pub mod evidence;
mod external_names;
pub(crate) mod fingerprint;
#[doc(hidden)]
pub mod fuzz_targets;
pub mod gates;
pub mod guarded_files;
pub mod junit;
pub mod output;
pub mod path_io;
pub mod records;
pub(crate) mod run;
pub(crate) mod run_folder;
pub mod sandbox;
pub mod secrets;
pub(crate) mod signals;
pub mod signing;
pub mod sot;
pub(crate) mod status;
pub(crate) mod task_file;
pub mod trace;
pub mod upstream;
