//! The adapter's added latency per request: the median time through the adapter against the
//! median time of the same request sent to the upstream directly, both measured in one run.
//!
//! `cargo bench --bench adapter_latency` (optimized) measures; `cargo test --benches` or
//! `cargo bench --bench adapter_latency -- --test` runs a short smoke pass (20 requests) that
//! only checks the set-up works. It prints numbers and never judges them: there is no timing
//! assertion, because the machines are shared and noisy.
//!
//! Set-up, everything on 127.0.0.1 and in this process:
//! * a fast OpenAI-compatible upstream (axum, `TCP_NODELAY`, its own thread and single-thread
//!   runtime, like a separate server process) answering `GET /v1/models`, and
//!   `POST /v1/chat/completions` with a fixed small completion — or, for `"stream": true`,
//!   [`STREAM_CHUNKS`] SSE chunks written one by one and `data: [DONE]`;
//! * the adapter in front of it, started with [`adapter::start`] on a 2-worker runtime as
//!   `case-harness run` does, with its ledger and trace written to a temporary folder (the
//!   real configuration);
//! * one keep-alive client ([`upstream::loopback_client`], on the main thread) that sends
//!   requests one at a time, alternating direct and through the adapter (ABAB…), so that a
//!   machine whose speed drifts slows both modes alike. Pair `i` is direct request `i` and
//!   adapter request `i`; "paired Δ" is the median of their differences.
//!
//! Each request's time runs from sending it until its whole body has arrived; "first byte"
//! is when the first body chunk arrived. Every answer is checked byte for byte (and for the
//! adapter's evidence header), so a refused or broken request cannot pass as a fast one.
//!
//! Allocations per request: every allocation of this process goes through a counting global
//! allocator ([`Counting`]); after the timed pairs, a scenario's requests are sent once more
//! direct-only and once adapter-only, and the difference per request is what the adapter
//! allocated (the client and the upstream do the same work in both).
//!
//! Environment: `BENCH_REQUESTS` (measured requests per mode and scenario; default 2000, 20
//! in smoke mode), `BENCH_WARMUP` (unmeasured pairs first; default 200, 5 in smoke mode),
//! `BENCH_ADAPTER_WORKERS` (the adapter runtime's workers; default 2 as `case-harness` runs,
//! 0 for tokio's current-thread runtime).
//! Each scenario also stops after [`SCENARIO_BUDGET`] and says how many pairs it measured.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use case_harness::adapter::{self, AdapterConfig, HEADER_SERVED_MODEL};
use case_harness::secrets::SecretValue;
use case_harness::trace::Trace;
use case_harness::upstream::{self, LocalBaseUrl};

#[path = "support/loopback_server.rs"]
mod loopback_server;
use loopback_server::{LoopbackServer, json_answer};

/// The system allocator, counting allocations (and their bytes) of the whole process.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed unchanged to `System`, which upholds `GlobalAlloc`'s contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: as `GlobalAlloc::realloc` requires, passed through.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (allocations, bytes) so far.
fn allocated() -> (u64, u64) {
    (
        ALLOCATIONS.load(Ordering::Relaxed),
        ALLOCATED_BYTES.load(Ordering::Relaxed),
    )
}

/// The admitted model, and the only one the upstream lists.
const MODEL: &str = "bench-model";
/// SSE chunks of a streamed answer (before `data: [DONE]`).
const STREAM_CHUNKS: usize = 20;
/// Longest any one scenario may measure before it stops early.
const SCENARIO_BUDGET: Duration = Duration::from_secs(40);
/// Bound on any single request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

const CHAT_ANSWER: &str = concat!(
    r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model","#,
    r#""choices":[{"index":0,"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}],"#,
    r#""usage":{"prompt_tokens":12,"completion_tokens":1,"total_tokens":13}}"#
);
const MODELS_ANSWER: &str =
    r#"{"object":"list","data":[{"id":"bench-model","object":"model","created":1700000000,"owned_by":"bench"}]}"#;
const CHAT_REQUEST: &str = r#"{"model":"bench-model","messages":[{"role":"user","content":"Reply with the single word: pong"}],"max_tokens":8}"#;
const STREAM_REQUEST: &str = concat!(
    r#"{"model":"bench-model","messages":[{"role":"user","content":"Reply with the single word: pong"}],"#,
    r#""max_tokens":8,"stream":true}"#
);

fn main() {
    let settings = Settings::from_env_and_args();
    let dir = tempfile::tempdir().expect("temporary folder");
    let ledger_path = dir.path().join(adapter::LEDGER_FILE_NAME);
    let stream_chunks = Arc::new(stream_chunks());
    let expected_stream: Vec<u8> = stream_chunks.iter().flat_map(|chunk| chunk.iter().copied()).collect();

    let upstream_server = start_upstream(stream_chunks);
    // `BENCH_ADAPTER_WORKERS`: 0 is tokio's current-thread runtime (the runtime tries of
    // BENCHMARKS.md); the default 2 is what `case-harness` runs.
    let adapter_runtime = match settings.adapter_workers {
        0 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        workers => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build(),
    }
    .expect("adapter runtime");
    let token = SecretValue::random("bench-token-");
    let config = AdapterConfig {
        upstream: LocalBaseUrl::parse(&format!("http://{}/v1", upstream_server.addr)).expect("loopback URL"),
        model: MODEL.to_owned(),
        upstream_key: None,
        case_token: token.clone(),
        ledger_path: Some(ledger_path.clone()),
        trace: Trace::create(&dir.path().join("trace.jsonl")).expect("trace"),
        upstream_timeout: REQUEST_TIMEOUT,
        upstream_api: adapter::UpstreamApi::OpenAi,
        sampling: Default::default(),
    };
    // The adapter's runtime is driven by a thread of its own (a current-thread runtime runs
    // its tasks only inside `block_on`), until `stop` is sent; it answers with the totals.
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let adapter_thread = std::thread::spawn(move || {
        adapter_runtime.block_on(async move {
            let handle = adapter::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .expect("the adapter starts");
            started_tx.send(handle.local_addr()).expect("main thread waits");
            let _ = stopped.await;
            handle.shutdown().await
        })
    });
    let adapter_addr = started_rx.recv().expect("the adapter starts");

    let direct = Target {
        mode: Mode::Direct,
        base: format!("http://{}/v1", upstream_server.addr),
        token: None,
    };
    let via_adapter = Target {
        mode: Mode::Adapter,
        base: format!("http://{adapter_addr}/v1"),
        token: Some(token.expose().to_owned()),
    };
    let scenarios = [
        Scenario {
            name: "chat completion",
            kind: Kind::Chat,
            expected: CHAT_ANSWER.as_bytes().to_vec(),
        },
        Scenario {
            name: "GET /v1/models",
            kind: Kind::Models,
            expected: MODELS_ANSWER.as_bytes().to_vec(),
        },
        Scenario {
            name: "streamed chat",
            kind: Kind::Stream,
            expected: expected_stream,
        },
    ];

    print_header(&settings);
    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let results: Vec<Measured> = client_runtime.block_on(async {
        let client = upstream::loopback_client(Some(REQUEST_TIMEOUT)).expect("HTTP client");
        let mut results = Vec::new();
        for scenario in &scenarios {
            results.push(measure(&client, &settings, scenario, &direct, &via_adapter).await);
        }
        results
    });
    print_results(&results);

    let _ = stop.send(());
    let totals = adapter_thread.join().expect("the adapter thread");
    let ledger_bytes = std::fs::metadata(&ledger_path).map_or(0, |meta| meta.len());
    let ledger_lines = std::fs::read_to_string(&ledger_path).map_or(0, |text| text.lines().count());
    println!(
        "ledger: {ledger_lines} lines, {} KiB; adapter totals: {} requests, {} forwarded, {} fallback attempts",
        ledger_bytes / 1024,
        totals.requests,
        totals.forwarded,
        totals.fallback_attempts
    );
    upstream_server.stop();
}

/// How much to measure.
struct Settings {
    smoke: bool,
    requests: usize,
    warmup: usize,
    adapter_workers: usize,
}

impl Settings {
    /// `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    /// `cargo bench -- --test` adds `--test`. Either of the latter is a smoke run.
    fn from_env_and_args() -> Settings {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let smoke = !args.iter().any(|arg| arg == "--bench") || args.iter().any(|arg| arg == "--test");
        let (requests, warmup) = if smoke { (20, 5) } else { (2000, 200) };
        Settings {
            smoke,
            requests: env_count("BENCH_REQUESTS").unwrap_or(requests).max(1),
            warmup: env_count("BENCH_WARMUP").unwrap_or(warmup),
            adapter_workers: env_count("BENCH_ADAPTER_WORKERS").unwrap_or(2),
        }
    }
}

fn env_count(name: &str) -> Option<usize> {
    let text = std::env::var(name).ok()?;
    match text.trim().parse() {
        Ok(count) => Some(count),
        Err(_) => panic!("{name}={text:?} is not a whole number"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Direct,
    Adapter,
}

/// Where a request goes: the upstream itself, or the adapter (with the per-run token).
struct Target {
    mode: Mode,
    base: String,
    token: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Chat,
    Models,
    Stream,
}

struct Scenario {
    name: &'static str,
    kind: Kind,
    /// The exact body every answer must have.
    expected: Vec<u8>,
}

/// One request's times.
#[derive(Debug, Clone, Copy)]
struct Sample {
    first_byte: Duration,
    total: Duration,
}

/// One scenario's samples, pair by pair.
struct Measured {
    name: &'static str,
    kind: Kind,
    direct: Vec<Sample>,
    adapter: Vec<Sample>,
    stopped_early: bool,
    /// Allocations (count, bytes) per request through the adapter minus direct.
    adapter_allocations: (f64, f64),
}

async fn measure(
    client: &reqwest::Client,
    settings: &Settings,
    scenario: &Scenario,
    direct: &Target,
    via_adapter: &Target,
) -> Measured {
    for _ in 0..settings.warmup {
        send(client, scenario, direct).await;
        send(client, scenario, via_adapter).await;
    }
    let started = Instant::now();
    let mut measured = Measured {
        name: scenario.name,
        kind: scenario.kind,
        direct: Vec::with_capacity(settings.requests),
        adapter: Vec::with_capacity(settings.requests),
        stopped_early: false,
        adapter_allocations: (0.0, 0.0),
    };
    for pair in 0..settings.requests {
        measured.direct.push(send(client, scenario, direct).await);
        measured.adapter.push(send(client, scenario, via_adapter).await);
        if pair + 1 < settings.requests && started.elapsed() > SCENARIO_BUDGET {
            measured.stopped_early = true;
            break;
        }
    }
    let counted = measured.direct.len().min(500);
    let mut per_request = [(0.0, 0.0); 2];
    for (target, into) in [direct, via_adapter].into_iter().zip(per_request.iter_mut()) {
        let before = allocated();
        for _ in 0..counted {
            send(client, scenario, target).await;
        }
        let after = allocated();
        *into = (
            (after.0 - before.0) as f64 / counted as f64,
            (after.1 - before.1) as f64 / counted as f64,
        );
    }
    measured.adapter_allocations = (per_request[1].0 - per_request[0].0, per_request[1].1 - per_request[0].1);
    measured
}

/// Sends one request, reads the whole answer, checks it, and returns its times.
async fn send(client: &reqwest::Client, scenario: &Scenario, target: &Target) -> Sample {
    let mut request = match scenario.kind {
        Kind::Models => client.get(format!("{}/models", target.base)),
        Kind::Chat => client
            .post(format!("{}/chat/completions", target.base))
            .header(CONTENT_TYPE, "application/json")
            .body(CHAT_REQUEST),
        Kind::Stream => client
            .post(format!("{}/chat/completions", target.base))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/event-stream")
            .body(STREAM_REQUEST),
    };
    if let Some(token) = &target.token {
        request = request.bearer_auth(token);
    }
    let started = Instant::now();
    let mut response = request.send().await.expect("an answer");
    let mut first_byte = None;
    let mut body = Vec::with_capacity(scenario.expected.len());
    while let Some(chunk) = response.chunk().await.expect("the whole body") {
        first_byte.get_or_insert_with(|| started.elapsed());
        body.extend_from_slice(&chunk);
    }
    let total = started.elapsed();
    assert_eq!(
        response.status(),
        reqwest::StatusCode::OK,
        "{} {:?}: {}",
        scenario.name,
        target.mode,
        String::from_utf8_lossy(&body)
    );
    assert!(
        body == scenario.expected,
        "{} {:?}: unexpected body {}",
        scenario.name,
        target.mode,
        String::from_utf8_lossy(&body)
    );
    assert_eq!(
        response.headers().contains_key(HEADER_SERVED_MODEL),
        target.mode == Mode::Adapter,
        "{} {:?}: the adapter's evidence header is on adapter answers only",
        scenario.name,
        target.mode
    );
    Sample {
        first_byte: first_byte.unwrap_or(total),
        total,
    }
}

/// The SSE chunks of a streamed answer, `data: [DONE]` last.
fn stream_chunks() -> Vec<Bytes> {
    let mut chunks: Vec<Bytes> = (0..STREAM_CHUNKS)
        .map(|index| {
            let finish = if index + 1 == STREAM_CHUNKS {
                r#""stop""#
            } else {
                "null"
            };
            Bytes::from(format!(
                "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\
                 \"model\":\"{MODEL}\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{index} \"}},\
                 \"finish_reason\":{finish}}}]}}\n\n"
            ))
        })
        .collect();
    chunks.push(Bytes::from_static(b"data: [DONE]\n\n"));
    chunks
}

/// The fake local model server, on its own thread and runtime.
fn start_upstream(stream_chunks: Arc<Vec<Bytes>>) -> LoopbackServer {
    let app = axum::Router::new()
        .route("/v1/models", get(|| async { json_answer(MODELS_ANSWER) }))
        .route(
            "/v1/chat/completions",
            post(move |body: Bytes| {
                let stream_chunks = stream_chunks.clone();
                async move { chat_answer(&body, stream_chunks) }
            }),
        );
    LoopbackServer::start(app)
}

fn chat_answer(request: &[u8], stream_chunks: Arc<Vec<Bytes>>) -> Response {
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(request) else {
        let mut response = json_answer(r#"{"error":{"message":"not JSON"}}"#);
        *response.status_mut() = StatusCode::BAD_REQUEST;
        return response;
    };
    if request.get("stream") != Some(&serde_json::Value::Bool(true)) {
        return json_answer(CHAT_ANSWER);
    }
    // One chunk per poll, with a yield in between, so that each is written on its own as a
    // model server writes tokens (only much faster).
    let chunks = futures_util::stream::unfold(0usize, move |index| {
        let stream_chunks = stream_chunks.clone();
        async move {
            if index > 0 {
                tokio::task::yield_now().await;
            }
            let chunk = stream_chunks.get(index)?.clone();
            Some((Ok::<Bytes, std::convert::Infallible>(chunk), index + 1))
        }
    });
    let mut response = Response::new(Body::from_stream(chunks));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn print_header(settings: &Settings) {
    let cores = std::thread::available_parallelism().map_or(0, |cores| cores.get());
    let build = if cfg!(debug_assertions) {
        "debug (unoptimized; numbers are not representative)"
    } else {
        "optimized (release/bench profile)"
    };
    println!("adapter_latency: the adapter's added latency per request, direct vs via the adapter, one run");
    println!("cores: {cores}   build: {build}");
    println!(
        "{}: {} measured requests per mode and scenario after {} warm-up pairs; one keep-alive client,",
        if settings.smoke { "smoke run" } else { "run" },
        settings.requests,
        settings.warmup
    );
    println!("  sequential, alternating direct/adapter (ABAB...); adapter ledger and trace on; loopback only");
    println!();
}

fn print_results(results: &[Measured]) {
    println!(
        "{:<30} {:<8} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "scenario (times in µs)", "mode", "n", "min", "median", "p90", "p99", "max"
    );
    for measured in results {
        let rows: Vec<(String, Pick)> = if measured.kind == Kind::Stream {
            vec![
                (format!("{}: first byte", measured.name), |sample| sample.first_byte),
                (format!("{}: total", measured.name), |sample| sample.total),
            ]
        } else {
            vec![(measured.name.to_owned(), |sample| sample.total)]
        };
        for (label, pick) in rows {
            let direct = Stats::of(measured.direct.iter().map(pick).collect());
            let adapter = Stats::of(measured.adapter.iter().map(pick).collect());
            let paired = paired_median_difference(&measured.direct, &measured.adapter, pick);
            println!("{label:<30} {:<8} {}", "direct", direct.row());
            println!("{:<30} {:<8} {}", "", "adapter", adapter.row());
            println!(
                "{:<30} added (median adapter - median direct) {:.1} µs; paired Δ median {:.1} µs; \
                 ratio adapter/direct {:.2}x",
                "",
                adapter.median - direct.median,
                paired,
                adapter.median / direct.median
            );
        }
        println!(
            "{:<30} allocations per request by the adapter (adapter − direct, whole process): {:.1} ({:.0} bytes)",
            "", measured.adapter_allocations.0, measured.adapter_allocations.1
        );
        if measured.stopped_early {
            println!(
                "{:<30} (stopped after {} s with {} pairs measured)",
                "",
                SCENARIO_BUDGET.as_secs(),
                measured.direct.len()
            );
        }
    }
    println!();
}

/// Which time of a sample a table row shows.
type Pick = fn(&Sample) -> Duration;

/// Order statistics of one mode, in µs (nearest rank).
struct Stats {
    count: usize,
    min: f64,
    median: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

impl Stats {
    fn of(mut times: Vec<Duration>) -> Stats {
        times.sort_unstable();
        let micros = |quantile: f64| quantile_of(&times, quantile);
        Stats {
            count: times.len(),
            min: micros(0.0),
            median: micros(0.5),
            p90: micros(0.9),
            p99: micros(0.99),
            max: micros(1.0),
        }
    }

    fn row(&self) -> String {
        format!(
            "{:>6} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            self.count, self.min, self.median, self.p90, self.p99, self.max
        )
    }
}

/// The nearest-rank quantile of sorted times, in µs.
fn quantile_of(sorted: &[Duration], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1e6
}

/// The median over pairs of (adapter − direct), in µs.
fn paired_median_difference(direct: &[Sample], adapter: &[Sample], pick: Pick) -> f64 {
    let mut differences: Vec<f64> = direct
        .iter()
        .zip(adapter)
        .map(|(direct, adapter)| (pick(adapter).as_secs_f64() - pick(direct).as_secs_f64()) * 1e6)
        .collect();
    differences.sort_unstable_by(f64::total_cmp);
    match differences.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => differences[len / 2],
        len => (differences[len / 2 - 1] + differences[len / 2]) / 2.0,
    }
}
