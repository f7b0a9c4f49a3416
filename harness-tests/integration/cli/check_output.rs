//! `check`'s output as a product: the whole JSON object and the whole human table, compared
//! with snapshots (port and paths replaced by placeholders), the `--decision` flag, and usage
//! errors (exit 2).

use case_harness::gates::GateCode;
use predicates::prelude::*;

use crate::cli::util::{Check, Ran, assert_snapshot, fixture, harness, redact, root};

/// The output with the fake provider's port and the crate root replaced by placeholders.
fn redacted(ran: &Ran) -> String {
    let port = ran.provider.port().to_string();
    redact(
        &ran.stdout(),
        &[
            (&format!("127.0.0.1:{port}"), "127.0.0.1:[PORT]"),
            (&root().display().to_string(), "[ROOT]"),
        ],
    )
}

#[test]
fn ready_json_is_exactly_the_snapshot() {
    let ran = Check::ready().run_json();
    ran.assert_ready();
    assert_snapshot("check-ready.json", &redacted(&ran));
}

#[test]
fn ready_human_prints_the_verdict_and_a_line_per_gate() {
    let ran = Check::ready().run("human");
    assert_eq!(ran.code(), Some(0));
    assert_eq!(ran.stderr(), "");
    let stdout = redacted(&ran);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "ready: every gate passed; Case may start");
    assert_eq!(lines.len(), 1 + GateCode::ALL.len());
    for (line, code) in lines[1..].iter().zip(GateCode::ALL) {
        let words: Vec<&str> = line.split_whitespace().take(2).collect();
        assert_eq!(words, ["pass", code.as_str()], "{line}");
    }
    assert_snapshot("check-ready.txt", &stdout);
}

#[test]
fn nothing_configured_json_is_exactly_the_snapshot() {
    // What a newcomer sees first: no decision, no admission, no base URL.
    let ran = Check::ready().no_decision().no_admission().no_base_url().run_json();
    ran.assert_blocks_exactly(&[
        GateCode::DecisionRecordMissing,
        GateCode::AdmissionFileNotConfigured,
        GateCode::LocalAdapterConfigMissing,
    ]);
    assert_snapshot("check-nothing-configured.json", &redacted(&ran));
}

#[test]
fn blocked_human_names_every_blocking_gate_in_the_verdict() {
    let ran = Check::ready().no_decision().no_admission().no_base_url().run("human");
    assert_eq!(ran.code(), Some(3));
    assert_eq!(ran.stderr(), "");
    let stdout = redacted(&ran);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "blocked: 3 gate(s) block before case_process_started: decision_record_missing, admission_file_not_configured, local_adapter_config_missing"
    );
    assert_eq!(lines.len(), 1 + GateCode::ALL.len());
    for (line, code) in lines[1..].iter().zip(GateCode::ALL) {
        assert_eq!(line.split_whitespace().nth(1), Some(code.as_str()), "{line}");
    }
    assert_snapshot("check-nothing-configured.txt", &stdout);
}

#[test]
fn human_is_the_default_format() {
    let ready = Check::ready().run("human");
    let mut command = harness();
    command
        .arg("check")
        .env(
            "CTO_HARNESS_CASE_DECISION_FILE",
            fixture("decision/local-provider-required.json"),
        )
        .env(
            "CTO_HARNESS_CASE_MODEL_ADMISSION_FILE",
            fixture("admission/candidate-smollm2.json"),
        )
        .env(
            "CTO_HARNESS_CASE_LOCAL_BASE_URL",
            format!("{}/v1", ready.provider.uri()),
        );
    command.assert().code(0).stdout(ready.stdout());
}

#[test]
fn decision_flag_overrides_the_variable() {
    let good = fixture("decision/local-provider-required.json");
    let ran = Check::ready()
        .decision("decision/not-json.json")
        .arg("--decision")
        .arg(good.to_str().expect("UTF-8 path"))
        .run_json();
    ran.assert_ready();
}

#[test]
fn decision_flag_alone_is_enough() {
    let good = fixture("decision/local-provider-required.json");
    let ran = Check::ready()
        .no_decision()
        .arg("--decision")
        .arg(good.to_str().expect("UTF-8 path"))
        .run_json();
    ran.assert_ready();
}

#[test]
fn usage_errors_exit_2() {
    harness()
        .args(["check", "--format", "xml"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("invalid value 'xml' for '--format"));
    harness()
        .args(["check", "--probe-timeout", "0"])
        .assert()
        .code(2)
        .stdout("")
        .stderr("case-harness: error: --probe-timeout must be a positive number of seconds, got 0\n");
    harness().arg("launch").assert().code(2).stdout("");
}
