//! End-to-end tests of `case-harness run` and `verify` through the real binary, against a
//! `wiremock` provider on 127.0.0.1 and the Case stand-ins in `harness-tests/cases/`.

/// The second adversarial review (issue 22): a Case reaching for what judges it, each
/// attack with its control.
mod attacks;
/// `run --attempts`: attempts, the aggregate and forged aggregates.
mod attempts;
/// Blocked runs: nothing spawned, evidence still written.
mod blocked;
/// What Case's environment does and does not contain.
mod case_environment;
/// Claude Code (the pinned npm release) as Case.
mod claude_code;
/// `run --format json`, `runs/<timestamp>`, evidence selection, doctor, completions, man.
mod cli_extras;
/// Codex CLI (the pinned npm release) as Case, through `/v1/responses`.
mod codex;
/// Shared set-up: records, a fake provider, running the binary.
mod common;
/// Case's confinement: only the adapter reachable, evidence read-only, nothing outlives the run.
mod confinement;
/// Another project's suite through `evidence --fixtures --cases` (examples/consumer).
mod consumer;
/// `kill -9` of the harness at each stage of a run.
mod crash;
/// The main job, `case-harness evidence`.
mod evidence;
/// Runs that must end `fail`, each for one observed reason.
mod failing_runs;
/// The upstream fingerprint: model-file digest and remote models.
mod fingerprint;
/// An upstream that echoes the key or says an external model answered.
mod hostile_upstream;
/// Runs that are killed or interrupted midway.
mod interrupted;
/// One leak per secret-scan channel, each planted by a real leak's route.
mod leak_channels;
/// `evidence merge`: shards joined into one bundle, or refused by name.
mod merge;
/// A Case that breaks the contract: no, broken or huge result file.
mod misbehaving_case;
/// Passing runs and what their reports prove.
mod passing;
/// The red-team findings (issue 11), one test per finding.
mod red_team;
/// `run --temperature --seed`: the pin sent, recorded and verified.
mod sampling;
/// The secret scan's encodings of issue 22 (UTF-16, double percent, entities, base32).
mod scan_encodings;
/// Property: any change to any artifact or report field breaks `verify`.
mod sealing;
/// Signed evidence: keys, `verify --key`, `status --key`.
mod signed;
/// `verify` against tampered and forged reports.
mod verify;
