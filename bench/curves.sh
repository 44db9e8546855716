#!/usr/bin/env bash
# The curves of docs/performance.md ("Cost against the size of the work"), measured and drawn
# by mpf itself: bench/curves/run-memory.yaml (peak RSS of `mpf run` at 1k, 10k and 100k runs,
# as N points of one run and as 100 points of N/100 runs) and bench/curves/readers.yaml (time
# and peak RSS of the readers on sets of 1k, 10k and 100k points), each an experiment whose
# runs measure one command; then `mpf plot` of each on log axes (the sizes are a `factor:`
# range, so x is logarithmic; `y_scale: log` in the files, `--log-y` here) into docs/img/.
# Usage: bench/curves.sh [path/to/mpf] (default: release build). Takes 15 to 25 minutes, most
# of it the two `mpf run`s of 100,000 runs.
# ONLY=run-memory or ONLY=readers draws one of the two.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export MPF_BIN BENCH=$here
MPF_BIN=$(realpath "${1:-$here/../target/release/mpf}")
out=$here/../docs/img
work=$(mktemp -d ${BENCH_TMP:+-p "$BENCH_TMP"})
trap 'rm -rf "$work"' EXIT
export BENCH_SETS=$work/sets
for name in run-memory readers; do
  [ -n "${ONLY:-}" ] && [ "$ONLY" != "$name" ] && continue
  "$MPF_BIN" run "$here/curves/$name.yaml" --quiet --no-plot --results "$work/r"
  "$MPF_BIN" show latest --results "$work/r"
  "$MPF_BIN" plot latest --results "$work/r" --y rss --log-y -o "$out/$name-rss.png"
  # Readers: CPU time (a loaded machine changes it far less than wall time); runs: wall time.
  time_result=seconds
  [ "$name" = readers ] && time_result=cpu
  "$MPF_BIN" plot latest --results "$work/r" --y $time_result --log-y -o "$out/$name-$time_result.png"
  # The figures themselves, for the doc's tables.
  "$MPF_BIN" export latest --results "$work/r" --format csv > "$out/$name.csv"
done
