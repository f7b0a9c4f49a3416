//! `external_fallback_configured`: Anthropic or any Claude model named anywhere the harness
//! can see — the records, the environment a Case process would inherit, the base URL — in any
//! letter case. The fake provider serves whatever the admission names, so this is the only
//! gate that blocks.

use case_harness::gates::GateCode;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::cli::util::{Check, FakeProvider, SMOLLM2, assert_mentions, model_list};

#[test]
fn external_names_in_the_records_block() {
    let cases = [
        (
            "admission/claude-model.json",
            "`case_model` = \"claude-sonnet-4-6\" names `claude`",
        ),
        (
            "admission/claude-model-mixed-case.json",
            "`case_model` = \"Claude-Sonnet-4-6-20260101\" names `claude`",
        ),
        (
            "admission/anthropic-vertex-provider.json",
            "`case_model_provider` = \"anthropic-vertex\" names `anthropic`",
        ),
        (
            "admission/ollama-cloud-model.json",
            "`case_model` = \"qwen3-coder:480b-cloud\" names `:cloud`",
        ),
        ("admission/mentions-claude-in-notes.json", "`notes`"),
    ];
    for (relative, expected) in cases {
        let ran = Check::ready().admission(relative).run_json();
        let gate = ran.assert_blocks_only(GateCode::ExternalFallbackConfigured);
        assert_mentions(&gate, &[relative, expected]);
    }
}

#[test]
fn decision_notes_naming_anthropic_block() {
    let ran = Check::ready().decision("decision/mentions-anthropic.json").run_json();
    let gate = ran.assert_blocks_only(GateCode::ExternalFallbackConfigured);
    assert_mentions(
        &gate,
        &["decision/mentions-anthropic.json", "field `notes`", "names `anthropic`"],
    );
}

#[test]
fn variables_a_case_process_would_inherit_are_checked_without_echoing_them() {
    for (name, value) in [
        ("HOME", "/home/anthropic"),
        ("USER", "Claude"),
        ("TMPDIR", "/tmp/ANTHROPIC"),
    ] {
        let ran = Check::ready().env(name, value).run_json();
        let gate = ran.assert_blocks_only(GateCode::ExternalFallbackConfigured);
        assert_mentions(&gate, &[&format!("environment variable {name} (passed to Case)")]);
        assert!(!gate.detail.contains(value), "the value is private: {}", gate.detail);
    }
}

#[test]
fn base_url_naming_anthropic_blocks() {
    // A loopback proxy with `anthropic` in its path is still a way to Anthropic.
    let provider = FakeProvider::start();
    provider.mount(
        Mock::given(method("GET"))
            .and(path("/anthropic/v1/models"))
            .respond_with(ResponseTemplate::new(200).set_body_json(model_list(&[SMOLLM2]))),
    );
    let ran = Check::ready()
        .provider(provider)
        .base_url("{provider}/anthropic/v1")
        .run_json();
    let gate = ran.assert_blocks_only(GateCode::ExternalFallbackConfigured);
    assert_mentions(&gate, &["CTO_HARNESS_CASE_LOCAL_BASE_URL names `anthropic`"]);
    // Red-team finding 12: no request at all before the name gates pass.
    assert_eq!(ran.provider.request_lines(), Vec::<String>::new());
}

#[test]
fn every_finding_is_reported_at_once() {
    let ran = Check::ready()
        .decision("decision/mentions-anthropic.json")
        .admission("admission/claude-model.json")
        .env("HOME", "/home/anthropic")
        .run_json();
    let gate = ran.assert_blocks_only(GateCode::ExternalFallbackConfigured);
    assert_mentions(
        &gate,
        &[
            "mentions-anthropic.json",
            "claude-model.json",
            "environment variable HOME",
        ],
    );
}
