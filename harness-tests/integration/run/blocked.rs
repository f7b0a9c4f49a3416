use crate::run::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_run_never_spawns_case_and_still_writes_evidence() {
    let sandbox = Sandbox::new();
    let marker = sandbox.path("case-was-here");
    let case = vec!["sh".to_owned(), "-c".to_owned(), format!("touch {}", marker.display())];
    // No CTO_HARNESS_CASE_LOCAL_BASE_URL: local_adapter_config_missing.
    let output = run(harness(&sandbox, None), &sandbox, case, &[]).await;

    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(!marker.exists(), "the Case command ran although a gate blocked");
    let report = sandbox.report();
    assert_eq!(report["outcome"], "blocked");
    assert_eq!(report["blocked"], serde_json::json!(["local_adapter_config_missing"]));
    assert_eq!(report["case_process_started"], false);
    let events = events(&sandbox);
    assert!(
        !events.iter().any(|event| event == "case_process_started"),
        "{events:?}"
    );
    assert!(events.iter().any(|event| event == "gate_blocked"), "{events:?}");
    // A blocked report is sealed evidence too.
    assert_eq!(verify(&sandbox.out().join("report.json")).status.code(), Some(0));
    // The whole report, as other tools read it.
    evidence_snapshots(sandbox.dir.path()).bind(|| insta::assert_json_snapshot!("blocked-report", report));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_model_in_the_case_command_blocks_before_spawning() {
    let sandbox = Sandbox::new();
    let server = provider().await;
    let marker = sandbox.path("case-was-here");
    let case = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        format!("touch {}", marker.display()),
        "--model".to_owned(),
        "claude-sonnet-4-6".to_owned(),
    ];
    let output = run(harness(&sandbox, Some(&base_url(&server))), &sandbox, case, &[]).await;
    assert_eq!(output.status.code(), Some(3));
    assert!(!marker.exists());
    assert_eq!(
        sandbox.report()["blocked"],
        serde_json::json!(["external_fallback_configured"])
    );
    assert!(chat_bodies(&server).await.is_empty());
}

/// The task gate runs first: a task file that is missing, or that the reference Case could not
/// read (a typo), is refused with `task_file_invalid` (exit 3) before the run folder exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_task_file_is_refused_before_anything_is_written() {
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let missing = sandbox.path("no-such-task.json");
    let mut command = harness(&sandbox, Some(&base_url(&provider)));
    command
        .args(["run", "--simulated", "--task"])
        .arg(&missing)
        .arg("--out")
        .arg(sandbox.out());
    let output = tokio::task::spawn_blocking(move || command.output().expect("runs"))
        .await
        .expect("join");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("task_file_invalid"), "{stderr}");
    assert_eq!(stderr.matches(&missing.display().to_string()).count(), 1, "{stderr}");
    assert!(!sandbox.out().exists(), "a refused task left a run folder behind");

    sandbox.write(
        "task.json",
        &serde_json::json!({"prompt": "What is the capital of France?", "temprature": 0}),
    );
    let output = run(harness(&sandbox, Some(&base_url(&provider))), &sandbox, Vec::new(), &[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("`temprature`"), "{stderr}");
    assert!(!sandbox.out().exists());
    assert!(
        chat_bodies(&provider).await.is_empty(),
        "the provider was asked nothing"
    );

    // Another Case's task format is its own: the same file passes the gate for it.
    let output = run(
        harness(&sandbox, Some(&base_url(&provider))),
        &sandbox,
        vec!["true".to_owned()],
        &[],
    )
    .await;
    assert_ne!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        sandbox.report()["inputs"]["task"]["sha256"].as_str().map(str::len),
        Some(64)
    );
}

/// `run --admission PATH` stands beside `--decision`: with the variable unset, the flag alone
/// configures the admission (without it the run blocks with admission_file_not_configured).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admission_can_be_given_as_a_flag() {
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let mut command = harness(&sandbox, Some(&base_url(&provider)));
    command.env_remove("CTO_HARNESS_CASE_MODEL_ADMISSION_FILE");
    let admission = sandbox.path("admission.json").display().to_string();
    let output = run(command, &sandbox, Vec::new(), &["--admission", &admission]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = sandbox.report();
    assert_eq!(report["outcome"], "pass");
    assert_eq!(report["inputs"]["admission"]["path"], admission.as_str());
}
