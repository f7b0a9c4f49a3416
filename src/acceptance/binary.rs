//! Which `case-harness` binary a suite drives, and whether it is the one this library was built
//! with. A crate that depends on `case-harness` gets no `CARGO_BIN_EXE_case-harness` (Cargo sets
//! it only for this package's own tests), so the binary is looked for in a fixed order, and a
//! binary of another version is refused: the scenario format and the report it is checked
//! against belong to one version.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::config::Environment;

/// Environment variable naming the `case-harness` binary a suite drives (checked first).
pub const ENV_HARNESS_BIN: &str = "CASE_HARNESS_BIN";

/// The binary's name, as Cargo and nextest spell it in their variables.
const BINARY: &str = "case-harness";

/// The variables Cargo (`cargo test` in this package) and nextest (also with `--archive-file`)
/// set for this package's own binary, in the order they are consulted.
const BUILD_TOOL_VARIABLES: [&str; 3] = [
    "NEXTEST_BIN_EXE_case-harness",
    "NEXTEST_BIN_EXE_case_harness",
    "CARGO_BIN_EXE_case-harness",
];

/// How to get a binary, said in every error.
const HOW_TO_FIX: &str = "build it and say where it is: `cargo build --bin case-harness` in the case-harness \
     checkout, then set CASE_HARNESS_BIN=<checkout>/target/debug/case-harness (or call \
     AcceptanceSuite::harness_binary); or put it on PATH with `cargo install --path <checkout>`";

/// Why no usable binary was found.
#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    /// A variable or the suite named a file that does not exist or is not a file.
    #[error("{origin} names {}, which is not a file; {HOW_TO_FIX}", path.display())]
    Missing {
        /// Where the path came from (`CASE_HARNESS_BIN`, `AcceptanceSuite::harness_binary`, …).
        origin: String,
        /// The path it named.
        path: PathBuf,
    },
    /// Nothing named a binary and none is on PATH.
    #[error(
        "no case-harness binary: CASE_HARNESS_BIN is not set, no CARGO_BIN_EXE_case-harness or \
             NEXTEST_BIN_EXE_case-harness is set, and no `case-harness` is on PATH; {HOW_TO_FIX}"
    )]
    NotFound,
    /// The binary could not be asked its version.
    #[error("cannot run {} --version: {source}; {HOW_TO_FIX}", path.display())]
    Unrunnable {
        /// The binary.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The binary is of another version than the library.
    #[error(
        "{} is case-harness {binary}, but this test links the case-harness library {library}; \
         the scenario format and the reports belong to one version: rebuild or reinstall the \
         binary from the same checkout as the library ({HOW_TO_FIX})",
        path.display()
    )]
    VersionMismatch {
        /// The binary.
        path: PathBuf,
        /// What `--version` said (or the whole first line when it did not parse).
        binary: String,
        /// This library's version.
        library: String,
    },
}

/// Finds the binary: `explicit` (the suite's `harness_binary`), else `CASE_HARNESS_BIN`, else
/// the build tool's variable, else `case-harness` on `PATH`. A bare name is looked up on `PATH`.
pub(crate) fn locate(explicit: Option<&Path>, var: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, BinaryError> {
    let path_var = var("PATH");
    let named = |origin: &str, path: PathBuf| -> Result<PathBuf, BinaryError> {
        let found = if path.components().count() == 1 && !path.is_absolute() {
            search_path(path.as_os_str(), path_var.as_deref())
        } else {
            Some(path.clone()).filter(|path| path.is_file())
        };
        found.ok_or_else(|| BinaryError::Missing {
            origin: origin.to_owned(),
            path,
        })
    };
    if let Some(path) = explicit {
        return named("AcceptanceSuite::harness_binary", path.to_owned());
    }
    if let Some(value) = var(ENV_HARNESS_BIN).filter(|value| !value.is_empty()) {
        return named(ENV_HARNESS_BIN, PathBuf::from(value));
    }
    for name in BUILD_TOOL_VARIABLES {
        if let Some(value) = var(name).filter(|value| !value.is_empty()) {
            return named(name, PathBuf::from(value));
        }
    }
    search_path(BINARY.as_ref(), path_var.as_deref()).ok_or(BinaryError::NotFound)
}

fn search_path(name: &std::ffi::OsStr, path_var: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path_var?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
        .map(|found| std::path::absolute(&found).unwrap_or(found))
}

/// Refuses a binary whose `--version` is not `case-harness <library>`.
pub(crate) fn check_version(path: &Path, library: &str) -> Result<(), BinaryError> {
    let output = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|source| BinaryError::Unrunnable {
            path: path.to_owned(),
            source,
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().next().unwrap_or("").trim();
    let version = line.strip_prefix("case-harness ").unwrap_or(line);
    if output.status.success() && version == library {
        return Ok(());
    }
    Err(BinaryError::VersionMismatch {
        path: path.to_owned(),
        binary: if version.is_empty() {
            format!("of no version (`--version` printed nothing, {})", output.status)
        } else {
            format!("{version:?}")
        },
        library: format!("{library:?}"),
    })
}

/// [`locate`] from the process environment, then [`check_version`] against this library.
pub(crate) fn resolve(explicit: Option<&Path>, environment: &Environment) -> Result<PathBuf, BinaryError> {
    let path = locate(explicit, |name| environment.var_os(name).map(ToOwned::to_owned))?;
    check_version(&path, env!("CARGO_PKG_VERSION"))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    fn env(pairs: &[(&str, &Path)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.as_os_str().to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn the_order_is_explicit_then_case_harness_bin_then_cargo_then_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("mkdir");
        let on_path = script(&bin, "case-harness", "");
        let from_env = script(dir.path(), "from-env", "");
        let from_cargo = script(dir.path(), "from-cargo", "");
        let explicit = script(dir.path(), "explicit", "");
        let all = [
            ("PATH", bin.as_path()),
            (ENV_HARNESS_BIN, from_env.as_path()),
            ("CARGO_BIN_EXE_case-harness", from_cargo.as_path()),
        ];
        assert_eq!(locate(Some(&explicit), env(&all)).expect("explicit"), explicit);
        assert_eq!(locate(None, env(&all)).expect("env"), from_env);
        assert_eq!(locate(None, env(&all[..1])).expect("path"), on_path);
        let no_bin = [all[0], all[2]];
        assert_eq!(locate(None, env(&no_bin)).expect("cargo"), from_cargo);
        // A bare name is looked up on PATH, and comes back absolute.
        assert_eq!(
            locate(Some(Path::new("case-harness")), env(&all)).expect("bare"),
            on_path
        );
    }

    #[test]
    fn nothing_found_says_how_to_fix_it_and_a_wrong_variable_is_not_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let error = locate(None, env(&[("PATH", dir.path())])).expect_err("none");
        assert!(matches!(error, BinaryError::NotFound), "{error}");
        let message = error.to_string();
        assert!(
            message.contains("CASE_HARNESS_BIN=") && message.contains("cargo install --path"),
            "{message}"
        );
        // A CASE_HARNESS_BIN naming nothing is an error, not a reason to try PATH.
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("mkdir");
        script(&bin, "case-harness", "");
        let missing = dir.path().join("gone/case-harness");
        let error = locate(None, env(&[("PATH", &bin), (ENV_HARNESS_BIN, &missing)])).expect_err("missing");
        let message = error.to_string();
        assert!(
            message.starts_with("CASE_HARNESS_BIN names ") && message.contains("gone/case-harness"),
            "{message}"
        );
    }

    #[test]
    fn a_binary_of_another_version_is_refused_naming_both() {
        let dir = tempfile::tempdir().expect("tempdir");
        let same = script(dir.path(), "same", "echo 'case-harness 1.2.3'");
        check_version(&same, "1.2.3").expect("same version");
        let other = script(dir.path(), "other", "echo 'case-harness 9.9.9'");
        let message = check_version(&other, "1.2.3").expect_err("other").to_string();
        assert!(
            message.contains("\"9.9.9\"") && message.contains("\"1.2.3\""),
            "{message}"
        );
        let silent = script(dir.path(), "silent", "exit 0");
        let message = check_version(&silent, "1.2.3").expect_err("silent").to_string();
        assert!(message.contains("printed nothing"), "{message}");
    }
}
