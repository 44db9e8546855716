"""Shared fixtures: every test runs the real engine (`mpf.binary()`: $MPF_BIN, e.g. the debug
binary cargo built, or the one installed with the package) in a directory of its own."""

import json
import os
import pathlib
import subprocess
import time

import pytest

import mpf

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A fresh current directory whose result sets live in ./results."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPF_RESULTS", str(tmp_path / "results"))
    return tmp_path


def cli(*args, check=True, **kw):
    """The mpf command itself, for what the tests compare the module against."""
    proc = subprocess.run([mpf.binary(), *map(str, args)], capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"mpf {' '.join(map(str, args))}: {proc.returncode}\n{proc.stderr}")
    return proc


def write(path, text):
    pathlib.Path(path).write_text(text)
    return pathlib.Path(path)


def only_set(results):
    sets = [p for p in pathlib.Path(results).iterdir() if (p / "manifest.json").exists()]
    assert len(sets) == 1, sets
    return sets[0]


def manifest(set_dir):
    return json.loads((pathlib.Path(set_dir) / "manifest.json").read_text())


def alive_with(marker):
    """Processes (zombies aside) whose command line holds `marker`."""
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2:].startswith("Z"):
            continue
        if marker in cmd.replace(b"\0", b" ").decode(errors="replace"):
            n += 1
    return n


def wait_until(condition, limit=30.0, what="condition"):
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {limit}s"
        time.sleep(0.05)
