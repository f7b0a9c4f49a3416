use crate::run::common::*;

fn reasons(sandbox: &Sandbox) -> String {
    sandbox.report()["reasons"].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_for_claude_is_refused_not_forwarded_and_fails_the_run() {
    let (sandbox, server, output) = run_against_provider(case_script("falls_back.py"), &[]).await;
    assert_eq!(output.status.code(), Some(1));
    let report = sandbox.report();
    assert_eq!(report["outcome"], "fail");
    assert_eq!(report["fallback_proof"]["fallback_attempts"], 1);
    assert_eq!(report["fallback_proof"]["no_fallback"], false);
    assert!(
        chat_bodies(&server).await.is_empty(),
        "a claude request reached the provider"
    );
    let stdout = std::fs::read_to_string(sandbox.out().join("case-stdout.log")).expect("log");
    assert!(stdout.contains("refused with HTTP 4"), "{stdout}");
    assert!(
        std::fs::read_to_string(sandbox.out().join("trace.jsonl"))
            .expect("trace")
            .contains("fallback_attempt")
    );
    assert_eq!(verify(&sandbox.out().join("report.json")).status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_that_prints_its_token_fails_with_a_secret_hit_in_backend_logs() {
    let (sandbox, _provider, output) = run_against_provider(case_script("prints_token.py"), &[]).await;
    assert_eq!(output.status.code(), Some(1));
    let report = sandbox.report();
    assert_eq!(report["secret_scan"]["clean"], false);
    let channels = report["secret_scan"]["channels"].as_array().expect("channels");
    let logs = channels
        .iter()
        .find(|channel| channel["channel"] == "backend_logs")
        .expect("backend_logs channel");
    assert_eq!(logs["hits"][0]["secret"], "case_token");
    assert!(
        logs["hits"][0]["location"]
            .as_str()
            .unwrap_or_default()
            .ends_with("case-stdout.log")
    );
    assert!(reasons(&sandbox).contains("case_token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_that_never_calls_the_model_is_not_a_pass() {
    let (sandbox, _provider, output) = run_against_provider(case_script("never_calls_model.py"), &[]).await;
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(sandbox.report()["case"]["verdict"], "pass");
    assert!(
        reasons(&sandbox).contains("no request was served by the admitted model"),
        "{}",
        reasons(&sandbox)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_that_runs_too_long_is_killed_and_fails() {
    let sandbox = Sandbox::new();
    let server = provider().await;
    let started = std::time::Instant::now();
    let output = run(
        harness(&sandbox, Some(&base_url(&server))),
        &sandbox,
        case_script("sleeps.py"),
        &["--timeout", "2"],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the timeout did not stop Case"
    );
    let report = sandbox.report();
    assert_eq!(report["case"]["timed_out"], true);
    assert!(reasons(&sandbox).contains("timed out"));
    assert!(events(&sandbox).iter().any(|event| event == "case_timed_out"));
}

/// Regression: a Case command that cannot be started gave a report that could never verify
/// (the trace had `case_process_started` and no end). It must be a sealed, verifiable `fail`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_that_cannot_be_spawned_is_a_verifiable_fail() {
    let missing = vec!["/no/such/program".to_owned()];
    let (sandbox, _provider, output) = run_against_provider(missing, &[]).await;
    assert_eq!(output.status.code(), Some(1), "{}", reasons(&sandbox));
    let report = sandbox.report();
    assert_eq!(report["outcome"], "fail");
    assert!(
        reasons(&sandbox).contains("cannot start Case command"),
        "{}",
        reasons(&sandbox)
    );
    let verified = verify(&sandbox.out().join("report.json"));
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
}

/// A Case that says why it fails on stderr and exits 2: the reasons end with those words and
/// the log's path, both in the sealed report and in what `run` prints; a line holding the
/// run's token is withheld, never shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_ends_its_reasons_with_the_tail_of_cases_stderr() {
    let case = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        "echo 'starting'; echo 'noise' >&2; echo \"token is $CASE_API_KEY\" >&2; \
         echo 'claude-case: task check kind \"wrod\" is not known' >&2; exit 2"
            .to_owned(),
    ];
    let (sandbox, _provider, output) = run_against_provider(case, &[]).await;
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let log = sandbox
        .out()
        .canonicalize()
        .expect("run folder")
        .join("case-stderr.log");
    let reasons: Vec<String> = sandbox.report()["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|reason| reason.as_str().expect("text").to_owned())
        .collect();
    let at = reasons
        .iter()
        .position(|reason| reason.starts_with("the last "))
        .unwrap_or_else(|| panic!("no reason gives Case's stderr: {reasons:?}"));
    assert_eq!(
        reasons[at..],
        [
            format!("the last 3 line(s) of Case's stderr ({}):", log.display()),
            "stderr: noise".to_owned(),
            "stderr: [line withheld: it holds one of the run's secrets]".to_owned(),
            "stderr: claude-case: task check kind \"wrod\" is not known".to_owned(),
        ]
    );
    assert!(
        reasons.iter().any(|reason| reason == "Case exited with code 2"),
        "{reasons:?}"
    );
    assert!(stdout.contains("task check kind \"wrod\" is not known"), "{stdout}");
    assert!(stdout.contains(&log.display().to_string()), "{stdout}");
    assert!(!stdout.contains("chc-token-"), "{stdout}");
    assert_eq!(verify(&sandbox.out().join("report.json")).status.code(), Some(0));
}
