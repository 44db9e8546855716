#!/usr/bin/env bash
# Per-run overhead of mpf on the local machine (BENCH_TMP=/dev/shm puts the result sets on
# tmpfs, to separate mpf's own cost from the file system's): a 300-run sweep of `true`, against a bare
# shell loop of `sh -c true` in the same session. Prints the median of REPS repetitions
# of each and their ratio. Usage: bench/overhead.sh [path/to/mpf] (default: release build).
set -euo pipefail
MPF=${1:-$(dirname "$0")/../target/release/mpf}
RUNS=${RUNS:-300}
REPS=${REPS:-5}
work=$(mktemp -d ${BENCH_TMP:+-p "$BENCH_TMP"})
trap 'rm -rf "$work"' EXIT
cat > "$work/true.yaml" <<YAML
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
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bare=() mpf=()
# Result sets are kept until the end: deleting thousands of files between repetitions makes
# the file system slower for the next one (the mount may use discard).
for i in $(seq "$REPS"); do
  s=$(now); for _ in $(seq "$RUNS"); do sh -c true; done; e=$(now)
  bare+=($(( (e - s) / RUNS )))
  s=$(now); "$MPF" run "$work/true.yaml" --quiet --no-plot --results "$work/r$i" 2>/dev/null; e=$(now)
  mpf+=($(( (e - s) / RUNS )))
done
b=$(printf '%s\n' "${bare[@]}" | median)
m=$(printf '%s\n' "${mpf[@]}" | median)
awk -v b="$b" -v m="$m" -v n="$RUNS" 'BEGIN {
  printf "bare loop (sh -c true): %.3f ms/run\n", b / 1e6
  printf "mpf run (%d runs of true): %.3f ms/run (whole command, incl. start-up, facts, fsync per run)\n", n, m / 1e6
  printf "ratio mpf / bare: %.2fx\n", m / b
}'
