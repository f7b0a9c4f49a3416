use crate::run::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_case_passes_and_the_report_proves_provider_model_and_no_fallback() {
    let sandbox = Sandbox::new();
    let server = provider().await;
    let canary = format!("upstream-canary-{}", std::process::id());
    let mut command = harness(&sandbox, Some(&base_url(&server)));
    command.env("CTO_HARNESS_CASE_LOCAL_API_KEY", &canary);
    let output = run(command, &sandbox, Vec::new(), &[]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    let report = sandbox.report();
    assert_eq!(report["outcome"], "pass");
    assert_eq!(report["evidence_kind"], "simulated");
    assert_eq!(report["case_model_provider"], "llama.cpp");
    assert_eq!(report["case_model"], MODEL);
    assert_eq!(report["case_model_admission_status"], "candidate");
    let proof = &report["fallback_proof"];
    assert_eq!(proof["fallback_attempts"], 0);
    assert_eq!(proof["no_fallback"], true);
    // The fake provider speaks OpenAI only: the probe found no Messages API.
    assert_eq!(report["adapter_mode"], "translate");
    assert_eq!(proof["served_by_admitted_model"], 1);
    assert_eq!(proof["models_forwarded"], serde_json::json!([MODEL]));
    assert_eq!(report["secret_scan"]["clean"], true);
    assert_eq!(report["case"]["verdict"], "pass");

    // What the provider actually saw: the admitted model, the upstream key, never Case's token.
    let received = server
        .server()
        .received_requests()
        .await
        .expect("request recording is on");
    let chats: Vec<_> = received
        .iter()
        .filter(|request| request.url.path() == "/v1/chat/completions")
        .collect();
    assert_eq!(chats.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&chats[0].body).expect("json");
    assert_eq!(body["model"], MODEL);
    let auth = chats[0]
        .headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    assert_eq!(auth, format!("Bearer {canary}"));

    // Every file of the run folder exists and the key appears in none of them.
    for name in [
        "report.json",
        "trace.jsonl",
        "adapter-ledger.jsonl",
        "case-config.json",
        "task.json",
        "case-stdout.log",
        "case-stderr.log",
        "case-output/result.json",
        "junit.xml",
    ] {
        let bytes = std::fs::read(sandbox.out().join(name)).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&canary),
            "{name} leaks the upstream key"
        );
    }
    assert!(!String::from_utf8_lossy(&output.stdout).contains(&canary));
    assert!(!String::from_utf8_lossy(&output.stderr).contains(&canary));

    let verified = verify(&sandbox.out().join("report.json"));
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );

    let junit = std::fs::read_to_string(sandbox.out().join("junit.xml")).expect("junit");
    assert!(
        junit.contains("CTO-WORK-022::simulated-case-run")
            && junit.contains(r#"name="case_model" value="smollm2-135m-instruct""#),
        "{junit}"
    );
    evidence_snapshots(sandbox.dir.path()).bind(|| insta::assert_snapshot!("passing-run-junit", junit));
}

/// Regression (fresh clone): `cargo run -- evidence` failed 17/19 trials because the reference
/// Case was a second binary that `cargo run` does not build. The binary copied alone into an
/// empty folder must still run the reference Case and pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_alone_runs_the_reference_case_without_a_sibling_binary() {
    let sandbox = Sandbox::new();
    let server = provider().await;
    let lonely = sandbox.path("bin");
    std::fs::create_dir(&lonely).expect("mkdir");
    let exe = lonely.join("case-harness");
    std::fs::copy(env!("CARGO_BIN_EXE_case-harness"), &exe).expect("copy the binary");
    // The same cleared environment as every run test, with the copied program.
    let usual = harness_std(&sandbox, Some(&base_url(&server)));
    let mut alone = std::process::Command::new(&exe);
    alone.env_clear().envs(
        usual
            .get_envs()
            .filter_map(|(name, value)| value.map(|value| (name, value))),
    );
    let output = run(assert_cmd::Command::from_std(alone), &sandbox, Vec::new(), &[]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read_dir(&lonely).expect("ls").count(),
        1,
        "nothing but the one binary"
    );
    assert_eq!(sandbox.report()["case"]["verdict"], "pass");
}
