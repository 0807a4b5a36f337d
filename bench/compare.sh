#!/usr/bin/env bash
# Compares two flow binaries side by side on the workloads of bench/run.sh:
# runs alternate (A, B, A, B, …), the best of N of each is kept, and each
# line gives both and their ratio (B / A: below 1.00 means B is faster).
#
# Usage: bench/compare.sh OLD_FLOW NEW_FLOW [N]     (from the project root)
# e.g.   git worktree add /tmp/base main~5 && (cd /tmp/base && cargo build --release)
#        bench/compare.sh /tmp/base/target/release/flow target/release/flow 5
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 b=$2 n=${3:-5}
out=target/bench
mkdir -p "$out"
# A flow with a run store records into a throwaway one, not the project's.
export FLOW_STORE=$(mktemp -d)
trap 'rm -rf "$FLOW_STORE"' EXIT
python3 bench/gen.py "$out"

# Seconds of one run of a command, or "fail".
one() {
  local start end
  start=$(date +%s%N)
  "$@" > /dev/null 2>&1 || { echo fail; return; }
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.4f", ns / 1e9 }'
}

best() { awk 'BEGIN { m = "" } $1 != "fail" && (m == "" || $1 < m) { m = $1 } END { print (m == "" ? "fail" : m) }'; }

compare() { # name, repeat, args...
  local name=$1 repeat=$2; shift 2
  local ta="" tb=""
  for _ in $(seq "$n"); do
    ta+="$(for _ in $(seq "$repeat"); do one "$a" "$@"; echo; done | awk '{ s += $1 } END { printf "%.4f", s }')"$'\n'
    tb+="$(for _ in $(seq "$repeat"); do one "$b" "$@"; echo; done | awk '{ s += $1 } END { printf "%.4f", s }')"$'\n'
  done
  local ba bb
  ba=$(printf '%s' "$ta" | best) bb=$(printf '%s' "$tb" | best)
  awk -v name="$name" -v a="$ba" -v b="$bb" -v r="$repeat" 'BEGIN {
    printf "%-40s %9.4f s %9.4f s   %5.3fx\n", name, a / r, b / r, b / a }'
}

printf '%-40s %11s %11s %8s\n' "workload (best of $n, alternating)" "A" "B" "B/A"
compare "1,000,000-item map + fan-in" 1 run -q "$out/fanout_1m.flow"
compare "100,000-task chain (parse included)" 1 run -q "$out/chain_100k.flow"
compare "10,000 sh(\"true\"), --jobs 2" 1 run -q --jobs 2 "$out/sh_10k.flow"
compare "start-up, one sh task (x20)" 20 run -q "$out/one_task.flow"
