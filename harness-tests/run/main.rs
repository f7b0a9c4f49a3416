//! End-to-end tests of `case-harness run` and `verify` through the real binary, against a
//! `wiremock` provider on 127.0.0.1 and the Case stand-ins in `harness-tests/cases/`.

/// Blocked runs: nothing spawned, evidence still written.
mod blocked;
/// What Case's environment does and does not contain.
mod case_environment;
/// Claude Code (the pinned npm release) as Case.
mod claude_code;
/// Shared set-up: records, a fake provider, running the binary.
mod common;
/// Case's confinement: only the adapter reachable, evidence read-only, nothing outlives the run.
mod confinement;
/// The main job, `case-harness evidence`.
mod evidence;
/// Runs that must end `fail`, each for one observed reason.
mod failing_runs;
/// The upstream fingerprint: model-file digest and remote models.
mod fingerprint;
/// Runs that are killed or interrupted midway.
mod interrupted;
/// `evidence merge`: shards joined into one bundle, or refused by name.
mod merge;
/// Passing runs and what their reports prove.
mod passing;
/// The red-team findings (issue 11), one test per finding.
mod red_team;
/// Signed evidence: keys, `verify --key`, `status --key`.
mod signed;
/// `verify` against tampered and forged reports.
mod verify;
