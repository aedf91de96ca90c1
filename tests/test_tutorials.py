"""The tutorial notebooks in tutorials/: every one re-executes without an error, so none can rot.

Each notebook runs in a fresh Jupyter kernel started with this interpreter (the virtual
environment's Python, through a ``python3`` kernelspec placed first on ``JUPYTER_PATH``), with
``tutorials/`` as its working directory, as a reader running it from there would. The notebooks in
the repository are saved already executed, which the cheap checks below verify; the executed
copy is compared with the saved one (``tutorial_outputs.stale_outputs``: the numbers printed by
the cells marked ``ppl_check``, within Monte Carlo error), so a saved output that the code no
longer produces, and the text written around it, cannot go unnoticed.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from tutorial_outputs import stale_outputs

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
TIMEOUT_S = 600  # per cell; each notebook takes about two minutes at most

pytestmark = pytest.mark.tutorials


@pytest.fixture(scope="module")
def jupyter_path(tmp_path_factory) -> Path:
    """A Jupyter data directory whose ``python3`` kernel runs this very interpreter."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ppl tests)",
        "language": "python",
    }))
    return root


def test_there_are_tutorials():
    assert len(NOTEBOOKS) >= 4, f"expected the tutorial notebooks in {TUTORIALS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_tutorial_executes(path: Path, jupyter_path: Path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    from jupyter_client.kernelspec import KernelSpecManager

    argv = KernelSpecManager().get_kernel_spec("python3").argv
    assert argv[0] == sys.executable, f"the kernel would run {argv[0]}, not {sys.executable}"

    saved = nbformat.read(path, as_version=4)
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(TUTORIALS)}})
    client.execute()  # raises CellExecutionError, with the failing cell, on any error
    errors = [o for cell in notebook.cells if cell.cell_type == "code"
              for o in cell.get("outputs", []) if o.output_type == "error"]
    assert not errors
    stale = stale_outputs(saved, notebook)
    assert not stale, (f"{path.name}'s saved outputs are stale: re-run it, save it, and check "
                       "its text against the new numbers:\n" + "\n".join(stale))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_tutorial_is_saved_executed(path: Path):
    """Saved with outputs (plots visible on GitHub and in the course), without errors, and of a
    modest size."""
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count is not None for cell in code), \
        f"{path.name} is not saved executed: run it and save it with its outputs"
    outputs = [o for cell in code for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} has no plots"
    assert path.stat().st_size < 1_500_000, f"{path.name} is too large: shrink its outputs"


def test_readme_lists_every_tutorial():
    readme = (TUTORIALS / "README.md").read_text()
    listed = set(re.findall(r"\(([\w.-]+\.ipynb)\)", readme))
    assert listed == {p.name for p in NOTEBOOKS}
