"""mpf for Python and notebooks: result sets as pandas DataFrames, experiments run by the mpf
engine (the `mpf` command installed with this package), experiments written in Python.

    import mpf
    df = mpf.load("latest")
    rs = mpf.run("examples/quickstart.yaml", runs=1)
    rs.df.groupby(level=["tool", "level"])["throughput"].mean()

See docs/python.md.
"""

from ._engine import Error, ExperimentError, Interrupted, RunError, binary
from ._experiment import Experiment, check
from ._read import compare, load, sets, timeseries
from ._original import Results, add_variable, default_setup, register_globals, run_experiment, setup
from ._run import RunResult, run

__all__ = [
    "Error", "ExperimentError", "Interrupted", "RunError", "RunResult", "Experiment",
    "binary", "check", "compare", "load", "run", "sets", "timeseries",
    # The original mpf's module API (docs/python.md, "Coming from the original mpf").
    "Results", "add_variable", "default_setup", "register_globals", "run_experiment", "setup",
]
