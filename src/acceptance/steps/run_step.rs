//! The `run` step: `case-harness run` against the step's provider and records, then every
//! expectation of the step checked against the report, the trace and the fixtures, one named
//! check each.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::{
    COMMAND_GRACE, DEFAULT_TASK, Expect, InputSnapshot, Output, SEED_SECRET_CHANNELS, StepError, StepRun,
    check_blocked, check_eq, names, read_json, sampling_args,
};

impl StepRun<'_> {
    pub(super) fn run(&mut self) -> Result<(), StepError> {
        let decision = self.decision_path()?;
        let admission = self.admission_path()?;
        let (fake, base_url) = self.provider(admission.as_deref())?;
        let snapshots = [decision.as_deref(), admission.as_deref()]
            .into_iter()
            .flatten()
            .map(InputSnapshot::take)
            .collect::<Result<Vec<_>, _>>()?;
        let marker = self.step_dir.join("case-command-ran");
        let out = self.step_dir.join("run");
        let timeout = self.step.timeout.unwrap_or(if self.is_real() { 600.0 } else { 60.0 });
        let mut command = self.harness(decision.as_deref(), admission.as_deref(), base_url.as_deref());
        self.run_arguments(&mut command, &out, &marker, timeout)?;
        let output = self.spawn(command, Duration::from_secs_f64(timeout) + COMMAND_GRACE)?;
        let chat_requests = match &fake {
            Some(fake) => self.runtime.block_on(fake.chat_requests()),
            None => None,
        };
        drop(fake);

        let report_path = out.join(names::REPORT);
        let report = self.record_report(&report_path, &output)?;
        let expect = self.expectations();
        let context = || {
            format!(
                "\nharness stdout:\n{}\nharness stderr:\n{}",
                output.stdout, output.stderr
            )
        };
        check_eq("exit code", &expect.exit, &output.code).map_err(|err| err.with_output(context()))?;
        check_blocked(&expect.blocked, &report["blocked"])?;
        check_case_started(expect, &report, &out)?;
        check_eq(
            "Case command marker exists",
            &expect.marker_exists,
            &Some(marker.exists()),
        )?;
        check_eq("outcome", &expect.outcome.as_deref(), &report["outcome"].as_str())
            .map_err(|err| err.with_output(context()))?;
        self.check_report_fields(&report, admission.as_deref())?;
        check_reasons(expect, &report)?;
        if expect.provider_chat_requests.is_some() {
            check_eq(
                "chat requests the fake provider received",
                &expect.provider_chat_requests,
                &chat_requests,
            )?;
        }
        check_secret_scan(expect, &report)?;
        if let Some(expected) = expect.inputs_unchanged {
            let unchanged = snapshots.iter().all(InputSnapshot::unchanged);
            check_eq(
                "decision and admission files unchanged",
                &Some(expected),
                &Some(unchanged),
            )?;
        }
        self.check_verifies(&report_path)
    }

    /// `run --task … --out … --sot … --timeout …`, the sampling pin, `--simulated` unless the
    /// step is real, and the step's Case command with `{marker}` and `{cases}` expanded.
    fn run_arguments(&self, command: &mut Command, out: &Path, marker: &Path, timeout: f64) -> Result<(), StepError> {
        let task = self.fixture(
            "tasks",
            "task",
            self.step.task.as_deref().unwrap_or(DEFAULT_TASK),
            self.step.task.is_some(),
        )?;
        command
            .arg("run")
            .arg("--task")
            .arg(&task)
            .arg("--out")
            .arg(out)
            .arg("--sot")
            .arg(&self.context.sot);
        command.arg("--timeout").arg(timeout.to_string());
        command.args(sampling_args(&self.context.environment)?);
        if !self.is_real() {
            command.arg("--simulated");
        }
        if let Some(case) = &self.step.case {
            command.arg("--");
            for arg in case {
                let arg = arg.replace("{marker}", &marker.display().to_string());
                let arg = match (&self.context.cases_dir, arg.contains("{cases}")) {
                    (Some(cases), true) => arg.replace("{cases}", &cases.display().to_string()),
                    (None, true) => {
                        return Err(StepError::NoCasesDir);
                    }
                    (_, false) => arg,
                };
                command.arg(arg);
            }
        }
        Ok(())
    }

    /// Reads the run's report and records it (path, seal digest, gate codes) for the trial.
    fn record_report(&mut self, report_path: &Path, output: &Output) -> Result<Value, StepError> {
        let report = read_json(report_path)
            .map_err(|err| err.with_output(format!("\nstdout: {}\nstderr: {}", output.stdout, output.stderr)))?;
        let digest = report
            .pointer("/seal/digest")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.evidence.reports.push((report_path.to_owned(), digest));
        *self.last_report = Some(report_path.to_owned());
        self.note_codes(&report["blocked"]);
        Ok(report)
    }

    /// Every `report.FIELD = VALUE` of the step, `{admission.FIELD}` expanded.
    fn check_report_fields(&self, report: &Value, admission: Option<&Path>) -> Result<(), StepError> {
        for (pointer, expected) in &self.expectations().report {
            let expected = self.expand(expected, admission)?;
            let actual = report
                .pointer(&format!("/{}", pointer.replace('.', "/")))
                .cloned()
                .unwrap_or(Value::Null);
            if actual != expected {
                return Err(StepError::ReportField {
                    pointer: pointer.clone(),
                    expected,
                    found: actual,
                });
            }
        }
        Ok(())
    }

    /// `verify = true|false`: what `case-harness verify` says of the report.
    fn check_verifies(&self, report_path: &Path) -> Result<(), StepError> {
        let Some(expected) = self.expectations().verify else {
            return Ok(());
        };
        let verified = self.verify(report_path)?;
        check_eq(
            "verify accepts the report",
            &Some(expected),
            &Some(verified.code == Some(0)),
        )
        .map_err(|err| err.with_output(format!("\n{}", verified.stdout)))
    }
}

/// `case_process_started`: the report and the trace both say it.
fn check_case_started(expect: &Expect, report: &Value, out: &Path) -> Result<(), StepError> {
    let Some(started) = expect.case_process_started else {
        return Ok(());
    };
    check_eq(
        "report case_process_started",
        &Some(started),
        &report["case_process_started"].as_bool(),
    )?;
    let trace_path = out.join(names::TRACE);
    let text = std::fs::read_to_string(&trace_path).map_err(StepError::Trace)?;
    let traced = crate::trace::parse(&trace_path, &text)
        .map_err(StepError::TraceMalformed)?
        .iter()
        .any(|line| matches!(line.event, crate::trace::TraceEvent::CaseProcessStarted { .. }));
    check_eq("trace has case_process_started", &Some(started), &Some(traced))
}

/// `reasons_contain`: every needle is in the report's reasons.
fn check_reasons(expect: &Expect, report: &Value) -> Result<(), StepError> {
    let reasons = report["reasons"].to_string();
    for needle in &expect.reasons_contain {
        if !reasons.contains(needle.as_str()) {
            return Err(StepError::ReasonMissing {
                needle: needle.clone(),
                reasons,
            });
        }
    }
    Ok(())
}

/// `secret_scan_clean`, `secret_hit_channels` and `secret_channels_scanned`.
fn check_secret_scan(expect: &Expect, report: &Value) -> Result<(), StepError> {
    check_eq(
        "secret scan clean",
        &expect.secret_scan_clean,
        &report["secret_scan"]["clean"].as_bool(),
    )?;
    if let Some(expected) = &expect.secret_hit_channels {
        let actual: Vec<String> = report["secret_scan"]["channels"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|channel| channel["hits"].as_array().is_some_and(|hits| !hits.is_empty()))
            .filter_map(|channel| channel["channel"].as_str().map(str::to_owned))
            .collect();
        check_eq("channels with secret hits", &Some(expected.clone()), &Some(actual))?;
    }
    if expect.secret_channels_scanned != Some(true) {
        return Ok(());
    }
    let channels = report["secret_scan"]["channels"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for channel in SEED_SECRET_CHANNELS {
        let entry = channels.iter().find(|entry| entry["channel"] == *channel);
        let scanned = entry.is_some_and(|entry| {
            let skipped = entry["skipped"].as_str();
            // A run commits nothing, so a commit channel git cannot read (no repo, or
            // a repo git refuses) is the one acceptable skip, and it must say why;
            // commits themselves are proven by the `commit_and_scan` step.
            skipped.is_none() && entry["scanned"].as_array().is_some_and(|files| !files.is_empty())
                || *channel == "commit" && skipped.is_some_and(|reason| !reason.is_empty())
        });
        if !scanned {
            return Err(StepError::ChannelNotScanned {
                channel,
                entry: format!("{entry:?}"),
            });
        }
    }
    Ok(())
}
