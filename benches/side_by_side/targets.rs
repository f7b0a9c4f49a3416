//! Issue 26's targets, each a ratio (or a bound) taken from this one run and printed ✅/❌.
//! Nothing fails on a missed target: the bench reports, the reader judges (the machines are
//! shared; BENCHMARKS.md says how loaded each run was).

use crate::load::{Kind, Measured, Stats};
use crate::whole::{RunStages, ScanResult, median};

pub const ADAPTER: &str = "case-harness adapter";
pub const PASS_THROUGH: &str = "case-harness adapter (pass-through)";
pub const BARE_PROXY: &str = "floor: bare proxy, same stack";
pub const BYTE_RELAY: &str = "floor: byte relay, no HTTP";
pub const WORKING_FLOOR: &str = "floor: same stack + JSON parse and a ledger line";
pub const PEER: &str = "LiteLLM";

/// Everything the targets are computed from (each part may be missing: "not measured").
pub struct Inputs<'a> {
    pub sequential: &'a [(Kind, Vec<Measured>)],
    pub python: Option<&'a [Measured]>,
    pub concurrent: &'a [(Kind, Measured)],
    /// Peak RSS in MiB of each proxy, by name (read before they were stopped).
    pub rss: &'a [(String, f64)],
    pub scan: Option<&'a ScanResult>,
    pub runs: Option<&'a Result<Vec<RunStages>, String>>,
    /// The `--allow-unconfined` series, when run.
    pub unconfined_runs: Option<&'a Result<Vec<RunStages>, String>>,
}

/// One target row.
struct Row {
    target: &'static str,
    measured: String,
    met: Option<bool>,
}

/// Added p50 (µs) of `label` over `direct` among `lanes`.
fn added_p50(lanes: &[Measured], label: &str) -> Option<f64> {
    let p50 = |label: &str| {
        let lane = lanes.iter().find(|lane| lane.label == label)?;
        let stats = Stats::of(&lane.samples, |sample| sample.total);
        (stats.count > 0).then_some(stats.p50)
    };
    Some(p50(label)? - p50("direct")?)
}

fn chat_lanes(sequential: &[(Kind, Vec<Measured>)]) -> &[Measured] {
    sequential
        .iter()
        .find(|(kind, _)| *kind == Kind::Chat)
        .map_or(&[], |(_, lanes)| lanes.as_slice())
}

fn concurrent_chat<'a>(concurrent: &'a [(Kind, Measured)], label: &str) -> Option<&'a Measured> {
    concurrent
        .iter()
        .find(|(kind, lane)| *kind == Kind::Chat && lane.label == label)
        .map(|(_, lane)| lane)
}

fn run_median_ms(runs: Option<&Result<Vec<RunStages>, String>>) -> Option<f64> {
    match runs? {
        Ok(runs) if !runs.is_empty() => Some(median(runs.iter().map(|run| run.wall.as_secs_f64() * 1e3).collect())),
        _ => None,
    }
}

fn not_measured(target: &'static str, why: &str) -> Row {
    Row {
        target,
        measured: format!("not measured ({why})"),
        met: None,
    }
}

fn rows(inputs: &Inputs) -> Vec<Row> {
    let mut rows = Vec::new();
    let chat = chat_lanes(inputs.sequential);

    let python = inputs.python.unwrap_or(&[]);
    for (target, lanes, missing) in [
        (
            "adapter added p50 ≤ 5× the byte relay's (chat, Rust client)",
            chat,
            "a lane is missing",
        ),
        (
            "adapter added p50 ≤ 5× the byte relay's (chat, Python client)",
            python,
            "no Python client lanes",
        ),
    ] {
        rows.push(match (added_p50(lanes, ADAPTER), added_p50(lanes, BYTE_RELAY)) {
            (Some(adapter), Some(relay)) => Row {
                target,
                measured: format!(
                    "{adapter:+.0} µs vs relay {relay:+.0} µs: {:.1}×",
                    adapter / relay.max(1.0)
                ),
                met: Some(adapter <= 5.0 * relay.max(1.0)),
            },
            _ => not_measured(target, missing),
        });
    }

    let target = "adapter added p50 ≤ 100 µs (chat, Python client)";
    rows.push(match added_p50(python, ADAPTER) {
        Some(adapter) => Row {
            target,
            measured: format!("{adapter:+.0} µs"),
            met: Some(adapter <= 100.0),
        },
        None => not_measured(target, "no Python client lanes"),
    });

    let target = "adapter CPU per request ≤ 1.3× the bare proxy's (chat, c=64)";
    let cpu = |label| concurrent_chat(inputs.concurrent, label).and_then(Measured::proxy_cpu_per_request_us);
    rows.push(match (cpu(ADAPTER), cpu(BARE_PROXY)) {
        (Some(adapter), Some(floor)) => Row {
            target,
            measured: format!("{adapter:.0} vs {floor:.0} µs: {:.2}×", adapter / floor.max(1e-9)),
            met: Some(adapter <= 1.3 * floor),
        },
        _ => not_measured(target, "no CPU figure from /proc"),
    });

    let target = "adapter throughput ≥ 90% of the bare proxy's (chat, c=64)";
    let rps = |label| concurrent_chat(inputs.concurrent, label).map(Measured::requests_per_second);
    rows.push(match (rps(ADAPTER), rps(BARE_PROXY)) {
        (Some(adapter), Some(floor)) if floor > 0.0 => Row {
            target,
            measured: format!("{adapter:.0} vs {floor:.0} req/s: {:.0}%", 100.0 * adapter / floor),
            met: Some(adapter >= 0.9 * floor),
        },
        _ => not_measured(target, "a lane is missing"),
    });

    for (target, lanes, client) in [
        (
            "≥ 100× less added latency than LiteLLM (chat, Rust client)",
            chat,
            "Rust",
        ),
        (
            "≥ 100× less added latency than LiteLLM (chat, Python client)",
            python,
            "Python",
        ),
    ] {
        rows.push(match (added_p50(lanes, ADAPTER), added_p50(lanes, PEER)) {
            (Some(adapter), Some(peer)) => {
                let ratio = peer / adapter.max(1.0);
                Row {
                    target,
                    measured: format!("LiteLLM {:+.1} ms ÷ adapter {adapter:+.0} µs: {ratio:.0}×", peer / 1e3),
                    met: Some(ratio >= 100.0),
                }
            }
            _ => not_measured(target, &format!("no LiteLLM lane with the {client} client")),
        });
    }

    let target = "peak RSS ≤ 20 MiB (adapter, each mode)";
    let rss: Vec<&(String, f64)> = inputs
        .rss
        .iter()
        .filter(|(name, _)| name == ADAPTER || name == PASS_THROUGH)
        .collect();
    rows.push(if rss.is_empty() {
        not_measured(target, "no VmHWM")
    } else {
        Row {
            target,
            measured: rss
                .iter()
                .map(|(name, mib)| format!("{name} {mib:.1} MiB"))
                .collect::<Vec<_>>()
                .join(", "),
            met: Some(rss.iter().all(|(_, mib)| *mib <= 20.0)),
        }
    });

    let target = "scan ≥ 1 GiB/s";
    rows.push(match inputs.scan.filter(|scan| scan.harness.failure.is_none()) {
        Some(scan) => {
            let rate = scan.bytes as f64 / (1u64 << 20) as f64 / (scan.harness.median_ms() / 1e3);
            Row {
                target,
                measured: format!("{rate:.0} MiB/s"),
                met: Some(rate >= 1024.0),
            }
        }
        None => not_measured(target, "the scan did not run"),
    });

    let target = "confinement ≤ 20 ms per run (release; run − run --allow-unconfined)";
    rows.push(if cfg!(debug_assertions) {
        not_measured(target, "debug build")
    } else {
        match (run_median_ms(inputs.runs), run_median_ms(inputs.unconfined_runs)) {
            (Some(confined), Some(unconfined)) => Row {
                target,
                measured: format!("{confined:.1} − {unconfined:.1} ms: {:+.1} ms", confined - unconfined),
                met: Some(confined - unconfined <= 20.0),
            },
            _ => not_measured(target, "no --allow-unconfined series"),
        }
    });
    rows
}

/// Prints the targets table.
pub fn report(inputs: &Inputs) {
    println!("### Targets (issue 26), ratios from this run");
    println!();
    println!("| target | measured | met |");
    println!("|---|---|:---:|");
    for row in rows(inputs) {
        // A debug build (the CI smoke run) measures the set-up, not the code's speed.
        let met = match row.met {
            Some(_) if cfg!(debug_assertions) => "— (debug build)",
            Some(true) => "✅",
            Some(false) => "❌",
            None => "—",
        };
        println!("| {} | {} | {met} |", row.target, row.measured);
    }
    println!();
    // Not a target: the same two ratios against the floor that also parses and records, the
    // least an admitting proxy does (floor.rs), so that what the adapter's checks add is seen.
    let chat = |label| concurrent_chat(inputs.concurrent, label);
    if let (Some(adapter), Some(working)) = (chat(ADAPTER), chat(WORKING_FLOOR)) {
        let cpu = adapter
            .proxy_cpu_per_request_us()
            .zip(working.proxy_cpu_per_request_us())
            .map_or_else(
                || "—".to_owned(),
                |(adapter, working)| format!("{:.2}×", adapter / working.max(1e-9)),
            );
        let throughput = 100.0 * adapter.requests_per_second() / working.requests_per_second().max(1e-9);
        println!(
            "For scale, not a target: against the working floor (`{WORKING_FLOOR}`, chat, c=64) the adapter's CPU per request is {cpu} and its throughput {throughput:.0}%."
        );
        println!();
    }
}
