#!/usr/bin/env python3
"""Writes a synthetic result set of N points, one run each, straight into a results directory,
for the reader benchmarks (bench/readers.sh): a sweep of one numeric variable `x` over 1..N with
two results (`lat`, a noisy curve, and `step1.duration`), as `mpf run` would have written it.

usage: genset.py RESULTS_DIR N [NAME [HOUR]]   (prints the set's directory)
HOUR (0-23, default 0) is the hour of 2026-01-01 the set started: sets of one NAME and
different hours are a history (`mpf history NAME`).
"""
import json
import os
import random
import sys


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def main():
    root, n = sys.argv[1], int(sys.argv[2])
    name = sys.argv[3] if len(sys.argv) > 3 else "big"
    hour = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    sid = f"{name}-20260101T{hour:02d}0000Z-{n:04d}"[: 60]
    d = os.path.join(root, sid)
    os.makedirs(os.path.join(d, "runs"), exist_ok=True)
    rng = random.Random(n * 24 + hour)
    manifest = {
        "mpf_version": "0.1.0",
        "id": sid,
        "name": name,
        "description": "synthetic set for bench/readers.sh",
        "status": "complete",
        "started": f"2026-01-01T{hour:02d}:00:00.000Z",
        "ended": f"2026-01-01T{hour:02d}:30:00.000Z",
        "seed": "mpf",
        "order": "sequential",
        "runs_per_point": 1,
        "planned_runs": n,
        "variables": [
            {
                "name": "x",
                "values": list(range(1, n + 1)),
                "labels": [str(i) for i in range(1, n + 1)],
                "numeric": True,
                "geometric": False,
                "constant": False,
            }
        ],
        "results": [
            {"name": "step1.duration", "unit": "s", "better": "lower", "series": False},
            {"name": "lat", "unit": "ms", "better": "lower", "series": False},
        ],
        "hosts": [],
    }
    experiment = (f"name: {name}\nvariables:\n  x: {{range: [1, {n}]}}\nruns: 1\n"
                  "steps:\n  - run: echo \"mpf-result lat 3\"\n")
    with open(os.path.join(d, "experiment.yaml"), "w") as f:
        f.write(experiment)
    manifest["experiment_hash"] = fnv1a64(experiment.encode())
    manifest["runs_ok"] = n
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    with open(os.path.join(d, "journal.jsonl"), "w") as f:
        for i in range(n):
            x = i + 1
            lat = 10 + 5 * ((x % 1000) / 1000) + rng.random()
            dur = 0.001 + rng.random() * 1e-4
            rec = {
                "index": i, "point_index": i, "point": {"x": x}, "repetition": 0,
                "status": "ok", "attempts": 1,
                "results": {"lat": round(lat, 4), "step1.duration": round(dur, 6)},
                "steps": [{"name": "step1", "role": "local", "host": "localhost", "exit": 0,
                           "duration": round(dur, 6), "timed_out": False,
                           "background": False, "start": 0.001}],
                "started": "2026-01-01T00:00:00.000Z", "ended": "2026-01-01T00:00:00.002Z",
            }
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    print(d)


if __name__ == "__main__":
    main()
