"""Every tutorial and exercise notebook runs top to bottom in a fresh Jupyter kernel.

The kernel is the current interpreter (a kernel spec written on the fly points at
``sys.executable``), with the matplotlib Agg backend and, unless SSD_EDU_REAL_GPU=1, the numba
CUDA simulator. A cell error or a failed assert fails the test. Exercise notebooks are run
twice: as stored (the empty skeleton must be *reported* by the grader, not crash) and with the
reference solution substituted into the student cell (the grader must pass).
"""
import json
import os
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402

from ssd_edu.exercises import EXERCISES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("*.ipynb"))
EXERCISE_NBS = sorted((ROOT / "tutorials" / "exercises").glob("*.ipynb"))
TIMEOUT_S = 120  # per cell
#: the one tutorial the default run executes (the cheapest); the others carry `notebook`
CHEAPEST = "01_scalar_ssd.ipynb"
KERNEL = "ssd-edu-test"


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    """A kernel spec for this very interpreter, so the notebooks see the package under test."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / KERNEL
    spec.mkdir()
    env = {"MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
    if os.environ.get("SSD_EDU_REAL_GPU") != "1":
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({sys.executable})", "language": "python", "env": env}))
    return root


def execute(nb, path: Path, kernel_dir: Path) -> float:
    """Run ``nb`` in a fresh kernel with ``path``'s folder as working directory; return seconds."""
    km = KernelManager(kernel_name=KERNEL,
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)]))
    client = nbclient.NotebookClient(nb, km=km, timeout=TIMEOUT_S, kernel_name=KERNEL,
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        if km.has_kernel:  # a kernel manager passed in is not shut down by nbclient
            km.shutdown_kernel(now=True)
    seconds = time.perf_counter() - start
    print(f"{path.relative_to(ROOT)}: executed in {seconds:.1f} s")
    return seconds


def outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_notebooks_exist():
    names = [p.name for p in TUTORIALS]
    assert names == sorted(names) and len(names) >= 4, names
    assert [p.name for p in EXERCISE_NBS] == sorted(e.notebook for e in EXERCISES.values())


@pytest.mark.parametrize("path", TUTORIALS + EXERCISE_NBS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (path.name, cell.source)


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_shape(path):
    """One result per notebook: it imports the package, asserts agreement, ends with a summary."""
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "import ssd_edu" in code or "from ssd_edu" in code
    assert "assert " in code
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    # the summary closes the body; a final "Try it yourself" cell may point to the exercises
    body = nb.cells[:-1] if "Try it yourself" in nb.cells[-1].source else nb.cells
    assert body[-1].cell_type == "markdown" and "What you saw" in body[-1].source


@pytest.mark.parametrize("path", [p if p.name == CHEAPEST else
                                  pytest.param(p, marks=pytest.mark.notebook) for p in TUTORIALS],
                         ids=lambda p: p.name)
def test_tutorial_executes(path, kernel_dir):
    nb = nbformat.read(path, as_version=4)
    execute(nb, path, kernel_dir)


def _student_cell(nb):
    cells = [c for c in nb.cells if "student" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, "an exercise notebook has exactly one cell tagged 'student'"
    return cells[0]


def _grade_cell(nb, name):
    cells = [c for c in nb.cells if c.cell_type == "code" and f"grade(check_{name}" in c.source]
    assert len(cells) == 1, f"an exercise notebook has one cell calling grade(check_{name}, ...)"
    return cells[0]


@pytest.mark.notebook
@pytest.mark.parametrize("name", list(EXERCISES))
def test_exercise_skeleton_is_reported(name, kernel_dir):
    """As stored, the student cell is a skeleton: the grader reports it instead of crashing."""
    path = ROOT / "tutorials" / "exercises" / EXERCISES[name].notebook
    nb = nbformat.read(path, as_version=4)
    assert f"def {name}(" in _student_cell(nb).source
    execute(nb, path, kernel_dir)
    text = outputs_text(_grade_cell(nb, name))
    assert f"{name}: case 1/" in text and "failed" in text, text


@pytest.mark.notebook
@pytest.mark.parametrize("name", list(EXERCISES))
def test_exercise_with_solution_passes(name, kernel_dir):
    """With the reference solution in the student cell, the notebook's grader passes."""
    path = ROOT / "tutorials" / "exercises" / EXERCISES[name].notebook
    nb = nbformat.read(path, as_version=4)
    _student_cell(nb).source = f"from ssd_edu.exercises.solutions import {name}"
    grade_cell = _grade_cell(nb, name)
    grade_cell.source += "\nassert result.passed, result.message"
    execute(nb, path, kernel_dir)
    assert "cases passed" in outputs_text(grade_cell)


@pytest.mark.notebook
def test_autograde_cell_grades_again(kernel_dir):
    """Overwriting ``result`` after the report cell does not pass the autograded cell: it runs
    the grader itself (nbgrader reads its error output)."""
    name = "one_ss_mask"
    path = ROOT / "tutorials" / "exercises" / EXERCISES[name].notebook
    nb = nbformat.read(path, as_version=4)
    grade_cell = _grade_cell(nb, name)
    grade_cell.source += "\nresult.passed = True"            # the one-line cheat
    execute(nb, path, kernel_dir)
    autograde = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert len(autograde) == 1
    errors = [o for o in autograde[0].outputs if o.get("output_type") == "error"]
    assert errors and errors[0]["ename"] == "ExerciseFailure", autograde[0].outputs
