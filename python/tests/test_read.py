"""mpf.load, mpf.sets, mpf.compare, mpf.timeseries against sets the engine recorded."""

import json
import math
import pathlib

import pandas as pd
import pytest

import mpf
from conftest import cli, only_set, write

SWEEP = """
name: sweep
runs: 2
variables:
  size: {range: [1, 4], factor: 2}
  mode: {values: {"": plain, "-x": extra}}
  k: 7
steps:
  - name: work
    run: |
      echo "elapsed: {{ size * 3 }}ms"
      echo "mpf-result score {{ size * 10 }}"
      test {{ size }} -ne 4 || test "{{ mode }}" = "-x"
    results:
      latency: {regex: 'elapsed: (\\d+ms)', unit: s, better: lower}
"""


@pytest.fixture
def sweep(work):
    exp = write(work / "sweep.yaml", SWEEP)
    cli("run", exp, "-q", "--no-plot", check=False)
    return only_set(work / "results")


def test_load_indexes_the_swept_variables_and_keeps_types_labels_and_failures(sweep):
    df = mpf.load("latest")
    assert list(df.index.names) == ["size", "mode", "repetition"]
    assert len(df) == 3 * 2 * 2
    assert set(df.attrs["results"]) == {"latency", "score", "work.duration"}
    for col in df.attrs["results"]:
        assert df[col].dtype == "float64", col
    assert df["ok"].dtype == bool
    # The empty-string value stays "" (not NaN), with its label beside it.
    modes = set(df.index.get_level_values("mode"))
    assert modes == {"", "-x"}
    assert set(df.loc[(slice(None), ""), "mode_label"]) == {"plain"}
    # size 4 with mode "" fails: ok False and NaN results, the others hold their values.
    failed = df.xs((4, ""), level=["size", "mode"])
    assert not failed["ok"].any()
    assert failed["latency"].isna().all()
    good = df.xs((2, "-x"), level=["size", "mode"])
    assert good["ok"].all()
    assert list(good["latency"]) == [0.006, 0.006]
    assert list(good["score"]) == [20.0, 20.0]
    assert df.index.get_level_values("size").dtype == "int64"
    # The constant is not in the index: it is in attrs.
    assert df.attrs["constants"] == {"k": 7}
    assert df.attrs["units"]["latency"] == "s"
    assert df.attrs["better"]["latency"] == "lower"
    assert df.attrs["labels"]["mode"] == {"": "plain", "-x": "extra"}
    assert df.attrs["manifest"]["name"] == "sweep"
    assert df.attrs["path"] == str(sweep)
    # Grouping by a level works on the result columns.
    means = df[["score"]].groupby(level="size").mean()
    assert means.loc[1, "score"] == 10.0


def test_load_resolves_ids_as_the_cli_does_and_reports_unknown_ones(sweep):
    set_id = sweep.name
    for ref in ("latest", set_id, set_id[:10], str(sweep)):
        assert mpf.load(ref).attrs["id"] == set_id
    with pytest.raises(mpf.ExperimentError, match="no result set matches 'nothing'"):
        mpf.load("nothing")


def test_load_reads_the_journal_when_results_csv_is_missing(sweep):
    expected = mpf.load(sweep.name)
    (sweep / "results.csv").unlink()
    again = mpf.load(sweep.name)
    pd.testing.assert_frame_equal(again, expected)


def test_a_damaged_set_is_an_experiment_error_naming_the_file(sweep):
    csv = sweep / "results.csv"
    lines = csv.read_text().splitlines()
    cells = lines[1].split(",")
    cells[lines[0].split(",").index("latency")] = "fast"
    csv.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    with pytest.raises(mpf.ExperimentError, match=f"{csv}: does not match"):
        mpf.load("latest")
    (sweep / "manifest.json").write_text("{not json")
    with pytest.raises(mpf.ExperimentError, match="manifest.json:1:2: not a valid mpf manifest"):
        mpf.load(str(sweep))


def test_sets_lists_every_set_newest_first(work):
    exp = write(work / "sweep.yaml", SWEEP)
    cli("run", exp, "-q", "--no-plot", "--set", "size=1", "--runs", "1")
    cli("run", exp, "-q", "--no-plot", "--set", "size=2", "--runs", "1")
    df = mpf.sets()
    assert list(df.columns) == ["id", "name", "status", "runs", "ok", "failed", "planned",
                                "started", "ended", "path", "error"]
    assert len(df) == 2
    assert (df["name"] == "sweep").all()
    assert (df["status"] == "complete").all()
    assert list(df["runs"]) == [2, 2]
    assert df["started"].iloc[0] >= df["started"].iloc[1]
    assert mpf.load(df["id"].iloc[0]).index.get_level_values("size").unique().tolist() == [2]
    assert mpf.sets(results=work / "elsewhere").empty


def test_sets_names_a_set_it_cannot_read_and_load_refuses_it(work):
    exp = write(work / "sweep.yaml", SWEEP)
    cli("run", exp, "-q", "--no-plot", "--set", "size=1", "--runs", "1")
    cli("run", exp, "-q", "--no-plot", "--set", "size=2", "--runs", "1")
    newest = mpf.sets()["path"].iloc[0]
    m = json.loads((pathlib.Path(newest) / "manifest.json").read_text())
    m["status"] = "archived"
    (pathlib.Path(newest) / "manifest.json").write_text(json.dumps(m))
    df = mpf.sets()
    assert len(df) == 2
    assert df["status"].tolist() == ["unreadable", "complete"]
    assert df["path"].iloc[0] == newest
    assert "unknown variant `archived`" in df["error"].iloc[0]
    assert pd.isna(df["error"].iloc[1]) and pd.isna(df["runs"].iloc[0])
    # `latest` is the newest set, which cannot be read: never silently the older one.
    with pytest.raises(mpf.ExperimentError, match="unknown variant `archived`"):
        mpf.load("latest")


def test_load_reads_a_packed_set_as_the_set_itself(work, monkeypatch):
    monkeypatch.setenv("MPF_CACHE", str(work / "cache"))
    exp = write(work / "sweep.yaml", SWEEP)
    cli("run", exp, "-q", "--no-plot", "--set", "size=1,2", "--runs", "2")
    cli("pack", "latest", "-o", work / "sweep.tar.gz")
    direct = mpf.load("latest")
    packed = mpf.load(str(work / "sweep.tar.gz"))
    pd.testing.assert_frame_equal(packed, direct)
    assert packed.attrs["id"] == direct.attrs["id"]
    assert packed.attrs["path"].startswith(str(work / "cache"))


def test_compare_gives_one_row_per_point_and_result_with_every_figure(work):
    exp = write(work / "sweep.yaml", SWEEP)
    for _ in range(2):
        cli("run", exp, "-q", "--no-plot", "--set", "size=1,2", "--runs", "3")
    base, new = mpf.sets()["id"].iloc[::-1]
    df = mpf.compare(base, new, tolerance="5%")
    # 2 sizes x 2 modes x 2 results (latency, score): durations left out.
    assert len(df) == 8
    assert set(df["result"]) == {"latency", "score"}
    for col in ("size", "mode", "base_mean", "new_mean", "change", "ci_low", "ci_high",
                "p_value", "verdict", "base_n", "new_n"):
        assert col in df.columns, col
    # The results are deterministic: nothing changed.
    assert set(df["verdict"]) == {"unchanged"}
    row = df[(df["size"] == 2) & (df["mode"] == "-x") & (df["result"] == "score")].iloc[0]
    assert (row["base_mean"], row["new_mean"], row["change"]) == (20.0, 20.0, 0.0)
    assert row["base_n"] == 3
    assert df.attrs["summary"]["regression"] is False
    with_durations = mpf.compare(base, new, durations=True)
    assert "work.duration" in set(with_durations["result"])
    with pytest.raises(mpf.ExperimentError, match="tolerance"):
        mpf.compare(base, new, tolerance="lots")


def test_compare_reports_a_regression_as_a_verdict_not_an_error(work):
    slow = write(work / "s.yaml", "name: s\nruns: 3\nsteps:\n  - run: echo 'mpf-result t 100'\n")
    cli("run", slow, "-q", "--no-plot")
    write(slow, "name: s\nruns: 3\nsteps:\n  - run: echo 'mpf-result t 50'\n")
    cli("run", slow, "-q", "--no-plot")
    base, new = mpf.sets()["id"].iloc[::-1]
    df = mpf.compare(base, new)
    row = df[df["result"] == "t"].iloc[0]
    assert row["verdict"] == "regression"
    assert math.isclose(row["change"], -0.5)
    assert df.attrs["summary"]["regression"] is True


MONITORED = """
name: mon
runs: 1
variables:
  n: [1, 2]
monitor: {interval: 100ms, metrics: [cpu, memory]}
steps:
  - run: sleep 0.5; echo "mpf-result v {{ n }}"
"""


def test_timeseries_gives_every_runs_samples_in_long_format(work):
    exp = write(work / "mon.yaml", MONITORED)
    cli("run", exp, "-q", "--no-plot")
    ts = mpf.timeseries("latest")
    for col in ("run", "n", "repetition", "time", "role", "metric", "value"):
        assert col in ts.columns, col
    assert set(ts["run"]) == {0, 1}
    assert {"cpu", "mem"} <= set(ts["metric"])
    assert (ts["value"][ts["metric"] == "mem"] > 0).all()
