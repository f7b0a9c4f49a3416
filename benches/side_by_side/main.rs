//! Side by side, in one run: the fast upstream directly, through `case-harness adapter`
//! (translation, and pass-through when the binary has it), through two floors (`floor.rs`) and
//! through LiteLLM's proxy — added latency p50/p99 at concurrency 1 and 64, requests per second,
//! each proxy's CPU per request, time to first streamed byte, peak RSS — then `check` and a whole
//! `run` (stage by stage) against the same upstream, and the secret scanner against `grep -F -f`
//! on the same generated files.
//!
//! The chat lanes at concurrency 1 are measured twice: from this binary's Rust client and from
//! a Python `http.client` keep-alive client (`python.rs`), as SDK users see a proxy.
//!
//! Driven by `scripts/bench.sh`, which builds, makes LiteLLM's venv and passes its path. It
//! prints Markdown tables, and last issue 26's targets as ratios of this run marked ✅/❌
//! (`targets.rs`); a missed target fails nothing: the machines are shared, so the ratios
//! measured in the same run are the figure. Only a smoke run fails, and only when a lane's
//! requests fail (CI runs it so).
//!
//! Everything listens on 127.0.0.1 and is started here; every phase is bounded in requests and
//! time, and every process it starts is stopped when it ends.
//!
//! Environment (defaults; `-- --test` or `cargo test --benches` is a small smoke run):
//! `BENCH_REQUESTS` (2000 per fast lane at concurrency 1), `BENCH_PEER_REQUESTS` (300 for
//! LiteLLM), `BENCH_CONCURRENT_REQUESTS` (20000 per fast lane at concurrency 64; a tenth for
//! LiteLLM), `BENCH_SCAN_MIB` (1024), `BENCH_REPEATS` (runs of `check`/`run`; 20),
//! `BENCH_LITELLM` (its `litellm` executable) or `BENCH_LITELLM_UNAVAILABLE` (why not),
//! `BENCH_RUN_EXTRA` (arguments of a second series of `run`s: `--allow-unconfined` shows what
//! confinement costs).

mod floor;
mod load;
mod proxies;
mod python;
mod report;
mod targets;
mod upstream;
mod whole;

use std::path::PathBuf;
use std::time::Duration;

use load::{Kind, Lane};

/// Longest any group of lanes measures at concurrency 1.
const SEQUENTIAL_BUDGET: Duration = Duration::from_secs(60);
/// Longest any lane measures at concurrency 64.
const CONCURRENT_BUDGET: Duration = Duration::from_secs(15);
/// Concurrency of the loaded phase.
const CONCURRENCY: usize = 64;

pub struct Settings {
    pub smoke: bool,
    pub requests: usize,
    pub peer_requests: usize,
    pub concurrent_requests: usize,
    pub scan_mib: u64,
    pub repeats: usize,
    /// Rounds of the concurrency-64 lanes, interleaved; each lane reports its median round.
    pub concurrent_rounds: usize,
}

impl Settings {
    fn from_env_and_args() -> Settings {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let smoke = !args.iter().any(|arg| arg == "--bench") || args.iter().any(|arg| arg == "--test");
        let pick = |name: &str, full: usize, small: usize| env_count(name).unwrap_or(if smoke { small } else { full });
        Settings {
            smoke,
            requests: pick("BENCH_REQUESTS", 2000, 20).max(1),
            peer_requests: pick("BENCH_PEER_REQUESTS", 300, 10).max(1),
            concurrent_requests: pick("BENCH_CONCURRENT_REQUESTS", 20_000, 256).max(CONCURRENCY),
            scan_mib: pick("BENCH_SCAN_MIB", 1024, 4).max(1) as u64,
            repeats: pick("BENCH_REPEATS", 20, 2).max(1),
            concurrent_rounds: pick("BENCH_CONCURRENT_ROUNDS", 5, 1).max(1),
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

fn main() {
    if let Ok(upstream_root) = std::env::var(floor::FLOOR_UPSTREAM_ENV) {
        floor::serve(upstream_root);
    }
    let settings = Settings::from_env_and_args();
    let harness = PathBuf::from(env!("CARGO_BIN_EXE_case-harness"));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::Builder::new()
        .prefix("case-harness-bench-")
        .tempdir()
        .expect("temporary folder");
    report::header(&settings, &harness);

    let upstream = upstream::Upstream::start();
    let upstream_v1 = upstream.base_v1();
    let mut notes: Vec<String> = Vec::new();

    // Translation said explicitly when the adapter can pass through (its `auto` would ask the
    // upstream; this one has no count_tokens and would be translated anyway).
    let translate: Vec<String> = proxies::pass_through_flag(&harness)
        .map(|(flag, _)| vec![flag, "openai".to_owned()])
        .unwrap_or_default();
    let adapter =
        proxies::start_adapter("case-harness adapter", &harness, &upstream_v1, &translate).expect("the adapter starts");
    let pass_through = match proxies::pass_through_flag(&harness) {
        Some((flag, value)) => {
            match proxies::start_adapter(
                "case-harness adapter (pass-through)",
                &harness,
                &upstream_v1,
                &[flag, value],
            ) {
                Ok(proxy) => Some(proxy),
                Err(err) => {
                    notes.push(format!("pass-through: not measured: {err}"));
                    None
                }
            }
        }
        None => {
            notes.push("pass-through: not measured: this `case-harness adapter` has no `--upstream-api`".to_owned());
            None
        }
    };
    let floors: Vec<proxies::Proxy> = [floor::Floor::SameStack, floor::Floor::Working, floor::Floor::ByteRelay]
        .into_iter()
        .filter_map(
            |which| match floor::start(which, &format!("http://{}", upstream.addr)) {
                Ok(proxy) => Some(proxy),
                Err(err) => {
                    notes.push(format!("floor: not measured: {err}"));
                    None
                }
            },
        )
        .collect();
    let litellm = match (
        std::env::var_os("BENCH_LITELLM"),
        std::env::var("BENCH_LITELLM_UNAVAILABLE"),
    ) {
        (Some(path), _) => match proxies::start_litellm(&PathBuf::from(path), &upstream_v1, work.path()) {
            Ok(proxy) => Some(proxy),
            Err(err) => {
                notes.push(format!("LiteLLM: not measured: {err}"));
                None
            }
        },
        (None, Ok(reason)) => {
            notes.push(format!("LiteLLM: not measured: {reason}"));
            None
        }
        (None, Err(_)) => {
            notes.push("LiteLLM: not measured: BENCH_LITELLM not set (scripts/bench.sh sets it)".to_owned());
            None
        }
    };

    let lane = |label: &str, root: &str, token: Option<&str>, kind: Kind, cap: usize| Lane {
        label: label.to_owned(),
        root: root.to_owned(),
        token: token.map(str::to_owned),
        kind,
        cap,
    };
    let direct_root = format!("http://{}", upstream.addr);
    let (n, peer) = (settings.requests, settings.peer_requests);
    let mut groups: Vec<(Kind, Vec<Lane>)> = Vec::new();
    for kind in [Kind::Chat, Kind::Messages, Kind::Stream] {
        let mut lanes = vec![
            lane("direct", &direct_root, None, kind, n),
            lane(&adapter.name, &adapter.root, Some(&adapter.token), kind, n),
        ];
        for proxy in &floors {
            // The working floor reads an answer whole: its first streamed byte would be its last.
            if kind == Kind::Stream && proxy.name == floor::Floor::Working.label() {
                continue;
            }
            lanes.push(lane(&proxy.name, &proxy.root, None, kind, n));
        }
        if let (Kind::Messages, Some(proxy)) = (kind, &pass_through) {
            lanes.push(lane(&proxy.name, &proxy.root, Some(&proxy.token), kind, n));
        }
        if let (Kind::Chat | Kind::Stream, Some(proxy)) = (kind, &litellm) {
            lanes.push(lane(&proxy.name, &proxy.root, Some(&proxy.token), kind, peer));
        }
        groups.push((kind, lanes));
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let warmup = if settings.smoke { 3 } else { 100 };
    let sequential: Vec<(Kind, Vec<load::Measured>)> = runtime.block_on(async {
        let client = load::client();
        let mut all = Vec::new();
        for (kind, lanes) in &groups {
            all.push((*kind, load::sequential(&client, lanes, warmup, SEQUENTIAL_BUDGET).await));
        }
        all
    });
    report::sequential(
        "Concurrency 1, Rust client (µs; added = lane − direct, same run)",
        &sequential,
    );
    // The same chat lanes from a Python keep-alive client, as SDK users have.
    let python_lanes: Vec<Lane> = groups
        .iter()
        .filter(|(kind, _)| *kind == Kind::Chat)
        .flat_map(|(_, lanes)| lanes.iter().cloned())
        .collect();
    let python = match python::sequential(&python_lanes, warmup, SEQUENTIAL_BUDGET) {
        Ok(lanes) => {
            let groups = vec![(Kind::Chat, lanes)];
            report::sequential(
                "Concurrency 1, Python client (`http.client`, keep-alive; µs; added = lane − direct)",
                &groups,
            );
            groups.into_iter().next().map(|(_, lanes)| lanes)
        }
        Err(err) => {
            notes.push(format!("Python client: not measured: {err}"));
            None
        }
    };

    let mut concurrent_lanes = Vec::new();
    for (kind, lanes) in &groups {
        if *kind == Kind::Stream {
            continue;
        }
        for lane in lanes {
            let mut lane = lane.clone();
            lane.cap = if litellm.as_ref().is_some_and(|proxy| proxy.name == lane.label) {
                settings.concurrent_requests / 10
            } else {
                settings.concurrent_requests
            };
            concurrent_lanes.push((*kind, lane));
        }
    }
    let running: Vec<&proxies::Proxy> = [Some(&adapter), pass_through.as_ref(), litellm.as_ref()]
        .into_iter()
        .flatten()
        .chain(&floors)
        .collect();
    // Rounds of every lane in turn, so that a drift of the machine's speed lands on all lanes
    // alike (as at concurrency 1); each lane reports its median round by requests/s. LiteLLM,
    // at a tenth of the requests and still the slowest lane by far, runs in the first round only.
    let rounds: Vec<Vec<(Kind, load::Measured)>> = runtime.block_on(async {
        let mut rounds = Vec::new();
        for round in 0..settings.concurrent_rounds {
            let mut measured_round = Vec::new();
            for (kind, lane) in &concurrent_lanes {
                let proxy = running.iter().find(|proxy| proxy.root == lane.root);
                if round > 0 && litellm.as_ref().is_some_and(|litellm| litellm.root == lane.root) {
                    continue;
                }
                // Each lane runs alone, so the CPU its proxy used meanwhile is the lane's cost.
                let before = proxy.and_then(|proxy| proxy.cpu_time());
                let mut measured = load::concurrent(lane, CONCURRENCY, 2, CONCURRENT_BUDGET).await;
                let after = proxy.and_then(|proxy| proxy.cpu_time());
                measured.proxy_cpu = before.zip(after).map(|(before, after)| after.saturating_sub(before));
                measured_round.push((*kind, measured));
            }
            rounds.push(measured_round);
        }
        rounds
    });
    let concurrent = load::median_rounds(rounds);
    report::concurrent(&concurrent, CONCURRENCY, settings.concurrent_rounds);
    // A smoke run (`cargo test --bench side_by_side`, as CI runs it) is a check that every lane
    // answers as it should; a full run reports errors in its tables and goes on.
    let failed: std::collections::BTreeSet<&str> = sequential
        .iter()
        .flat_map(|(_, lanes)| lanes)
        .chain(concurrent.iter().map(|(_, lane)| lane))
        .chain(python.iter().flatten())
        .filter(|lane| lane.errors > 0)
        .map(|lane| lane.label.as_str())
        .collect();
    report::proxies(&running);
    let rss: Vec<(String, f64)> = running
        .iter()
        .filter_map(|proxy| Some((proxy.name.clone(), proxy.peak_rss_kib()? as f64 / 1024.0)))
        .collect();
    drop(litellm);
    drop(floors);
    drop(pass_through);
    drop(adapter);
    // After the drops: `exit` runs no destructor, and the proxies must not outlive the bench.
    if settings.smoke && !failed.is_empty() {
        eprintln!("side_by_side smoke run: requests failed on {failed:?} (see the tables above)");
        std::process::exit(1);
    }

    let env = whole::HarnessEnv {
        harness: harness.clone(),
        root: root.clone(),
        upstream_v1: upstream_v1.clone(),
    };
    report::check(&whole::check(&env, settings.repeats));
    let runs = whole::runs(&env, work.path(), settings.repeats.min(10), &[]);
    let extra: Vec<String> = std::env::var("BENCH_RUN_EXTRA")
        .map(|extra| extra.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let extra_runs = (!extra.is_empty()).then(|| whole::runs(&env, work.path(), settings.repeats.min(10), &extra));
    report::runs(&runs, extra_runs.as_ref().map(|runs| (extra.join(" "), runs)));
    let unconfined_runs = extra_runs
        .as_ref()
        .filter(|_| extra.iter().any(|arg| arg == "--allow-unconfined"));
    upstream.stop();

    let scan_dir = work.path().join("scan-set");
    let scan = match whole::generate_scan_set(&scan_dir, settings.scan_mib) {
        Ok((bytes, files)) => {
            let scan = whole::scan(&env, &scan_dir, work.path(), bytes, files, 3);
            report::scan(&scan);
            Some(scan)
        }
        Err(err) => {
            println!("scan: not measured: cannot write the file set: {err}\n");
            None
        }
    };
    targets::report(&targets::Inputs {
        sequential: &sequential,
        python: python.as_deref(),
        concurrent: &concurrent,
        rss: &rss,
        scan: scan.as_ref(),
        runs: Some(&runs),
        unconfined_runs,
    });
    for note in notes {
        println!("- {note}");
    }
}
