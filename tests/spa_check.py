#!/usr/bin/env python3
"""Reference change points from MongoDB's signal-processing-algorithms (read by
tests/cli/history/spa.rs).

Reads a JSON list of cases {"series": [...], "pvalue": 0.05, "permutations": 1000} on stdin
and prints, for each case, the change points of
signal_processing_algorithms.energy_statistics.energy_statistics.e_divisive (sorted; its
permutations seeded with NumPy's generator so that the reference itself is reproducible) and
the statistic of every split of the whole series (the same module's _calculate_t_stats).
It needs numpy<2, so it runs in its own venv (target/spa-venv, created by .ci/run).
"""
import json
import sys

import numpy as np
from signal_processing_algorithms.determinism import deterministic_numpy_random
from signal_processing_algorithms.energy_statistics import energy_statistics as es


def main():
    out = []
    for case in json.load(sys.stdin):
        series = case["series"]
        with deterministic_numpy_random(1234):
            cps = es.e_divisive(series, pvalue=case["pvalue"],
                                permutations=case["permutations"])
        distances = es._get_distance_matrix(es._get_valid_input(series))
        t = es._calculate_t_stats(distances)
        out.append({"change_points": sorted(int(c) for c in cps),
                    "t": [float(x) for x in np.asarray(t)]})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
