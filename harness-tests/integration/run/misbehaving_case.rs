//! A Case that breaks the contract in the ways a buggy agent does — no result file, a result
//! file that is not JSON or is huge, a flood of output — ends in a sealed `fail` that says
//! why, never a pass and never a harness that hangs or runs out of memory.

use crate::run::common::*;

/// A Case that does the job (well_behaved.py), then runs `then` in the shell with
/// `$CASE_OUTPUT_DIR` set: the last word on `result.json` is `then`'s.
fn well_behaved_then(then: &str) -> Vec<String> {
    let well_behaved = case_script("well_behaved.py")[1].clone();
    vec![
        "sh".to_owned(),
        "-c".to_owned(),
        format!("python3 {well_behaved} && {then}"),
    ]
}

/// Runs `case`; asserts a verified `fail` whose reasons contain `reason`.
async fn assert_fails_because(case: Vec<String>, reason: &str) -> Sandbox {
    let (sandbox, _provider, output) = run_against_provider(case, &[]).await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = sandbox.report();
    assert_eq!(report["outcome"], "fail");
    let reasons = report["reasons"].to_string();
    assert!(reasons.contains(reason), "{reasons}");
    let verified = verify(&sandbox.out().join("report.json"));
    assert_eq!(
        verified.status.code(),
        Some(0),
        "the sealed failure does not verify: {}",
        String::from_utf8_lossy(&verified.stdout)
    );
    sandbox
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_that_writes_no_result_file_fails() {
    let sandbox = assert_fails_because(well_behaved_then("rm \"$CASE_OUTPUT_DIR/result.json\""), "verdict").await;
    assert!(sandbox.report()["case"]["verdict"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_file_that_is_not_json_fails() {
    assert_fails_because(
        well_behaved_then("printf 'verdict: pass' > \"$CASE_OUTPUT_DIR/result.json\""),
        "not JSON",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_file_with_a_verdict_other_than_pass_or_fail_fails() {
    assert_fails_because(
        well_behaved_then("echo '{\"verdict\":\"PASS\"}' > \"$CASE_OUTPUT_DIR/result.json\""),
        "verdict",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_result_file_is_refused_unread() {
    // 64 MiB of JSON whitespace before a valid pass: over the 1 MiB bound, so never parsed.
    let sandbox = assert_fails_because(
        well_behaved_then(
            "{ head -c 67108864 /dev/zero | tr '\\0' ' '; echo '{\"verdict\":\"pass\"}'; } > \"$CASE_OUTPUT_DIR/result.json\"",
        ),
        "larger than",
    )
    .await;
    assert!(sandbox.report()["case"]["verdict"].is_null());
}

/// The cap of each Case log (`case_harness::case_logs::LOG_CAP`).
const LOG_CAP: u64 = 64 * 1024 * 1024;

/// Runs `case` confined, returns the harness's exit code and its peak RSS (KiB): the
/// kernel's high-water mark (`VmHWM`), read while it runs. wait4(2)'s `ru_maxrss` would not
/// do: it also counts the moment between fork and exec, when the child is a copy of this test
/// process (measured: 199 MiB beside the adapter's load test, 21 MiB alone).
async fn run_measuring_memory(case: Vec<String>) -> (Sandbox, FakeProvider, Option<i32>, u64) {
    let sandbox = Sandbox::new();
    let provider = provider().await;
    let mut command = harness_std(&sandbox, Some(&base_url(&provider)));
    command
        .args(["run", "--simulated", "--task"])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(sandbox.out())
        .arg("--")
        .args(case)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = command.spawn().expect("the harness starts");
    let proc_dir = std::path::PathBuf::from(format!("/proc/{}", child.id()));
    let (code, peak_kib) = tokio::task::spawn_blocking(move || {
        let mut peak_kib = 0;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return (status.code(), peak_kib);
            }
            // Only once exec has replaced the fork's copy of this process.
            let execed = std::fs::read_link(proc_dir.join("exe"))
                .is_ok_and(|exe| exe.to_string_lossy().ends_with("case-harness"));
            if execed && let Ok(status) = std::fs::read_to_string(proc_dir.join("status")) {
                let hwm = status
                    .lines()
                    .find_map(|line| line.strip_prefix("VmHWM:"))
                    .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
                peak_kib = peak_kib.max(hwm.unwrap_or(0));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    })
    .await
    .expect("join");
    assert!(peak_kib > 0, "the harness's memory was never read");
    (sandbox, provider, code, peak_kib)
}

/// The numbers of the cap marker, the last line of `log`: (written, kept, dropped).
fn cap_marker(log: &[u8]) -> (u64, u64, u64) {
    let start = log.len()
        - log
            .iter()
            .rev()
            .skip(1)
            .position(|byte| *byte == b'\n')
            .expect("a marker line")
        - 1;
    let marker = std::str::from_utf8(&log[start..]).expect("the marker is text");
    let numbers: Vec<u64> = marker
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|word| word.parse().ok())
        .collect();
    assert!(
        marker.starts_with("[case-harness] log capped: Case wrote ") && numbers.len() == 3,
        "{marker:?}"
    );
    (numbers[0], numbers[1], numbers[2])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_on_stdout_is_capped_with_a_marker_and_neither_memory_nor_the_run_follows_it() {
    const GIB: u64 = 1024 * 1024 * 1024;
    let (sandbox, _provider, code, peak_kib) =
        run_measuring_memory(well_behaved_then(&format!("head -c {GIB} /dev/zero"))).await;
    let report = sandbox.report();
    assert_eq!(code, Some(0), "{}", report["reasons"]);
    assert_eq!(report["outcome"], "pass");

    let log = std::fs::read(sandbox.out().join("case-stdout.log")).expect("log");
    let (written, kept, dropped) = cap_marker(&log);
    assert!(written > GIB, "{written}");
    assert_eq!((kept, dropped), (LOG_CAP, written - LOG_CAP));
    // The first `kept` bytes, one newline, then the marker line.
    assert_eq!(log[LOG_CAP as usize], b'\n');
    assert!(log[..LOG_CAP as usize].starts_with(b"reply:"));
    assert!(log.len() < LOG_CAP as usize + 1024, "{}", log.len());

    let channels = report["secret_scan"]["channels"].as_array().expect("channels");
    let logs = channels
        .iter()
        .find(|channel| channel["channel"] == "backend_logs")
        .expect("backend_logs");
    let scanned = logs["scanned"].to_string();
    assert!(
        scanned.contains(&format!(
            "{dropped} bytes past the {LOG_CAP}-byte cap, scanned as Case wrote them"
        )),
        "{scanned}"
    );
    // A gigabyte went through the harness; its memory stayed far below it.
    assert!(peak_kib < 160 * 1024, "peak RSS {peak_kib} KiB");
    assert_eq!(verify(&sandbox.out().join("report.json")).status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_printed_after_the_log_cap_still_fails_the_run_in_the_backend_logs_channel() {
    let sandbox = assert_fails_because(
        well_behaved_then(&format!(
            "head -c {} /dev/zero && echo \"key: $CASE_API_KEY\"",
            LOG_CAP + 1024 * 1024
        )),
        "backend_logs",
    )
    .await;
    let log = std::fs::read(sandbox.out().join("case-stdout.log")).expect("log");
    let (written, kept, _) = cap_marker(&log);
    assert_eq!(kept, LOG_CAP);
    assert!(written > LOG_CAP + 1024 * 1024);
    assert!(!log.windows(b"chc-token-".len()).any(|window| window == b"chc-token-"));
    let report = sandbox.report();
    let logs = report["secret_scan"]["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .find(|channel| channel["channel"] == "backend_logs")
        .cloned()
        .expect("backend_logs");
    assert_eq!(logs["hits"].as_array().map(Vec::len), Some(1), "{logs}");
    assert_eq!(logs["hits"][0]["secret"], "case_token");
    assert!(
        logs["hits"][0]["location"].as_str().is_some_and(
            |location| location.ends_with("case-stdout.log (past the cap: scanned as Case wrote it, not kept)")
        ),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escaped_process_holding_stdout_open_cannot_hang_an_unconfined_run() {
    let marker = unique_marker("holds-stdout");
    // Unconfined, a setsid() child leaves Case's process group and keeps stdout open.
    // (`; :` keeps sh from exec-ing sleep, so the marker stays in a command line.)
    // Case waits (a bounded while) until the child has left its group: killed before its
    // setsid(), it would die with the group and prove nothing.
    let case = well_behaved_then(&format!(
        "{{ setsid sh -c 'touch \"$CASE_OUTPUT_DIR/escaped\"; sleep 600; :' {marker} & }} && \
         for i in $(seq 300); do [ -e \"$CASE_OUTPUT_DIR/escaped\" ] && break; sleep 0.1; done && echo started"
    ));
    let (sandbox, _provider, output) = run_unconfined_against_provider(case).await;
    let survivors = kill_survivors(&marker);
    assert!(
        !survivors.is_empty(),
        "the escaped process did not start: the test proves nothing\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log = std::fs::read_to_string(sandbox.out().join("case-stdout.log")).expect("log");
    assert!(log.contains("started\n"), "{log}");
    assert!(log.contains("still held this stream open"), "{log}");
    assert_eq!(verify(&sandbox.out().join("report.json")).status.code(), Some(0));
}
