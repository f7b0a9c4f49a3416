#!/usr/bin/env bash
# agents.sh — install the real agents the harness runs as Case, pinned, from their registry.
#
# Today one agent: Claude Code (`@anthropic-ai/claude-code` on npm). Its native binary comes from
# the registry in the platform package npm picks among the optional dependencies
# (`@anthropic-ai/claude-code-linux-x64/claude` here), so it runs with the Node 20 on these
# machines although the wrapper package asks for Node >= 22 (the binary needs no Node at all).
#
# Usage:
#   scripts/agents.sh install    install the pinned version into the cache (idempotent)
#   scripts/agents.sh path       print the absolute path of `claude` (exit 1 if not installed)
#   scripts/agents.sh version    print the installed version (exit 1 if not installed)
#   scripts/agents.sh env        print `export CASE_HARNESS_CLAUDE=…` for `eval`
#
# Cache: ${CASE_HARNESS_AGENTS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/case-harness/agents}/
#   claude-code-<version>/          npm prefix of the pinned install
#   claude-code-<version>/.installed  marks a finished, verified install
#   claude-code-<version>.log       npm's output of the last install
#
# npm runs with --ignore-scripts (nothing from the package runs at install time) and
# --no-audit --no-fund (no extra registry calls). Without the postinstall step the wrapper's
# `bin/claude.exe` stays a stub that prints "claude native binary not installed", so `path`
# names the platform package's binary itself (measured with 2.1.328). The install is done into a temporary
# folder and renamed into place, so an interrupted install never looks finished.

set -euo pipefail

readonly CLAUDE_CODE_PACKAGE="@anthropic-ai/claude-code"
readonly CLAUDE_CODE_VERSION="2.1.328"

AGENTS_HOME="${CASE_HARNESS_AGENTS_HOME:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/case-harness/agents}"
PREFIX="$AGENTS_HOME/claude-code-$CLAUDE_CODE_VERSION"
MARKER="$PREFIX/.installed"
INSTALL_LOG="$AGENTS_HOME/claude-code-$CLAUDE_CODE_VERSION.log"
INSTALL_TIMEOUT="${CASE_HARNESS_AGENTS_INSTALL_TIMEOUT:-900}"

log() { printf 'agents: %s\n' "$*" >&2; }
die() {
    printf 'agents: ERROR: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# The one native binary npm installed for this platform, under the prefix $1.
native_binary() {
    local found=()
    local candidate
    for candidate in "$1"/node_modules/@anthropic-ai/claude-code-*/claude; do
        [[ -x "$candidate" ]] && found+=("$candidate")
    done
    [[ ${#found[@]} -eq 1 ]] || return 1
    printf '%s\n' "${found[0]}"
}

claude_path() {
    [[ -f "$MARKER" ]] || return 1
    native_binary "$PREFIX"
}

installed_version() {
    local bin
    bin="$(claude_path)" || return 1
    # `claude --version` prints e.g. "2.1.328 (Claude Code)".
    "$bin" --version 2>/dev/null | awk '{ print $1; exit }'
}

cmd_install() {
    if claude_path >/dev/null; then
        log "Claude Code $CLAUDE_CODE_VERSION already installed in $PREFIX"
        claude_path
        return 0
    fi
    command -v npm >/dev/null || die "npm not found on PATH; install Node.js and npm first"
    mkdir -p "$AGENTS_HOME"
    local staging
    staging="$(mktemp -d "$AGENTS_HOME/.claude-code-$CLAUDE_CODE_VERSION.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$staging'" EXIT
    log "installing $CLAUDE_CODE_PACKAGE@$CLAUDE_CODE_VERSION into $PREFIX (log: $INSTALL_LOG)"
    if ! timeout "$INSTALL_TIMEOUT" npm install --prefix "$staging" --no-save --ignore-scripts \
        --no-audit --no-fund --loglevel=warn \
        "$CLAUDE_CODE_PACKAGE@$CLAUDE_CODE_VERSION" >"$INSTALL_LOG" 2>&1; then
        tail -n 20 "$INSTALL_LOG" >&2 || true
        die "npm install of $CLAUDE_CODE_PACKAGE@$CLAUDE_CODE_VERSION failed (full log: $INSTALL_LOG)"
    fi
    local bin
    bin="$(native_binary "$staging")" ||
        die "npm installed no single native binary for $(uname -sm) under $staging/node_modules/@anthropic-ai/ (log: $INSTALL_LOG)"
    local got
    got="$("$bin" --version 2>&1 | awk '{ print $1; exit }')" ||
        die "$bin --version failed: $got"
    [[ "$got" == "$CLAUDE_CODE_VERSION" ]] ||
        die "$bin --version says '$got', expected $CLAUDE_CODE_VERSION"
    rm -rf "$PREFIX"
    mv "$staging" "$PREFIX"
    trap - EXIT
    : >"$MARKER"
    log "installed Claude Code $got"
    claude_path
}

cmd_path() {
    claude_path || die "Claude Code $CLAUDE_CODE_VERSION is not installed; run: scripts/agents.sh install"
}

cmd_version() {
    installed_version || die "Claude Code $CLAUDE_CODE_VERSION is not installed; run: scripts/agents.sh install"
}

cmd_env() {
    local bin
    bin="$(cmd_path)"
    printf 'export CASE_HARNESS_CLAUDE=%q\n' "$bin"
}

case "${1:-}" in
install) cmd_install ;;
path) cmd_path ;;
version) cmd_version ;;
env) cmd_env ;;
*) usage ;;
esac
