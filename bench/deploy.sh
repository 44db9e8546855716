#!/usr/bin/env bash
# Cost of a second `mpf deploy` when nothing changed (rsync finds nothing to copy, dpkg-query
# finds every package, make has nothing to build), against one bare round trip to the machine
# in the same session (locally: `sh -c true`). Usage: bench/deploy.sh [path/to/mpf].
set -euo pipefail
MPF=${1:-$(dirname "$0")/../target/release/mpf}
REPS=${REPS:-9}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$(dirname "$0")/../examples/deploy/src" "$work/src"
cat > "$work/deploy.yaml" <<YAML
name: deploy-bench
variables:
  dest: $work/dest
setup:
  - sync: {from: ./src, to: "{{ dest }}", exclude: [membench]}
    packages: {apt: [gcc, make], dnf: [gcc, make]}
    run: make -C {{ dest }}
steps:
  - run: "true"
YAML
"$MPF" deploy "$work/deploy.yaml" --results "$work/r" 2>/dev/null   # first deploy: copies and builds

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
d=() b=()
for _ in $(seq "$REPS"); do
  s=$(now); "$MPF" deploy "$work/deploy.yaml" --results "$work/r" 2>/dev/null; e=$(now); d+=($((e - s)))
  s=$(now); sh -c true; e=$(now); b+=($((e - s)))
done
dm=$(printf '%s\n' "${d[@]}" | median)
bm=$(printf '%s\n' "${b[@]}" | median)
awk -v d="$dm" -v b="$bm" 'BEGIN {
  printf "second deploy, nothing changed: %.1f ms (whole command: start-up, sync, package check, make)\n", d / 1e6
  printf "one round trip (sh -c true): %.2f ms\n", b / 1e6
}'
