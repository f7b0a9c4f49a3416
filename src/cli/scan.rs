//! `case-harness scan`: is the secret in this variable anywhere in these paths or their
//! git history?

use std::path::PathBuf;

use super::exit::{CliError, Exit};
use crate::config::Environment;

/// `case-harness scan --secret-env NAME PATH…`.
pub(super) fn scan(environment: &Environment, secret_env: &str, paths: &[PathBuf]) -> Result<Exit, CliError> {
    use crate::secrets::{NamedSecret, SecretScanner, SecretValue};
    let value = environment
        .var(secret_env)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| CliError::SecretEnvUnset {
            name: secret_env.to_owned(),
        })?;
    let scanner = SecretScanner::new(&[NamedSecret {
        name: secret_env.to_owned(),
        value: SecretValue::new(value),
    }])?;
    let mut hits = Vec::new();
    for path in paths {
        scanner.scan_path("files", path, &mut hits)?;
        // A secret deleted from the tree but still in a commit is still leaked.
        scanner.scan_git_history("commit", path, &mut hits)?;
    }
    if hits.is_empty() {
        println!("clean: {secret_env} not found in {} path(s)", paths.len());
        return Ok(Exit::Success);
    }
    for hit in &hits {
        println!("HIT: {} found in {}", hit.secret, hit.location);
    }
    Ok(Exit::Failed)
}
