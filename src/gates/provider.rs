//! The provider gates: the local provider answers `GET {base}/models`, and it serves the
//! admitted model (by name, and by file digest when the admission pins one).

use super::inputs::GateInputs;
use super::recorder::Recorder;
use crate::config::ENV_LOCAL_BASE_URL;
use crate::fingerprint::Fingerprint;
use crate::output::GateCode;
use crate::records::{AdmissionRecord, LoadedRecord};
use crate::upstream::{self, LocalBaseUrl, ModelList};

/// What the probe found: the model list and, with an admission, the fingerprint.
pub(super) type ProbeOutcome = Result<(ModelList, Option<Fingerprint>), String>;

/// The reachability gate, from the probe's outcome (`None`: not probed).
pub(super) fn reachability_gate(
    gates: &mut Recorder,
    base_url: Option<&LocalBaseUrl>,
    probe: Option<ProbeOutcome>,
) -> Option<ModelList> {
    match (base_url, probe) {
        (None, _) => {
            gates.skip(GateCode::LocalProviderUnreachable, "no valid local base URL to probe");
            None
        }
        (Some(_), None) => {
            gates.skip(
                GateCode::LocalProviderUnreachable,
                "not probed: external_fallback_configured blocked first, and no request is sent before the name gates pass",
            );
            None
        }
        (Some(base), Some(Ok((models, _)))) => {
            gates.pass(
                GateCode::LocalProviderUnreachable,
                format!(
                    "GET {} answered with {} model(s)",
                    base.endpoint("models"),
                    models.ids.len()
                ),
            );
            Some(models)
        }
        (Some(_), Some(Err(reason))) => {
            gates.block(
                GateCode::LocalProviderUnreachable,
                format!("{reason}; start the local provider or fix {ENV_LOCAL_BASE_URL}"),
            );
            None
        }
    }
}

/// The served-model gate: `/models` lists the admitted model and its file digest agrees.
pub(super) fn served_model_gate(
    gates: &mut Recorder,
    models: Option<&ModelList>,
    admission: Option<&LoadedRecord<AdmissionRecord>>,
    fingerprint: Option<&Fingerprint>,
) {
    let (Some(models), Some(admission)) = (models, admission) else {
        gates.skip(
            GateCode::AdmittedModelNotServed,
            "needs a successful probe and a valid admission record",
        );
        return;
    };
    let wanted = admission.record.case_model.as_str();
    let mismatch = fingerprint.and_then(|fingerprint| fingerprint.sha256_mismatch.as_ref());
    if !models.ids.iter().any(|id| id == wanted) {
        gates.block(
            GateCode::AdmittedModelNotServed,
            format!(
                "/models lists {:?} but the admission's case_model is {wanted:?}; serve that model (e.g. as an alias) or fix the admission in CTO-WORK-020",
                models.ids
            ),
        );
    } else if let Some(mismatch) = mismatch {
        gates.block(
            GateCode::AdmittedModelNotServed,
            format!("{mismatch}; serve the admitted model file or have CTO-WORK-020 admit this one"),
        );
    } else {
        gates.pass(GateCode::AdmittedModelNotServed, format!("/models lists {wanted:?}"));
    }
}

/// Sends the probe (only ever to a URL that passed the loopback gates) and collects the
/// fingerprint.
pub(super) async fn probe(
    base: &LocalBaseUrl,
    inputs: &GateInputs<'_>,
    admission: Option<&LoadedRecord<AdmissionRecord>>,
) -> ProbeOutcome {
    let config = inputs.config;
    let client = upstream::loopback_client(Some(inputs.probe_timeout))
        .map_err(|err| format!("cannot build the HTTP client: {}", err.without_url()))?;
    let models = upstream::probe_models(&client, base, config.local_api_key.as_ref())
        .await
        .map_err(|err| err.to_string())?;
    let fingerprint = match admission {
        None => None,
        Some(admission) => {
            let model = admission.record.case_model.as_str();
            let entry = models
                .ids
                .iter()
                .position(|id| id == model)
                .and_then(|index| models.entries.get(index));
            let sha256 = admission.record.model_sha256.as_ref().map(|digest| digest.as_str());
            Some(
                crate::fingerprint::collect(
                    &client,
                    base,
                    config.local_api_key.as_ref(),
                    model,
                    entry,
                    sha256,
                    inputs.fingerprint,
                )
                .await,
            )
        }
    };
    Ok((models, fingerprint))
}
