//! The load generator: keep-alive HTTP clients on one thread that send the same small requests
//! to the upstream directly and through each proxy.
//!
//! * Sequential (concurrency 1): one request at a time, round-robin over every lane (ABCABC…),
//!   so that a machine whose speed drifts slows every lane alike.
//! * Concurrent (concurrency N): N tasks, each with its own connection, send back to back to
//!   one lane until its request count or its time budget is used up.
//!
//! A request's time runs from sending it until its whole body arrived; "first byte" is the first
//! body chunk. An answer that is not a 200 carrying the expected text counts as an error and is
//! left out of the times, so a refused request cannot pass as a fast one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::header::{ACCEPT, CONTENT_TYPE};

use crate::upstream::{ANSWER_TEXT, MODEL};

/// Bound on any single request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// What is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// OpenAI `POST /v1/chat/completions`.
    Chat,
    /// OpenAI chat completion with `"stream": true`.
    Stream,
    /// Anthropic `POST /v1/messages`.
    Messages,
}

/// Where a lane's requests go.
#[derive(Clone)]
pub struct Lane {
    pub label: String,
    /// Base URL without `/v1`.
    pub root: String,
    pub token: Option<String>,
    pub kind: Kind,
    /// At most this many measured requests (a slow peer gets fewer than the fast lanes).
    pub cap: usize,
}

/// One request's times.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub first_byte: Duration,
    pub total: Duration,
}

/// A lane's measurements.
pub struct Measured {
    pub label: String,
    pub samples: Vec<Sample>,
    pub errors: usize,
    pub first_error: Option<String>,
    /// Wall time of the whole measurement (for requests per second).
    pub elapsed: Duration,
    /// Requests sent, warm-up and failed ones included (what the proxy's CPU time was spent on).
    pub sent: usize,
    /// CPU time (user + system, with children) the lane's proxy spent while the lane ran;
    /// `None` for `direct` or when `/proc` could not say.
    pub proxy_cpu: Option<Duration>,
    /// Every round of this lane, in order — (requests/s, proxy CPU µs/request) — when it ran in
    /// rounds ([`median_rounds`]); this `Measured` is the median one.
    pub rounds: Vec<(f64, Option<f64>)>,
}

impl Measured {
    fn new(label: &str) -> Measured {
        Measured {
            label: label.to_owned(),
            samples: Vec::new(),
            errors: 0,
            first_error: None,
            elapsed: Duration::ZERO,
            sent: 0,
            proxy_cpu: None,
            rounds: Vec::new(),
        }
    }

    fn record(&mut self, outcome: Result<Sample, String>) {
        match outcome {
            Ok(sample) => self.samples.push(sample),
            Err(message) => {
                self.errors += 1;
                self.first_error.get_or_insert(message);
            }
        }
    }

    /// A lane measured elsewhere (the Python client), from its samples.
    pub fn from_samples(label: &str, samples: Vec<Sample>) -> Measured {
        let mut measured = Measured::new(label);
        measured.sent = samples.len();
        measured.samples = samples;
        measured
    }

    pub fn requests_per_second(&self) -> f64 {
        self.samples.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The proxy's CPU time per request sent, in µs.
    pub fn proxy_cpu_per_request_us(&self) -> Option<f64> {
        let cpu = self.proxy_cpu?;
        (self.sent > 0).then(|| cpu.as_secs_f64() * 1e6 / self.sent as f64)
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .pool_max_idle_per_host(256)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("HTTP client")
}

/// Concurrency 1: `warmup` unmeasured rounds, then round-robin until every lane has its cap or
/// `budget` is spent.
pub async fn sequential(client: &reqwest::Client, lanes: &[Lane], warmup: usize, budget: Duration) -> Vec<Measured> {
    for _ in 0..warmup {
        for lane in lanes {
            let _ = send(client, lane).await;
        }
    }
    let mut measured: Vec<Measured> = lanes.iter().map(|lane| Measured::new(&lane.label)).collect();
    let started = Instant::now();
    loop {
        let mut sent = false;
        for (lane, into) in lanes.iter().zip(measured.iter_mut()) {
            if into.samples.len() + into.errors < lane.cap {
                into.record(send(client, lane).await);
                sent = true;
            }
        }
        if !sent || started.elapsed() > budget {
            break;
        }
    }
    for into in &mut measured {
        into.elapsed = started.elapsed();
    }
    measured
}

/// Each lane's median round by requests/s (a lane missing from later rounds keeps its one),
/// in the order of the first round, with every round's figures in [`Measured::rounds`].
pub fn median_rounds(rounds: Vec<Vec<(Kind, Measured)>>) -> Vec<(Kind, Measured)> {
    let mut lanes: Vec<(Kind, Vec<Measured>)> = Vec::new();
    for (kind, measured) in rounds.into_iter().flatten() {
        match lanes
            .iter_mut()
            .find(|(of, runs)| *of == kind && runs[0].label == measured.label)
        {
            Some((_, runs)) => runs.push(measured),
            None => lanes.push((kind, vec![measured])),
        }
    }
    lanes
        .into_iter()
        .map(|(kind, runs)| {
            let figures: Vec<(f64, Option<f64>)> = runs
                .iter()
                .map(|run| (run.requests_per_second(), run.proxy_cpu_per_request_us()))
                .collect();
            let mut runs = runs;
            runs.sort_by(|a, b| a.requests_per_second().total_cmp(&b.requests_per_second()));
            let mut median = runs.swap_remove(runs.len() / 2);
            median.rounds = figures;
            (kind, median)
        })
        .collect()
}

/// Concurrency `tasks`: back to back until `lane.cap` requests or `budget`.
pub async fn concurrent(lane: &Lane, tasks: usize, warmup: usize, budget: Duration) -> Measured {
    let lane = Arc::new(lane.clone());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let lane = lane.clone();
        let next = next.clone();
        handles.push(tokio::spawn(async move {
            // Each task its own client, hence its own connection, as separate users would have.
            let client = client();
            for _ in 0..warmup {
                let _ = send(&client, &lane).await;
            }
            let mut mine = Measured::new(&lane.label);
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < lane.cap && started.elapsed() < budget {
                mine.record(send(&client, &lane).await);
            }
            mine
        }));
    }
    let mut measured = Measured::new(&lane.label);
    measured.sent = tasks * warmup;
    for handle in handles {
        let mine = handle.await.expect("load task");
        measured.sent += mine.samples.len() + mine.errors;
        measured.samples.extend(mine.samples);
        measured.errors += mine.errors;
        if measured.first_error.is_none() {
            measured.first_error = mine.first_error;
        }
    }
    measured.elapsed = started.elapsed();
    measured
}

pub const CHAT_REQUEST: &str = r#"{"model":"smollm2-135m-instruct","messages":[{"role":"user","content":"What is the capital of France? Answer in one word."}],"max_tokens":8}"#;
const STREAM_REQUEST: &str = r#"{"model":"smollm2-135m-instruct","messages":[{"role":"user","content":"What is the capital of France? Answer in one word."}],"max_tokens":8,"stream":true}"#;
const MESSAGES_REQUEST: &str = r#"{"model":"smollm2-135m-instruct","max_tokens":8,"messages":[{"role":"user","content":"What is the capital of France? Answer in one word."}]}"#;

/// Sends one request, reads the whole answer and checks it.
pub async fn send(client: &reqwest::Client, lane: &Lane) -> Result<Sample, String> {
    debug_assert!(CHAT_REQUEST.contains(MODEL));
    let mut request = match lane.kind {
        Kind::Chat => client
            .post(format!("{}/v1/chat/completions", lane.root))
            .header(CONTENT_TYPE, "application/json")
            .body(CHAT_REQUEST),
        Kind::Stream => client
            .post(format!("{}/v1/chat/completions", lane.root))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/event-stream")
            .body(STREAM_REQUEST),
        Kind::Messages => client
            .post(format!("{}/v1/messages", lane.root))
            .header(CONTENT_TYPE, "application/json")
            .header("anthropic-version", "2023-06-01")
            .body(MESSAGES_REQUEST),
    };
    if let Some(token) = &lane.token {
        request = request.bearer_auth(token);
    }
    let started = Instant::now();
    let mut response = request.send().await.map_err(|err| format!("send: {err}"))?;
    let mut first_byte = None;
    let mut body = Vec::with_capacity(512);
    while let Some(chunk) = response.chunk().await.map_err(|err| format!("body: {err}"))? {
        first_byte.get_or_insert_with(|| started.elapsed());
        body.extend_from_slice(&chunk);
    }
    let total = started.elapsed();
    let text = String::from_utf8_lossy(&body);
    if response.status() != reqwest::StatusCode::OK || !text.contains(ANSWER_TEXT) {
        let shown: String = text.chars().take(200).collect();
        return Err(format!("{} {}: {shown}", lane.label, response.status()));
    }
    if lane.kind == Kind::Stream && !text.contains("[DONE]") {
        return Err(format!("{}: the stream did not end with [DONE]", lane.label));
    }
    Ok(Sample {
        first_byte: first_byte.unwrap_or(total),
        total,
    })
}

/// Order statistics in µs (nearest rank).
pub struct Stats {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
}

impl Stats {
    pub fn of(samples: &[Sample], pick: fn(&Sample) -> Duration) -> Stats {
        let mut times: Vec<Duration> = samples.iter().map(pick).collect();
        times.sort_unstable();
        Stats {
            count: times.len(),
            p50: quantile(&times, 0.5),
            p99: quantile(&times, 0.99),
        }
    }
}

fn quantile(sorted: &[Duration], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e6
}
