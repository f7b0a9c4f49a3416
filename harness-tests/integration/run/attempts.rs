//! `run --attempts N [--require K] [--parallel P]`: N attempts each in its own sealed folder,
//! an aggregate with the rate, its interval and pass@k, and `verify` (with and without
//! `--key`) refusing an aggregate whose attempts were removed or whose rate was edited.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::run::common::*;

fn keys(sandbox: &Sandbox) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(sandbox.path("keys")).expect("keys dir");
    let generated = case_harness::signing::keygen(&sandbox.path("keys").join("signing.key")).expect("keygen");
    (sandbox.path("keys").join("signing.key"), generated.public_path)
}

/// `run --simulated --attempts …` of `case` (empty: the reference Case), signed with a
/// fresh key; returns the sandbox, the public key and the output.
async fn attempts(case: Vec<String>, extra: &[&str]) -> (Sandbox, PathBuf, std::process::Output) {
    let sandbox = Sandbox::new();
    let (private, public) = keys(&sandbox);
    let provider = provider().await;
    let mut command = harness(&sandbox, Some(&base_url(&provider)));
    command.env("CASE_HARNESS_SIGNING_KEY", &private);
    let output = run(command, &sandbox, case, extra).await;
    (sandbox, public, output)
}

fn verify_with(path: &Path, key: Option<&Path>) -> (Option<i32>, String) {
    let mut command = assert_cmd::Command::cargo_bin("case-harness").expect("binary");
    command.env_clear().arg("verify");
    if let Some(key) = key {
        command.arg("--key").arg(key);
    }
    let output = command.arg(path).output().expect("runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn aggregate_path(sandbox: &Sandbox) -> PathBuf {
    sandbox.out().join("aggregate.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_pinned_attempts_pass_with_their_rate_and_verify() {
    let (sandbox, public, output) = attempts(
        Vec::new(),
        &[
            "--attempts",
            "3",
            "--parallel",
            "2",
            "--temperature",
            "0",
            "--seed",
            "42",
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("3 of 3 attempt(s) passed"), "{stdout}");
    let aggregate = read_json(&aggregate_path(&sandbox));
    assert_eq!(aggregate["passes"], json!(3));
    assert_eq!(aggregate["pass_rate"], json!(1.0));
    assert_eq!(aggregate["sampling"], json!({"temperature": 0.0, "seed": 42}));
    assert_eq!(aggregate["pass_at_k"].as_array().map(Vec::len), Some(3));
    let low = aggregate["wilson_95"]["low"].as_f64().expect("low");
    assert!((low - 0.4385).abs() < 1e-3, "{low}");
    for index in 1..=3 {
        let report = read_json(&sandbox.out().join(format!("attempt-{index}/report.json")));
        assert_eq!(report["outcome"], json!("pass"));
        assert_eq!(
            aggregate["runs"][index - 1]["report_digest"],
            report["seal"]["digest"],
            "attempt {index}"
        );
    }
    let summary = std::fs::read_to_string(sandbox.out().join("summary.md")).expect("summary");
    assert!(summary.contains("| attempt-3 | pass |"), "{summary}");
    let junit = std::fs::read_to_string(sandbox.out().join("junit.xml")).expect("junit");
    assert!(junit.contains("3 of 3 passed, rate 1.00"), "{junit}");
    assert!(junit.contains("simulated-case-run::attempt-2"), "{junit}");
    let (code, stdout) = verify_with(&aggregate_path(&sandbox), Some(&public));
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("3 of 3 attempts passed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_attempts_exit_1_unless_enough_passed() {
    let (sandbox, _public, output) = attempts(case_script("never_calls_model.py"), &["--attempts", "2"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("0 of 2 attempt(s) passed"), "{stdout}");
    let aggregate = read_json(&aggregate_path(&sandbox));
    assert_eq!(aggregate["outcome"], json!("fail"));
    assert_eq!(aggregate["wilson_95"]["low"], json!(0.0));
    // A failed aggregate verifies (it is what happened), and says it failed.
    let (code, stdout) = verify_with(&aggregate_path(&sandbox), None);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("(fail "), "{stdout}");
}

/// Edits aggregate.json and reseals it, as a forger who knows the algorithm would.
fn reseal(sandbox: &Sandbox, edit: impl FnOnce(&mut Value)) {
    let path = aggregate_path(sandbox);
    let mut aggregate = read_json(&path);
    edit(&mut aggregate);
    aggregate.as_object_mut().expect("object").remove("seal");
    let digest = case_harness::records::sha256_hex(case_harness::evidence::canonical_json(&aggregate).as_bytes());
    aggregate["seal"] = json!({"algorithm": "sha256-canonical-json", "digest": digest});
    std::fs::write(&path, serde_json::to_vec_pretty(&aggregate).expect("json")).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_attempt_fails_verify_and_verify_key() {
    let (sandbox, public, output) = attempts(Vec::new(), &["--attempts", "3"]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    // The attempt's folder gone, and the aggregate rewritten to list two of two.
    std::fs::remove_dir_all(sandbox.out().join("attempt-3")).expect("remove");
    let (code, stdout) = verify_with(&aggregate_path(&sandbox), None);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("attempt-3"), "{stdout}");
    reseal(&sandbox, |aggregate| {
        aggregate["attempts"] = json!(2);
        aggregate["required"] = json!(2);
        aggregate["runs"].as_array_mut().expect("runs").pop();
    });
    let (code, stdout) = verify_with(&aggregate_path(&sandbox), None);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("does not follow from the attempts"), "{stdout}");
    let (code, stdout) = verify_with(&aggregate_path(&sandbox), Some(&public));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("was signed but is missing"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_rate_fails_verify_and_verify_key() {
    let (sandbox, public, output) = attempts(case_script("never_calls_model.py"), &["--attempts", "2"]).await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    reseal(&sandbox, |aggregate| {
        aggregate["pass_rate"] = json!(1.0);
        aggregate["passes"] = json!(2);
        aggregate["outcome"] = json!("pass");
    });
    let (code, stdout) = verify_with(&aggregate_path(&sandbox), None);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("pass_rate does not follow from the attempts"),
        "{stdout}"
    );
    let (code, stdout) = verify_with(&aggregate_path(&sandbox), Some(&public));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("aggregate.json changed since it was signed"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reads_an_attempts_folder_only_through_its_aggregate() {
    let (sandbox, _public, output) = attempts(case_script("never_calls_model.py"), &["--attempts", "2"]).await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_case-harness"))
        .env_clear()
        .args(["status", "--format", "json", "--sot"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sot/seed-one-line.md"))
        .arg("--evidence")
        .arg(sandbox.out())
        .output()
        .expect("status runs");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("an aggregate that did not pass: 0 of 2 attempts passed"),
        "{text}"
    );
    assert!(
        !text.contains("attempt-1/report.json"),
        "an attempt was read on its own: {text}"
    );
}
