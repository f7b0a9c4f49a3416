//! What confining Case costs per run: starting `/bin/true` as Case inside the sandbox
//! (every layer: user, mount, network, PID, UTS, IPC and cgroup namespaces, the read-only host
//! view with its private `/tmp`, `lo`, the listener hand-over, init, `/proc`, seccomp,
//! Landlock, the bounds, the drop to an unprivileged user, and the wait until the namespace
//! is empty) against starting it as a plain child in its own
//! process group (the unconfined path), alternating the two (ABAB…) so that a machine whose
//! speed drifts slows both alike.
//!
//! `cargo bench --bench confinement` measures (`BENCH_RUNS` pairs, default 50);
//! `cargo test --benches` or `-- --test` runs 3 pairs to check the set-up. It prints numbers
//! and never judges them: the machines are shared and noisy.
//!
//! The sandbox re-executes the current binary with `__sandbox`, so this bench's `main`
//! dispatches that subcommand first, exactly as `case-harness` does.

use std::path::Path;
use std::time::{Duration, Instant};

use case_harness::sandbox::{Bounds, Sandbox, SandboxSpec};

fn main() -> std::process::ExitCode {
    let mut args = std::env::args_os();
    if args
        .nth(1)
        .is_some_and(|first| first == case_harness::sandbox::SUBCOMMAND)
    {
        return case_harness::sandbox::inside::main(args);
    }
    let smoke = std::env::args().any(|arg| arg == "--test");
    let runs = if smoke {
        3
    } else {
        std::env::var("BENCH_RUNS")
            .ok()
            .and_then(|runs| runs.parse().ok())
            .unwrap_or(50)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (mut confined, mut plain) = (Vec::new(), Vec::new());
    runtime.block_on(async {
        for _ in 0..runs {
            confined.push(confined_run().await);
            plain.push(plain_run().await);
        }
    });
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (confined, plain) = (median(&mut confined), median(&mut plain));
    println!("confinement: {runs} pairs of `/bin/true` as Case");
    println!("  confined (namespaces, until the namespace is empty): median {confined:?}");
    println!("  plain child in a process group:                      median {plain:?}");
    println!(
        "  added by confinement:                                {:?}",
        confined.saturating_sub(plain)
    );
    std::process::ExitCode::SUCCESS
}

async fn confined_run() -> Duration {
    let run_dir = tempfile::tempdir().expect("run folder");
    let (output, home) = (run_dir.path().join("case-output"), run_dir.path().join("case-home"));
    for dir in [&output, &home] {
        std::fs::create_dir(dir).expect("mkdir");
    }
    let command = vec!["/bin/true".to_owned()];
    let started = Instant::now();
    let spec = SandboxSpec {
        run_dir: run_dir.path(),
        writable: vec![output.clone(), home],
        hidden: Vec::new(),
        working_dir: &output,
        command: &command,
        env: vec![("PATH".to_owned(), "/usr/bin:/bin".to_owned())],
        stdout: log(run_dir.path(), "stdout"),
        stderr: log(run_dir.path(), "stderr"),
        bounds: Bounds::default(),
        without: Vec::new(),
    };
    let (mut sandbox, _listener) = Sandbox::prepare(spec).await.expect("sandbox");
    sandbox.start_case().await.expect("start Case");
    let exit = sandbox.wait(Duration::from_secs(30)).await.expect("wait");
    let elapsed = started.elapsed();
    assert_eq!(exit.exit_code, Some(0), "Case did not run");
    elapsed
}

async fn plain_run() -> Duration {
    let run_dir = tempfile::tempdir().expect("run folder");
    let started = Instant::now();
    let status = tokio::process::Command::new("/bin/true")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(run_dir.path())
        .stdout(log(run_dir.path(), "stdout"))
        .stderr(log(run_dir.path(), "stderr"))
        .process_group(0)
        .status()
        .await
        .expect("spawn");
    let elapsed = started.elapsed();
    assert!(status.success());
    elapsed
}

fn log(dir: &Path, name: &str) -> std::fs::File {
    std::fs::File::create(dir.join(name)).expect("log")
}
