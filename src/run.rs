//! `case-harness run`: gates → loopback adapter → Case → sealed evidence (README, "`run` and its run folder").
//!
//! The pipeline only gathers observations; the outcome is decided by [`crate::evidence`]
//! from what those observations show. Order matters and is the point of the design:
//! gates are evaluated before anything is spawned, `case_process_started` is traced
//! immediately before the spawn, and the report is sealed only after the adapter has
//! stopped and every channel has been scanned for secrets.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::adapter::{self, AdapterConfig};
use crate::case_logs::{CapturedLog, CaseLogs};
use crate::case_process::{self, CaseContract, CaseLaunch};
use crate::config::HarnessConfig;
use crate::evidence::{self, RunObservations, names};
use crate::gates::{self, GateInputs};
use crate::output::{CaseSummary, ChannelScan, EvidenceKind, FileDigest, Isolation, NoIsolation, Report};
use crate::records::{read_bounded, sha256_hex};
use crate::sandbox::{Sandbox, SandboxError, SandboxSpec};
use crate::secrets::{NamedSecret, SecretScanner, SecretValue};
use crate::trace::{Trace, TraceEvent};

/// Default `--timeout` for Case.
pub(crate) const DEFAULT_CASE_TIMEOUT: Duration = Duration::from_secs(300);

/// The hidden subcommand of this binary that runs the bundled reference Case.
pub(crate) const REFERENCE_CASE_SUBCOMMAND: &str = "reference-case";

/// What `case-harness run` was asked to do.
#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    /// The task file handed to Case.
    pub task: PathBuf,
    /// The run folder (created; must be empty if it exists).
    pub out: PathBuf,
    /// Kill Case after this long.
    pub timeout: Duration,
    /// Case command; empty means the reference Case.
    pub case_command: Vec<String>,
    /// Mark the evidence `simulated` (a fake provider); never Stage 2 evidence.
    pub simulated: bool,
    /// The planning document, hashed and scanned when given.
    pub sot: Option<PathBuf>,
    /// Bound on the `/models` probe.
    pub probe_timeout: Duration,
    /// Run Case unconfined when the kernel refuses the namespaces (the report then says
    /// `isolation: none`); without it such a run is refused.
    pub allow_unconfined: bool,
    /// Paths Case must not read (hidden inside its mount namespace), besides those every run
    /// hides (`hidden_from_case`).
    pub hidden_paths: Vec<PathBuf>,
    /// Folders Case may write besides `case-output/` and `case-home/` (`--writable`).
    pub writable_paths: Vec<PathBuf>,
    /// What Case may consume.
    pub bounds: crate::sandbox::Bounds,
    /// Layers of the confinement to leave out (`--unsafe-without-layer`, the attack tests'
    /// controls); the report lists the layers in force, and `status` counts no such run.
    pub without_layers: Vec<crate::sandbox::Layer>,
    /// Keep the user's `HOME` for Case instead of a fresh `case-home/` (the agent
    /// configuration directory stays fresh either way; see [`crate::case_home`]).
    pub keep_home: bool,
    /// Which API the upstream speaks for Case's Anthropic routes (`--upstream-api`).
    pub upstream_api: crate::adapter::UpstreamApi,
    /// The sampling pin (`--temperature`, `--seed`) the adapter sets on every forwarded
    /// generation request; empty pins nothing.
    pub sampling: crate::output::SamplingPin,
}

/// Why a run could not produce a report at all (exit 2).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    /// `--out` is unusable.
    #[error("{}: {problem}", path.display())]
    OutDir {
        /// The folder.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: OutDirProblem,
    },
    /// A `--writable` folder is unusable or would let Case reach what judges it.
    #[error("--writable {}: {problem}", path.display())]
    Writable {
        /// The folder as given.
        path: PathBuf,
        /// What is wrong with it.
        problem: WritableProblem,
    },
    /// The task gate (`task_file_invalid`) refused the task file; nothing was written.
    #[error(transparent)]
    Task(#[from] crate::task_file::TaskFileError),
    /// The SOT file could not be read.
    #[error(transparent)]
    Sot(crate::records::RecordError),
    /// Writing evidence failed.
    #[error(transparent)]
    Evidence(#[from] evidence::EvidenceError),
    /// The adapter could not start.
    #[error("cannot start the adapter: {0}")]
    Adapter(#[source] adapter::AdapterError),
    /// The secret scanner could not be built or a file could not be scanned.
    #[error(transparent)]
    Scan(#[from] crate::secrets::ScanError),
    /// This binary's own path (which runs the reference Case) is unknown.
    #[error("cannot locate this binary to run the reference Case: {0}")]
    ReferenceCase(#[source] std::io::Error),
    /// Case could not be confined (and `--allow-unconfined` was not given, or the sandbox
    /// failed in another way).
    #[error(transparent)]
    Confinement(#[from] crate::sandbox::SandboxError),
    /// The harness was interrupted; the report stays `incomplete`.
    #[error("interrupted by {signal}; the run is incomplete")]
    Interrupted {
        /// `SIGINT` or `SIGTERM`.
        signal: &'static str,
    },
    /// The signing key (`CASE_HARNESS_SIGNING_KEY`) is unusable or unsafe.
    #[error("refusing to run: {0}")]
    SigningKey(#[from] crate::signing::KeyError),
    /// The signed attestation could not be written.
    #[error("cannot sign the evidence: {0}")]
    Attestation(#[from] crate::attestation::AttestationError),
    /// Writing a run-folder file failed.
    #[error(transparent)]
    Io(#[from] crate::path_io::PathIoError),
    /// Case's stdout/stderr capture could not be set up.
    #[error(transparent)]
    CaseLogs(#[from] crate::case_logs::CaseLogError),
}

/// Why `--out` cannot hold a new run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OutDirProblem {
    /// The folder could not be created.
    #[error("cannot create: {0}")]
    Create(#[source] std::io::Error),
    /// The folder could not be listed.
    #[error("cannot read: {0}")]
    Read(#[source] std::io::Error),
    /// The folder already holds files.
    #[error("is not empty: give each run a new folder (evidence is never mixed or overwritten)")]
    NotEmpty,
    /// The folder's absolute path could not be resolved.
    #[error("cannot resolve its absolute path: {0}")]
    Resolve(#[source] std::io::Error),
}

/// The reference Case's command line: this very binary with its hidden `reference-case`
/// subcommand, so it exists wherever `case-harness` does (no second binary to build).
pub(crate) fn reference_case_command() -> Result<Vec<String>, RunError> {
    let exe = std::env::current_exe().map_err(RunError::ReferenceCase)?;
    Ok(vec![exe.display().to_string(), REFERENCE_CASE_SUBCOMMAND.to_owned()])
}

/// Runs the whole pipeline and returns the sealed report. SIGINT/SIGTERM at any point stop
/// Case's process group and leave the unsealed `incomplete` placeholder as the report.
pub(crate) async fn run(options: &RunOptions, config: &HarnessConfig) -> Result<Report, RunError> {
    // An unsafe key refuses the run before anything is written or spawned.
    let signer = match &config.signing_key {
        Some(path) => Some(crate::signing::EvidenceSigner::load(path, &options.out)?),
        None => None,
    };
    // The task gate: before the run folder exists, so a bad task leaves nothing behind.
    let task = crate::task_file::read_task_file(&options.task, options.case_command.is_empty())?;
    check_writable(options, config)?;
    let out = prepare_run_dir(&options.out)?;
    let evidence_kind = if options.simulated {
        EvidenceKind::Simulated
    } else {
        EvidenceKind::RealStage2
    };
    evidence::write_placeholder(&out, evidence_kind)?;
    let trace_path = out.join(names::TRACE);
    let trace = Trace::create(&trace_path).map_err(crate::path_io::at(&trace_path))?;
    trace_event(&trace, TraceEvent::RunStarted { evidence_kind })?;
    tokio::select! {
        report = pipeline(options, config, &out, evidence_kind, &trace, &task) => {
            let report = report?;
            if let Some(signer) = &signer {
                crate::attestation::attest_run(&out, &report, signer)?;
            }
            Ok(report)
        }
        signal = crate::signals::interrupted() => {
            // Dropping the pipeline stops the adapter and kills Case's process group.
            let _ = trace.record(&TraceEvent::RunInterrupted {
                signal: signal.to_owned(),
            });
            Err(RunError::Interrupted { signal })
        }
    }
}

async fn pipeline(
    options: &RunOptions,
    config: &HarnessConfig,
    out: &Path,
    evidence_kind: EvidenceKind,
    trace: &Trace,
    task: &[u8],
) -> Result<Report, RunError> {
    let case_command = if options.case_command.is_empty() {
        reference_case_command()?
    } else {
        options.case_command.clone()
    };

    // Gates first: nothing about the task or the SOT may turn a block into another exit.
    let evaluation = gates::evaluate(&GateInputs {
        config,
        case_command: &case_command,
        probe_timeout: options.probe_timeout,
        fingerprint: crate::fingerprint::FingerprintScope::Report,
    })
    .await;
    let blocked = evaluation.blocked_codes();
    trace_event(
        trace,
        TraceEvent::GatesEvaluated {
            blocked: blocked.clone(),
            gates: evaluation.results.clone(),
        },
    )?;
    for &code in &blocked {
        trace_event(trace, TraceEvent::GateBlocked { code })?;
    }

    // Inputs: digests in the report; the records' exact bytes in the run folder, so that
    // `verify` can re-derive provider, model and admission status from sealed bytes.
    let mut inputs = BTreeMap::new();
    let inputs_dir = out.join(names::INPUTS);
    let records = [
        (
            "decision",
            evaluation.decision.as_ref().map(|loaded| (&loaded.path, &loaded.bytes)),
        ),
        (
            "admission",
            evaluation
                .admission
                .as_ref()
                .map(|loaded| (&loaded.path, &loaded.bytes)),
        ),
    ];
    for (role, loaded) in records {
        let Some((path, bytes)) = loaded else { continue };
        std::fs::create_dir_all(&inputs_dir).map_err(crate::path_io::at(&inputs_dir))?;
        let copy = inputs_dir.join(format!("{role}.json"));
        std::fs::write(&copy, bytes).map_err(crate::path_io::at(&copy))?;
        inputs.insert(role.to_owned(), digest_of(path, bytes));
    }
    // Read and checked by the task gate before the run folder was created.
    let copy = out.join(names::TASK);
    std::fs::write(&copy, task).map_err(crate::path_io::at(&copy))?;
    inputs.insert("task".to_owned(), digest_of(&options.task, task));
    if let Some(sot) = &options.sot {
        let bytes = read_bounded(sot).map_err(RunError::Sot)?;
        inputs.insert("sot".to_owned(), digest_of(sot, &bytes));
    }

    // The upstream secret (or a canary standing in for it) and the per-run token are what
    // the scan looks for; the canary flows exactly where a real key would. A key too short
    // to scan for is refused rather than silently left out of the scan.
    let (upstream_key, upstream_key_name) = match &config.local_api_key {
        Some(key) => (key.clone(), "upstream_api_key"),
        None => (SecretValue::random("chc-canary-"), "canary"),
    };
    let token = SecretValue::random("chc-token-");
    let secrets = [
        NamedSecret {
            name: upstream_key_name.to_owned(),
            value: upstream_key.clone(),
        },
        NamedSecret {
            name: "case_token".to_owned(),
            value: token.clone(),
        },
    ];
    // Shared with the threads that scan Case's output past the log cap as Case writes it.
    let scanner = Arc::new(SecretScanner::new(&secrets)?);

    let admission = evaluation.admission.as_ref().map(|loaded| &loaded.record);
    let mut observations = RunObservations {
        run_dir: out.to_owned(),
        evidence_kind,
        case_model_provider: admission.map(|record| record.case_model_provider.to_string()),
        case_model: admission.map(|record| record.case_model.to_string()),
        case_model_admission_status: admission.map(|record| record.case_model_admission_status),
        upstream: evaluation.base_url.as_ref().map(|base| base.host_port()),
        upstream_fingerprint: evaluation
            .fingerprint
            .as_ref()
            .map(|fingerprint| fingerprint.recorded.clone()),
        gates: evaluation.results.clone(),
        case: None,
        case_home: None,
        scrubbed_variables: case_process::scrubbed_names(
            std::env::vars_os().filter_map(|(name, _)| name.into_string().ok()),
        ),
        secret_channels: Vec::new(),
        secret_names: secrets.iter().map(|secret| secret.name.clone()).collect(),
        inputs,
        isolation: None,
        adapter_totals: None,
        adapter_mode: None,
        sampling: None,
        run_errors: Vec::new(),
    };

    let ready = match (evaluation.is_ready(), &evaluation.base_url, admission) {
        (true, Some(base), Some(admission)) => Some((base.clone(), admission.case_model.to_string())),
        _ => None,
    };
    let mut captured_logs = Vec::new();
    if let Some((base, model)) = ready {
        let adapter = AdapterConfig {
            upstream: base,
            model,
            upstream_key: Some(upstream_key),
            case_token: token,
            ledger_path: Some(out.join(names::LEDGER)),
            trace: trace.clone(),
            upstream_timeout: options.timeout,
            upstream_api: options.upstream_api,
            sampling: options.sampling.clone(),
        };
        observations.sampling = (!options.sampling.is_empty()).then(|| options.sampling.clone());
        let case = run_case(out, options, &case_command, config, adapter, &scanner).await?;
        observations.case = Some(case.summary);
        observations.isolation = Some(case.isolation);
        observations.case_home = Some(case.home);
        observations.adapter_totals = Some(case.totals);
        observations.adapter_mode = Some(case.mode);
        observations.run_errors.extend(case.errors);
        captured_logs = case.logs;
    }

    observations.secret_channels = scan_channels(&scanner, out, options.sot.as_deref(), &case_command, &captured_logs)?;
    let hits = observations
        .secret_channels
        .iter()
        .map(|channel| (channel.channel.clone(), channel.hits.len()))
        .collect();
    trace_event(trace, TraceEvent::SecretScan { hits })?;
    let report = evidence::seal(observations, trace, |bytes| {
        let mut hits = Vec::new();
        scanner.scan_bytes("report", names::REPORT, bytes, &mut hits);
        hits
    })?;
    // A JUnit file that cannot be written (Case put a folder in its place: that already failed
    // the run) must not hide a sealed `fail` behind a harness error.
    if let Err(err) = crate::junit::write_run_junit(out, &report) {
        if report.outcome == crate::output::RunOutcome::Pass {
            return Err(evidence::EvidenceError::from(err).into());
        }
        eprintln!(
            "case-harness: warning: {err}; the sealed {} report stands",
            report.outcome.as_str()
        );
    }
    Ok(report)
}

struct CaseRun {
    summary: CaseSummary,
    isolation: Isolation,
    home: crate::output::CaseHomeFacts,
    /// What the adapter counted in memory.
    totals: crate::adapter::LedgerTotals,
    /// How the adapter served the Anthropic routes.
    mode: crate::adapter::AdapterMode,
    /// Case's stdout and stderr as captured (the bytes past the cap were scanned on the way).
    logs: Vec<CapturedLog>,
    errors: Vec<String>,
}

async fn run_case(
    out: &Path,
    options: &RunOptions,
    case_command: &[String],
    config: &HarnessConfig,
    adapter: AdapterConfig,
    scanner: &Arc<SecretScanner>,
) -> Result<CaseRun, RunError> {
    let (trace, model, token) = (adapter.trace.clone(), adapter.model.clone(), adapter.case_token.clone());
    let output_dir = out.join(names::CASE_OUTPUT);
    let home_dir = out.join(crate::case_home::CASE_HOME);
    std::fs::create_dir_all(&output_dir).map_err(crate::path_io::at(&output_dir))?;
    let home = crate::case_home::CaseHome::prepare(out, options.keep_home).map_err(crate::path_io::at(&home_dir))?;
    let contract = |adapter_addr| CaseContract {
        adapter_addr,
        model: model.clone(),
        token: token.clone(),
        config_file: out.join(names::CASE_CONFIG),
        task_file: out.join(names::TASK),
        output_dir: output_dir.clone(),
        home_variables: home.variables(),
    };
    let (stdout_log, stderr_log) = (out.join(names::STDOUT), out.join(names::STDERR));
    let logs = CaseLogs::start(&stdout_log, &stderr_log, scanner.clone())?;
    let launch = |env| CaseLaunch {
        command: case_command,
        env,
        // Not the run folder: Case has no business next to the trace and the ledger.
        working_dir: &output_dir,
        logs: &logs,
        timeout: options.timeout,
    };

    // Confined: the adapter's address is fixed inside Case's own network namespace.
    let confined = contract(SocketAddr::from((Ipv4Addr::LOCALHOST, crate::sandbox::ADAPTER_PORT)));
    let env = case_process::case_environment(&confined, &config.case_passthrough);
    let writable: Vec<PathBuf> = [output_dir.clone(), home_dir.clone()]
        .into_iter()
        .chain(options.writable_paths.iter().cloned())
        .collect();
    let hidden = hidden_from_case(options, config);
    if !options
        .without_layers
        .contains(&crate::sandbox::Layer::UnprivilegedUser)
    {
        let mut folders = vec![output_dir.as_path(), home_dir.as_path()];
        folders.extend(home.agent_folders());
        give_to_case(&folders)?;
    }
    let spec = SandboxSpec {
        run_dir: out,
        writable: writable.clone(),
        hidden: hidden.clone(),
        bounds: options.bounds,
        without: options.without_layers.clone(),
        working_dir: &output_dir,
        command: case_command,
        env: case_process::exposed(&env),
        stdout: logs.stdout().map_err(crate::path_io::at(&stdout_log))?,
        stderr: logs.stderr().map_err(crate::path_io::at(&stderr_log))?,
    };
    let (exit, handle, isolation) = match Sandbox::prepare(spec).await {
        Ok((mut sandbox, listener)) => {
            let handle = adapter::start_on(adapter, listener).await.map_err(RunError::Adapter)?;
            write_case_config(&confined, options.timeout)?;
            let isolation = crate::sandbox::confined_isolation(sandbox.layers(), &writable, &hidden, options.bounds);
            trace_isolation(&trace, &isolation)?;
            let exit = case_process::run_in_sandbox(&launch(&env), &mut sandbox, &trace).await;
            (exit, handle, isolation)
        }
        Err(SandboxError::Unavailable { reason }) if options.allow_unconfined => {
            eprintln!("case-harness: warning: Case runs UNCONFINED (--allow-unconfined): {reason}");
            if !options.hidden_paths.is_empty() {
                eprintln!("case-harness: warning: --hide cannot hide anything from an unconfined Case");
            }
            let handle = adapter::start(adapter, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
                .await
                .map_err(RunError::Adapter)?;
            let unconfined = contract(handle.local_addr());
            write_case_config(&unconfined, options.timeout)?;
            let env = case_process::case_environment(&unconfined, &config.case_passthrough);
            let isolation = Isolation::None(NoIsolation::None);
            trace_isolation(&trace, &isolation)?;
            let exit = case_process::run(&launch(&env), &trace).await;
            (exit, handle, isolation)
        }
        Err(err) => return Err(err.into()),
    };
    // The adapter traces adapter_started/adapter_stopped itself.
    let mode = handle.mode();
    let totals = handle.shutdown().await;

    // Case has ended (confined: with every process of its namespace): read what is left.
    let (stdout, stderr) = logs.finish().await;
    let mut errors: Vec<String> = stdout.errors.iter().chain(&stderr.errors).cloned().collect();
    let exit = match exit {
        Ok(exit) => exit,
        Err(err) => {
            errors.push(err.to_string());
            case_process::CaseExit::never_ran()
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
    Ok(CaseRun {
        home: home.facts(),
        summary: CaseSummary {
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
        },
        isolation,
        totals,
        mode,
        logs: vec![stdout, stderr],
        errors,
    })
}

/// Every path Case must find empty: the user's `--hide`, the signing key's folder (when one
/// is configured) and the default key folder — in every run, signed or not, so that no
/// unsigned run can reach a key a later signed run uses — and the invoking user's credential
/// places (docs/threat-model.md).
fn hidden_from_case(options: &RunOptions, config: &HarnessConfig) -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let credentials = home
        .iter()
        .flat_map(|home| CREDENTIAL_PLACES.iter().map(move |place| home.join(place)));
    let mut hidden: Vec<PathBuf> = options
        .hidden_paths
        .iter()
        .cloned()
        .chain(config.signing_key_dir())
        .chain(crate::signing::default_key_dir())
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
fn give_to_case(folders: &[&Path]) -> Result<(), RunError> {
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

/// Why a `--writable` folder is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WritableProblem {
    /// It does not exist or cannot be resolved.
    #[error("cannot resolve it ({0}); create the folder first")]
    Resolve(#[source] std::io::Error),
    /// It is not a folder.
    #[error("not a folder; name the folder Case may write")]
    NotAFolder,
    /// It holds, or lies inside, something Case must not write.
    #[error("it overlaps {what} {}; name a folder that neither holds nor lies inside it", other.display())]
    Overlaps {
        /// What it overlaps, e.g. `the run folder`.
        what: &'static str,
        /// That path.
        other: PathBuf,
    },
}

/// Refuses a `--writable` folder that holds or lies inside the run folder, a key's folder or
/// a record's folder: Case could then rewrite its evidence, read the key or admit itself.
fn check_writable(options: &RunOptions, config: &HarnessConfig) -> Result<(), RunError> {
    let resolved = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let folder_of = |file: &Path| resolved(file).parent().map(Path::to_path_buf);
    let guarded: Vec<(&'static str, PathBuf)> = [("the run folder", Some(resolved(&options.out)))]
        .into_iter()
        .chain([
            ("the signing key's folder", config.signing_key_dir()),
            ("the default key folder", crate::signing::default_key_dir()),
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

fn prepare_run_dir(out: &Path) -> Result<PathBuf, RunError> {
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

fn digest_of(path: &Path, bytes: &[u8]) -> FileDigest {
    FileDigest {
        path: path.display().to_string(),
        sha256: sha256_hex(bytes),
    }
}

fn trace_event(trace: &Trace, event: TraceEvent) -> Result<(), RunError> {
    Ok(trace
        .record(&event)
        .map_err(crate::path_io::at(Path::new(names::TRACE)))?)
}

/// Scans every channel the seed names plus every other file of the run folder.
fn scan_channels(
    scanner: &SecretScanner,
    out: &Path,
    sot: Option<&Path>,
    argv: &[String],
    captured_logs: &[CapturedLog],
) -> Result<Vec<ChannelScan>, RunError> {
    let mut channels = Vec::new();
    let mut covered: Vec<PathBuf> = Vec::new();
    match sot {
        Some(sot) => scan_files(scanner, &mut covered, "sot", &[sot.to_owned()], &mut channels)?,
        None => channels.push(skipped_channel("sot", "no --sot given: the SOT cannot be scanned")),
    }
    let mut argv_hits = Vec::new();
    for (index, arg) in argv.iter().enumerate() {
        scanner.scan_bytes("argv", &format!("argv[{index}]"), arg.as_bytes(), &mut argv_hits);
    }
    channels.push(ChannelScan {
        channel: "argv".to_owned(),
        scanned: vec![format!("{} Case argument(s)", argv.len())],
        hits: argv_hits,
        skipped: None,
    });
    let files = [
        ("task_file", vec![out.join(names::TASK)]),
        ("backend_logs", vec![out.join(names::STDOUT), out.join(names::STDERR)]),
        ("trace", vec![out.join(names::TRACE)]),
        ("generated_config", vec![out.join(names::CASE_CONFIG)]),
        ("adapter_ledger", vec![out.join(names::LEDGER)]),
        ("case_output", vec![out.join(names::CASE_OUTPUT)]),
    ];
    for (channel, paths) in files {
        scan_files(scanner, &mut covered, channel, &paths, &mut channels)?;
    }
    // What Case wrote past the logs' cap was scanned as it was written, not from disk.
    if let Some(backend_logs) = channels.iter_mut().find(|channel| channel.channel == "backend_logs") {
        for log in captured_logs {
            backend_logs.scanned.extend(log.scanned_past_cap());
            backend_logs.hits.extend(log.hits.iter().cloned());
        }
    }
    // Everything else in the run folder, whatever wrote it.
    let others: Vec<PathBuf> = std::fs::read_dir(out)
        .map_err(crate::path_io::at(out))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| !covered.contains(path) && path.file_name().is_none_or(|name| name != names::REPORT))
        .collect();
    scan_files(scanner, &mut covered, "other_run_files", &others, &mut channels)?;
    let mut commit_hits = Vec::new();
    match scanner.scan_git_history("commit", out, &mut commit_hits) {
        Ok(true) => channels.push(ChannelScan {
            channel: "commit".to_owned(),
            scanned: vec!["git log --all -p of the run folder".to_owned()],
            hits: commit_hits,
            skipped: None,
        }),
        Ok(false) => channels.push(skipped_channel(
            "commit",
            "the run folder is not inside a git work tree: no commit to scan",
        )),
        // git could not say (e.g. "dubious ownership"): recorded, not hidden. The evidence
        // has not been committed by this run either way; `case-harness scan` checks commits
        // once someone makes them, and refuses an unreadable history.
        Err(err) => channels.push(skipped_channel("commit", &err.to_string())),
    }
    Ok(channels)
}

fn skipped_channel(channel: &str, reason: &str) -> ChannelScan {
    ChannelScan {
        channel: channel.to_owned(),
        scanned: Vec::new(),
        hits: Vec::new(),
        skipped: Some(reason.to_owned()),
    }
}

/// Scans `paths` (those that exist) as one channel and remembers them as covered.
fn scan_files(
    scanner: &SecretScanner,
    covered: &mut Vec<PathBuf>,
    channel: &str,
    paths: &[PathBuf],
    channels: &mut Vec<ChannelScan>,
) -> Result<(), RunError> {
    let mut hits = Vec::new();
    let mut scanned = Vec::new();
    let mut skipped = None;
    for path in paths.iter().filter(|path| std::fs::symlink_metadata(path).is_ok()) {
        match scanner.scan_path(channel, path, &mut hits) {
            Ok(()) => {}
            // A FIFO or device in the run folder: the channel is not fully scanned, which
            // fails the run (never a clean scan, never a harness error that hides the outcome).
            Err(err @ crate::secrets::ScanError::Unscannable { .. }) => skipped = Some(err.to_string()),
            Err(err) => return Err(err.into()),
        }
        scanned.push(path.display().to_string());
        covered.push(path.clone());
    }
    channels.push(ChannelScan {
        channel: channel.to_owned(),
        scanned,
        hits,
        skipped,
    });
    Ok(())
}
