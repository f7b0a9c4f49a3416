//! Flag values every command reads the same way: seconds, and JSON on stdout.

use std::time::Duration;

use super::exit::CliError;

/// A positive number of seconds from `flag`.
pub(super) fn seconds(flag: &'static str, value: f64) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or(CliError::Seconds { flag, value })
}

/// One JSON value, as `--format json` prints it.
pub(super) fn to_json(value: &impl serde::Serialize) -> Result<String, CliError> {
    serde_json::to_string(value).map_err(CliError::Json)
}
