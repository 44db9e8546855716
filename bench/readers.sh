#!/usr/bin/env bash
# Time and peak memory of the readers (SPEC §15) on synthetic sets of N points of one run
# each (bench/genset.py: a sweep of `x` with two results), and the size of their HTML report.
# Usage: bench/readers.sh [path/to/mpf] (default: release build); SIZES="10000 100000" by
# default. For each reader it prints seconds and peak RSS at each size and the time ratio
# between the largest and the smallest size: a linear reader takes about the ratio of the
# sizes (10x from 10k to 100k), a quadratic one its square.
# QUICK=1 (what .ci/run does, with the debug build): SIZES="10000 40000", and it fails (exit 1)
# when a reader's 40k/10k time ratio is above MAX_RATIO (default 8: linear is 4, quadratic 16),
# or a report is 10 MB or more.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MPF=$(realpath "${1:-$here/../target/release/mpf}")
if [ -n "${QUICK:-}" ]; then
  SIZES=${SIZES:-10000 40000}
fi
SIZES=${SIZES:-10000 100000}
MAX_RATIO=${MAX_RATIO:-8}
work=$(mktemp -d ${BENCH_TMP:+-p "$BENCH_TMP"})
trap 'rm -rf "$work"' EXIT
for n in $SIZES; do
  python3 "$here/genset.py" "$work/r" "$n" big > /dev/null
  python3 "$here/genset.py" "$work/r" "$n" bigb > /dev/null
done
set_of() { echo "$work/r/$1-20260101T000000Z-$2"; }
readers=(ls show show-summary export-csv export-json export-parquet plot report compare)
command_of() { # reader, size
  local a b
  a=$(set_of big "$2") b=$(set_of bigb "$2")
  case $1 in
    ls) echo "ls $work/r" ;;
    show) echo "show $a" ;;
    show-summary) echo "show $a --summary" ;;
    export-csv) echo "export $a --format csv" ;;
    export-json) echo "export $a --format json" ;;
    export-parquet) echo "export $a --format parquet -o $work/x.parquet" ;;
    plot) echo "plot $a -o $work/p.png" ;;
    report) echo "report $a -o $work/report-$2.html" ;;
    compare) echo "compare $b $a" ;;
  esac
}
fail=0
printf '%-16s' reader
for n in $SIZES; do printf '%20s' "N=$n"; done
printf '%10s\n' ratio
for rd in "${readers[@]}"; do
  printf '%-16s' "$rd"
  first='' last=''
  for n in $SIZES; do
    # shellcheck disable=SC2046
    read -r s kb rc < <(python3 "$here/measure.py" "$MPF" $(command_of "$rd" "$n"))
    # compare exits 1 when it finds a regression: that is an answer, not a failure.
    if [ "$rc" -ne 0 ] && ! { [ "$rd" = compare ] && [ "$rc" -eq 1 ]; }; then
      echo; echo "mpf $(command_of "$rd" "$n") exited $rc" >&2; exit 1
    fi
    printf '%20s' "$(printf '%.2f s %4d MB' "$s" $((kb / 1024)))"
    first=${first:-$s} last=$s
  done
  ratio=$(awk -v a="$first" -v b="$last" 'BEGIN { printf "%.1f", b / (a > 0.01 ? a : 0.01) }')
  printf '%9sx\n' "$ratio"
  if [ -n "${QUICK:-}" ] && awk -v r="$ratio" -v m="$MAX_RATIO" 'BEGIN { exit !(r > m) }'; then
    echo "$rd: time ratio ${ratio}x between the sizes, above ${MAX_RATIO}x: a quadratic step?" >&2
    fail=1
  fi
done
for n in $SIZES; do
  size=$(stat -c %s "$work/report-$n.html")
  echo "report of $n runs: $((size / 1024)) kB"
  if [ "$size" -ge $((10 * 1024 * 1024)) ]; then
    echo "the report of $n runs is 10 MB or more (SPEC §15)" >&2
    fail=1
  fi
done
exit $fail
