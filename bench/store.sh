#!/usr/bin/env bash
# The run store's overhead: one flow binary run with the store (one store,
# made by a first run and then growing with every run, as in real use) and
# with --no-store, alternating; the best of N of each, and their ratio
# (store / no store).
#
# Usage: bench/store.sh [FLOW] [N]     (from the project root; FLOW defaults
#        to target/release/flow)
set -euo pipefail
cd "$(dirname "$0")/.."
flow=${1:-target/release/flow} n=${2:-5}
out=target/bench
mkdir -p "$out"
python3 bench/gen.py "$out"
store=$(mktemp -d)
trap 'rm -rf "$store"' EXIT

one() { # seconds of one run, or "fail"
  local start end
  start=$(date +%s%N)
  "$@" > /dev/null 2>&1 || { echo fail; return; }
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.4f", ns / 1e9 }'
}

best() { awk 'BEGIN { m = "" } $1 != "fail" && (m == "" || $1 < m) { m = $1 } END { print (m == "" ? "fail" : m) }'; }

compare() { # name, repeat, args...
  local name=$1 repeat=$2; shift 2
  local with="" without=""
  for _ in $(seq "$n"); do
    with+="$(for _ in $(seq "$repeat"); do one "$flow" run -q --store "$store/s" "$@"; echo; done | awk '{ s += $1 } END { printf "%.4f", s }')"$'\n'
    without+="$(for _ in $(seq "$repeat"); do one "$flow" run -q --no-store "$@"; echo; done | awk '{ s += $1 } END { printf "%.4f", s }')"$'\n'
  done
  local a b
  a=$(printf '%s' "$without" | best) b=$(printf '%s' "$with" | best)
  awk -v name="$name" -v a="$a" -v b="$b" -v r="$repeat" 'BEGIN {
    printf "%-40s %9.4f s %9.4f s   %5.3fx\n", name, a / r, b / r, b / a }'
}

"$flow" run -q --store "$store/s" "$out/one_task.flow" > /dev/null
printf '%-40s %11s %11s %8s\n' "workload (best of $n, alternating)" "no store" "store" "ratio"
compare "10,000 sh(\"true\"), --jobs 2" 1 --jobs 2 "$out/sh_10k.flow"
compare "1,000,000-item map + fan-in" 1 "$out/fanout_1m.flow"
compare "100,000-task chain (parse included)" 1 "$out/chain_100k.flow"
compare "start-up, one sh task (x20)" 20 "$out/one_task.flow"
