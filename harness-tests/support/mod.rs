//! Shared by the `anthropic` and `sdk` test targets: an adapter started through the library
//! API on 127.0.0.1 with a fresh ledger and trace, and small readers for what it wrote.
#![allow(dead_code, reason = "each test target uses a different part")]

use std::path::PathBuf;
use std::time::Duration;

use case_harness::adapter::{self, AdapterConfig, AdapterHandle, HEADER_FALLBACK_ATTEMPTS, LedgerEntry};
use case_harness::secrets::SecretValue;
use case_harness::trace::{self, Trace};
use case_harness::upstream::LocalBaseUrl;

/// The admitted model of every test.
pub const MODEL: &str = "smollm2-135m-instruct";
/// The per-run token (a canary: it must never reach the upstream or a file).
pub const TOKEN: &str = "case-token-canary-2b7c41e9";

/// A running adapter and the folder holding its ledger and trace.
pub struct TestAdapter {
    pub handle: AdapterHandle,
    pub dir: tempfile::TempDir,
}

impl TestAdapter {
    /// Starts an adapter in front of `upstream_base` (e.g. `http://127.0.0.1:PORT/v1`).
    pub async fn start(upstream_base: &str) -> TestAdapter {
        TestAdapter::start_with_timeout(upstream_base, Duration::from_secs(10)).await
    }

    /// [`TestAdapter::start`] with a given upstream timeout.
    pub async fn start_with_timeout(upstream_base: &str, timeout: Duration) -> TestAdapter {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = AdapterConfig {
            upstream: LocalBaseUrl::parse(upstream_base).expect("loopback base URL"),
            model: MODEL.to_owned(),
            upstream_key: None,
            case_token: SecretValue::new(TOKEN.to_owned()),
            ledger_path: Some(dir.path().join(adapter::LEDGER_FILE_NAME)),
            trace: Trace::create(&dir.path().join("trace.jsonl")).expect("trace"),
            upstream_timeout: timeout,
        };
        let handle = adapter::start(config, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("adapter starts");
        TestAdapter { handle, dir }
    }

    /// `http://127.0.0.1:PORT` — what `ANTHROPIC_BASE_URL` is set to.
    pub fn root(&self) -> String {
        format!("http://{}", self.handle.local_addr())
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.root())
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.dir.path().join(adapter::LEDGER_FILE_NAME)
    }

    /// The ledger, read back strictly.
    pub fn ledger(&self) -> Vec<LedgerEntry> {
        adapter::read_ledger(&self.ledger_path()).expect("ledger reads back strictly")
    }

    /// The trace's event names, in order.
    pub fn trace_events(&self) -> Vec<String> {
        trace::read(&self.dir.path().join("trace.jsonl"))
            .expect("trace")
            .into_iter()
            .map(|event| event["event"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The totals the handle reports equal those recomputed from the file.
    pub fn assert_totals_match_file(&self) {
        assert_eq!(self.handle.totals(), adapter::summarize(&self.ledger()));
    }
}

/// The value of the fallback-attempts evidence header.
pub fn fallback_attempts_header(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get(HEADER_FALLBACK_ATTEMPTS)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
