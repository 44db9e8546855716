"""mpf.run: the recorded set, progress, errors, and Ctrl-C stopping the experiment cleanly."""

import os
import signal
import subprocess
import sys
import textwrap
import warnings

import pytest

import mpf
from conftest import alive_with, manifest, only_set, wait_until, write

TWO = """
name: two
runs: 2
variables:
  n: [1, 2, 3]
steps:
  - name: work
    run: |
      echo "mpf-result value {{ n * 10 }}"
      test {{ n }} -ne 3
"""


def test_run_returns_the_set_with_its_frame_and_applies_set_and_runs(work):
    exp = write(work / "two.yaml", TWO)
    rs = mpf.run(exp, runs=3, set={"n": [1, 2]}, progress=False)
    assert rs.path == str(only_set(work / "results"))
    assert rs.id == os.path.basename(rs.path)
    assert (rs.ok, rs.failed) == (6, 0)
    assert len(rs.df) == 6
    assert sorted(rs.df["value"].unique()) == [10.0, 20.0]
    assert manifest(rs.path)["status"] == "complete"
    # No graphs unless asked: a notebook draws its own.
    assert not os.path.exists(os.path.join(rs.path, "plots"))


def test_a_set_stopped_by_the_allocation_s_end_is_a_warning_and_resumes(work, monkeypatch):
    """Inside a Slurm job (here a stand-in scontrol whose job ends in 3 s), mpf.run stops
    before a run that cannot finish: the set is incomplete, a warning says how to continue,
    and mpf.run(resume=ID) completes it."""
    import time
    bin_dir = work / "bin"
    bin_dir.mkdir()
    end = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 3))
    write(bin_dir / "scontrol", f"#!/bin/sh\necho 'JobId=7 EndTime={end}'\n")
    os.chmod(bin_dir / "scontrol", 0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    exp = write(work / "slow.yaml", "runs: 1\nvariables:\n  n: [1, 2, 3, 4]\n"
                "steps:\n  - run: sleep 1; echo 'mpf-result v {{ n }}'\n")
    with pytest.warns(UserWarning, match=r"incomplete: .*mpf.run\(resume='slow-"):
        rs = mpf.run(exp, progress=False)
    assert manifest(rs.path)["status"] == "incomplete"
    assert rs.ok < 4
    monkeypatch.delenv("SLURM_JOB_ID")
    again = mpf.run(resume=rs.id, progress=False)
    assert (again.ok, again.failed) == (4, 0)
    assert manifest(rs.path)["status"] == "complete"


def test_run_writes_to_the_results_directory_given(work):
    exp = write(work / "two.yaml", TWO)
    rs = mpf.run(exp, set={"n": 1}, results=work / "other", progress=False, plot=True)
    assert rs.path.startswith(str(work / "other"))
    assert os.path.exists(os.path.join(rs.path, "plots"))


def test_failed_runs_are_nan_rows_and_a_warning(work):
    exp = write(work / "two.yaml", TWO)
    with pytest.warns(UserWarning, match="2 of 6 runs failed"):
        rs = mpf.run(exp, progress=False)
    failed = rs.df.xs(3, level="n")
    assert not failed["ok"].any() and failed["value"].isna().all()


def test_every_run_failing_is_a_run_error_naming_the_set(work):
    exp = write(work / "two.yaml", TWO)
    with pytest.raises(mpf.RunError) as e:
        mpf.run(exp, set={"n": 3}, progress=False)
    assert e.value.id and e.value.id in str(e.value)
    assert manifest(e.value.path)["runs_failed"] == 2


def test_invalid_input_is_an_experiment_error_with_the_clis_message(work):
    exp = write(work / "bad.yaml", "name: bad\nruns: 0\nsteps:\n  - run: 'true'\n")
    with pytest.raises(mpf.ExperimentError) as e:
        mpf.run(exp, progress=False)
    cli_message = subprocess.run([mpf.binary(), "run", str(exp)], capture_output=True,
                                 text=True).stderr.strip()
    assert cli_message == f"error: {e.value}"
    assert str(e.value).startswith(f"{exp}:2:7: ")
    with pytest.raises(mpf.ExperimentError, match="no-such-variable"):
        mpf.run(write(work / "two.yaml", TWO), set={"no-such-variable": 1}, progress=False)


def test_an_unreachable_machine_is_a_run_error_with_exit_code_4(work):
    # TEST-NET-1 (RFC 5737) is never routed; the cluster's ConnectTimeout comes before mpf's.
    cluster = write(work / "cluster.yaml", "machines:\n  - hostname: 192.0.2.1\n"
                    "    ssh_options: [ConnectTimeout=1]\n    role: far\n")
    exp = write(work / "far.yaml", "name: far\nsteps:\n  - role: far\n    run: 'true'\n")
    with pytest.raises(mpf.RunError, match="192.0.2.1") as e:
        mpf.run(exp, cluster=str(cluster), progress=False)
    assert e.value.exit_code == mpf._engine.EXIT_UNREACHABLE == 4


def test_a_setup_failure_is_a_run_error(work):
    exp = write(work / "s.yaml", "name: s\nsetup:\n  - run: echo broken >&2; exit 1\n"
                "steps:\n  - run: 'true'\n")
    with pytest.raises(mpf.RunError, match="setup"):
        mpf.run(exp, progress=False)


def test_progress_without_tqdm_prints_plain_lines(work, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    mpf.run(write(work / "two.yaml", TWO), set={"n": [1, 2]}, runs=1, progress=True)
    out = capsys.readouterr().out
    assert "[2/2] run 0001" in out, out
    assert "value=" in out


def test_plain_lines_are_the_clis_own_from_the_typed_events(work, capsys, monkeypatch):
    # The package formats the typed events (point labels, results as numbers with units, the
    # failure's message) into the very lines `mpf run -q` prints, without re-parsing text.
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    exp = write(work / "two.yaml", TWO)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mpf.run(exp, set={"n": [1, 3]}, runs=1, progress=True, results=str(work / "py"))
    ours = [l for l in capsys.readouterr().out.splitlines() if " run 0" in l]
    cli = subprocess.run([mpf.binary(), "run", str(exp), "-q", "--no-plot", "--set", "n=1,3",
                          "--runs", "1", "--results", str(work / "cli")],
                         capture_output=True, text=True, env=mpf._engine.child_env())
    theirs = [l for l in cli.stderr.splitlines() if " run 0" in l]
    assert cli.returncode == 1, cli.stderr
    assert ours == theirs and len(ours) == 2, (ours, theirs)
    assert "FAILED: step 'work' on local exited with status 1  value=30" in ours[1], ours


def test_run_event_helpers_format_typed_fields():
    from mpf._run import failure_text, point_text, results_text
    assert point_text({"point": {"n": 2}, "labels": {"n": "two"}}) == "n=two"
    assert point_text({"point": {}, "labels": {}}) == "(single point)"
    assert results_text([{"name": "rate", "value": 9.41e9, "unit": "bit/s",
                          "text": "rate=9.41 Gbit/s"},
                         {"name": "lat", "series": [1.0, 2.0], "unit": "s"}]) \
        == "rate=9.41 Gbit/s lat=[2 values]"
    assert failure_text({"kind": "exit", "step": "work", "code": 1, "message": "boom"}) == "boom"
    assert failure_text(None) == ""


def test_progress_with_tqdm_draws_a_bar(work, capsys):
    # CI installs tqdm and sets MPF_REQUIRE_TQDM=1 (.ci/run): then this must run.
    if os.environ.get("MPF_REQUIRE_TQDM") == "1":
        import tqdm  # noqa: F401
    else:
        pytest.importorskip("tqdm")
    mpf.run(write(work / "two.yaml", TWO), set={"n": [1, 2]}, runs=2, progress=True)
    err = capsys.readouterr().err
    assert "4/4" in err and "run" in err, err


SLOW = """
name: slow
runs: 1
order: sequential
variables:
  n: {{range: [1, 6]}}
steps:
  - name: work
    run: |
      [ {{{{ n }}}} -eq 1 ] && exit 0
      sh -c 'sleep 1000; echo {marker}' & sleep 1001
teardown:
  - run: echo torn-down >> {tmp}/teardown.log
"""


def _wait_for_first_run(set_root):
    def recorded():
        for d in os.listdir(set_root) if os.path.isdir(set_root) else []:
            journal = os.path.join(set_root, d, "journal.jsonl")
            if os.path.exists(journal) and open(journal).read().count("\n") >= 1:
                return True
        return False
    return recorded


def test_a_killed_python_stops_the_experiment_cleanly(work):
    """SIGKILL of the Python process (a Jupyter kernel restarted or killed): mpf gets the SIGINT
    the kernel sends it when its parent dies, stops the run, runs teardown and records the set
    as interrupted; nothing is left running."""
    marker = f"mpfpykill{os.getpid()}"
    exp = write(work / "slow.yaml", SLOW.format(marker=marker, tmp=work))
    script = f"import mpf; mpf.run({str(exp)!r}, progress=False)"
    child = subprocess.Popen([sys.executable, "-c", script], cwd=work,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(_wait_for_first_run(work / "results"), what="the first run recorded")
        wait_until(lambda: alive_with(marker) > 0, what="the slow step started")
        child.kill()
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    set_dir = only_set(work / "results")
    wait_until(lambda: manifest(set_dir)["status"] == "interrupted",
               what="the set recorded as interrupted")
    wait_until(lambda: alive_with(marker) == 0, what="the step stopped")
    assert (work / "teardown.log").read_text().count("torn-down") == 2


def test_keyboard_interrupt_stops_the_experiment_cleanly(work):
    """SIGINT to the Python process only (what interrupting a Jupyter kernel does): mpf.run
    forwards it, mpf stops the run, runs teardown, records the set as interrupted, and the
    script gets mpf.Interrupted (a KeyboardInterrupt) naming the set."""
    marker = f"mpfpyint{os.getpid()}"
    exp = write(work / "slow.yaml", SLOW.format(marker=marker, tmp=work))
    script = textwrap.dedent(f"""
        import sys, mpf
        try:
            mpf.run({str(exp)!r}, progress=False)
        except mpf.Interrupted as e:
            assert isinstance(e, KeyboardInterrupt)
            print("interrupted", e.id, flush=True)
            sys.exit(42)
    """)
    # The child imports mpf as this process does (installed, or through PYTHONPATH).
    child = subprocess.Popen([sys.executable, "-c", script], cwd=work,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(_wait_for_first_run(work / "results"), what="the first run recorded")
        wait_until(lambda: alive_with(marker) > 0, what="the slow step started")
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 42, err
    set_dir = only_set(work / "results")
    assert out.split() == ["interrupted", set_dir.name]
    m = manifest(set_dir)
    assert m["status"] == "interrupted"
    assert m["runs_ok"] == 1
    assert alive_with(marker) == 0
    assert (work / "teardown.log").read_text().count("torn-down") == 2
    # The set continues where it stopped.
    write(exp, SLOW.format(marker=marker, tmp=work).replace(
        "sh -c 'sleep 1000", "exit 0; sh -c 'sleep 1000"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(mpf.ExperimentError, match="changed since"):
            mpf.run(exp, resume=set_dir.name, progress=False)
        rs = mpf.run(exp, resume=set_dir.name, force=True, progress=False)
    assert rs.id == set_dir.name and (rs.ok, rs.failed) == (6, 0)


def _orphans(marker):
    """The step processes of `marker` still alive, killed (they are this test's own)."""
    n = alive_with(marker)
    if n:
        subprocess.run(["pkill", "-KILL", "-f", marker], check=False)
    return n


@pytest.mark.parametrize("when", ["before the child starts", "as the child starts"])
def test_an_interrupt_while_the_child_starts_never_orphans_it(work, monkeypatch, when):
    """A KeyboardInterrupt that lands while `mpf run` is being started (before Popen, or
    between Popen and the wait that forwards Ctrl-C) used to escape as a plain
    KeyboardInterrupt, the child running on unsupervised. Now the child gets its SIGINT (or
    never runs a step) and mpf.Interrupted is raised."""
    import mpf._run as run_module

    marker = f"mpfpyearly{os.getpid()}{when[:2]}"
    exp = write(work / "slow.yaml", SLOW.format(marker=marker, tmp=work))
    real = subprocess.Popen

    def popen(*args, **kwargs):
        if when == "before the child starts":
            signal.raise_signal(signal.SIGINT)
        child = real(*args, **kwargs)
        if when == "as the child starts":
            signal.raise_signal(signal.SIGINT)
        return child

    monkeypatch.setattr(run_module.subprocess, "Popen", popen)
    try:
        # (A plain KeyboardInterrupt is caught here too, so that it fails this test rather
        # than stopping pytest.)
        with pytest.raises(KeyboardInterrupt) as e:
            mpf.run(exp, progress=False)
        assert isinstance(e.value, mpf.Interrupted), repr(e.value)
        # Whatever mpf started has stopped by now, or never started.
        wait_until(lambda: alive_with(marker) == 0, limit=10, what="no step left running")
    finally:
        assert _orphans(marker) == 0
    for s in (work / "results").iterdir() if (work / "results").exists() else []:
        if (s / "manifest.json").exists():
            assert manifest(s)["status"] == "interrupted"


def test_interrupts_at_any_moment_of_the_start_stop_the_experiment(work, monkeypatch):
    """The issue's reproduction (`threading.Timer(0.005, _thread.interrupt_main)` then
    `mpf.run`), at several delays counted from the moment mpf.run is entered (so that the
    interrupt never lands in the test's own code): each time mpf.Interrupted, and no step
    process left."""
    import _thread
    import threading
    import time

    import mpf._run as run_module

    entered = threading.Event()
    real_args = run_module.run_args

    def run_args(*args, **kwargs):
        entered.set()
        return real_args(*args, **kwargs)

    monkeypatch.setattr(run_module, "run_args", run_args)
    for i, delay in enumerate([0.0, 0.0005, 0.002, 0.005, 0.02, 0.2]):
        marker = f"mpfpytimer{os.getpid()}x{i}"
        exp = write(work / "slow.yaml", SLOW.format(marker=marker, tmp=work).replace(
            "[ {{ n }} -eq 1 ] && exit 0\n", ""))
        entered.clear()

        def fire():
            if entered.wait(30):
                time.sleep(delay)
                _thread.interrupt_main()

        timer = threading.Thread(target=fire)
        timer.start()
        try:
            # Every run sleeps: mpf.run cannot end before the interrupt.
            with pytest.raises(KeyboardInterrupt) as e:
                mpf.run(exp, progress=False, results=work / f"r{i}")
            assert isinstance(e.value, mpf.Interrupted), (delay, repr(e.value))
        finally:
            timer.join()
            orphans = _orphans(marker)
        assert orphans == 0, f"delay {delay}: {orphans} step processes left running"


def test_the_parent_death_signal_repeated_for_each_thread_never_quits_at_once(work):
    """The cause of the flaky killed-Python test. Linux sends the parent-death signal when the
    thread that started mpf exits, and again for each thread of that process mpf is handed to
    as they die (numpy and pyarrow run threads in the Python process). With SIGINT, a repeat
    that arrived after mpf had taken the first was a second Ctrl-C: mpf quit at once and the
    set stayed `running`. Here the two deaths are seconds apart (the starting thread ends, then
    the process is killed while teardown is still running); the set must end `interrupted`."""
    marker = f"mpfpydeath{os.getpid()}"
    slow_teardown = SLOW.replace("  - run: echo torn-down", "  - run: sleep 2; echo torn-down")
    exp = write(work / "slow.yaml", slow_teardown.format(marker=marker, tmp=work))
    script = textwrap.dedent(f"""
        import subprocess, sys, threading, time
        from mpf import _engine, _run
        go = threading.Event()
        def start():
            # As mpf.run starts the engine, from a thread that ends when told to.
            subprocess.Popen([_engine.binary(), "run", {str(exp)!r}, "--progress", "json",
                              "--no-plot"], stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=_engine.child_env(), start_new_session=True,
                             preexec_fn=_run._stop_with_us())
            go.wait()
        t = threading.Thread(target=start)
        t.start()
        sys.stdin.readline()
        go.set()
        t.join()
        print("thread ended", flush=True)
        time.sleep(600)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], cwd=work, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        wait_until(_wait_for_first_run(work / "results"), what="the first run recorded")
        wait_until(lambda: alive_with(marker) > 0, what="the slow step started")
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "thread ended\n"
        set_dir = only_set(work / "results")
        # The first signal is being handled: the step stops, the teardown sleeps.
        wait_until(lambda: alive_with(marker) == 0, what="the step stopped")
        child.kill()
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    wait_until(lambda: manifest(set_dir)["status"] == "interrupted",
               what="the set recorded as interrupted")
    assert (work / "teardown.log").read_text().count("torn-down") == 2
