#!/usr/bin/env bash
# Peak memory (and wall time) of two flow binaries side by side on runs of a
# million tasks: runs alternate (A, B, A, B, …), N of each; each line gives
# the highest peak of A and of B and their ratio (B / A), then the best wall
# times and theirs. Needs GNU time (/usr/bin/time; Debian: apt-get install time).
#
# Usage: bench/memory.sh OLD_FLOW NEW_FLOW [N]     (from the project root)
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 b=$2 n=${3:-3}
out=target/bench
mkdir -p "$out"
export FLOW_STORE=$(mktemp -d)
trap 'rm -rf "$FLOW_STORE"' EXIT
python3 bench/gen.py "$out"

one() { # "seconds KiB" of one run, or "fail"
  /usr/bin/time -f "%e %M" -o "$out/time.txt" "$@" > /dev/null 2>&1 || { echo fail; return; }
  cat "$out/time.txt"
}

compare() { # name, args...
  local name=$1; shift
  local ra="" rb=""
  for _ in $(seq "$n"); do
    ra+="$(one "$a" "$@")"$'\n'
    rb+="$(one "$b" "$@")"$'\n'
  done
  printf '%s' "$ra" > "$out/a.txt"
  printf '%s' "$rb" > "$out/b.txt"
  awk -v name="$name" '
    FNR == 1 { f++ }
    $1 != "fail" { if ($2 > peak[f]) peak[f] = $2; if (!(f in t) || $1 < t[f]) t[f] = $1 }
    END { printf "%-34s %7.0f MiB %7.0f MiB %7.3fx %8.2f s %7.2f s %7.3fx\n",
            name, peak[1] / 1024, peak[2] / 1024, peak[2] / peak[1], t[1], t[2], t[2] / t[1] }' \
    "$out/a.txt" "$out/b.txt"
}

printf '%-34s %11s %11s %8s %10s %9s %8s\n' "1,000,000 items (peak: max of $n)" "A peak" "B peak" "B/A" "A best" "B best" "B/A"
compare "map of noop()" run -q --no-store "$out/fanout_1m.flow"
compare "map of sleep(0s)" run -q --no-store "$out/sleep0_1m.flow"
compare "map of noop(), --json" run -q --no-store --json "$out/fanout_1m.flow"
compare "map of sleep(0s), --json, store" run -q --json "$out/sleep0_1m.flow"
compare "map of sleep(1ms)" run -q --no-store "$out/sleep1ms_1m.flow"
compare "map of sleep(1ms), store" run -q "$out/sleep1ms_1m.flow"
