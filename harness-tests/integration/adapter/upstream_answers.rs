//! Upstream answers relayed as they are: errors (redacted, never retried), non-answers, redirects.

use super::*;

#[tokio::test]
async fn upstream_errors_come_back_as_they_are_and_are_not_retried() {
    for status in [401u16, 404, 429, 500, 503] {
        let server = MockServer::start().await;
        let body = json!({"error": {"message": format!("upstream says {status}")}});
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_json(&body)
                    .insert_header("retry-after", "7"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let adapter = TestAdapter::start(&upstream_base(&server)).await;

        let response = adapter.chat(chat_body(MODEL)).await;
        assert_eq!(response.status().as_u16(), status);
        assert_evidence_headers(&response, &server.address().to_string(), 0);
        assert_eq!(response.headers()["retry-after"], "7");
        assert_eq!(response.json::<Value>().await.expect("json"), body);
        server.verify().await;
        let line = &adapter.ledger()[0];
        assert_eq!((line.outcome, line.status), (Outcome::Forwarded, status));
        assert_eq!(adapter.handle.totals().served_by_admitted_model, 0);
    }
}

#[tokio::test]
async fn upstream_error_bodies_reach_case_with_the_secrets_redacted() {
    for (status, streamed) in [(401u16, false), (500, false), (401, true), (500, true)] {
        let server = MockServer::start().await;
        let text = format!("bad key {KEY} for request with Authorization: Bearer {TOKEN}");
        let template = if streamed {
            ResponseTemplate::new(status).set_body_raw(
                format!("data: {}\n\n", json!({"error": {"message": text}})),
                "text/event-stream",
            )
        } else {
            ResponseTemplate::new(status).set_body_json(json!({"error": {"message": text}}))
        };
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(template)
            .expect(1)
            .mount(&server)
            .await;
        let adapter = TestAdapter::start_with_key(&upstream_base(&server), KEY).await;
        let mut body = chat_body(MODEL);
        body["stream"] = json!(streamed);
        let response = adapter.chat(body).await;
        assert_eq!(response.status().as_u16(), status);
        let bytes = response.bytes().await.expect("body");
        assert!(
            !contains_secret(&bytes, KEY),
            "{status} {streamed}: the upstream key reached Case"
        );
        assert!(
            !contains_secret(&bytes, TOKEN),
            "{status} {streamed}: the token reached Case"
        );
        assert!(
            contains_secret(&bytes, "[redacted]"),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        server.verify().await;
    }
}

#[tokio::test]
async fn a_2xx_that_is_not_an_answer_is_relayed_but_not_counted_as_served() {
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"model": MODEL, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let complete = format!(
        "{}{}data: [DONE]\n\n",
        chunk(json!({"content": "po"}), Value::Null),
        chunk(json!({}), json!("stop"))
    );
    let cut_short = chunk(json!({"content": "po"}), Value::Null);
    let done_without_choices = format!("data: {}\n\ndata: [DONE]\n\n", json!({"model": MODEL, "choices": []}));
    let with_error = format!(
        "{}data: {}\n\n{}",
        chunk(json!({"content": "po"}), Value::Null),
        json!({"error": {"message": "oom"}}),
        chunk(json!({}), json!("stop"))
    );
    let cases: Vec<(ResponseTemplate, bool, Outcome)> = vec![
        (
            ResponseTemplate::new(200).set_body_json(completion(MODEL)),
            false,
            Outcome::Forwarded,
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"error": {"message": "oom"}, "choices": [{}]})),
            false,
            Outcome::UpstreamError,
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"choices": []})),
            false,
            Outcome::UpstreamError,
        ),
        (
            ResponseTemplate::new(200).set_body_string("not json"),
            false,
            Outcome::UpstreamError,
        ),
        (
            ResponseTemplate::new(200).set_body_raw(complete, "text/event-stream"),
            true,
            Outcome::Forwarded,
        ),
        (
            ResponseTemplate::new(200).set_body_raw(cut_short, "text/event-stream"),
            true,
            Outcome::UpstreamError,
        ),
        (
            ResponseTemplate::new(200).set_body_raw(done_without_choices, "text/event-stream"),
            true,
            Outcome::UpstreamError,
        ),
        (
            ResponseTemplate::new(200).set_body_raw(with_error, "text/event-stream"),
            true,
            Outcome::UpstreamError,
        ),
    ];
    for (index, (template, streamed, outcome)) in cases.into_iter().enumerate() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(template)
            .expect(1)
            .mount(&server)
            .await;
        let adapter = TestAdapter::start(&upstream_base(&server)).await;
        let mut body = chat_body(MODEL);
        body["stream"] = json!(streamed);
        let response = adapter.chat(body).await;
        assert_eq!(response.status(), 200, "case {index}");
        let _ = response.bytes().await.expect("body");
        // The stream's ledger line is written as its end is relayed; give it a moment.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let line = &adapter.ledger()[0];
        assert_eq!(line.outcome, outcome, "case {index}: {:?}", line.reason);
        let served = u64::from(outcome == Outcome::Forwarded);
        assert_eq!(adapter.handle.totals().served_by_admitted_model, served, "case {index}");
        adapter.assert_totals_match_file();
    }
}

#[tokio::test]
async fn an_upstream_redirect_is_not_followed_by_the_adapter_or_by_case() {
    let elsewhere = upstream_answering_all(ResponseTemplate::new(200).set_body_json(completion("elsewhere"))).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", format!("{}/v1/chat/completions", elsewhere.uri())),
        )
        .expect(1)
        .mount(&server)
        .await;
    let adapter = TestAdapter::start(&upstream_base(&server)).await;

    let response = adapter.chat(chat_body(MODEL)).await;
    assert_eq!(response.status(), 302);
    assert!(response.headers().get("location").is_none(), "Location handed to Case");
    assert_evidence_headers(&response, &server.address().to_string(), 0);
    assert!(received(&elsewhere).await.is_empty(), "the redirect was followed");
    let line = &adapter.ledger()[0];
    assert_eq!((line.outcome, line.status), (Outcome::Forwarded, 302));
    assert!(
        line.reason
            .as_deref()
            .is_some_and(|reason| reason.contains("not followed"))
    );
}
