//! `case-harness status`: the SOT's work items as written plus the status the evidence
//! supports. With no evidence, CTO-WORK-020 and CTO-WORK-022 stay `blocked` (with reasons) and
//! CTO-WORK-021 keeps its SOT status; a hand-written report counts for nothing; a malformed
//! SOT is an error (exit 2) that names the file, line and column.

use predicates::prelude::*;
use serde_json::Value;

use crate::cli::util::{assert_snapshot, fixture, harness, text};

/// `status --sot fixtures/<sot> --evidence <evidence> --format <format>`.
fn status(sot: &str, evidence: &std::path::Path, format: &str) -> assert_cmd::Command {
    let mut command = harness();
    command
        .arg("status")
        .arg("--sot")
        .arg(fixture(sot))
        .arg("--evidence")
        .arg(evidence)
        .arg("--format")
        .arg(format);
    command
}

fn stdout_of(command: &mut assert_cmd::Command) -> String {
    let output = command.assert().code(0).stderr("").get_output().clone();
    text(&output.stdout)
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|item| item.as_str().expect("a string"))
        .collect()
}

#[test]
fn seed_with_empty_evidence_json_is_exactly_the_snapshot() {
    let evidence = tempfile::tempdir().expect("tempdir");
    let stdout = stdout_of(&mut status("sot/seed-one-line.md", evidence.path(), "json"));
    assert_eq!(stdout.lines().count(), 1, "one JSON object on one line");
    assert_snapshot("status-seed-empty-evidence.json", &stdout);

    // The same facts, spelled out, so a reader need not diff the snapshot.
    let value: Value = serde_json::from_str(&stdout).expect("JSON");
    let top: Vec<&String> = value.as_object().expect("object").keys().collect();
    assert_eq!(top, ["derived", "work_items"]);
    let items = value["work_items"].as_array().expect("array");
    let ids: Vec<&str> = items.iter().map(|item| item["id"].as_str().expect("id")).collect();
    assert_eq!(ids, ["CTO-WORK-021", "CTO-WORK-022"]);
    for item in items {
        let keys: Vec<&String> = item.as_object().expect("object").keys().collect();
        assert_eq!(
            keys,
            ["acceptance", "blocked_by", "current_unblock", "id", "status", "title"]
        );
    }
    let counts = |item: &Value| {
        (
            item["acceptance"].as_array().map(Vec::len),
            item["blocked_by"].as_array().map(Vec::len),
            item["current_unblock"].as_array().map(Vec::len),
        )
    };
    assert_eq!(counts(&items[0]), (Some(9), Some(0), Some(0)));
    assert_eq!(counts(&items[1]), (Some(10), Some(2), Some(3)));
    assert_eq!(items[0]["status"], "validated");
    assert_eq!(items[1]["status"], "blocked");

    let derived = value["derived"].as_object().expect("object");
    let ids: Vec<&String> = derived.keys().collect();
    assert_eq!(
        ids,
        ["CTO-WORK-020", "CTO-WORK-021", "CTO-WORK-022"],
        "CTO-WORK-020 is derived though the SOT omits it"
    );
    assert_eq!(derived["CTO-WORK-020"]["status"], "blocked");
    assert_eq!(
        strings(&derived["CTO-WORK-020"]["reasons"]),
        [
            "cannot confirm an admission: CTO_HARNESS_CASE_MODEL_ADMISSION_FILE is not set (the harness never admits; CTO-WORK-020 does)",
            "no verified real_stage2 pass report",
        ]
    );
    assert_eq!(derived["CTO-WORK-021"]["status"], "validated");
    assert_eq!(derived["CTO-WORK-022"]["status"], "blocked");
    assert_eq!(
        strings(&derived["CTO-WORK-022"]["reasons"]),
        [
            "remaining blocker: no verified real_stage2 pass report (run `case-harness run` against CTO_HARNESS_CASE_LOCAL_BASE_URL)"
        ]
    );
    for id in ["CTO-WORK-020", "CTO-WORK-021", "CTO-WORK-022"] {
        assert_eq!(derived[id]["evidence"], serde_json::json!([]), "{id}");
    }
}

#[test]
fn both_seed_forms_give_the_same_status() {
    let evidence = tempfile::tempdir().expect("tempdir");
    for format in ["json", "human"] {
        let one_line = stdout_of(&mut status("sot/seed-one-line.md", evidence.path(), format));
        let multi_line = stdout_of(&mut status("sot/seed-multi-line.md", evidence.path(), format));
        assert_eq!(one_line, multi_line, "{format}");
    }
}

#[test]
fn without_sot_status_reads_the_bundled_seed_as_run_and_evidence_do() {
    let evidence = tempfile::tempdir().expect("tempdir");
    let explicit = stdout_of(&mut status("sot/seed-one-line.md", evidence.path(), "json"));
    let defaulted = stdout_of(
        harness()
            .arg("status")
            .arg("--evidence")
            .arg(evidence.path())
            .args(["--format", "json"]),
    );
    assert_eq!(defaulted, explicit);
}

#[test]
fn seed_with_empty_evidence_human_is_exactly_the_snapshot() {
    let evidence = tempfile::tempdir().expect("tempdir");
    let stdout = stdout_of(&mut status("sot/seed-one-line.md", evidence.path(), "human"));
    assert_snapshot("status-seed-empty-evidence.txt", &stdout);
}

#[test]
fn candidate_admission_is_named_as_the_reason_020_stays_blocked() {
    let evidence = tempfile::tempdir().expect("tempdir");
    let stdout = stdout_of(status("sot/seed-one-line.md", evidence.path(), "json").env(
        "CTO_HARNESS_CASE_MODEL_ADMISSION_FILE",
        fixture("admission/candidate-smollm2.json"),
    ));
    let value: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(value["derived"]["CTO-WORK-020"]["status"], "blocked");
    assert_eq!(
        strings(&value["derived"]["CTO-WORK-020"]["reasons"]),
        [
            "admission for llama.cpp/smollm2-135m-instruct is \"candidate\", not \"admitted\" (the harness never admits; CTO-WORK-020 does)",
            "no verified real_stage2 pass report",
        ]
    );
}

#[test]
fn a_hand_written_pass_report_counts_for_nothing() {
    let evidence = tempfile::tempdir().expect("tempdir");
    let run = evidence.path().join("run-1");
    std::fs::create_dir(&run).expect("mkdir");
    let report = run.join("report.json");
    std::fs::write(
        &report,
        r#"{"outcome":"pass","evidence_kind":"real_stage2","case_model_provider":"llama.cpp","case_model":"smollm2-135m-instruct","case_model_admission_status":"admitted"}"#,
    )
    .expect("write");
    let stdout = stdout_of(status("sot/seed-one-line.md", evidence.path(), "json").env(
        "CTO_HARNESS_CASE_MODEL_ADMISSION_FILE",
        fixture("admission/admitted-smollm2.json"),
    ));
    let value: Value = serde_json::from_str(&stdout).expect("JSON");
    for id in ["CTO-WORK-020", "CTO-WORK-022"] {
        let derived = &value["derived"][id];
        assert_eq!(derived["status"], "blocked", "{id}");
        assert_eq!(derived["evidence"], serde_json::json!([]), "{id}");
        let reasons = strings(&derived["reasons"]);
        let named = format!("{} does not count", report.display());
        assert!(
            reasons.iter().any(|reason| reason.starts_with(&named)),
            "{id}: {reasons:?}"
        );
    }
}

#[test]
fn malformed_sot_exits_2_naming_file_line_and_column() {
    let evidence = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "sot/malformed-heading-without-id.md",
            "line 16, column 1: heading \"Notes for later\" has no work-item id",
        ),
        (
            "sot/malformed-bullets-outside-section.md",
            "line 14, column 1: bullets outside a section",
        ),
        (
            "sot/malformed-acceptance-without-bullets.md",
            "line 12, column 1: `Acceptance:` has no bullets",
        ),
        (
            "sot/malformed-duplicate-id.md",
            "line 16, column 1: duplicate work item id CTO-WORK-031",
        ),
        ("sot/malformed-no-work-items.md", "line 8, column 54: no work items"),
        (
            "sot/malformed-truncated.md",
            "line 1, column 1677: bullet \"Missing local adapter config blocks before `case_process_st\" has an unclosed backtick",
        ),
    ];
    for (sot, expected) in cases {
        let prefix = format!("case-harness: error: {} {expected}", fixture(sot).display());
        status(sot, evidence.path(), "json")
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::starts_with(prefix).and(predicate::str::ends_with("\n")));
    }
}

#[test]
fn unreadable_inputs_exit_2() {
    let evidence = tempfile::tempdir().expect("tempdir");
    let absent = evidence.path().join("absent");
    status("sot/seed-one-line.md", &absent, "json")
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(format!(
            "{}: cannot read evidence folder",
            absent.display()
        )));
    status("sot/seed-one-line.md", evidence.path(), "json")
        .env(
            "CTO_HARNESS_CASE_MODEL_ADMISSION_FILE",
            fixture("admission/not-json.json"),
        )
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("admission/not-json.json: field `.`"));
}

/// `status | head` with the reader gone: the command ends quietly by SIGPIPE, as `grep` does,
/// instead of panicking with "failed printing to stdout".
#[test]
fn a_reader_that_goes_away_ends_status_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let evidence = tempfile::tempdir().expect("tempdir");
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_case-harness"))
        .env_clear()
        .arg("status")
        .arg("--sot")
        .arg(fixture("sot/seed-one-line.md"))
        .arg("--evidence")
        .arg(evidence.path())
        .stdout(writer)
        .output()
        .expect("runs");
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.signal(), Some(libc::SIGPIPE), "{stderr}");
}
