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

# A diamond: 100 levels of 1,000 tasks, each past the first level reading
# two distinct tasks of the level above drawn at random (seeded), then a
# fan-in over the last level: 3.7 MB (`noop` takes one positional argument,
# so the second parent is named). bench/reference/src/shapes.rs builds the
# same graph from the same parameters: keep `diamond_parents` in step.
DIAMOND = (100, 1000, 18)  # levels, width, seed


def splitmix64(state):
    """The splitmix64 sequence from `state`, as shapes.rs draws it."""
    mask = (1 << 64) - 1
    while True:
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        yield z ^ (z >> 31)


def diamond_parents(levels, width, seed):
    """(task, first parent, second parent) for every task past level 0."""
    draw = splitmix64(seed)
    for task in range(width, levels * width):
        above = (task // width - 1) * width
        a = next(draw) % width
        b = (a + 1 + next(draw) % (width - 1)) % width
        yield task, above + a, above + b


levels, width, seed = DIAMOND
lines = [f"let n{i} = noop()" for i in range(width)]
lines += [f"let n{t} = noop(n{a}, b: n{b})" for t, a, b in diamond_parents(levels, width, seed)]
last = ", ".join(f"n{t}" for t in range((levels - 1) * width, levels * width))
lines.append(f"len([{last}])")
write("diamond_100k.flow", "\n".join(lines) + "\n")

# 2,000 model calls, 64 in flight, to the loopback server of
# bench/reference (FLOW_LLM_BASE_URL points the agent at it).
write(
    "llm_2k.flow",
    'agent Model = llm(model: "bench") limit 64\n'
    'let replies = map i in range(2000) { Model("Say hi ${i}") }\n'
    "len(replies)\n",
)

# Time to first result: 100 items through three 50 ms stages, under a slot
# cap (`--jobs 4`). Item 0 could be done after three stages (0.15 s).
write(
    "pipeline_100.flow",
    "let results = map _ in range(100) {\n"
    '  let a = sh("sleep 0.05")\n'
    '  let b = sh("sleep 0.05") after a\n'
    '  let c = sh("sleep 0.05") after b\n'
    "  c\n"
    "}\n"
    "len(results)\n",
)

# make and xargs peers for the shell tasks.
with open(os.path.join(out, "Makefile"), "w") as f:
    targets = " ".join(f"t{i}" for i in range(10000))
    f.write(f".PHONY: all {targets}\nall: {targets}\n")
    for i in range(10000):
        f.write(f"t{i}:\n\t@true\n")
