//! Why an acceptance suite could not be planned, run or summarised.

use std::path::PathBuf;

use super::{binary, scenario};

/// Why the suite could not even be planned.
#[derive(Debug, thiserror::Error)]
pub enum AcceptanceError {
    /// The SOT could not be read.
    #[error(transparent)]
    Sot(#[from] crate::sot::SotError),
    /// The scenarios could not be read.
    #[error(transparent)]
    Scenarios(#[from] scenario::ScenarioError),
    /// Configuration mistakes that would otherwise pass silently.
    #[error("{0}")]
    Config(String),
    /// The work-item status could not be derived for `summary.md`.
    #[error("cannot derive the work-item status for summary.md: {0}")]
    Status(#[source] StatusUnavailable),
    /// No usable `case-harness` binary (none found, or of another version).
    #[error(transparent)]
    Binary(#[from] binary::BinaryError),
    /// Writing JUnit, the summary or a fragment failed.
    #[error(transparent)]
    Io(#[from] crate::path_io::PathIoError),
    /// Writing a file atomically failed.
    #[error(transparent)]
    Evidence(#[from] crate::evidence::EvidenceError),
    /// `trials.json` could not be written.
    #[error(transparent)]
    Trials(#[from] crate::bundle::BundleError),
    /// A nextest fragment is not a trial record (or a record could not be encoded).
    #[error("fragment {}: {source}", path.display())]
    Fragment {
        /// The fragment file.
        path: PathBuf,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
}

/// Why `summary.md` has no work-item status section.
#[derive(Debug, thiserror::Error)]
pub enum StatusUnavailable {
    /// The SOT could not be read.
    #[error(transparent)]
    Sot(#[from] crate::sot::SotError),
    /// The evidence folder could not be walked.
    #[error("cannot read the evidence folder {}: {source}", path.display())]
    EvidenceFolder {
        /// The folder.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}
