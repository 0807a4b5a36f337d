#!/usr/bin/env python3
"""Deep and big scripts: how `flow check` (and `flow run`) time grows with
the script. Each workload runs at N and at 4N; a linear pass takes about 4x
as long at 4N, a quadratic one 16x.

Usage: python3 bench/scale.py [FLOW] [REPEAT]   (from the project root;
FLOW defaults to target/release/flow, REPEAT, the runs kept best of, to 3)
"""

import os
import subprocess
import sys
import time


def else_if(n):
    arms = "".join(f"else if x == {i} {{ {i} }}\n" for i in range(1, n))
    return f"param x = {n - 1}\nlet r = if x == 0 {{ 0 }}\n{arms}else {{ -1 }}\nr\n"


def nested(wrap):
    def make(n):
        lines = ["flow f0(x) { x }"]
        for i in range(1, n):
            call = f"f{i - 1}(x)"
            body = {
                "if": f"if x > 0 {{ {call} }} else {{ 0 }}",
                "try": f"try {{ {call} }} else {{ 0 }}",
                "map": f"map y in [x] {{ f{i - 1}(y) }}",
            }.get(wrap, call)
            lines.append(f"flow f{i}(x) {{ {body} }}")
        lines.append(f"f{n - 1}(1)")
        return "\n".join(lines) + "\n"

    return make


def calls(callee):
    def make(n):
        one = {
            "echo": lambda i: f'echo("a{i}")',
            "agent": lambda i: f'F("{i}")',
            "sh": lambda i: f'sh("echo {i}")',
        }[callee]
        agent = 'agent F = llm(model: "m")\n' if callee == "agent" else ""
        return agent + "let xs = [" + ", ".join(one(i) for i in range(n)) + "]\nxs\n"

    return make


def unused(n):
    return "let t = {\n" + "".join(f"  let a{i} = {i}\n" for i in range(n)) + "  0\n}\nt\n"


def constant(n):
    return "".join(f"let c{i} = if true {{ 1 }} else {{ 2 }}\n" for i in range(n))


def unknown(n):
    return "".join(f"let a{i} = nope{i}\n" for i in range(n))


# name, script maker, N, commands
WORKLOADS = [
    ("else if chain", else_if, 6_000, ["check", "run", "graph"]),
    ("nested sub-flow calls", nested("plain"), 3_500, ["check", "run"]),
    ("nested calls in if", nested("if"), 3_500, ["check", "run"]),
    ("nested calls in try", nested("try"), 3_500, ["check", "run"]),
    ("nested calls in map", nested("map"), 875, ["check", "run"]),
    ("list of echo calls", calls("echo"), 5_000, ["check"]),
    ("list of agent calls", calls("agent"), 5_000, ["check"]),
    ("list of sh calls", calls("sh"), 5_000, ["check"]),
    ("unused bindings (warnings)", unused, 5_000, ["check"]),
    ("constant conditions (warnings)", constant, 5_000, ["check"]),
    ("unknown names (errors)", unknown, 25_000, ["check"]),
]


def best(flow, command, path, repeat):
    args = [flow, command] + (["--no-store"] if command == "run" else []) + [path]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
        if done.returncode < 0:
            return None  # killed by a signal: a stack overflow is SIGABRT
    return min(times)


def main():
    flow = sys.argv[1] if len(sys.argv) > 1 else "target/release/flow"
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    out = "target/bench/scale"
    os.makedirs(out, exist_ok=True)
    print(f"{'workload':32} {'command':7} {'N':>7} {'s':>7} {'4N':>7} {'s':>7} {'4N/N':>6}")
    for name, make, n, commands in WORKLOADS:
        paths = []
        for size in (n, 4 * n):
            path = os.path.join(out, f"{make.__name__}-{name.split()[0]}-{size}.flow")
            with open(path, "w") as f:
                f.write(make(size))
            paths.append(path)
        for command in commands:
            small, big = (best(flow, command, p, repeat) for p in paths)
            show = lambda t: "crash" if t is None else f"{t:.3f}"
            ratio = "" if small is None or big is None else f"{big / small:.1f}"
            print(f"{name:32} {command:7} {n:>7} {show(small):>7} {4 * n:>7} {show(big):>7} {ratio:>6}")


if __name__ == "__main__":
    main()
