//! Codex CLI's command line, judged by what it configures.
//!
//! Codex (0.169.0) picks its model and provider from flags the generic rule does not read:
//! `-m/--model`, `--oss` and `--local-provider` (its built-in Ollama or LM Studio provider,
//! model `gpt-oss:20b`), `-p/--profile` (a `$CODEX_HOME/<name>.config.toml` layered on top),
//! and `-c/--config key=value` (TOML) for `model`, `model_provider`, `model_providers.<id>` and
//! `profiles.<name>.…`. From the first argument (or `sh -c` word) that runs Codex (`codex`, or
//! the wrapper `codex-case.py`), those count: a model other than the admitted one, a provider
//! this command line does not define (Codex's built-ins `openai`, `ollama`, `lmstudio` and `oss`
//! included), a provider definition without a loopback `base_url`, and any profile (its file is
//! not on the command line, and the run's `CODEX_HOME` starts empty). The wrapper's own
//! provider, `case`, is the one name allowed without a definition here: the wrapper writes it
//! into the run's config from Case's environment.

use super::{is_loopback_host, is_variable, non_loopback_url, shown_value, trim_shell};

/// Codex's built-in providers: none of them is the adapter (`openai` is OpenAI's API, the
/// others are Ollama and LM Studio on their own ports).
const BUILT_IN_PROVIDERS: &[&str] = &["openai", "ollama", "lmstudio", "oss"];

/// The provider `scripts/codex-case.py` defines in the run's `config.toml`.
pub(super) const WRAPPER_PROVIDER: &str = "case";

/// Whether `word` runs Codex: the program `codex` (any folder) or the wrapper `codex-case.py`.
pub(super) fn runs_codex(word: &str) -> bool {
    let name = word.rsplit('/').next().unwrap_or(word);
    name == "codex" || name == "codex-case.py"
}

/// What one Codex command line is judged against.
pub(super) struct CodexJudge<'a> {
    pub(super) admitted_model: Option<&'a str>,
    /// Provider ids some `model_providers.<id>` key on the command line defines.
    pub(super) defined_providers: Vec<String>,
}

impl CodexJudge<'_> {
    /// The provider ids that `model_providers.<id>…` keys anywhere in `command` define.
    pub(super) fn defined_providers(command: &[String]) -> Vec<String> {
        let mut ids = Vec::new();
        for arg in command {
            let mut rest = arg.as_str();
            while let Some(at) = rest.find("model_providers.") {
                rest = &rest[at + "model_providers.".len()..];
                let id: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
                    .collect();
                if !id.is_empty() && !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }

    /// Judges a whole argument that is the value of the flag `previous` (the last word of the
    /// argument before it): `-c 'model_providers.x={ base_url = "…" }'` keeps its spaces.
    pub(super) fn argument(&self, arg: &str, previous: Option<&str>, found: &mut Vec<String>) {
        let value = trim_shell(arg.trim());
        match previous {
            Some("-c" | "--config") => self.config(value, found),
            Some("-m" | "--model") => {
                let first = arg.split_whitespace().next().map(trim_shell).unwrap_or_default();
                self.model("-m/--model", first, previous == Some("--model"), found);
            }
            Some("-p" | "--profile") if !value.is_empty() && !value.starts_with('-') => {
                found.push(profile_finding(value))
            }
            _ => {}
        }
    }

    /// Judges one word of an argument; `previous` is the word before it in the same argument.
    pub(super) fn word(&self, word: &str, previous: Option<&str>, found: &mut Vec<String>) {
        if word == "--oss" {
            found.push(
                "sets Codex's --oss: its built-in open-source provider (Ollama or LM Studio on their \
                 own ports, model gpt-oss:20b), not the adapter"
                    .to_owned(),
            );
        } else if word == "--local-provider" || word.starts_with("--local-provider=") {
            found.push("sets Codex's --local-provider (Ollama or LM Studio), not the adapter".to_owned());
        } else if let Some(name) = word.strip_prefix("--profile=") {
            found.push(profile_finding(trim_shell(name)));
        } else if let Some(model) = word.strip_prefix("--model=") {
            self.model("--model", trim_shell(model), true, found);
        } else if let Some(setting) = word.strip_prefix("--config=") {
            self.config(trim_shell(setting), found);
        }
        if let Some(previous) = previous {
            self.argument(word, Some(previous), found);
        }
    }

    /// `-m VALUE`: only the admitted model (or a variable such as `$CASE_MODEL`).
    fn model(&self, flag: &str, value: &str, generic_flag: bool, found: &mut Vec<String>) {
        if value.is_empty() || value.starts_with('-') || is_variable(value) {
            return;
        }
        // `--model claude-…` is already reported by the generic model-flag rule.
        if generic_flag && crate::external_names::external_reference(value).is_some() {
            return;
        }
        match self.admitted_model {
            Some(admitted) if admitted == value => {}
            Some(admitted) => found.push(format!(
                "sets Codex's model ({flag}) to {}: a Case may use only the admitted model {admitted:?}",
                shown_value(value)
            )),
            None => {
                if let Some(name) = crate::external_names::external_reference(value) {
                    found.push(format!("sets Codex's model ({flag}) to a model naming `{name}`"));
                }
            }
        }
    }

    /// `-c key=value`: what the key configures.
    fn config(&self, setting: &str, found: &mut Vec<String>) {
        let Some((key, value)) = setting.split_once('=') else {
            return;
        };
        let key = trim_shell(key.trim());
        let value = trim_shell(value.trim());
        let last = key.rsplit('.').next().unwrap_or(key);
        if key == "profile" {
            found.push(profile_finding(value));
        } else if key == "oss_provider" {
            found.push("sets Codex's oss_provider (Ollama or LM Studio), not the adapter".to_owned());
        } else if let Some(provider) = key.strip_prefix("model_providers.") {
            self.provider_definition(provider, value, found);
        } else if last == "model" && (key == "model" || key.starts_with("profiles.")) {
            self.model(&format!("-c {key}"), value, false, found);
        } else if last == "model_provider" && (key == "model_provider" || key.starts_with("profiles.")) {
            self.provider_choice(key, value, found);
        }
    }

    /// `-c model_provider=ID`: a provider this command line defines, or the wrapper's.
    fn provider_choice(&self, key: &str, id: &str, found: &mut Vec<String>) {
        if is_variable(id) {
            return;
        }
        let lower = id.to_ascii_lowercase();
        if BUILT_IN_PROVIDERS.contains(&lower.as_str()) || super::hosted_provider(id).is_some() {
            found.push(format!(
                "sets Codex's {key} to its built-in provider {}, not the adapter",
                shown_value(id)
            ));
        } else if id != WRAPPER_PROVIDER && !self.defined_providers.iter().any(|defined| defined == id) {
            found.push(format!(
                "sets Codex's {key} to {}, a provider this command line does not define \
                 (define it with -c model_providers.{}.base_url=<the adapter's loopback URL>)",
                shown_value(id),
                shown_value(id).trim_matches('"'),
            ));
        }
    }

    /// `-c model_providers.ID.base_url=URL` or `-c 'model_providers.ID={ base_url = "…", … }'`:
    /// the endpoint must be loopback (or a variable); a whole definition must name one.
    fn provider_definition(&self, rest: &str, value: &str, found: &mut Vec<String>) {
        let (id, field) = rest.split_once('.').unwrap_or((rest, ""));
        let base_url = match field {
            "base_url" => Some(value.to_owned()),
            "" => inline_table_base_url(value),
            _ => return,
        };
        let Some(base_url) = base_url else {
            found.push(format!(
                "defines the Codex provider {} without a base_url (Codex would use OpenAI's)",
                shown_value(id)
            ));
            return;
        };
        let base_url = trim_shell(base_url.trim());
        if is_variable(base_url) {
            return;
        }
        let loopback = match url::Url::parse(base_url) {
            Ok(url) => non_loopback_url(base_url).is_none() && url.host().is_some(),
            Err(_) => is_loopback_host(base_url.split([':', '/']).next().unwrap_or(base_url)),
        };
        if !loopback {
            let shown = url::Url::parse(base_url)
                .ok()
                .and_then(|url| url.host_str().map(|host| format!("{}://{host}", url.scheme())))
                .unwrap_or_else(|| "(a value not shown)".to_owned());
            found.push(format!(
                "sets the base_url of the Codex provider {} to the non-loopback endpoint {shown}",
                shown_value(id)
            ));
        }
    }
}

/// The `base_url` value of a TOML inline table `{ name = "x", base_url = "http://…" }`.
fn inline_table_base_url(table: &str) -> Option<String> {
    let at = table.find("base_url")?;
    let rest = table[at + "base_url".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    let inner = &rest[1..];
    inner.find(quote).map(|end| inner[..end].to_owned())
}

fn profile_finding(name: &str) -> String {
    format!(
        "selects the Codex profile {} (a configuration file the gate cannot see; the run's \
         CODEX_HOME starts empty)",
        shown_value(name)
    )
}

#[cfg(test)]
mod tests {
    const CODEX: &str = "/cache/codex-0.169.0/node_modules/@openai/codex-linux-x64/vendor/x/bin/codex";

    fn judged(args: &[&str]) -> Vec<String> {
        let command: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        super::super::external_configuration(&command, Some("smollm2-135m-instruct"))
            .into_iter()
            .map(|finding| finding.0)
            .collect()
    }

    fn assert_blocked(args: &[&str], expected: &str) {
        let found = judged(args);
        assert!(
            found.iter().any(|finding| finding.contains(expected)),
            "{args:?}: expected {expected:?} in {found:?}"
        );
    }

    #[test]
    fn the_wrappers_and_a_local_configuration_pass() {
        let local = r#"model_providers.local={ name = "local", base_url = "http://127.0.0.1:8080/v1", env_key = "CASE_API_KEY", wire_api = "responses" }"#;
        for command in [
            &["python3", "scripts/codex-case.py", "--codex", CODEX][..],
            &[
                "python3",
                "scripts/codex-case.py",
                "--codex",
                CODEX,
                "--",
                "-m",
                "smollm2-135m-instruct",
            ],
            &[CODEX, "exec", "--skip-git-repo-check", "-m", "$CASE_MODEL", "hi"],
            &[
                CODEX,
                "exec",
                "-m",
                "smollm2-135m-instruct",
                "--model=smollm2-135m-instruct",
                "hi",
            ],
            &[
                CODEX,
                "exec",
                "-c",
                "model_provider=case",
                "-c",
                "model=\"$CASE_MODEL\"",
                "hi",
            ],
            &[CODEX, "exec", "-c", "model_provider=local", "-c", local, "hi"],
            &[
                CODEX,
                "exec",
                "-c",
                "model_provider=\"local\"",
                "-c",
                "model_providers.local.base_url=\"http://[::1]:9/v1\"",
                "-c",
                "model_providers.local.wire_api=\"responses\"",
                "hi",
            ],
            &[
                CODEX,
                "exec",
                "--sandbox",
                "danger-full-access",
                "-c",
                "model_reasoning_effort=low",
                "hi",
            ],
            &[CODEX, "exec", "-c", "model_providers.x.base_url=$CASE_BASE_URL", "hi"],
            // Before Codex runs, `-m` and `-p` are someone else's flags.
            &["python3", "-m", "anthropic_case"],
            &["sh", "-c", "python3 -m gpt_case -p x"],
        ] {
            assert_eq!(judged(command), Vec::<String>::new(), "{command:?}");
        }
    }

    #[test]
    fn a_foreign_model_blocks() {
        assert_blocked(
            &[CODEX, "exec", "-m", "gpt-5-codex", "hi"],
            "argument 3 sets Codex's model (-m/--model) to \"gpt-5-codex\"",
        );
        assert_blocked(&[CODEX, "exec", "--model", "gpt-5-codex"], "to \"gpt-5-codex\"");
        assert_blocked(&[CODEX, "exec", "--model=o3"], "sets Codex's model (--model) to \"o3\"");
        assert_blocked(
            &[CODEX, "exec", "-c", "model=\"gpt-5-codex\""],
            "sets Codex's model (-c model) to \"gpt-5-codex\"",
        );
        assert_blocked(&[CODEX, "exec", "--config=model=o4-mini"], "(-c model) to \"o4-mini\"");
        assert_blocked(
            &[CODEX, "exec", "-c", "profiles.fast.model=gpt-5"],
            "(-c profiles.fast.model)",
        );
        assert_blocked(
            &[
                "python3",
                "scripts/codex-case.py",
                "--codex",
                CODEX,
                "--",
                "-m",
                "gpt-5-codex",
            ],
            "argument 6 sets Codex's model",
        );
        assert_blocked(
            &["sh", "-c", "exec codex exec -m gpt-5-codex hi"],
            "argument 2 sets Codex's model",
        );
        assert_blocked(
            &[CODEX, "exec", "--model", "claude-sonnet-4-6"],
            "sets --model to \"claude-sonnet-4-6\"",
        );
    }

    #[test]
    fn a_provider_that_is_not_the_adapter_blocks() {
        assert_blocked(&[CODEX, "exec", "--oss", "hi"], "argument 2 sets Codex's --oss");
        assert_blocked(&[CODEX, "exec", "--local-provider", "ollama"], "--local-provider");
        assert_blocked(
            &[CODEX, "exec", "-c", "model_provider=openai"],
            "its built-in provider \"openai\"",
        );
        assert_blocked(
            &[CODEX, "exec", "-c", "model_provider=\"ollama\""],
            "built-in provider \"ollama\"",
        );
        assert_blocked(
            &[CODEX, "exec", "-c", "model_provider=azure"],
            "built-in provider \"azure\"",
        );
        assert_blocked(
            &[CODEX, "exec", "-c", "model_provider=elsewhere"],
            "a provider this command line does not define",
        );
        assert_blocked(&[CODEX, "exec", "-c", "oss_provider=lmstudio"], "oss_provider");
        assert_blocked(
            &[CODEX, "exec", "-c", "profiles.p.model_provider=openai"],
            "built-in provider \"openai\"",
        );
        for profile in [
            &["-p", "work"][..],
            &["--profile", "work"],
            &["--profile=work"],
            &["-c", "profile=work"],
        ] {
            let mut command = vec![CODEX, "exec"];
            command.extend_from_slice(profile);
            assert_blocked(&command, "selects the Codex profile \"work\"");
        }
    }

    #[test]
    fn a_provider_base_url_off_loopback_blocks() {
        assert_blocked(
            &[
                CODEX,
                "exec",
                "-c",
                "model_provider=x",
                "-c",
                "model_providers.x.base_url=\"https://api.openai.com/v1\"",
            ],
            "base_url of the Codex provider \"x\" to the non-loopback endpoint https://api.openai.com",
        );
        assert_blocked(
            &[
                CODEX,
                "exec",
                "-c",
                r#"model_providers.x={ name = "x", base_url = "http://10.1.2.3:8080/v1" }"#,
            ],
            "non-loopback endpoint http://10.1.2.3",
        );
        assert_blocked(
            &[CODEX, "exec", "-c", "model_providers.x.base_url=api.example.com:443"],
            "non-loopback endpoint (a value not shown)",
        );
        assert_blocked(
            &[
                CODEX,
                "exec",
                "-c",
                r#"model_providers.x={ name = "x", wire_api = "responses" }"#,
            ],
            "without a base_url",
        );
    }

    #[test]
    fn assigning_a_codex_variable_blocks() {
        assert_blocked(
            &["env", "CODEX_HOME=/home/me/.codex", CODEX, "exec", "hi"],
            "assigns CODEX_HOME",
        );
        assert_blocked(&["sh", "-c", "CODEX_API_KEY=x codex exec hi"], "assigns CODEX_API_KEY");
        let found = judged(&["env", "CODEX_HOME=/home/sekrit/.codex", CODEX]).join("\n");
        assert!(!found.contains("sekrit"), "{found}");
    }
}
