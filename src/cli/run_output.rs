//! What `run` says when it ends, and where it writes when the user named no folder.
//!
//! `run --format json` prints exactly one JSON object on stdout ([`RunJson`]), also when the
//! run could not reach an outcome, so that a script reads one shape whatever happened; the
//! error itself still goes to stderr. Without `--out`, each run gets its own new folder
//! `runs/<UTC timestamp>` (README, "Commands"): two runs never collide, and a user's earlier
//! run is never in the way.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::exit::{CliError, Exit, render_chain};
use super::{Format, to_json};
use crate::output::RunOutcome;

/// Where the run folders go when `run` is given no `--out`.
const DEFAULT_RUNS: &str = "runs";

/// How a `run` (or `run --attempts`) ended with an outcome.
#[derive(Debug)]
pub(crate) struct RunEnded {
    /// The sealed outcome.
    pub outcome: RunOutcome,
    /// report.json (or aggregate.json for `--attempts`).
    pub report: PathBuf,
    /// Why, in the report's words.
    pub reasons: Vec<String>,
}

/// The one object `run --format json` prints (its shape is documented in the README).
#[derive(Debug, serde::Serialize)]
pub(crate) struct RunJson {
    /// `pass`, `fail`, `blocked`, `incomplete`; without a report: `blocked` (a refused task
    /// file), `interrupted` (SIGINT/SIGTERM) or `error`.
    pub outcome: &'static str,
    /// The report (or aggregate) path, when one was written.
    pub report: Option<PathBuf>,
    /// Why: the report's reasons, or the error and its causes.
    pub reasons: Vec<String>,
    /// The process's exit code.
    pub exit_code: u8,
}

impl RunJson {
    fn from_result(out: &Path, result: &Result<RunEnded, CliError>) -> RunJson {
        match result {
            Ok(ended) => RunJson {
                outcome: ended.outcome.as_str(),
                report: Some(ended.report.clone()),
                reasons: ended.reasons.clone(),
                exit_code: Exit::from(ended.outcome).code(),
            },
            Err(error) => {
                let exit = error.exit_code();
                let report = out.join(crate::evidence::names::REPORT);
                RunJson {
                    outcome: match exit {
                        Exit::Blocked => "blocked",
                        Exit::Interrupted | Exit::Terminated => "interrupted",
                        _ => "error",
                    },
                    report: report.is_file().then_some(report),
                    reasons: vec![render_chain(error)],
                    exit_code: exit.code(),
                }
            }
        }
    }
}

/// Prints how the run ended in `format` and returns its exit (an error stays an error, so
/// that `main` prints it on stderr and exits with its code).
pub(crate) fn finish(format: Format, out: &Path, result: Result<RunEnded, CliError>) -> Result<Exit, CliError> {
    match format {
        Format::Json => println!("{}", to_json(&RunJson::from_result(out, &result))?),
        Format::Human => {
            if let Ok(ended) = &result {
                println!("{}: {}", ended.outcome.as_str(), ended.report.display());
                for reason in &ended.reasons {
                    println!("  - {reason}");
                }
            }
        }
    }
    result.map(|ended| Exit::from(ended.outcome))
}

/// `--out` as given, or a new folder `runs/<UTC timestamp>` (with `-2`, `-3` … when that
/// second is taken), created here so that no other run can take it; its name goes to stderr.
pub(crate) fn out_or_new(out: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(out) = out {
        return Ok(out);
    }
    let runs = Path::new(DEFAULT_RUNS);
    std::fs::create_dir_all(runs).map_err(crate::path_io::at(runs))?;
    let stamp = utc_folder_name(SystemTime::now());
    let folder = claim_new_folder(runs, &stamp)?;
    eprintln!("case-harness: run folder: {}", folder.display());
    Ok(folder)
}

/// Creates `parent/name` or, when it exists, the first free `parent/name-N`.
fn claim_new_folder(parent: &Path, name: &str) -> Result<PathBuf, CliError> {
    for attempt in 1u32.. {
        let folder = match attempt {
            1 => parent.join(name),
            n => parent.join(format!("{name}-{n}")),
        };
        match std::fs::create_dir(&folder) {
            Ok(()) => return Ok(folder),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {}
            Err(error) => return Err(crate::path_io::at(&folder)(error).into()),
        }
    }
    unreachable!("the loop returns by its 1000th attempt")
}

/// `2026-12-07T18-05-03Z`: RFC 3339 in UTC with `-` for `:` (a valid file name everywhere).
fn utc_folder_name(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn folder_names_are_utc_timestamps_without_colons() {
        let at = |secs| utc_folder_name(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00-00-00Z");
        // `date -u -d @1796666703 +%FT%H-%M-%SZ`
        assert_eq!(at(1_796_666_703), "2026-12-07T18-05-03Z");
        // A leap day.
        assert_eq!(at(951_782_400), "2000-02-29T00-00-00Z");
    }

    #[test]
    fn a_taken_name_gets_the_next_free_suffix_and_nothing_is_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = claim_new_folder(dir.path(), "2026-12-07T18-05-03Z").expect("first");
        let second = claim_new_folder(dir.path(), "2026-12-07T18-05-03Z").expect("second");
        let third = claim_new_folder(dir.path(), "2026-12-07T18-05-03Z").expect("third");
        assert_eq!(first, dir.path().join("2026-12-07T18-05-03Z"));
        assert_eq!(second, dir.path().join("2026-12-07T18-05-03Z-2"));
        assert_eq!(third, dir.path().join("2026-12-07T18-05-03Z-3"));
        assert!(first.is_dir() && second.is_dir() && third.is_dir());
    }

    #[test]
    fn the_json_of_an_outcome_and_of_an_error_share_one_shape() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ended = Ok(RunEnded {
            outcome: RunOutcome::Fail,
            report: dir.path().join("report.json"),
            reasons: vec!["Case exited with code 2".to_owned()],
        });
        let json = serde_json::to_value(RunJson::from_result(dir.path(), &ended)).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "outcome": "fail",
                "report": dir.path().join("report.json"),
                "reasons": ["Case exited with code 2"],
                "exit_code": 1,
            })
        );
        let failed: Result<RunEnded, CliError> = Err(CliError::Seconds {
            flag: "--timeout",
            value: 0.0,
        });
        let json = serde_json::to_value(RunJson::from_result(dir.path(), &failed)).expect("json");
        assert_eq!(json["outcome"], "error");
        assert_eq!(json["report"], serde_json::Value::Null);
        assert_eq!(json["exit_code"], 2);
        assert_eq!(
            json["reasons"][0],
            "--timeout must be a positive number of seconds, got 0"
        );
    }
}
