//! What the adapter refuses and never forwards, and which credential goes upstream.

use super::*;

#[tokio::test]
async fn another_model_is_refused_not_forwarded_and_recorded_as_a_fallback_attempt() {
    let server =
        upstream_answering_all(ResponseTemplate::new(200).set_body_json(completion("claude-sonnet-4-6"))).await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;

    let response = adapter.chat(chat_body("claude-sonnet-4-6")).await;
    assert_eq!(response.status(), 403);
    assert_evidence_headers(&response, &server.address().to_string(), 1);
    let message = error_message(response).await;
    assert!(
        message.contains("claude-sonnet-4-6") && message.contains(MODEL),
        "{message}"
    );

    let mut streaming = chat_body("claude-3-5-haiku-latest");
    streaming["stream"] = json!(true);
    let response = adapter.chat(streaming).await;
    assert_eq!(response.status(), 403);
    assert_evidence_headers(&response, &server.address().to_string(), 2);

    assert!(
        received(&server).await.is_empty(),
        "a refused request reached the upstream"
    );
    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), 2);
    assert_eq!(ledger[0].outcome, Outcome::FallbackRefused);
    assert_eq!(ledger[0].requested_model.as_deref(), Some("claude-sonnet-4-6"));
    assert_eq!(
        (ledger[0].forwarded_model.as_deref(), ledger[0].upstream.as_deref()),
        (None, None)
    );
    assert_eq!(ledger[0].status, 403);
    adapter.assert_refused_fallbacks(2, "claude-sonnet-4-6");
}

#[tokio::test]
async fn a_request_without_a_model_gets_the_admitted_model() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(MODEL)))
        .expect(1)
        .mount(&server)
        .await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;

    let response = adapter
        .chat(json!({"messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(response.status(), 200);
    let got = received(&server).await;
    assert_eq!(got[0].body_json::<Value>().expect("json")["model"], MODEL);
    let line = &adapter.ledger()[0];
    assert_eq!(
        (line.requested_model.as_deref(), line.forwarded_model.as_deref()),
        (None, Some(MODEL))
    );
}

#[tokio::test]
async fn smuggled_routing_is_refused_and_not_forwarded() {
    let server = upstream_answering_all(ResponseTemplate::new(200).set_body_json(completion(MODEL))).await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    let host = server.address().to_string();

    let mut attempts = 0;
    for (field, value) in [
        ("fallbacks", json!(["claude-sonnet-4-6"])),
        ("api_base", json!("https://api.anthropic.com")),
        ("base_url", json!("http://10.0.0.1/v1")),
        ("api_key", json!("sk-ant-xxx")),
        ("custom_llm_provider", json!("anthropic")),
        ("mock_response", json!("hi")),
    ] {
        let mut body = chat_body(MODEL);
        body[field] = value;
        let response = adapter.chat(body).await;
        attempts += 1;
        assert_eq!(response.status(), 403, "{field}");
        assert_evidence_headers(&response, &host, attempts);
        let message = error_message(response).await;
        assert!(message.contains(field), "{message}");
    }
    for header in ["x-fallback-model", "x-litellm-fallbacks", "x-portkey-config"] {
        let response = adapter
            .post("/v1/chat/completions")
            .header(header, "claude-sonnet-4-6")
            .json(&chat_body(MODEL))
            .send()
            .await
            .expect("answer");
        attempts += 1;
        assert_eq!(response.status(), 403, "{header}");
        assert_evidence_headers(&response, &host, attempts);
    }

    assert!(
        received(&server).await.is_empty(),
        "smuggled routing reached the upstream"
    );
    let ledger = adapter.ledger();
    assert_eq!(ledger.len() as u64, attempts);
    assert!(ledger.iter().all(|line| line.outcome == Outcome::FallbackRefused));
    assert!(
        !std::fs::read_to_string(adapter.ledger_path())
            .expect("ledger")
            .contains("sk-ant-xxx")
    );
    assert_eq!(adapter.handle.totals().fallback_attempts, attempts);
}

#[tokio::test]
async fn chat_fields_outside_the_allow_list_are_400_and_not_forwarded() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(MODEL)))
        .expect(0)
        .mount(&server)
        .await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;

    for field in ["lora", "user_config"] {
        let mut body = chat_body(MODEL);
        body[field] = json!([{"id": 0, "scale": 1.0}]);
        let response = adapter.chat(body).await;
        assert_eq!(response.status(), 400, "{field}");
        assert_evidence_headers(&response, &server.address().to_string(), 0);
        let message = error_message(response).await;
        assert!(message.contains(&format!("`{field}`")), "{message}");
    }
    let mut body = chat_body(MODEL);
    body["Model"] = json!("claude-sonnet-4-6");
    let response = adapter.chat(body).await;
    assert_eq!(response.status(), 403);
    assert_evidence_headers(&response, &server.address().to_string(), 1);
    assert!(error_message(response).await.contains("`Model`"));

    server.verify().await;
    let ledger = adapter.ledger();
    let outcomes: Vec<Outcome> = ledger.iter().map(|line| line.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::BadRequest, Outcome::BadRequest, Outcome::FallbackRefused]
    );
    assert_eq!(adapter.handle.totals().fallback_attempts, 1);
    adapter.assert_totals_match_file();
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_401_and_not_forwarded() {
    let server = upstream_answering_all(ResponseTemplate::new(200).set_body_json(completion(MODEL))).await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;
    let host = server.address().to_string();
    let url = adapter.url("/v1/chat/completions");

    let attempts = [
        adapter.client.post(&url).json(&chat_body(MODEL)),
        adapter
            .client
            .post(&url)
            .bearer_auth("not-the-token")
            .json(&chat_body(MODEL)),
        adapter
            .client
            .post(&url)
            .header("x-api-key", "not-the-token")
            .json(&chat_body(MODEL)),
        adapter
            .client
            .post(&url)
            .header("x-api-key", TOKEN)
            .bearer_auth("not-the-token")
            .json(&chat_body(MODEL)),
        adapter.client.get(adapter.url("/v1/models")),
    ];
    let count = attempts.len();
    for request in attempts {
        let response = request.send().await.expect("answer");
        assert_eq!(response.status(), 401);
        assert_evidence_headers(&response, &host, 0);
        assert!(error_message(response).await.contains("per-run token"));
    }
    assert!(
        received(&server).await.is_empty(),
        "an unauthenticated request reached the upstream"
    );
    let ledger = adapter.ledger();
    assert_eq!(ledger.len(), count);
    assert!(
        ledger
            .iter()
            .all(|line| line.outcome == Outcome::Unauthorized && line.status == 401)
    );

    // The same request with the token in x-api-key (as Anthropic clients send it) goes through.
    let response = adapter
        .client
        .post(&url)
        .header("x-api-key", TOKEN)
        .json(&chat_body(MODEL))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn the_upstream_key_goes_upstream_as_bearer_and_the_case_token_never_does() {
    let server = upstream_answering_all(ResponseTemplate::new(200).set_body_json(completion(MODEL))).await;
    let with_key = TestAdapter::start_with_key(&upstream_base(&server), KEY).await;
    let without_key = TestAdapter::start(&upstream_base(&server)).await;

    for adapter in [&with_key, &without_key] {
        let response = adapter
            .post("/v1/chat/completions")
            .header("x-api-key", TOKEN)
            .header("cookie", format!("session={TOKEN}"))
            .header("x-case-secret", TOKEN)
            .header("openai-organization", "org-1")
            .header("accept", "application/json")
            .json(&chat_body(MODEL))
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), 200);
    }

    let got = received(&server).await;
    assert_eq!(got.len(), 2);
    for (request, expected_auth) in got.iter().zip([Some(format!("Bearer {KEY}")), None]) {
        let auth = request
            .headers
            .get("authorization")
            .map(|value| value.to_str().expect("ascii").to_owned());
        assert_eq!(auth, expected_auth);
        for (name, value) in &request.headers {
            assert!(
                !contains_secret(value.as_bytes(), TOKEN),
                "token sent upstream in {name}"
            );
        }
        for name in ["x-api-key", "cookie", "x-case-secret", "openai-organization"] {
            assert!(request.headers.get(name).is_none(), "{name} was forwarded");
        }
        assert_eq!(request.headers["content-type"], "application/json");
        assert_eq!(request.headers["accept"], "application/json");
        assert!(!String::from_utf8_lossy(&request.body).contains(TOKEN));
    }
}
