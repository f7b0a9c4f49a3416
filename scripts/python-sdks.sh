#!/usr/bin/env bash
# python-sdks.sh — install the official Python SDKs that judge the adapter's wire compatibility.
#
# Creates (or reuses) a virtualenv holding pinned `anthropic` and `openai` packages from PyPI.
# The `sdk` test target (harness-tests/sdk.rs) runs the programs in harness-tests/sdk/ and the
# Case harness-tests/cases/messages_sdk_case.py with this venv's python against the adapter.
#
# Usage:
#   scripts/python-sdks.sh          create/reuse the venv (idempotent), print its python path
#
# Then:
#   cargo test --test sdk -- --include-ignored
#   cargo nextest run --test sdk --run-ignored all
#
# Environment:
#   CASE_HARNESS_SDK_VENV   the venv folder (default: target/case-harness/sdk-venv; a relative
#                           path is relative to the repository); the sdk tests read the same
#                           variable the same way
#
# The venv's path must not contain an external provider's name (e.g. "anthropic"): the harness
# refuses any Case command line that names one, and the end-to-end test runs the venv's python
# as Case.

set -euo pipefail

# Pinned: the SDKs are the judges, so a judge changes only on purpose (bump, rerun the tests,
# note what changed in docs/anthropic-compat.md).
readonly ANTHROPIC_VERSION="2.14.0"
readonly OPENAI_VERSION="3.57.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV="${CASE_HARNESS_SDK_VENV:-target/case-harness/sdk-venv}"
# A relative path is relative to the repository, as the sdk tests read it.
[[ "$VENV" == /* ]] || VENV="$ROOT/$VENV"
VENV_PY="$VENV/bin/python"
MARKER="$VENV/.case-harness-sdks"
LOG="$VENV.install.log"
WANT="anthropic==$ANTHROPIC_VERSION openai==$OPENAI_VERSION"

log() { printf 'python-sdks: %s\n' "$*" >&2; }
die() {
    printf 'python-sdks: ERROR: %s\n' "$*" >&2
    exit 1
}

case "${1:-}" in
"") ;;
-h | --help)
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 0
    ;;
*) die "unknown argument '$1' (try --help)" ;;
esac

case "$(printf '%s' "$VENV" | tr '[:upper:]' '[:lower:]')" in
*anthropic* | *claude*)
    die "the venv path $VENV names an external provider; the harness would refuse it as a Case command. Set CASE_HARNESS_SDK_VENV to another folder."
    ;;
esac

# True when the venv holds exactly the pinned versions and both SDKs import.
install_ok() {
    [[ -x "$VENV_PY" && -f "$MARKER" ]] || return 1
    [[ "$(cat "$MARKER")" == "$WANT" ]] || return 1
    "$VENV_PY" - "$ANTHROPIC_VERSION" "$OPENAI_VERSION" >/dev/null 2>&1 <<'PY' || return 1
import sys
import anthropic, openai
assert anthropic.__version__ == sys.argv[1], anthropic.__version__
assert openai.__version__ == sys.argv[2], openai.__version__
PY
}

if install_ok; then
    log "reusing $VENV ($WANT)"
    printf '%s\n' "$VENV_PY"
    exit 0
fi

command -v python3 >/dev/null || die "python3 not found"
if [[ -e "$VENV" ]]; then
    log "removing incomplete or outdated venv at $VENV"
    rm -rf -- "$VENV"
fi
mkdir -p "$(dirname "$VENV")"
: >"$LOG"
log "creating venv at $VENV"
python3 -m venv "$VENV" >>"$LOG" 2>&1 || die "python3 -m venv failed (see $LOG)"

log "installing $WANT from PyPI (log: $LOG)"
if ! "$VENV_PY" -m pip install --disable-pip-version-check --retries 2 --timeout 30 \
    "anthropic==$ANTHROPIC_VERSION" "openai==$OPENAI_VERSION" >>"$LOG" 2>&1; then
    {
        echo "================================================================================"
        if grep -qE 'NewConnectionError|Max retries exceeded|Temporary failure in name resolution|Name or service not known|Network is unreachable|Connection refused|ProxyError|SSLError|ConnectTimeout|ReadTimeout|No matching distribution found|Could not find a version that satisfies' "$LOG"; then
            echo "python-sdks: ERROR: could not install $WANT from the package registry (PyPI)."
            echo "  pip could not reach the registry or find the pinned versions."
            echo "  Check network access to PyPI (and PIP_INDEX_URL / proxy settings), then rerun $0"
        else
            echo "python-sdks: ERROR: pip failed to install $WANT (see the log below)."
        fi
        echo "  full log: $LOG"
        echo "================================================================================"
        echo "--- last 30 lines of $LOG ---"
        tail -n 30 "$LOG"
    } >&2
    exit 1
fi
printf '%s' "$WANT" >"$MARKER"
install_ok || die "installed, but the SDKs do not import at the pinned versions (see $LOG)"
log "installed $WANT in $VENV"
printf '%s\n' "$VENV_PY"
