"""Reading result sets into pandas: load, sets, compare, timeseries."""

import io
import json
import os
import tempfile
from typing import Any, Dict, List, Optional

import pandas as pd

from . import _engine


def set_path(id: str, results=None) -> str:
    """The directory of a result set, resolved by the CLI (`latest`, an id, a unique prefix, a
    path), so that Python and the command line agree on what ID means."""
    out = _engine.call(["show", str(id), "--path", *_engine.results_args(results)])
    return os.path.abspath(out.strip())


def load(id: str = "latest", results=None) -> pd.DataFrame:
    """One row per run: indexed by the swept variables and `repetition`; the results as floats
    (NaN where a run failed or lacked the result), `ok`, `run`, and `<var>_label` for labelled
    variables. `df.attrs` holds `units`, `better`, `labels`, `constants`, `results` (the result
    columns), `manifest`, `id` and `path`."""
    path = set_path(id, results)
    manifest_path = os.path.join(path, "manifest.json")
    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise _engine.ExperimentError(f"{manifest_path}: cannot be read: {e}") from e
    csv_path = os.path.join(path, "results.csv")
    if os.path.exists(csv_path):
        source = csv_path
    else:
        # A set whose session was killed has no results.csv yet: the journal has the runs.
        source = io.StringIO(_engine.call(["export", path, "--format", "csv"]))
        csv_path = f"{path} (its journal)"
    try:
        return frame(source, manifest, path)
    except (ValueError, KeyError, TypeError, IndexError) as e:
        # A file edited or damaged by hand: say which, rather than a pandas traceback.
        raise _engine.ExperimentError(
            f"{csv_path}: does not match {manifest_path}: {type(e).__name__}: {e}") from e


def _layout(header: List[str], manifest: Dict[str, Any]):
    """The CSV's labelled variables and result columns, read from its header: each variable's
    column is followed by `<var>_label` when it is labelled, then come the results in the
    manifest's order (their names made unique by the CLI, so read, not guessed)."""
    labelled = set()
    i = 0
    names = [v["name"] for v in manifest["variables"]]
    for k, name in enumerate(names):
        i += 1
        after = names[k + 1] if k + 1 < len(names) else None
        if i < len(header) and header[i] == f"{name}_label" and after != header[i]:
            labelled.add(name)
            i += 1
    return labelled, header[i:i + len(manifest["results"])]


def frame(source, manifest: Dict[str, Any], path: Optional[str] = None) -> pd.DataFrame:
    variables = manifest["variables"]
    header = pd.read_csv(source, nrows=0).columns.tolist()
    if hasattr(source, "seek"):
        source.seek(0)
    labelled, result_cols = _layout(header, manifest)
    infos = dict(zip(result_cols, manifest["results"]))
    text_cols = [v["name"] for v in variables if not v.get("numeric")]
    text_cols += [f"{name}_label" for name in labelled]
    text_cols += [c for c, r in infos.items() if r.get("series")] + ["ok"]
    dtypes: Dict[str, Any] = {c: str for c in text_cols}
    dtypes.update({c: "float64" for c, r in infos.items() if not r.get("series")})
    df = pd.read_csv(source, dtype=dtypes, keep_default_na=False, na_values=[""])
    for v in variables:
        name = v["name"]
        # An empty cell is the value "" where the variable has it, else null (its `when` was
        # false): the CSV cannot tell them apart, the manifest can.
        if not v.get("numeric") and "" in v["values"]:
            df[name] = df[name].fillna("")
        elif v["values"] and all(isinstance(x, bool) for x in v["values"]):
            df[name] = df[name].map({"true": True, "false": False})
    for c, r in infos.items():
        if r.get("series"):
            df[c] = [json.loads(x) if isinstance(x, str) else None for x in df[c]]
    df["ok"] = df["ok"].eq("true")
    # A failed run's partial results stay in the journal and the CSV for diagnosis; as data
    # they would bias every mean, so they are NaN here.
    scalar_cols = [c for c, r in infos.items() if not r.get("series")]
    df.loc[~df["ok"], scalar_cols] = float("nan")
    for c, r in infos.items():
        if r.get("series"):
            df.loc[~df["ok"], c] = None
    # A variable --set narrowed to one value is still swept: sets of one experiment keep one
    # index whatever their overrides.
    overridden = set(manifest.get("overrides") or {})
    swept = [v["name"] for v in variables if not v.get("constant") or v["name"] in overridden]
    constants = {v["name"]: v["values"][0] for v in variables
                 if v["name"] not in swept and v["values"]}
    labels = [f"{name}_label" for name in swept if name in labelled]
    df = df.set_index(swept + ["repetition"])
    df = df[result_cols + ["ok", "run"] + labels]
    df.attrs.update({
        "id": manifest.get("id"),
        "path": path,
        "results": result_cols,
        "units": {c: r.get("unit", "") for c, r in infos.items()},
        "better": {c: r.get("better", "higher") for c, r in infos.items()},
        "labels": {v["name"]: dict(zip(v["values"], v["labels"])) for v in variables},
        "constants": constants,
        "manifest": manifest,
    })
    return df


def sets(results=None) -> pd.DataFrame:
    """The result sets, newest first: id, name, status, runs (recorded), ok, failed, planned,
    started, ended, path, error. A set mpf cannot read (a newer mpf's, damaged, no permission)
    is listed with status `unreadable` and the reason in `error`."""
    rows = json.loads(_engine.call(["ls", "--json", *_engine.results_args(results)]))
    df = pd.DataFrame(rows, columns=["id", "name", "status", "runs_ok", "runs_failed",
                                     "planned_runs", "started", "ended", "path", "error"])
    df = df.rename(columns={"runs_ok": "ok", "runs_failed": "failed", "planned_runs": "planned"})
    df.insert(3, "runs", df["ok"] + df["failed"])
    for c in ("started", "ended"):
        df[c] = pd.to_datetime(df[c], utc=True, errors="coerce")
    return df


def _figures(side: Optional[Dict[str, Any]], prefix: str) -> Dict[str, Any]:
    keys = ("n", "mean", "median", "stddev", "min", "max")
    side = side or {}
    return {f"{prefix}_{k}": side.get(k) for k in keys}


def compare(base: str, new: str, tolerance="5%", durations: bool = False, results=None,
            alpha: float = 0.05, test: str = "welch", references: Optional[List[str]] = None
            ) -> pd.DataFrame:
    """`mpf compare BASE NEW --json`: one row per point x result with the point's variables,
    result, base_mean, new_mean, change, ci_low, ci_high, p_value, verdict and every other
    figure; `df.attrs` holds the summary, settings, notes, unmatched points and environment."""
    args = ["compare", str(base), str(new), "--json", "-", "--tolerance", str(tolerance),
            "--alpha", repr(float(alpha)), "--test", test, *_engine.results_args(results)]
    if durations:
        args.append("--durations")
    if references:
        args += ["--references", *map(str, references)]
    # Exit 3 is "a regression was found": a result here, not an error.
    report = json.loads(_engine.call(args, ok_codes=(0, _engine.EXIT_REGRESSION)))
    rows = []
    for c in report["comparisons"]:
        ci = c.get("change_ci") or [None, None]
        t = c.get("test") or {}
        row = dict(c.get("point") or {})
        row.update({
            "result": c["result"],
            **_figures(c.get("base"), "base"),
            **_figures(c.get("new"), "new"),
            "change": c.get("change"),
            "ci_low": ci[0],
            "ci_high": ci[1],
            "p_value": t.get("p"),
            "p_adjusted": t.get("p_adjusted"),
            "statistic": t.get("statistic"),
            "test": t.get("name"),
            "verdict": c["verdict"],
            "decided_by": c.get("decided_by"),
            "basis": c.get("basis"),
            "significant": c.get("significant"),
            "beyond_tolerance": c.get("beyond_tolerance"),
            "unit": c.get("unit"),
            "better": c.get("better"),
            "note": c.get("note"),
            "labels": c.get("point_labels"),
        })
        rows.append(row)
    df = pd.DataFrame(rows)
    numeric = [c for c in df.columns if c.startswith(("base_", "new_"))] + [
        "change", "ci_low", "ci_high", "p_value", "p_adjusted", "statistic"]
    for c in numeric:
        if c in df.columns:
            kind = "Int64" if c in ("base_n", "new_n") else "float64"
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(kind)
    df.attrs.update({k: report.get(k) for k in (
        "base", "new", "settings", "summary", "references", "unmatched", "notes", "environment")})
    return df


def timeseries(id: str = "latest", results=None) -> pd.DataFrame:
    """The monitoring samples of every run, long format: run, the point's variables,
    repetition, time, role, metric, value (`mpf export ID --timeseries --format parquet`)."""
    with tempfile.TemporaryDirectory(prefix="mpf-ts-") as tmp:
        out = os.path.join(tmp, "timeseries.parquet")
        _engine.call(["export", str(id), "--timeseries", "--format", "parquet", "-o", out,
                      *_engine.results_args(results)])
        return pd.read_parquet(out)
