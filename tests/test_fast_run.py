"""The default run (``pytest``: setup.cfg's addopts leave out slow, notebook, cuda and report)
still reaches every registered implementation against the oracle, every VJP, every grader,
every verify row, every bridge test and one executed notebook. The selection is collected in a
subprocess exactly as a plain ``pytest`` makes it, whatever options this run was given."""
import subprocess
import sys
from pathlib import Path

import pytest

import ssd_edu
from ssd_edu import theorems
from ssd_edu.exercises import EXERCISES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def default_run():
    """The node ids a plain ``pytest`` in the checkout selects from the files checked here."""
    files = [f"tests/test_{name}.py" for name in ("forms", "backward", "exercises", "theorems",
                                                   "bridges", "notebooks")]
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                          "-p", "no:cacheprovider", *files], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return [line for line in out.stdout.splitlines() if "::" in line]


def params(nodes, *tests):
    """The parameter ids of the selected items of ``tests`` ("file::function"), whole and
    split at '-' (a registry key has no '-'; a verify row's id may)."""
    got = set()
    for node in nodes:
        name, _, rest = node.partition("[")
        if name.removeprefix("tests/") in tests:
            got.add(rest[:-1])
            got.update(rest[:-1].split("-"))
    return got


def test_every_implementation_against_the_oracle(default_run):
    got = params(default_run, "test_forms.py::test_matches_the_recurrence",
                 "test_forms.py::test_cuda_matches_the_recurrence")
    assert sorted(set(ssd_edu.IMPLEMENTATIONS) - got) == []


def test_every_vjp_against_finite_differences(default_run):
    got = params(default_run, "test_backward.py::test_vjp_matches_finite_differences",
                 "test_backward.py::test_cuda_vjp_matches_finite_differences")
    assert sorted(set(ssd_edu.VJPS) - got) == []


def test_every_grader_and_verify_row(default_run):
    graders = params(default_run, "test_exercises.py::test_reference_solution_passes")
    assert sorted(set(EXERCISES) - graders) == []
    rows = params(default_run, "test_theorems.py::test_check_passes_in_quick_mode")
    assert sorted(set(theorems.CHECKS) - rows) == []


def test_every_bridge_test_and_one_notebook(default_run):
    import test_bridges
    functions = {n for n in dir(test_bridges) if n.startswith("test_")}
    selected = {node.split("::")[1].partition("[")[0] for node in default_run
                if node.startswith("tests/test_bridges.py::")}
    assert sorted(functions - selected) == []
    assert [n for n in default_run if "test_notebooks.py::test_tutorial_executes[" in n]
