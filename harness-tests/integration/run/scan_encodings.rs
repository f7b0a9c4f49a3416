//! The encodings the secret scan learned in issue 22, one run each: a Case stand-in
//! (`leaks_encoded.py`) writes its per-run token into `case-output/` as UTF-16 (LE or BE),
//! percent-encoded twice, as numeric HTML entities or as base32, and the run fails with a
//! `case_token` hit in `case_output`. Each written file is checked not to hold the token as
//! written (in any case), so the hit is the new encoding's.

use serde_json::Value;

use crate::run::common::*;

/// Runs the stand-in with `encoding` and checks the run failed on the scan hit alone.
async fn assert_encoded_leak_fails_the_run(encoding: &str) {
    let mut case = case_script("leaks_encoded.py");
    case.push(encoding.to_owned());
    let (sandbox, _provider, output) = run_against_provider(case, &[]).await;
    let written = std::fs::read(sandbox.out().join("case-output/notes.txt")).expect("the stand-in wrote its file");
    let report = sandbox.report();
    assert!(!written.is_empty(), "{encoding}: nothing written");
    let lowered = written.to_ascii_lowercase();
    assert!(
        !contains(&lowered, b"chc-token-"),
        "{encoding}: the file holds the token as written; the test would prove nothing"
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "{encoding}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["outcome"], "fail", "{encoding}");
    assert_eq!(report["secret_scan"]["clean"], false, "{encoding}");
    let hits = case_output_hits(&report);
    assert!(
        hits.iter().any(|name| name == "case_token"),
        "{encoding}: no case_token hit in case_output: {}",
        report["secret_scan"]["channels"]
    );
    let reasons = report["reasons"].to_string();
    assert!(
        reasons.contains("secret `case_token` found in case_output"),
        "{encoding}: {reasons}"
    );
    assert_eq!(
        verify(&sandbox.out().join("report.json")).status.code(),
        Some(0),
        "{encoding}: an honest fail verifies"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// The names of the secrets found in the `case_output` channel.
fn case_output_hits(report: &Value) -> Vec<String> {
    report["secret_scan"]["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .filter(|scan| scan["channel"] == "case_output")
        .flat_map(|scan| scan["hits"].as_array().cloned().unwrap_or_default())
        .filter_map(|hit| hit["secret"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_written_as_utf16le_fails_the_run() {
    assert_encoded_leak_fails_the_run("utf-16le").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_written_as_utf16be_fails_the_run() {
    assert_encoded_leak_fails_the_run("utf-16be").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_percent_encoded_twice_fails_the_run() {
    assert_encoded_leak_fails_the_run("double-percent").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_written_as_numeric_html_entities_fails_the_run() {
    assert_encoded_leak_fails_the_run("html-entities").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_written_as_base32_fails_the_run() {
    assert_encoded_leak_fails_the_run("base32").await;
}
