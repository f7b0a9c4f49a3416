//! Regression tests for the red-team findings (issue 11), each named after its finding and
//! reproducing the attack: a Case (or someone after it) that hides, forges or stalls.
//! docs/reliability.md lists them.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::run::common::*;

/// A Case that does `action` in `sh` (working directory `case-output/`, the run folder is
/// `..`) and then does the job well.
fn case_that(action: &str) -> Vec<String> {
    let well_behaved = case_script("well_behaved.py");
    vec![
        "sh".to_owned(),
        "-c".to_owned(),
        format!("{action} && exec {} {}", well_behaved[0], well_behaved[1]),
    ]
}

fn reasons(sandbox: &Sandbox) -> String {
    sandbox.report()["reasons"].to_string()
}

fn verify_output(sandbox: &Sandbox) -> (Option<i32>, String) {
    let output = verify_bounded(&sandbox.out().join("report.json"));
    (output.0, output.1)
}

/// `case-harness verify`, killed (and the test failed) if it has not finished after a
/// minute: the findings below are about reads that never end.
fn verify_bounded(report: &Path) -> (Option<i32>, String) {
    bounded(
        std::process::Command::new(env!("CARGO_BIN_EXE_case-harness"))
            .arg("verify")
            .arg(report),
    )
}

fn bounded(command: &mut std::process::Command) -> (Option<i32>, String) {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stdout = String::new();
            use std::io::Read;
            child
                .stdout
                .take()
                .expect("stdout")
                .read_to_string(&mut stdout)
                .expect("read");
            return (status.code(), stdout);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after a minute: a read that never ends");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn passing_run() -> Sandbox {
    let (sandbox, _provider, output) = run_against_provider(Vec::new(), &[]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(verify_output(&sandbox).0, Some(0), "a fresh pass verifies");
    sandbox
}

fn mkfifo(path: &Path) {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL");
    // SAFETY: mkfifo(3) on a NUL-terminated path in a temp folder this test owns.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_2_temp_named_files_added_after_sealing_fail_verification() {
    let sandbox = passing_run().await;
    std::fs::write(sandbox.out().join(".case-harness-tmp-forged"), "x").expect("write");
    std::fs::write(sandbox.out().join("case-output/.case-harness-tmp-leak"), "x").expect("write");
    let (code, stdout) = verify_output(&sandbox);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("file .case-harness-tmp-forged is in the run folder but not in the report")
            && stdout.contains("file case-output/.case-harness-tmp-leak is in the run folder"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_2_a_replaced_junit_xml_fails_verification() {
    let sandbox = passing_run().await;
    let junit = sandbox.out().join("junit.xml");
    let text = std::fs::read_to_string(&junit).expect("junit");
    std::fs::write(&junit, text.replace("tests=\"1\"", "tests=\"2\"")).expect("write");
    let (code, stdout) = verify_output(&sandbox);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("junit.xml differs from the JUnit the harness writes"),
        "{stdout}"
    );
    std::fs::remove_file(&junit).expect("remove");
    assert!(
        verify_output(&sandbox).1.contains("junit.xml"),
        "a missing junit.xml is a finding"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_4_a_symlink_in_case_output_whose_target_is_the_token_fails_the_run() {
    let (sandbox, _provider, output) =
        run_against_provider(case_that("ln -s \"$CASE_API_KEY\" leaked-link"), &[]).await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = sandbox.report();
    assert_eq!(report["secret_scan"]["clean"], false);
    let reasons = reasons(&sandbox);
    assert!(
        reasons.contains("secret `case_token` found in case_output"),
        "{reasons}"
    );
    assert!(reasons.contains("case-output/leaked-link is a symlink"), "{reasons}");
    assert_eq!(verify_output(&sandbox).0, Some(0), "an honest fail verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_5_a_fifo_or_dev_zero_as_result_json_stalls_neither_verify_nor_status() {
    let fifo_run = passing_run().await;
    let result = fifo_run.out().join("case-output/result.json");
    std::fs::remove_file(&result).expect("remove");
    mkfifo(&result);
    let (code, stdout) = verify_output(&fifo_run);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("case-output/result.json is a FIFO"), "{stdout}");

    let zero_run = passing_run().await;
    let result = zero_run.out().join("case-output/result.json");
    std::fs::remove_file(&result).expect("remove");
    std::os::unix::fs::symlink("/dev/zero", &result).expect("symlink");
    let (code, stdout) = verify_output(&zero_run);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("case-output/result.json is a symlink"), "{stdout}");

    // `status` over a folder holding both (and a FIFO report.json) finishes and says why
    // neither counts.
    let evidence = tempfile::tempdir().expect("tempdir");
    std::fs::rename(fifo_run.out(), evidence.path().join("fifo")).expect("move");
    std::fs::rename(zero_run.out(), evidence.path().join("zero")).expect("move");
    std::fs::create_dir(evidence.path().join("fifo-report")).expect("mkdir");
    mkfifo(&evidence.path().join("fifo-report/report.json"));
    let sot = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sot/seed-one-line.md");
    let (code, stdout) = bounded(
        std::process::Command::new(env!("CARGO_BIN_EXE_case-harness"))
            .env_clear()
            .arg("status")
            .arg("--sot")
            .arg(&sot)
            .arg("--evidence")
            .arg(evidence.path()),
    );
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("fifo/report.json does not count"), "{stdout}");
    assert!(stdout.contains("zero/report.json does not count"), "{stdout}");
    assert!(
        stdout.contains("fifo-report/report.json does not count") && stdout.contains("is a FIFO"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_11_a_rewritten_input_copy_fails_the_run_and_verification() {
    // Confined, Case cannot write these copies at all (see confinement.rs); unconfined, the
    // seal and `verify` must still catch it.
    let (sandbox, _provider, output) = run_unconfined_against_provider(case_that(
        "printf ' ' >> ../inputs/decision.json && printf ' ' >> ../task.json",
    ))
    .await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let reasons = reasons(&sandbox);
    assert!(
        reasons.contains("inputs/decision.json has sha256") && reasons.contains("task.json has sha256"),
        "{reasons}"
    );
    let (code, stdout) = verify_output(&sandbox);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("the report's `inputs.decision` digest is"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_a_non_utf8_file_name_in_case_output_fails_the_run_and_the_fail_verifies() {
    let (sandbox, _provider, output) =
        run_against_provider(case_that("printf x > \"$(printf 'bad\\377')\""), &[]).await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(reasons(&sandbox).contains("is not UTF-8"), "{}", reasons(&sandbox));
    // The fail is sealed with its reason, so it verifies (before, the pass never did).
    let (code, stdout) = verify_output(&sandbox);
    assert_eq!(code, Some(0), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_a_junit_xml_folder_made_by_case_fails_the_run() {
    // Confined, the run folder is read-only to Case; unconfined, the seal must catch it.
    let (sandbox, _provider, output) = run_unconfined_against_provider(case_that("mkdir ../junit.xml")).await;
    let report = sandbox.report();
    assert_eq!(report["outcome"], "fail", "{}", String::from_utf8_lossy(&output.stdout));
    assert!(report["seal"].is_object());
    assert!(reasons(&sandbox).contains("junit.xml existed before the harness wrote it"));
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_6_sigterm_stops_a_run_whose_model_file_hash_is_still_running() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let sandbox = Sandbox::new();
    // A sparse 100 GiB "model file": a regular file whose hash takes far longer than the test.
    let model = sandbox.path("huge.gguf");
    std::fs::File::create(&model)
        .expect("create")
        .set_len(100 << 30)
        .expect("sparse");
    sandbox.write(
        "admission.json",
        &serde_json::json!({"work_item":"CTO-WORK-020","decision_status":"local_provider_required","provider_class":"local_case_compatible",
                "case_model_provider":"llama.cpp","case_model":MODEL,"case_model_admission_status":"candidate","model_sha256":"0".repeat(64)}),
    );
    let server = provider().await;
    Mock::given(method("GET"))
        .and(path("/props"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"model_path": model.display().to_string()})),
        )
        .mount(server.server())
        .await;
    let mut command = harness_std(&sandbox, Some(&base_url(&server)));
    command
        .args(["run", "--simulated", "--task"])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(sandbox.out())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = command.spawn().expect("spawn");
    // The fingerprint asks /api/show last, right before it starts hashing.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !server
        .server()
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .any(|request| request.url.path() == "/api/show")
    {
        assert!(Instant::now() < deadline, "the fingerprint never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // SAFETY: kill(2) on the harness process this test spawned.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the harness kept running a minute after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .expect("join");
    assert_eq!(status.code(), Some(143), "SIGTERM exits 128 + 15");
    assert_eq!(sandbox.report()["outcome"], "incomplete");
    assert!(events(&sandbox).contains(&"run_interrupted".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_12_a_percent_encoded_external_name_in_the_base_url_blocks_before_any_request() {
    let sandbox = Sandbox::new();
    let server = provider().await;
    let url = format!("{}/%61nthropic/v1", base_url(&server).trim_end_matches("/v1"));
    let mut command = harness(&sandbox, Some(&url));
    command.args(["check", "--format", "json"]);
    let output = tokio::task::spawn_blocking(move || command.output().expect("runs"))
        .await
        .expect("join");
    assert_eq!(output.status.code(), Some(3));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert!(
        value["blocked"]
            .as_array()
            .is_some_and(|codes| codes.contains(&serde_json::json!("external_fallback_configured"))),
        "{value}"
    );
    let received = server.server().received_requests().await.unwrap_or_default();
    assert!(
        received.is_empty(),
        "the blocked check sent {} request(s)",
        received.len()
    );
}

#[test]
fn low_scan_of_a_symlink_finds_the_secret_and_of_a_fifo_refuses_instead_of_printing_clean() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = "chc-token-0123456789abcdef";
    std::os::unix::fs::symlink(secret, dir.path().join("link")).expect("symlink");
    let scan = |path: &Path| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_case-harness"))
            .env_clear()
            .env("THE_SECRET", secret)
            .args(["scan", "--secret-env", "THE_SECRET"])
            .arg(path)
            .output()
            .expect("runs");
        (
            output.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    };
    let (code, text) = scan(&dir.path().join("link"));
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("HIT: THE_SECRET found in") && text.contains("(symlink target)"),
        "{text}"
    );
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let (code, text) = scan(&fifo);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("cannot scan") && text.contains("(a FIFO)"), "{text}");
    assert!(!text.contains("clean"), "{text}");
}

#[test]
fn low_a_lower_case_variable_name_is_warned_about() {
    let sandbox = Sandbox::new();
    let output = harness(&sandbox, None)
        .env("cto_harness_case_local_base_url", "http://127.0.0.1:9/v1")
        .args(["check"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: environment variable cto_harness_case_local_base_url is not read"),
        "{stderr}"
    );
}

/// Issue 12's bug: seal and verify read Case's result file the same way, so a sealed fail
/// over an odd verdict or an oversized result file verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seal_and_verify_agree_on_an_odd_or_oversized_result_json() {
    let well_behaved = case_script("well_behaved.py");
    for (label, overwrite) in [
        ("odd verdict", "printf '{\"verdict\":\"maybe\"}' > result.json".to_owned()),
        (
            "oversized",
            "python3 -c 'import json; print(json.dumps({\"verdict\": \"pass\", \"pad\": \"x\" * 2000000}))' > result.json"
                .to_owned(),
        ),
    ] {
        let case = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            format!("{} {} && {overwrite}", well_behaved[0], well_behaved[1]),
        ];
        let (sandbox, _provider, output) = run_against_provider(case, &[]).await;
        assert_eq!(output.status.code(), Some(1), "{label}: {}", String::from_utf8_lossy(&output.stdout));
        assert!(reasons(&sandbox).contains("result"), "{label}: {}", reasons(&sandbox));
        let (code, stdout) = verify_output(&sandbox);
        assert_eq!(code, Some(0), "{label}: the sealed fail must verify: {stdout}");
    }
}

/// Finding 5 at seal time: Case swaps the ledger and the trace for links to `/dev/zero`;
/// the seal neither hangs nor grows, and the run fails saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_5_a_ledger_and_trace_swapped_for_dev_zero_fail_the_run_without_stalling_the_seal() {
    let (sandbox, mut command, _server) = unconfined_command(case_that(
        "for f in adapter-ledger.jsonl trace.jsonl; do rm -f ../$f && ln -s /dev/zero ../$f; done",
    ))
    .await;
    let (code, stdout) = tokio::task::spawn_blocking(move || bounded(command.stdout(std::process::Stdio::piped())))
        .await
        .expect("join");
    assert_eq!(code, Some(1), "{stdout}");
    let reasons = reasons(&sandbox);
    assert!(reasons.contains("adapter-ledger.jsonl is a symlink"), "{reasons}");
    assert!(reasons.contains("trace.jsonl is a symlink"), "{reasons}");
}
