#!/usr/bin/env bash
# shards.sh — the acceptance suite split across nextest shards and merged into one signed bundle.
#
# What it proves, end to end (CI runs it; it is also the recipe for a CI that splits the suite):
#   1. `--partition count:1/2` runs here; `count:2/2` runs from a `cargo nextest archive` in
#      another directory (sources copied elsewhere, `--workspace-remap`), as on another machine;
#      each shard writes its own evidence folder (trials.json, junit.xml, runs/), its runs signed,
#      and `case-harness evidence sign SHARD` signs the folder once the shard's run is over;
#   2. `case-harness evidence merge --shard-key PUB` checks each shard's envelope, re-verifies
#      every run report its trials list, and joins them into one summary.md, one JUnit (with
#      [[ATTACHMENT|…]] lines) and one signed bundle; `verify --key` accepts it;
#   3. securesystemslib + in-toto-attestation (scripts/attestation-judge.sh) verify the bundle's
#      envelope and a run's envelope, and reject the bundle's with one byte flipped;
#   4. a dropped shard fails the merge naming the missing trials; the same trial passed in one
#      shard and failed in another fails it naming the trial;
#   5. the same with `--partition hash:1/2` + `hash:2/2`;
#   6. a forged shard (a hand-written trials.json of passes) fails the merge naming the shard:
#      unsigned, and again signed with the CI's own key (it lists no signed run reports).
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
    step "sign the $kind shards (each where it ran, once its run is over)"
    "$HARNESS" evidence sign "$one"
    "$HARNESS" evidence sign "$two"

    step "merge $kind shards"
    "$HARNESS" evidence merge "$one" "$two" --shard-key "$PUB" --out "$merged"
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
    output="$("$HARNESS" evidence merge "$one" --shard-key "$PUB" --out "$WORK/$kind-dropped")"
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
# Signed again (as by a CI whose trial really failed), so that the conflict itself is judged.
"$HARNESS" evidence sign "$conflict"
set +e
output="$("$HARNESS" evidence merge "$WORK/count-1" "$WORK/count-2" "$conflict" --shard-key "$PUB" --out "$WORK/conflict-merged")"
code=$?
set -e
printf '%s\n' "$output"
[[ $code -eq 1 ]] || die "a conflicting merge exited $code, expected 1"
grep -qF "$name is passed in" <<<"$output" || die "the conflicting merge does not name $name"

# A forged shard: every planned trial passed, written by hand, no runs behind it.
forged="$WORK/forged"
mkdir -p "$forged"
python3 - "$WORK/count-1/trials.json" "$WORK/count-2/trials.json" "$forged/trials.json" <<'PY'
import json, sys
first, second, out = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
trials = list({trial["name"]: trial for trial in first["trials"] + second["trials"]}.values())
for trial in trials:
    trial.update(status="passed", message=None, reports=[])
    trial.pop("forged_reports", None)
json.dump({"sot_sha256": first["sot_sha256"], "trials": trials}, open(out, "w"))
PY
refused() { # refused WHY SHARD…: merging the shards exits 1, naming $forged with WHY
    local why="$1" output code
    shift
    set +e
    output="$("$HARNESS" evidence merge "$@" --shard-key "$PUB" --out "$WORK/forged-merged")"
    code=$?
    set -e
    printf '%s\n' "$output"
    [[ $code -eq 1 ]] || die "a merge with a forged shard exited $code, expected 1"
    # No `grep -q` at the end of a pipe: under pipefail its early exit can SIGPIPE the first
    # grep, and the pipeline then fails although the line is there (this failed CI once).
    grep -F "shard $forged: " <<<"$output" | grep -F "$why" >/dev/null || die "the merge does not name $forged with \"$why\""
    [[ ! -e "$WORK/forged-merged" ]] || die "a refused merge wrote $WORK/forged-merged"
}
step "a forged (hand-written, unsigned) shard fails the merge, naming the shard"
refused "unsigned: it holds no attestation.dsse.json" "$WORK/count-1" "$forged"
step "the forged shard signed with the CI's own key still fails: no signed run report behind its passes"
"$HARNESS" evidence sign "$forged"
refused "passed listing 0 run report(s)" "$forged"
step "ok: shards signed, merged, re-verified, judged; dropped, conflicting and forged shards refused"
