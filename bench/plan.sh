#!/usr/bin/env bash
# Planning a 1,000,000-point space (1000 x 1000, 3 runs each: 3,000,000 runs) with --dry-run:
# wall time and peak memory. Usage: bench/plan.sh [path/to/mpf] (default: release build).
set -euo pipefail
MPF=${1:-$(dirname "$0")/../target/release/mpf}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/big.yaml" <<'YAML'
name: big
variables:
  a: {range: [1, 1000]}
  b: {range: [1, 1000]}
steps:
  - run: echo {{ a }} {{ b }}
YAML
/usr/bin/time -f "wall %e s, peak RSS %M KiB" "$MPF" run "$work/big.yaml" --dry-run --results "$work/r" 2>&1 >/dev/null | tail -1
"$MPF" run "$work/big.yaml" --dry-run --results "$work/r" | sed -n '4p'
