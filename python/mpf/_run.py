"""Running experiments: mpf run as a child process, its JSON progress events shown with tqdm
(or plain lines), Ctrl-C forwarded as the CLI's own."""

import json
import os
import signal
import subprocess
import sys
import threading
import types
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional

import pandas as pd

from . import _engine, _read


class RunResult:
    """A recorded result set: `.id`, `.path`, `.ok` and `.failed` (runs), `.df` (loaded on
    first use, see `mpf.load`)."""

    def __init__(self, id: str, path: str, ok: int, failed: int):
        self.id = id
        self.path = path
        self.ok = ok
        self.failed = failed
        self._df: Optional[pd.DataFrame] = None

    @property
    def df(self) -> pd.DataFrame:
        if self._df is None:
            self._df = _read.load(self.path)
        return self._df

    def __repr__(self) -> str:
        return f"RunResult(id={self.id!r}, ok={self.ok}, failed={self.failed}, path={self.path!r})"


def _set_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if "," in text:
        raise _engine.ExperimentError(
            f"set: the value {text!r} holds a comma, which --set cannot express")
    return text


def set_args(sets: Optional[Dict[str, Any]]) -> List[str]:
    """{"parallel": [1, 8]} -> --set parallel=1,8 (a single value may be given bare)."""
    args: List[str] = []
    for name, values in (sets or {}).items():
        if isinstance(values, (str, bytes, int, float, bool)):
            values = [values]
        args += ["--set", f"{name}=" + ",".join(_set_value(v) for v in values)]
    return args


# The version of `mpf run --progress json` this package reads (docs/cli.md, "Progress as JSON").
EVENT_FORMAT = 1


def point_text(ev: Dict[str, Any]) -> str:
    """`parallel=4, zerocopy=enabled` from a run event's labels (the point's swept variables),
    `(single point)` when nothing is swept."""
    labels = ev.get("labels")
    if not isinstance(labels, dict):
        labels = {k: json.dumps(v) for k, v in (ev.get("point") or {}).items()}
    return ", ".join(f"{k}={v}" for k, v in labels.items()) or "(single point)"


def results_text(results: Any) -> str:
    """`goodput=9.41 Gbit/s latency=[12 values]`: each result as the CLI shows it."""
    parts = []
    for r in results if isinstance(results, list) else []:
        if not isinstance(r, dict):
            continue
        if r.get("text"):
            parts.append(str(r["text"]))
        elif isinstance(r.get("series"), list):
            parts.append(f"{r.get('name')}=[{len(r['series'])} values]")
        else:
            unit = f" {r['unit']}" if r.get("unit") else ""
            parts.append(f"{r.get('name')}={r.get('value')}{unit}")
    return " ".join(parts)


def failure_text(failure: Any) -> str:
    """The message of a typed failure (`{"kind": "exit", "step": ..., "message": ...}`)."""
    if isinstance(failure, dict):
        return str(failure.get("message") or failure.get("kind") or "")
    return ""


class _Progress:
    """Shows the events: a tqdm bar (tqdm.auto: a widget in Jupyter, text in a terminal) where
    tqdm is installed, plain lines otherwise, nothing when disabled."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None
        self.tqdm = None
        if enabled:
            try:
                # In Jupyter without ipywidgets, tqdm.auto falls back to its text bar (which
                # works there) with a warning about the widget; the bar is what matters.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    from tqdm.auto import tqdm
                self.tqdm = tqdm
            except ImportError:
                pass

    def line(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, flush=True)

    def event(self, ev: Dict[str, Any]) -> None:
        kind = ev.get("event")
        if kind == "started":
            if self.tqdm is not None and self.enabled:
                self.bar = self.tqdm(total=ev["total"], initial=ev.get("already", 0), unit="run",
                                     desc="mpf")
        elif kind == "round":
            if self.bar is not None:
                self.bar.total = ev["total"]
                if ev.get("status"):
                    self.bar.set_description(ev["status"])
                self.bar.refresh()
            elif ev.get("status"):
                self.line(ev["status"])
        elif kind == "run":
            state = "ok" if ev["ok"] else f"FAILED: {failure_text(ev.get('failure'))}"
            shown = results_text(ev.get("results"))
            results = f"  {shown}" if shown else ""
            text = f"run {ev['index']:04} {point_text(ev)}: {state}{results}"
            if self.bar is not None:
                self.bar.total = max(self.bar.total or 0, ev["total"])
                self.bar.update(1)
                self.bar.set_postfix_str(shown, refresh=False)
                if not ev["ok"]:
                    self.bar.write(text)
            else:
                self.line(f"[{ev['done']}/{ev['total']}] {text}")
        elif kind in ("setup", "cleanup", "switch", "revert"):
            state = "ok" if ev["ok"] else "FAILED"
            self.line(f"{kind} {ev['machine']}: {state} in {ev['seconds']:.1f}s")
        elif kind == "retrying":
            self.line(f"run {ev['index']:04}: attempt {ev['attempt']} failed "
                      f"({failure_text(ev.get('failure'))}), retrying")
        elif kind == "limits":
            for text in ev.get("lines", []):
                self.line(text)
        elif kind == "block":
            self.line(f"block {ev['number']} of {ev['of']}: switching to "
                      f"{ev['variable']} = {ev['label']}")
        elif kind == "note":
            self.line(ev["message"])
        elif kind == "warning":
            self.line(f"warning: {ev['message']}")
        elif kind == "finished":
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _stop_with_us() -> Optional[Callable[[], None]]:
    """On Linux, a `preexec_fn` that asks the kernel to send the child SIGUSR1 when this process
    dies (`PR_SET_PDEATHSIG`): a Jupyter kernel restarted or killed (SIGKILL) stops the
    experiment as Ctrl-C does, instead of leaving it running unwatched. Not SIGINT: the kernel
    sends the signal when the thread that started the child exits, and again for each other
    thread of this process the child is handed to as they die (numpy, pyarrow and the kernel
    run threads); two SIGINTs would be a second Ctrl-C, which makes mpf quit at once with the
    set left `running`. mpf takes SIGUSR1 as a first Ctrl-C and ignores its repeats. The C
    library is looked up here, in the parent: nothing is imported between fork and exec."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    sigusr1 = int(signal.SIGUSR1)
    return lambda: prctl(pr_set_pdeathsig, sigusr1, 0, 0, 0)


def _interrupt(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGINT)
        except ProcessLookupError:
            pass


class _HeldInterrupt:
    """SIGINT held (recorded, not raised) while the child is being started: a KeyboardInterrupt
    raised inside `subprocess.Popen`, or between Popen and the `try` that forwards Ctrl-C,
    would leave the child running unsupervised (it is in its own session: no terminal Ctrl-C
    reaches it). `release()`, called inside that `try`, puts the previous handler back and
    raises the KeyboardInterrupt that was held. Only the main thread can set a handler (and
    only it gets KeyboardInterrupt); elsewhere nothing is held."""

    def __init__(self) -> None:
        self.hit = False
        self.previous: Any = None
        if threading.current_thread() is threading.main_thread():
            try:
                self.previous = signal.signal(signal.SIGINT, self._hold)
            except (ValueError, OSError):
                self.previous = None

    def _hold(self, signum: int, frame: Any) -> None:
        self.hit = True

    def restore(self) -> None:
        if self.previous is not None:
            previous, self.previous = self.previous, None
            signal.signal(signal.SIGINT, previous)

    def release(self) -> None:
        self.restore()
        if self.hit:
            self.hit = False
            raise KeyboardInterrupt


class _Session:
    """One `mpf run` child: its events, the lines that are not events (errors), its end."""

    def __init__(self, args: List[str], progress: bool, held: _HeldInterrupt):
        self.progress = _Progress(progress)
        self.text: List[str] = []
        self.set: Optional[Dict[str, Any]] = None
        self.first_error: Optional[str] = None
        self.newer_format_warned = False
        self.held = held
        # Its own session: a Ctrl-C in a terminal reaches Python only, which forwards one
        # SIGINT, so that mpf sees exactly one (a second would make it quit at once).
        self.proc = subprocess.Popen([_engine.binary(), *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, errors="replace", bufsize=1,
                                     env=_engine.child_env(), start_new_session=True,
                                     preexec_fn=_stop_with_us())

    def _consume(self, lines: Iterable[str]) -> None:
        for raw in lines:
            line = raw.rstrip("\n")
            ev = None
            if line.startswith("{"):
                try:
                    ev = json.loads(line)
                except ValueError:
                    ev = None
            if isinstance(ev, dict) and "event" in ev:
                fmt = ev.get("format")
                if isinstance(fmt, int) and fmt > EVENT_FORMAT and not self.newer_format_warned:
                    self.newer_format_warned = True
                    warnings.warn(f"mpf writes progress events in format {fmt}, newer than this "
                                  f"package reads (format {EVENT_FORMAT}): upgrade the package",
                                  stacklevel=4)
                if ev["event"] == "set":
                    self.set = ev
                elif ev["event"] == "run" and not ev.get("ok") and self.first_error is None:
                    self.first_error = failure_text(ev.get("failure"))[:4000]
                self.progress.event(ev)
            elif line:
                self.text.append(line)
                if not line.startswith("error: "):
                    self.progress.line(line)

    def wait(self) -> int:
        """Reads the events to the end. Ctrl-C (KeyboardInterrupt) is forwarded to mpf as its
        own Ctrl-C: it stops the current run, runs teardown and cleanup and records the set as
        interrupted; a second one makes mpf quit at once (its guard still stops every process
        it started)."""
        try:
            try:
                # An interrupt held while the child started is raised here, inside the try.
                self.held.release()
                self._consume(self.proc.stderr)
                return self.proc.wait()
            except KeyboardInterrupt:
                # mpf says what it does (a `note` event), as on the command line.
                _interrupt(self.proc)
                try:
                    self._consume(self.proc.stderr)
                    self.proc.wait()
                except KeyboardInterrupt:
                    _interrupt(self.proc)
                    self.proc.wait()
                    raise
                raise _engine.Interrupted(*self._where())
        finally:
            self.progress.close()
            if self.proc.poll() is None:
                _interrupt(self.proc)
                self.proc.wait()
            if self.proc.stderr:
                self.proc.stderr.close()

    def _where(self):
        if self.set:
            return self.set.get("id"), self.set.get("path")
        return None, None


def run_args(experiment: str, cluster=None, runs=None, set=None, results=None, resume=None,
             force=False, keep_going=False, no_setup=False, no_require=False, plot=False
             ) -> List[str]:
    args = ["run"]
    if experiment is not None:
        args.append(os.fspath(experiment))
    args += ["--progress", "json"]
    if cluster is not None:
        args += ["--cluster", os.fspath(cluster)]
    if runs is not None:
        args += ["--runs", str(int(runs))]
    args += set_args(set)
    args += _engine.results_args(results)
    if resume is not None:
        args += ["--resume", str(resume)]
    for flag, on in (("--force", force), ("--keep-going", keep_going),
                     ("--no-setup", no_setup), ("--no-require", no_require),
                     ("--no-plot", not plot)):
        if on:
            args.append(flag)
    return args


def run(experiment=None, cluster=None, runs: Optional[int] = None,
        set: Optional[Dict[str, Any]] = None, results=None, progress: bool = True,
        resume: Optional[str] = None, force: bool = False, keep_going: bool = False,
        no_setup: bool = False, no_require: bool = False, plot: bool = False,
        role: Optional[str] = None, daemon: Optional[bool] = None, delay: Any = None,
        timeout: Any = None):
    """Runs an experiment (a YAML file or an `mpf.Experiment`) with the engine, as `mpf run`
    does, and returns the recorded set. Failed runs are rows with `ok` False and NaN results
    (and a warning); `RunError` when nothing usable was recorded (setup failed, every run
    failed), `ExperimentError` for invalid input, `mpf.Interrupted` (a KeyboardInterrupt)
    after Ctrl-C has stopped the experiment cleanly.

    As the original mpf's decorator: `@mpf.run(role="client", daemon=False, delay=1)` (or
    `@mpf.run`, `@mpf.run()`) registers a function for `mpf.run_experiment()` (see
    `mpf._original`); it is told apart by its arguments: a function, only the decorator's
    keywords, or nothing at all."""
    from . import _original
    from ._experiment import Experiment

    step_keys = {"role": role, "daemon": daemon, "delay": delay, "timeout": timeout}
    given = {k: v for k, v in step_keys.items() if v is not None}
    file_args = (cluster, runs, set, results, resume)
    if isinstance(experiment, types.FunctionType) and not given:
        return _original.decorator()(experiment)
    if given or (experiment is None and all(a is None for a in file_args)
                 and not (force or keep_going or no_setup or no_require or plot)):
        if experiment is not None or any(a is not None for a in file_args):
            raise TypeError("mpf.run: role, daemon, delay and timeout are the decorator's "
                            "(@mpf.run(role=...)); an experiment file takes none of them")
        return _original.decorator(**given)
    if isinstance(experiment, Experiment):
        with experiment._file() as path:
            return run(path, cluster, runs, set, results, progress, resume, force, keep_going,
                       no_setup, no_require, plot)
    if experiment is None and resume is None:
        raise _engine.ExperimentError("run: give an experiment file, or resume=ID")
    args = run_args(experiment, cluster, runs, set, results, resume, force, keep_going,
                    no_setup, no_require, plot)
    try:
        held = _HeldInterrupt()
        try:
            session = _Session(args, progress, held)
        except BaseException:
            held.restore()
            raise
    except KeyboardInterrupt:
        # Before the handler was set (or while it was put back): no child was started.
        raise _engine.Interrupted() from None
    code = session.wait()
    return _outcome(session, code)


def _outcome(session: _Session, code: int) -> RunResult:
    message = _engine.error_text("\n".join(session.text))
    s = session.set
    if code == _engine.EXIT_INPUT:
        raise _engine.ExperimentError(message)
    if s is None:
        raise _engine.RunError(message or f"mpf run exited with status {code}", exit_code=code)
    if code == _engine.EXIT_INTERRUPTED or s.get("interrupted"):
        raise _engine.Interrupted(s.get("id"), s.get("path"))
    result = RunResult(s["id"], s["path"], s["ok"], s["failed"])
    if s.get("early_stop") or (s["failed"] and not s["ok"]):
        why = s.get("early_stop") or f"all {s['failed']} runs failed" + (
            f"; the first: {session.first_error}" if session.first_error else "")
        raise _engine.RunError(f"{s['id']}: {why}", id=s["id"], path=s["path"], exit_code=code)
    if s["failed"]:
        warnings.warn(f"{s['id']}: {s['failed']} of {s['ok'] + s['failed']} runs failed "
                      "(ok is False, results NaN)", stacklevel=3)
    if s.get("machines_lost"):
        warnings.warn(f"{s['id']}: machines stopped answering: {', '.join(s['machines_lost'])} "
                      f"(mpf exited {code})", stacklevel=3)
    if s.get("cleanup_failed"):
        warnings.warn(f"{s['id']}: a cleanup entry failed", stacklevel=3)
    if s.get("incomplete"):
        warnings.warn(f"{s['id']}: incomplete: the allocation ends before the next run could "
                      f"finish; continue with mpf.run(resume={s['id']!r}) in the next one "
                      f"(mpf exited {code})", stacklevel=3)
    return result
