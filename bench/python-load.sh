#!/usr/bin/env bash
# mpf.load (Python) on a 100,000-run set: three swept variables (one labelled, with "" as a
# value), three results, 5% failed runs. The set is recorded by `mpf run` (200 points, one run
# each) and then grown to RUNS runs by repeating its journal records as further repetitions
# (index, repetition and results varied), with results.csv rebuilt by `mpf show --format csv`:
# the same files mpf writes, without running 100,000 processes. Times mpf.load (best of 3,
# each in a fresh interpreter) and fails above 2 s.
# Usage: bench/python-load.sh [path/to/mpf] (default: release build). PYTHON picks the
# interpreter (with pandas and pyarrow; the module comes from ./python unless installed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
MPF=$(realpath "${1:-$root/target/release/mpf}")
PYTHON=${PYTHON:-python3}
RUNS=${RUNS:-100000}
work=$(mktemp -d ${BENCH_TMP:+-p "$BENCH_TMP"})
trap 'rm -rf "$work"' EXIT
cat > "$work/exp.yaml" <<'YAML'
name: load-bench
runs: 1
variables:
  size: {range: [1, 10]}
  rate: {range: [100, 1000], step: 100}
  mode: {values: {"": plain, "-x": extra}}
steps:
  - name: work
    run: |
      echo "latency: {{ size * 3 }}ms"
      echo "mpf-result score {{ rate / size }}"
    results:
      latency: {regex: 'latency: (\d+ms)', unit: s, better: lower}
YAML
"$MPF" run "$work/exp.yaml" --quiet --no-plot --results "$work/r" 2>/dev/null
set_dir=$(ls -d "$work"/r/load-bench-*)
"$PYTHON" - "$set_dir/journal.jsonl" "$RUNS" <<'PY'
import json, sys
path, total = sys.argv[1], int(sys.argv[2])
base = [json.loads(l) for l in open(path)]
with open(path, "w") as out:
    for i in range(total):
        rec = dict(base[i % len(base)])
        rec["index"], rec["repetition"] = i, i // len(base)
        rec["results"] = {k: v * (1 + (i % 7) / 100) for k, v in rec["results"].items()}
        if i % 20 == 19:
            rec["status"], rec["error"] = "failed", "step 'work' on local exited with status 1"
        out.write(json.dumps(rec, separators=(",", ":")) + "\n")
PY
"$MPF" show "$set_dir" --format csv > "$set_dir/results.csv"
rows=$(($(wc -l < "$set_dir/results.csv") - 1))
echo "set: $rows runs, results.csv $(du -h "$set_dir/results.csv" | cut -f1)"
best=
for _ in 1 2 3; do
  t=$(MPF_BIN=$MPF PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" - "$set_dir" <<'PY'
import sys, time
import mpf
start = time.perf_counter()
df = mpf.load(sys.argv[1])
took = time.perf_counter() - start
assert df["latency"].isna().sum() == len(df) // 20, "failed runs are NaN"
print(f"{took:.3f}")
PY
)
  echo "mpf.load: ${t} s"
  best=$(awk -v a="${best:-$t}" -v b="$t" 'BEGIN { print (b < a ? b : a) }')
done
awk -v t="$best" 'BEGIN { printf "best: %.3f s (must be < 2 s)\n", t; exit (t < 2 ? 0 : 1) }'
