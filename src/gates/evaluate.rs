//! One evaluation: every gate family in the fixed order of [`GateCode::ALL`], each handing the
//! next what it loaded.

use super::base_url::check_base_url;
use super::external_fallback::{external_fallback_findings, external_fallback_gate};
use super::inputs::{GateEvaluation, GateInputs};
use super::provider::{probe, reachability_gate, served_model_gate};
use super::recorder::Recorder;
use super::records::{admission_gates, decision_gates};
#[cfg(doc)]
use crate::output::GateCode;

/// Evaluates every gate in order.
pub(crate) async fn evaluate(inputs: &GateInputs<'_>) -> GateEvaluation {
    let mut gates = Recorder::default();
    let config = inputs.config;

    let decision = decision_gates(&mut gates, config.decision_file.as_deref());
    let admission = admission_gates(&mut gates, config.admission_file.as_deref(), decision.as_ref());
    let base_url = check_base_url(&mut gates, config);

    // Probe (only ever a URL that passed the loopback gates) and fingerprint, before the
    // external-fallback gate, which also looks at what the server says about itself.
    // The name gates come first: a base URL, record or command naming an external provider
    // (decoded, folded) blocks, and nothing is sent anywhere, not even the probe.
    let name_findings = external_fallback_findings(inputs, decision.as_ref(), admission.as_ref());
    let probe = match &base_url {
        Some(base) if name_findings.is_empty() => Some(probe(base, inputs, admission.as_ref()).await),
        _ => None,
    };
    let fingerprint = match &probe {
        Some(Ok((_, fingerprint))) => fingerprint.clone(),
        _ => None,
    };

    // External fallback, anywhere the harness can see it.
    external_fallback_gate(&mut gates, name_findings, fingerprint.as_ref());
    let models = reachability_gate(&mut gates, base_url.as_ref(), probe);
    served_model_gate(&mut gates, models.as_ref(), admission.as_ref(), fingerprint.as_ref());

    GateEvaluation {
        results: gates.results,
        decision,
        admission,
        base_url,
        fingerprint,
    }
}
