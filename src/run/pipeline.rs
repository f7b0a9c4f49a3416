//! The run in stages: gates, the inputs on record, the secrets to scan for, Case (when every
//! gate passed), then the scan and the seal. Each stage only gathers observations; the outcome
//! is decided by [`crate::evidence`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::case::{CaseRun, run_case};
use super::error::{RunError, trace_event};
use super::options::{RunOptions, reference_case_command};
use super::paths::{check_writable, prepare_run_dir};
use super::scan::scan_channels;
use crate::adapter::AdapterConfig;
use crate::case_logs::CapturedLog;
use crate::case_process;
use crate::config::HarnessConfig;
use crate::evidence::{self, RunObservations, names};
use crate::gates::{self, GateInputs};
use crate::output::{EvidenceKind, FileDigest, Report};
use crate::records::{read_bounded, sha256_hex};
use crate::secrets::{NamedSecret, SecretScanner, SecretValue};
use crate::trace::{Trace, TraceEvent};

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
    let evaluation = evaluate_gates(options, config, &case_command, trace).await?;
    let inputs = record_inputs(options, out, &evaluation, task)?;
    let secrets = RunSecrets::new(config)?;
    let mut observations = observe_gates(out, evidence_kind, config, &evaluation, &secrets, inputs);

    let mut captured_logs = Vec::new();
    if let Some(adapter) = adapter_config(options, out, trace, &evaluation, &secrets) {
        observations.sampling = (!options.sampling.is_empty()).then(|| options.sampling.clone());
        let case = run_case(out, options, &case_command, config, adapter, &secrets.scanner).await?;
        captured_logs = observe_case(&mut observations, case);
    }
    seal_run(
        out,
        options,
        trace,
        &case_command,
        observations,
        &secrets.scanner,
        &captured_logs,
    )
}

/// Evaluates every gate and traces the result, each blocking gate on its own line too.
async fn evaluate_gates(
    options: &RunOptions,
    config: &HarnessConfig,
    case_command: &[String],
    trace: &Trace,
) -> Result<gates::GateEvaluation, RunError> {
    let evaluation = gates::evaluate(&GateInputs {
        config,
        case_command,
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
    Ok(evaluation)
}

/// Inputs: digests in the report; the records' exact bytes in the run folder, so that
/// `verify` can re-derive provider, model and admission status from sealed bytes.
fn record_inputs(
    options: &RunOptions,
    out: &Path,
    evaluation: &gates::GateEvaluation,
    task: &[u8],
) -> Result<BTreeMap<String, FileDigest>, RunError> {
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
    Ok(inputs)
}

fn digest_of(path: &Path, bytes: &[u8]) -> FileDigest {
    FileDigest {
        path: path.display().to_string(),
        sha256: sha256_hex(bytes),
    }
}

/// The upstream secret (or a canary standing in for it) and the per-run token are what
/// the scan looks for; the canary flows exactly where a real key would. A key too short
/// to scan for is refused rather than silently left out of the scan.
struct RunSecrets {
    upstream_key: SecretValue,
    token: SecretValue,
    names: Vec<String>,
    /// Shared with the threads that scan Case's output past the log cap as Case writes it.
    scanner: Arc<SecretScanner>,
}

impl RunSecrets {
    fn new(config: &HarnessConfig) -> Result<Self, RunError> {
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
        Ok(Self {
            scanner: Arc::new(SecretScanner::new(&secrets)?),
            names: secrets.iter().map(|secret| secret.name.clone()).collect(),
            upstream_key,
            token,
        })
    }
}

/// What the run knows before Case: gates, records, upstream, inputs and secret names.
fn observe_gates(
    out: &Path,
    evidence_kind: EvidenceKind,
    config: &HarnessConfig,
    evaluation: &gates::GateEvaluation,
    secrets: &RunSecrets,
    inputs: BTreeMap<String, FileDigest>,
) -> RunObservations {
    let admission = evaluation.admission.as_ref().map(|loaded| &loaded.record);
    RunObservations {
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
        scrubbed_variables: case_process::scrubbed_names(config.variable_names.iter().cloned()),
        secret_channels: Vec::new(),
        secret_names: secrets.names.clone(),
        inputs,
        isolation: None,
        adapter_totals: None,
        adapter_mode: None,
        sampling: None,
        run_errors: Vec::new(),
    }
}

/// The adapter Case will talk to, when every gate passed (else Case does not start).
fn adapter_config(
    options: &RunOptions,
    out: &Path,
    trace: &Trace,
    evaluation: &gates::GateEvaluation,
    secrets: &RunSecrets,
) -> Option<AdapterConfig> {
    let admission = evaluation.admission.as_ref().map(|loaded| &loaded.record);
    let (true, Some(base), Some(admission)) = (evaluation.is_ready(), &evaluation.base_url, admission) else {
        return None;
    };
    Some(AdapterConfig {
        upstream: base.clone(),
        model: admission.case_model.to_string(),
        upstream_key: Some(secrets.upstream_key.clone()),
        case_token: secrets.token.clone(),
        ledger_path: Some(out.join(names::LEDGER)),
        trace: trace.clone(),
        upstream_timeout: options.timeout,
        upstream_api: options.upstream_api,
        sampling: options.sampling.clone(),
    })
}

/// What Case's run adds to the observations; its captured logs are returned for the scan.
fn observe_case(observations: &mut RunObservations, case: CaseRun) -> Vec<CapturedLog> {
    observations.case = Some(case.summary);
    observations.isolation = Some(case.isolation);
    observations.case_home = Some(case.home);
    observations.adapter_totals = Some(case.totals);
    observations.adapter_mode = Some(case.mode);
    observations.run_errors.extend(case.errors);
    case.logs
}

/// Scans every channel, seals the report and derives the JUnit file from it.
fn seal_run(
    out: &Path,
    options: &RunOptions,
    trace: &Trace,
    case_command: &[String],
    mut observations: RunObservations,
    scanner: &SecretScanner,
    captured_logs: &[CapturedLog],
) -> Result<Report, RunError> {
    observations.secret_channels = scan_channels(scanner, out, options.sot.as_deref(), case_command, captured_logs)?;
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
