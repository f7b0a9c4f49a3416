//! The local adapter configuration gates: a missing, malformed or non-loopback
//! `CTO_HARNESS_CASE_LOCAL_BASE_URL`, and unknown `CTO_HARNESS_CASE_*` variables. A URL that
//! fails these gates is never probed: the fake provider must see no request.

use case_harness::gates::GateCode;

use crate::cli::util::{Check, FakeProvider, assert_mentions};

#[test]
fn empty_base_url_counts_as_unset() {
    let ran = Check::ready().base_url("").run_json();
    ran.assert_blocks_only(GateCode::LocalAdapterConfigMissing);
    assert!(ran.provider.requests().is_empty());
}

#[test]
fn malformed_base_urls_are_invalid_and_never_probed() {
    let cases = [
        ("{provider}/v1?key=x", "has a query string"),
        ("http://user:pw@127.0.0.1:{port}/v1", "contains user-info"),
        ("{provider}/v1#models", "has a fragment"),
        ("ftp://127.0.0.1:{port}/v1", "uses scheme `ftp`"),
        // Host and port without a scheme: the hint says what to add.
        ("localhost:{port}/v1", "has no scheme: add http://"),
        ("127.0.0.1:{port}/v1", "has no scheme: add http://"),
        ("http://127.0.0.1:99999/v1", "is not a URL (invalid port number)"),
        (" {provider}/v1", "contains whitespace or control characters"),
    ];
    for (template, expected) in cases {
        let ran = Check::ready().base_url(template).run_json();
        let gate = ran.assert_blocks_only(GateCode::LocalAdapterConfigInvalid);
        assert_mentions(&gate, &["CTO_HARNESS_CASE_LOCAL_BASE_URL", expected]);
        assert_eq!(
            ran.provider.request_lines(),
            Vec::<String>::new(),
            "{template} was probed"
        );
        let not_local = ran.gate(GateCode::LocalEndpointNotLocal);
        assert_eq!(not_local.detail, "base URL is malformed", "{template}");
    }
}

#[test]
fn unknown_harness_variable_blocks_even_beside_a_good_base_url() {
    // A typo must not silently disable a setting; the good URL is still probed and passes.
    let ran = Check::ready()
        .env("CTO_HARNESS_CASE_LOCAL_BASEURL", "http://127.0.0.1:1/v1")
        .run_json();
    let gate = ran.assert_blocks_only(GateCode::LocalAdapterConfigInvalid);
    assert_mentions(&gate, &["unknown variable(s) CTO_HARNESS_CASE_LOCAL_BASEURL"]);
    assert_eq!(ran.provider.request_lines(), FakeProvider::check_probe("/v1/models"));
}

#[test]
fn misspelt_base_url_variable_alone_blocks_as_missing_and_invalid() {
    let ran = Check::ready()
        .no_base_url()
        .env("CTO_HARNESS_CASE_LOCAL_BASEURL", "{provider}/v1")
        .run_json();
    let gates = ran.assert_blocks_exactly(&[GateCode::LocalAdapterConfigMissing, GateCode::LocalAdapterConfigInvalid]);
    assert_mentions(&gates[1], &["CTO_HARNESS_CASE_LOCAL_BASEURL"]);
}

#[test]
fn non_loopback_hosts_are_not_local_and_never_probed() {
    let cases = [
        ("http://localhost.evil.example:{port}/v1", "`localhost.evil.example`"),
        ("http://localhost.:{port}/v1", "`localhost.`"),
        ("http://10.0.0.1:{port}/v1", "`10.0.0.1`"),
        // Connecting to 0.0.0.0 reaches this machine on Linux, and the fake provider listens
        // on that port: it must still see no request, because 0.0.0.0 is not loopback.
        ("http://0.0.0.0:{port}/v1", "`0.0.0.0`"),
        ("http://[::ffff:127.0.0.1]:{port}/v1", "`[::ffff:7f00:1]`"),
        ("https://api.example.com/v1", "`api.example.com`"),
    ];
    for (template, host) in cases {
        let ran = Check::ready().base_url(template).run_json();
        let gate = ran.assert_blocks_only(GateCode::LocalEndpointNotLocal);
        assert_mentions(&gate, &[host, "is not loopback"]);
        assert_eq!(
            ran.provider.request_lines(),
            Vec::<String>::new(),
            "{template} was probed"
        );
    }
}

#[test]
fn loopback_spellings_are_ready() {
    for template in [
        "{provider}/v1",
        "{provider}/v1/",
        "http://localhost:{port}/v1",
        "http://LOCALHOST:{port}/v1",
    ] {
        let ran = Check::ready().base_url(template).run_json();
        ran.assert_ready();
        assert_eq!(
            ran.provider.request_lines(),
            FakeProvider::check_probe("/v1/models"),
            "{template}"
        );
    }
}

/// Regression: `https` on loopback passed the URL gates and then failed as "unreachable"
/// (the loopback client has no TLS). It is refused at the gate, with the reason, unprobed.
#[test]
fn https_is_refused_at_the_gate_not_reported_unreachable() {
    let ran = Check::ready().base_url("https://127.0.0.1:{port}/v1").run_json();
    let gate = ran.assert_blocks_only(GateCode::LocalAdapterConfigInvalid);
    assert_mentions(&gate, &["https", "use http://"]);
    assert_eq!(ran.provider.request_lines(), Vec::<String>::new());
}
