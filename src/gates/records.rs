//! The record gates: the decision record and the admission record exist, parse, say what this
//! route requires, and agree with each other; the admission has not rejected the model.

use std::path::Path;

use super::recorder::Recorder;
use crate::config::{ENV_ADMISSION_FILE, ENV_DECISION_FILE};
use crate::output::GateCode;
use crate::records::{AdmissionRecord, AdmissionStatus, DecisionRecord, LoadedRecord, RecordError};

/// The only `decision_status` that opens the route.
pub(crate) const REQUIRED_DECISION_STATUS: &str = "local_provider_required";
/// The only provider class the route accepts.
pub(crate) const REQUIRED_PROVIDER_CLASS: &str = "local_case_compatible";

/// The decision record gates: missing, invalid, status and provider class.
pub(super) fn decision_gates(gates: &mut Recorder, file: Option<&Path>) -> Option<LoadedRecord<DecisionRecord>> {
    let decision = load_decision(gates, file);
    match &decision {
        None => {
            gates.skip(
                GateCode::DecisionStatusNotLocalProviderRequired,
                "no valid decision record",
            );
            gates.skip(
                GateCode::ProviderClassNotLocalCaseCompatible,
                "no valid decision record",
            );
        }
        Some(loaded) => {
            gates.expect_exact(
                GateCode::DecisionStatusNotLocalProviderRequired,
                &loaded.path,
                "decision_status",
                loaded.record.decision_status.as_str(),
                REQUIRED_DECISION_STATUS,
            );
            gates.expect_exact(
                GateCode::ProviderClassNotLocalCaseCompatible,
                &loaded.path,
                "provider_class",
                loaded.record.provider_class.as_str(),
                REQUIRED_PROVIDER_CLASS,
            );
        }
    }
    decision
}

fn load_decision(gates: &mut Recorder, file: Option<&Path>) -> Option<LoadedRecord<DecisionRecord>> {
    let Some(path) = file else {
        gates.block(
            GateCode::DecisionRecordMissing,
            format!("no decision record: set {ENV_DECISION_FILE} or pass --decision PATH"),
        );
        gates.skip(GateCode::DecisionRecordInvalid, "no decision record to read");
        return None;
    };
    match DecisionRecord::load(path) {
        Err(RecordError::Missing { path }) => {
            gates.block(
                GateCode::DecisionRecordMissing,
                format!(
                    "decision record {} does not exist: check {ENV_DECISION_FILE} / --decision",
                    path.display()
                ),
            );
            gates.skip(GateCode::DecisionRecordInvalid, "no decision record to read");
            None
        }
        Err(err) => {
            gates.pass(GateCode::DecisionRecordMissing, format!("{} exists", path.display()));
            gates.block(
                GateCode::DecisionRecordInvalid,
                format!("{err}; fix the decision record"),
            );
            None
        }
        Ok(loaded) => {
            gates.pass(GateCode::DecisionRecordMissing, format!("{} exists", path.display()));
            gates.pass(
                GateCode::DecisionRecordInvalid,
                format!("{} is a valid decision record", path.display()),
            );
            Some(loaded)
        }
    }
}

/// The admission gates: configured, valid, agreeing with the decision, model not rejected.
pub(super) fn admission_gates(
    gates: &mut Recorder,
    file: Option<&Path>,
    decision: Option<&LoadedRecord<DecisionRecord>>,
) -> Option<LoadedRecord<AdmissionRecord>> {
    let admission = load_admission(gates, file);
    match (decision, &admission) {
        (Some(decision), Some(admission)) => check_mismatch(gates, decision, admission),
        _ => gates.skip(
            GateCode::AdmissionMismatch,
            "needs a valid decision record and a valid admission record",
        ),
    }
    match &admission {
        None => gates.skip(GateCode::ModelAdmissionRejected, "no valid admission record"),
        Some(loaded) => {
            let status = loaded.record.case_model_admission_status;
            match status {
                AdmissionStatus::Rejected | AdmissionStatus::Revoked => gates.block(
                    GateCode::ModelAdmissionRejected,
                    format!(
                        "{}: field `case_model_admission_status` is {:?}; CTO-WORK-020 must admit or re-nominate the model",
                        loaded.path.display(),
                        status.as_str()
                    ),
                ),
                AdmissionStatus::Candidate | AdmissionStatus::Admitted => {
                    gates.pass(GateCode::ModelAdmissionRejected, format!("case_model_admission_status is {:?}", status.as_str()))
                }
            }
        }
    }
    admission
}

fn load_admission(gates: &mut Recorder, file: Option<&Path>) -> Option<LoadedRecord<AdmissionRecord>> {
    let Some(path) = file else {
        gates.block(
            GateCode::AdmissionFileNotConfigured,
            format!("{ENV_ADMISSION_FILE} is unset or empty: point it at the CTO-WORK-020 admission JSON"),
        );
        gates.skip(GateCode::AdmissionFileInvalid, "no admission file configured");
        return None;
    };
    gates.pass(
        GateCode::AdmissionFileNotConfigured,
        format!("{ENV_ADMISSION_FILE}={}", path.display()),
    );
    match AdmissionRecord::load(path) {
        Err(err) => {
            gates.block(
                GateCode::AdmissionFileInvalid,
                format!("{err}; the admission file is owned by CTO-WORK-020: fix it there"),
            );
            None
        }
        Ok(loaded) => {
            gates.pass(
                GateCode::AdmissionFileInvalid,
                format!("{} is a valid admission record", path.display()),
            );
            Some(loaded)
        }
    }
}

fn check_mismatch(
    gates: &mut Recorder,
    decision: &LoadedRecord<DecisionRecord>,
    admission: &LoadedRecord<AdmissionRecord>,
) {
    let (d, a) = (&decision.record, &admission.record);
    let differing: Vec<String> = [
        ("work_item", d.work_item.as_str(), a.work_item.as_str()),
        (
            "decision_status",
            d.decision_status.as_str(),
            a.decision_status.as_str(),
        ),
        ("provider_class", d.provider_class.as_str(), a.provider_class.as_str()),
    ]
    .into_iter()
    .filter(|(_, decided, admitted)| decided != admitted)
    .map(|(field, decided, admitted)| {
        format!("`{field}` is {admitted:?} in the admission but {decided:?} in the decision")
    })
    .collect();
    if differing.is_empty() {
        gates.pass(
            GateCode::AdmissionMismatch,
            "admission agrees with the decision on work_item, decision_status and provider_class",
        );
    } else {
        gates.block(
            GateCode::AdmissionMismatch,
            format!(
                "{} vs {}: {}; the admission JSON is the authority, so the decision or admission must be corrected in CTO-WORK-020",
                admission.path.display(),
                decision.path.display(),
                differing.join(", ")
            ),
        );
    }
}
