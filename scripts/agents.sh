#!/usr/bin/env bash
# agents.sh — install the real agents the harness runs as Case, pinned, from their registry.
#
# Two agents, both npm packages whose native binary comes from the registry in the platform
# package npm picks among the optional dependencies:
#   claude  Claude Code `@anthropic-ai/claude-code` 2.1.328
#           (`@anthropic-ai/claude-code-linux-x64/claude`; runs with the Node 20 on these machines
#           although the wrapper package asks for Node >= 22: the binary needs no Node at all)
#   codex   Codex CLI `@openai/codex` 0.169.0
#           (`@openai/codex-linux-x64/vendor/<target>/bin/codex`, ~404 MB installed)
#
# Usage:
#   scripts/agents.sh install [AGENT]   install the pinned versions into the cache (idempotent;
#                                       both agents unless one is named)
#   scripts/agents.sh path [AGENT]      print the absolute path of the agent's binary
#                                       (default: claude; exit 1 if not installed)
#   scripts/agents.sh version [AGENT]   print the installed version (exit 1 if not installed)
#   scripts/agents.sh env               print `export CASE_HARNESS_CLAUDE=…` and
#                                       `export CASE_HARNESS_CODEX=…` for `eval`
#
# Cache: ${CASE_HARNESS_AGENTS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/case-harness/agents}/
#   <agent>-<version>/            npm prefix of the pinned install (claude-code-…, codex-…)
#   <agent>-<version>/.installed  marks a finished, verified install
#   <agent>-<version>.log         npm's output of the last install
#
# npm runs with --ignore-scripts (nothing from the package runs at install time) and
# --no-audit --no-fund (no extra registry calls). Without the postinstall step Claude Code's
# `bin/claude.exe` stays a stub that prints "claude native binary not installed", so `path`
# names the platform package's binary itself (measured with 2.1.328); Codex's `bin/codex.js` is
# a Node launcher for the same platform binary, which `path` names directly. The install is done
# into a temporary folder and renamed into place, so an interrupted install never looks finished.

set -euo pipefail

AGENTS_HOME="${CASE_HARNESS_AGENTS_HOME:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/case-harness/agents}"
INSTALL_TIMEOUT="${CASE_HARNESS_AGENTS_INSTALL_TIMEOUT:-900}"

log() { printf 'agents: %s\n' "$*" >&2; }
die() {
    printf 'agents: ERROR: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Sets the pinned facts of agent $1: NAME, PACKAGE, VERSION, SLUG, BINARY_GLOB, VERSION_WORD
# (which word of `--version` is the version).
select_agent() {
    case "$1" in
    claude | claude-code)
        NAME="Claude Code"
        PACKAGE="@anthropic-ai/claude-code"
        VERSION="2.1.328"
        SLUG="claude-code"
        # `claude --version` prints e.g. "2.1.328 (Claude Code)".
        BINARY_GLOB="node_modules/@anthropic-ai/claude-code-*/claude"
        VERSION_WORD=1
        ;;
    codex)
        NAME="Codex CLI"
        PACKAGE="@openai/codex"
        VERSION="0.169.0"
        SLUG="codex"
        # `codex --version` prints e.g. "codex-cli 0.169.0".
        BINARY_GLOB="node_modules/@openai/codex-*/vendor/*/bin/codex"
        VERSION_WORD=2
        ;;
    *) die "unknown agent '$1' (claude or codex)" ;;
    esac
    PREFIX="$AGENTS_HOME/$SLUG-$VERSION"
    MARKER="$PREFIX/.installed"
    INSTALL_LOG="$AGENTS_HOME/$SLUG-$VERSION.log"
}

# The one native binary npm installed for this platform, under the prefix $1.
native_binary() {
    local found=()
    local candidate
    # shellcheck disable=SC2206
    local candidates=("$1"/$BINARY_GLOB)
    for candidate in "${candidates[@]}"; do
        [[ -f "$candidate" && -x "$candidate" ]] && found+=("$candidate")
    done
    [[ ${#found[@]} -eq 1 ]] || return 1
    printf '%s\n' "${found[0]}"
}

agent_path() {
    [[ -f "$MARKER" ]] || return 1
    native_binary "$PREFIX"
}

version_of() {
    "$1" --version 2>&1 | awk -v word="$VERSION_WORD" '{ print $word; exit }'
}

installed_version() {
    local bin
    bin="$(agent_path)" || return 1
    version_of "$bin"
}

install_one() {
    select_agent "$1"
    if agent_path >/dev/null; then
        log "$NAME $VERSION already installed in $PREFIX"
        agent_path
        return 0
    fi
    command -v npm >/dev/null || die "npm not found on PATH; install Node.js and npm first"
    mkdir -p "$AGENTS_HOME"
    local staging
    staging="$(mktemp -d "$AGENTS_HOME/.$SLUG-$VERSION.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$staging'" EXIT
    log "installing $PACKAGE@$VERSION into $PREFIX (log: $INSTALL_LOG)"
    if ! timeout "$INSTALL_TIMEOUT" npm install --prefix "$staging" --no-save --ignore-scripts \
        --no-audit --no-fund --loglevel=warn \
        "$PACKAGE@$VERSION" >"$INSTALL_LOG" 2>&1; then
        tail -n 20 "$INSTALL_LOG" >&2 || true
        die "npm install of $PACKAGE@$VERSION failed (full log: $INSTALL_LOG)"
    fi
    local bin
    bin="$(native_binary "$staging")" ||
        die "npm installed no single native binary for $(uname -sm) matching $staging/$BINARY_GLOB (log: $INSTALL_LOG)"
    local got
    got="$(version_of "$bin")" || die "$bin --version failed: $got"
    [[ "$got" == "$VERSION" ]] || die "$bin --version says '$got', expected $VERSION"
    rm -rf "$PREFIX"
    mv "$staging" "$PREFIX"
    trap - EXIT
    : >"$MARKER"
    log "installed $NAME $got"
    agent_path
}

cmd_install() {
    if [[ -n "${1:-}" ]]; then
        install_one "$1"
    else
        install_one claude
        install_one codex
    fi
}

cmd_path() {
    select_agent "${1:-claude}"
    agent_path || die "$NAME $VERSION is not installed; run: scripts/agents.sh install"
}

cmd_version() {
    select_agent "${1:-claude}"
    installed_version || die "$NAME $VERSION is not installed; run: scripts/agents.sh install"
}

cmd_env() {
    local claude codex
    claude="$(cmd_path claude)"
    codex="$(cmd_path codex)"
    printf 'export CASE_HARNESS_CLAUDE=%q\n' "$claude"
    printf 'export CASE_HARNESS_CODEX=%q\n' "$codex"
}

case "${1:-}" in
install) cmd_install "${2:-}" ;;
path) cmd_path "${2:-}" ;;
version) cmd_version "${2:-}" ;;
env) cmd_env ;;
*) usage ;;
esac
