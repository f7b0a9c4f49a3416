#!/usr/bin/env bash
# attestation-judge.sh — the independent judge of signed evidence, from PyPI.
#
# Creates (or reuses) a cached virtualenv with pinned `securesystemslib[crypto]` (DSSE,
# Ed25519) and `in-toto-attestation` (Statement v1 and Test Result bindings), then runs
# scripts/verify-attestation.py with the given arguments. None of case-harness's code judges.
#
# Usage:
#   scripts/attestation-judge.sh --key KEY.pub ENVELOPE...              all must verify
#   scripts/attestation-judge.sh --key KEY.pub --flip-byte ENVELOPE     must be rejected
#   scripts/attestation-judge.sh                                        only make the venv
#
# Environment:
#   CASE_HARNESS_ATTESTATION_VENV  the venv (default: ~/.cache/case-harness/attestation-venv)
set -euo pipefail

# Pinned: the judges change only on purpose.
readonly WANT="securesystemslib[crypto]==1.6.0 in-toto-attestation==0.9.3"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
CACHE="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}"
VENV="${CASE_HARNESS_ATTESTATION_VENV:-$CACHE/case-harness/attestation-venv}"
VENV_PY="$VENV/bin/python"
MARKER="$VENV/.case-harness-judge"
LOG="$VENV.install.log"

die() {
    printf 'attestation-judge: ERROR: %s\n' "$*" >&2
    exit 1
}

install_ok() {
    [[ -x "$VENV_PY" && -f "$MARKER" && "$(cat "$MARKER")" == "$WANT" ]] || return 1
    "$VENV_PY" -c 'import securesystemslib.dsse, in_toto_attestation.v1.statement, cryptography' 2>/dev/null
}

if ! install_ok; then
    command -v python3 >/dev/null || die "python3 not found"
    rm -rf -- "$VENV"
    mkdir -p "$(dirname "$VENV")"
    printf 'attestation-judge: installing %s into %s (log: %s)\n' "$WANT" "$VENV" "$LOG" >&2
    python3 -m venv "$VENV" >"$LOG" 2>&1 || die "python3 -m venv failed (see $LOG)"
    # shellcheck disable=SC2086 # WANT is a list of requirement specifiers
    if ! "$VENV_PY" -m pip install --disable-pip-version-check --retries 2 --timeout 30 $WANT >>"$LOG" 2>&1; then
        tail -n 20 "$LOG" >&2
        die "could not install $WANT from PyPI (see $LOG); the judge must not be skipped"
    fi
    printf '%s' "$WANT" >"$MARKER"
    install_ok || die "installed, but the judges do not import (see $LOG)"
fi

if [[ $# -eq 0 ]]; then
    printf '%s\n' "$VENV_PY"
    exit 0
fi
exec "$VENV_PY" "$ROOT/scripts/verify-attestation.py" "$@"
