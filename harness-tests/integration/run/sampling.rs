//! `run --temperature T --seed N`: the pin reaches the provider on every chat request, the
//! report and the trace record it, and a ledger line edited to show another temperature
//! fails `verify` even when every digest and the seal are recomputed around it.

use serde_json::{Value, json};

use crate::run::common::*;

const PIN: &[&str] = &["--temperature", "0", "--seed", "42"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_run_sends_records_and_verifies_the_pin() {
    let (sandbox, provider, output) = run_against_provider(Vec::new(), PIN).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let bodies = chat_bodies(&provider).await;
    assert!(!bodies.is_empty());
    for body in &bodies {
        assert_eq!(body["temperature"], json!(0.0), "{body}");
        assert_eq!(body["seed"], json!(42), "{body}");
    }
    let report = sandbox.report();
    assert_eq!(report["sampling"], json!({"temperature": 0.0, "seed": 42}));
    let trace = std::fs::read_to_string(sandbox.out().join("trace.jsonl")).expect("trace");
    assert!(
        trace
            .lines()
            .any(|line| line.contains("\"adapter_started\"") && line.contains("\"seed\":42")),
        "{trace}"
    );
    let verified = verify(&sandbox.out().join("report.json"));
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_line_edited_to_another_temperature_fails_verify() {
    let (sandbox, _provider, output) = run_against_provider(Vec::new(), PIN).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let ledger_path = sandbox.out().join("adapter-ledger.jsonl");
    let mut lines: Vec<Value> = std::fs::read_to_string(&ledger_path)
        .expect("ledger")
        .lines()
        .map(|line| serde_json::from_str(line).expect("line"))
        .collect();
    let pinned = lines
        .iter_mut()
        .find(|line| line["sampling"].is_object())
        .expect("a line records the pin");
    pinned["sampling"]["sent"]["temperature"] = json!(1.3);
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(&ledger_path, &text).expect("write ledger");
    // A forger who knows every algorithm: the new digest in the report, the report resealed.
    let report_path = sandbox.out().join("report.json");
    let mut report: case_harness::output::Report =
        serde_json::from_slice(&std::fs::read(&report_path).expect("read")).expect("report");
    report.artifacts.insert(
        "adapter-ledger.jsonl".to_owned(),
        case_harness::records::sha256_hex(text.as_bytes()),
    );
    report.seal.as_mut().expect("sealed").digest = case_harness::evidence::seal_digest(&report).expect("digest");
    std::fs::write(&report_path, serde_json::to_vec_pretty(&report).expect("json")).expect("write");
    case_harness::junit::write_run_junit(&sandbox.out(), &report).expect("junit");

    let output = verify(&report_path);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("sent `temperature` other than the pinned"), "{stdout}");
}

/// `evidence --temperature T --seed N` pins every trial's run, as `run` does; a value `run`
/// would refuse stops `evidence` before any trial.
#[test]
fn evidence_pins_every_trials_run_and_refuses_a_bad_value() {
    let out = tempfile::tempdir().expect("out");
    let evidence = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_case-harness"))
            .args(["evidence", "--filter", "CTO-WORK-022::07", "--out"])
            .arg(out.path().join("evidence"))
            .args(extra)
            .env_remove("CTO_HARNESS_CASE_LOCAL_BASE_URL")
            .output()
            .expect("evidence")
    };
    let refused = evidence(&["--temperature", "3"]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!out.path().join("evidence").exists(), "refused before any trial");
    let pinned = evidence(&["--temperature", "0.5", "--seed", "7"]);
    assert_eq!(
        pinned.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&pinned.stdout)
    );
    let reports: Vec<Value> = walk_reports(&out.path().join("evidence/runs"));
    assert!(!reports.is_empty());
    for report in reports {
        assert_eq!(report["sampling"], json!({"temperature": 0.5, "seed": 7}), "{report}");
    }
}

/// Every `report.json` under `dir`.
fn walk_reports(dir: &std::path::Path) -> Vec<Value> {
    let mut reports = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            reports.extend(walk_reports(&path));
        } else if path.file_name().is_some_and(|name| name == "report.json") {
            reports.push(read_json(&path));
        }
    }
    reports
}
