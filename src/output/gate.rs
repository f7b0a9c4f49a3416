//! Gate results as they appear in `check --format json`, reports, the trace and JUnit
//! properties: a stable code per gate, its status and a one-line detail. They live with the
//! other stable output shapes (not in [`crate::gates`], which evaluates them) so that what
//! other tools read is defined below everything that writes it.

/// A gate's stable code, as it appears in JSON output, reports and JUnit properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateCode {
    /// No decision file configured, or the configured file does not exist.
    DecisionRecordMissing,
    /// Decision file unreadable, not JSON, or not the schema.
    DecisionRecordInvalid,
    /// `decision_status` is not exactly `local_provider_required`.
    DecisionStatusNotLocalProviderRequired,
    /// The decision's `provider_class` is not exactly `local_case_compatible`.
    ProviderClassNotLocalCaseCompatible,
    /// `CTO_HARNESS_CASE_MODEL_ADMISSION_FILE` unset or empty.
    AdmissionFileNotConfigured,
    /// Admission file missing, unreadable, not JSON, or not the schema.
    AdmissionFileInvalid,
    /// Admission's `work_item`/`decision_status`/`provider_class` differ from the decision.
    AdmissionMismatch,
    /// Admission status `rejected` or `revoked`.
    ModelAdmissionRejected,
    /// `CTO_HARNESS_CASE_LOCAL_BASE_URL` unset or empty.
    LocalAdapterConfigMissing,
    /// Base URL malformed, or an unknown `CTO_HARNESS_CASE_*` variable is set.
    LocalAdapterConfigInvalid,
    /// Base URL host is not loopback.
    LocalEndpointNotLocal,
    /// An external provider/model is named where it could be used as a fallback.
    ExternalFallbackConfigured,
    /// `GET {base}/models` did not answer 200 with a model list.
    LocalProviderUnreachable,
    /// `/models` does not list the admitted `case_model`.
    AdmittedModelNotServed,
}

impl GateCode {
    /// Every gate, in evaluation and reporting order.
    pub const ALL: [GateCode; 14] = [
        GateCode::DecisionRecordMissing,
        GateCode::DecisionRecordInvalid,
        GateCode::DecisionStatusNotLocalProviderRequired,
        GateCode::ProviderClassNotLocalCaseCompatible,
        GateCode::AdmissionFileNotConfigured,
        GateCode::AdmissionFileInvalid,
        GateCode::AdmissionMismatch,
        GateCode::ModelAdmissionRejected,
        GateCode::LocalAdapterConfigMissing,
        GateCode::LocalAdapterConfigInvalid,
        GateCode::LocalEndpointNotLocal,
        GateCode::ExternalFallbackConfigured,
        GateCode::LocalProviderUnreachable,
        GateCode::AdmittedModelNotServed,
    ];

    /// The stable snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            GateCode::DecisionRecordMissing => "decision_record_missing",
            GateCode::DecisionRecordInvalid => "decision_record_invalid",
            GateCode::DecisionStatusNotLocalProviderRequired => "decision_status_not_local_provider_required",
            GateCode::ProviderClassNotLocalCaseCompatible => "provider_class_not_local_case_compatible",
            GateCode::AdmissionFileNotConfigured => "admission_file_not_configured",
            GateCode::AdmissionFileInvalid => "admission_file_invalid",
            GateCode::AdmissionMismatch => "admission_mismatch",
            GateCode::ModelAdmissionRejected => "model_admission_rejected",
            GateCode::LocalAdapterConfigMissing => "local_adapter_config_missing",
            GateCode::LocalAdapterConfigInvalid => "local_adapter_config_invalid",
            GateCode::LocalEndpointNotLocal => "local_endpoint_not_local",
            GateCode::ExternalFallbackConfigured => "external_fallback_configured",
            GateCode::LocalProviderUnreachable => "local_provider_unreachable",
            GateCode::AdmittedModelNotServed => "admitted_model_not_served",
        }
    }

    /// Parses a stable code (for scenarios and reports).
    pub fn from_code(code: &str) -> Option<GateCode> {
        GateCode::ALL.into_iter().find(|gate| gate.as_str() == code)
    }
}

impl std::fmt::Display for GateCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a gate concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateStatus {
    /// The gate looked at its input and found it good.
    Pass,
    /// The gate blocks the route.
    Blocked,
    /// The gate's input was unavailable because an earlier gate blocked.
    Skipped,
}

/// One gate's verdict with a one-line detail that says what was seen and what to do.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
// A field the harness never writes is a forgery: `verify` must refuse it (found by
// harness-tests/integration/run/sealing.rs), not drop it while the seal still matches.
#[serde(deny_unknown_fields)]
pub struct GateResult {
    /// Which gate.
    pub code: GateCode,
    /// Its verdict.
    pub status: GateStatus,
    /// What it saw; for a block, what to fix.
    pub detail: String,
}
