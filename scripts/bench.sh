#!/usr/bin/env bash
# bench.sh — measure the adapter's added latency per request (optimized build).
#
# Runs benches/adapter_latency.rs through cargo's own bench runner: an in-process upstream on
# 127.0.0.1, the adapter in front of it (ledger on), and one keep-alive client alternating
# direct and through-the-adapter requests. It prints a table (min/median/p90/p99/max in µs,
# the median added latency, the ratio adapter/direct) and never judges the numbers.
#
# Usage:
#   scripts/bench.sh                          2000 requests per mode and scenario, 200 warm-up pairs
#   BENCH_REQUESTS=200 BENCH_WARMUP=20 scripts/bench.sh
#   scripts/bench.sh -- --test                smoke run (20 requests), as `cargo test --benches` does
#
# Only public tools: cargo and the Rust toolchain. No load generator (wrk, hyperfine, ...) is
# needed or used, even where one is installed; anyone can reproduce the numbers with this.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench adapter_latency "$@"
