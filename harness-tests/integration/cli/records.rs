//! The record gates, every way: each malformed decision or admission file blocks with exactly
//! its one gate and a detail naming the file (and the field, where there is one); values are
//! compared exactly, never case-folded.

use case_harness::gates::GateCode;

use crate::cli::util::{Check, assert_mentions, fixture};

#[test]
fn decision_file_that_does_not_exist_is_missing() {
    let absent = fixture("decision").join("no-such-decision.json");
    let ran = Check::ready().decision_path(&absent).run_json();
    let gate = ran.assert_blocks_only(GateCode::DecisionRecordMissing);
    assert_mentions(&gate, &["no-such-decision.json", "does not exist"]);
}

#[test]
fn empty_decision_variable_counts_as_unset() {
    let ran = Check::ready().decision_path("").run_json();
    ran.assert_blocks_only(GateCode::DecisionRecordMissing);
}

#[test]
fn every_malformed_decision_is_invalid_and_names_file_and_field() {
    let cases = [
        ("decision/duplicate-key.json", "duplicate field `decision_status`"),
        ("decision/unknown-field.json", "unknown field `fallback_provider`"),
        ("decision/not-json.json", "field `.`"),
        (
            "decision/wrong-type.json",
            "field `provider_class`: invalid type: sequence",
        ),
        (
            "decision/empty-string.json",
            "field `decision_status`: must not be an empty string",
        ),
        ("decision/missing-field.json", "missing field `provider_class`"),
        (
            "decision/schema-version-2.json",
            "field `schema_version`: unsupported schema_version 2",
        ),
        (
            "decision/other-work-item.json",
            "field `work_item`: is \"CTO-WORK-019\"",
        ),
    ];
    for (relative, expected) in cases {
        let ran = Check::ready().decision(relative).run_json();
        let gate = ran.assert_blocks_only(GateCode::DecisionRecordInvalid);
        assert_mentions(&gate, &[relative, expected]);
    }
}

#[test]
fn decision_files_the_harness_refuses_to_read_are_invalid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let too_large = dir.path().join("too-large.json");
    std::fs::write(&too_large, vec![b' '; 1024 * 1024 + 1]).expect("write");
    let latin1 = dir.path().join("latin1.json");
    std::fs::write(&latin1, b"{\"notes\":\"caf\xe9\"}").expect("write");
    let cases = [
        (too_large, "is larger than 1048576 bytes"),
        (latin1, "not valid UTF-8"),
        (dir.path().to_owned(), "not a regular file"),
    ];
    for (path, expected) in cases {
        let ran = Check::ready().decision_path(&path).run_json();
        let gate = ran.assert_blocks_only(GateCode::DecisionRecordInvalid);
        assert_mentions(&gate, &[&path.display().to_string(), expected]);
    }
}

#[test]
fn decision_status_is_compared_exactly() {
    for (decision, admission, value) in [
        (
            "decision/status-external-provider-allowed.json",
            "admission/agrees-status-external-provider-allowed.json",
            "\"external_provider_allowed\"",
        ),
        // Not case-folded: `Local_Provider_Required` is not `local_provider_required`.
        (
            "decision/status-mixed-case.json",
            "admission/agrees-status-mixed-case.json",
            "\"Local_Provider_Required\"",
        ),
    ] {
        let ran = Check::ready().decision(decision).admission(admission).run_json();
        let gate = ran.assert_blocks_only(GateCode::DecisionStatusNotLocalProviderRequired);
        assert_mentions(&gate, &[value, "requires exactly \"local_provider_required\""]);
    }
}

#[test]
fn a_pending_decision_with_a_local_admission_blocks_twice() {
    // The admission says local_provider_required, the decision says pending: both the status
    // gate and the mismatch gate have something to say, and both are reported.
    let ran = Check::ready().decision("decision/status-pending.json").run_json();
    ran.assert_blocks_exactly(&[
        GateCode::DecisionStatusNotLocalProviderRequired,
        GateCode::AdmissionMismatch,
    ]);
}

#[test]
fn empty_admission_variable_counts_as_unset() {
    let ran = Check::ready().admission_path("").run_json();
    ran.assert_blocks_only(GateCode::AdmissionFileNotConfigured);
}

#[test]
fn every_malformed_admission_is_invalid_and_names_file_and_field() {
    let cases = [
        // The duplicate's second value names claude-sonnet-4-6: the record is refused before
        // anyone could act on either value.
        ("admission/duplicate-key.json", "duplicate field `case_model`"),
        ("admission/unknown-field.json", "unknown field `fallback_model`"),
        ("admission/not-json.json", "field `.`"),
        (
            "admission/unknown-status.json",
            "field `case_model_admission_status`: unknown variant `approved`",
        ),
        (
            "admission/status-wrong-case.json",
            "field `case_model_admission_status`: unknown variant `Admitted`",
        ),
        (
            "admission/bad-model-sha256.json",
            "field `model_sha256`: is \"not-a-digest\"",
        ),
    ];
    for (relative, expected) in cases {
        let ran = Check::ready().admission(relative).run_json();
        let gate = ran.assert_blocks_only(GateCode::AdmissionFileInvalid);
        assert_mentions(&gate, &[relative, expected, "owned by CTO-WORK-020"]);
    }
}

#[test]
fn admission_file_that_does_not_exist_is_invalid() {
    let absent = fixture("admission").join("no-such-admission.json");
    let ran = Check::ready().admission_path(&absent).run_json();
    let gate = ran.assert_blocks_only(GateCode::AdmissionFileInvalid);
    assert_mentions(&gate, &["no-such-admission.json", "file not found"]);
}

#[test]
fn every_admission_that_disagrees_with_the_decision_is_a_mismatch() {
    let cases = [
        (
            "admission/mismatch-decision-status.json",
            "`decision_status` is \"pending\" in the admission",
        ),
        (
            "admission/mismatch-provider-class.json",
            "`provider_class` is \"hosted_api\" in the admission",
        ),
        (
            "admission/mismatch-work-item.json",
            "`work_item` is \"CTO-WORK-019\" in the admission",
        ),
    ];
    for (relative, expected) in cases {
        let ran = Check::ready().admission(relative).run_json();
        let gate = ran.assert_blocks_only(GateCode::AdmissionMismatch);
        assert_mentions(&gate, &[relative, expected]);
    }
}

#[test]
fn rejected_and_revoked_admissions_block() {
    for (relative, status) in [
        ("admission/rejected.json", "\"rejected\""),
        ("admission/revoked.json", "\"revoked\""),
    ] {
        let ran = Check::ready().admission(relative).run_json();
        let gate = ran.assert_blocks_only(GateCode::ModelAdmissionRejected);
        assert_mentions(&gate, &[relative, status]);
    }
}

#[test]
fn candidate_and_admitted_admissions_are_ready() {
    for relative in ["admission/candidate-smollm2.json", "admission/admitted-smollm2.json"] {
        let ran = Check::ready().admission(relative).run_json();
        let output = ran.assert_ready();
        let status = &output.gates[7];
        assert_eq!(status.code, GateCode::ModelAdmissionRejected);
        assert!(status.detail.contains(if relative.contains("admitted") {
            "\"admitted\""
        } else {
            "\"candidate\""
        }));
    }
}

#[test]
fn optional_decision_fields_are_accepted() {
    Check::ready()
        .decision("decision/local-provider-required-full.json")
        .run_json()
        .assert_ready();
}
