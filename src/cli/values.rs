//! What several commands read the same way: seconds from a flag, JSON on stdout, and the
//! admission in force.

use std::time::Duration;

use super::exit::CliError;
use crate::config::HarnessConfig;

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

/// The admission in `CTO_HARNESS_CASE_MODEL_ADMISSION_FILE`, if set (read, never written).
pub(super) fn current_admission(config: &HarnessConfig) -> Result<Option<crate::records::AdmissionRecord>, CliError> {
    match &config.admission_file {
        Some(path) => Ok(Some(crate::records::AdmissionRecord::load(path)?.record)),
        None => Ok(None),
    }
}
