//! `case-harness` decides, proves and records whether the agent **Case** may run its Stage 2
//! against an admitted **local** model provider, and that the run used that model and
//! nothing else.
//!
//! The pieces, from the outside in, by layer (dependencies point down this list; the layer
//! table in `docs/architecture.md` is the exact rule and `harness-tests/layers.rs` enforces it):
//! * entry — [`cli`]: the `case-harness` command line; parses flags, calls a pipeline, maps the
//!   outcome to an exit code; `cli::reference_case` is the bundled reference Case (the hidden
//!   `reference-case` subcommand).
//! * plugin — [`acceptance`]: the test-harness plugin: every SOT acceptance bullet a generated
//!   `libtest-mimic` trial, plus the `evidence` main job built on it.
//! * pipelines — [`bundle`] signs an evidence folder and merges nextest shards; `status`
//!   derives each work item's status from verified evidence; `attempts` runs `run --attempts`
//!   and seals the aggregate; `run` is the pipeline: gates → [`adapter`] → `case_process` →
//!   [`evidence`]; `fuzz_targets` holds the bodies of the `cargo fuzz` targets (hidden).
//! * evidence — [`attestation`]: signed in-toto attestations (DSSE, Ed25519) over evidence
//!   folders; [`evidence`]: the Harness Evidence Interface, the only code that builds, seals
//!   and verifies reports; [`junit`] renders them for CI dashboards.
//! * run parts — [`adapter`]: the loopback proxy between Case and the local provider, pinned
//!   to the admitted model (`adapter::upstream_api` owns what the upstream speaks: per API,
//!   pass-through or translation, the probes, the allow-lists, the routes); `case_process` — Case's environment, spawn and timeout;
//!   `case_logs` — its stdout and stderr, capped on disk and scanned whole; `case_home` — its
//!   fresh home; [`sandbox`] — Case's confinement: kernel namespaces in which the adapter is
//!   all it can reach, the evidence is read-only and every process it starts dies with the run.
//! * gates — [`gates`]: every reason the route may not start Case, evaluated before any spawn;
//!   `case_argv` — what a Case command line configures; `fingerprint` — what the upstream says
//!   about itself, and the model-file digest check; `task_file` — the task gate and the
//!   reference Case's task format.
//! * values — [`config`]: the environment, read once by `cli` (`config::Environment`) and
//!   handed down (the acceptance plugin, an entry point of its own, reads it once per suite); [`upstream`]: the validated local base URL and the
//!   loopback-only HTTP client; `external_names` — what counts as naming an external provider
//!   or model; [`signing`]: the keys that sign evidence; [`secrets`]: secret values that cannot
//!   be printed, and the scanner that finds them.
//! * shapes — [`trace`]: the `trace.jsonl` event log every run writes; [`output`]: the JSON
//!   shapes other tools read, changed only on purpose; [`sot`], [`records`]: the planning
//!   document and the CTO-WORK-020 decision and admission records.
//! * leaves — [`guarded_files`]: the guarded open of files the agent could have written;
//!   [`path_io`]: an I/O error that names its path, and `write_atomically`; `run_folder` — every
//!   fixed file name of a run folder; `signals` — SIGINT/SIGTERM handling shared by `run` and
//!   `adapter`.
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
