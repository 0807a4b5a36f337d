#!/usr/bin/env python3
"""The two `sh` spawners side by side: 10,000 `sh("true")` at `--jobs 2`.

Usage (from the project root; see bench/README.md, "Which spawner"):

    cargo build --release && cp target/release/flow /tmp/flow-clone
    cargo build --release --no-default-features --features cli \
        && cp target/release/flow /tmp/flow-tokio
    python3 bench/gen.py target/bench
    python3 bench/spawners.py PAIRS /tmp/flow-clone /tmp/flow-tokio [LOG]

Runs the two builds alternately (the order swapped at every pair), each pair
only once the machine has been at least 90 % idle for a second. Every run
records its wall time, its CPU time (the commands' included) and the CPU the
whole machine used meanwhile (from /proc/stat): a run during which the rest
of the machine used 0.3 CPU-seconds or more counts as disturbed and is left
out. Prints the best and median of the undisturbed runs and the ratio within
each undisturbed pair.
"""
import os
import re
import statistics
import subprocess
import sys
import time

SCRIPT = "target/bench/sh_10k.flow"
DISTURBED = 0.3  # CPU-seconds used by other processes during a run
HZ = os.sysconf("SC_CLK_TCK")


def busy_idle():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, idle


def idle_fraction(seconds=1.0):
    b0, i0 = busy_idle()
    time.sleep(seconds)
    b1, i1 = busy_idle()
    total = (b1 - b0) + (i1 - i0)
    return (i1 - i0) / total if total else 0.0


def run(binary):
    b0, _ = busy_idle()
    start = time.monotonic()
    child = subprocess.Popen(
        [binary, "run", "-q", "--jobs", "2", SCRIPT], stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(child.pid, 0)  # includes the commands it reaped
    wall = time.monotonic() - start
    b1, _ = busy_idle()
    if status != 0:
        sys.exit(f"{binary} failed ({status})")
    return wall, usage.ru_utime + usage.ru_stime, (b1 - b0) / HZ


def main():
    pairs, clone, tokio = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    log = open(sys.argv[4], "a") if len(sys.argv) > 4 else None
    binaries = {"clone": clone, "tokio": tokio}
    rows = []
    while len(rows) < 2 * pairs:
        if idle_fraction() < 0.9:
            time.sleep(4)
            continue
        pair = len(rows) // 2 + 1
        for name in ("clone", "tokio") if pair % 2 else ("tokio", "clone"):
            wall, cpu, machine = run(binaries[name])
            rows.append((pair, name, wall, cpu, machine - cpu))
            line = f"{pair} {name} wall={wall:.3f} cpu={cpu:.3f} others={machine - cpu:.2f}"
            print(line, flush=True)
            if log:
                print(line, file=log, flush=True)
    clean = [r for r in rows if r[4] < DISTURBED]
    for name in ("clone", "tokio"):
        walls = sorted(r[2] for r in clean if r[1] == name)
        cpus = sorted(r[3] for r in clean if r[1] == name)
        if walls:
            print(
                f"{name}: {len(walls)} undisturbed runs, wall best {walls[0]:.2f} s,"
                f" median {statistics.median(walls):.2f} s;"
                f" CPU median {statistics.median(cpus):.2f} s"
            )
    ratios = []
    for pair in range(1, pairs + 1):
        both = {r[1]: r for r in clean if r[0] == pair}
        if len(both) == 2:
            ratios.append(both["tokio"][2] / both["clone"][2])
    if ratios:
        print(
            f"tokio/clone wall time within {len(ratios)} undisturbed pairs:"
            f" median {statistics.median(ratios):.3f},"
            f" range {min(ratios):.3f}-{max(ratios):.3f}"
        )


if __name__ == "__main__":
    if len(sys.argv) < 4 or not re.fullmatch(r"\d+", sys.argv[1]):
        sys.exit(__doc__)
    main()
