//! Prints what was measured as Markdown tables (pasted as they are into BENCHMARKS.md), with
//! each lane's added latency against the direct baseline of the same request kind and the
//! ratio to the peer's, all from the same run.

use std::path::Path;
use std::time::Duration;

use crate::Settings;
use crate::load::{Kind, Measured, Sample, Stats};
use crate::proxies::Proxy;
use crate::whole::{RunStages, ScanResult, Timed, median};

const PEER: &str = "LiteLLM";

pub fn header(settings: &Settings, harness: &Path) {
    let cores = std::thread::available_parallelism().map_or(0, |cores| cores.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let build = if cfg!(debug_assertions) {
        "debug (not representative)"
    } else {
        "optimized"
    };
    println!("## side_by_side ({})", if settings.smoke { "smoke run" } else { "run" });
    println!();
    println!(
        "- machine: {cpu}, {cores} cores; load average at start: {}",
        load.trim()
    );
    println!("- build: {build}; harness: {}", harness.display());
    println!(
        "- concurrency 1: {} requests per lane ({} for {PEER}), round-robin over lanes, keep-alive; \
         concurrency 64: up to {} per lane ({} for {PEER}); every answer checked",
        settings.requests,
        settings.peer_requests,
        settings.concurrent_requests,
        settings.concurrent_requests / 10
    );
    println!();
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Chat => "chat completion",
        Kind::Stream => "streamed chat",
        Kind::Messages => "Anthropic messages",
    }
}

/// Which time of a sample a row shows.
type Pick = fn(&Sample) -> Duration;

fn total(sample: &Sample) -> Duration {
    sample.total
}
fn first_byte(sample: &Sample) -> Duration {
    sample.first_byte
}

/// The peer's added p50 for `kind`, to put each of ours against it.
fn peer_added(lanes: &[Measured], pick: Pick) -> Option<f64> {
    let direct = lanes.iter().find(|lane| lane.label == "direct")?;
    let peer = lanes.iter().find(|lane| lane.label == PEER)?;
    let peer = Stats::of(&peer.samples, pick);
    (peer.count > 0).then(|| peer.p50 - Stats::of(&direct.samples, pick).p50)
}

pub fn sequential(title: &str, groups: &[(Kind, Vec<Measured>)]) {
    println!("### {title}");
    println!();
    println!(
        "| request | lane | n | err | p50 | p99 | added p50 | added p99 | ×direct p50 | {PEER} added ÷ this added |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (kind, lanes) in groups {
        let picks: &[(&str, Pick)] = if *kind == Kind::Stream {
            &[("first byte", first_byte), ("total", total)]
        } else {
            &[("", total)]
        };
        for (what, pick) in picks {
            let Some(direct) = lanes.iter().find(|lane| lane.label == "direct") else {
                continue;
            };
            let base = Stats::of(&direct.samples, *pick);
            let peer = peer_added(lanes, *pick);
            for lane in lanes {
                let stats = Stats::of(&lane.samples, *pick);
                let added = stats.p50 - base.p50;
                let versus = match (lane.label.as_str(), peer) {
                    ("direct", _) | (PEER, _) | (_, None) => String::new(),
                    (_, Some(peer)) => format!("{:.0}×", peer / added.max(1.0)),
                };
                let label = if what.is_empty() {
                    kind_name(*kind).to_owned()
                } else {
                    format!("{}: {what}", kind_name(*kind))
                };
                println!(
                    "| {label} | {} | {} | {} | {:.0} | {:.0} | {} | {} | {:.2} | {versus} |",
                    lane.label,
                    stats.count,
                    lane.errors,
                    stats.p50,
                    stats.p99,
                    signed(added, lane),
                    signed(stats.p99 - base.p99, lane),
                    stats.p50 / base.p50,
                );
            }
        }
    }
    println!();
    errors(groups.iter().flat_map(|(_, lanes)| lanes.iter()));
}

fn signed(value: f64, lane: &Measured) -> String {
    if lane.label == "direct" {
        "—".to_owned()
    } else {
        format!("{value:+.0}")
    }
}

fn errors<'a>(lanes: impl Iterator<Item = &'a Measured>) {
    for lane in lanes {
        if let Some(first) = &lane.first_error {
            println!("- {} errors on {}; first: {first}", lane.errors, lane.label);
        }
    }
}

pub fn concurrent(lanes: &[(Kind, Measured)], tasks: usize, rounds: usize) {
    println!(
        "### Concurrency {tasks} (µs; each lane alone; added = lane − direct of the same kind; median of {rounds} interleaved round(s) by req/s)"
    );
    println!();
    println!(
        "| request | lane | n | err | req/s | p50 | p99 | added p50 | added p99 | ×direct req/s | proxy CPU µs/request |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (kind, lane) in lanes {
        let stats = Stats::of(&lane.samples, total);
        let direct = lanes
            .iter()
            .find(|(of, candidate)| of == kind && candidate.label == "direct")
            .map(|(_, direct)| (Stats::of(&direct.samples, total), direct.requests_per_second()));
        let (added50, added99, ratio) = match &direct {
            Some((base, rps)) if lane.label != "direct" => (
                format!("{:+.0}", stats.p50 - base.p50),
                format!("{:+.0}", stats.p99 - base.p99),
                format!("{:.2}", lane.requests_per_second() / rps),
            ),
            _ => ("—".to_owned(), "—".to_owned(), "—".to_owned()),
        };
        let cpu = lane
            .proxy_cpu_per_request_us()
            .map_or_else(|| "—".to_owned(), |us| format!("{us:.0}"));
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {added50} | {added99} | {ratio} | {cpu} |",
            kind_name(*kind),
            lane.label,
            stats.count,
            lane.errors,
            lane.requests_per_second(),
            stats.p50,
            stats.p99,
        );
    }
    println!();
    if rounds > 1 {
        println!("Every round, in order (req/s / proxy CPU µs per request; the median round is the table's):");
        println!();
        println!("| request | lane | rounds |");
        println!("|---|---|---|");
        for (kind, lane) in lanes {
            let figures: Vec<String> = lane
                .rounds
                .iter()
                .map(|(rps, cpu)| match cpu {
                    Some(cpu) => format!("{rps:.0} / {cpu:.0}"),
                    None => format!("{rps:.0}"),
                })
                .collect();
            println!("| {} | {} | {} |", kind_name(*kind), lane.label, figures.join(" · "));
        }
        println!();
    }
    errors(lanes.iter().map(|(_, lane)| lane));
}

pub fn proxies(running: &[&Proxy]) {
    println!("### Proxies");
    println!();
    println!("| proxy | started in | peak RSS (MiB, with children) |");
    println!("|---|---:|---:|");
    for proxy in running {
        let rss = proxy
            .peak_rss_kib()
            .map_or_else(|| "?".to_owned(), |kib| format!("{:.1}", kib as f64 / 1024.0));
        println!(
            "| {} | {:.0} ms | {rss} |",
            proxy.name,
            proxy.started_in.as_secs_f64() * 1e3
        );
    }
    println!();
}

fn timed_row(timed: &Timed) {
    match &timed.failure {
        Some(failure) => println!("| {} | failed: {failure} | | |", timed.label),
        None => println!(
            "| {} | {} | {:.1} | {:.1} |",
            timed.label,
            timed.times.len(),
            timed.median_ms(),
            timed.min_ms()
        ),
    }
}

pub fn check(results: &[Timed]) {
    println!("### Whole processes (ms, wall time from spawn to exit)");
    println!();
    println!("| command | runs | median | min |");
    println!("|---|---:|---:|---:|");
    for timed in results {
        timed_row(timed);
    }
}

pub fn runs(plain: &Result<Vec<RunStages>, String>, extra: Option<(String, &Result<Vec<RunStages>, String>)>) {
    let mut series = vec![("run --simulated (reference Case)".to_owned(), plain)];
    if let Some((flags, runs)) = extra {
        series.push((format!("run --simulated {flags}"), runs));
    }
    for (label, runs) in &series {
        match runs {
            Ok(runs) => {
                let walls: Vec<f64> = runs.iter().map(|run| run.wall.as_secs_f64() * 1e3).collect();
                let min = walls.iter().copied().fold(f64::INFINITY, f64::min);
                println!("| {label} | {} | {:.1} | {min:.1} |", runs.len(), median(walls));
            }
            Err(err) => println!("| {label} | failed: {} | | |", err.lines().next().unwrap_or("")),
        }
    }
    println!();
    for (label, runs) in &series {
        let Ok(runs) = runs else { continue };
        let Some(first) = runs.first() else { continue };
        println!("`{label}` by stage (median ms since the previous trace event; the trace counts whole ms):");
        println!();
        println!("| stage (ends with event) | median ms |");
        println!("|---|---:|");
        for (index, (event, _)) in first.stages.iter().enumerate() {
            let values: Vec<f64> = runs
                .iter()
                .filter_map(|run| {
                    run.stages
                        .get(index)
                        .filter(|(name, _)| name == event)
                        .map(|(_, ms)| *ms)
                })
                .collect();
            println!("| → {event} | {:.1} |", median(values));
        }
        let outside: Vec<f64> = runs.iter().map(|run| run.outside_trace_ms).collect();
        println!("| process start/exit outside the trace | {:.1} |", median(outside));
        println!();
    }
}

pub fn scan(result: &ScanResult) {
    let mib = result.bytes as f64 / (1u64 << 20) as f64;
    println!(
        "### Secret scan ({mib:.0} MiB in {} files, page cache warm; {} search strings)",
        result.files, result.patterns
    );
    println!();
    println!("| tool | runs | median s | MiB/s | ×grep |");
    println!("|---|---:|---:|---:|---:|");
    let grep_rate = mib / (result.grep.median_ms() / 1e3);
    for timed in [&result.harness, &result.grep, &result.grep_case_sensitive] {
        if let Some(failure) = &timed.failure {
            println!("| {} | failed: {failure} | | | |", timed.label);
            continue;
        }
        let rate = mib / (timed.median_ms() / 1e3);
        println!(
            "| {} | {} | {:.2} | {:.0} | {:.2} |",
            timed.label,
            timed.times.len(),
            timed.median_ms() / 1e3,
            rate,
            rate / grep_rate
        );
    }
    println!();
}
