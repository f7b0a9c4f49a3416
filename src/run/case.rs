//! Case's part of a run: its folders, logs and contract, the sandbox (or, when allowed, no
//! sandbox) with the adapter inside its reach, and what is left once it has ended.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::error::{RunError, trace_event};
use super::options::RunOptions;
use super::paths::{give_to_case, hidden_from_case};
use crate::adapter::{self, AdapterConfig, AdapterHandle};
use crate::case_home::CaseHome;
use crate::case_logs::{CapturedLog, CaseLogs};
use crate::case_process::{self, CaseContract, CaseError, CaseExit, CaseLaunch, SecretOrPlain};
use crate::config::HarnessConfig;
use crate::evidence::{self, names};
use crate::output::{CaseSummary, Isolation, NoIsolation};
use crate::sandbox::{Sandbox, SandboxError, SandboxSpec};
use crate::secrets::{SecretScanner, SecretValue};
use crate::trace::{Trace, TraceEvent};

/// What Case's run gave the observations.
pub(super) struct CaseRun {
    pub(super) summary: CaseSummary,
    pub(super) isolation: Isolation,
    pub(super) home: crate::output::CaseHomeFacts,
    /// What the adapter counted in memory.
    pub(super) totals: crate::adapter::LedgerTotals,
    /// How the adapter served the Anthropic routes.
    pub(super) mode: crate::adapter::AdapterMode,
    /// Case's stdout and stderr as captured (the bytes past the cap were scanned on the way).
    pub(super) logs: Vec<CapturedLog>,
    pub(super) errors: Vec<String>,
}

/// Case's folders and logs in the run folder, made before Case starts.
struct CaseFolders {
    output_dir: PathBuf,
    home_dir: PathBuf,
    home: CaseHome,
    stdout_log: PathBuf,
    stderr_log: PathBuf,
    logs: CaseLogs,
}

impl CaseFolders {
    fn prepare(out: &Path, options: &RunOptions, scanner: &Arc<SecretScanner>) -> Result<Self, RunError> {
        let output_dir = out.join(names::CASE_OUTPUT);
        let home_dir = out.join(crate::case_home::CASE_HOME);
        std::fs::create_dir_all(&output_dir).map_err(crate::path_io::at(&output_dir))?;
        let home = CaseHome::prepare(out, options.keep_home).map_err(crate::path_io::at(&home_dir))?;
        let (stdout_log, stderr_log) = (out.join(names::STDOUT), out.join(names::STDERR));
        let logs = CaseLogs::start(&stdout_log, &stderr_log, scanner.clone())?;
        Ok(Self {
            output_dir,
            home_dir,
            home,
            stdout_log,
            stderr_log,
            logs,
        })
    }

    /// The contract Case is handed, for an adapter at `adapter_addr`.
    fn contract(&self, out: &Path, model: String, token: SecretValue, adapter_addr: SocketAddr) -> CaseContract {
        CaseContract {
            adapter_addr,
            model,
            token,
            config_file: out.join(names::CASE_CONFIG),
            task_file: out.join(names::TASK),
            output_dir: self.output_dir.clone(),
            home_variables: self.home.variables(),
        }
    }

    fn launch<'a>(
        &'a self,
        options: &RunOptions,
        case_command: &'a [String],
        env: &'a [(String, SecretOrPlain)],
    ) -> CaseLaunch<'a> {
        CaseLaunch {
            command: case_command,
            env,
            // Not the run folder: Case has no business next to the trace and the ledger.
            working_dir: &self.output_dir,
            logs: &self.logs,
            timeout: options.timeout,
        }
    }
}

/// Everything the confined Case is started with.
struct Confinement {
    contract: CaseContract,
    env: Vec<(String, SecretOrPlain)>,
    writable: Vec<PathBuf>,
    hidden: Vec<PathBuf>,
}

/// Confined: the adapter's address is fixed inside Case's own network namespace; Case may
/// write its output and home (and `--writable`), and owns them.
fn confinement(
    out: &Path,
    options: &RunOptions,
    config: &HarnessConfig,
    folders: &CaseFolders,
    adapter: &AdapterConfig,
) -> Result<Confinement, RunError> {
    let contract = folders.contract(
        out,
        adapter.model.clone(),
        adapter.case_token.clone(),
        SocketAddr::from((Ipv4Addr::LOCALHOST, crate::sandbox::ADAPTER_PORT)),
    );
    let env = case_process::case_environment(&contract, &config.case_passthrough);
    let writable: Vec<PathBuf> = [folders.output_dir.clone(), folders.home_dir.clone()]
        .into_iter()
        .chain(options.writable_paths.iter().cloned())
        .collect();
    let hidden = hidden_from_case(options, config);
    if !options
        .without_layers
        .contains(&crate::sandbox::Layer::UnprivilegedUser)
    {
        let mut owned = vec![folders.output_dir.as_path(), folders.home_dir.as_path()];
        owned.extend(folders.home.agent_folders());
        give_to_case(&owned)?;
    }
    Ok(Confinement {
        contract,
        env,
        writable,
        hidden,
    })
}

/// Case from start to end: confined, or unconfined when the kernel refuses and that is allowed.
pub(super) async fn run_case(
    out: &Path,
    options: &RunOptions,
    case_command: &[String],
    config: &HarnessConfig,
    adapter: AdapterConfig,
    scanner: &Arc<SecretScanner>,
) -> Result<CaseRun, RunError> {
    let trace = adapter.trace.clone();
    let folders = CaseFolders::prepare(out, options, scanner)?;
    let confinement = confinement(out, options, config, &folders, &adapter)?;
    let spec = SandboxSpec {
        run_dir: out,
        writable: confinement.writable.clone(),
        hidden: confinement.hidden.clone(),
        bounds: options.bounds,
        without: options.without_layers.clone(),
        working_dir: &folders.output_dir,
        command: case_command,
        env: case_process::exposed(&confinement.env),
        stdout: folders.logs.stdout().map_err(crate::path_io::at(&folders.stdout_log))?,
        stderr: folders.logs.stderr().map_err(crate::path_io::at(&folders.stderr_log))?,
    };
    let (exit, handle, isolation) = match Sandbox::prepare(spec).await {
        Ok((mut sandbox, listener)) => {
            let handle = adapter::start_on(adapter, listener).await.map_err(RunError::Adapter)?;
            write_case_config(&confinement.contract, options.timeout)?;
            let isolation = crate::sandbox::confined_isolation(
                sandbox.layers(),
                &confinement.writable,
                &confinement.hidden,
                options.bounds,
            );
            trace_isolation(&trace, &isolation)?;
            let launch = folders.launch(options, case_command, &confinement.env);
            let exit = case_process::run_in_sandbox(&launch, &mut sandbox, &trace).await;
            (exit, handle, isolation)
        }
        Err(SandboxError::Unavailable { reason }) if options.allow_unconfined => {
            run_unconfined(out, options, case_command, config, &folders, adapter, &reason).await?
        }
        Err(err) => return Err(err.into()),
    };
    // The adapter traces adapter_started/adapter_stopped itself.
    let mode = handle.mode();
    let totals = handle.shutdown().await;
    let home = folders.home.facts();
    let (summary, logs, errors) = case_ended(out, case_command, folders.logs, exit).await;
    Ok(CaseRun {
        home,
        summary,
        isolation,
        totals,
        mode,
        logs,
        errors,
    })
}

/// `--allow-unconfined` and a kernel that refuses the namespaces: Case runs as the harness's
/// user, with an adapter on an ephemeral loopback port, and the report says `isolation: none`.
async fn run_unconfined(
    out: &Path,
    options: &RunOptions,
    case_command: &[String],
    config: &HarnessConfig,
    folders: &CaseFolders,
    adapter: AdapterConfig,
    reason: &str,
) -> Result<(Result<CaseExit, CaseError>, AdapterHandle, Isolation), RunError> {
    eprintln!("case-harness: warning: Case runs UNCONFINED (--allow-unconfined): {reason}");
    if !options.hidden_paths.is_empty() {
        eprintln!("case-harness: warning: --hide cannot hide anything from an unconfined Case");
    }
    let trace = adapter.trace.clone();
    let (model, token) = (adapter.model.clone(), adapter.case_token.clone());
    let handle = adapter::start(adapter, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(RunError::Adapter)?;
    let unconfined = folders.contract(out, model, token, handle.local_addr());
    write_case_config(&unconfined, options.timeout)?;
    let env = case_process::case_environment(&unconfined, &config.case_passthrough);
    let isolation = Isolation::None(NoIsolation::None);
    trace_isolation(&trace, &isolation)?;
    let exit = case_process::run(&folders.launch(options, case_command, &env), &trace).await;
    Ok((exit, handle, isolation))
}

/// Case has ended (confined: with every process of its namespace): what is left to read.
async fn case_ended(
    out: &Path,
    case_command: &[String],
    logs: CaseLogs,
    exit: Result<CaseExit, CaseError>,
) -> (CaseSummary, Vec<CapturedLog>, Vec<String>) {
    let (stdout, stderr) = logs.finish().await;
    let mut errors: Vec<String> = stdout.errors.iter().chain(&stderr.errors).cloned().collect();
    let exit = match exit {
        Ok(exit) => exit,
        Err(err) => {
            errors.push(err.to_string());
            CaseExit::never_ran()
        }
    };
    // One reader for the seal and for `verify`: they cannot disagree on what Case said.
    let verdict = match evidence::read_case_verdict(out) {
        Ok(verdict) => verdict,
        Err(err) => {
            errors.push(err);
            None
        }
    };
    let summary = CaseSummary {
        program: case_command
            .first()
            .map(|program| {
                Path::new(program)
                    .file_name()
                    .map_or_else(|| program.clone(), |name| name.to_string_lossy().into_owned())
            })
            .unwrap_or_default(),
        exit_code: exit.exit_code,
        signal: exit.signal,
        timed_out: exit.timed_out,
        duration_ms: exit.duration_ms,
        bound: exit.bound.clone(),
        verdict,
    };
    (summary, vec![stdout, stderr], errors)
}

fn trace_isolation(trace: &Trace, isolation: &Isolation) -> Result<(), RunError> {
    trace_event(
        trace,
        TraceEvent::CaseIsolation {
            isolation: isolation.clone(),
        },
    )
}

fn write_case_config(contract: &CaseContract, timeout: Duration) -> Result<(), RunError> {
    let config = serde_json::json!({
        "base_url": format!("http://{}/v1", contract.adapter_addr),
        "anthropic_base_url": format!("http://{}", contract.adapter_addr),
        "model": contract.model,
        "api_key_env": "CASE_API_KEY",
        "task_file": contract.task_file.display().to_string(),
        "output_dir": contract.output_dir.display().to_string(),
        "result_file": contract.output_dir.join("result.json").display().to_string(),
        "timeout_secs": timeout.as_secs_f64(),
    });
    let mut bytes = serde_json::to_vec_pretty(&config).map_err(evidence::EvidenceError::from)?;
    bytes.push(b'\n');
    Ok(std::fs::write(&contract.config_file, bytes).map_err(crate::path_io::at(&contract.config_file))?)
}
