//! `evidence --out DIR`: the harness writes only into a folder it may write, and deletes only
//! what it wrote there itself.
//!
//! A folder is the harness's own when it holds [`MARKER`], which `evidence` writes first into
//! every folder it fills. Then:
//! - a missing or empty folder is used (and marked);
//! - a non-empty folder without the marker is refused: it is someone else's (`--out .` with a
//!   user's `./runs` loses nothing);
//! - a marked folder holding only what `evidence` writes ([`OWN_ENTRIES`]) is an earlier
//!   evidence run: `--force` replaces it (those entries only), otherwise it is refused;
//! - a marked folder holding anything else is refused even with `--force`, naming the entries
//!   (a user's file beside old evidence is still the user's).
//!
//! The default folder (`target/case-harness/evidence`, used when `--out` is not given) is the
//! harness's by construction, so an earlier run there is replaced without `--force`.

use std::path::{Path, PathBuf};

/// The file that marks a folder as written by `case-harness evidence`.
pub(crate) const MARKER: &str = ".case-harness-evidence";

/// Everything `evidence` writes into its folder (and therefore may replace).
pub(crate) const OWN_ENTRIES: &[&str] = &[
    MARKER,
    "runs",
    "junit.xml",
    crate::bundle::TRIALS,
    "summary.md",
    crate::attestation::ENVELOPE,
];

/// Why `--out` cannot take this evidence run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EvidenceFolderError {
    /// Not empty, and not the harness's.
    #[error(
        "{}: is not empty and holds no earlier `case-harness evidence` output (no {MARKER}): \
         give a new or empty folder (nothing was deleted)",
        path.display()
    )]
    NotOurs {
        /// The folder.
        path: PathBuf,
    },
    /// An earlier evidence run, and no `--force`.
    #[error(
        "{}: holds an earlier `case-harness evidence` run: pass --force to replace it, or give a new folder \
         (nothing was deleted)",
        path.display()
    )]
    EarlierRun {
        /// The folder.
        path: PathBuf,
    },
    /// The harness's folder, but with entries it did not write.
    #[error(
        "{}: holds {} beside an earlier evidence run; `case-harness evidence` did not write {}, so it \
         will not replace this folder even with --force: move {} away or give a new folder (nothing was deleted)",
        path.display(),
        names.join(", "),
        if names.len() == 1 { "it" } else { "them" },
        if names.len() == 1 { "it" } else { "them" }
    )]
    Foreign {
        /// The folder.
        path: PathBuf,
        /// The entries it holds that `evidence` does not write.
        names: Vec<String>,
    },
    /// Listing, creating, removing or marking failed.
    #[error(transparent)]
    Io(#[from] crate::path_io::PathIoError),
}

/// Makes `out` ready for a new evidence run: refuses a folder that is not the harness's,
/// removes an earlier run's entries when `replace` allows it, and writes the marker.
pub(crate) fn prepare(out: &Path, replace: bool) -> Result<(), EvidenceFolderError> {
    let entries = match std::fs::read_dir(out) {
        Ok(entries) => entries
            .map(|entry| entry.map(|entry| entry.file_name().to_string_lossy().into_owned()))
            .collect::<Result<Vec<String>, _>>()
            .map_err(crate::path_io::at(out))?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(crate::path_io::at(out)(err).into()),
    };
    if !entries.is_empty() {
        // The marker must be a regular file, not a link planted to make a folder look ours.
        let marked = std::fs::symlink_metadata(out.join(MARKER)).is_ok_and(|metadata| metadata.is_file());
        if !marked {
            return Err(EvidenceFolderError::NotOurs { path: out.to_owned() });
        }
        let mut foreign: Vec<String> = entries
            .iter()
            .filter(|name| !OWN_ENTRIES.contains(&name.as_str()))
            .cloned()
            .collect();
        if !foreign.is_empty() {
            foreign.sort();
            return Err(EvidenceFolderError::Foreign {
                path: out.to_owned(),
                names: foreign,
            });
        }
        if !replace {
            return Err(EvidenceFolderError::EarlierRun { path: out.to_owned() });
        }
        for name in &entries {
            let path = out.join(name);
            let removed = match std::fs::symlink_metadata(&path) {
                Ok(metadata) if metadata.is_dir() => std::fs::remove_dir_all(&path),
                Ok(_) => std::fs::remove_file(&path),
                Err(err) => Err(err),
            };
            removed.map_err(crate::path_io::at(&path))?;
        }
    }
    std::fs::create_dir_all(out).map_err(crate::path_io::at(out))?;
    let marker = out.join(MARKER);
    let text = format!(
        "Written by case-harness {} `evidence`. `case-harness evidence --out <this folder> --force` replaces \
         what it wrote here ({}) and nothing else.\n",
        env!("CARGO_PKG_VERSION"),
        OWN_ENTRIES.join(", ")
    );
    std::fs::write(&marker, text).map_err(crate::path_io::at(&marker))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn earlier_run(dir: &Path) {
        prepare(dir, true).expect("a new or replaced folder");
        std::fs::create_dir_all(dir.join("runs/T__1/step-1/run")).expect("mkdir");
        std::fs::write(dir.join("runs/T__1/step-1/run/report.json"), "{}").expect("write");
        std::fs::write(dir.join("summary.md"), "# old").expect("write");
        std::fs::write(dir.join("trials.json"), "{}").expect("write");
    }

    #[test]
    fn a_users_folder_is_never_touched() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("runs")).expect("mkdir");
        std::fs::write(dir.path().join("runs/important.txt"), "mine").expect("write");
        for replace in [false, true] {
            let err = prepare(dir.path(), replace).expect_err("not ours");
            assert!(matches!(err, EvidenceFolderError::NotOurs { .. }), "{err}");
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join("runs/important.txt")).expect("kept"),
            "mine"
        );
        assert!(!dir.path().join(MARKER).exists());
    }

    #[test]
    fn an_earlier_run_is_replaced_only_with_force_and_only_its_own_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        earlier_run(dir.path());
        let err = prepare(dir.path(), false).expect_err("needs --force");
        assert!(err.to_string().contains("--force"), "{err}");
        assert!(dir.path().join("summary.md").exists());
        prepare(dir.path(), true).expect("replaced");
        assert!(!dir.path().join("runs").exists() && !dir.path().join("summary.md").exists());
        assert!(dir.path().join(MARKER).is_file());

        earlier_run(dir.path());
        std::fs::write(dir.path().join("important.txt"), "mine").expect("write");
        let err = prepare(dir.path(), true).expect_err("a foreign file");
        assert!(err.to_string().contains("important.txt"), "{err}");
        assert!(dir.path().join("runs/T__1/step-1/run/report.json").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("important.txt")).expect("kept"),
            "mine"
        );
    }

    #[test]
    fn a_marker_that_is_not_a_regular_file_does_not_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join(MARKER)).expect("mkdir");
        std::fs::write(dir.path().join("summary.md"), "a user's").expect("write");
        assert!(matches!(
            prepare(dir.path(), true),
            Err(EvidenceFolderError::NotOurs { .. })
        ));
        assert!(dir.path().join("summary.md").exists());
    }
}
