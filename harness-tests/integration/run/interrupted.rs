use std::time::{Duration, Instant};

use crate::run::common::*;

/// Starts `run` with a Case that sleeps with a unique marker in its command line, and waits
/// until Case is running. Returns the harness process and the marker. (Case's own pid is of
/// no use outside: it is PID 2 of its namespace.)
#[expect(clippy::zombie_processes, reason = "returned to the caller, which waits for it")]
fn start_sleeping_run(sandbox: &Sandbox, base_url: &str) -> (std::process::Child, String) {
    let marker = unique_marker("interrupted");
    let mut command = harness_std(sandbox, Some(base_url));
    command
        .args(["run", "--simulated", "--task"])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(sandbox.out())
        .args(["--", "python3", "-c", "import time; time.sleep(120)"])
        .arg(&marker)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = command.spawn().expect("spawn case-harness");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if alive(&marker) {
            return (child, marker);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Case never started");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Running (a zombie waiting to be reaped has an empty command line: it runs nothing).
fn alive(marker: &str) -> bool {
    !processes_with(marker).is_empty()
}

/// Waits (bounded) for the processes with `marker` to be gone; true if they are.
fn gone(marker: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(marker) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_survivors(marker).is_empty()
}

fn signal(pid: i32, signal: libc::c_int) -> bool {
    // SAFETY: kill(2) on a pid this test started.
    unsafe { libc::kill(pid, signal) == 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_midway_leaves_an_incomplete_report_that_never_verifies() {
    let sandbox = Sandbox::new();
    let server = provider().await;
    let url = base_url(&server);
    let sandbox = tokio::task::spawn_blocking(move || {
        let (mut child, marker) = start_sleeping_run(&sandbox, &url);
        assert!(signal(child.id() as i32, libc::SIGKILL));
        child.wait().expect("reaped");
        // The kernel kills the sandbox with the harness (confinement.rs checks it).
        assert!(gone(&marker), "Case outlived the killed harness");
        sandbox
    })
    .await
    .expect("join");
    let report = sandbox.report();
    assert_eq!(report["outcome"], "incomplete");
    assert!(report["seal"].is_null());
    assert_eq!(verify(&sandbox.out().join("report.json")).status.code(), Some(1));
}

/// Starts a run, sends it `signal_number` once Case runs, and checks that Case is stopped and
/// the report stays `incomplete`. Returns the harness's exit code.
async fn interrupt_a_run(signal_number: libc::c_int) -> Option<i32> {
    let sandbox = Sandbox::new();
    let server = provider().await;
    let url = base_url(&server);
    let (sandbox, code, case_survived) = tokio::task::spawn_blocking(move || {
        let (mut child, marker) = start_sleeping_run(&sandbox, &url);
        assert!(signal(child.id() as i32, signal_number));
        let status = child.wait().expect("reaped");
        let case_survived = !gone(&marker);
        (sandbox, status.code(), case_survived)
    })
    .await
    .expect("join");
    assert!(!case_survived, "Case outlived the interrupted harness");
    assert_eq!(sandbox.report()["outcome"], "incomplete");
    assert!(events(&sandbox).iter().any(|event| event == "run_interrupted"));
    assert_eq!(verify(&sandbox.out().join("report.json")).status.code(), Some(1));
    code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_stops_case_and_stays_incomplete() {
    // 128 + 15, the shell's convention for a stop by SIGTERM (not 2, an internal error).
    assert_eq!(interrupt_a_run(libc::SIGTERM).await, Some(143));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_on_a_run_exits_130() {
    assert_eq!(interrupt_a_run(libc::SIGINT).await, Some(130));
}
