#!/usr/bin/env bash
# bench.sh — every benchmark of BENCHMARKS.md in one run, side by side with LiteLLM's proxy.
#
# 1. Makes (once; cached) a venv with LiteLLM's proxy from PyPI, pinned. If that fails the
#    tables say "LiteLLM: not measured" and everything else still runs.
# 2. Runs benches/side_by_side (optimized): a fast upstream on 127.0.0.1 measured directly,
#    through `case-harness adapter` (and its pass-through when it has one) and through LiteLLM
#    and two floors (a bare proxy on the adapter's stack, a byte relay) — added latency p50/p99
#    at concurrency 1 (Rust client, and a Python http.client one: python3 from PATH) and 64,
#    requests/s, CPU per request, first streamed byte, peak RSS — then `check`, a whole `run`
#    by stage, `scan` against `grep -F -f`, and last issue 26's targets as ratios of this run.
# 3. Times the acceptance suite under cargo-nextest, warm (built and run once first).
# Output goes to the terminal and to target/bench/latest.md. Targets are marked ✅/❌; a missed
# one fails nothing (the machines are shared; read the load the header prints).
#
# Usage:
#   scripts/bench.sh                 the full run (1 GiB scan set; ~5 minutes plus building)
#   scripts/bench.sh --quick         fewer requests, 64 MiB scan set (~1 minute plus building)
#   scripts/bench.sh --scan-mib N    N MiB of generated files for the scan comparison
#   scripts/bench.sh --no-litellm    skip LiteLLM (the tables say so)
#   scripts/bench.sh --no-nextest    skip the acceptance-suite timing
# Counts can also be set as in benches/side_by_side/main.rs (BENCH_REQUESTS, ...).
#
# Only loopback: every server is started by the bench on 127.0.0.1 and stopped by it; LiteLLM
# runs with LITELLM_LOCAL_MODEL_COST_MAP=True, telemetry off and HTTP(S)_PROXY pointed at a
# closed loopback port. Only public tools: cargo, Python's venv/pip, grep, cargo-nextest.
set -euo pipefail
cd "$(dirname "$0")/.."

LITELLM_VERSION=1.108.7
# Without it LiteLLM fetches its model cost map from GitHub at import time.
export LITELLM_LOCAL_MODEL_COST_MAP=True
cache_root="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/case-harness/bench"
venv="$cache_root/litellm-$LITELLM_VERSION"
use_litellm=1
use_nextest=1
while [ $# -gt 0 ]; do
    case "$1" in
        --quick)
            export BENCH_REQUESTS="${BENCH_REQUESTS:-500}" BENCH_PEER_REQUESTS="${BENCH_PEER_REQUESTS:-100}"
            export BENCH_CONCURRENT_REQUESTS="${BENCH_CONCURRENT_REQUESTS:-5000}" BENCH_REPEATS="${BENCH_REPEATS:-5}" BENCH_CONCURRENT_ROUNDS="${BENCH_CONCURRENT_ROUNDS:-3}"
            export BENCH_SCAN_MIB="${BENCH_SCAN_MIB:-64}"
            ;;
        --scan-mib) shift; export BENCH_SCAN_MIB="$1" ;;
        --no-litellm) use_litellm=0 ;;
        --no-nextest) use_nextest=0 ;;
        *) echo "bench.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
    esac
    shift
done

mkdir -p target/bench
unset BENCH_LITELLM BENCH_LITELLM_UNAVAILABLE
if [ "$use_litellm" = 1 ]; then
    # A venv's scripts name its own path, so it is made in place; `.complete` marks a finished one.
    if [ ! -f "$venv/.complete" ]; then
        echo "bench.sh: installing litellm[proxy]==$LITELLM_VERSION into $venv (log: target/bench/litellm-install.log)" >&2
        rm -rf "$venv" && mkdir -p "$cache_root"
        if timeout 900 python3 -m venv "$venv" >target/bench/litellm-install.log 2>&1 &&
            timeout 900 "$venv/bin/pip" install --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION" \
                >>target/bench/litellm-install.log 2>&1 &&
            "$venv/bin/python" -c 'import litellm.proxy.proxy_server' >>target/bench/litellm-install.log 2>&1; then
            touch "$venv/.complete"
        else
            rm -rf "$venv"
        fi
    fi
    if [ -f "$venv/.complete" ]; then
        export BENCH_LITELLM="$venv/bin/litellm"
    else
        export BENCH_LITELLM_UNAVAILABLE="pip install of litellm[proxy]==$LITELLM_VERSION failed (target/bench/litellm-install.log)"
    fi
else
    export BENCH_LITELLM_UNAVAILABLE="skipped (--no-litellm)"
fi

cargo bench --no-run --bench side_by_side
# The confinement's cost, when this `run` confines Case: a second series of runs without it.
# (cargo bench built target/release/case-harness; `cargo run --release` would rebuild it.)
if [ -z "${BENCH_RUN_EXTRA:-}" ] && target/release/case-harness run --help 2>/dev/null |
    grep -q -- '--allow-unconfined'; then
    export BENCH_RUN_EXTRA="--allow-unconfined"
fi
{
    echo "# scripts/bench.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo
    timeout 1800 cargo bench --quiet --bench side_by_side
    if [ "$use_nextest" = 1 ]; then
        echo "### Acceptance suite under cargo-nextest (warm)"
        echo
        if command -v cargo-nextest >/dev/null 2>&1; then
            cargo nextest run --test acceptance --cargo-quiet >/dev/null 2>&1 || true
            start=$(date +%s%N)
            if cargo nextest run --test acceptance --cargo-quiet >target/bench/nextest.log 2>&1; then
                result="passed"
            else
                result="FAILED (target/bench/nextest.log)"
            fi
            end=$(date +%s%N)
            summary=$(grep -E '^ *Summary' target/bench/nextest.log | tail -1 | sed 's/^ *//')
            echo "- \`cargo nextest run --test acceptance\`, second run: $(((end - start) / 1000000)) ms wall, $result; $summary"
        else
            echo "- not measured: cargo-nextest is not installed"
        fi
        echo
    fi
} 2>&1 | tee target/bench/latest.md
