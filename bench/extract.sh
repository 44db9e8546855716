#!/usr/bin/env bash
# `mpf extract` against the runs it re-reads: a RUNS-run set (10,000 by default) whose step
# prints a line and writes a JSON file with a 100-sample series, extracted by a regex and by a
# JSON path with statistics. Times `mpf run` (the runs), then `mpf extract -f` with an edited
# experiment file (every run's stdout and file read again, a new journal generation, CSV and
# manifest written), and prints both and their ratio, which must stay below 0.1.
# Usage: bench/extract.sh [path/to/mpf] (default: release build). BENCH_TMP=/dev/shm puts the
# set on tmpfs.
set -euo pipefail
MPF=${1:-$(dirname "$0")/../target/release/mpf}
RUNS=${RUNS:-10000}
work=$(mktemp -d ${BENCH_TMP:+-p "$BENCH_TMP"})
trap 'rm -rf "$work"' EXIT
experiment() {
  cat <<YAML
name: extract-bench
runs: 1
order: sequential
variables:
  i: {range: [1, $RUNS]}
steps:
  - name: work
    run: |
      echo "requests/s: {{ i }}.5k"
      awk 'BEGIN { printf "{\"lat\": [" ; for (k = 0; k < 100; k++) printf "%s%d", (k ? "," : ""), k * {{ i }} % 997 ; print "]}" }' > {{ run_dir }}/r.json
    results:
      rps: {regex: '^requests/s: (\S+)$'}
      lat: {file: r.json, json: lat, in: us, unit: s, $1}
YAML
}
experiment "stats: [p50, p99]" > "$work/exp.yaml"
experiment "warmup: auto, stats: [mean, p50, p99, p99.9, max]" > "$work/edited.yaml"

now() { date +%s%N; }
s=$(now)
"$MPF" run "$work/exp.yaml" --quiet --no-plot --results "$work/r" 2>/dev/null
e=$(now)
run_ns=$((e - s))
s=$(now)
"$MPF" extract latest -f "$work/edited.yaml" --results "$work/r"
e=$(now)
extract_ns=$((e - s))
awk -v r="$run_ns" -v x="$extract_ns" -v n="$RUNS" 'BEGIN {
  printf "mpf run, %d runs: %.1f s\n", n, r / 1e9
  printf "mpf extract of the same %d runs: %.2f s\n", n, x / 1e9
  printf "ratio extract / run: %.4f (must be < 0.1)\n", x / r
  exit (x / r < 0.1 ? 0 : 1)
}'
