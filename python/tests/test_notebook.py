"""examples/notebook.ipynb executed on a real kernel (nbclient + ipykernel): any cell error
fails the test. CI installs the notebook tools and sets MPF_REQUIRE_NOTEBOOK=1."""

import os

import pytest

from conftest import REPO

if os.environ.get("MPF_REQUIRE_NOTEBOOK") == "1":
    import nbclient
    import nbformat
else:
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")


def test_the_notebook_runs_the_quickstart_and_every_cell_succeeds(work):
    # The kernel inherits the environment: its result sets go to the test's directory, and it
    # imports mpf as this process does (installed, or through PYTHONPATH).
    nb = nbformat.read(REPO / "examples" / "notebook.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(REPO / "examples")}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the plot is drawn"
    sets = [p for p in (work / "results").iterdir() if (p / "manifest.json").exists()]
    assert len(sets) == 1 and sets[0].name.startswith("quickstart-")
