#!/usr/bin/env python3
"""Reference values from SciPy for mpf's statistics (read by tests/cli/compare/scipy.rs).

Reads a JSON list of cases {"a": [...], "b": [...], "level": 0.95, "mwu_method": "exact" |
"asymptotic"} on stdin and prints, for each case, Welch's t-test of a against b
(scipy.stats.ttest_ind(a, b, equal_var=False)) with its confidence interval for
mean(a) - mean(b), Fieller's interval for mean(a) / mean(b) built from SciPy's t quantile, and
the two-sided Mann-Whitney U test (scipy.stats.mannwhitneyu, use_continuity=True, with the
method mpf reports it used).
"""
import json
import math
import sys

from scipy import stats


def fieller(a, b, level, df):
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = stats.tvar(a) / len(a)
    vb = stats.tvar(b) / len(b)
    q2 = stats.t.ppf(1 - (1 - level) / 2, df) ** 2
    qa = mb * mb - q2 * vb
    if qa <= 0:
        return None
    qb = -2 * ma * mb
    qc = ma * ma - q2 * va
    root = math.sqrt(max(qb * qb - 4 * qa * qc, 0.0))
    return sorted([(-qb - root) / (2 * qa), (-qb + root) / (2 * qa)])


def main():
    out = []
    for case in json.load(sys.stdin):
        a, b, level = case["a"], case["b"], case["level"]
        w = stats.ttest_ind(a, b, equal_var=False)
        ci = w.confidence_interval(confidence_level=level)
        m = stats.mannwhitneyu(a, b, use_continuity=True, alternative="two-sided",
                               method=case["mwu_method"])
        out.append({
            "welch_t": float(w.statistic),
            "welch_df": float(w.df),
            "welch_p": float(w.pvalue),
            "diff_ci": [float(ci.low), float(ci.high)],
            "t_critical": float(stats.t.ppf(1 - (1 - level) / 2, w.df)),
            "fieller": fieller(a, b, level, float(w.df)),
            "mwu_u": float(m.statistic),
            "mwu_p": float(m.pvalue),
            "auto_method_p": float(stats.mannwhitneyu(a, b).pvalue),
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
