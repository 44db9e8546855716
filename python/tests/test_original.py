"""The original mpf's scripts on this engine (docs/python.md, "Coming from the original mpf"):
`mpf.add_variable`, `@mpf.run` functions run by python3 on their role's machines, IPython `!`
and `%ex` lines, `mpf.run_experiment()`'s DataFrame; the two README versions of the iperf
example (examples/iperf-original*.ipy) as `ipython --` scripts, locally and over ssh on two
namespace hosts, and from a notebook cell."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import mpf
from mpf import _original
from conftest import REPO, write

EXAMPLES = [REPO / "examples" / "iperf-original.ipy", REPO / "examples" / "iperf-original-v2.ipy"]


def _need(tool):
    if shutil.which(tool) is None:
        if os.environ.get("MPF_REQUIRE_NETNS") == "1":
            raise AssertionError(f"{tool} is required here")
        pytest.skip(f"{tool} is not installed")


def _ipython():
    if os.environ.get("MPF_REQUIRE_NOTEBOOK") == "1":
        import IPython  # noqa: F401
    else:
        pytest.importorskip("IPython")


@pytest.fixture
def fresh():
    """The module's default experiment, empty before and after."""
    _original.reset()
    yield
    _original.reset()


def ipython(script, *args, cwd):
    """`ipython -- SCRIPT ARGS` (the examples' shebang), with this interpreter's IPython."""
    return subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor",
                           "--", str(script), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)


def test_mpf_run_tells_the_decorator_from_a_run_by_its_arguments(work, fresh):
    @mpf.run
    def bare():
        return {"x": 1}

    @mpf.run(role="server", daemon=True, delay=0.5)
    def served():
        pass

    @mpf.run()
    def main_role():
        pass

    assert bare() == {"x": 1}, "the decorator gives the function back"
    steps = [(f.name, f.role, f.daemon, f.delay) for f in _original._state.functions]
    assert steps == [("bare", "main", False, 0), ("served", "server", True, 0.5),
                     ("main_role", "main", False, 0)]
    with pytest.raises(TypeError, match="decorator"):
        mpf.run(write(work / "x.yaml", "name: x\nsteps:\n  - run: 'true'\n"), role="a")
    # A file still runs as before.
    rs = mpf.run(write(work / "x.yaml", "name: x\nsteps:\n  - run: 'true'\n"), progress=False)
    assert (rs.ok, rs.failed) == (3, 0)


SCRIPT = """
import json
import os.path as osp
from collections import OrderedDict

import mpf

mpf.add_variable("size", [1, 2])
mpf.add_variable("mode", {"": "plain", "-v": "verbose"})

@mpf.run(role="server")
def server(mpf_ctx, size):
    # Module-level imports the function uses travel with it; mpf_ctx is the template context.
    d = OrderedDict(size=size, role=mpf_ctx["role"], ip=mpf_ctx["roles"]["server"]["interfaces"][0]["ip"])
    open(osp.join(mpf_ctx["run_dir"], "ctx.json"), "w").write(json.dumps(d))
    return {"bytes": f"{size}.5 KiB", "count": size * 10}

@mpf.run(role="client", delay=0.2)
def client(size, mode):
    return {"lat": "250 ms", "ratio": 0.5, "series": [1, 2, 3], "mode_len": len(mode)}

df = next(mpf.run_experiment(progress=False))
print(json.dumps({"index": list(df.index.names), "columns": sorted(df.columns), "rows": len(df),
                  "bytes": sorted(set(df["bytes"])), "lat": sorted(set(df["lat"])),
                  "count": sorted(set(df["count"])), "mode_len": sorted(set(df["mode_len"])),
                  "series": df["series"].iloc[0], "set": df.attrs["id"]}))
"""


def test_functions_run_with_their_variables_context_and_imports_and_results_have_units(work):
    """A plain Python script (no IPython): parameters by name, mpf_ctx, module-level imports,
    the returned dict as results with units (as the engine's extractors read them)."""
    script = write(work / "plain.py", SCRIPT)
    proc = subprocess.run([sys.executable, str(script)], cwd=work, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    import json
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["index"] == ["size", "mode"]
    assert out["columns"] == ["bytes", "count", "lat", "mode_len", "ratio", "series"]
    assert out["rows"] == 4
    assert out["bytes"] == [1.5 * 1024, 2.5 * 1024]      # KiB read as bytes
    assert out["lat"] == [0.25]                           # ms read as seconds
    assert out["count"] == [10, 20] and out["mode_len"] == [0, 2]
    assert out["series"] == [1.0, 2.0, 3.0]
    ctx = (work / "results" / out["set"] / "runs" / "0000" / "server" / "ctx.json").read_text()
    assert json.loads(ctx) == {"size": 1, "role": "server", "ip": "127.0.0.1"}
    assert out["set"].startswith("plain-")


IPY = """
import mpf

mpf.add_variable('n', [3])

@mpf.run()
def lines(n):
    word = 'hello'
    out = !echo $word {n + 1} '$word' $$MPF_ROLE; echo second
    assert out[0] == "hello 4 $word main" and out.n == "hello 4 $word main\\nsecond", out
    assert out.s == "hello 4 $word main second" and out.fields(1) == ["4", ""], out
    !echo shown-on-stdout
    listed = %ex printf 'a\\nb\\n'
    assert listed == ['a', 'b'], listed
    %ex true
    return {'words': len(out), 'n': n}

@mpf.run()
def failing():
    %ex echo before; exit 3

df = next(mpf.run_experiment(progress=False))
"""


def test_ipython_lines_run_on_the_machine_and_ex_fails_the_step(work):
    _ipython()
    script = write(work / "lines.ipy", IPY)
    proc = ipython(script, cwd=work)
    # The second function fails the run: `%ex` saw exit status 3.
    assert "RunError" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert "%ex echo before; exit 3: exit status 3" in proc.stdout + proc.stderr
    set_dir = next(p for p in (work / "results").iterdir())
    run = set_dir / "runs" / "0000" / "main"
    assert "shown-on-stdout" in (run / "lines.out").read_text()
    assert "mpf-result words 2" in (run / "lines.out").read_text()
    err = (run / "failing.err").read_text()
    # The traceback names the script, the function's line, and shows the line as written.
    assert f'File "{script}", line 20, in failing' in err, err
    assert "%ex echo before; exit 3" in err


def test_a_function_that_raises_shows_its_traceback_with_its_file_and_line(work, fresh):
    script = write(work / "raises.py", textwrap.dedent("""
        import mpf

        def helper():
            return 1

        @mpf.run()
        def broken(x):
            value = {"a": 1}
            return {"y": value["missing"]}

        mpf.add_variable("x", [1])
        try:
            mpf.run_experiment(progress=False)
        except mpf.RunError as e:
            print("RUNERROR", e)
    """))
    proc = subprocess.run([sys.executable, str(script)], cwd=work, capture_output=True,
                          text=True, timeout=120)
    assert "RUNERROR" in proc.stdout, proc.stderr
    err = next((work / "results").glob("*/runs/0000/main/broken.err")).read_text()
    assert err.startswith("Traceback (most recent call last):"), err
    assert f'File "{script}", line 10, in broken' in err
    assert 'return {"y": value["missing"]}' in err
    assert err.rstrip().endswith("KeyError: 'missing'")
    # The shim's own frames are not shown; the engine's message carries the end of it.
    assert "<mpf-shim>" not in err and "<string>" not in err
    assert "KeyError: 'missing'" in proc.stdout


def test_a_parameter_that_is_no_variable_and_a_result_that_is_no_number_are_named(work, fresh):
    mpf.add_variable("x", [1])

    @mpf.run()
    def f(x, y):
        pass

    with pytest.raises(mpf.ExperimentError, match=r"f\(y\): 'y' is not a variable"):
        mpf.run_experiment(progress=False)
    _original.reset()
    mpf.add_variable("x", [1])

    @mpf.run()
    def g(x):
        return {"r": "fast"}

    with pytest.raises(mpf.RunError, match="result 'r': 'fast' is not a number"):
        mpf.run_experiment(progress=False)


def _check_iperf_set(results, name):
    sets = [p for p in results.iterdir() if (p / "manifest.json").exists()]
    assert len(sets) == 1, sets
    df = mpf.load(sets[0].name, results=results)
    assert sets[0].name.startswith(name)
    assert len(df) == 16 and df["ok"].all()
    assert list(df.index.names) == ["parallel", "zerocopy", "repetition"]
    # goodput in bit/s (iperf printed Kbits): more than a megabit on any machine.
    assert (df["goodput"] > 1e6).all(), df["goodput"]
    return df


@pytest.mark.parametrize("version", [0, 1], ids=["first", "second"])
def test_the_readme_versions_run_as_ipython_scripts_locally(work, version):
    _ipython()
    _need("iperf3")
    proc = ipython(EXAMPLES[version], cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _check_iperf_set(work / "results", EXAMPLES[version].stem + "-")


@pytest.mark.parametrize("version", [0, 1], ids=["first", "second"])
def test_the_readme_versions_run_from_a_notebook_cell(work, version):
    if os.environ.get("MPF_REQUIRE_NOTEBOOK") == "1":
        import nbclient
        import nbformat
    else:
        nbclient = pytest.importorskip("nbclient")
        nbformat = pytest.importorskip("nbformat")
    _need("iperf3")
    text = EXAMPLES[version].read_text()
    # The second version keeps the DataFrame as `df`; the first ends with the bare call, whose
    # value the cell shows: `_` is the last value a cell showed.
    frame = "df" if version == 1 else "_"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(text.split("\n", 1)[1]),   # the script, shebang aside
        nbformat.v4.new_code_cell(f"df = next({frame}) if not hasattr({frame}, 'shape') else {frame}\n"
                                  "print(df.shape, list(df.index.names), list(df.columns))"),
    ])
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(work)}})
    client.execute()
    outputs = [o for c in nb.cells for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], outputs
    printed = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert printed.strip() == "(16, 1) ['parallel', 'zerocopy'] ['goodput']"
    _check_iperf_set(work / "results", "experiment-")


@pytest.fixture(scope="module")
def bed():
    import netbed

    why = netbed.skip_reason()
    if why:
        if os.environ.get("MPF_REQUIRE_NETNS") == "1":
            raise AssertionError(f"the namespace test bed is required (MPF_REQUIRE_NETNS=1) "
                                 f"but {why}")
        pytest.skip(why)
    b = netbed.Bed(2)
    yield b
    b.close()


@pytest.mark.parametrize("version", [0, 1], ids=["first", "second"])
def test_the_readme_versions_run_over_ssh_on_two_namespace_hosts(work, bed, version):
    _ipython()
    _need("iperf3")
    cluster = bed.cluster(work / "cluster.yaml", ["server", "client"])
    before = [bed.logins(0), bed.logins(1)]
    if version == 0:
        proc = ipython(EXAMPLES[0], "-c", cluster, cwd=work)
        out = ""
    else:
        # The script unchanged, run by IPython as `ipython --` does, then its `df` looked at.
        code = (f"import sys; sys.argv = [{str(EXAMPLES[1])!r}, '-c', {cluster!r}]; "
                f"get_ipython().safe_execfile_ipy(sys.argv[0], raise_exceptions=True); "
                "print('SHAPE', df.shape, list(df.index.names), list(df.columns))")
        proc = subprocess.run([sys.executable, "-m", "IPython", "--no-banner",
                               "--colors=NoColor", "-c", code], cwd=work, capture_output=True,
                              text=True, timeout=600, stdin=subprocess.DEVNULL)
        out = proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _check_iperf_set(work / "results", "iperf-original")
    # The functions ran on the namespace hosts, through their sshd.
    assert bed.logins(0) > before[0] and bed.logins(1) > before[1]
    if version == 1:
        assert "SHAPE (16, 1) ['parallel', 'zerocopy'] ['goodput']" in out, out


def test_an_import_missing_on_the_machine_is_named_in_the_traceback(work):
    """Module-level imports travel as imports: one the machine lacks (here a module beside the
    script, which the machine's python3, in the run's directory, does not see) fails the run
    naming the import, not a line of the script."""
    write(work / "helpermod.py", "VALUE = 7\n")
    script = write(work / "imports.py", textwrap.dedent("""
        import helpermod
        import mpf

        @mpf.run()
        def uses():
            return {"v": helpermod.VALUE}

        try:
            mpf.run_experiment(progress=False)
        except mpf.RunError as e:
            print("RUNERROR", e)
    """))
    proc = subprocess.run([sys.executable, str(script)], cwd=work, capture_output=True,
                          text=True, timeout=120)
    assert "RUNERROR" in proc.stdout, proc.stderr
    err = next((work / "results").glob("*/runs/0000/main/uses.err")).read_text()
    assert 'File "<imports sent with uses>", line 1' in err, err
    assert err.rstrip().endswith("ModuleNotFoundError: No module named 'helpermod'")
