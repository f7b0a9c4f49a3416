//! The external-fallback gate: no record field, Case variable, base URL, Case argument or
//! upstream self-description names an external provider or model (decoded and folded).

use std::path::PathBuf;

use super::inputs::GateInputs;
use super::recorder::Recorder;
use crate::config::ENV_LOCAL_BASE_URL;
use crate::external_names::external_reference;
use crate::output::GateCode;
use crate::records::{AdmissionRecord, DecisionRecord, LoadedRecord};

/// The gate itself: the name findings plus what the upstream said about where the model runs.
pub(super) fn external_fallback_gate(
    gates: &mut Recorder,
    name_findings: Vec<String>,
    fingerprint: Option<&crate::fingerprint::Fingerprint>,
) {
    let mut findings = name_findings;
    if let Some(remote) = fingerprint.and_then(|fingerprint| fingerprint.remote_model.as_ref()) {
        findings.push(format!("the upstream reports the model is served remotely ({remote})"));
    }
    if findings.is_empty() {
        gates.pass(
            GateCode::ExternalFallbackConfigured,
            "no external provider or model named in records, Case environment or command",
        );
    } else {
        gates.block(
            GateCode::ExternalFallbackConfigured,
            format!(
                "{}; the route allows no external fallback: remove it",
                findings.join("; ")
            ),
        );
    }
}

/// Every external name in what the harness was given, before anything is sent anywhere.
pub(super) fn external_fallback_findings(
    inputs: &GateInputs<'_>,
    decision: Option<&LoadedRecord<DecisionRecord>>,
    admission: Option<&LoadedRecord<AdmissionRecord>>,
) -> Vec<String> {
    let mut findings = Vec::new();
    let mut record_field = |path: &PathBuf, field: &str, value: &str| {
        if let Some(name) = external_reference(value) {
            findings.push(format!(
                "{}: field `{field}` = {value:?} names `{name}`",
                path.display()
            ));
        }
    };
    if let Some(loaded) = admission {
        let r = &loaded.record;
        for (field, value) in [
            ("work_item", Some(&r.work_item)),
            ("decision_status", Some(&r.decision_status)),
            ("provider_class", Some(&r.provider_class)),
            ("case_model_provider", Some(&r.case_model_provider)),
            ("case_model", Some(&r.case_model)),
            ("notes", r.notes.as_ref()),
        ] {
            if let Some(value) = value {
                record_field(&loaded.path, field, value.as_str());
            }
        }
    }
    if let Some(loaded) = decision {
        let r = &loaded.record;
        for (field, value) in [
            ("decision_status", Some(&r.decision_status)),
            ("provider_class", Some(&r.provider_class)),
            ("notes", r.notes.as_ref()),
        ] {
            if let Some(value) = value {
                record_field(&loaded.path, field, value.as_str());
            }
        }
    }
    // Environment values and command arguments are not echoed: they may be private.
    for (name, value) in &inputs.config.case_passthrough {
        if let Some(found) = external_reference(value) {
            findings.push(format!("environment variable {name} (passed to Case) names `{found}`"));
        }
    }
    if let Some(found) = inputs.config.local_base_url.as_deref().and_then(external_reference) {
        findings.push(format!("{ENV_LOCAL_BASE_URL} names `{found}`"));
    }
    // The command line counts only where it configures something: program and file names
    // never do (`claude`, `sdk/anthropic_case.py`); see `case_argv`.
    let admitted_model = admission.map(|loaded| loaded.record.case_model.as_str());
    findings.extend(
        crate::case_argv::external_configuration(inputs.case_command, admitted_model)
            .into_iter()
            .map(|finding| finding.0),
    );
    findings
}
