//! The acceptance plugin: every acceptance bullet of a planning document becomes one
//! generated `libtest-mimic` trial, runnable with `cargo test` and `cargo nextest run`.
//!
//! A consumer's `harness = false` test target is a few lines (`examples/consumer/` in this
//! repository is a whole crate doing it, with its own plan, scenarios and fixtures):
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
//!     case_harness::acceptance::AcceptanceSuite::new(root.join("plan.md"), root.join("scenarios"))
//!         .fixtures_dir(root.join("fixtures"))
//!         .main()
//! }
//! ```
//!
//! The `case-harness` binary the trials drive is, in this order: the one given to
//! [`AcceptanceSuite::harness_binary`], `$CASE_HARNESS_BIN`, nextest's
//! `NEXTEST_BIN_EXE_case-harness` or Cargo's `CARGO_BIN_EXE_case-harness` (set for this
//! package's own tests only), then `case-harness` on `PATH`; none is an error that says how to
//! get one. A binary whose `--version` is not this library's version is refused, naming both.
//! Fixtures are the consumer's own: a step that uses one needs
//! [`AcceptanceSuite::fixtures_dir`] (there is no default folder), and `{cases}` in a Case
//! command needs [`AcceptanceSuite::cases_dir`]. The scenario format is in [`scenario`] and
//! `docs/scenario.schema.json`.
//!
//! Planning alone reads the files and names the trials, without running anything:
//!
//! ```
//! let suite = case_harness::acceptance::AcceptanceSuite::new("fixtures/sot/seed-one-line.md", "scenarios");
//! let trials = suite.plan().expect("the bundled seed and scenarios");
//! assert_eq!(trials.iter().filter(|trial| !trial.bullet.is_empty()).count(), 19);
//! assert!(trials.iter().any(|trial| trial.name == "CTO-WORK-022::real-case-stage2"));
//! ```
//!
//! Coverage is complete by construction: a bullet with no scenario is a *failing* trial
//! ("unmapped acceptance bullet", naming the nearest scenario), and so is a scenario whose
//! bullet is gone. Names are stable and filterable:
//! `CTO-WORK-022::04-missing-local-adapter-config-blocks-before-case-process-started`.
//!
//! nextest runs each trial in its own process (`--exact NAME --nocapture`) and judges by exit
//! code alone, which opens two traps this module closes: an `--exact` that matches no trial
//! (or several) fails loudly instead of passing with zero tests, and "ignored" is decided
//! when the list is built (from the environment), never inside a trial, because a skip
//! decided at run time would be reported as a pass. Trials are lazy: building the list
//! parses files only; a trial's sandbox and fake provider start when it runs.
//!
//! JUnit: `cargo test` (one process) writes the file once at the end. Under nextest each
//! process writes a fragment keyed by `NEXTEST_RUN_ID` and re-merges all fragments of the
//! run into the one file (under a lock), so the file is complete when the last trial ends.

pub mod binary;
mod error;
mod planning;
mod report;
pub mod scenario;
pub mod steps;
mod suite;

pub use error::{AcceptanceError, StatusUnavailable};
pub use planning::{PlannedTrial, TrialKind};
pub(crate) use report::{write_acceptance_junit, write_summary};
pub(crate) use suite::NOT_RUN;
pub use suite::{AcceptanceSuite, ENV_SEED, ENV_TEMPERATURE};

/// The result of one trial; its shape lives in `output` (bundle reads it from `trials.json`).
pub use crate::output::TrialRecord;
