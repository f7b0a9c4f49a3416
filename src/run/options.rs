//! What `case-harness run` was asked to do, and the reference Case it runs when asked to run
//! no other.

use std::path::PathBuf;
use std::time::Duration;

use super::error::RunError;

/// Default `--timeout` for Case.
pub(crate) const DEFAULT_CASE_TIMEOUT: Duration = Duration::from_secs(300);

/// The hidden subcommand of this binary that runs the bundled reference Case.
pub(crate) const REFERENCE_CASE_SUBCOMMAND: &str = "reference-case";

/// What `case-harness run` was asked to do.
#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    /// The task file handed to Case.
    pub task: PathBuf,
    /// The run folder (created; must be empty if it exists).
    pub out: PathBuf,
    /// Kill Case after this long.
    pub timeout: Duration,
    /// Case command; empty means the reference Case.
    pub case_command: Vec<String>,
    /// Mark the evidence `simulated` (a fake provider); never Stage 2 evidence.
    pub simulated: bool,
    /// The planning document, hashed and scanned when given.
    pub sot: Option<PathBuf>,
    /// Bound on the `/models` probe.
    pub probe_timeout: Duration,
    /// Run Case unconfined when the kernel refuses the namespaces (the report then says
    /// `isolation: none`); without it such a run is refused.
    pub allow_unconfined: bool,
    /// Paths Case must not read (hidden inside its mount namespace), besides those every run
    /// hides (`hidden_from_case`).
    pub hidden_paths: Vec<PathBuf>,
    /// Folders Case may write besides `case-output/` and `case-home/` (`--writable`).
    pub writable_paths: Vec<PathBuf>,
    /// What Case may consume.
    pub bounds: crate::sandbox::Bounds,
    /// Layers of the confinement to leave out (`--unsafe-without-layer`, the attack tests'
    /// controls); the report lists the layers in force, and `status` counts no such run.
    pub without_layers: Vec<crate::sandbox::Layer>,
    /// Keep the user's `HOME` for Case instead of a fresh `case-home/` (the agent
    /// configuration directory stays fresh either way; see [`crate::case_home`]).
    pub keep_home: bool,
    /// Which API the upstream speaks for Case's Anthropic routes (`--upstream-api`).
    pub upstream_api: crate::adapter::UpstreamApi,
    /// The sampling pin (`--temperature`, `--seed`) the adapter sets on every forwarded
    /// generation request; empty pins nothing.
    pub sampling: crate::output::SamplingPin,
}

/// The reference Case's command line: this very binary with its hidden `reference-case`
/// subcommand, so it exists wherever `case-harness` does (no second binary to build).
pub(crate) fn reference_case_command() -> Result<Vec<String>, RunError> {
    let exe = std::env::current_exe().map_err(RunError::ReferenceCase)?;
    Ok(vec![exe.display().to_string(), REFERENCE_CASE_SUBCOMMAND.to_owned()])
}
