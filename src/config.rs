//! The harness's configuration, read from the environment variables the seed names
//! (README, "Environment"). Paths given as flags override their variables.
//!
//! Reading is separate from judging: this module records what was set (empty counts as
//! unset) and the gates decide what that means. Unknown `CTO_HARNESS_CASE_*` variables are
//! kept so the gates can refuse them — a typo must not silently disable a setting.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use crate::secrets::SecretValue;

/// Path of the CTO-WORK-020 admission record (required).
pub(crate) const ENV_ADMISSION_FILE: &str = "CTO_HARNESS_CASE_MODEL_ADMISSION_FILE";
/// The local provider's OpenAI-compatible base URL (required to start Case).
pub(crate) const ENV_LOCAL_BASE_URL: &str = "CTO_HARNESS_CASE_LOCAL_BASE_URL";
/// Path of the decision record (or `--decision`).
pub(crate) const ENV_DECISION_FILE: &str = "CTO_HARNESS_CASE_DECISION_FILE";
/// Optional secret for the local provider; never leaves the harness process.
pub(crate) const ENV_LOCAL_API_KEY: &str = "CTO_HARNESS_CASE_LOCAL_API_KEY";

/// Prefix of every variable the harness owns.
pub(crate) const ENV_PREFIX: &str = "CTO_HARNESS_CASE_";

/// Every `CTO_HARNESS_CASE_*` variable the harness understands.
pub const KNOWN_VARIABLES: &[&str] = &[
    ENV_ADMISSION_FILE,
    ENV_LOCAL_BASE_URL,
    ENV_DECISION_FILE,
    ENV_LOCAL_API_KEY,
];

/// Environment variables a Case process inherits from the harness (everything else is
/// cleared). Their values are checked by the `external_fallback_configured` gate.
pub(crate) const CASE_PASSTHROUGH_VARIABLES: &[&str] = &[
    "PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM",
];

/// The process environment, read once (by `cli::main`, the only `std::env::vars_os` call of
/// the harness side) and handed down: every later question about a variable is asked of this
/// snapshot, so two parts of one invocation cannot see two environments.
///
/// Its `Debug` shows how many variables it holds, never a value: the values may be secrets.
#[derive(Clone, Default)]
pub(crate) struct Environment {
    vars: Vec<(OsString, OsString)>,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Environment {{ {} variables }}", self.vars.len())
    }
}

impl Environment {
    /// Reads the process environment.
    pub(crate) fn capture() -> Self {
        Self {
            vars: std::env::vars_os().collect(),
        }
    }

    /// A variable's raw value, as `std::env::var_os` would give it.
    pub(crate) fn var_os(&self, name: &str) -> Option<&OsStr> {
        self.vars
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_os_str())
    }

    /// Sets `name` in this snapshot only (the process environment is not touched): how
    /// `evidence` hands its sampling pin to the acceptance suite it runs.
    pub(crate) fn set(&mut self, name: &str, value: impl Into<OsString>) {
        self.vars.push((name.into(), value.into()));
    }

    /// A variable's value when it is Unicode, as `std::env::var(..).ok()` would give it.
    pub(crate) fn var(&self, name: &str) -> Option<String> {
        self.var_os(name)?.to_str().map(str::to_owned)
    }

    /// The harness's configuration: the variables it reads, judged by nobody yet.
    pub(crate) fn config(&self) -> HarnessConfig {
        let mut config = HarnessConfig::from_vars(self.vars.iter().filter_map(|(name, value)| {
            // A name or value that is not UTF-8 is kept lossily: it can still be judged
            // (and refused), never silently dropped.
            Some((name.to_str()?.to_owned(), value.to_string_lossy().into_owned()))
        }));
        config.home = self.var_os("HOME").map(PathBuf::from);
        config.xdg_config_home = self.var_os("XDG_CONFIG_HOME").map(PathBuf::from);
        config.variable_names = self
            .vars
            .iter()
            .filter_map(|(name, _)| name.to_str().map(str::to_owned))
            .collect();
        config
    }
}

/// What the environment (and flags) configure for one harness invocation.
#[derive(Debug, Clone, Default)]
pub(crate) struct HarnessConfig {
    /// `CTO_HARNESS_CASE_DECISION_FILE` or `--decision`.
    pub decision_file: Option<PathBuf>,
    /// `CTO_HARNESS_CASE_MODEL_ADMISSION_FILE`.
    pub admission_file: Option<PathBuf>,
    /// `CTO_HARNESS_CASE_LOCAL_BASE_URL`, verbatim.
    pub local_base_url: Option<String>,
    /// `CTO_HARNESS_CASE_LOCAL_API_KEY`, if set and non-empty.
    pub local_api_key: Option<SecretValue>,
    /// `CTO_HARNESS_CASE_*` variables set but not understood (names only).
    pub unknown_variables: Vec<String>,
    /// Variables that look like `CTO_HARNESS_CASE_*` but are not spelled that way (another
    /// letter case, a misspelled prefix): never read, so they are warned about (names only).
    pub near_miss_variables: Vec<String>,
    /// Variables (name, value) a Case process would inherit; see [`CASE_PASSTHROUGH_VARIABLES`].
    pub case_passthrough: Vec<(String, String)>,
    /// `CASE_HARNESS_SIGNING_KEY`: the private key evidence is signed with (never passed to
    /// Case; see [`HarnessConfig::signing_key_dir`]).
    pub signing_key: Option<PathBuf>,
    /// `HOME` as set (the invoking user's, whose credential places Case must not see).
    pub home: Option<PathBuf>,
    /// `XDG_CONFIG_HOME` as set (where the default signing-key folder is).
    pub xdg_config_home: Option<PathBuf>,
    /// The name of every variable set (the ones Case does not inherit are recorded by name).
    pub variable_names: Vec<String>,
}

impl HarnessConfig {
    /// Reads an explicit set of variables (for tests and embedding).
    pub(crate) fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut config = HarnessConfig::default();
        for (name, value) in vars {
            let set = !value.is_empty();
            match name.as_str() {
                ENV_DECISION_FILE if set => config.decision_file = Some(PathBuf::from(value)),
                ENV_ADMISSION_FILE if set => config.admission_file = Some(PathBuf::from(value)),
                ENV_LOCAL_BASE_URL if set => config.local_base_url = Some(value),
                ENV_LOCAL_API_KEY if set => config.local_api_key = Some(SecretValue::new(value)),
                crate::signing::ENV_SIGNING_KEY if set => config.signing_key = Some(PathBuf::from(value)),
                _ if KNOWN_VARIABLES.contains(&name.as_str()) => {}
                _ if name.starts_with(ENV_PREFIX) => config.unknown_variables.push(name),
                _ if looks_like_ours(&name) => config.near_miss_variables.push(name),
                _ if CASE_PASSTHROUGH_VARIABLES.contains(&name.as_str()) => config.case_passthrough.push((name, value)),
                _ => {}
            }
        }
        config.unknown_variables.sort();
        config.near_miss_variables.sort();
        config.case_passthrough.sort();
        config
    }

    /// The folder holding the signing key, for a sandbox to hide from Case: a Case that can
    /// read the key could sign a forged run. Absolute, symlinks resolved where possible.
    pub(crate) fn signing_key_dir(&self) -> Option<PathBuf> {
        let key = self.signing_key.as_ref()?;
        let key = std::fs::canonicalize(key)
            .or_else(|_| std::path::absolute(key))
            .unwrap_or_else(|_| key.clone());
        key.parent().map(std::path::Path::to_path_buf)
    }

    /// The folder `keygen` writes to by default, which every run hides from Case.
    pub(crate) fn default_key_dir(&self) -> Option<PathBuf> {
        crate::signing::key_dir_in(self.xdg_config_home.clone(), self.home.clone())
    }

    /// One warning per near-miss variable, saying what it is not.
    pub(crate) fn warnings(&self) -> Vec<String> {
        self.near_miss_variables
            .iter()
            .map(|name| {
                format!(
                    "environment variable {name} is not read: the harness reads only {} (names are case-sensitive)",
                    KNOWN_VARIABLES.join(", ")
                )
            })
            .collect()
    }

    /// Overrides the admission file with an `--admission` flag, when given.
    pub(crate) fn with_admission_flag(mut self, flag: Option<PathBuf>) -> Self {
        if flag.is_some() {
            self.admission_file = flag;
        }
        self
    }

    /// Overrides the decision file with a `--decision` flag, when given.
    pub(crate) fn with_decision_flag(mut self, flag: Option<PathBuf>) -> Self {
        if flag.is_some() {
            self.decision_file = flag;
        }
        self
    }
}

/// A name that is probably meant as one of ours: `CTO_HARNESS_CASE_` in another letter
/// case, or a `CTO_HARNESS` prefix spelled differently (`CTO_HARNESS_LOCAL_BASE_URL`).
fn looks_like_ours(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let squashed: String = upper.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    upper.starts_with(ENV_PREFIX) || squashed.starts_with("CTOHARNESS") || squashed.starts_with("CTOHARNES")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HarnessConfig {
        HarnessConfig::from_vars(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())))
    }

    #[test]
    fn empty_counts_as_unset() {
        let config = vars(&[
            (ENV_ADMISSION_FILE, ""),
            (ENV_LOCAL_BASE_URL, ""),
            (ENV_LOCAL_API_KEY, ""),
        ]);
        assert!(config.admission_file.is_none());
        assert!(config.local_base_url.is_none());
        assert!(config.local_api_key.is_none());
    }

    #[test]
    fn unknown_harness_variables_are_kept_by_name() {
        let config = vars(&[
            ("CTO_HARNESS_CASE_LOCAL_BASEURL", "http://127.0.0.1:1/v1"),
            ("OTHER", "x"),
        ]);
        assert_eq!(config.unknown_variables, vec!["CTO_HARNESS_CASE_LOCAL_BASEURL"]);
    }

    #[test]
    fn flag_overrides_variable() {
        let config =
            vars(&[(ENV_DECISION_FILE, "from-env.json")]).with_decision_flag(Some(PathBuf::from("from-flag.json")));
        assert_eq!(config.decision_file, Some(PathBuf::from("from-flag.json")));
        let config = vars(&[(ENV_ADMISSION_FILE, "from-env.json")])
            .with_admission_flag(Some(PathBuf::from("admission-flag.json")))
            .with_admission_flag(None);
        assert_eq!(config.admission_file, Some(PathBuf::from("admission-flag.json")));
    }

    #[test]
    fn the_signing_key_and_its_folder_are_exposed_for_confinement() {
        let config = vars(&[(crate::signing::ENV_SIGNING_KEY, "/keys/ci/signing.key")]);
        assert_eq!(config.signing_key, Some(PathBuf::from("/keys/ci/signing.key")));
        assert_eq!(config.signing_key_dir(), Some(PathBuf::from("/keys/ci")));
        assert!(config.unknown_variables.is_empty());
        assert_eq!(vars(&[]).signing_key_dir(), None);
    }

    #[test]
    fn the_snapshot_answers_like_the_process_environment() {
        let environment = Environment {
            vars: vec![
                (OsString::from("HOME"), OsString::from("/home/u")),
                (
                    OsString::from(ENV_LOCAL_BASE_URL),
                    OsString::from("http://127.0.0.1:1/v1"),
                ),
                (OsString::from("XDG_CONFIG_HOME"), OsString::from("/xdg")),
            ],
        };
        assert_eq!(environment.var("HOME").as_deref(), Some("/home/u"));
        assert_eq!(environment.var("UNSET"), None);
        let config = environment.config();
        assert_eq!(config.local_base_url.as_deref(), Some("http://127.0.0.1:1/v1"));
        assert_eq!(config.home, Some(PathBuf::from("/home/u")));
        assert_eq!(config.variable_names.len(), 3);
        assert_eq!(config.default_key_dir(), Some(PathBuf::from("/xdg/case-harness/keys")));
    }

    /// The environment is read once: outside this module only the places that run in another
    /// process or role (the `__sandbox` child, the public key-folder API) read `std::env`; the
    /// acceptance plugin takes its snapshot when a suite is made. A new read anywhere else
    /// fails here, by name.
    #[test]
    fn no_other_module_reads_the_environment() {
        const ALLOWED: &[&str] = &["config.rs", "sandbox/inside.rs", "signing.rs"];
        fn visit(dir: &std::path::Path, root: &std::path::Path, found: &mut Vec<String>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .expect("src/ is readable")
                .map(|entry| entry.expect("directory entry").path())
                .collect();
            entries.sort();
            for path in entries {
                let relative = path.strip_prefix(root).expect("under src").display().to_string();
                if path.is_dir() {
                    visit(&path, root, found);
                } else if path.extension().is_some_and(|ext| ext == "rs")
                    && !ALLOWED.iter().any(|allowed| relative.starts_with(allowed))
                {
                    let text = std::fs::read_to_string(&path).expect("source is UTF-8");
                    for (index, line) in text.lines().enumerate() {
                        let code = line.split("//").next().unwrap_or_default();
                        if code.contains("env::var") {
                            found.push(format!("src/{relative}:{}: {}", index + 1, line.trim()));
                        }
                    }
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        visit(&root, &root, &mut found);
        assert!(
            found.is_empty(),
            "read the variable from `config::Environment` (captured once in cli) instead:\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn secret_is_not_in_debug_output() {
        let config = vars(&[(ENV_LOCAL_API_KEY, "canary-secret-77")]);
        assert!(!format!("{config:?}").contains("canary-secret-77"));
    }

    /// Red-team low finding: a lower-case or misspelled variable is not silently ignored.
    #[test]
    fn near_miss_variable_names_are_warned_about() {
        let config = vars(&[
            ("cto_harness_case_local_base_url", "http://127.0.0.1:1/v1"),
            ("CTO_HARNES_CASE_DECISION_FILE", "d.json"),
            ("CTO-HARNESS-CASE-LOCAL-API-KEY", "k"),
            ("PATH", "/bin"),
        ]);
        assert_eq!(config.local_base_url, None);
        assert_eq!(config.warnings().len(), 3, "{:?}", config.warnings());
        assert!(config.warnings()[0].contains("is not read"));
    }
}
