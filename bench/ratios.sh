#!/usr/bin/env python3
"""Flow against the limit, side by side in one run (issue 18): each row runs
`flow` and a reference program alternately (flow, reference, flow, …),
N times each and on until the row has run 3 seconds (at most 40 times
each, as hyperfine fills its time), keeps the best of each and prints the
number of runs, both times, their ratio (flow / reference: 1.00× is the
limit), the goal, the ratio of the medians
(on a machine whose runs vary, the best alone can flatter either side),
peak memory and the load average (1 minute) as the row ends, as a
Markdown table.

The references are bench/reference's programs: `dag` (a minimal tokio DAG
runner), `spawn` (raw process spawns of `true`), `llm-server` and
`llm-client` (a loopback chat server and a bare reqwest client). The `floor`
rows, not run by default, measure `spawn-loop` (the same spawns from one
event loop, as `flow run` has) against `spawn`. Written in
Python, under the name the issue gives it.

Usage (from anywhere):

    bench/ratios.sh              # every row, 5 runs a side or 3 s, the best kept
    bench/ratios.sh -n 7         # 7 runs a side at least
    bench/ratios.sh --min-time 0 # exactly 5 runs a side
    bench/ratios.sh --peers      # also flow / asyncio, make -j2, xargs -P2
    bench/ratios.sh --rows map,spawn --no-build
    bench/ratios.sh --idle       # each pair of runs waits for an idle machine
    bench/ratios.sh --rows spawn,floor  # the spawn row and its floor for one event loop

Builds `flow` and bench/reference in release mode first (CARGO_TARGET_DIR
is honoured; the reference builds into its `reference` folder), generates
the scripts with bench/gen.py, and records flow's runs in a throwaway
FLOW_STORE. Times come from runs started directly; peak memory from one
more run of each side under GNU time (`%M`): a child started by this
Python process with vfork would count Python's own memory in its peak.
"""
import argparse
import datetime
import json
import statistics
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from spawners import idle_fraction  # noqa: E402 (bench/spawners.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
OUT = os.path.join(TARGET, "bench")
REF = os.path.join(TARGET, "reference", "release")
DIAMOND = ("100", "1000", "18")  # bench/gen.py's DIAMOND: levels, width, seed
STARTUP_REPEAT = 50  # start-up runs per measurement, their mean is kept
STAGE = 0.05  # seconds each stage of pipeline_100.flow sleeps
ROWS = "map,chain,diamond,front,spawn,startup,pipeline,llm"
IDLE_WAIT = 30  # seconds --idle waits at most before a pair of runs
MIN_TIME = 3.0  # seconds a row runs at least (after its n pairs), as hyperfine does
MAX_PAIRS = 40  # pairs of runs a row makes at most to fill MIN_TIME


def run(argv, env):
    """Runs a command to its end, its output to /dev/null; its wall seconds."""
    with tempfile.TemporaryFile() as err:
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, err.fileno(), 2),
        ]
        start = time.perf_counter()
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions)
        _, status = os.waitpid(pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            sys.exit(f"failed: {' '.join(argv)}\n{err.read().decode(errors='replace')}")
    return wall


def mean(argv, env, repeat):
    """The mean wall seconds of `repeat` runs one after the other."""
    return sum(run(argv, env) for _ in range(repeat)) / repeat


def peak(argv, env):
    """Peak resident memory of one run, in MiB (None without GNU time)."""
    if not os.access("/usr/bin/time", os.X_OK):
        return None
    with tempfile.NamedTemporaryFile("r") as kb:
        run(["/usr/bin/time", "-f", "%M", "-o", kb.name, *argv], env)
        return int(kb.read().split()[-1]) / 1024


def settle(idle):
    """With `idle`, waits (IDLE_WAIT seconds at most) until the machine has
    been at least 90 % idle for a second, as bench/spawners.py does."""
    deadline = time.monotonic() + IDLE_WAIT
    while idle and idle_fraction() < 0.9 and time.monotonic() < deadline:
        time.sleep(2)


class Table:
    """The table, printed row by row as it is measured."""

    def __init__(self, n, min_time, env, idle):
        self.n, self.min_time, self.env, self.idle = n, min_time, env, idle
        print("| row (the best of each side, alternating) | runs of each | flow | reference | ratio | goal | median ratio "
              "| peak MiB, flow / reference | load |")
        print("|---|---|---|---|---|---|---|---|---|")

    def compare(self, name, flow, reference, goal=None, repeat=1):
        """Runs `flow` and `reference` (argv lists) alternately, each time
        the mean of `repeat` runs, n times each and then on until the row's
        runs have taken `min_time` seconds (at most MAX_PAIRS times each), and
        prints the row. A short row's best is then the best of dozens: on
        a machine whose runs vary, five runs of 0.1 s leave the best to luck."""
        a, b = [], []
        # the runs' own time: --idle's waits do not count
        while len(a) < self.n or ((sum(a) + sum(b)) * repeat < self.min_time and len(a) < MAX_PAIRS):
            settle(self.idle)
            a.append(mean(flow, self.env, repeat))
            b.append(mean(reference, self.env, repeat))
        median = statistics.median(a) / statistics.median(b)
        self.row(name, min(a), min(b), peak(flow, self.env), peak(reference, self.env), goal, median, len(a))

    def row(self, name, flow_s, ref_s, flow_mib, ref_mib, goal=None, median=None, runs=None):
        """Prints a row: the ratio of the best times, judged against the
        goal, and (on a machine whose runs vary) the ratio of the medians."""
        ratio = flow_s / ref_s
        met = "" if goal is None else (" ✓" if ratio <= goal else " ✗")
        shown = lambda s: f"{s * 1e3:.2f} ms" if s < 0.1 else f"{s:.3f} s"
        mib = lambda m: "—" if m is None else f"{m:.0f}"
        goal_text = "—" if goal is None else f"≤ {goal:g}×{met}"
        median_text = "—" if median is None else f"{median:.2f}×"
        runs_text = self.n if runs is None else runs
        print(f"| {name} | {runs_text} | {shown(flow_s)} | {shown(ref_s)} | **{ratio:.2f}×** | {goal_text} | {median_text} | "
              f"{mib(flow_mib)} / {mib(ref_mib)} | {load_average().split()[0]} |", flush=True)


def first_result(argv, events, env, idle):
    """One run of pipeline_100.flow (`argv` writes its events to `events`):
    (seconds from the start of `flow run` to the end of the first item's
    third stage, from the events' `ended_at`; the whole run's seconds)."""
    settle(idle)
    started = time.time()
    wall = run(argv, env)
    ends = []
    with open(events) as f:
        for line in f:
            event = json.loads(line)
            if event["event"] == "task_finished" and event["id"].endswith(".c"):
                ended = event["ended_at"].replace("Z", "+00:00")
                ends.append(datetime.datetime.fromisoformat(ended).timestamp())
    if len(ends) != 100:
        sys.exit(f"pipeline_100.flow: {len(ends)} third stages finished, not 100")
    return min(ends) - started, wall


def check_diamond(dag):
    """Exits unless the generated diamond script is the graph `dag diamond`
    runs: both compute, for each task, 1 + the sum of its parents' values
    (mod 2^64), and print the fan-in's."""
    value = {}
    with open(f"{OUT}/diamond_100k.flow") as f:
        for line in f:
            let = re.match(r"let (n\d+) = noop\((.*)\)$", line)
            if let:
                parents = re.findall(r"n\d+", let.group(2))
                value[let.group(1)] = (1 + sum(value[p] for p in parents)) % 2**64
            elif line.startswith("len(["):
                fan_in = (1 + sum(value[p] for p in re.findall(r"n\d+", line))) % 2**64
    ran = subprocess.run(dag, capture_output=True, text=True, check=True).stdout.strip()
    if ran != str(fan_in):
        sys.exit(f"diamond_100k.flow is not the graph of `{' '.join(dag)}`: {fan_in} against {ran}")


def build():
    cargo = ["cargo", "build", "--release", "--quiet"]
    subprocess.run(cargo, cwd=ROOT, check=True)
    reference = ["--manifest-path", "bench/reference/Cargo.toml", "--target-dir", os.path.join(TARGET, "reference")]
    subprocess.run(cargo + reference, cwd=ROOT, check=True)


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5, help="runs of each side per row at least, the best kept (default 5)")
    parser.add_argument("--min-time", type=float, default=MIN_TIME,
                        help=f"seconds a row keeps running pairs after its n, up to {MAX_PAIRS} (default {MIN_TIME:g}; 0: n runs)")
    parser.add_argument("--rows", default=ROWS, help=f"the rows to measure, comma-separated (default {ROWS})")
    parser.add_argument("--peers", action="store_true", help="also the peers of bench/run.sh: asyncio, make, xargs")
    parser.add_argument("--flow", help="the flow binary (default: the release build)")
    parser.add_argument("--no-build", action="store_true", help="use the binaries as built")
    parser.add_argument("--idle", action="store_true",
                        help=f"before each pair of runs, wait (up to {IDLE_WAIT} s) for a 90 %% idle second")
    args = parser.parse_args()
    if not args.no_build:
        build()
    flow = args.flow or os.path.join(TARGET, "release", "flow")
    ref = lambda name, *rest: [os.path.join(REF, name), *rest]
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen.py"), OUT], check=True)
    rows = set(args.rows.split(","))

    store = tempfile.mkdtemp(prefix="flow-ratios-")
    server = subprocess.Popen(ref("llm-server"), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    base_url = server.stdout.readline().strip()
    env = dict(os.environ, FLOW_STORE=store, FLOW_LLM_BASE_URL=base_url)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        print(f"{datetime.date.today()}, flow {commit.stdout.strip()}, {os.cpu_count()} CPUs, "
              f"load average {load_average()}\n")
        table = Table(args.n, args.min_time, env, args.idle)
        flow_run = lambda *rest: [flow, "run", "-q", *rest]
        diamond = ref("dag", "diamond", *DIAMOND)
        if rows & {"diamond", "front"}:
            check_diamond(diamond)

        if "map" in rows:
            table.compare("1,000,000-item no-op `map` + fan-in (`dag map`)",
                          flow_run(f"{OUT}/fanout_1m.flow"), ref("dag", "map", "1000000"))
        if "chain" in rows:
            table.compare("100,000-task chain, 2.5 MB script parsed (`dag chain`)",
                          flow_run(f"{OUT}/chain_100k.flow"), ref("dag", "chain", "100000"), goal=4)
        if "diamond" in rows:
            table.compare("diamond 100 × 1,000, 3.7 MB script parsed (`dag diamond`)",
                          flow_run(f"{OUT}/diamond_100k.flow"), diamond, goal=4)
        if "front" in rows:
            table.compare("front end: `flow check` of the diamond: parse, check, lower, lint (whole `dag diamond` run)",
                          [flow, "check", f"{OUT}/diamond_100k.flow"], diamond, goal=4)
            table.compare("… `flow graph --format json` of the diamond: the same, then 47 MB of JSON printed",
                          [flow, "graph", "--format", "json", f"{OUT}/diamond_100k.flow"], diamond, goal=4)
        if "spawn" in rows:
            table.compare('10,000 `sh("true")`, `--jobs 2` (`spawn 10000 2`)',
                          flow_run("--jobs", "2", f"{OUT}/sh_10k.flow"), ref("spawn", "10000", "2"), goal=1.05)
        if "floor" in rows:
            # Not flow: the spawn row's floor for one event loop, as `flow run` has (bench/README.md, the twelfth pass)
            spawn = ref("spawn", "10000", "2")
            table.compare("floor: one event loop, 2 slots, pidfds (`spawn-loop 10000 2`) against `spawn 10000 2`",
                          ref("spawn-loop", "10000", "2"), spawn, goal=1.05)
            table.compare("floor: … with `flow`'s pipes and process groups (`--pipes --groups`)",
                          ref("spawn-loop", "10000", "2", "--pipes", "--groups"), spawn, goal=1.05)
            table.compare("floor: … the same from an event loop per slot (`--threads 2`)",
                          ref("spawn-loop", "10000", "2", "--pipes", "--groups", "--threads", "2"), spawn, goal=1.05)
        if "startup" in rows:
            table.compare(f"start-up: `flow run` of one `sh(\"true\")` (`spawn 1 1`), mean of {STARTUP_REPEAT}",
                          flow_run(f"{OUT}/one_task.flow"), ref("spawn", "1", "1"), goal=1.3, repeat=STARTUP_REPEAT)
        if "pipeline" in rows:
            events = os.path.join(store, "pipeline.ndjson")
            argv = flow_run("--jobs", "4", "--events", events, f"{OUT}/pipeline_100.flow")
            runs = [first_result(argv, events, env, args.idle) for _ in range(args.n)]
            memory = peak(argv, env)
            table.row("time to first result: 100 items × 3 stages of `sleep 0.05`, `--jobs 4` (the ideal: 3 stages)",
                      min(r[0] for r in runs), 3 * STAGE, memory, None)
            table.row("… the whole pipeline (the ideal: 300 stages / 4 slots × 0.05 s)",
                      min(r[1] for r in runs), 100 * 3 * STAGE / 4, memory, None)
        if "llm" in rows:
            table.compare("LLM: 2,000 calls, 64 in flight, loopback server (`llm-client`)",
                          flow_run(f"{OUT}/llm_2k.flow"), ref("llm-client", base_url, "2000", "64"), goal=1.2)
        if args.peers:
            asyncio = [sys.executable, os.path.join(ROOT, "bench", "peers", "asyncio_orchestrator.py")]
            sh_10k = flow_run("--jobs", "2", f"{OUT}/sh_10k.flow")
            table.compare("peer: the map against the asyncio orchestrator",
                          flow_run(f"{OUT}/fanout_1m.flow"), asyncio + ["fanout", "1000000"])
            table.compare("peer: the chain against the asyncio orchestrator",
                          flow_run(f"{OUT}/chain_100k.flow"), asyncio + ["chain", "100000"])
            table.compare("peer: 10,000 `true` against `make -j2`",
                          sh_10k, ["make", "-s", "-j2", "-f", f"{OUT}/Makefile"], goal=1)
            table.compare("peer: 10,000 `true` against `xargs -P2 sh -c true`",
                          sh_10k, ["sh", "-c", "seq 10000 | xargs -P2 -n1 sh -c true"], goal=1)
        print(f"\nload average after: {load_average()}")
    finally:
        server.stdin.close()
        server.wait()
        shutil.rmtree(store, ignore_errors=True)


main()
