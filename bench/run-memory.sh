#!/usr/bin/env bash
# Peak memory of `mpf run` against the number of runs (SPEC §15): a sweep of one variable
# over N points, one run each, of a step printing one result, run locally with --quiet, for
# each N of SIZES (default "1000 10000 100000"). Prints peak RSS per N and the growth per run
# between the smallest and the largest N. PLOT=1 also draws the graphs at the end (the
# default measures --no-plot: the session's own memory). Usage: bench/run-memory.sh
# [path/to/mpf] (default: release build).
# SHAPE=repeat: 100 points of N/100 runs each instead of N points of one run (what grows is
# then the runs only, not the plan and the manifest's values). FORMAT=mpf prints each size's
# figures as `rss=BYTES seconds=S` lines (bench/curves/run-memory.yaml reads them).
# QUICK=1 (what .ci/run does, with the debug build): SIZES="300 3000" of the sweep (N points
# of one run: what grows is the plan, the variable's values and the kept runs), and it fails
# (exit 1) when memory grows by more than MAX_KB_PER_RUN (default 0.4) kB per run: measured
# 0.02-0.20 kB (five runs, loaded machine) since the kept runs are keyed by the plan's point
# and a range is parsed compactly: the heap grows by about 0.06 kB a run, the rest is RSS
# noise over only 2,700 runs, so the limit stays where it was; 0.22 kB before that, 0.50 kB
# before the compact values (src/values.rs), 2 kB with a whole record a run.
# Peak RSS is printed in MiB (2^20 bytes) and MB (10^6 bytes, SPEC §15's unit).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MPF=$(realpath "${1:-$here/../target/release/mpf}")
if [ -n "${QUICK:-}" ]; then
  SIZES=${SIZES:-300 3000}
fi
SIZES=${SIZES:-1000 10000 100000}
MAX_KB_PER_RUN=${MAX_KB_PER_RUN:-0.4}
work=$(mktemp -d ${BENCH_TMP:+-p "$BENCH_TMP"})
trap 'rm -rf "$work"' EXIT
plot=--no-plot
[ -n "${PLOT:-}" ] && plot=
first_n='' first_kb='' last_n='' last_kb=''
for n in $SIZES; do
  if [ "${SHAPE:-sweep}" = repeat ]; then
    points=100 runs=$(( (n + 99) / 100 ))
  else
    points=$n runs=1
  fi
  cat > "$work/e$n.yaml" <<YAML
name: mem
runs: $runs
order: sequential
variables:
  i: {range: [1, $points]}
steps:
  - name: t
    run: "echo mpf-result lat 1"
YAML
  read -r s kb rc _ < <(python3 "$here/measure.py" "$MPF" run "$work/e$n.yaml" --quiet $plot --results "$work/r$n")
  if [ "$rc" -ne 0 ]; then echo "mpf run of $n runs exited $rc" >&2; exit 1; fi
  if [ "${FORMAT:-}" = mpf ]; then
    echo "rss=$((kb * 1024)) seconds=$s"
  else
    printf 'mpf run, %7d runs: peak RSS %6.1f MiB (%.1f MB), %.1f s\n' "$n" \
      "$(awk -v k="$kb" 'BEGIN { print k / 1024 }')" "$(awk -v k="$kb" 'BEGIN { print k * 1.024 / 1000 }')" "$s"
  fi
  first_n=${first_n:-$n} first_kb=${first_kb:-$kb} last_n=$n last_kb=$kb
  rm -rf "$work/r$n"
done
per=$(awk -v a="$first_kb" -v b="$last_kb" -v m="$first_n" -v n="$last_n" 'BEGIN { printf "%.2f", (b - a) / (n > m ? n - m : 1) }')
[ "${FORMAT:-}" = mpf ] || echo "growth: $per kB per run (from $first_n to $last_n runs)"
if [ -n "${QUICK:-}" ] && awk -v p="$per" -v m="$MAX_KB_PER_RUN" 'BEGIN { exit !(p > m) }'; then
  echo "mpf run's memory grows by more than $MAX_KB_PER_RUN kB per run: a regression" >&2
  exit 1
fi
