//! The gate engine: every reason the route may not start Case, evaluated before anything is
//! spawned (README, "Gates").
//!
//! All gates are evaluated and all failures reported, in the fixed order of [`GateCode::ALL`].
//! A gate whose inputs are unavailable because an earlier gate blocked is `skipped`, not
//! `pass`: only a gate that looked at its input and found it good passes. The probe gates
//! send traffic only to a URL that already passed the loopback gates.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{ENV_ADMISSION_FILE, ENV_DECISION_FILE, ENV_LOCAL_BASE_URL, HarnessConfig, KNOWN_VARIABLES};
use crate::external_names::external_reference;
pub use crate::output::{GateCode, GateResult, GateStatus};
use crate::records::{AdmissionRecord, AdmissionStatus, DecisionRecord, LoadedRecord, RecordError};
use crate::upstream::{self, LocalBaseUrl, ModelList};

/// The only `decision_status` that opens the route.
pub(crate) const REQUIRED_DECISION_STATUS: &str = "local_provider_required";
/// The only provider class the route accepts.
pub(crate) const REQUIRED_PROVIDER_CLASS: &str = "local_case_compatible";

/// Default bound on the `GET {base}/models` probe.
pub(crate) const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything the gates look at.
#[derive(Debug, Clone)]
pub(crate) struct GateInputs<'a> {
    /// Environment and flags.
    pub config: &'a HarnessConfig,
    /// The Case command that would be spawned (empty for `check`).
    pub case_command: &'a [String],
    /// Bound on the `/models` probe.
    pub probe_timeout: Duration,
    /// How much of the upstream's fingerprint to collect: all of it for a run's report, only
    /// what a gate reads for `check`.
    pub fingerprint: crate::fingerprint::FingerprintScope,
}

/// The outcome of evaluating every gate, plus what they loaded (so the run reuses it).
#[derive(Debug)]
pub(crate) struct GateEvaluation {
    /// One result per gate, in [`GateCode::ALL`] order.
    pub results: Vec<GateResult>,
    /// The decision record, if it loaded.
    pub decision: Option<LoadedRecord<DecisionRecord>>,
    /// The admission record, if it loaded.
    pub admission: Option<LoadedRecord<AdmissionRecord>>,
    /// The base URL, if it passed the URL gates.
    pub base_url: Option<LocalBaseUrl>,
    /// What the upstream said about itself, if the probe succeeded.
    pub fingerprint: Option<crate::fingerprint::Fingerprint>,
}

impl GateEvaluation {
    /// Codes of the blocking gates, in order.
    pub(crate) fn blocked_codes(&self) -> Vec<GateCode> {
        self.results
            .iter()
            .filter(|result| result.status == GateStatus::Blocked)
            .map(|result| result.code)
            .collect()
    }

    /// True when every gate passed.
    pub(crate) fn is_ready(&self) -> bool {
        self.results.iter().all(|result| result.status == GateStatus::Pass)
    }
}

/// Evaluates every gate in order.
pub(crate) async fn evaluate(inputs: &GateInputs<'_>) -> GateEvaluation {
    let mut gates = Recorder::default();
    let config = inputs.config;

    // Decision record.
    let decision = match &config.decision_file {
        None => {
            gates.block(
                GateCode::DecisionRecordMissing,
                format!("no decision record: set {ENV_DECISION_FILE} or pass --decision PATH"),
            );
            gates.skip(GateCode::DecisionRecordInvalid, "no decision record to read");
            None
        }
        Some(path) => match DecisionRecord::load(path) {
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
        },
    };
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

    // Admission record.
    let admission = match &config.admission_file {
        None => {
            gates.block(
                GateCode::AdmissionFileNotConfigured,
                format!("{ENV_ADMISSION_FILE} is unset or empty: point it at the CTO-WORK-020 admission JSON"),
            );
            gates.skip(GateCode::AdmissionFileInvalid, "no admission file configured");
            None
        }
        Some(path) => {
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
    };
    match (&decision, &admission) {
        (Some(decision), Some(admission)) => gates.check_mismatch(decision, admission),
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

    // Local adapter configuration.
    let base_url = gates.check_base_url(config);

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
    let mut findings = name_findings;
    if let Some(remote) = fingerprint
        .as_ref()
        .and_then(|fingerprint| fingerprint.remote_model.as_ref())
    {
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

    let models = match (&base_url, probe) {
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
    };
    match (&models, &admission) {
        (Some(models), Some(admission)) => {
            let wanted = admission.record.case_model.as_str();
            let mismatch = fingerprint
                .as_ref()
                .and_then(|fingerprint| fingerprint.sha256_mismatch.as_ref());
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
        _ => gates.skip(
            GateCode::AdmittedModelNotServed,
            "needs a successful probe and a valid admission record",
        ),
    }

    GateEvaluation {
        results: gates.results,
        decision,
        admission,
        base_url,
        fingerprint,
    }
}

async fn probe(
    base: &LocalBaseUrl,
    inputs: &GateInputs<'_>,
    admission: Option<&LoadedRecord<AdmissionRecord>>,
) -> Result<(ModelList, Option<crate::fingerprint::Fingerprint>), String> {
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

/// Collects results in order.
#[derive(Default)]
struct Recorder {
    results: Vec<GateResult>,
}

impl Recorder {
    fn push(&mut self, code: GateCode, status: GateStatus, detail: impl Into<String>) {
        debug_assert_eq!(GateCode::ALL.get(self.results.len()), Some(&code), "gates out of order");
        self.results.push(GateResult {
            code,
            status,
            detail: detail.into(),
        });
    }
    fn pass(&mut self, code: GateCode, detail: impl Into<String>) {
        self.push(code, GateStatus::Pass, detail);
    }
    fn block(&mut self, code: GateCode, detail: impl Into<String>) {
        self.push(code, GateStatus::Blocked, detail);
    }
    fn skip(&mut self, code: GateCode, detail: impl Into<String>) {
        self.push(code, GateStatus::Skipped, detail);
    }

    fn expect_exact(&mut self, code: GateCode, path: &std::path::Path, field: &str, value: &str, required: &str) {
        if value == required {
            self.pass(code, format!("{field} is {required:?}"));
        } else {
            self.block(
                code,
                format!(
                    "{}: field `{field}` is {value:?}, but this route requires exactly {required:?}",
                    path.display()
                ),
            );
        }
    }

    fn check_mismatch(&mut self, decision: &LoadedRecord<DecisionRecord>, admission: &LoadedRecord<AdmissionRecord>) {
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
            self.pass(
                GateCode::AdmissionMismatch,
                "admission agrees with the decision on work_item, decision_status and provider_class",
            );
        } else {
            self.block(
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

    fn check_base_url(&mut self, config: &HarnessConfig) -> Option<LocalBaseUrl> {
        let unknown = if config.unknown_variables.is_empty() {
            None
        } else {
            Some(format!(
                "unknown variable(s) {}: the harness reads only {}; remove or rename them",
                config.unknown_variables.join(", "),
                KNOWN_VARIABLES.join(", ")
            ))
        };
        let Some(text) = &config.local_base_url else {
            self.block(
                GateCode::LocalAdapterConfigMissing,
                format!("{ENV_LOCAL_BASE_URL} is unset or empty: set it to the local provider's OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1"),
            );
            match unknown {
                Some(detail) => self.block(GateCode::LocalAdapterConfigInvalid, detail),
                None => self.skip(GateCode::LocalAdapterConfigInvalid, "no base URL to validate"),
            }
            self.skip(GateCode::LocalEndpointNotLocal, "no base URL to validate");
            return None;
        };
        self.pass(
            GateCode::LocalAdapterConfigMissing,
            format!("{ENV_LOCAL_BASE_URL} is set"),
        );
        let parsed = LocalBaseUrl::parse(text);
        let shown = shown_url(text);
        match (&parsed, unknown) {
            (_, Some(detail)) => self.block(GateCode::LocalAdapterConfigInvalid, detail),
            (Err(err), None) if !err.is_not_local() => self.block(
                GateCode::LocalAdapterConfigInvalid,
                format!("{ENV_LOCAL_BASE_URL}={shown} {err}"),
            ),
            _ => self.pass(
                GateCode::LocalAdapterConfigInvalid,
                format!("{ENV_LOCAL_BASE_URL} is a well-formed http URL"),
            ),
        }
        match &parsed {
            Err(err) if err.is_not_local() => {
                self.block(
                    GateCode::LocalEndpointNotLocal,
                    format!("{ENV_LOCAL_BASE_URL}={shown} {err}; run the provider on this machine"),
                );
                None
            }
            Err(_) => {
                self.skip(GateCode::LocalEndpointNotLocal, "base URL is malformed");
                None
            }
            Ok(base) => {
                self.pass(
                    GateCode::LocalEndpointNotLocal,
                    format!("{} is loopback", base.host_port()),
                );
                Some(base.clone())
            }
        }
    }
}

/// The URL as it may be shown in a message: user-info, query and fragment could hold a
/// credential, so a URL that has any of them is shown without them.
fn shown_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            let redacted = url.query().is_some() || url.fragment().is_some();
            url.set_query(None);
            url.set_fragment(None);
            let mut shown = url.to_string();
            if redacted {
                shown.push_str("[query/fragment removed]");
            }
            // The parser trims surrounding whitespace; the message must show it, quoted.
            if text.trim() != text || text.chars().any(char::is_control) {
                let (start, end) = (
                    &text[..text.len() - text.trim_start().len()],
                    &text[text.trim_end().len()..],
                );
                shown = format!("{:?}", format!("{start}{shown}{end}"));
            }
            shown
        }
        // Unparseable, so the credential parts cannot be cut out reliably: do not echo a value
        // that may hold one (`http://127.0.0.1:99999/v1?key=…` is not a URL: bad port).
        Err(_) if text.contains(['@', '?', '#']) => "(not shown: it may contain a credential)".to_owned(),
        Err(_) => format!("{:?}", text.chars().take(80).collect::<String>()),
    }
}

fn external_fallback_findings(
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

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (found by fuzzing `argv_rule`): decoding `%3a` ate the `a` of the plainly
    /// written `anthropic`; the raw reading counts as much as every decoded one.
    #[test]
    fn a_name_written_plainly_is_found_even_where_decoding_would_eat_a_letter() {
        assert_eq!(external_reference("x%3anthropic"), Some("anthropic"));
        assert_eq!(external_reference("%2561nthropic"), Some("anthropic"));
    }

    #[test]
    fn external_names_match_case_insensitively_anywhere() {
        for value in [
            "Anthropic",
            "anthropic-vertex",
            "claude-sonnet-4-6-20260101",
            "https://api.ANTHROPIC.com",
            "qwen3:cloud",
        ] {
            assert!(external_reference(value).is_some(), "{value}");
        }
        for value in [
            "smollm2-135m-instruct",
            "llama.cpp",
            "qwen3:8b",
            "local_case_compatible",
        ] {
            assert_eq!(external_reference(value), None, "{value}");
        }
    }

    /// Red-team finding 12 and the full-width low finding: an external name hidden by
    /// percent-encoding, `\u` escapes, full-width letters or look-alikes is still found.
    #[test]
    fn finding_12_external_names_are_found_in_their_decoded_and_folded_form() {
        for value in [
            "http://127.0.0.1:8080/%61nthropic/v1",
            "http://127.0.0.1:8080/%2561nthropic/v1",
            "http://127.0.0.1:8080/%41NTHROPIC/v1",
            "\\u0063laude-3",
            "ｃｌａｕｄｅ",
            "сlaude",
            "clau\u{200B}de",
        ] {
            assert!(external_reference(value).is_some(), "{value}");
        }
        assert_eq!(external_reference("http://127.0.0.1:8080/%2Fv1"), None);
    }

    #[test]
    fn codes_round_trip_and_are_unique() {
        for code in GateCode::ALL {
            assert_eq!(GateCode::from_code(code.as_str()), Some(code));
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::Value::from(code.as_str()))
            );
        }
    }

    #[test]
    fn surrounding_whitespace_is_shown_quoted() {
        assert_eq!(shown_url("http://127.0.0.1:8080/v1 "), r#""http://127.0.0.1:8080/v1 ""#);
        assert_eq!(
            shown_url("\thttp://127.0.0.1:8080/v1"),
            r#""\thttp://127.0.0.1:8080/v1""#
        );
        assert_eq!(shown_url("http://127.0.0.1:8080/v1"), "http://127.0.0.1:8080/v1");
    }

    #[test]
    fn shown_url_drops_possible_credentials() {
        let shown = shown_url("http://user:pw@127.0.0.1:1/v1?key=sekrit#xyzzy");
        assert!(
            !shown.contains("pw") && !shown.contains("sekrit") && !shown.contains("xyzzy"),
            "{shown}"
        );
        for unparseable in [
            "http://127.0.0.1:99999/v1?key=sekrit",
            "http://u:sekrit@127.0.0.1:99999/v1",
            "127.0.0.1:1/v1#sekrit",
        ] {
            let shown = shown_url(unparseable);
            assert!(!shown.contains("sekrit"), "{shown}");
        }
    }
}
