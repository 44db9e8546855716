#!/usr/bin/env bash
# Per-run overhead of mpf on the local machine (BENCH_TMP=/dev/shm puts the result sets on
# tmpfs, to separate mpf's own cost from the file system's): a 300-run sweep of `true`, against a bare
# shell loop of `sh -c true` in the same session. Prints the median of REPS repetitions
# of each and their ratio. Usage: bench/overhead.sh [path/to/mpf] (default: release build).
# It also times mpf with one run: the difference is a run's own cost, without start-up.
# With python3 on the machine it also times the issue's baseline: the same 300 `sh -c true`
# spawned one by one from a Python script (`subprocess.run`, timed inside the script, so
# the interpreter's start-up is left out): Python's posix_spawn makes it the faster
# loop of the two, so the stricter baseline.
# QUICK=1 (what .ci/run does after the tests, with the debug build): 100 runs, 3 repetitions,
# a few seconds; it fails (exit 1) only when a run's own cost is above MAX_RATIO (default 3)
# times the bare loop's, a gross regression, never machine noise (see docs/performance.md).
set -euo pipefail
MPF=${1:-$(dirname "$0")/../target/release/mpf}
if [ -n "${QUICK:-}" ]; then
  RUNS=${RUNS:-100} REPS=${REPS:-3}
fi
RUNS=${RUNS:-300}
REPS=${REPS:-5}
work=$(mktemp -d ${BENCH_TMP:+-p "$BENCH_TMP"})
# KEEP=1 leaves the result sets, to compare builds one after the other: ext4 without a
# journal (this machine's disk) passes over every inode deleted in the last 60 s (360 s while
# its inode table block is dirty) for each new directory, so a bench run right after another
# one's deletions measures those deletions. Delete them at the end, then wait 6 minutes.
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
for n in 1 "$RUNS"; do
  cat > "$work/true$n.yaml" <<YAML
name: overhead
runs: 1
order: sequential
variables:
  i: {range: [1, $n]}
steps:
  - name: t
    run: "true"
YAML
done

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bare=() mpf=() run=() py=()
# Result sets are kept until the end: deleting thousands of files between repetitions makes
# the file system slower for the next one (the mount may use discard).
for i in $(seq "$REPS"); do
  s=$(now); for _ in $(seq "$RUNS"); do sh -c true; done; e=$(now)
  bare+=($(( (e - s) / RUNS )))
  if command -v python3 >/dev/null; then
    py+=($(python3 -c 'import subprocess, sys, time
n = int(sys.argv[1]); s = time.perf_counter_ns()
for _ in range(n): subprocess.run(["sh", "-c", "true"])
print((time.perf_counter_ns() - s) // n)' "$RUNS"))
  fi
  s=$(now); "$MPF" run "$work/true$RUNS.yaml" --quiet --no-plot --results "$work/r$i" 2>/dev/null; e=$(now)
  mpf+=($(( (e - s) / RUNS )))
  s1=$(now); "$MPF" run "$work/true1.yaml" --quiet --no-plot --results "$work/o$i" 2>/dev/null; e1=$(now)
  run+=($(( ((e - s) - (e1 - s1)) / (RUNS - 1) )))
done
b=$(printf '%s\n' "${bare[@]}" | median)
m=$(printf '%s\n' "${mpf[@]}" | median)
r=$(printf '%s\n' "${run[@]}" | median)
p=0
[ ${#py[@]} -gt 0 ] && p=$(printf '%s\n' "${py[@]}" | median)
awk -v b="$b" -v m="$m" -v r="$r" -v n="$RUNS" -v p="$p" 'BEGIN {
  printf "bare loop (sh -c true): %.3f ms/run\n", b / 1e6
  printf "mpf run (%d runs of true): %.3f ms/run (whole command, incl. start-up, facts, fsync per run)\n", n, m / 1e6
  printf "ratio mpf / bare: %.2fx\n", m / b
  printf "a run alone (%d runs less 1 run): %.3f ms/run, ratio %.2fx\n", n, r / 1e6, r / b
  if (p > 0) printf "python loop (subprocess.run of sh -c true): %.3f ms/run; mpf whole command / python loop: %.2fx, a run alone: %.2fx\n", p / 1e6, m / p, r / p
}'
if [ -n "${QUICK:-}" ]; then
  max=${MAX_RATIO:-3}
  if awk -v b="$b" -v r="$r" -v x="$max" 'BEGIN { exit !(r / b > x) }'; then
    echo "mpf's local per-run cost is more than ${max}x a bare sh -c loop: a regression" >&2
    exit 1
  fi
fi
