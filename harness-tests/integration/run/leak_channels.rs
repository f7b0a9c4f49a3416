//! One proof per secret-scan channel the seed names, as one table: the upstream key (a canary
//! the test sets) or Case's per-run token is planted by the route a real leak would take, and
//! the run fails with a hit in exactly that channel. Blinding any one channel's scan turns the
//! table red and names the row (docs/reliability.md records which row catches which blinded
//! path).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::run::common::*;

/// The upstream key of these runs; the scan looks for it as `upstream_api_key`.
const KEY: &str = "sk-upstream-canary-5f0c2a9e41d7b3";

/// Runs `case` with [`KEY`] as the upstream key and returns the report.
async fn run_with_key(sandbox: &Sandbox, case: Vec<String>, extra: &[&str]) -> (std::process::Output, Value) {
    let provider = provider().await;
    let mut command = harness(sandbox, Some(&base_url(&provider)));
    command.env("CTO_HARNESS_CASE_LOCAL_API_KEY", KEY);
    let output = run(command, sandbox, case, extra).await;
    let report = read_json(&sandbox.out().join("report.json"));
    (output, report)
}

/// What a route planted: Case's command, extra `run` flags, and the run folder.
struct Planted {
    case: Vec<String>,
    extra: Vec<String>,
    out: PathBuf,
}

impl Planted {
    /// The well-behaved Case, no extra flag, the sandbox's run folder.
    fn well_behaved(sandbox: &Sandbox) -> Planted {
        Planted::case(sandbox, case_script("well_behaved.py"))
    }

    fn case(sandbox: &Sandbox, case: Vec<String>) -> Planted {
        Planted {
            case,
            extra: Vec::new(),
            out: sandbox.out(),
        }
    }
}

/// One row: the channel and the secret it must name, and how the leak is planted.
struct Route {
    channel: &'static str,
    secret: &'static str,
    plant: fn(&Sandbox) -> Planted,
}

/// Every channel the seed names, by the route a real leak takes.
const ROUTES: &[Route] = &[
    Route {
        channel: "sot",
        secret: "upstream_api_key",
        plant: key_pasted_into_the_sot,
    },
    Route {
        channel: "argv",
        secret: "upstream_api_key",
        plant: key_on_cases_command_line,
    },
    Route {
        channel: "task_file",
        secret: "upstream_api_key",
        plant: key_in_the_task_file,
    },
    Route {
        channel: "other_run_files",
        secret: "upstream_api_key",
        plant: key_in_a_record,
    },
    Route {
        channel: "backend_logs",
        secret: "case_token",
        plant: |sandbox| leak_by_route(sandbox, "stderr"),
    },
    Route {
        channel: "case_output",
        secret: "case_token",
        plant: |sandbox| leak_by_route(sandbox, "case_output"),
    },
    Route {
        channel: "trace",
        secret: "upstream_api_key",
        plant: program_named_after_the_key,
    },
    Route {
        channel: "report",
        secret: "upstream_api_key",
        plant: program_named_after_the_key,
    },
    Route {
        channel: "generated_config",
        secret: "upstream_api_key",
        plant: run_folder_path_holding_the_key,
    },
    Route {
        channel: "commit",
        secret: "upstream_api_key",
        plant: committed_copy_of_the_key,
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_channel_fails_the_run_when_its_leak_is_planted() {
    let mut missed = Vec::new();
    for route in ROUTES {
        let sandbox = Sandbox::new();
        let planted = (route.plant)(&sandbox);
        let (output, report) = run_planted(&sandbox, &planted).await;
        let report_path = planted.out.join("report.json");
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_leak_named(&output, &report, &report_path, route.channel, route.secret)
        }));
        if checked.is_err() {
            missed.push(route.channel);
        }
    }
    assert!(missed.is_empty(), "channels that did not fail the run: {missed:?}");
}

/// `run --simulated` of the planted Case into the planted run folder, with [`KEY`] as the
/// upstream key.
async fn run_planted(sandbox: &Sandbox, planted: &Planted) -> (std::process::Output, Value) {
    let provider = provider().await;
    let mut command = harness(sandbox, Some(&base_url(&provider)));
    command
        .env("CTO_HARNESS_CASE_LOCAL_API_KEY", KEY)
        .args(["run", "--simulated", "--task"])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(&planted.out)
        .args(&planted.extra)
        .arg("--")
        .args(&planted.case);
    let output = tokio::task::spawn_blocking(move || command.output().expect("runs"))
        .await
        .expect("join");
    let report = read_json(&planted.out.join("report.json"));
    (output, report)
}

/// The secrets found in `channel`, by name.
fn secrets_found_in(report: &Value, channel: &str) -> Vec<String> {
    let channels = report["secret_scan"]["channels"].as_array().expect("channels");
    let scan = channels
        .iter()
        .find(|scan| scan["channel"] == channel)
        .unwrap_or_else(|| panic!("no {channel} channel in {channels:?}"));
    scan["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|hit| hit["secret"].as_str().expect("secret name").to_owned())
        .collect()
}

/// The run failed (exit 1, outcome `fail`, sealed, verifiable) and names `secret` in `channel`.
fn assert_leak_named(output: &std::process::Output, report: &Value, report_path: &Path, channel: &str, secret: &str) {
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["outcome"], "fail");
    assert_eq!(report["secret_scan"]["clean"], false);
    let found = secrets_found_in(report, channel);
    assert!(
        found.iter().any(|name| name == secret),
        "{secret} not found in {channel}: {found:?}; channels: {}",
        report["secret_scan"]["channels"]
    );
    let reasons = report["reasons"].to_string();
    assert!(
        reasons.contains(&format!("found in {channel} (")),
        "no reason names {channel}: {reasons}"
    );
    assert_eq!(verify(report_path).status.code(), Some(0), "the failure must verify");
}

fn key_pasted_into_the_sot(sandbox: &Sandbox) -> Planted {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sot/seed-multi-line.md");
    let mut text = std::fs::read_to_string(seed).expect("seed SOT");
    text.push_str(&format!("\nNote: the local key is {KEY}\n"));
    std::fs::write(sandbox.path("sot.md"), text).expect("write SOT");
    let mut planted = Planted::well_behaved(sandbox);
    planted.extra = vec!["--sot".to_owned(), sandbox.path("sot.md").display().to_string()];
    planted
}

fn key_on_cases_command_line(sandbox: &Sandbox) -> Planted {
    let mut case = case_script("well_behaved.py");
    case.extend(["--api-key".to_owned(), KEY.to_owned()]);
    Planted::case(sandbox, case)
}

fn key_in_the_task_file(sandbox: &Sandbox) -> Planted {
    let mut task = read_json(&sandbox.path("task.json"));
    task["notes"] = json!(format!("use key {KEY}"));
    sandbox.write("task.json", &task);
    Planted::well_behaved(sandbox)
}

/// The harness copies the records into `inputs/`, a folder no named channel covers.
fn key_in_a_record(sandbox: &Sandbox) -> Planted {
    let mut admission = read_json(&sandbox.path("admission.json"));
    admission["notes"] = json!(format!("served with key {KEY}"));
    sandbox.write("admission.json", &admission);
    Planted::well_behaved(sandbox)
}

/// `leaks_by_route.py ROUTE`: Case leaks its token by that route.
fn leak_by_route(sandbox: &Sandbox, route: &str) -> Planted {
    let mut case = case_script("leaks_by_route.py");
    case.push(route.to_owned());
    Planted::case(sandbox, case)
}

/// The well-behaved Case through a `python3` symlink whose file name carries [`KEY`]: the
/// trace (`case_process_started`) and the report (`case.program`) record that name.
fn program_named_after_the_key(sandbox: &Sandbox) -> Planted {
    let program = sandbox.path(&format!("case-{KEY}"));
    std::os::unix::fs::symlink(which("python3"), &program).expect("symlink");
    let mut case = case_script("well_behaved.py");
    case[0] = program.display().to_string();
    Planted::case(sandbox, case)
}

/// The config file the harness writes for Case names the run folder's paths.
fn run_folder_path_holding_the_key(sandbox: &Sandbox) -> Planted {
    let mut planted = Planted::well_behaved(sandbox);
    planted.out = sandbox.path(&format!("runs-{KEY}")).join("run");
    planted
}

/// Evidence committed earlier into the run folder's path, then deleted: still in history.
fn committed_copy_of_the_key(sandbox: &Sandbox) -> Planted {
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(sandbox.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdout(std::process::Stdio::null())
            .status()
            .expect("git");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    std::fs::create_dir_all(sandbox.out()).expect("mkdir");
    std::fs::write(sandbox.out().join("old-report.json"), format!("{{\"key\":\"{KEY}\"}}")).expect("write");
    git(&["add", "run"]);
    git(&["commit", "-qm", "evidence"]);
    git(&["rm", "-rq", "run"]);
    git(&["commit", "-qm", "drop it"]);
    std::fs::create_dir_all(sandbox.out()).expect("mkdir");
    Planted::well_behaved(sandbox)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_sent_as_a_model_name_is_redacted_from_trace_and_ledger() {
    // The adapter records every refused model name (a fallback attempt, which fails the run
    // on its own): the copies in the trace and the ledger must be redacted, not leaked.
    let sandbox = Sandbox::new();
    let mut case = case_script("leaks_by_route.py");
    case.push("model_name".to_owned());
    let (output, report) = run_with_key(&sandbox, case, &[]).await;
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(report["fallback_proof"]["fallback_attempts"], 1);
    assert!(events(&sandbox).iter().any(|event| event == "fallback_attempt"));
    for channel in ["trace", "adapter_ledger"] {
        assert_eq!(secrets_found_in(&report, channel), Vec::<String>::new(), "{channel}");
    }
}

/// A program's absolute path from PATH.
fn which(program: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(program))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| panic!("{program} not on PATH"))
}
