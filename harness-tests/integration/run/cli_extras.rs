//! What a CLI in this ecosystem is expected to have (issue 23): `run --format json` and
//! `runs/<timestamp>`, `evidence --filter/--failed/--fail-fast/--jobs`, `doctor`,
//! `completions` and `man`, each through the real binary.

use std::path::Path;

use serde_json::Value;

use super::common::{Sandbox, base_url, harness, provider, read_json};

/// A planning document whose three bullets no scenario binds: every trial fails at once
/// (the bundled scenarios become orphans), so selection is tested without running Case.
const UNMAPPED_SOT: &str = "# Demo\n\n## CTO-WORK-099 - Demo route\n\nStatus: draft.\n\nAcceptance:\n\
- Alpha bullet has no scenario.\n- Beta bullet has no scenario.\n- Gamma bullet has no scenario.\n";

fn binary() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::cargo_bin("case-harness").expect("binary");
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
}

fn evidence(dir: &Path, out: &str, flags: &[&str]) -> std::process::Output {
    binary()
        .current_dir(dir)
        .args(["evidence", "--sot", "sot.md", "--out", out])
        .args(flags)
        .output()
        .expect("runs")
}

/// (name, status, message) of every trial in `trials.json`.
fn trials(folder: &Path) -> Vec<(String, String, String)> {
    read_json(&folder.join("trials.json"))["trials"]
        .as_array()
        .expect("trials")
        .iter()
        .map(|trial| {
            (
                trial["name"].as_str().unwrap_or_default().to_owned(),
                trial["status"].as_str().unwrap_or_default().to_owned(),
                trial["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn count(trials: &[(String, String, String)], status: &str, message: &str) -> usize {
    trials
        .iter()
        .filter(|(_, got, text)| got == status && text.starts_with(message))
        .count()
}

#[test]
fn fail_fast_stops_after_the_first_failure_and_failed_re_runs_what_did_not_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("sot.md"), UNMAPPED_SOT).expect("write");

    // Control: without --fail-fast every trial runs and fails.
    let all = evidence(dir.path(), "all", &["--jobs", "1"]);
    assert_eq!(all.status.code(), Some(1));
    let all = trials(&dir.path().join("all"));
    let failing = count(&all, "failed", "");
    assert!(failing >= 3, "{all:?}");

    let fast = evidence(dir.path(), "fast", &["--jobs", "1", "--fail-fast"]);
    assert_eq!(fast.status.code(), Some(1));
    let fast = trials(&dir.path().join("fast"));
    assert_eq!(count(&fast, "failed", ""), 1, "{fast:?}");
    assert_eq!(
        count(&fast, "skipped", "not run: an earlier trial failed (--fail-fast)"),
        failing - 1
    );

    // --failed re-runs the failed and the not-run trials (not the ignored one), and --filter
    // narrows that to names containing EXPR.
    let again = evidence(dir.path(), "fast", &["--failed", "--filter", "alpha"]);
    assert_eq!(again.status.code(), Some(1));
    let again = trials(&dir.path().join("fast"));
    let names: Vec<&str> = again.iter().map(|(name, _, _)| name.as_str()).collect();
    assert_eq!(names, ["CTO-WORK-099::01-alpha-bullet-has-no-scenario"]);

    let all_again = evidence(dir.path(), "all", &["--failed"]);
    assert_eq!(all_again.status.code(), Some(1));
    let all_again = trials(&dir.path().join("all"));
    assert_eq!(
        all_again.len(),
        failing,
        "the ignored real-case trial is not re-run: {all_again:?}"
    );

    // Nothing failed last time: nothing runs and the folder is left as it was.
    let passed = dir.path().join("all/trials.json");
    let mut file = read_json(&passed);
    for trial in file["trials"].as_array_mut().expect("trials") {
        trial["status"] = Value::from("passed");
    }
    std::fs::write(&passed, serde_json::to_vec(&file).expect("json")).expect("write");
    let before = std::fs::read(&passed).expect("read");
    let nothing = evidence(dir.path(), "all", &["--failed"]);
    assert_eq!(nothing.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&nothing.stdout).contains("nothing to re-run"));
    assert_eq!(std::fs::read(&passed).expect("read"), before);

    // No earlier run: said, with the file looked for.
    let none = evidence(dir.path(), "new", &["--failed"]);
    assert_eq!(none.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert!(stderr.contains("new/trials.json does not exist"), "{stderr}");

    let zero = evidence(dir.path(), "zero", &["--jobs", "0"]);
    assert_eq!(zero.status.code(), Some(2), "--jobs 0 is a usage error");
}

#[tokio::test]
async fn run_without_out_writes_a_new_timestamped_folder_and_prints_one_json_object() {
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let url = base_url(&provider);
    let cwd = sandbox.dir.path().to_owned();
    let task = sandbox.path("task.json");
    let run_once = || {
        let mut command = harness(&sandbox, Some(&url));
        command
            .current_dir(&cwd)
            .args(["run", "--simulated", "--format", "json", "--task"])
            .arg(&task);
        command
    };
    // One after the other: the second starts within the same second, or the next.
    let (mut first, mut second) = (run_once(), run_once());
    let first = tokio::task::spawn_blocking(move || first.output().expect("runs"))
        .await
        .expect("join");
    let second = tokio::task::spawn_blocking(move || second.output().expect("runs"))
        .await
        .expect("join");
    let stamp = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ(-\d+)?/report\.json$").expect("regex");
    let mut reports = Vec::new();
    for output in [first, second] {
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
        let json: Value = serde_json::from_str(&stdout).expect("json");
        assert_eq!(json["outcome"], "pass", "{json}");
        assert_eq!(json["exit_code"], 0);
        assert_eq!(output.status.code(), Some(0));
        assert!(json["reasons"].is_array());
        let report = json["report"].as_str().expect("report path").to_owned();
        let folder = report.strip_prefix("runs/").expect("under runs/");
        assert!(stamp.is_match(folder), "{report}");
        assert_eq!(read_json(&cwd.join(&report))["outcome"], "pass");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("run folder: runs/"), "the folder is named: {stderr}");
        reports.push(report);
    }
    assert_ne!(reports[0], reports[1], "two runs never share a folder");
}

#[test]
fn run_format_json_reports_a_refused_task_as_blocked_with_no_report() {
    let sandbox = Sandbox::new();
    let out = sandbox.out();
    let output = harness(&sandbox, Some("http://127.0.0.1:9/v1"))
        .args(["run", "--simulated", "--format", "json", "--task"])
        .arg(sandbox.path("missing-task.json"))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(3));
    let json: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(json["outcome"], "blocked");
    assert_eq!(json["exit_code"], 3);
    assert_eq!(json["report"], Value::Null);
    assert!(
        json["reasons"][0]
            .as_str()
            .expect("reason")
            .contains("missing-task.json"),
        "{json}"
    );
}

#[test]
fn doctor_fails_on_what_would_block_and_says_what_to_fix() {
    let output = binary()
        .env("CTO_HARNESS_CASE_LOCAL_BASE_URL", "https://example.com/v1")
        .args(["doctor", "--probe-timeout", "1"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.lines().any(|line| line.starts_with("FAIL  provider")),
        "{stdout}"
    );
    assert!(
        stdout.contains("fix: set it to the local provider's http://127.0.0.1:PORT/v1"),
        "{stdout}"
    );

    let json = binary()
        .env("CTO_HARNESS_CASE_TEMPRATURE", "0")
        .args(["doctor", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(json.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(json["ok"], false);
    let environment = json["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|check| check["name"] == "environment")
        .expect("environment check");
    assert_eq!(environment["status"], "fail", "{environment}");
    assert!(
        environment["detail"]
            .as_str()
            .expect("detail")
            .contains("CTO_HARNESS_CASE_TEMPRATURE")
    );
}

#[test]
fn completions_and_man_come_from_the_flag_table() {
    let bash = binary().args(["completions", "bash"]).output().expect("runs");
    assert_eq!(bash.status.code(), Some(0));
    let bash = String::from_utf8_lossy(&bash.stdout);
    assert!(bash.contains("complete -F") && bash.contains("--fail-fast"), "{bash}");
    let man = binary().arg("man").output().expect("runs");
    assert_eq!(man.status.code(), Some(0));
    let man = String::from_utf8_lossy(&man.stdout);
    assert!(man.contains(".TH case-harness 1") && man.contains("doctor"), "{man}");
    let unknown = binary().args(["completions", "tcsh"]).output().expect("runs");
    assert_eq!(unknown.status.code(), Some(2));
}
