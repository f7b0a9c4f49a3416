#!/usr/bin/env bash
# fuzz-smoke.sh — run every cargo-fuzz target in fuzz/ for a bounded time (CI calls this).
#
# Usage:
#   scripts/fuzz-smoke.sh [SECONDS] [TARGET...]   default 20 s each, every target
#
# The machine has only stable Rust. cargo-fuzz passes nightly-only flags (-Zsanitizer,
# -Cpasses=sancov-module); RUSTC_BOOTSTRAP=1 lets stable rustc accept them. The sanitizer is
# off (`-s none`): the harness has no unsafe parsing code, so AddressSanitizer would only slow
# each build and run; panics, hangs (-timeout) and allocations over -rss_limit_mb are still
# caught by libFuzzer itself.
#
# New inputs libFuzzer finds go to target/fuzz-corpus-run/<target>/ (not committed); the
# committed seeds in fuzz/corpus/<target>/ are only read. A crash leaves its input in
# fuzz/artifacts/<target>/: copy it to fuzz/regressions/<target>/ — the stable test
# `fuzz_targets::tests::every_corpus_and_regression_input_runs_clean` replays it from then on.
#
# Environment:
#   CASE_HARNESS_FUZZ_INSTALL=0   do not `cargo install cargo-fuzz` when it is missing
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "fuzz-smoke.sh: SECONDS must be a positive whole number, got '$seconds'" >&2
    exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    if [ "${CASE_HARNESS_FUZZ_INSTALL:-1}" = "0" ]; then
        echo "fuzz-smoke.sh: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2
        exit 2
    fi
    echo "fuzz-smoke.sh: installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked --version 0.13.2 >&2
fi

export RUSTC_BOOTSTRAP=1
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi

failed=()
for target in "${targets[@]}"; do
    run_corpus="target/fuzz-corpus-run/$target"
    mkdir -p "$run_corpus" "fuzz/corpus/$target"
    echo "== fuzz $target for ${seconds}s"
    # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: unbounded allocation.
    if cargo fuzz run --fuzz-dir fuzz -s none "$target" "$run_corpus" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 2>"target/fuzz-$target.log"; then
        grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )' "target/fuzz-$target.log" || true
    else
        echo "!! $target FAILED (log: target/fuzz-$target.log; input in fuzz/artifacts/$target/)" >&2
        tail -40 "target/fuzz-$target.log" >&2
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz-smoke.sh: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz-smoke.sh: ${#targets[@]} target(s) ran ${seconds}s each without a crash"
