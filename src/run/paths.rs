//! The run's paths: a fresh run folder, `--writable` folders that cannot reach what judges
//! Case, and every path Case must find empty.

use std::path::{Path, PathBuf};

use super::error::{OutDirProblem, RunError, WritableProblem};
use super::options::RunOptions;
use crate::config::HarnessConfig;

/// Refuses a `--writable` folder that holds or lies inside the run folder, a key's folder or
/// a record's folder: Case could then rewrite its evidence, read the key or admit itself.
pub(super) fn check_writable(options: &RunOptions, config: &HarnessConfig) -> Result<(), RunError> {
    let resolved = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let folder_of = |file: &Path| resolved(file).parent().map(Path::to_path_buf);
    let guarded: Vec<(&'static str, PathBuf)> = [("the run folder", Some(resolved(&options.out)))]
        .into_iter()
        .chain([
            ("the signing key's folder", config.signing_key_dir()),
            ("the default key folder", config.default_key_dir()),
            (
                "the decision record's folder",
                config.decision_file.as_deref().and_then(folder_of),
            ),
            (
                "the admission record's folder",
                config.admission_file.as_deref().and_then(folder_of),
            ),
            ("the task file's folder", folder_of(&options.task)),
            ("the SOT's folder", options.sot.as_deref().and_then(folder_of)),
        ])
        .filter_map(|(what, path)| Some((what, path?)))
        .collect();
    for path in &options.writable_paths {
        let refuse = |problem| RunError::Writable {
            path: path.clone(),
            problem,
        };
        let real = std::fs::canonicalize(path).map_err(|error| refuse(WritableProblem::Resolve(error)))?;
        if !real.is_dir() {
            return Err(refuse(WritableProblem::NotAFolder));
        }
        if let Some((what, other)) = guarded
            .iter()
            .find(|(_, other)| real.starts_with(other) || other.starts_with(&real))
        {
            return Err(refuse(WritableProblem::Overlaps {
                what,
                other: other.clone(),
            }));
        }
    }
    Ok(())
}

pub(super) fn prepare_run_dir(out: &Path) -> Result<PathBuf, RunError> {
    let error = |problem: OutDirProblem| RunError::OutDir {
        path: out.to_owned(),
        problem,
    };
    std::fs::create_dir_all(out).map_err(|err| error(OutDirProblem::Create(err)))?;
    let mut entries = std::fs::read_dir(out).map_err(|err| error(OutDirProblem::Read(err)))?;
    if entries.next().is_some() {
        return Err(error(OutDirProblem::NotEmpty));
    }
    std::fs::canonicalize(out).map_err(|err| error(OutDirProblem::Resolve(err)))
}

/// Every path Case must find empty: the user's `--hide`, the signing key's folder (when one
/// is configured) and the default key folder — in every run, signed or not, so that no
/// unsigned run can reach a key a later signed run uses — and the invoking user's credential
/// places (docs/threat-model.md).
pub(super) fn hidden_from_case(options: &RunOptions, config: &HarnessConfig) -> Vec<PathBuf> {
    let credentials = config
        .home
        .iter()
        .flat_map(|home| CREDENTIAL_PLACES.iter().map(move |place| home.join(place)));
    let mut hidden: Vec<PathBuf> = options
        .hidden_paths
        .iter()
        .cloned()
        .chain(config.signing_key_dir())
        .chain(config.default_key_dir())
        .chain(credentials)
        .chain(HOST_SECRETS.iter().map(PathBuf::from))
        .collect();
    hidden.sort();
    hidden.dedup();
    hidden
}

/// Credential places under the invoking user's home that Case never needs.
const CREDENTIAL_PLACES: &[&str] = &[
    ".ssh",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".config/gh",
    ".docker",
    ".kube",
    ".gnupg",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".claude",
    ".claude.json",
    ".codex",
];

/// Host files with secrets that a root-owned read could reach.
const HOST_SECRETS: &[&str] = &["/etc/shadow", "/etc/gshadow", "/etc/ssh"];

/// As root, Case runs as `nobody` ([`crate::sandbox::CASE_HOST_ID`]): its writable run
/// folders become its own. A normal user's Case is that user and owns them already.
pub(super) fn give_to_case(folders: &[&Path]) -> Result<(), RunError> {
    if !rustix::process::getuid().is_root() {
        return Ok(());
    }
    let id = Some(crate::sandbox::CASE_HOST_ID);
    for folder in folders {
        match std::os::unix::fs::chown(folder, id, id) {
            // A "root" inside a user namespace that does not map `nobody`: the sandbox then
            // finds it cannot map Case either, and says so.
            Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {}
            result => result.map_err(crate::path_io::at(folder))?,
        }
    }
    Ok(())
}
