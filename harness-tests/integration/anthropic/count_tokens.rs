//! `count_tokens`: the upstream's own tokenizer (llama.cpp `/tokenize`, llama-cpp-python's
//! extras) when it has one, a flagged estimate when not.

use super::*;

fn count_request() -> Value {
    json!({"model": MODEL, "system": "Be brief.",
           "messages": [{"role": "user", "content": "What is the capital of France?"}],
           "tools": [{"name": "lookup", "description": "Look it up", "input_schema": {"type": "object"}}]})
}

/// One `count_tokens` request: its status, the token-count source header and the body.
async fn count(adapter: &TestAdapter) -> (u16, String, Value) {
    let response = anthropic_post(adapter, "/v1/messages/count_tokens", &count_request())
        .send()
        .await
        .expect("answer");
    let source = response.headers()[HEADER_TOKEN_COUNT]
        .to_str()
        .expect("ascii")
        .to_owned();
    (
        response.status().as_u16(),
        source,
        response.json::<Value>().await.expect("json"),
    )
}

#[tokio::test]
async fn count_tokens_uses_llama_cpp_tokenize_when_the_upstream_has_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/tokenize"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tokens": [1, 2, 3, 4, 5, 6, 7]})))
        .expect(2)
        .mount(&server)
        .await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    for _ in 0..2 {
        let (status, source, body) = count(&adapter).await;
        assert_eq!(status, 200);
        assert_eq!(source, "exact");
        assert_eq!(body, json!({"input_tokens": 7}));
    }
    server.verify().await;
    let got = received(&server).await;
    let sent = got[0].body_json::<Value>().expect("json");
    let text = sent["content"].as_str().expect("content");
    assert!(
        text.contains("What is the capital of France?") && text.contains("Be brief.") && text.contains("lookup"),
        "{text}"
    );
    assert!(sent.get("model").is_none(), "the tokenizer request names no model");
    assert_not_forwarded_headers(&got[0]);
    let ledger = adapter.ledger();
    assert!(ledger.iter().all(|line| line.outcome == Outcome::Forwarded
        && line.api == Api::Anthropic
        && line.forwarded_model.is_none()));
    assert_eq!(
        adapter.handle.totals().served_by_admitted_model,
        0,
        "counting tokens is not an answer from the model"
    );
}

#[tokio::test]
async fn count_tokens_uses_llama_cpp_python_extras_when_tokenize_is_missing() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/extras/tokenize/count"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"count": 12})))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"detail": "Not Found"})))
        .mount(&server)
        .await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    for _ in 0..2 {
        let (_, source, body) = count(&adapter).await;
        assert_eq!(source, "exact");
        assert_eq!(body, json!({"input_tokens": 12}));
    }
    server.verify().await;
    let paths: Vec<String> = received(&server)
        .await
        .iter()
        .map(|request| request.url.path().to_owned())
        .collect();
    assert_eq!(
        paths,
        ["/tokenize", "/extras/tokenize/count", "/extras/tokenize/count"],
        "the working endpoint is remembered"
    );
    let sent = received(&server).await[1].body_json::<Value>().expect("json");
    assert!(
        sent["input"].as_str().is_some_and(|input| input.contains("France")),
        "{sent}"
    );
    assert_eq!(sent["model"], MODEL, "llama-cpp-python is told which model counts");
}

#[tokio::test]
async fn count_tokens_asks_no_tokenizer_when_the_base_url_is_not_v1() {
    let server =
        upstream_answering_all(ResponseTemplate::new(200).set_body_json(json!({"tokens": [1, 2], "count": 2}))).await;
    let adapter = TestAdapter::start(&format!("{}/gateway/v1", server.uri())).await;
    let (status, source, body) = count(&adapter).await;
    assert_eq!(status, 200);
    assert_eq!(source, "estimate");
    assert_eq!(body, json!({"input_tokens": estimate_input_tokens(&count_request())}));
    assert!(received(&server).await.is_empty(), "the server root was asked");
    assert_eq!(adapter.ledger()[0].outcome, Outcome::AnsweredLocally);
}

#[tokio::test]
async fn count_tokens_falls_back_to_a_flagged_estimate() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    let expected = estimate_input_tokens(&count_request());
    assert!(expected > 0);
    for _ in 0..2 {
        let (status, source, body) = count(&adapter).await;
        assert_eq!(status, 200);
        assert_eq!(source, "estimate");
        assert_eq!(body, json!({"input_tokens": expected}));
    }
    assert_eq!(
        received(&server).await.len(),
        2,
        "both endpoints are tried once; a server without them is not asked again"
    );
    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), 2);
    assert!(ledger.iter().all(|line| line.outcome == Outcome::AnsweredLocally));
    assert!(
        ledger[0]
            .reason
            .as_deref()
            .is_some_and(|reason| reason.contains("estimated"))
    );
    assert_eq!(adapter.handle.totals().served_by_admitted_model, 0);

    // Unsupported content is refused here too, before anything is counted.
    let image = json!({"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]});
    let response = anthropic_post(&adapter, "/v1/messages/count_tokens", &image)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.expect("json")["error"]["type"],
        "invalid_request_error"
    );
}

#[tokio::test]
async fn a_transient_tokenizer_failure_is_an_estimate_but_not_remembered() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/tokenize"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/tokenize"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tokens": [1, 2]})))
        .mount(&server)
        .await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(count(&adapter).await.1);
    }
    assert_eq!(seen, ["estimate", "exact"]);
}
