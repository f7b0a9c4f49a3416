use crate::common::*;

async fn passing_run() -> Sandbox {
    let sandbox = Sandbox::new();
    let server = provider().await;
    let output = run(harness(&sandbox, Some(&base_url(&server))), &sandbox, Vec::new(), &[]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    sandbox
}

fn verify_stdout(sandbox: &Sandbox) -> (Option<i32>, String) {
    let output = verify(&sandbox.out().join("report.json"));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_report_fails_verification() {
    let sandbox = passing_run().await;
    let path = sandbox.out().join("report.json");
    let text = std::fs::read_to_string(&path).expect("report");
    std::fs::write(&path, text.replace("\"candidate\"", "\"admitted\"")).expect("edit");
    let (code, stdout) = verify_stdout(&sandbox);
    assert_eq!(code, Some(1));
    assert!(stdout.contains("seal digest does not match"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_artifact_fails_verification() {
    let sandbox = passing_run().await;
    std::fs::write(sandbox.out().join("adapter-ledger.jsonl"), "").expect("truncate ledger");
    let (code, stdout) = verify_stdout(&sandbox);
    assert_eq!(code, Some(1));
    assert!(stdout.contains("artifact adapter-ledger.jsonl changed"), "{stdout}");
    assert!(
        stdout.contains("fallback proof does not match the adapter ledger"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_written_pass_with_a_valid_seal_still_fails() {
    // A failing run (Case never asked the model), turned into a "pass" by someone who
    // knows the seal algorithm and reseals it.
    let sandbox = Sandbox::new();
    let server = provider().await;
    run(
        harness(&sandbox, Some(&base_url(&server))),
        &sandbox,
        case_script("never_calls_model.py"),
        &[],
    )
    .await;
    let path = sandbox.out().join("report.json");
    let mut report: case_harness::output::Report =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("report");
    assert_eq!(report.outcome, case_harness::output::RunOutcome::Fail);
    report.outcome = case_harness::output::RunOutcome::Pass;
    report.reasons = vec!["all good".to_owned()];
    let digest = case_harness::evidence::seal_digest(&report).expect("digest");
    if let Some(seal) = report.seal.as_mut() {
        seal.digest = digest;
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&report).expect("json")).expect("write");
    let (code, stdout) = verify_stdout(&sandbox);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("outcome pass does not follow from the evidence"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incomplete_placeholder_is_never_verified() {
    let dir = tempfile::tempdir().expect("tempdir");
    case_harness::evidence::write_placeholder(dir.path(), case_harness::output::EvidenceKind::RealStage2)
        .expect("placeholder");
    let output = verify(&dir.path().join("report.json"));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("not sealed"));
}
