//! An I/O error together with the path it happened on (ripgrep's `WithPath`): "`out/x`: No
//! space left on device" tells the user which file, a bare `io::Error` does not. One type
//! for every module that touches files, so that none writes its own `io_error` helper.
//!
//! The message carries the cause as well as being its `source()`, so that text taken with
//! `to_string()` (a report's `run_errors`, a trial's failure) stays complete; the CLI prints
//! the chain once and skips a cause its context already says (`render_chain` in `cli/exit.rs`).
//!
//! `write_atomically` lives here too: every module that writes evidence or records writes
//! through it, and none of them need import the evidence module to do so.

use std::io::Write;
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

/// Prefix of the temp files [`write_atomically`] creates. They are digested like any other
/// file (none exists while the harness digests the folder; one that appears later is an
/// extra file `verify` reports).
const TEMP_PREFIX: &str = ".case-harness-tmp-";

/// The mode of every evidence file [`write_atomically`] writes.
pub(crate) const EVIDENCE_FILE_MODE: u32 = 0o644;

/// Writes `bytes` to `path` via a temp file in the same folder, fsync and rename, so readers
/// see the old file or the new one, never a torn one. The temp file has a random name and
/// is created exclusively, so nothing planted in the folder (a symlink) can redirect it.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PathIoError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(at(dir))?;
    temp.write_all(bytes).map_err(at(temp.path()))?;
    // Evidence is for reviewers and CI: 0644 like every other file of an evidence folder (the
    // temp file starts 0600). Nothing written here holds a secret: reports are scanned, and
    // the secret-bearing files (signing key, adapter token file) are written elsewhere, 0600.
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(EVIDENCE_FILE_MODE))
            .map_err(at(temp.path()))?;
    }
    temp.as_file().sync_all().map_err(at(path))?;
    temp.persist(path).map_err(|err| at(path)(err.error))?;
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
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
