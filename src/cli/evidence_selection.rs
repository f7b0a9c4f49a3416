//! Which acceptance trials `evidence` runs and how: `--filter`, `--failed`, `--fail-fast`
//! and `--jobs`, in nextest's words.
//!
//! `--failed` reads the previous run's `trials.json` in `--out` *before* the folder is
//! replaced, and re-runs the trials that failed, were interrupted or were never started
//! (a stop by signal, `--fail-fast`); ignored trials are not "failed". Trials run `--jobs`
//! at a time: each has its own run folders, sandboxes and fake provider on its own port, so
//! nothing is shared between them but the records, which a lock guards.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

/// `evidence`'s selection flags (flattened into `evidence`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SelectionFlags {
    /// Run only the trials whose name contains EXPR, e.g. `--filter CTO-WORK-022::04`.
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Re-run only what failed last time: the trials that failed, were interrupted or were
    /// not run, read from the previous trials.json in --out (which this run then replaces).
    #[arg(long)]
    pub failed: bool,
    /// After the first failed trial, start no other (they are recorded as not run).
    #[arg(long)]
    pub fail_fast: bool,
    /// Run N trials at a time.
    #[arg(long, short = 'j', value_name = "N", default_value = "2")]
    pub jobs: NonZeroUsize,
}

/// Why `--failed` has nothing to go on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SelectionError {
    /// No earlier run in `--out`.
    #[error(
        "--failed: {} does not exist: there is no earlier `evidence` run in this folder to re-run \
         (run `case-harness evidence` first, with the same --out)",
        path.display()
    )]
    NoPreviousRun {
        /// The trials.json looked for.
        path: PathBuf,
    },
    /// The earlier trials.json cannot be read.
    #[error("--failed: cannot read the previous run's trials")]
    Unreadable(#[source] crate::bundle::BundleError),
}

/// The trials `--failed` re-runs, from `out/trials.json`.
pub(crate) fn previously_failed(out: &Path) -> Result<BTreeSet<String>, SelectionError> {
    let path = out.join(crate::bundle::TRIALS);
    if !path.is_file() {
        return Err(SelectionError::NoPreviousRun { path });
    }
    let file = crate::bundle::read_trials(&path).map_err(SelectionError::Unreadable)?;
    Ok(file
        .trials
        .into_iter()
        .filter(|trial| match trial.status.as_str() {
            "failed" | "interrupted" => true,
            "skipped" => trial
                .message
                .as_deref()
                .is_some_and(|message| message.starts_with(crate::acceptance::NOT_RUN)),
            _ => false,
        })
        .map(|trial| trial.name)
        .collect())
}

impl SelectionFlags {
    /// libtest's arguments for these flags (`--filter` is libtest's substring filter).
    pub(crate) fn arguments(&self) -> libtest_mimic::Arguments {
        libtest_mimic::Arguments {
            filter: self.filter.clone(),
            test_threads: Some(self.jobs.get()),
            ..libtest_mimic::Arguments::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acceptance::TrialRecord;

    fn trial(name: &str, status: &str, message: Option<&str>) -> TrialRecord {
        TrialRecord {
            name: name.to_owned(),
            work_item: "CTO-WORK-022".to_owned(),
            bullet: String::new(),
            status: status.to_owned(),
            message: message.map(str::to_owned),
            duration_ms: 0,
            gate_codes: Vec::new(),
            reports: Vec::new(),
            forged_reports: Vec::new(),
            proof: String::new(),
        }
    }

    #[test]
    fn failed_interrupted_and_not_run_trials_are_re_run_but_not_passed_or_ignored_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = crate::bundle::TrialsFile {
            sot_sha256: None,
            shards: Vec::new(),
            shard_keys: Vec::new(),
            trials: vec![
                trial("a::passed", "passed", None),
                trial("b::failed", "failed", Some("Case exited with code 2")),
                trial("c::interrupted", "interrupted", Some("stopped")),
                trial(
                    "d::ignored",
                    "skipped",
                    Some("CTO_HARNESS_CASE_LOCAL_BASE_URL is not set"),
                ),
                trial(
                    "e::fail-fast",
                    "skipped",
                    Some("not run: an earlier trial failed (--fail-fast)"),
                ),
            ],
        };
        crate::bundle::write_trials(&dir.path().join(crate::bundle::TRIALS), &file).expect("write");
        let names = previously_failed(dir.path()).expect("read");
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["b::failed", "c::interrupted", "e::fail-fast"]
        );
    }

    #[test]
    fn failed_without_an_earlier_run_says_so_and_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = previously_failed(dir.path()).expect_err("no trials.json");
        let text = err.to_string();
        assert!(
            text.contains("trials.json") && text.contains("no earlier `evidence` run"),
            "{text}"
        );
    }

    #[test]
    fn filter_and_jobs_become_libtest_arguments() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            selection: SelectionFlags,
        }
        let flags = Flags::try_parse_from(["evidence", "--filter", "CTO-WORK-022::04", "--jobs", "3"]).expect("parse");
        let args = flags.selection.arguments();
        assert_eq!(args.filter.as_deref(), Some("CTO-WORK-022::04"));
        assert_eq!(args.test_threads, Some(3));
        assert!(!args.exact, "a filter is a substring, as nextest's and libtest's");
        assert!(
            Flags::try_parse_from(["evidence", "--jobs", "0"]).is_err(),
            "--jobs 0 is refused"
        );
    }
}
