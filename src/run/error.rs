//! Why a run could not produce a report at all (exit 2), with the file or flag at fault.

use std::path::{Path, PathBuf};

use crate::adapter;
use crate::evidence::{self, names};
use crate::trace::{Trace, TraceEvent};

/// Why a run could not produce a report at all (exit 2).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    /// `--out` is unusable.
    #[error("{}: {problem}", path.display())]
    OutDir {
        /// The folder.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: OutDirProblem,
    },
    /// A `--writable` folder is unusable or would let Case reach what judges it.
    #[error("--writable {}: {problem}", path.display())]
    Writable {
        /// The folder as given.
        path: PathBuf,
        /// What is wrong with it.
        problem: WritableProblem,
    },
    /// The task gate (`task_file_invalid`) refused the task file; nothing was written.
    #[error(transparent)]
    Task(#[from] crate::task_file::TaskFileError),
    /// The SOT file could not be read.
    #[error(transparent)]
    Sot(crate::records::RecordError),
    /// Writing evidence failed.
    #[error(transparent)]
    Evidence(#[from] evidence::EvidenceError),
    /// The adapter could not start.
    #[error("cannot start the adapter: {0}")]
    Adapter(#[source] adapter::AdapterError),
    /// The secret scanner could not be built or a file could not be scanned.
    #[error(transparent)]
    Scan(#[from] crate::secrets::ScanError),
    /// This binary's own path (which runs the reference Case) is unknown.
    #[error("cannot locate this binary to run the reference Case: {0}")]
    ReferenceCase(#[source] std::io::Error),
    /// Case could not be confined (and `--allow-unconfined` was not given, or the sandbox
    /// failed in another way).
    #[error(transparent)]
    Confinement(#[from] crate::sandbox::SandboxError),
    /// The harness was interrupted; the report stays `incomplete`.
    #[error("interrupted by {signal}; the run is incomplete")]
    Interrupted {
        /// `SIGINT` or `SIGTERM`.
        signal: &'static str,
    },
    /// The signing key (`CASE_HARNESS_SIGNING_KEY`) is unusable or unsafe.
    #[error("refusing to run: {0}")]
    SigningKey(#[from] crate::signing::KeyError),
    /// The signed attestation could not be written.
    #[error("cannot sign the evidence: {0}")]
    Attestation(#[from] crate::attestation::AttestationError),
    /// Writing a run-folder file failed.
    #[error(transparent)]
    Io(#[from] crate::path_io::PathIoError),
    /// Case's stdout/stderr capture could not be set up.
    #[error(transparent)]
    CaseLogs(#[from] crate::case_logs::CaseLogError),
}

/// Why `--out` cannot hold a new run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OutDirProblem {
    /// The folder could not be created.
    #[error("cannot create: {0}")]
    Create(#[source] std::io::Error),
    /// The folder could not be listed.
    #[error("cannot read: {0}")]
    Read(#[source] std::io::Error),
    /// The folder already holds files.
    #[error("is not empty: give each run a new folder (evidence is never mixed or overwritten)")]
    NotEmpty,
    /// The folder's absolute path could not be resolved.
    #[error("cannot resolve its absolute path: {0}")]
    Resolve(#[source] std::io::Error),
}

/// Why a `--writable` folder is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WritableProblem {
    /// It does not exist or cannot be resolved.
    #[error("cannot resolve it ({0}); create the folder first")]
    Resolve(#[source] std::io::Error),
    /// It is not a folder.
    #[error("not a folder; name the folder Case may write")]
    NotAFolder,
    /// It holds, or lies inside, something Case must not write.
    #[error("it overlaps {what} {}; name a folder that neither holds nor lies inside it", other.display())]
    Overlaps {
        /// What it overlaps, e.g. `the run folder`.
        what: &'static str,
        /// That path.
        other: PathBuf,
    },
}

/// Records one trace event; a trace that cannot be written fails the run.
pub(super) fn trace_event(trace: &Trace, event: TraceEvent) -> Result<(), RunError> {
    Ok(trace
        .record(&event)
        .map_err(crate::path_io::at(Path::new(names::TRACE)))?)
}
