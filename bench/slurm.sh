#!/usr/bin/env bash
# 1,000 trivial tasks through Slurm: `flow run --executor slurm` (a map: job
# arrays) against one `sbatch` per task in a shell loop (then waiting until
# the queue has none of them left), alternating, best of N, as a ratio.
#
# Usage: bench/slurm.sh [FLOW] [N] [TASKS]     (from the project root; needs
#        a cluster: `sudo ci/slurm.sh` starts a single-node one on loopback)
set -euo pipefail
cd "$(dirname "$0")/.."
flow=${1:-target/release/flow} n=${2:-3} tasks=${3:-1000}
[ -x "$flow" ] || cargo build --release --quiet
sinfo -h >/dev/null || { echo "no Slurm cluster answers (sudo ci/slurm.sh)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export FLOW_STORE="$out/store"
printf 'let done = map _ in range(%d) { sh("true") }\nlen(done)\n' "$tasks" > "$out/trivial.flow"
# An `sbatch` on PATH that notes when each call returned: the time until the
# last task is queued, and the number of calls.
mkdir -p "$out/bin"
real=$(command -v sbatch)
printf '#!/bin/sh\n%s "$@"; s=$?\ndate +%%s%%N >> "%s/sbatch.log"\nexit $s\n' "$real" "$out" > "$out/bin/sbatch"
chmod +x "$out/bin/sbatch"
export PATH="$out/bin:$PATH"

now() { date +%s%N; }

# Prints "total queued calls": nanoseconds to the end, to the last sbatch, and sbatch calls.
report() { # start
  local end; end=$(now)
  echo "$(( end - $1 )) $(( $(tail -1 "$out/sbatch.log") - $1 )) $(wc -l < "$out/sbatch.log")"
  rm -f "$out/sbatch.log"
}

flow_once() {
  local start; start=$(now)
  "$flow" run -q --executor slurm --work-dir "$out/work" "$out/trivial.flow" > /dev/null
  report "$start"
}

# One sbatch per task, as a shell loop would submit them; done when none of
# them is pending or running.
loop_once() {
  local start name="bench-loop-$$-$RANDOM"
  start=$(now)
  for i in $(seq "$tasks"); do
    sbatch --parsable --job-name="$name" --output=/dev/null --wrap true > /dev/null
  done
  while [ -n "$(squeue -h -n "$name" -t pending,running,completing -o %i | head -1)" ]; do
    sleep 0.1
  done
  report "$start"
}

f="" l=""
for _ in $(seq "$n"); do
  f+="$(flow_once)"$'\n'
  l+="$(loop_once)"$'\n'
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s' "$f" > "$out/flow.txt"; printf '%s' "$l" > "$out/loop.txt"
# Best of N of each column, then the table.
col() { awk -v c="$2" '{ print $c }' "$1" | sort -n | head -1; }
awk -v t="$tasks" -v n="$n" \
    -v ft="$(col "$out/flow.txt" 1)" -v lt="$(col "$out/loop.txt" 1)" \
    -v fq="$(col "$out/flow.txt" 2)" -v lq="$(col "$out/loop.txt" 2)" \
    -v fc="$(col "$out/flow.txt" 3)" -v lc="$(col "$out/loop.txt" 3)" 'BEGIN {
  printf "%d trivial tasks on Slurm (best of %d, alternating)   flow (arrays)   sbatch loop    ratio\n", t, n
  printf "  until every task ran                              %9.2f s   %9.2f s   %6.3fx\n", ft / 1e9, lt / 1e9, ft / lt
  printf "  until every task was queued                       %9.2f s   %9.2f s   %6.3fx\n", fq / 1e9, lq / 1e9, fq / lq
  printf "  sbatch calls                                      %9d     %9d     %6.3fx\n", fc, lc, fc / lc
}'
