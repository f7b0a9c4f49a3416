//! Starting Case: the environment it gets, the spawn, the timeout, and its output.
//!
//! Case starts with a **cleared** environment. It gets back only the passthrough allow-list
//! ([`crate::config::CASE_PASSTHROUGH_VARIABLES`]) and the Case contract variables, all of
//! which point at the adapter: the upstream secret and any inherited provider credential
//! never reach it. Variables that agents use to pick a model are set to the admitted model,
//! and telemetry/non-essential traffic is switched off, so that well-behaved agents stay on
//! the local model; everything else is caught by the adapter's model pinning.
//!
//! Confined, Case runs as PID 2 of its own namespaces ([`run_in_sandbox`], `crate::sandbox`),
//! so a timeout kills it and everything it started. Unconfined (`--allow-unconfined`), it
//! runs in its own process group ([`run`]), which a `setsid()` descendant escapes.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::external_names::SCRUBBED_PATTERNS;
use crate::secrets::SecretValue;
use crate::trace::{Trace, TraceEvent};

/// Model-selection variables that Anthropic-style agents read; each is set to the admitted model.
pub(crate) const MODEL_SELECTION_VARIABLES: &[&str] = &[
    "ANTHROPIC_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL",
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "CLAUDE_CODE_SUBAGENT_MODEL",
];

/// Variables that switch off agents' telemetry and other non-essential traffic; each set to `1`.
pub(crate) const TRAFFIC_OFF_VARIABLES: &[&str] = &[
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "DISABLE_TELEMETRY",
    "DISABLE_ERROR_REPORTING",
    "DISABLE_AUTOUPDATER",
    "DISABLE_BUG_COMMAND",
    "DISABLE_COST_WARNINGS",
    "OLLAMA_NO_CLOUD",
];

/// Everything needed to build Case's environment.
#[derive(Debug, Clone)]
pub(crate) struct CaseContract {
    /// The adapter's address, e.g. `127.0.0.1:41234`.
    pub adapter_addr: std::net::SocketAddr,
    /// The admitted model.
    pub model: String,
    /// The per-run token Case presents to the adapter.
    pub token: SecretValue,
    /// `case-config.json` in the run folder.
    pub config_file: PathBuf,
    /// `task.json` in the run folder.
    pub task_file: PathBuf,
    /// `case-output/` in the run folder.
    pub output_dir: PathBuf,
    /// Variables that give Case its home and agent configuration ([`crate::case_home`]);
    /// each replaces a passthrough variable of the same name.
    pub home_variables: Vec<(String, String)>,
}

/// Case's environment: passthrough variables plus the contract. The token is the only secret
/// in it, and it is only good for this run's adapter.
pub(crate) fn case_environment(
    contract: &CaseContract,
    passthrough: &[(String, String)],
) -> Vec<(String, SecretOrPlain)> {
    let adapter_root = format!("http://{}", contract.adapter_addr);
    let adapter_v1 = format!("{adapter_root}/v1");
    let path = |path: &Path| SecretOrPlain::Plain(path.display().to_string());
    let mut env: Vec<(String, SecretOrPlain)> = passthrough
        .iter()
        .filter(|(name, _)| !contract.home_variables.iter().any(|(home, _)| home == name))
        .map(|(name, value)| (name.clone(), SecretOrPlain::Plain(value.clone())))
        .collect();
    let plain = |value: &str| SecretOrPlain::Plain(value.to_owned());
    let token = || SecretOrPlain::Secret(contract.token.clone());
    env.extend([
        ("CASE_BASE_URL".to_owned(), plain(&adapter_v1)),
        ("CASE_MODEL".to_owned(), plain(&contract.model)),
        ("CASE_API_KEY".to_owned(), token()),
        ("CASE_CONFIG_FILE".to_owned(), path(&contract.config_file)),
        ("CASE_TASK_FILE".to_owned(), path(&contract.task_file)),
        ("CASE_OUTPUT_DIR".to_owned(), path(&contract.output_dir)),
        ("OPENAI_BASE_URL".to_owned(), plain(&adapter_v1)),
        ("OPENAI_API_KEY".to_owned(), token()),
        // Anthropic SDKs append `/v1/messages` themselves.
        ("ANTHROPIC_BASE_URL".to_owned(), plain(&adapter_root)),
        ("ANTHROPIC_AUTH_TOKEN".to_owned(), token()),
        ("ANTHROPIC_API_KEY".to_owned(), token()),
    ]);
    env.extend(
        MODEL_SELECTION_VARIABLES
            .iter()
            .map(|name| (name.to_string(), plain(&contract.model))),
    );
    env.extend(TRAFFIC_OFF_VARIABLES.iter().map(|name| (name.to_string(), plain("1"))));
    env.extend(
        contract
            .home_variables
            .iter()
            .map(|(name, value)| (name.clone(), plain(value))),
    );
    env
}

/// An environment value that may be a secret (kept out of `Debug`).
#[derive(Debug, Clone)]
pub(crate) enum SecretOrPlain {
    /// Not secret.
    Plain(String),
    /// The per-run token.
    Secret(SecretValue),
}

impl SecretOrPlain {
    fn expose(&self) -> &str {
        match self {
            SecretOrPlain::Plain(value) => value,
            SecretOrPlain::Secret(secret) => secret.expose(),
        }
    }
}

/// The environment with its values exposed, for handing to a process.
pub(crate) fn exposed(env: &[(String, SecretOrPlain)]) -> Vec<(String, String)> {
    env.iter()
        .map(|(name, value)| (name.clone(), value.expose().to_owned()))
        .collect()
}

/// Names of variables in `harness_env` that match [`SCRUBBED_PATTERNS`] (never values).
pub(crate) fn scrubbed_names(harness_env: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut names: Vec<String> = harness_env
        .into_iter()
        .filter(|name| SCRUBBED_PATTERNS.iter().any(|pattern| name.starts_with(pattern)))
        .collect();
    names.sort();
    names.dedup();
    names
}

pub(crate) use crate::output::CaseExit;

/// Why Case could not be run at all.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CaseError {
    /// The command is empty.
    #[error("no Case command given")]
    EmptyCommand,
    /// A log's write end could not be handed to Case.
    #[error("{path}: cannot hand Case its output stream: {source}")]
    Log {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The program could not be started.
    #[error("cannot start Case command `{program}`: {source}")]
    Spawn {
        /// The program (`argv[0]`).
        program: String,
        /// The error.
        source: std::io::Error,
    },
    /// Waiting failed.
    #[error("lost track of the Case process: {0}")]
    Wait(#[source] std::io::Error),
    /// The sandbox failed while Case ran, or Case could not be started inside it.
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    /// The trace could not be written (so the run cannot prove what it did).
    #[error("cannot write the trace: {0}")]
    Trace(#[source] std::io::Error),
}

/// One Case invocation.
#[derive(Debug)]
pub(crate) struct CaseLaunch<'a> {
    /// argv (program first).
    pub command: &'a [String],
    /// The full environment (see [`case_environment`]).
    pub env: &'a [(String, SecretOrPlain)],
    /// Working directory (the run folder).
    pub working_dir: &'a Path,
    /// Where Case's stdout and stderr go (capped on disk, scanned whole).
    pub logs: &'a crate::case_logs::CaseLogs,
    /// Kill after this long.
    pub timeout: Duration,
}

/// Spawns Case, writing `case_process_started` to the trace immediately before the spawn and
/// `case_process_exited` after, and waits at most `timeout`.
pub(crate) async fn run(launch: &CaseLaunch<'_>, trace: &Trace) -> Result<CaseExit, CaseError> {
    let (program, args) = launch.command.split_first().ok_or(CaseError::EmptyCommand)?;
    let log = |name: &str, end: std::io::Result<File>| {
        end.map_err(|source| CaseError::Log {
            path: PathBuf::from(name),
            source,
        })
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(launch.env.iter().map(|(name, value)| (name, value.expose())))
        .current_dir(launch.working_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log(crate::run_folder::STDOUT, launch.logs.stdout())?))
        .stderr(Stdio::from(log(crate::run_folder::STDERR, launch.logs.stderr())?))
        .process_group(0)
        .kill_on_drop(true);
    // If the harness itself dies (even by SIGKILL), the kernel kills Case too.
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl(2),
    // which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }

    trace
        .record(&TraceEvent::CaseProcessStarted {
            program: program_name(program),
            argc: launch.command.len(),
        })
        .map_err(CaseError::Trace)?;
    let started = Instant::now();
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(source) => {
            // The start is already traced: trace the end too (it never ran), so that the
            // report, which records the same empty exit, still agrees with its trace.
            let never_ran = CaseExit::never_ran();
            trace
                .record(&TraceEvent::CaseProcessExited(never_ran))
                .map_err(CaseError::Trace)?;
            return Err(CaseError::Spawn {
                program: program_name(program),
                source,
            });
        }
    };
    let group = child.id().map(|pid| pid as i32);

    // Case's whole process group dies with this guard: on every return, and when the run is
    // cancelled (an interrupt drops this future mid-wait).
    let _group = GroupGuard(group);
    let (status, timed_out) = match tokio::time::timeout(launch.timeout, child.wait()).await {
        Ok(status) => (status.map_err(CaseError::Wait)?, false),
        Err(_) => {
            kill_group(group);
            trace
                .record(&TraceEvent::CaseTimedOut {
                    timeout_ms: launch.timeout.as_millis() as u64,
                })
                .map_err(CaseError::Trace)?;
            (child.wait().await.map_err(CaseError::Wait)?, true)
        }
    };
    // Whatever Case left running in its group goes too.
    kill_group(group);

    use std::os::unix::process::ExitStatusExt;
    let exit = CaseExit {
        bound: None,
        exit_code: status.code(),
        signal: status.signal(),
        timed_out,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    trace
        .record(&TraceEvent::CaseProcessExited(exit.clone()))
        .map_err(CaseError::Trace)?;
    Ok(exit)
}

/// Like [`run`], but Case starts as PID 2 of `sandbox`'s namespaces (already prepared, with
/// its environment and logs); returns only once every process of the namespace is gone.
pub(crate) async fn run_in_sandbox(
    launch: &CaseLaunch<'_>,
    sandbox: &mut crate::sandbox::Sandbox,
    trace: &Trace,
) -> Result<CaseExit, CaseError> {
    let program = launch.command.first().ok_or(CaseError::EmptyCommand)?;
    trace
        .record(&TraceEvent::CaseProcessStarted {
            program: program_name(program),
            argc: launch.command.len(),
        })
        .map_err(CaseError::Trace)?;
    let started = Instant::now();
    let ended = match sandbox.start_case().await {
        Ok(()) => sandbox.wait(launch.timeout).await,
        Err(err) => Err(err),
    };
    let ended = match ended {
        Ok(ended) => ended,
        Err(err) => {
            // The trace says how Case ended even when it never ran, as the report will.
            let exit = CaseExit {
                exit_code: None,
                signal: None,
                timed_out: false,
                duration_ms: started.elapsed().as_millis() as u64,
                bound: None,
            };
            trace
                .record(&TraceEvent::CaseProcessExited(exit.clone()))
                .map_err(CaseError::Trace)?;
            return Err(err.into());
        }
    };
    if ended.timed_out {
        trace
            .record(&TraceEvent::CaseTimedOut {
                timeout_ms: launch.timeout.as_millis() as u64,
            })
            .map_err(CaseError::Trace)?;
    }
    let exit = CaseExit {
        exit_code: ended.exit_code,
        signal: ended.signal,
        timed_out: ended.timed_out,
        duration_ms: started.elapsed().as_millis() as u64,
        bound: ended.bound.map(|bound| bound.to_string()),
    };
    trace
        .record(&TraceEvent::CaseProcessExited(exit.clone()))
        .map_err(CaseError::Trace)?;
    Ok(exit)
}

/// The program's file name only: a full path may reveal a home folder, and arguments may
/// carry anything, so neither goes into the trace.
fn program_name(program: &str) -> String {
    Path::new(program)
        .file_name()
        .map_or_else(|| program.to_owned(), |name| name.to_string_lossy().into_owned())
}

/// Kills Case's process group when dropped.
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill_group(self.0);
    }
}

fn kill_group(group: Option<i32>) {
    if let Some(pgid) = group.filter(|pgid| *pgid > 1) {
        // SAFETY: kill(2) with a negative pid signals the process group we created for Case
        // (process_group(0) makes the child's pid its group id). It touches no memory.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> CaseContract {
        CaseContract {
            adapter_addr: "127.0.0.1:4000".parse().expect("addr"),
            model: "smollm2-135m-instruct".to_owned(),
            token: SecretValue::new("token-canary-0001".to_owned()),
            config_file: PathBuf::from("/run/case-config.json"),
            task_file: PathBuf::from("/run/task.json"),
            output_dir: PathBuf::from("/run/case-output"),
            home_variables: vec![
                ("HOME".to_owned(), "/run/case-home".to_owned()),
                ("CLAUDE_CONFIG_DIR".to_owned(), "/run/case-home/.claude".to_owned()),
            ],
        }
    }

    #[test]
    fn the_run_home_replaces_the_users_home() {
        let passthrough = [
            ("HOME".to_owned(), "/home/user".to_owned()),
            ("LANG".to_owned(), "C".to_owned()),
        ];
        let env = case_environment(&contract(), &passthrough);
        let homes: Vec<&str> = env
            .iter()
            .filter(|(n, _)| n == "HOME")
            .map(|(_, v)| v.expose())
            .collect();
        assert_eq!(homes, ["/run/case-home"]);
        assert!(env.iter().any(|(n, v)| n == "LANG" && v.expose() == "C"));
        assert!(
            env.iter()
                .any(|(n, v)| n == "CLAUDE_CONFIG_DIR" && v.expose() == "/run/case-home/.claude")
        );
    }

    #[test]
    fn base_urls_end_where_each_sdk_expects() {
        let env = case_environment(&contract(), &[]);
        let get = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.expose().to_owned());
        assert_eq!(get("CASE_BASE_URL").as_deref(), Some("http://127.0.0.1:4000/v1"));
        assert_eq!(get("OPENAI_BASE_URL").as_deref(), Some("http://127.0.0.1:4000/v1"));
        assert_eq!(get("ANTHROPIC_BASE_URL").as_deref(), Some("http://127.0.0.1:4000"));
        assert_eq!(
            get("ANTHROPIC_SMALL_FAST_MODEL").as_deref(),
            Some("smollm2-135m-instruct")
        );
        assert_eq!(get("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC").as_deref(), Some("1"));
        assert!(!format!("{env:?}").contains("token-canary-0001"));
    }

    #[test]
    fn scrubbed_lists_names_of_routing_and_credential_variables() {
        let names = scrubbed_names(
            [
                "PATH",
                "ANTHROPIC_API_KEY",
                "CLAUDE_CODE_USE_BEDROCK",
                "AWS_PROFILE",
                "HOME",
            ]
            .map(String::from),
        );
        assert_eq!(
            names,
            vec!["ANTHROPIC_API_KEY", "AWS_PROFILE", "CLAUDE_CODE_USE_BEDROCK"]
        );
    }
}
