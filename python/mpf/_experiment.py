"""Experiments written in Python, in the style of the original mpf: the same document as the
YAML file, built with keywords and methods, checked and run by the same engine."""

import contextlib
import os
import re
import tempfile
from typing import Any, Dict, Iterator, Optional

from . import _engine, _yaml


def _values(values: Any) -> Any:
    """A variable's values as the YAML form that says the same: a range with step > 0 is a
    `range:` (inclusive of its last value), a dict maps values to labels, a list or tuple is a
    list, anything else one constant value."""
    if isinstance(values, range):
        if len(values) and values.step > 0:
            form: Dict[str, Any] = {"range": [values[0], values[-1]]}
            if values.step != 1:
                form["step"] = values.step
            return form
        return list(values)
    if isinstance(values, dict):
        return {"values": dict(values)}
    if isinstance(values, (tuple, list)):
        return list(values)
    return values


class Experiment:
    """`Experiment(name, runs=3, description=..., setup=[...], ...)`: every top-level key of the
    experiment format is a keyword (docs/experiment-format.md); the engine checks them all, with
    the messages the CLI gives for a file. `add_variable` and `step` build `variables` and
    `steps` in order; `exp["key"]` reads or sets any key."""

    def __init__(self, name: str, runs: Any = None, **keys: Any):
        self.doc: Dict[str, Any] = {"name": name}
        if runs is not None:
            self.doc["runs"] = runs
        self.doc.update(keys)

    def __getitem__(self, key: str) -> Any:
        return self.doc[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.doc[key] = value

    @property
    def name(self) -> str:
        return self.doc["name"]

    def add_variable(self, name: str, values: Any = None, **form: Any) -> "Experiment":
        """`values`: a list, a `range`, a dict value -> label, one constant value; or the YAML
        forms as keywords: `add_variable("size", range=[1, 1024], factor=2)`,
        `add_variable("sched", ["lowrtt", "rr"], when='variant == "multipath"')`."""
        variables = self.doc.setdefault("variables", {})
        if values is None and not form:
            raise _engine.ExperimentError(f"add_variable({name!r}): give values or a YAML form")
        spec = _values(values) if values is not None else {}
        if form:
            if not isinstance(spec, dict) or "range" not in spec and "values" not in spec:
                spec = {"values": spec} if values is not None else {}
            spec = {**spec, **form}
        variables[name] = spec
        return self

    def zip(self, *names: str) -> "Experiment":
        """Variables that advance together (`zip:`); call once per group."""
        variables = self.doc.setdefault("variables", {})
        groups = variables.pop("zip", [])
        if groups and not isinstance(groups[0], list):
            groups = [groups]
        variables["zip"] = groups + [list(names)]
        return self

    def step(self, **keys: Any) -> "Experiment":
        """One step: `name`, `role`, `run`, `background`, `delay`, `timeout`, `ready`,
        `results`... as in the file."""
        self.doc.setdefault("steps", []).append(keys)
        return self

    def to_yaml(self, path: Optional[os.PathLike] = None) -> str:
        """The experiment as YAML; written to `path` when given."""
        text = "# Written by mpf.Experiment (Python)\n" + _yaml.dump(self.doc)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return text

    @contextlib.contextmanager
    def _file(self) -> Iterator[str]:
        """The YAML in a file beside the current directory's contents (so that paths in it,
        such as `sync.from`, mean what they mean to the caller), removed afterwards; in the
        temporary directory when the current one can't be written."""
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", str(self.name))[:64] or "experiment"
        try:
            fd, path = tempfile.mkstemp(prefix=f".mpf-{stem}-", suffix=".yaml", dir=".")
            path = os.path.relpath(path)
        except OSError:
            fd, path = tempfile.mkstemp(prefix=f"mpf-{stem}-", suffix=".yaml")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.to_yaml())
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def check(self, cluster=None, set: Optional[Dict[str, Any]] = None,
              runs: Optional[int] = None) -> str:
        """`mpf check`: validates the experiment (and the cluster, contacting its machines) and
        returns the CLI's report (the points to run); invalid input raises ExperimentError."""
        from ._run import set_args

        with self._file() as path:
            args = ["check", path, *set_args(set)]
            if cluster is not None:
                args += ["--cluster", os.fspath(cluster)]
            if runs is not None:
                args += ["--runs", str(int(runs))]
            return _engine.call(args, what="mpf check")

    def run(self, **kwargs: Any):
        """`mpf.run(self, **kwargs)`."""
        from ._run import run

        return run(self, **kwargs)

    def __repr__(self) -> str:
        return f"Experiment({self.name!r}, {len(self.doc.get('steps', []))} steps)"


def check(path: os.PathLike, cluster=None) -> str:
    """`mpf check FILE`: the CLI's report; invalid input raises ExperimentError."""
    args = ["check", os.fspath(path)]
    if cluster is not None:
        args += ["--cluster", os.fspath(cluster)]
    return _engine.call(args, what="mpf check")
