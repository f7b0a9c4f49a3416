//! Crash consistency: `kill -9` of the harness at each stage of a run that would otherwise
//! pass (before spawn, during Case, during the secret scan, during sealing) leaves a folder
//! that `verify` refuses, a re-run into that folder refuses, and Case does not outlive it.
//!
//! The stage is not guessed from timing: the test watches `trace.jsonl`, which the harness
//! writes as it moves on, kills as soon as the stage's opening event is there, and then reads
//! the trace again to assert where the kill actually landed. Each stage is held open long
//! enough to be caught: a provider that delays `/models` (gates), a Case that sleeps, a Case
//! whose 192 MiB of output the scan and the digests must read.

use std::path::Path;
use std::time::{Duration, Instant};

use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

use crate::run::common::*;

/// Where a kill may land, by the trace events that open and close it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Gates are being evaluated: nothing spawned yet.
    BeforeSpawn,
    /// Case is running.
    DuringCase,
    /// Case has exited; the channels are being scanned.
    DuringScan,
    /// The scan is recorded; the folder is being digested and the report sealed.
    DuringSeal,
}

impl Stage {
    /// The stage a trace shows (sealing runs from `secret_scan` until the process ends).
    fn of(events: &[String]) -> Stage {
        let has = |name: &str| events.iter().any(|event| event == name);
        if has("secret_scan") {
            Stage::DuringSeal
        } else if has("case_process_exited") {
            Stage::DuringScan
        } else if has("case_process_started") {
            Stage::DuringCase
        } else {
            Stage::BeforeSpawn
        }
    }
}

/// Event names in the trace so far (a half-written last line is skipped).
fn trace_events(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join("trace.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|event| event["event"].as_str().map(str::to_owned))
        .collect()
}

/// A Case whose every process carries `marker` in its command line (its pid is of no use
/// outside: Case is PID 2 of its own namespace). It writes `bulk_mib` MiB into case-output/,
/// optionally sleeps, then does the job.
fn case_command(marker: &str, bulk_mib: usize, sleep: bool) -> Vec<String> {
    let well_behaved = case_script("well_behaved.py")[1].clone();
    let script = format!(
        "head -c {bytes} /dev/zero > \"$CASE_OUTPUT_DIR/bulk.bin\"; {sleep}python3 {well_behaved} \"$0\"",
        bytes = bulk_mib * 1024 * 1024,
        sleep = if sleep {
            "python3 -c 'import time; time.sleep(120)' \"$0\"; "
        } else {
            ""
        },
    );
    vec!["sh".to_owned(), "-c".to_owned(), script, marker.to_owned()]
}

/// Starts `run`, waits until the trace shows `stage` (or a later one), SIGKILLs the harness,
/// reaps it and returns the stage the trace shows at the kill — `None` when the harness had
/// already finished on its own.
fn kill_at(sandbox: &Sandbox, base_url: &str, case: Vec<String>, marker: &str, stage: Stage) -> Option<Stage> {
    let mut command = harness_std(sandbox, Some(base_url));
    command
        .args(["run", "--simulated", "--probe-timeout", "600", "--task"])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(sandbox.out())
        .arg("--")
        .args(case)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = command.spawn().expect("spawn case-harness");
    let deadline = Instant::now() + Duration::from_secs(240);
    let case_pid_known = || stage != Stage::DuringCase || !processes_with(marker).is_empty();
    loop {
        let events = trace_events(&sandbox.out());
        if (!events.is_empty() && Stage::of(&events) as u8 >= stage as u8 && case_pid_known())
            || Instant::now() > deadline
        {
            break;
        }
        if child.try_wait().expect("try_wait").is_some() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let landed = Stage::of(&trace_events(&sandbox.out()));
    if child.try_wait().expect("try_wait").is_some() {
        return None;
    }
    assert!(signal(child.id() as i32, libc::SIGKILL));
    child.wait().expect("reaped");
    Some(landed)
}

/// What must hold after any kill: `verify` refuses, the report is not a pass, a re-run into
/// the folder refuses, and no process of Case is left.
fn assert_killed_run_is_never_a_pass(sandbox: &Sandbox, base_url: &str, marker: &str) {
    let report_path = sandbox.out().join("report.json");
    let verified = verify(&report_path);
    assert_eq!(
        verified.status.code(),
        Some(1),
        "verify accepted a killed run: {}",
        String::from_utf8_lossy(&verified.stdout)
    );
    let report = read_json(&report_path);
    assert_ne!(report["outcome"], "pass");
    assert!(report["seal"].is_null(), "a killed run left a seal: {report}");

    let rerun = harness_std(sandbox, Some(base_url))
        .args(["run", "--simulated", "--task"])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(sandbox.out())
        .output()
        .expect("re-run");
    assert_eq!(rerun.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&rerun.stderr).contains("is not empty"),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert_eq!(read_json(&report_path), report, "the refused re-run touched the folder");

    let deadline = Instant::now() + Duration::from_secs(30);
    while !processes_with(marker).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let survivors = kill_survivors(marker);
    assert!(survivors.is_empty(), "Case outlived the killed harness: {survivors:?}");
}

async fn crash_test(stage: Stage, bulk_mib: usize, sleep: bool, provider_url: String) {
    let sandbox = Sandbox::new();
    let marker = unique_marker("crash");
    let case = case_command(&marker, bulk_mib, sleep);
    let (sandbox, landed) = tokio::task::spawn_blocking(move || {
        let landed = kill_at(&sandbox, &provider_url, case, &marker, stage);
        assert_killed_run_is_never_a_pass(&sandbox, &provider_url, &marker);
        (sandbox, landed)
    })
    .await
    .expect("join");
    assert_eq!(
        landed,
        Some(stage),
        "the kill landed at {landed:?}, not {stage:?}; trace: {:?}",
        trace_events(&sandbox.out())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_before_case_is_spawned_never_leaves_a_pass() {
    // A provider whose /models answer takes longer than the test: the harness sits in the gates.
    let server = MockServer::start().await;
    Mock::given(matchers::any())
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(300)))
        .mount(&server)
        .await;
    let url = format!("{}/v1", server.uri());
    crash_test(Stage::BeforeSpawn, 0, false, url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_case_runs_never_leaves_a_pass_and_case_dies_too() {
    let server = provider().await;
    crash_test(Stage::DuringCase, 0, true, base_url(&server)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_the_secret_scan_never_leaves_a_pass() {
    let server = provider().await;
    crash_test(Stage::DuringScan, 192, false, base_url(&server)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_sealing_never_leaves_a_pass() {
    let server = provider().await;
    crash_test(Stage::DuringSeal, 192, false, base_url(&server)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_case_left_alone_passes() {
    // Control: the Case of the scan and seal kills passes when nobody kills the harness, so
    // the kills above are what keeps those folders from verifying.
    let sandbox = Sandbox::new();
    let server = provider().await;
    let case = case_command(&unique_marker("crash-control"), 1, false);
    let output = run(harness(&sandbox, Some(&base_url(&server))), &sandbox, case, &[]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(verify(&sandbox.out().join("report.json")).status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_case_runs_leaves_no_descendant_of_case() {
    // A grandchild in its own session (setsid): out of Case's process group, so only the
    // PID namespace of the confinement takes it down with the harness (finding #11.7).
    let server = provider().await;
    let url = base_url(&server);
    let sandbox = Sandbox::new();
    let marker = unique_marker("crash-grandchild");
    let script = "setsid python3 -c 'import time; time.sleep(300)' \"$0\" & exec python3 -c 'import time; time.sleep(300)' \"$0\"";
    let case = vec!["sh".to_owned(), "-c".to_owned(), script.to_owned(), marker.clone()];
    let survivors = tokio::task::spawn_blocking(move || {
        // Wait for both processes before the kill.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut command = harness_std(&sandbox, Some(&url));
        command
            .args(["run", "--simulated", "--task"])
            .arg(sandbox.path("task.json"))
            .arg("--out")
            .arg(sandbox.out())
            .arg("--")
            .args(case)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = command.spawn().expect("spawn");
        while processes_with(&marker).len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // At least both (a shell forking on its way to `exec`/`setsid` may briefly show too).
        assert!(
            processes_with(&marker).len() >= 2,
            "Case and its grandchild never both ran"
        );
        assert!(signal(child.id() as i32, libc::SIGKILL));
        child.wait().expect("reaped");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !processes_with(&marker).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        kill_survivors(&marker)
    })
    .await
    .expect("join");
    assert!(
        survivors.is_empty(),
        "descendants of Case outlived the killed harness: {survivors:?}"
    );
}
