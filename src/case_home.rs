//! Case's home and agent configuration: fresh, inside the run folder, unless the user opts out.
//!
//! Agents read their own configuration before the environment the harness gives them. Claude
//! Code reads `$CLAUDE_CONFIG_DIR/settings.json` (default `~/.claude/settings.json`) and its
//! `env` block overrides the environment: measured with Claude Code 2.1.328, a user settings
//! file naming another `ANTHROPIC_BASE_URL` sent the request, with the per-run token, to that
//! other server. So Case gets `HOME=<run>/case-home` and `CLAUDE_CONFIG_DIR=<run>/case-home/.claude`
//! (and `XDG_CONFIG_HOME=<run>/case-home/.config` for agents that follow XDG), all freshly
//! created and empty. `--keep-home` keeps the user's `HOME` (for a Case that needs files
//! from it); the agent configuration directory stays fresh either way, and the report says
//! which was in force ([`crate::output::CaseHomeFacts`]).
//!
//! Codex CLI reads `$CODEX_HOME/config.toml` (default `~/.codex`), whose `model_provider`,
//! `model_providers.*.base_url` and `profiles` re-route it the same way, so Case also gets
//! `CODEX_HOME=<run>/case-home/.codex`, fresh and empty, with or without `--keep-home`.
//!
//! A project's `.claude/settings.json` in the directory the agent works in is not stopped by
//! any of this (measured, even with `--bare`); Case works in the harness-made `case-output/`,
//! and confinement closes the route for a Case that moves elsewhere.
//!
//! Two switches that only make Claude Code quieter are set too: `CLAUDE_CODE_ATTRIBUTION_HEADER=0`
//! drops the `x-anthropic-billing-header` system block (it changes per release and busts a
//! local server's prompt cache), `DISABLE_NON_ESSENTIAL_MODEL_CALLS=1` stops background model
//! calls (titles, summaries) that would cost the small local model turns.

use std::path::{Path, PathBuf};

use crate::output::CaseHomeFacts;

/// The run-folder directory that is Case's `HOME` (the confinement keeps it writable).
pub(crate) const CASE_HOME: &str = crate::run_folder::CASE_HOME;

/// Claude Code's configuration directory, inside [`CASE_HOME`].
pub(crate) const AGENT_CONFIG_DIR: &str = "case-home/.claude";

/// Codex CLI's home (`CODEX_HOME`: its config, sessions and logs), inside [`CASE_HOME`].
pub(crate) const CODEX_HOME_DIR: &str = "case-home/.codex";

/// XDG configuration directory, inside [`CASE_HOME`].
const XDG_CONFIG_DIR: &str = "case-home/.config";

/// Agent switches that the harness always sets: (name, value).
pub(crate) const AGENT_SWITCHES: &[(&str, &str)] = &[
    ("CLAUDE_CODE_ATTRIBUTION_HEADER", "0"),
    ("DISABLE_NON_ESSENTIAL_MODEL_CALLS", "1"),
];

/// Case's home as prepared for one run.
#[derive(Debug, Clone)]
pub(crate) struct CaseHome {
    /// `<run>/case-home`, or `None` with `--keep-home`.
    home: Option<PathBuf>,
    /// `<run>/case-home/.claude`.
    agent_config_dir: PathBuf,
    /// `<run>/case-home/.config`.
    xdg_config_dir: PathBuf,
    /// `<run>/case-home/.codex`.
    codex_home: PathBuf,
}

impl CaseHome {
    /// Creates the fresh directories under `run_dir`; `keep_home` keeps the user's `HOME`.
    pub(crate) fn prepare(run_dir: &Path, keep_home: bool) -> std::io::Result<CaseHome> {
        let home = run_dir.join(CASE_HOME);
        let agent_config_dir = run_dir.join(AGENT_CONFIG_DIR);
        let xdg_config_dir = run_dir.join(XDG_CONFIG_DIR);
        let codex_home = run_dir.join(CODEX_HOME_DIR);
        for dir in [&home, &agent_config_dir, &xdg_config_dir, &codex_home] {
            // `create_dir`, not `create_dir_all`: the run folder is fresh, so an existing
            // directory here would be something we did not make.
            std::fs::create_dir(dir)?;
        }
        Ok(CaseHome {
            home: (!keep_home).then_some(home),
            agent_config_dir,
            xdg_config_dir,
            codex_home,
        })
    }

    /// The variables this sets in Case's environment (they replace any passthrough value).
    pub(crate) fn variables(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            (
                "CLAUDE_CONFIG_DIR".to_owned(),
                self.agent_config_dir.display().to_string(),
            ),
            ("CODEX_HOME".to_owned(), self.codex_home.display().to_string()),
        ];
        if let Some(home) = &self.home {
            vars.push(("HOME".to_owned(), home.display().to_string()));
            vars.push(("XDG_CONFIG_HOME".to_owned(), self.xdg_config_dir.display().to_string()));
        }
        vars.extend(
            AGENT_SWITCHES
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        );
        vars
    }

    /// The agent folders inside `case-home/` (Claude's, Codex's, XDG's): Case must be able to
    /// write them when it runs as another user (its configuration, sessions and logs).
    pub(crate) fn agent_folders(&self) -> [&Path; 3] {
        [&self.agent_config_dir, &self.xdg_config_dir, &self.codex_home]
    }

    /// What the report records.
    pub(crate) fn facts(&self) -> CaseHomeFacts {
        CaseHomeFacts {
            home: if self.home.is_some() {
                CASE_HOME.to_owned()
            } else {
                "kept (--keep-home): the user's HOME".to_owned()
            },
            agent_config_dir: AGENT_CONFIG_DIR.to_owned(),
            agent_switches: AGENT_SWITCHES
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
        vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn fresh_home_and_config_dir_live_in_the_run_folder() {
        let run = tempfile::tempdir().expect("tempdir");
        let home = CaseHome::prepare(run.path(), false).expect("prepare");
        let vars = home.variables();
        let expected_home = run.path().join("case-home").display().to_string();
        assert_eq!(value(&vars, "HOME"), Some(expected_home.as_str()));
        let expected_config = run.path().join("case-home/.claude");
        assert_eq!(
            value(&vars, "CLAUDE_CONFIG_DIR").map(PathBuf::from),
            Some(expected_config.clone())
        );
        assert!(expected_config.is_dir());
        assert_eq!(std::fs::read_dir(&expected_config).expect("dir").count(), 0);
        let expected_codex = run.path().join("case-home/.codex");
        assert_eq!(
            value(&vars, "CODEX_HOME").map(PathBuf::from),
            Some(expected_codex.clone())
        );
        assert_eq!(std::fs::read_dir(&expected_codex).expect("dir").count(), 0);
        assert_eq!(value(&vars, "CLAUDE_CODE_ATTRIBUTION_HEADER"), Some("0"));
        assert_eq!(value(&vars, "DISABLE_NON_ESSENTIAL_MODEL_CALLS"), Some("1"));
        assert_eq!(home.facts().home, "case-home");
    }

    #[test]
    fn keep_home_keeps_home_but_not_the_agent_configuration() {
        let run = tempfile::tempdir().expect("tempdir");
        let home = CaseHome::prepare(run.path(), true).expect("prepare");
        let vars = home.variables();
        assert_eq!(value(&vars, "HOME"), None);
        assert_eq!(value(&vars, "XDG_CONFIG_HOME"), None);
        assert!(value(&vars, "CLAUDE_CONFIG_DIR").is_some());
        assert!(value(&vars, "CODEX_HOME").is_some());
        assert!(home.facts().home.starts_with("kept"), "{:?}", home.facts());
    }

    #[test]
    fn an_existing_case_home_is_refused() {
        let run = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(run.path().join(CASE_HOME)).expect("mkdir");
        assert!(CaseHome::prepare(run.path(), false).is_err());
    }
}
