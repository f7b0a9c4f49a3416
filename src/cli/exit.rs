//! How the `case-harness` command ends: the outcome of a subcommand ([`Exit`]), every way it
//! can fail before it has an outcome ([`CliError`]), the one mapping of both onto exit codes,
//! and the one printing of an error with its causes ([`render_chain`]).
//!
//! Modelled on nextest's `ExpectedError`: one variant per thing that can go wrong, each
//! holding its context (which flag, which file) and the error that caused it as `#[source]`,
//! never a message pre-formatted into a `String`. `main` prints the chain once.

use std::path::PathBuf;

use crate::output::RunOutcome;

/// How the harness ended; maps one-to-one onto exit codes (`--help` lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 0: ready / pass / verified / clean.
    Success,
    /// 1: ran and failed, verification failed, or a scan hit.
    Failed,
    /// 2: usage or internal error.
    Error,
    /// 3: blocked before `case_process_started`.
    Blocked,
    /// 130 (128 + SIGINT): stopped by Ctrl-C; what ran is recorded as interrupted.
    Interrupted,
    /// 143 (128 + SIGTERM): stopped by SIGTERM; what ran is recorded as interrupted.
    Terminated,
}

impl Exit {
    /// The process exit code.
    pub(crate) fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Error => 2,
            Exit::Blocked => 3,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
        }
    }

    /// The exit for a stop by `signal` (`SIGINT` or `SIGTERM`, as `crate::signals` names them):
    /// the shell's convention, 128 + the signal's number.
    pub(crate) fn stopped_by(signal: &str) -> Exit {
        if signal == "SIGTERM" {
            Exit::Terminated
        } else {
            Exit::Interrupted
        }
    }
}

impl From<RunOutcome> for Exit {
    /// A sealed run's outcome: an `incomplete` run is an error, never a pass.
    fn from(outcome: RunOutcome) -> Exit {
        match outcome {
            RunOutcome::Pass => Exit::Success,
            RunOutcome::Fail => Exit::Failed,
            RunOutcome::Blocked => Exit::Blocked,
            RunOutcome::Incomplete => Exit::Error,
        }
    }
}

/// Why a subcommand could not reach an outcome. Messages are the context only (lowercase,
/// reading after "error:"); [`render_chain`] appends the causes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A duration flag is zero, negative, not finite or too large.
    #[error("{flag} must be a positive number of seconds, got {value}")]
    Seconds {
        /// The flag, e.g. `--timeout`.
        flag: &'static str,
        /// What was given.
        value: f64,
    },
    /// `run --attempts` could not run or write its aggregate (or its flags are unusable).
    #[error("attempts: {0}")]
    Attempts(String),
    /// `--temperature`/`--seed` cannot be pinned as given.
    #[error("cannot pin sampling: {0}")]
    Sampling(String),
    /// `scan --secret-env NAME` names a variable that holds nothing.
    #[error(
        "environment variable {name} is unset or empty: set it to the secret to look for (only its name goes on the command line)"
    )]
    SecretEnvUnset {
        /// The variable's name.
        name: String,
    },
    /// `adapter --upstream` is not a loopback http URL.
    #[error("--upstream {0}")]
    UpstreamFlag(#[source] crate::upstream::BaseUrlError),
    /// `adapter --model` names an external provider or model.
    #[error("--model {model:?} names `{name}`: the adapter serves only local models")]
    ExternalModel {
        /// The model given.
        model: String,
        /// The external name found in it.
        name: &'static str,
    },
    /// The async runtime could not be started.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// `evidence` could not take over SIGINT/SIGTERM (to record interrupted trials).
    #[error("cannot watch for Ctrl-C")]
    Signals(#[source] std::io::Error),
    /// The `check` or `status` output could not be serialised.
    #[error("cannot serialize output")]
    Json(#[source] serde_json::Error),
    /// `evidence --out` names a folder the harness may not fill or replace.
    #[error(transparent)]
    EvidenceOut(#[from] super::evidence_folder::EvidenceFolderError),
    /// `evidence --failed` has no earlier run to read.
    #[error(transparent)]
    Selection(#[from] super::evidence_selection::SelectionError),
    /// The path of this binary (which the acceptance trials run) is unknown.
    #[error("cannot locate this binary")]
    CurrentExe(#[source] std::io::Error),
    /// `CASE_HARNESS_SIGNING_KEY` names a key that cannot sign this folder.
    #[error("refusing to sign")]
    SigningKey(#[source] crate::signing::KeyError),
    /// `evidence sign` was run without a key to sign with.
    #[error(
        "evidence sign needs a key: set CASE_HARNESS_SIGNING_KEY to a private key written by `case-harness keygen`"
    )]
    SigningKeyUnset,
    /// The evidence folder of `status` could not be walked.
    #[error("{}: cannot read evidence folder", path.display())]
    EvidenceFolder {
        /// The folder.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file or folder could not be read or written.
    #[error(transparent)]
    Io(#[from] crate::path_io::PathIoError),
    /// `run` could not produce a report.
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
    /// The standalone adapter could not start.
    #[error(transparent)]
    Adapter(#[from] crate::adapter::AdapterError),
    /// `scan` could not build its matcher or read a path.
    #[error(transparent)]
    Scan(#[from] crate::secrets::ScanError),
    /// The SOT could not be read.
    #[error(transparent)]
    Sot(#[from] crate::sot::SotError),
    /// The admission record could not be read.
    #[error(transparent)]
    Record(#[from] crate::records::RecordError),
    /// A public key (`--key`) or the signing key could not be loaded.
    #[error(transparent)]
    Key(#[from] crate::signing::KeyError),
    /// The acceptance suite could not be planned, run or written.
    #[error(transparent)]
    Acceptance(#[from] crate::acceptance::AcceptanceError),
    /// The evidence folder could not be signed or merged.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    /// Evidence (the merged JUnit) could not be written.
    #[error(transparent)]
    Evidence(#[from] crate::evidence::EvidenceError),
}

impl CliError {
    /// The one place a failure becomes an exit code. Every variant is a usage or internal
    /// error (exit 2) except a refused task file (a gate: exit 3) and a run stopped by a signal
    /// (130/143); the match is exhaustive so that a new variant must choose.
    pub(crate) fn exit_code(&self) -> Exit {
        match self {
            CliError::Run(crate::run::RunError::Task(_)) => Exit::Blocked,
            CliError::Run(crate::run::RunError::Interrupted { signal }) => Exit::stopped_by(signal),
            CliError::Seconds { .. }
            | CliError::Sampling(_)
            | CliError::Attempts(_)
            | CliError::SecretEnvUnset { .. }
            | CliError::UpstreamFlag(_)
            | CliError::ExternalModel { .. }
            | CliError::Runtime(_)
            | CliError::Signals(_)
            | CliError::Json(_)
            | CliError::EvidenceOut(_)
            | CliError::Selection(_)
            | CliError::CurrentExe(_)
            | CliError::SigningKey(_)
            | CliError::SigningKeyUnset
            | CliError::EvidenceFolder { .. }
            | CliError::Io(_)
            | CliError::Run(_)
            | CliError::Adapter(_)
            | CliError::Scan(_)
            | CliError::Sot(_)
            | CliError::Record(_)
            | CliError::Key(_)
            | CliError::Acceptance(_)
            | CliError::Bundle(_)
            | CliError::Evidence(_) => Exit::Error,
        }
    }
}

/// `error` and its causes on one line, `context: cause: cause`, each said once.
///
/// Most of the crate's errors also write their cause into their own message (so that
/// `to_string()`, which reports and trial failures use, stays complete); a cause whose text
/// the line already holds is therefore skipped rather than repeated.
pub(crate) fn render_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !said.is_empty() && !line.contains(&said) {
            line.push_str(": ");
            line.push_str(&said);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_appends_each_cause_once() {
        let err = CliError::EvidenceFolder {
            path: PathBuf::from("out/runs"),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert_eq!(err.to_string(), "out/runs: cannot read evidence folder");
        assert_eq!(
            render_chain(&err),
            "out/runs: cannot read evidence folder: permission denied"
        );
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        // PathIoError says its cause and also returns it as source().
        let err = CliError::from(crate::path_io::at(std::path::Path::new("out"))(std::io::Error::from(
            std::io::ErrorKind::NotFound,
        )));
        assert_eq!(render_chain(&err), "out: entity not found");
        let nested = CliError::SigningKey(crate::signing::KeyError::Io(crate::path_io::at(std::path::Path::new(
            "key.pem",
        ))(std::io::Error::from(
            std::io::ErrorKind::NotFound,
        ))));
        assert_eq!(render_chain(&nested), "refusing to sign: key.pem: entity not found");
    }

    #[test]
    fn every_failure_is_exit_2_and_outcomes_map_as_documented() {
        let err = CliError::Seconds {
            flag: "--timeout",
            value: 0.0,
        };
        assert_eq!(err.exit_code().code(), 2);
        let codes: Vec<u8> = [
            RunOutcome::Pass,
            RunOutcome::Fail,
            RunOutcome::Incomplete,
            RunOutcome::Blocked,
        ]
        .into_iter()
        .map(|outcome| Exit::from(outcome).code())
        .collect();
        assert_eq!(codes, [0, 1, 2, 3]);
    }

    #[test]
    fn a_stop_by_signal_is_128_plus_its_number_and_a_bad_task_is_blocked() {
        let stopped = |signal| {
            CliError::Run(crate::run::RunError::Interrupted { signal })
                .exit_code()
                .code()
        };
        assert_eq!(stopped("SIGINT"), 128 + libc::SIGINT as u8);
        assert_eq!(stopped("SIGTERM"), 128 + libc::SIGTERM as u8);
        let task = crate::task_file::read_task_file(std::path::Path::new("/nonexistent/task.json"), false)
            .expect_err("missing");
        assert_eq!(CliError::Run(task.into()).exit_code(), Exit::Blocked);
    }
}
