#!/usr/bin/env bash
# Compares builds of mpf on the local per-run cost, interleaved: each of N repetitions times the
# issue's Python loop (300 `sh -c true` from subprocess.run, timed inside the script), then
# each build's whole `mpf run --quiet --no-plot` of a 300-run sweep of `true`, and takes the
# ratio of each build to that repetition's Python loop; it prints each build's median ratio
# with its quartiles. Machine noise moves both sides of a repetition together, so the ratios
# vary less than the times.
# Usage: N=15 BENCH_TMP=DIR bench/overhead-ab.sh MPF [MPF...]. The result sets are kept until
# the end (ext4 without a journal scans the inodes deleted in the last minutes for each new
# directory, so deleting between builds would measure the deletions), then deleted.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bench/overhead-ab.sh MPF [MPF...]" >&2; exit 2; }
N=${N:-15}
RUNS=${RUNS:-300}
work=$(mktemp -d ${BENCH_TMP:+-p "$BENCH_TMP"})
trap 'rm -rf "$work"' EXIT
cat > "$work/t.yaml" <<YAML
name: overhead
runs: 1
order: sequential
variables:
  i: {range: [1, $RUNS]}
steps:
  - name: t
    run: "true"
YAML
now() { date +%s%N; }
for k in $(seq "$#"); do : > "$work/ratios$k"; done
for i in $(seq "$N"); do
  p=$(python3 -c 'import subprocess, sys, time
n = int(sys.argv[1]); s = time.perf_counter_ns()
for _ in range(n): subprocess.run(["sh", "-c", "true"])
print((time.perf_counter_ns() - s) // n)' "$RUNS")
  k=0
  for b in "$@"; do
    k=$((k + 1))
    s=$(now); "$b" run "$work/t.yaml" --quiet --no-plot --results "$work/r$i-$k" 2>/dev/null; e=$(now)
    awk -v m=$(( (e - s) / RUNS )) -v p="$p" 'BEGIN { printf "%.4f\n", m / p }' >> "$work/ratios$k"
  done
done
k=0
for b in "$@"; do
  k=$((k + 1))
  sort -n "$work/ratios$k" | awk -v b="$b" '{a[NR] = $1} END {
    printf "%s: whole command / Python loop, median %.3fx (quartiles %.3f-%.3f, %d repetitions)\n",
      b, a[int((NR + 1) / 2)], a[int((NR + 3) / 4)], a[int((3 * NR + 1) / 4)], NR }'
done
