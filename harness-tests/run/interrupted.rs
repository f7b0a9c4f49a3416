use std::time::{Duration, Instant};

use crate::common::*;

/// Starts `run` with a Case that records its pid and sleeps, and waits until Case is running.
/// Returns the harness process and Case's pid.
#[expect(clippy::zombie_processes, reason = "returned to the caller, which waits for it")]
fn start_sleeping_run(sandbox: &Sandbox, base_url: &str) -> (std::process::Child, i32) {
    let pid_file = sandbox.path("case.pid");
    let mut command = harness_std(sandbox, Some(base_url));
    command
        .args(["run", "--simulated", "--task"])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(sandbox.out())
        .args(["--", "sh", "-c"])
        .arg(format!("echo $$ > {}; exec sleep 120", pid_file.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = command.spawn().expect("spawn case-harness");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(pid) = std::fs::read_to_string(&pid_file).unwrap_or_default().trim().parse() {
            return (child, pid);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Case never started");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_midway_leaves_an_incomplete_report_that_never_verifies() {
    let sandbox = Sandbox::new();
    let server = provider().await;
    let url = base_url(&server);
    let sandbox = tokio::task::spawn_blocking(move || {
        let (mut child, case_pid) = start_sleeping_run(&sandbox, &url);
        assert!(signal(child.id() as i32, libc::SIGKILL));
        child.wait().expect("reaped");
        // Nobody is left to stop Case: clean up after the test.
        signal(case_pid, libc::SIGKILL);
        sandbox
    })
    .await
    .expect("join");
    let report = sandbox.report();
    assert_eq!(report["outcome"], "incomplete");
    assert!(report["seal"].is_null());
    assert_eq!(verify(&sandbox.out().join("report.json")).status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_stops_case_and_stays_incomplete() {
    let sandbox = Sandbox::new();
    let server = provider().await;
    let url = base_url(&server);
    let (sandbox, code, case_survived) = tokio::task::spawn_blocking(move || {
        let (mut child, case_pid) = start_sleeping_run(&sandbox, &url);
        assert!(alive(case_pid));
        assert!(signal(child.id() as i32, libc::SIGTERM));
        let status = child.wait().expect("reaped");
        let case_survived = alive(case_pid);
        signal(case_pid, libc::SIGKILL);
        (sandbox, status.code(), case_survived)
    })
    .await
    .expect("join");
    assert!(!case_survived, "Case outlived the interrupted harness");
    assert_eq!(code, Some(2));
    assert_eq!(sandbox.report()["outcome"], "incomplete");
    assert!(events(&sandbox).iter().any(|event| event == "run_interrupted"));
    assert_eq!(verify(&sandbox.out().join("report.json")).status.code(), Some(1));
}
