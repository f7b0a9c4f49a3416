use serde_json::Value;

use crate::run::common::*;

/// A finished run of `case` that exited with `exit`.
async fn finished_run(case: Vec<String>, extra: &[&str], exit: i32) -> Sandbox {
    let (sandbox, _provider, output) = run_against_provider(case, extra).await;
    assert_eq!(
        output.status.code(),
        Some(exit),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    sandbox
}

async fn passing_run() -> Sandbox {
    finished_run(Vec::new(), &[], 0).await
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
    reseal(&sandbox, |report| {
        assert_eq!(report.outcome, case_harness::output::RunOutcome::Fail)
    });
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

/// Edits a sealed report and reseals it with the public algorithm, as a forger would.
fn reseal(sandbox: &Sandbox, edit: impl FnOnce(&mut case_harness::output::Report)) {
    let path = sandbox.out().join("report.json");
    let mut report: case_harness::output::Report =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("report");
    edit(&mut report);
    report.outcome = case_harness::output::RunOutcome::Pass;
    report.reasons = vec!["all good".to_owned()];
    let digest = case_harness::evidence::seal_digest(&report).expect("digest");
    if let Some(seal) = report.seal.as_mut() {
        seal.digest = digest;
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&report).expect("json")).expect("write");
}

async fn failing_run(case: &str, extra: &[&str]) -> Sandbox {
    finished_run(case_script(case), extra, 1).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resealed_forgeries_of_each_pass_condition_fail_verification() {
    use case_harness::gates::GateStatus;

    // A leak marked clean (hits left in place, and hits removed).
    let leaked = failing_run("prints_token.py", &[]).await;
    reseal(&leaked, |report| report.secret_scan.clean = true);
    assert!(
        verify_stdout(&leaked)
            .1
            .contains("secret_scan.clean is true but its channels say false")
    );
    reseal(&leaked, |report| {
        for channel in &mut report.secret_scan.channels {
            channel.hits.clear();
        }
        report.secret_scan.clean = true;
    });
    let (code, stdout) = verify_stdout(&leaked);
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("secret hit(s) in backend_logs but the trace says"),
        "{stdout}"
    );

    // A timed-out Case turned into a clean exit.
    let timed_out = failing_run("sleeps.py", &["--timeout", "1"]).await;
    reseal(&timed_out, |report| {
        if let Some(case) = report.case.as_mut() {
            (case.timed_out, case.exit_code, case.signal, case.verdict) =
                (false, Some(0), None, Some(case_harness::output::Verdict::Pass));
        }
    });
    let (code, stdout) = verify_stdout(&timed_out);
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("Case ended with") && stdout.contains("but the trace says"),
        "{stdout}"
    );

    // A candidate admission claimed as admitted.
    let candidate = passing_run().await;
    reseal(&candidate, |report| {
        report.case_model_admission_status = Some(case_harness::records::AdmissionStatus::Admitted)
    });
    let (code, stdout) = verify_stdout(&candidate);
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("the admission the run used says Some(\"candidate\")"),
        "{stdout}"
    );

    // A blocked gate claimed as passed.
    let blocked = Sandbox::new();
    let blocked_output = run(harness(&blocked, None), &blocked, Vec::new(), &[]).await;
    assert_eq!(blocked_output.status.code(), Some(3));
    reseal(&blocked, |report| {
        for gate in &mut report.gates {
            gate.status = GateStatus::Pass;
        }
        report.blocked.clear();
    });
    let (code, stdout) = verify_stdout(&blocked);
    assert_eq!(code, Some(1));
    assert!(stdout.contains("gate results differ from the trace"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resealed_adapter_mode_fails_verification() {
    // The fake provider speaks OpenAI only: the run translated; a report claiming
    // pass-through (the mode that keeps thinking, images, …) is forged.
    let sandbox = passing_run().await;
    reseal(&sandbox, |report| {
        report.adapter_mode = Some(case_harness::adapter::AdapterMode::PassThrough)
    });
    let (code, stdout) = verify_stdout(&sandbox);
    assert_eq!(code, Some(1));
    assert!(
        stdout.contains("adapter_mode") && stdout.contains("adapter_started"),
        "{stdout}"
    );
    // The library says the same as a typed finding: the field and both values, no parsing.
    use case_harness::evidence::{Finding, TraceFinding};
    let findings = case_harness::evidence::verify(&sandbox.out().join("report.json")).expect_err("forged");
    let claimed = case_harness::adapter::AdapterMode::PassThrough.as_str();
    assert!(
        findings.iter().any(|finding| matches!(
            finding,
            Finding::Trace(TraceFinding::AdapterMode { claimed: Some(mode), traced: Some(traced) })
                if *mode == claimed && *traced != claimed
        )),
        "{findings:?}"
    );
}

/// Regression (found by the sealing property test): removing a field whose value is null
/// (`case.signal`) left the typed report, and so its seal digest, unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_null_field_fails_verification() {
    let sandbox = passing_run().await;
    let path = sandbox.out().join("report.json");
    let mut report = read_json(&path);
    assert!(report["case"]["signal"].is_null());
    report["case"].as_object_mut().expect("case").remove("signal");
    std::fs::write(&path, serde_json::to_vec_pretty(&report).expect("json")).expect("write");
    let (code, stdout) = verify_stdout(&sandbox);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("not in the exact form"), "{stdout}");
}

/// Rewrites a sealed run's trace with `edit` (which returns the line it forged, from 1),
/// puts the new digest in the report and reseals it: a forger who knows every algorithm. Only
/// the trace's content can give the forgery away. Returns the forged line's number.
fn forge_trace(sandbox: &Sandbox, edit: impl FnOnce(&mut Vec<Value>) -> usize) -> usize {
    let trace_path = sandbox.out().join("trace.jsonl");
    let mut lines: Vec<Value> = std::fs::read_to_string(&trace_path)
        .expect("trace")
        .lines()
        .map(|line| serde_json::from_str(line).expect("line"))
        .collect();
    let forged = edit(&mut lines);
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(&trace_path, &text).expect("write trace");
    let report_path = sandbox.out().join("report.json");
    let mut report: case_harness::output::Report =
        serde_json::from_slice(&std::fs::read(&report_path).expect("read")).expect("report");
    report.artifacts.insert(
        "trace.jsonl".to_owned(),
        case_harness::records::sha256_hex(text.as_bytes()),
    );
    let digest = case_harness::evidence::seal_digest(&report).expect("digest");
    report.seal.as_mut().expect("sealed").digest = digest;
    std::fs::write(&report_path, serde_json::to_vec_pretty(&report).expect("json")).expect("write");
    case_harness::junit::write_run_junit(&sandbox.out(), &report).expect("junit");
    forged
}

/// The trace is read back as the typed events the harness writes: a line it could not have
/// written (an unknown event, an unknown field, a field of another type) fails verification
/// even when every digest and the seal were recomputed around it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_trace_line_fails_verification_even_when_resealed() {
    let sandbox = passing_run().await;
    // The forger's tools are sound: a trace rewritten unchanged still verifies.
    forge_trace(&sandbox, |_| 0);
    let (code, stdout) = verify_stdout(&sandbox);
    assert_eq!(code, Some(0), "{stdout}");

    let unknown_event = passing_run().await;
    let unknown_event_line = forge_trace(&unknown_event, |lines| {
        let mut forged = lines.last().expect("a line").clone();
        forged["event"] = Value::from("human_review_passed");
        forged.as_object_mut().expect("object").remove("report");
        forged["seq"] = Value::from(lines.len() as u64 + 1);
        lines.push(forged);
        lines.len()
    });
    let unknown_field = passing_run().await;
    let unknown_field_line = forge_trace(&unknown_field, |lines| {
        let sealed = lines.last_mut().expect("evidence_sealed");
        assert_eq!(sealed["event"], "evidence_sealed");
        sealed["reviewed_by"] = Value::from("a human");
        lines.len()
    });
    let wrong_type = passing_run().await;
    let wrong_type_line = forge_trace(&wrong_type, |lines| {
        let index = lines
            .iter()
            .position(|line| line["event"] == "case_process_started")
            .expect("case_process_started");
        let argc = lines[index]["argc"].to_string();
        lines[index]["argc"] = Value::from(argc);
        index + 1
    });
    for (forgery, line) in [
        (&unknown_event, unknown_event_line),
        (&unknown_field, unknown_field_line),
        (&wrong_type, wrong_type_line),
    ] {
        let (code, stdout) = verify_stdout(forgery);
        assert_eq!(code, Some(1), "{stdout}");
        assert!(
            stdout.contains(&format!(
                "trace.jsonl line {line}: not a trace event the harness writes"
            )),
            "{stdout}"
        );
    }
}

/// A run folder sealed before the report and the ledger learnt `upstream_errors` /
/// `upstream_cause` (a real Claude Code Stage 2 on llama-server, 2026-11-30) still verifies: a
/// field added later is written only when it says something, so evidence already on a
/// reviewer's disk keeps its meaning. Copied, because `verify` takes the folder as it is.
#[test]
fn a_run_sealed_by_the_previous_release_still_verifies() {
    let copy = tempfile::tempdir().expect("tempdir");
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/evidence/sealed-before-upstream-errors");
    let folder = copy.path().join("run");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&fixture)
        .arg(&folder)
        .status()
        .expect("cp runs");
    assert!(status.success());
    let output = verify(&folder.join("report.json"));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// `verify DIR`: a run folder is verified through its report.json; a folder with neither a
/// report nor trials.json is refused naming report.json (not only the evidence folder's file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_on_a_folder_names_the_report_it_looks_for() {
    let sandbox = passing_run().await;
    let output = verify(&sandbox.out());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("verified: "), "{stdout}");

    let empty = tempfile::tempdir().expect("tempdir");
    let output = verify(empty.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("holds neither report.json (a run folder)"), "{stdout}");
}
