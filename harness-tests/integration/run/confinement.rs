//! Case's confinement (issue 10; issue 11 findings 1, 2 and 7): the adapter is all Case can
//! reach, the evidence is read-only to it, and nothing it starts outlives the run. Each test
//! names the part of `src/sandbox/` whose removal turns it red. Traffic goes only to
//! 127.0.0.1 servers the test started.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::run::common::*;

/// A decoy on the host's 127.0.0.1 that counts the connections it accepts.
struct Decoy {
    port: u16,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Decoy {
    fn start() -> Decoy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind decoy");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let (connections, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (counted, stopped) = (connections.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok(_) => {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Decoy {
            port,
            connections,
            stop,
        }
    }
}

impl Drop for Decoy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn case_with(script: &str, args: &[&str]) -> Vec<String> {
    let mut case = case_script(script);
    case.extend(args.iter().map(|arg| arg.to_string()));
    case
}

fn stdout_of(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Catches removing `UnshareFlags::NEWNET` (or serving the adapter on a host listener): the
/// decoy would count a connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_cannot_reach_a_decoy_on_the_host_loopback_and_the_adapter_still_answers() {
    let decoy = Decoy::start();
    let port = decoy.port.to_string();
    let (sandbox, _provider, output) = run_against_provider(case_with("reaches_past_adapter.py", &[&port]), &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    assert_eq!(decoy.connections.load(Ordering::SeqCst), 0, "the decoy was reached");
    let attempt = read_json(&sandbox.out().join("case-output/decoy.json"));
    assert!(
        attempt["decoy"]
            .as_str()
            .is_some_and(|text| text.starts_with("refused")),
        "{attempt}"
    );
    let report = sandbox.report();
    assert_eq!(report["fallback_proof"]["served_by_admitted_model"], 1);
    assert_eq!(report["isolation"]["network"], "namespace");
    assert_eq!(verify(&sandbox.out().join("report.json")).status.code(), Some(0));
}

/// Catches removing the read-only remount of the run folder (every write would succeed) or
/// the writable binds of `case-output/` and `case-home/` (those writes would fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_cannot_write_the_evidence_but_can_write_its_own_folders() {
    let (sandbox, _provider, output) = run_against_provider(case_script("writes_evidence.py"), &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    let attempts = read_json(&sandbox.out().join("case-output/writes.json"));
    let attempts = attempts.as_object().expect("object");
    for name in [
        "trace.jsonl",
        "adapter-ledger.jsonl",
        "inputs/decision.json",
        "inputs/admission.json",
        "report.json",
        "task.json",
        "case-config.json",
        "planted.txt",
    ] {
        let result = attempts.get(name).and_then(Value::as_str);
        assert!(matches!(result, Some("EROFS" | "EACCES")), "{name}: {result:?}");
    }
    assert_eq!(attempts["case-output/own.txt"], "written");
    assert_eq!(attempts["case-home/own.txt"], "written");
    assert!(!sandbox.out().join("planted.txt").exists());
    let trace = std::fs::read_to_string(sandbox.out().join("trace.jsonl")).expect("trace");
    assert!(!trace.contains("forged"));
    assert_eq!(verify(&sandbox.out().join("report.json")).status.code(), Some(0));
}

/// Issue 11, findings 1 and 2. Catches removing `UnshareFlags::NEWPID` (or init's exit that
/// empties the namespace): the setsid() grandchild would still be alive after the harness
/// returned, free to rewrite the sealed evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setsid_grandchild_dies_with_the_sandbox_before_the_scan_and_the_seal() {
    let marker = unique_marker("daemon");
    let (sandbox, _provider, output) = run_against_provider(case_with("daemon_forges.py", &[&marker]), &[]).await;
    let _ = std::fs::remove_file(format!("/tmp/{marker}.token"));
    assert_eq!(output.status.code(), Some(1), "{}", stdout_of(&output));
    // `run` returned only after every process of the namespace was gone.
    assert_eq!(
        kill_survivors(&marker),
        Vec::<String>::new(),
        "a Case process outlived the run"
    );
    let report = sandbox.report();
    assert_eq!(report["outcome"], "fail");
    assert_eq!(report["fallback_proof"]["fallback_attempts"], 1);
    // Whatever the grandchild managed before it died happened before the scan: a token file
    // it renamed into case-output/ is either absent or found.
    if sandbox.out().join("case-output/notes.txt").exists() {
        assert_eq!(report["secret_scan"]["clean"], false);
    }
    let ledger = std::fs::read_to_string(sandbox.out().join("adapter-ledger.jsonl")).expect("ledger");
    assert!(ledger.contains("fallback_refused"));
    let verified = verify(&sandbox.out().join("report.json"));
    assert_eq!(verified.status.code(), Some(0), "{}", stdout_of(&verified));
    assert!(String::from_utf8_lossy(&verified.stdout).contains("(fail "));
}

/// Issue 11, finding 7. Catches removing the death signals (harness → sandbox → init) or the
/// PID namespace: Case's child would survive with PPID 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_harness_leaves_no_case_process_behind() {
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let marker = unique_marker("sleeper");
    let mut command = harness_std(&sandbox, Some(&base_url(&provider)));
    command
        .args(["run", "--simulated", "--task"])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(sandbox.out())
        .arg("--")
        .args(case_with("spawns_sleeper.py", &[&marker]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut harness = command.spawn().expect("harness starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Case and its child.
    while processes_with(&marker).len() < 2 {
        assert!(Instant::now() < deadline, "the sleeper never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    harness.kill().expect("SIGKILL the harness");
    harness.wait().expect("reaped");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !processes_with(&marker).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(kill_survivors(&marker), Vec::<String>::new(), "Case's child survived");
}

fn run_command(sandbox: &Sandbox, provider: &FakeProvider, extra: &[&str]) -> std::process::Command {
    let mut command = harness_std(sandbox, Some(&base_url(provider)));
    command
        .args(["run", "--simulated", "--task"])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(sandbox.out())
        .args(extra)
        .arg("--")
        .args(case_script("well_behaved.py"));
    command
}

/// Catches removing the refusal (an unconfined run without the flag), the `isolation: none`
/// record, or `verify`'s check of the report's isolation against the trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_namespaces_a_run_is_refused_unless_allowed_and_then_says_isolation_none() {
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let refused = without_namespaces(&run_command(&sandbox, &provider, &[]))
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(2), "{}", stdout_of(&refused));
    assert!(
        stdout_of(&refused).contains("confinement_unavailable"),
        "{}",
        stdout_of(&refused)
    );
    assert!(stdout_of(&refused).contains("--allow-unconfined"));
    assert_eq!(sandbox.report()["outcome"], "incomplete");
    assert!(!events(&sandbox).iter().any(|event| event == "case_process_started"));

    let sandbox = Sandbox::new();
    let allowed = without_namespaces(&run_command(&sandbox, &provider, &["--allow-unconfined"]))
        .output()
        .expect("runs");
    assert_eq!(allowed.status.code(), Some(0), "{}", stdout_of(&allowed));
    assert_eq!(sandbox.report()["isolation"], "none");
    let report_path = sandbox.out().join("report.json");
    assert_eq!(verify(&report_path).status.code(), Some(0));

    // A forger who claims confinement for it is caught by the trace.
    forge_isolation(&report_path);
    let forged = verify(&report_path);
    assert_eq!(forged.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&forged.stdout).contains("case_isolation"),
        "{}",
        stdout_of(&forged)
    );
}

fn forge_isolation(path: &Path) {
    let mut report: case_harness::output::Report =
        serde_json::from_slice(&std::fs::read(path).expect("read")).expect("report");
    report.isolation = Some(case_harness::output::Isolation::confined(0, case_harness::sandbox::HOW));
    let digest = case_harness::evidence::seal_digest(&report).expect("digest");
    if let Some(seal) = report.seal.as_mut() {
        seal.digest = digest;
    }
    std::fs::write(path, serde_json::to_vec_pretty(&report).expect("json")).expect("write");
}

/// The red-team attack of issue 11 finding 1 run unconfined, where only the seal's
/// cross-checks stand: the tampering Case of `failing_runs` must still fail. (Confined, it
/// cannot write the ledger or the trace at all: see
/// `a_case_cannot_write_the_evidence_but_can_write_its_own_folders`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconfined_a_case_that_rewrites_the_ledger_and_trace_still_fails() {
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let mut command = harness_std(&sandbox, Some(&base_url(&provider)));
    command
        .args(["run", "--simulated", "--allow-unconfined", "--task"])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(sandbox.out())
        .arg("--")
        .args(case_script("tampers_with_evidence.py"));
    let output = without_namespaces(&command).output().expect("runs");
    assert_eq!(output.status.code(), Some(1), "{}", stdout_of(&output));
    let stdout = std::fs::read_to_string(sandbox.out().join("case-stdout.log")).expect("log");
    assert!(stdout.contains("evidence rewritten"), "{stdout}");
    let reasons = sandbox.report()["reasons"].to_string();
    assert!(reasons.contains("does not match what the adapter counted"), "{reasons}");
    assert!(
        reasons.contains("trace.jsonl was changed by someone other than the harness"),
        "{reasons}"
    );
    // Sealed as a failure; `verify` also sees the rewritten trace, which no longer reads back.
    let verified = verify(&sandbox.out().join("report.json"));
    assert_eq!(verified.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&verified.stdout).contains("trace.jsonl line"),
        "{}",
        stdout_of(&verified)
    );
}

/// Catches removing `hide` (an empty read-only tmpfs over a folder, `/dev/null` over a file):
/// Case would list the key folder and read the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_paths_are_empty_to_case() {
    let secrets = tempfile::tempdir().expect("tempdir");
    let folder = secrets.path().join("keys");
    std::fs::create_dir(&folder).expect("mkdir");
    std::fs::write(folder.join("signing.key"), "not for Case").expect("write");
    let file = secrets.path().join("note.txt");
    std::fs::write(&file, "not for Case either").expect("write");
    let (folder_arg, file_arg) = (folder.display().to_string(), file.display().to_string());
    let (sandbox, _provider, output) = run_against_provider(
        case_with("reads_hidden.py", &[&folder_arg, &file_arg]),
        &["--hide", &folder_arg, "--hide", &file_arg],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    let seen = read_json(&sandbox.out().join("case-output/hidden.json"));
    assert_eq!(seen["folder"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["file"], "", "{seen}");
    // Hidden from Case only.
    assert!(folder.join("signing.key").exists());
}

/// The user-namespace path that unprivileged users get (CI runs as root, so it would
/// otherwise go untested): the reference Case, run by `nobody` through `setpriv`, passes
/// confined and says so. Catches dropping the user namespace (unshare is then refused for
/// `nobody`: `confinement_unavailable`). It needs root and a harness binary `nobody` can
/// execute; without the latter it prints `skipped: <why>` to stderr and passes without
/// asserting (docs/decisions.md, "A test that cannot run here").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unprivileged_user_is_confined_through_a_user_namespace() {
    if !rustix::process::getuid().is_root() {
        // Every other test of this file already runs unprivileged.
        return;
    }
    if let Some(reason) = unrunnable_by_nobody(Path::new(env!("CARGO_BIN_EXE_case-harness"))) {
        eprintln!("skipped: {reason}");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let world = std::fs::Permissions::from_mode(0o777);
    std::fs::set_permissions(sandbox.dir.path(), world).expect("chmod");
    let output = simulated_run(&sandbox, &base_url(&provider), None, true)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0), "{}", stdout_of(&output));
    let report = sandbox.report();
    assert_eq!(report["isolation"]["uid"], 65534);
    assert_eq!(report["isolation"]["filesystem"], "read_only_host");
    assert!(
        report["isolation"]["layers"].to_string().contains("unprivileged_user"),
        "{report}"
    );
    assert_eq!(verify(&sandbox.out().join("report.json")).status.code(), Some(0));
}

/// Issue 23, finding 1: where the harness cannot re-execute itself for the sandbox (its binary
/// under a folder the running user cannot enter), its error names that binary and the folder
/// it would start in, and what the user needs. Catches a bare `cannot start the sandbox
/// process: Permission denied` again. Needs root (to lock a folder against `nobody`) and a
/// `setpriv` that can still start the locked binary; otherwise `skipped: <why>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_harness_that_cannot_start_its_sandbox_names_the_path() {
    use std::os::unix::fs::PermissionsExt;
    if !rustix::process::getuid().is_root() {
        eprintln!("skipped: needs root to lock a folder against user nobody");
        return;
    }
    let sandbox = Sandbox::new();
    let provider = provider().await;
    std::fs::set_permissions(sandbox.dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let locked = sandbox.path("locked");
    std::fs::create_dir_all(locked.join("bin")).expect("mkdir");
    let binary = locked.join("bin/case-harness");
    std::fs::copy(env!("CARGO_BIN_EXE_case-harness"), &binary).expect("copy");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let output = simulated_run(&sandbox, &base_url(&provider), Some(&binary), true)
        .output()
        .expect("runs");
    let text = stdout_of(&output);
    if text.contains("setpriv: ") {
        eprintln!("skipped: setpriv itself cannot start a binary under a 0700 folder here: {text}");
        return;
    }
    assert_ne!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("cannot start the sandbox process"), "{text}");
    assert!(text.contains(&binary.display().to_string()), "{text}");
    assert!(text.contains("enter every folder"), "{text}");
}
