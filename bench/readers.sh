#!/usr/bin/env bash
# Time and peak memory of the readers (SPEC §15) on synthetic sets of N points of one run
# each (bench/genset.py: a sweep of `x` with two results), and the size of their HTML report.
# Usage: bench/readers.sh [path/to/mpf] (default: release build); SIZES="10000 100000" by
# default; `history` reads three sets of N/2 points (1.5 N runs); `extract` re-extracts a copy of
# the N-point set (no logs: every run's results are looked for again and the new generation,
# results.csv and manifest written). For each reader it prints
# seconds and peak RSS at each size and the CPU time ratio
# between the largest and the smallest size: a linear reader takes about the ratio of the
# sizes (10x from 10k to 100k), a quadratic one its square.
# QUICK=1 (what .ci/run does, with the debug build): SIZES="10000 40000", and it fails (exit 1)
# when a reader's 40k/10k CPU time ratio is above MAX_RATIO (default 8: linear is 4, quadratic 16),
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
# BENCH_SETS: a directory where the sets are written once and kept for the next call.
sets=${BENCH_SETS:-$work}
mkdir -p "$sets"
set_of() { python3 -c 'import sys; print(f"{sys.argv[1]}/r/{sys.argv[2]}-20260101T000000Z-{int(sys.argv[3]):04d}")' "$sets" "$1" "$2"; }
for n in $SIZES; do
  [ -d "$(set_of big "$n")" ] || python3 "$here/genset.py" "$sets/r" "$n" big > /dev/null
  [ -d "$(set_of bigb "$n")" ] || python3 "$here/genset.py" "$sets/r" "$n" bigb > /dev/null
  # A history of three sets of N/2 points each (1.5 N runs), in a results directory of its own.
  if [ ! -d "$sets/h$n" ]; then
    for hour in 1 2 3; do
      python3 "$here/genset.py" "$sets/h$n.tmp" $((n / 2)) hist "$hour" > /dev/null
    done
    mv "$sets/h$n.tmp" "$sets/h$n"
  fi
done
readers=(ls show show-summary export-csv export-json export-parquet plot report compare history extract)
# READER=NAME: that reader only (also `summary`, `csv`, `json`, `parquet`: short names for a
# graph's legend).
[ -n "${READER:-}" ] && readers=("$READER")
command_of() { # reader, size
  local a b
  a=$(set_of big "$2") b=$(set_of bigb "$2")
  case $1 in
    ls) echo "ls $sets/r" ;;
    show) echo "show $a" ;;
    show-summary | summary) echo "show $a --summary" ;;
    export-csv | csv) echo "export $a --format csv" ;;
    export-json | json) echo "export $a --format json" ;;
    export-parquet | parquet) echo "export $a --format parquet -o $work/x.parquet" ;;
    plot) echo "plot $a -o $work/p.png" ;;
    report) echo "report $a -o $work/report-$2.html" ;;
    compare) echo "compare $b $a" ;;
    history) echo "history hist --results $sets/h$2" ;;
    # A copy of the set (see fresh_copy), every run extracted again as a new generation.
    extract) echo "extract $work/extract-$2" ;;
  esac
}
fail=0
# FORMAT=mpf: `rss=BYTES seconds=S` per reader and size (bench/curves/readers.yaml reads it).
mpf_format() { [ "${FORMAT:-}" = mpf ]; }
say() { mpf_format || printf "$@"; }
say '%-16s' reader
for n in $SIZES; do say '%20s' "N=$n"; done
say '%10s\n' ratio
for rd in "${readers[@]}"; do
  say '%-16s' "$rd"
  first='' last=''
  for n in $SIZES; do
    # extract writes into the set: a fresh copy of it each time.
    if [ "$rd" = extract ]; then
      rm -rf "$work/extract-$n"
      cp -r "$(set_of big "$n")" "$work/extract-$n"
    fi
    # shellcheck disable=SC2046
    read -r s kb rc cpu < <(python3 "$here/measure.py" "$MPF" $(command_of "$rd" "$n"))
    # compare and history exit 1 when they find a regression: an answer, not a failure.
    if [ "$rc" -ne 0 ] && ! { { [ "$rd" = compare ] || [ "$rd" = history ]; } && [ "$rc" -eq 1 ]; }; then
      echo; echo "mpf $(command_of "$rd" "$n") exited $rc" >&2; exit 1
    fi
    mpf_format && echo "rss=$((kb * 1024)) seconds=$s cpu=$cpu"
    say '%20s' "$(printf '%.2f s %4d MB' "$s" $((kb / 1024)))"
    # The ratio is of CPU time, which a loaded machine changes far less than wall time.
    first=${first:-$cpu} last=$cpu
  done
  ratio=$(awk -v a="$first" -v b="$last" 'BEGIN { printf "%.1f", b / (a > 0.01 ? a : 0.01) }')
  say '%9sx\n' "$ratio"
  if [ -n "${QUICK:-}" ] && awk -v r="$ratio" -v m="$MAX_RATIO" 'BEGIN { exit !(r > m) }'; then
    echo "$rd: time ratio ${ratio}x between the sizes, above ${MAX_RATIO}x: a quadratic step?" >&2
    fail=1
  fi
done
for n in $SIZES; do
  [ -f "$work/report-$n.html" ] || continue
  size=$(stat -c %s "$work/report-$n.html")
  if mpf_format; then echo "report_size=$size"; else echo "report of $n runs: $((size / 1024)) kB"; fi
  if [ "$size" -ge $((10 * 1024 * 1024)) ]; then
    echo "the report of $n runs is 10 MB or more (SPEC §15)" >&2
    fail=1
  fi
done
exit $fail
