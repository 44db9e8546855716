"""The mpf binary: where it is, how it is called, and how its exit codes become exceptions."""

import os
import shutil
import subprocess
import sys
import sysconfig
from typing import List, Optional, Sequence

# The CLI's exit codes (docs/cli.md).
EXIT_INPUT = 2
EXIT_REGRESSION = 3
# A machine could not be reached, or stopped answering (a RunError with this exit_code).
EXIT_UNREACHABLE = 4
# The allocation ends before the next run could finish: the set is `incomplete` (a warning;
# mpf.run(resume=ID) in the next allocation completes it).
EXIT_TEMPFAIL = 75
EXIT_INTERRUPTED = 130


class Error(Exception):
    """Base class of mpf's exceptions."""


class ExperimentError(Error):
    """Invalid input (exit 2): the experiment or cluster file, an id, a flag. The message is the
    CLI's, with the file:line:col of the problem."""


class RunError(Error):
    """mpf failed for another reason: a setup step, the machines, every run failing. `id` and
    `path` name the result set when one was recorded."""

    def __init__(self, message: str, id: Optional[str] = None, path: Optional[str] = None,
                 exit_code: Optional[int] = None):
        super().__init__(message)
        self.id = id
        self.path = path
        self.exit_code = exit_code


class Interrupted(KeyboardInterrupt):
    """The run was interrupted (Ctrl-C, interrupting the kernel) and stopped cleanly: the set is
    recorded with status `interrupted`. A KeyboardInterrupt, so that whatever stops on Ctrl-C
    still stops; `mpf.run(resume=e.id)` continues the set."""

    def __init__(self, id: Optional[str] = None, path: Optional[str] = None):
        where = f"result set {id} is recorded as interrupted" if id else "no result set recorded"
        hint = f"; mpf.run(resume={id!r}) continues it" if id else ""
        super().__init__(f"interrupted: {where}{hint}")
        self.id = id
        self.path = path


def _script_dirs() -> List[str]:
    """Where pip puts the wheel's `mpf` command: this interpreter's scripts directory (a venv's
    bin/), the user scheme's (pip install --user), and the interpreter's own directory."""
    dirs = [sysconfig.get_path("scripts")]
    user = f"{os.name}_user"
    if user in sysconfig.get_scheme_names():
        dirs.append(sysconfig.get_path("scripts", user))
    dirs.append(os.path.dirname(os.path.abspath(sys.executable)))
    return [d for d in dirs if d]


def binary() -> str:
    """The mpf executable: $MPF_BIN when set (an explicit choice, e.g. target/debug/mpf), else
    the one installed with this package, else the first on PATH."""
    explicit = os.environ.get("MPF_BIN")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise Error(f"MPF_BIN={explicit} is not an executable file")
        return explicit
    for d in _script_dirs():
        candidate = os.path.join(d, "mpf")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("mpf")
    if found:
        return found
    raise Error("the mpf command is not installed here: pip install ./python, or set MPF_BIN")


def results_args(results) -> List[str]:
    return [] if results is None else ["--results", os.fspath(results)]


def error_text(stderr: str) -> str:
    """The CLI's message without its `error: ` prefix."""
    text = stderr.strip()
    return text[len("error: "):] if text.startswith("error: ") else text


def failure(code: int, stderr: str, what: str) -> Error:
    message = error_text(stderr) or f"{what} exited with status {code}"
    if code == EXIT_INPUT:
        return ExperimentError(message)
    return RunError(message, exit_code=code)


def call(args: Sequence[str], ok_codes: Sequence[int] = (0,), what: str = "mpf") -> str:
    """Runs `mpf ARGS` to completion and returns its stdout; a failure raises."""
    proc = subprocess.run([binary(), *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, errors="replace", env=child_env())
    if proc.returncode not in ok_codes:
        raise failure(proc.returncode, proc.stderr, what)
    return proc.stdout


def child_env() -> dict:
    """The environment of mpf: ours, without colours in what we parse."""
    env = dict(os.environ)
    env["NO_COLOR"] = "1"
    return env
