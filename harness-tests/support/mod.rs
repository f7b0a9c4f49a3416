//! Shared by the `adapter`, `anthropic` and `sdk` test targets: an adapter started through the
//! library API on 127.0.0.1 with a fresh ledger and trace, fake upstreams, and small readers
//! for what the adapter wrote.
#![allow(dead_code, reason = "each test target uses a different part")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use case_harness::adapter::{self, AdapterConfig, AdapterHandle, HEADER_FALLBACK_ATTEMPTS, LedgerEntry, UpstreamApi};
use case_harness::secrets::SecretValue;
use case_harness::trace::{self, Trace};
use case_harness::upstream::LocalBaseUrl;
use serde_json::Value;
use tokio::sync::Notify;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The admitted model of every test.
pub const MODEL: &str = "smollm2-135m-instruct";
/// The per-run token (a canary: it must never reach the upstream or a file).
pub const TOKEN: &str = "case-token-canary-2b7c41e9";

/// A client as Case has one: no proxy, and it follows redirects, as ordinary HTTP clients do —
/// the adapter must not give it anything to follow.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("client")
}

/// A running adapter, the folder holding its ledger and trace, and a client to talk to it.
pub struct TestAdapter {
    pub handle: AdapterHandle,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
}

impl TestAdapter {
    /// Starts an adapter in front of `upstream_base` (e.g. `http://127.0.0.1:PORT/v1`).
    pub async fn start(upstream_base: &str) -> TestAdapter {
        TestAdapter::start_with(upstream_base, None, Duration::from_secs(10)).await
    }

    /// [`TestAdapter::start`] with an upstream key to send upstream.
    pub async fn start_with_key(upstream_base: &str, key: &str) -> TestAdapter {
        TestAdapter::start_with(upstream_base, Some(key), Duration::from_secs(10)).await
    }

    /// [`TestAdapter::start`] with a given upstream timeout.
    pub async fn start_with_timeout(upstream_base: &str, timeout: Duration) -> TestAdapter {
        TestAdapter::start_with(upstream_base, None, timeout).await
    }

    async fn start_with(upstream_base: &str, key: Option<&str>, timeout: Duration) -> TestAdapter {
        // Translation, without the start-up probe: these upstreams speak OpenAI only, and
        // their tests count every request they receive.
        TestAdapter::start_as(upstream_base, key, timeout, UpstreamApi::OpenAi).await
    }

    /// An adapter told (or, with `Auto`, left to find out) which API the upstream speaks.
    pub async fn start_as(
        upstream_base: &str,
        key: Option<&str>,
        timeout: Duration,
        upstream_api: UpstreamApi,
    ) -> TestAdapter {
        TestAdapter::start_pinned(
            upstream_base,
            upstream_api,
            case_harness::output::SamplingPin::default(),
            key,
            timeout,
        )
        .await
    }

    /// An adapter that sets the sampling pin `sampling` on every forwarded generation request.
    pub async fn start_pinned(
        upstream_base: &str,
        upstream_api: UpstreamApi,
        sampling: case_harness::output::SamplingPin,
        key: Option<&str>,
        timeout: Duration,
    ) -> TestAdapter {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = AdapterConfig {
            upstream: LocalBaseUrl::parse(upstream_base).expect("loopback base URL"),
            model: MODEL.to_owned(),
            upstream_key: key.map(|key| SecretValue::new(key.to_owned())),
            case_token: SecretValue::new(TOKEN.to_owned()),
            ledger_path: Some(dir.path().join(adapter::LEDGER_FILE_NAME)),
            trace: Trace::create(&dir.path().join("trace.jsonl")).expect("trace"),
            upstream_timeout: timeout,
            upstream_api,
            sampling,
        };
        let handle = adapter::start(config, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("adapter starts");
        TestAdapter {
            handle,
            dir,
            client: client(),
        }
    }

    /// `http://127.0.0.1:PORT` — what `ANTHROPIC_BASE_URL` is set to.
    pub fn root(&self) -> String {
        format!("http://{}", self.handle.local_addr())
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.root())
    }

    /// A `POST` to `path` carrying the per-run token as a bearer token, as OpenAI clients send it.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(TOKEN)
    }

    /// Sends `body` to `/v1/chat/completions` with the token.
    pub async fn chat(&self, body: Value) -> reqwest::Response {
        self.post("/v1/chat/completions")
            .json(&body)
            .send()
            .await
            .expect("adapter answers")
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.dir.path().join(adapter::LEDGER_FILE_NAME)
    }

    /// The ledger, read back strictly.
    pub fn ledger(&self) -> Vec<LedgerEntry> {
        adapter::read_ledger(&self.ledger_path()).expect("ledger reads back strictly")
    }

    pub fn trace_path(&self) -> PathBuf {
        self.dir.path().join("trace.jsonl")
    }

    /// The trace's event names, in order.
    pub fn trace_events(&self) -> Vec<String> {
        trace_event_names(&self.trace_path())
    }

    /// `attempts` refused fallback attempts naming `model`, nothing forwarded, and one
    /// `fallback_attempt` trace event per attempt.
    pub fn assert_refused_fallbacks(&self, attempts: u64, model: &str) {
        let totals = self.handle.totals();
        assert_eq!((totals.fallback_attempts, totals.forwarded), (attempts, 0));
        assert!(totals.models_requested.contains(model), "{:?}", totals.models_requested);
        let events = self.trace_events();
        let traced = events.iter().filter(|event| *event == "fallback_attempt").count() as u64;
        assert_eq!(traced, attempts, "{events:?}");
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

/// The event names of the trace at `path`, in order.
pub fn trace_event_names(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("trace");
    trace::parse(path, &text)
        .expect("a trace the harness writes")
        .iter()
        .map(|line| line.event.name().to_owned())
        .collect()
}

/// Whether `bytes` hold `secret` anywhere.
pub fn contains_secret(bytes: &[u8], secret: &str) -> bool {
    bytes.windows(secret.len()).any(|window| window == secret.as_bytes())
}

/// The base URL the adapter is given for a fake upstream: `http://127.0.0.1:PORT/v1`.
pub fn upstream_base(server: &MockServer) -> String {
    format!("{}/v1", server.uri())
}

/// What the fake upstream received.
pub async fn received(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.expect("request recording is on")
}

/// A fake upstream that gives every request, whatever its method and path, `answer`.
pub async fn upstream_answering_all(answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(answer).mount(&server).await;
    server
}

/// An upstream whose `POST /v1/chat/completions` streams `first`, then holds `rest` back until
/// the client says it has seen `first` (or 3 s pass). If the adapter buffered the stream, the
/// client could not see anything before the upstream finished, and the returned flag (released
/// by the client) would stay false.
pub async fn start_held_back_sse_upstream(
    first: &'static str,
    rest: &'static str,
) -> (SocketAddr, Arc<Notify>, Arc<AtomicBool>) {
    let release = Arc::new(Notify::new());
    let released_by_client = Arc::new(AtomicBool::new(false));
    let (release_for_server, flag_for_server) = (release.clone(), released_by_client.clone());
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || {
            let (release, flag) = (release_for_server.clone(), flag_for_server.clone());
            async move {
                let events = futures_util::stream::unfold(0u8, move |stage| {
                    let (release, flag) = (release.clone(), flag.clone());
                    async move {
                        match stage {
                            0 => Some((Ok::<_, Infallible>(Bytes::from_static(first.as_bytes())), 1)),
                            1 => {
                                let released = tokio::time::timeout(Duration::from_secs(3), release.notified())
                                    .await
                                    .is_ok();
                                flag.store(released, Ordering::SeqCst);
                                Some((Ok(Bytes::from_static(rest.as_bytes())), 2))
                            }
                            _ => None,
                        }
                    }
                });
                axum::response::Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(events))
                    .expect("response")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, release, released_by_client)
}
