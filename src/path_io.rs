//! An I/O error together with the path it happened on (ripgrep's `WithPath`): "`out/x`: No
//! space left on device" tells the user which file, a bare `io::Error` does not. One type
//! for every module that touches files, so that none writes its own `io_error` helper.
//!
//! The message carries the cause as well as being its `source()`, so that text taken with
//! `to_string()` (a report's `run_errors`, a trial's failure) stays complete; the CLI prints
//! the chain once and skips a cause its context already says (`render_chain` in `cli/exit.rs`).

use std::path::{Path, PathBuf};

/// An I/O error on `path`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct PathIoError {
    /// The file or folder.
    pub path: PathBuf,
    /// What the operating system said.
    #[source]
    pub source: std::io::Error,
}

/// `map_err(path_io::at(path))`: attaches `path` to an I/O error.
pub(crate) fn at(path: &Path) -> impl FnOnce(std::io::Error) -> PathIoError + '_ {
    move |source| PathIoError {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_path_and_the_cause_is_the_source() {
        let err = at(Path::new("out/report.json"))(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(err.to_string(), "out/report.json: permission denied");
        let source = std::error::Error::source(&err).expect("the io::Error is the source");
        assert_eq!(source.to_string(), "permission denied");
    }
}
