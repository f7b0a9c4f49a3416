//! End-to-end tests of the `case-harness` binary (and the SOT parser's library API), one
//! integration binary for all of them. Each module says what it covers.

// Helpers: fixture paths, the binary with a cleared environment, the fake provider, snapshots.
mod util;

// One test per gate code: its plainest tripping case, and only that gate blocks.
mod gates;
// Decision and admission records: every malformed file, exact value comparison.
mod records;
// CTO_HARNESS_CASE_LOCAL_BASE_URL and unknown CTO_HARNESS_CASE_* variables; no probe when invalid.
mod adapter_config;
// external_fallback_configured: Anthropic / Claude names in records, Case environment, base URL.
mod fallback;
// The /models probe: errors, redirects, timeouts, non-JSON, closed port, model not listed.
mod probe;
// check's output as a product: whole-output snapshots (JSON and human), --decision, usage errors.
mod check_output;
// CTO_HARNESS_CASE_LOCAL_API_KEY: reaches the provider as a bearer token, never stdout/stderr.
mod secrets;
// status: exact JSON for the seed with no evidence, derived statuses, malformed SOT → exit 2.
mod status;
// The SOT parser's library API: both seed forms, exact counts and bullets, malformed inputs.
mod sot;
// --help of check and status explains every CTO_HARNESS_CASE_* variable.
mod help;
// fixtures/README.md lists every fixture file, one line each.
mod fixtures;
