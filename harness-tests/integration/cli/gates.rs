//! One test per gate code of `GateCode::ALL`: the gate's plainest tripping case, run through
//! the binary against a fake provider that serves the admitted model, so that exactly that one
//! gate blocks (`blocked == [code]`, exit 3). The other ways to trip each gate are in
//! `records.rs`, `adapter_config.rs`, `fallback.rs` and `probe.rs`.

use case_harness::gates::GateCode;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::cli::util::{Check, FakeProvider, assert_mentions};

/// Defines one `#[test]` per gate and a test that the list covers `GateCode::ALL` in order,
/// so a new gate code cannot ship without a test that trips it.
macro_rules! one_test_per_gate {
    ($($code:ident => $test:ident $body:block)*) => {
        $(
            #[test]
            fn $test() $body
        )*

        #[test]
        fn every_gate_code_has_a_tripping_test() {
            assert_eq!([$(GateCode::$code),*], GateCode::ALL);
        }
    };
}

one_test_per_gate! {
    DecisionRecordMissing => decision_record_missing_when_no_decision_is_configured {
        let ran = Check::ready().no_decision().run_json();
        let gate = ran.assert_blocks_only(GateCode::DecisionRecordMissing);
        assert_mentions(&gate, &["CTO_HARNESS_CASE_DECISION_FILE", "--decision"]);
    }

    DecisionRecordInvalid => decision_record_invalid_on_a_duplicate_key {
        let ran = Check::ready().decision("decision/duplicate-key.json").run_json();
        let gate = ran.assert_blocks_only(GateCode::DecisionRecordInvalid);
        assert_mentions(&gate, &["decision/duplicate-key.json", "duplicate field `decision_status`"]);
    }

    DecisionStatusNotLocalProviderRequired => decision_status_pending_blocks {
        // The admission agrees with the pending decision, so admission_mismatch stays quiet.
        let ran = Check::ready()
            .decision("decision/status-pending.json")
            .admission("admission/agrees-status-pending.json")
            .run_json();
        let gate = ran.assert_blocks_only(GateCode::DecisionStatusNotLocalProviderRequired);
        assert_mentions(&gate, &["decision/status-pending.json", "`decision_status`", "\"pending\""]);
    }

    ProviderClassNotLocalCaseCompatible => provider_class_other_blocks {
        let ran = Check::ready()
            .decision("decision/provider-class-other.json")
            .admission("admission/agrees-provider-class-other.json")
            .run_json();
        let gate = ran.assert_blocks_only(GateCode::ProviderClassNotLocalCaseCompatible);
        assert_mentions(&gate, &["`provider_class`", "\"hosted_api\"", "\"local_case_compatible\""]);
    }

    AdmissionFileNotConfigured => admission_file_not_configured_when_unset {
        let ran = Check::ready().no_admission().run_json();
        let gate = ran.assert_blocks_only(GateCode::AdmissionFileNotConfigured);
        assert_mentions(&gate, &["CTO_HARNESS_CASE_MODEL_ADMISSION_FILE"]);
    }

    AdmissionFileInvalid => admission_file_invalid_on_an_unknown_status {
        let ran = Check::ready().admission("admission/unknown-status.json").run_json();
        let gate = ran.assert_blocks_only(GateCode::AdmissionFileInvalid);
        assert_mentions(&gate, &["admission/unknown-status.json", "`case_model_admission_status`", "approved"]);
    }

    AdmissionMismatch => admission_mismatch_on_decision_status {
        let ran = Check::ready().admission("admission/mismatch-decision-status.json").run_json();
        let gate = ran.assert_blocks_only(GateCode::AdmissionMismatch);
        assert_mentions(&gate, &["`decision_status` is \"pending\" in the admission but \"local_provider_required\" in the decision"]);
    }

    ModelAdmissionRejected => model_admission_rejected_blocks {
        let ran = Check::ready().admission("admission/rejected.json").run_json();
        let gate = ran.assert_blocks_only(GateCode::ModelAdmissionRejected);
        assert_mentions(&gate, &["admission/rejected.json", "\"rejected\""]);
    }

    LocalAdapterConfigMissing => local_adapter_config_missing_when_base_url_unset {
        let ran = Check::ready().no_base_url().run_json();
        let gate = ran.assert_blocks_only(GateCode::LocalAdapterConfigMissing);
        assert_mentions(&gate, &["CTO_HARNESS_CASE_LOCAL_BASE_URL"]);
        assert_eq!(ran.provider.request_lines(), Vec::<String>::new(), "nothing to probe");
    }

    LocalAdapterConfigInvalid => local_adapter_config_invalid_on_a_query_string {
        let ran = Check::ready().base_url("{provider}/v1?key=x").run_json();
        let gate = ran.assert_blocks_only(GateCode::LocalAdapterConfigInvalid);
        assert_mentions(&gate, &["query string"]);
        assert_eq!(ran.provider.request_lines(), Vec::<String>::new(), "an invalid URL is never probed");
    }

    LocalEndpointNotLocal => local_endpoint_not_local_for_a_lookalike_host {
        // `localhost.evil.example` does not resolve anyway; what matters is the verdict.
        let ran = Check::ready().base_url("http://localhost.evil.example:{port}/v1").run_json();
        let gate = ran.assert_blocks_only(GateCode::LocalEndpointNotLocal);
        assert_mentions(&gate, &["`localhost.evil.example` is not loopback"]);
        assert_eq!(ran.provider.request_lines(), Vec::<String>::new());
    }

    ExternalFallbackConfigured => external_fallback_configured_for_a_claude_model {
        let ran = Check::ready().admission("admission/claude-model.json").run_json();
        let gate = ran.assert_blocks_only(GateCode::ExternalFallbackConfigured);
        assert_mentions(&gate, &["admission/claude-model.json", "`case_model`", "claude-sonnet-4-6"]);
        // A name gate that blocks sends nothing, not even the probe (red-team finding 12).
        assert_eq!(ran.provider.request_lines(), Vec::<String>::new());
    }

    LocalProviderUnreachable => local_provider_unreachable_on_http_500 {
        let provider = FakeProvider::start();
        provider.mount(Mock::given(method("GET")).and(path("/v1/models")).respond_with(ResponseTemplate::new(500)));
        let ran = Check::ready().provider(provider).run_json();
        let gate = ran.assert_blocks_only(GateCode::LocalProviderUnreachable);
        assert_mentions(&gate, &["answered HTTP 500 to GET /models"]);
    }

    AdmittedModelNotServed => admitted_model_not_served_when_models_lists_others {
        let provider = FakeProvider::serving(&["smollm2-360m-instruct", "qwen3:8b"]);
        let ran = Check::ready().provider(provider).run_json();
        let gate = ran.assert_blocks_only(GateCode::AdmittedModelNotServed);
        assert_mentions(&gate, &["\"smollm2-360m-instruct\"", "\"qwen3:8b\"", "\"smollm2-135m-instruct\""]);
    }
}
