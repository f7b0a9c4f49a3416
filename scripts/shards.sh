#!/usr/bin/env bash
# shards.sh — the acceptance suite split across nextest shards and merged into one signed bundle.
#
# What it proves, end to end (CI runs it; it is also the recipe for a CI that splits the suite):
#   1. `--partition count:1/2` runs here; `count:2/2` runs from a `cargo nextest archive` in
#      another directory (sources copied elsewhere, `--workspace-remap`), as on another machine;
#      each shard writes its own evidence folder (trials.json, junit.xml, runs/), its runs signed;
#   2. `case-harness evidence merge` joins them into one summary.md, one JUnit (with
#      [[ATTACHMENT|…]] lines) and one signed bundle; `verify --key` accepts it;
#   3. securesystemslib + in-toto-attestation (scripts/attestation-judge.sh) verify the bundle's
#      envelope and a run's envelope, and reject the bundle's with one byte flipped;
#   4. a dropped shard fails the merge naming the missing trials; the same trial passed in one
#      shard and failed in another fails it naming the trial;
#   5. the same with `--partition hash:1/2` + `hash:2/2`.
#
# Usage: scripts/shards.sh [WORK_DIR]   (default target/case-harness/shards; it is replaced)
# The signing key is made fresh in a private temp folder outside WORK_DIR and removed at exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
WORK="${1:-target/case-harness/shards}"
[[ "$WORK" == /* ]] || WORK="$ROOT/$WORK"
step() { printf '\n-- shards: %s\n' "$*"; }
die() {
    printf 'shards: FAIL: %s\n' "$*" >&2
    exit 1
}

rm -rf -- "$WORK"
mkdir -p "$WORK"
KEYS="$(mktemp -d)"
trap 'rm -rf -- "$KEYS"' EXIT
chmod 700 "$KEYS"

cargo build --quiet --bins
HARNESS="$ROOT/target/debug/case-harness"
"$HARNESS" keygen "$KEYS/signing.key"
export CASE_HARNESS_SIGNING_KEY="$KEYS/signing.key"
PUB="$KEYS/signing.key.pub"
JUNIT_PY="$ROOT/target/case-harness/ci-venv/bin/python"

# A shard: the acceptance target's JUnit, trials.json and run folders go to $1.
shard_env() { printf 'CASE_HARNESS_JUNIT_PATH=%s CASE_HARNESS_ACCEPTANCE_DIR=%s' "$1/junit.xml" "$1/runs"; }

step "archive the acceptance target (the build machine)"
cargo nextest archive --test acceptance --archive-file "$WORK/acceptance.tar.zst"
ELSEWHERE="$WORK/elsewhere"
mkdir -p "$ELSEWHERE/src" "$ELSEWHERE/extracted"
# The sources (scenarios, fixtures, Case stand-ins) as another machine would check them out.
tar --exclude=./target --exclude=./.git -cf - . | tar -xf - -C "$ELSEWHERE/src"

for kind in count hash; do
    one="$WORK/$kind-1" two="$WORK/$kind-2" merged="$WORK/$kind-merged"
    step "$kind:1/2 here"
    env $(shard_env "$one") cargo nextest run --test acceptance --no-fail-fast --partition "$kind:1/2"
    step "$kind:2/2 from the archive, in $ELSEWHERE"
    rm -rf -- "$ELSEWHERE/extracted" && mkdir -p "$ELSEWHERE/extracted"
    (cd "$ELSEWHERE" && env $(shard_env "$two") cargo nextest run --no-fail-fast \
        --archive-file "$WORK/acceptance.tar.zst" --workspace-remap "$ELSEWHERE/src" \
        --extract-to "$ELSEWHERE/extracted" --partition "$kind:2/2")
    [[ -f "$one/trials.json" && -f "$two/trials.json" ]] || die "a shard wrote no trials.json"

    step "merge $kind shards"
    "$HARNESS" evidence merge "$one" "$two" --out "$merged"
    "$HARNESS" verify --key "$PUB" "$merged"
    grep -q '\[\[ATTACHMENT|' "$merged/junit.xml" || die "merged JUnit has no [[ATTACHMENT|…]] lines"
    # A real JUnit consumer (junitparser, from .ci/run's venv) reads the merged file: complete,
    # and every report a testcase names is attached, with its envelope.
    if [[ -x "$JUNIT_PY" ]]; then
        require=()
        [[ -n "${CTO_HARNESS_CASE_LOCAL_BASE_URL:-}" ]] && require=(--require-real-stage2)
        "$JUNIT_PY" scripts/check-junit.py "$merged/junit.xml" "${require[@]}"
        "$JUNIT_PY" - "$merged/junit.xml" <<'PY'
import os
import sys
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
# Attachments inside the JUnit file's folder are relative to it (they survive a move).
junit_dir = os.path.dirname(os.path.abspath(sys.argv[1]))
def attached(path):
    return os.path.relpath(path, junit_dir) if path.startswith(junit_dir + os.sep) else path
checked = 0
for suite in xml:
    for case in suite:
        out = case.system_out or ""
        # junitparser reads testcase <properties> only through the element itself.
        for prop in case._elem.iter("property"):
            name, value = prop.get("name"), prop.get("value")
            if name.startswith("report_path."):
                envelope = value.rsplit("/", 1)[0] + "/attestation.dsse.json"
                for path in (value, envelope):
                    assert f"[[ATTACHMENT|{attached(path)}]]" in out, (case.name, path)
                checked += 1
assert checked > 0, "no report attachments at all"
print(f"junitparser: {checked} report(s) attached with their envelopes")
PY
    fi

    step "the independent judge (securesystemslib, in-toto-attestation)"
    run_envelope="$(find "$merged/runs" -path '*CTO-WORK-022__07-*' -name attestation.dsse.json | head -n 1)"
    [[ -n "$run_envelope" ]] || die "no signed run envelope in $merged"
    scripts/attestation-judge.sh --key "$PUB" "$merged/attestation.dsse.json" "$run_envelope"
    scripts/attestation-judge.sh --key "$PUB" --flip-byte "$merged/attestation.dsse.json"

    step "a dropped $kind shard fails the merge, naming the missing trials"
    set +e
    output="$("$HARNESS" evidence merge "$one" --out "$WORK/$kind-dropped")"
    code=$?
    set -e
    printf '%s\n' "$output"
    [[ $code -eq 1 ]] || die "merge without shard 2 exited $code, expected 1"
    first_missing="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["trials"][0]["name"])' "$two/trials.json")"
    grep -qF "$first_missing" <<<"$output" || die "the failed merge does not name $first_missing"
done

step "a trial passed in one shard and failed in another fails the merge, naming it"
conflict="$WORK/conflict"
cp -r "$WORK/count-1" "$conflict"
name="$(python3 - "$conflict/trials.json" <<'PY'
import json, sys
path = sys.argv[1]
data = json.load(open(path))
trial = next(t for t in data["trials"] if t["status"] == "passed")
trial["status"] = "failed"
json.dump(data, open(path, "w"))
print(trial["name"])
PY
)"
set +e
output="$("$HARNESS" evidence merge "$WORK/count-1" "$WORK/count-2" "$conflict" --out "$WORK/conflict-merged")"
code=$?
set -e
printf '%s\n' "$output"
[[ $code -eq 1 ]] || die "a conflicting merge exited $code, expected 1"
grep -qF "$name is passed in" <<<"$output" || die "the conflicting merge does not name $name"
step "ok: shards merged, signed, judged; dropped and conflicting shards refused"
