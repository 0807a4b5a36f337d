#!/usr/bin/env python3
"""Generates the benchmark scripts: python3 bench/gen.py OUT_DIR"""
import os
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "target/bench"
os.makedirs(out, exist_ok=True)


def write(name, text):
    with open(os.path.join(out, name), "w") as f:
        f.write(text)


# 1,000,000 no-op tasks in a map, then a fan-in over their results.
write("fanout_1m.flow", "let results = map _ in range(1000000) { noop() }\nlen(results)\n")

# 1,000,000 waits, zero and one millisecond long (bench/memory.sh).
write("sleep0_1m.flow", "let results = map _ in range(1000000) { sleep(0s) }\nlen(results)\n")
write("sleep1ms_1m.flow", "let results = map _ in range(1000000) { sleep(1ms) }\nlen(results)\n")

# A chain of 100,000 tasks, each reading the previous one's output.
lines = ["let t0 = noop()"]
lines += [f"let t{i} = noop(t{i - 1})" for i in range(1, 100_000)]
lines.append("len(keys({ last: t99999 }))")
write("chain_100k.flow", "\n".join(lines) + "\n")

# 10,000 independent shell tasks.
write("sh_10k.flow", 'let done = map _ in range(10000) { sh("true") }\nlen(done)\n')

# One task: start-up cost.
write("one_task.flow", 'sh("true")\n')

# make and xargs peers for the shell tasks.
with open(os.path.join(out, "Makefile"), "w") as f:
    targets = " ".join(f"t{i}" for i in range(10000))
    f.write(f".PHONY: all {targets}\nall: {targets}\n")
    for i in range(10000):
        f.write(f"t{i}:\n\t@true\n")
