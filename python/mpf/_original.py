"""The original mpf's module API on this engine: `mpf.add_variable`, `@mpf.run(role=...,
daemon=..., delay=...)`, `mpf.default_setup()`, `mpf.run_experiment()`.

Each decorated function becomes a step of a default `mpf.Experiment`: its code (as IPython's
input transformer leaves it: `!cmd` is `get_ipython().getoutput('cmd')`...) and the
module-level imports it uses are sent with a small shim (`_shim.py`) as arguments of
`python3 -c` on each machine of its role; the engine renders the point's context into the
command (`tojson`). The shim fills the parameters by name, runs `!`, `x = !` and `%ex` lines
with /bin/sh and prints the returned dict as `mpf-result` lines, which the engine reads with
units. See docs/python.md, "Coming from the original mpf".
"""

import argparse
import ast
import base64
import inspect
import json
import linecache
import os
import re
import sys
import textwrap
import types
from typing import Any, Callable, Dict, List, Optional

import pandas as pd

from . import _engine
from ._experiment import Experiment

# Largest payload (function, imports, lines) sent on a command line: one argument of a command
# may not exceed 128 KiB on Linux (MAX_ARG_STRLEN), and base64 adds a third.
MAX_PAYLOAD = 64 * 1024
RESERVED = {"mpf_ctx"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Function:
    def __init__(self, func: Callable, role: str, daemon: bool, delay: Any, timeout: Any):
        self.func = func
        self.name = func.__name__
        self.role = role
        self.daemon = daemon
        self.delay = delay
        self.timeout = timeout


class _State:
    """The default experiment of a script or a notebook: its variables, functions, cluster."""

    def __init__(self) -> None:
        self.variables: Dict[str, Any] = {}
        self.functions: List[_Function] = []
        self.globals: Dict[str, Any] = {}
        self.cluster: Optional[str] = None
        self.options: Optional[argparse.Namespace] = None


_state = _State()


def reset() -> None:
    """Forgets the default experiment's variables, functions, globals and cluster."""
    global _state
    _state = _State()


def add_variable(name: str, values: Any) -> None:
    """A variable of the default experiment: a list, a `range`, a dict value -> label, as
    `Experiment.add_variable`. Adding it again replaces it (a notebook cell run twice)."""
    if name in RESERVED:
        raise _engine.ExperimentError(f"add_variable: {name!r} is reserved")
    _state.variables[name] = values


def register_globals(**values: Any) -> None:
    """Names every function sees on the machines (JSON values), as the original's."""
    json.dumps(values)
    _state.globals.update(values)


def decorator(role: str = "main", daemon: bool = False, delay: Any = 0,
              timeout: Any = None) -> Callable[[Callable], Callable]:
    """`@mpf.run(role=..., daemon=..., delay=...)`: registers the function as a step of the
    default experiment (a function of the same name replaces the earlier one)."""
    if not isinstance(role, str) or not role:
        raise _engine.ExperimentError(f"@mpf.run: role must be a role name, not {role!r}")

    def register(func: Callable) -> Callable:
        if not isinstance(func, types.FunctionType):
            raise _engine.ExperimentError(f"@mpf.run decorates a function, not {func!r}")
        entry = _Function(func, role, bool(daemon), delay, timeout)
        for i, f in enumerate(_state.functions):
            if f.name == entry.name:
                _state.functions[i] = entry
                break
        else:
            _state.functions.append(entry)
        return func

    return register


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="mpf experiment", add_help=False)
    p.add_argument("-c", "--cluster", metavar="cluster.yaml")
    p.add_argument("-r", "--runs", type=int)
    p.add_argument("--results", metavar="DIR")
    return p


def _script() -> Optional[str]:
    """The script being run (`ipython -- script.ipy`, `python3 script.py`), if any: not a
    notebook kernel's launcher, not `python -m` (`__main__.py`)."""
    argv0 = sys.argv[0] if sys.argv else ""
    base = os.path.basename(argv0)
    if not base.endswith((".py", ".ipy")) or base.startswith(("_", "ipykernel")):
        return None
    return argv0


def _argv() -> List[str]:
    """The script's own arguments: `ipython -- script.ipy -c cluster.yaml` and `python3
    script.py -c cluster.yaml` give them in sys.argv; a notebook kernel's (`-f kernel.json`)
    or pytest's are not the script's and are ignored."""
    return sys.argv[1:] if _script() else []


def setup(cluster: Any = None) -> None:
    """The cluster of the default experiment: a path or an open file (`mpf.setup(open(
    "cluster.yaml"))`), or none (every role on this machine)."""
    if cluster is not None and hasattr(cluster, "name") and hasattr(cluster, "read"):
        cluster = cluster.name
    _state.cluster = os.fspath(cluster) if cluster is not None else None


def default_setup() -> None:
    """Reads `-c/--cluster`, `-r/--runs` and `--results` from the script's command line."""
    options, _ = _parser().parse_known_args(_argv())
    _state.options = options
    setup(options.cluster)


class Results:
    """What `run_experiment()` returns: the run is done when it returns; `next()` (or a `for`)
    gives the DataFrame (index = the variables, columns = the results), as the original's
    generator did; `.df` is the same frame, `.set` the recorded `RunResult`."""

    def __init__(self, df: pd.DataFrame, rs: Any):
        self.df = df
        self.set = rs
        self._given = False

    def __iter__(self) -> "Results":
        return self

    def __next__(self) -> pd.DataFrame:
        if self._given:
            raise StopIteration
        self._given = True
        return self.df

    def __repr__(self) -> str:
        return repr(self.df)

    def _repr_html_(self) -> Optional[str]:
        return self.df._repr_html_()


def _origin(func: Callable) -> tuple:
    """(file, def line, the code's lines, the original lines shown in a traceback). In an
    IPython script the code is a cell (`<ipython-input-...>`) of the script's whole text: the
    script (sys.argv[0]) is then the file, its untransformed lines the ones shown."""
    code = func.__code__
    filename = code.co_filename
    cell = linecache.getlines(filename)
    if not cell:
        raise _engine.ExperimentError(
            f"@mpf.run {func.__name__}: its source is not available (defined with exec?)")
    try:
        tree = ast.parse("".join(cell))
    except SyntaxError:
        # Raw IPython text (a frontend that caches what was typed): transformed, line for line.
        cell = _transform("".join(cell)).splitlines(True)
        tree = ast.parse("".join(cell))
    node = next((n for n in ast.walk(tree)
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and n.name == func.__name__ and code.co_firstlineno in
                 [n.lineno] + [d.lineno for d in n.decorator_list]), None)
    if node is None:
        raise _engine.ExperimentError(f"@mpf.run {func.__name__}: its source was not found")
    first, last = node.lineno, node.end_lineno
    lines = cell[first - 1:last]
    shown = lines
    script = _script() or ""
    if filename.startswith("<ipython-input") and script.endswith(".ipy") \
            and os.path.isfile(script):
        raw = open(script, encoding="utf-8").read().splitlines(True)
        # IPython drops the script's leading blank lines from the cell: its line 1 is the
        # script's line 1 + skip.
        skip = next((i for i, line in enumerate(raw) if line.strip()), 0)
        if len(raw) >= last + skip and \
                _transform("".join(raw)).splitlines(True)[first - 1:last] == lines:
            filename, shown = os.path.abspath(script), raw[first - 1 + skip:last + skip]
            return filename, first + skip, "".join(lines), shown
    return filename, first, "".join(lines), shown


def _transform(source: str) -> str:
    """IPython's own input transformer (`!cmd`, `x = !cmd`, `%ex cmd`)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError as e:
        raise _engine.ExperimentError(
            "a function with IPython lines (!cmd, %ex) needs IPython on this machine: "
            "pip install 'mpf[ipython]'") from e
    return TransformerManager().transform_cell(source)


def _code(func: Callable) -> tuple:
    filename, line, text, shown = _origin(func)
    text = textwrap.dedent(text)
    try:
        ast.parse(text)
    except SyntaxError:
        text = _transform(text)
    # From the `def` line: the decorator ran here, and `mpf` is not on the machines.
    return filename, line, text, shown


def _imports(func: Callable) -> List[list]:
    """The module-level names the function uses that are modules, or functions and classes
    of an importable module: `import x as name` / `from m import q as name`, each compiled at
    line 1. Other globals are not sent (the function is self-contained, as in the original),
    except those of `register_globals`."""
    names: set = set()

    def walk(code: types.CodeType) -> None:
        names.update(code.co_names)
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                walk(c)

    walk(func.__code__)
    out = []
    g = func.__globals__
    for name in sorted(names):
        if name not in g or name in ("get_ipython", "mpf") or name in _state.globals:
            continue
        value = g[name]
        if isinstance(value, types.ModuleType):
            if value.__name__.split(".")[0] == "mpf":
                continue
            out.append([f"import {value.__name__} as {name}", 1])
        elif getattr(value, "__module__", None) not in (None, "__main__", "builtins") \
                and isinstance(getattr(value, "__qualname__", None), str) \
                and _IDENT.match(value.__qualname__) \
                and not value.__module__.startswith("mpf"):
            out.append([f"from {value.__module__} import {value.__qualname__} as {name}", 1])
    return out


def _shim() -> str:
    with open(os.path.join(os.path.dirname(__file__), "_shim.py"), encoding="utf-8") as f:
        return f.read()


def _step(f: _Function, variables: Dict[str, Any]) -> Dict[str, Any]:
    params = list(inspect.signature(f.func).parameters.values())
    names = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name not in variables and p.name not in RESERVED \
                and p.default is inspect.Parameter.empty:
            known = ", ".join(list(variables) + sorted(RESERVED))
            raise _engine.ExperimentError(
                f"@mpf.run {f.name}({p.name}): {p.name!r} is not a variable (known: {known})")
        if p.name in variables or p.name in RESERVED:
            names.append(p.name)
    filename, line, code, shown = _code(f.func)
    payload = json.dumps({"name": f.name, "file": filename, "line": line, "code": code,
                          "lines": shown, "imports": _imports(f.func), "params": names,
                          "globals": _state.globals})
    encoded = base64.b64encode(payload.encode()).decode()
    if len(encoded) > MAX_PAYLOAD:
        raise _engine.ExperimentError(
            f"@mpf.run {f.name}: the function with its imports is {len(encoded)} bytes "
            f"encoded, more than the {MAX_PAYLOAD} a command line carries")
    shim = base64.b64encode(_shim().encode()).decode()
    # The context, rendered by the engine for each point and machine; a variable's name is
    # a Python identifier here (it is a parameter).
    values = ", ".join(f'"{n}": {n}' for n in names if n not in RESERVED)
    ctx = ('{{ {"roles": roles, "links": links, "role": role, "node": node, "run": run, '
           '"experiment": experiment, "run_dir": run_dir, "labels": labels, '
           f'"variables": {{{values}}}}} | tojson | quote }}}}')
    run = ("python3 -c 'import base64,sys;"
           "exec(compile(base64.b64decode(sys.argv[1]),\"<mpf-shim>\",\"exec\"))' "
           f"{shim} {encoded} {ctx}")
    step: Dict[str, Any] = {"name": f.name, "role": f.role, "run": run}
    if f.daemon:
        step["background"] = True
    if f.delay:
        step["delay"] = f"{f.delay}s" if isinstance(f.delay, (int, float)) else f.delay
    if f.timeout is not None:
        step["timeout"] = f"{f.timeout}s" if isinstance(f.timeout, (int, float)) \
            else f.timeout
    return step


def _name() -> str:
    """The script's name (`iperf.ipy`: `iperf`), else `experiment`."""
    stem = os.path.splitext(os.path.basename(_script() or ""))[0]
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", stem)
    return stem if re.match(r"^[A-Za-z]", stem) else "experiment"


def experiment(name: Optional[str] = None, runs: int = 1) -> Experiment:
    """The default experiment as an `mpf.Experiment` (what run_experiment runs)."""
    if not _state.functions:
        raise _engine.ExperimentError("run_experiment: no @mpf.run function was defined")
    exp = Experiment(name or _name(), runs=runs, order="sequential")
    for var, values in _state.variables.items():
        exp.add_variable(var, values)
    for f in _state.functions:
        exp.step(**_step(f, _state.variables))
    return exp


def run_experiment(cluster: Any = None, runs: Optional[int] = None, results: Any = None,
                   name: Optional[str] = None, progress: bool = True) -> Results:
    """Runs the default experiment with the engine and returns `Results`: `next(...)` is the
    DataFrame (index = the variables, columns = the results the functions returned). Reads
    `-c/--cluster`, `-r/--runs` and `--results` from the script's command line unless given
    here (or by `default_setup`/`setup`)."""
    from ._run import run

    options = _state.options or _parser().parse_known_args(_argv())[0]
    if cluster is None:
        cluster = _state.cluster if _state.cluster is not None else options.cluster
    runs = runs if runs is not None else (options.runs or 1)
    results = results if results is not None else options.results
    rs = run(experiment(name, runs), cluster=cluster, results=results, progress=progress)
    return Results(frame(rs.df, list(_state.variables), runs), rs)


def frame(df: pd.DataFrame, variables: List[str], runs: int) -> pd.DataFrame:
    """The original's shape: index = the variables (and `repetition` when a point ran more
    than once), columns = the results the functions returned (no step durations)."""
    results = [c for c in df.attrs.get("results", []) if not c.endswith(".duration")]
    out = df[results]
    if runs == 1 and "repetition" in out.index.names and len(out.index.names) > 1:
        out = out.droplevel("repetition")
    if not variables:
        out = out.reset_index(drop=True)
    out.attrs = dict(df.attrs)
    return out
