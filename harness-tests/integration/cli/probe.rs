//! The probe gates against a wiremock provider on 127.0.0.1: `GET {base}/models` must answer
//! 200 with an OpenAI model list (no redirect followed, bounded in time), and the list must
//! name the admitted `case_model` exactly.

use std::time::Duration;

use case_harness::gates::GateCode;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::cli::util::{Check, FakeProvider, SMOLLM2, assert_mentions, model_list};

/// A provider whose `GET /v1/models` answers with `response`.
fn answering(response: ResponseTemplate) -> FakeProvider {
    let provider = FakeProvider::start();
    provider.mount(
        Mock::given(method("GET"))
            .and(path("/v1/models"))
            .respond_with(response),
    );
    provider
}

fn assert_unreachable(provider: FakeProvider, expected: &[&str]) -> FakeProvider {
    let ran = Check::ready().provider(provider).run_json();
    let gate = ran.assert_blocks_only(GateCode::LocalProviderUnreachable);
    assert_mentions(&gate, expected);
    assert_mentions(&gate, &["CTO_HARNESS_CASE_LOCAL_BASE_URL"]);
    let skipped = ran.gate(GateCode::AdmittedModelNotServed);
    assert_eq!(skipped.detail, "needs a successful probe and a valid admission record");
    ran.provider
}

#[test]
fn server_error_is_unreachable() {
    let provider = assert_unreachable(
        answering(ResponseTemplate::new(500)),
        &["answered HTTP 500 to GET /models"],
    );
    assert_eq!(provider.request_lines(), ["GET /v1/models"], "one attempt, no retry");
}

#[test]
fn not_found_is_unreachable() {
    // Nothing mounted: wiremock answers 404, as a server without an OpenAI API would.
    assert_unreachable(FakeProvider::start(), &["answered HTTP 404 to GET /models"]);
}

#[test]
fn redirect_is_not_followed() {
    // The redirect target would answer perfectly; following it would make the gate pass.
    let provider = answering(ResponseTemplate::new(302).insert_header("location", "/elsewhere/v1/models"));
    provider.mount(
        Mock::given(method("GET"))
            .and(path("/elsewhere/v1/models"))
            .respond_with(ResponseTemplate::new(200).set_body_json(model_list(&[SMOLLM2]))),
    );
    let provider = assert_unreachable(
        provider,
        &["answered HTTP 302 to GET /models (redirects are never followed)"],
    );
    assert_eq!(provider.request_lines(), ["GET /v1/models"]);
}

#[test]
fn non_json_answer_is_unreachable() {
    let response = ResponseTemplate::new(200).set_body_raw("<html>It works!</html>", "text/html");
    assert_unreachable(
        answering(response),
        &["did not answer GET /models with an OpenAI model list: not JSON"],
    );
}

#[test]
fn json_that_is_not_a_model_list_is_unreachable() {
    // Ollama's native /api/tags shape, not the OpenAI one.
    let response = ResponseTemplate::new(200).set_body_json(serde_json::json!({"models": [{"name": SMOLLM2}]}));
    assert_unreachable(answering(response), &["no `data` array"]);
}

#[test]
fn closed_port_is_unreachable() {
    // A port the OS just handed out and took back: closed, unless another process grabs it in
    // the next milliseconds (unlikely, and it would then fail loudly rather than pass wrongly).
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let ran = Check::ready()
        .base_url(&format!("http://127.0.0.1:{port}/v1"))
        .run_json();
    let gate = ran.assert_blocks_only(GateCode::LocalProviderUnreachable);
    assert_mentions(&gate, &[&format!("no answer from 127.0.0.1:{port}: connection failed")]);
}

#[test]
fn slow_answer_is_cut_off_by_the_probe_timeout() {
    let response = ResponseTemplate::new(200)
        .set_body_json(model_list(&[SMOLLM2]))
        .set_delay(Duration::from_secs(10));
    let started = std::time::Instant::now();
    let ran = Check::ready()
        .provider(answering(response))
        .arg("--probe-timeout")
        .arg("0.5")
        .run_json();
    let gate = ran.assert_blocks_only(GateCode::LocalProviderUnreachable);
    assert_mentions(&gate, &["timed out"]);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn models_without_the_admitted_model_block() {
    let cases: [&[&str]; 3] = [
        &[],
        &["smollm2-360m-instruct"],
        // Exact comparison: a different spelling of the same name is not the admitted model.
        &["SmolLM2-135M-Instruct", "smollm2-135m-instruct:latest"],
    ];
    for models in cases {
        let ran = Check::ready().provider(FakeProvider::serving(models)).run_json();
        let gate = ran.assert_blocks_only(GateCode::AdmittedModelNotServed);
        assert_mentions(
            &gate,
            &[
                &format!("/models lists {models:?}"),
                "case_model is \"smollm2-135m-instruct\"",
            ],
        );
    }
}

#[test]
fn admitted_model_among_others_is_ready() {
    let ran = Check::ready()
        .provider(FakeProvider::serving(&["qwen3:8b", SMOLLM2]))
        .run_json();
    let output = ran.assert_ready();
    assert_eq!(
        output.gates[12].detail,
        format!("GET {}/v1/models answered with 2 model(s)", ran.provider.uri())
    );
}
