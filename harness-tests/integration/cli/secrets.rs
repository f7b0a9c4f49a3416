//! `CTO_HARNESS_CASE_LOCAL_API_KEY` never reaches `check`'s stdout or stderr — in either
//! format, on the ready path and on blocked and error paths, even where the same value is
//! also typed into the base URL — while it does reach the local provider as a bearer token.

use case_harness::gates::GateCode;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::cli::util::{Check, FakeProvider, SMOLLM2, model_list};

const API_KEY: &str = "CTO_HARNESS_CASE_LOCAL_API_KEY";

/// A fresh random value nothing else could print by accident.
fn canary() -> String {
    format!("canary-{}", hex::encode(rand::random::<[u8; 16]>()))
}

/// Runs `check` in both formats and asserts the canary is in neither stream; returns the
/// JSON run so the caller can check the verdict.
fn assert_never_printed(canary: &str, make: impl Fn() -> Check) -> crate::cli::util::Ran {
    let human = make().env(API_KEY, canary).run("human");
    let json = make().env(API_KEY, canary).run_json();
    for (format, ran) in [("human", &human), ("json", &json)] {
        assert!(!ran.stdout().is_empty(), "{format}: no output at all proves nothing");
        assert!(
            !ran.stdout().contains(canary),
            "{format} stdout leaks the key:\n{}",
            ran.stdout()
        );
        assert!(
            !ran.stderr().contains(canary),
            "{format} stderr leaks the key:\n{}",
            ran.stderr()
        );
    }
    json
}

/// A provider that lists the admitted model only to a caller presenting `Bearer <key>`.
fn provider_requiring(key: &str) -> FakeProvider {
    let provider = FakeProvider::start();
    provider.mount(
        Mock::given(method("GET"))
            .and(path("/v1/models"))
            .and(header("authorization", format!("Bearer {key}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(model_list(&[SMOLLM2]))),
    );
    provider.mount(
        Mock::given(method("GET"))
            .and(path("/v1/models"))
            .respond_with(ResponseTemplate::new(401).set_body_string("missing or wrong API key")),
    );
    provider
}

#[test]
fn ready_path_sends_the_key_as_bearer_and_prints_it_nowhere() {
    let key = canary();
    let ran = assert_never_printed(&key, || Check::ready().provider(provider_requiring(&key)));
    ran.assert_ready();
    let requests = ran.provider.requests();
    assert_eq!(requests.len(), FakeProvider::probe_and_fingerprint("/v1/models").len());
    for request in &requests {
        let authorization = request
            .headers
            .get("authorization")
            .map(|value| value.to_str().expect("ASCII"));
        assert_eq!(
            authorization,
            Some(format!("Bearer {key}").as_str()),
            "{} {}",
            request.method,
            request.url
        );
    }
}

#[test]
fn without_the_key_the_same_provider_refuses() {
    // The counterpart of the test above: the key is what makes that provider answer.
    let ran = Check::ready().provider(provider_requiring(&canary())).run_json();
    let gate = ran.assert_blocks_only(GateCode::LocalProviderUnreachable);
    assert!(gate.detail.contains("answered HTTP 401"), "{}", gate.detail);
    assert!(ran.provider.requests()[0].headers.get("authorization").is_none());
}

#[test]
fn probe_failures_do_not_print_the_key_even_when_the_provider_echoes_it() {
    let key = canary();
    let echo = |status: u16, content_type: &str| {
        let key = key.clone();
        let content_type = content_type.to_owned();
        move || {
            let provider = FakeProvider::start();
            provider.mount(
                Mock::given(method("GET"))
                    .and(path("/v1/models"))
                    .respond_with(ResponseTemplate::new(status).set_body_raw(format!("bad key {key}"), &content_type)),
            );
            Check::ready().provider(provider)
        }
    };
    let ran = assert_never_printed(&key, echo(500, "text/plain"));
    ran.assert_blocks_only(GateCode::LocalProviderUnreachable);
    let ran = assert_never_printed(&key, echo(200, "application/json"));
    ran.assert_blocks_only(GateCode::LocalProviderUnreachable);
}

#[test]
fn model_not_served_does_not_print_the_key() {
    let key = canary();
    let ran = assert_never_printed(&key, || {
        Check::ready().provider(FakeProvider::serving(&["other-model"]))
    });
    ran.assert_blocks_only(GateCode::AdmittedModelNotServed);
}

#[test]
fn key_typed_into_the_base_url_is_not_printed() {
    let key = canary();
    let cases = [
        format!("http://127.0.0.1:1/v1?key={key}"),
        format!("http://user:{key}@127.0.0.1:1/v1"),
        format!("http://127.0.0.1:1/v1#{key}"),
        // Not a URL (the port is out of range): the text must still not be echoed whole.
        format!("http://127.0.0.1:99999/v1?key={key}"),
        format!("http://user:{key}@127.0.0.1:99999/v1"),
        format!("http://localhost.evil.example/v1?key={key}"),
    ];
    for url in cases {
        let ran = assert_never_printed(&key, || Check::ready().base_url(&url));
        assert_eq!(ran.code(), Some(3), "{url}");
        assert!(ran.provider.requests().is_empty(), "{url}");
    }
}

#[test]
fn malformed_records_and_unknown_variables_do_not_print_the_key() {
    let key = canary();
    assert_never_printed(&key, || Check::ready().decision("decision/duplicate-key.json"))
        .assert_blocks_only(GateCode::DecisionRecordInvalid);
    assert_never_printed(&key, || Check::ready().admission("admission/not-json.json"))
        .assert_blocks_only(GateCode::AdmissionFileInvalid);
    // A misspelt key variable is named, never its value.
    assert_never_printed(&key, || Check::ready().env("CTO_HARNESS_CASE_LOCAL_APIKEY", &key))
        .assert_blocks_only(GateCode::LocalAdapterConfigInvalid);
    assert_never_printed(&key, || Check::ready().no_decision().no_admission().no_base_url());
}
