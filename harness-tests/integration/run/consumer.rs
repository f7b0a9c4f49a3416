//! Issue 23: another project's suite through `case-harness evidence --fixtures --cases`, with
//! `examples/consumer/`'s own plan, scenarios, fixtures and Cases (nothing of this project's).

use std::path::Path;

fn evidence(consumer_folders: bool) -> (Option<i32>, String, tempfile::TempDir) {
    let out = tempfile::tempdir().expect("tempdir");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/consumer");
    let mut command = assert_cmd::Command::cargo_bin("case-harness").expect("binary");
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
        .arg("evidence")
        .arg("--sot")
        .arg(example.join("plan.md"))
        .arg("--scenarios")
        .arg(example.join("scenarios"))
        .arg("--out")
        .arg(out.path().join("evidence"));
    if consumer_folders {
        command
            .arg("--fixtures")
            .arg(example.join("fixtures"))
            .arg("--cases")
            .arg(example.join("cases"));
    }
    let output = command.output().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text, out)
}

/// Catches `--fixtures`/`--cases` being ignored (the bundled folders have none of the
/// consumer's stems, so every run step would fail) or the consumer's plan not being run.
#[test]
fn evidence_runs_a_consumers_plan_against_its_own_fixtures_and_cases() {
    let (code, text, out) = evidence(true);
    assert_eq!(code, Some(0), "{text}");
    let summary = std::fs::read_to_string(out.path().join("evidence/summary.md")).expect("summary.md");
    assert_eq!(summary.matches("| ✅ pass |").count(), 4, "{summary}");
    assert!(summary.contains("Trials: 4 passed, 0 failed, 0 skipped."), "{summary}");
    assert!(
        summary.contains("| DEMO-WORK-001 | A Case that writes no result fails the run. | ✅ pass |"),
        "{summary}"
    );
}

/// Without `--fixtures` the bundled folder is used, which has none of the consumer's fixtures:
/// the failure names the missing file and the step's key.
#[test]
fn without_its_fixtures_a_consumers_step_names_the_missing_file() {
    let (code, text, out) = evidence(false);
    assert_eq!(code, Some(1), "{text}");
    let junit = std::fs::read_to_string(out.path().join("evidence/junit.xml")).expect("junit.xml");
    assert!(
        junit.contains("fixtures/decision/route-decision.json (`decision = "),
        "{junit}"
    );
    assert!(
        junit.contains("route-decision") && junit.contains("does not exist"),
        "{junit}"
    );
}
