//! A Case that breaks the contract in the ways a buggy agent does — no result file, a result
//! file that is not JSON or is huge, a flood of output — ends in a sealed `fail` that says
//! why, never a pass and never a harness that hangs or runs out of memory.

use crate::common::*;

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
