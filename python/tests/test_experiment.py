"""mpf.Experiment: the document it builds, YAML that round-trips through the engine, the same
messages as the CLI, and the iperf example written in Python."""

import importlib.util
import json
import shutil

import pytest

import mpf
from conftest import REPO, cli, manifest

AWKWARD = ['plain', '', 'with "quotes"', "back\\slash", "tab\there", "ünï ✓", "#hash",
           "- dash", "key: colon", "null", "true", "1.5x", "{ braces }", "a\u2028b"]


def test_to_yaml_round_trips_awkward_values_through_the_engine(work):
    exp = mpf.Experiment("awkward", runs=1, description='quotes " and \\ and\nnewlines')
    exp.add_variable("word", list(range(len(AWKWARD))))
    exp.add_variable("text", {str(i): f"label {i}" for i in range(2)})
    exp.step(name="emit", run='printf "%s\\n" {{ word }}\n' 'echo "mpf-result n {{ word }}"\n')
    exp.step(name="files", run="cat {{ run_dir }}/data.txt\n  echo indented line\n")
    exp["files"] = [{"path": "{{ run_dir }}/data.txt", "content": "\n".join(AWKWARD)}]
    path = work / "awkward.yaml"
    text = exp.to_yaml(path)
    assert path.read_text() == text
    cli("check", path)
    rs = exp.run(progress=False)
    assert (rs.ok, rs.failed) == (len(AWKWARD) * 2, 0)
    m = manifest(rs.path)
    assert m["description"] == 'quotes " and \\ and\nnewlines'
    # The file the engine wrote holds exactly the strings given.
    out = (work / "results" / rs.id / "runs" / "0000" / "local" / "files.out").read_text()
    assert out == "\n".join(AWKWARD) + "indented line\n"


def test_every_variable_form(work):
    exp = mpf.Experiment("forms", runs=1, order="sequential", seed=7)
    exp.add_variable("listed", ["a", "b"])
    exp.add_variable("stepped", range(0, 10, 4))
    exp.add_variable("labelled", {"": "off", "-v": "on"})
    exp.add_variable("constant", 42)
    exp.add_variable("geometric", range=[1, 8], factor=2)
    exp.add_variable("sched", ["x", "y"], when='listed == "b"')
    exp.add_variable("size", [64, 1500])
    exp.add_variable("name", ["small", "big"])
    exp.zip("size", "name")
    exp.step(run="echo 'mpf-result v 1'")
    doc = exp.doc["variables"]
    assert doc["stepped"] == {"range": [0, 8], "step": 4}
    assert doc["labelled"] == {"values": {"": "off", "-v": "on"}}
    assert doc["sched"] == {"values": ["x", "y"], "when": 'listed == "b"'}
    assert doc["zip"] == [["size", "name"]]
    df = exp.run(progress=False).df
    assert list(df.index.names) == ["listed", "stepped", "labelled", "geometric", "sched",
                                    "size", "name", "repetition"]
    assert sorted(set(df.index.get_level_values("stepped"))) == [0, 4, 8]
    assert sorted(set(df.index.get_level_values("geometric"))) == [1, 2, 4, 8]
    # listed=a: sched does not apply (null); listed=b: both values. x 3 x 2 x 4 x 2 (zip).
    assert len(df) == (1 + 2) * 3 * 2 * 4 * 2
    assert df.attrs["constants"] == {"constant": 42}
    sched_a = df.xs("a", level="listed").index.get_level_values("sched")
    assert sched_a.isna().all()


def test_check_reports_the_engines_message_for_the_generated_file(work):
    exp = mpf.Experiment("bad", runs=2)
    exp.add_variable("n", [1, 2])
    exp.step(run="echo {{ m }}")
    with pytest.raises(mpf.ExperimentError) as e:
        exp.check()
    message = str(e.value)
    assert "undefined" in message and "'m'" in message, message
    # The same file through the CLI gives the same message, line and column included.
    exp.to_yaml(work / "bad.yaml")
    cli_err = cli("check", "bad.yaml", check=False).stderr.strip()
    assert cli_err.startswith("error: bad.yaml:")
    assert cli_err[len("error: bad.yaml:"):] == message.split(".yaml:", 1)[1]
    # Unknown keys are refused by the engine, naming the accepted ones.
    with pytest.raises(mpf.ExperimentError, match="unknown field `colour`"):
        mpf.Experiment("x", colour="red").step(run="true").check()
    assert not list(work.glob(".mpf-*.yaml")), "temporary files removed"
    good = mpf.Experiment("good", runs=1).add_variable("n", [1, 2]).step(run="true")
    assert "2 points" in good.check(set={"n": [1, 2]})


def test_every_top_level_key_is_a_keyword(work):
    exp = mpf.Experiment(
        "keys", runs=1, description="d", order="sequential", seed="s", retries=1,
        on_failure="continue", sampling={"method": "random", "count": 2},
        setup=[{"run": "true"}], teardown=[{"run": "true"}], cleanup=[{"run": "true"}],
        files=[{"path": "{{ run_dir }}/f", "content": "x"}], require={},
        plot={"x": "n", "y": "v"})
    exp.add_variable("n", range(1, 6))
    exp.step(run="echo 'mpf-result v {{ n }}'")
    rs = exp.run(progress=False)
    m = manifest(rs.path)
    assert (m["runs_ok"], m["description"], m["order"], m["seed"]) == (2, "d", "sequential", "s")


@pytest.mark.skipif(shutil.which("iperf3") is None, reason="iperf3 is not installed")
def test_the_iperf_example_in_python_runs(work):
    spec = importlib.util.spec_from_file_location("iperf_example", REPO / "examples" / "iperf.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    exp = example.experiment(runs=1)
    assert "2 points" in exp.check(set={"parallel": [1, 4], "zerocopy": ""})
    df = exp.run(set={"parallel": [1, 4]}, progress=False).df
    assert len(df) == 4 and df["ok"].all()
    assert (df["goodput"] > 1e6).all(), df["goodput"]
    assert df.attrs["units"]["goodput"] == "bit/s"
    assert set(df["zerocopy_label"]) == {"disabled", "enabled"}
    # The example and examples/iperf.yaml describe one experiment: same variables and roles.
    text = exp.to_yaml(work / "iperf.yaml")
    assert json.dumps("Server listening") in text
    cli("check", work / "iperf.yaml")


@pytest.mark.parametrize("length", [1000, 1030, 2000])
def test_to_yaml_writes_a_key_too_long_for_an_implicit_key_explicitly(work, length):
    """YAML limits an implicit key to 1024 characters: a longer key (here a variable's value
    with a label, and a key nested in a list) is written in the explicit `? key` form, and
    every output reads back with `mpf check` and runs."""
    long = "k" * length
    exp = mpf.Experiment("keys", runs=1)
    exp.add_variable("v", {long: "long", "short": "short"})
    exp.step(name="show", run='echo "mpf-result n {{ v | length }}"')
    text = exp.to_yaml(work / "keys.yaml")
    # Written keys of more than 1000 characters are explicit (a margin below 1024).
    assert ("? " in text) == (length > 1000), text[:200]
    cli("check", work / "keys.yaml")
    rs = exp.run(progress=False)
    assert sorted(rs.df["n"]) == [5.0, float(length)]
    # The same emitter: a long key in a list item, with a nested value.
    from mpf import _yaml
    doc = {"list": [{long: {"inner": [1, 2]}, "b": 2}]}
    nested = _yaml.dump(doc)
    if length > 1000:
        assert nested == f'list:\n  - ? {long}\n    :\n      inner:\n        - 1\n' \
            '        - 2\n    b: 2\n'
    # PyYAML (where installed) enforces the 1024 limit as the engine does, and reads it back.
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(nested) == doc
