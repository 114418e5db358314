"""Batch grading (ssd-edu grade), handing out (ssd-edu exercises / tutorials) and the exercise
notebooks' metadata."""
import csv
import inspect
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ssd_edu.__main__ import main
from ssd_edu.exercises import EXERCISES, solutions
from ssd_edu.exercises import batch, handout
from ssd_edu.exercises import battery_text

ROOT = Path(__file__).resolve().parents[1]
EXERCISE_DIR = ROOT / "tutorials" / "exercises"
TUTORIALS = sorted((ROOT / "tutorials").glob("*.ipynb"))

WRONG = '''import numpy as np
def one_ss_mask(a):
    p = np.cumprod(a, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.tril(p[..., :, None] / p[..., None, :])
'''
LOOP = '''def one_ss_mask(a):
    while True:
        pass
'''


def _solution_source(*names) -> str:
    return "import numpy as np\n\n" + "\n\n".join(
        inspect.getsource(getattr(solutions, n)) for n in names)


def _student_notebook(name: str, answer: str) -> str:
    nb = json.loads((EXERCISE_DIR / EXERCISES[name].notebook).read_text())
    for cell in nb["cells"]:
        if "student" in cell["metadata"].get("tags", []):
            cell["source"] = "%matplotlib inline\n" + answer
    return json.dumps(nb)


def _added_cell(source: str) -> dict:
    """A code cell as Jupyter's "insert cell" makes it: no tags, no nbgrader metadata."""
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
            "execution_count": None}


def _notebook_with_cells(name: str, answer: str, before=(), after=()) -> str:
    """The exercise notebook with ``answer`` in the student cell and added cells around it."""
    nb = json.loads(_student_notebook(name, answer))
    k = next(i for i, c in enumerate(nb["cells"]) if "student" in c["metadata"].get("tags", []))
    nb["cells"][k:k + 1] = ([_added_cell(c) for c in before] + [nb["cells"][k]]
                            + [_added_cell(c) for c in after])
    return json.dumps(nb)


#: An answer that calls a helper the student wrote in a cell of their own.
HELPED = """def diagonal_scan(x, a, B, C, initial_state=None):
    h = _start(x, B, initial_state)
    y = np.empty(np.broadcast_shapes(x.shape[:-1], B.shape[:-1]) + x.shape[-1:])
    for t in range(x.shape[-2]):
        h = a[..., t, :, None] * h + B[..., t, :, None] * x[..., t, None, :]
        y[..., t, :] = np.einsum("...np,...n->...p", h, C[..., t, :])
    return y, h
"""
HELPER = """import numpy as np
ZERO = 0.0

@np.errstate(all="ignore")
def _start(x, B, initial_state):
    shape = np.broadcast_shapes(x.shape[:-2], B.shape[:-2]) + (B.shape[-1], x.shape[-1])
    return np.zeros(shape) + ZERO if initial_state is None else np.array(initial_state, float)

_start(np.ones((1, 1)), np.ones((1, 1)), None)      # a scratch call: the notebook runs it
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A class folder graded once through the CLI, in a subprocess, with a short time limit."""
    d = tmp_path_factory.mktemp("class")
    (d / "correct.py").write_text(_solution_source("one_ss_mask", "segsum"))
    (d / "wrong.py").write_text(WRONG)
    (d / "loop.py").write_text(LOOP)
    (d / "crash.py").write_text("import os\nos._exit(3)\ndef one_ss_mask(a):\n    return a\n")
    (d / "broken.py").write_text("def one_ss_mask(a:\n")
    (d / "broken2.py").write_text("def segsum(a):\n    return a\n\ndef diagonal_scan(x:\n")
    (d / "garbage.py").write_text("x = (\n")
    (d / "ex02_broken.py").write_text("def segsum(a):\n    return a\n\n"
                                      "def diagonal_scan(a): return (\n")
    (d / "nothing.py").write_text("x = 1\n")
    (d / "package.py").write_text("import ssd_edu\ndef one_ss_mask(a):\n    return ssd_edu.one_ss_mask(a)\n")
    (d / "ex03.ipynb").write_text(_student_notebook("diagonal_scan",
                                                    _solution_source("_ssm_start", "diagonal_scan")))
    # as a student writes it: numpy comes from the notebook's import cell, not the answer
    (d / "ex01.ipynb").write_text(_student_notebook(
        "one_ss_mask", inspect.getsource(solutions.one_ss_mask)))
    # a helper in a cell the student added, scratch cells that fail (not run by the grader)
    (d / "helper.ipynb").write_text(_notebook_with_cells(
        "diagonal_scan", HELPED, before=[HELPER], after=["diagonal_scan(None, 1, 2, 3)",
                                                          "def broken(:\n"]))
    # a scratch cell whose kept lines need its dropped ones: skipped, as the notebook would
    (d / "scratch.ipynb").write_text(_notebook_with_cells(
        "diagonal_scan", HELPED, before=[HELPER], after=[
            "a = np.array([0.5, 0.0])\nT = a.shape[-1]\nfirst = T + 1\n"]))
    # an added cell with IPython-only lines and a lambda helper; another exercise's function
    # pasted as a helper is not graded as an answer
    (d / "ipython.ipynb").write_text(_notebook_with_cells(
        "diagonal_scan", HELPED.replace("h = _start(x, B, initial_state)",
                                        "h = start(x, B, initial_state)"),
        before=[HELPER + "np.prod?\nfiles = !ls\nstart = lambda x, B, h0: _start(x, B, h0)\n"
                "def one_ss_mask(a):\n    return a\nimport math; raise SystemExit(3)\n"]))
    # a constant made by a call in an added cell is not run: NameError, and the grader says why
    (d / "named.ipynb").write_text(_notebook_with_cells(
        "diagonal_scan", HELPED, before=[HELPER.replace("ZERO = 0.0", "ZERO = float(0)")]))
    (d / "ex03_syntax.ipynb").write_text(_student_notebook(
        "diagonal_scan", "def diagonal_scan(x, a, B, C, initial_state=None)\n    return x\n"))
    (d / "raises.ipynb").write_text(_student_notebook(
        "diagonal_scan", "def diagonal_scan(x, a, B, C, initial_state=None):\n    return x\n"
                         "\nscale = 1 / 0\n"))
    out = d / "out"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "ssd_edu", "grade", str(d), "--timeout", "10",
                           "--csv", str(out / "grades.csv"), "--json", str(out / "grades.json")],
                          capture_output=True, text=True, env=env, cwd=out, timeout=300)
    rows = list(csv.DictReader(open(out / "grades.csv")))
    return proc, {(Path(r["file"]).name, r["exercise"]): r for r in rows}, out


def test_grade_writes_pass_fail_timeout_rows_and_exits_0(graded):
    proc, rows, _ = graded
    assert proc.returncode == 0, proc.stderr
    assert rows[("correct.py", "one_ss_mask")]["verdict"] == "pass"
    assert rows[("correct.py", "segsum")]["verdict"] == "pass"
    wrong = rows[("wrong.py", "one_ss_mask")]
    assert wrong["verdict"] == "fail" and "divide cumulative products" in wrong["message"]
    assert 0 < int(wrong["cases_passed"]) < int(wrong["cases_total"]) and wrong["points"] == "0"
    loop = rows[("loop.py", "one_ss_mask")]
    assert loop["verdict"] == "timeout" and "time limit of 10 s" in loop["message"]
    assert rows[("ex03.ipynb", "diagonal_scan")]["verdict"] == "pass"
    assert rows[("ex01.ipynb", "one_ss_mask")]["verdict"] == "pass"
    assert rows[("correct.py", "segsum")]["points"] == str(EXERCISES["segsum"].points)
    package = rows[("package.py", "one_ss_mask")]
    assert package["verdict"] == "fail" and "your function calls" in package["message"]


def test_grade_csv_has_one_line_per_row(graded):
    _, rows, out = graded
    lines = (out / "grades.csv").read_text().splitlines()
    assert len(lines) == len(rows) + 1                   # the header, then one line per row
    assert any(" | " in r["message"] for r in rows.values())


def test_grade_reports_errors_as_rows(graded):
    _, rows, _ = graded
    assert rows[("crash.py", "one_ss_mask")]["verdict"] == "error"
    assert "exited with status 3" in rows[("crash.py", "one_ss_mask")]["message"]
    # a .py that does not parse counts the points of the exercises it begins to define
    broken = rows[("broken.py", "one_ss_mask")]
    assert broken["verdict"] == "error" and "cannot read the answer" in broken["message"]
    assert broken["max_points"] == str(EXERCISES["one_ss_mask"].points)
    assert {k[1] for k in rows if k[0] == "broken2.py"} == {"segsum", "diagonal_scan"}
    assert rows[("broken2.py", "diagonal_scan")]["max_points"] == str(
        EXERCISES["diagonal_scan"].points)
    assert rows[("garbage.py", "-")]["max_points"] == "0"       # no exercise to count
    # named after ex02 (segsum) and beginning diagonal_scan too: both count
    assert {k[1] for k in rows if k[0] == "ex02_broken.py"} == {"segsum", "diagonal_scan"}
    assert "defines none of the exercise functions" in rows[("nothing.py", "-")]["message"]
    assert set(rows[("correct.py", "one_ss_mask")]) == set(batch.FIELDS)


def test_grade_uses_the_students_own_helper_cells(graded):
    """Helpers in cells the student added are graded with the answer (as the notebook runs
    them); the added cells' other statements are not run."""
    _, rows, _ = graded
    assert rows[("helper.ipynb", "diagonal_scan")]["verdict"] == "pass", rows[
        ("helper.ipynb", "diagonal_scan")]["message"]
    assert rows[("scratch.ipynb", "diagonal_scan")]["verdict"] == "pass", rows[
        ("scratch.ipynb", "diagonal_scan")]["message"]
    assert rows[("ipython.ipynb", "diagonal_scan")]["verdict"] == "pass", rows[
        ("ipython.ipynb", "diagonal_scan")]["message"]
    assert ("ipython.ipynb", "one_ss_mask") not in rows           # a helper, not an answer
    named = rows[("named.ipynb", "diagonal_scan")]
    assert named["verdict"] == "fail" and "NameError" in named["message"]
    assert "cells you added" in named["message"]


def test_grade_places_errors_in_the_students_cell(graded):
    """A syntax error still counts the exercise's points as missed (the notebook's nbgrader id
    and file name say which exercise), and lines are counted in the student's cell."""
    _, rows, _ = graded
    syntax = rows[("ex03_syntax.ipynb", "diagonal_scan")]
    assert syntax["verdict"] == "error" and syntax["max_points"] == "1"
    # the answer cell's line 1 is the "%matplotlib inline" of _student_notebook
    assert "line 2 of your answer cell (code cell 2)" in syntax["message"], syntax["message"]
    raises = rows[("raises.ipynb", "diagonal_scan")]
    assert raises["verdict"] == "error" and "ZeroDivisionError" in raises["message"]
    assert "line 5 of your answer cell" in raises["message"], raises["message"]


def test_grade_prints_progress_and_a_summary_table(graded):
    proc, _, out = graded
    assert "[1/" in proc.stdout and "total" in proc.stdout
    assert "loop.py" in proc.stdout and "timeout" in proc.stdout
    rows = json.loads((out / "grades.json").read_text())
    passed = [r for r in rows if r["verdict"] == "pass"]
    assert passed and all(r["by_category"] for r in passed)


def test_student_source_from_a_notebook(tmp_path):
    path = tmp_path / "a.ipynb"
    path.write_text(_student_notebook("segsum", "def segsum(log_a):\n    return log_a\n"))
    source = "\n".join(p.source for p in batch.answer_parts(path))
    assert "%matplotlib" not in source and "def segsum" in source
    assert source.startswith("import numpy as np\nfrom ssd_edu.exercises import grade")
    parts = batch.answer_parts(path)
    assert [p.where.split(" (")[0] for p in parts] == ["the import cell", "your answer cell"]
    assert not any(p.optional for p in parts)
    assert "result = grade(" not in source
    assert batch.exercises_defined(source) == ["segsum"]
    (tmp_path / "b.ipynb").write_text(json.dumps({"cells": [], "nbformat": 4}))
    with pytest.raises(ValueError, match="tagged 'student'"):
        batch.answer_parts(tmp_path / "b.ipynb")


def test_grade_refuses_a_missing_path(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Handing out


def test_exercises_and_tutorials_are_handed_out(tmp_path, capsys):
    assert main(["exercises", "--out", str(tmp_path / "ex")]) == 0
    written = sorted(p.name for p in (tmp_path / "ex").glob("*.ipynb"))
    assert len(written) >= 12 and written == sorted(e.notebook for e in EXERCISES.values())
    for name in written:
        assert (tmp_path / "ex" / name).read_bytes() == (EXERCISE_DIR / name).read_bytes()
    assert main(["tutorials", "--out", str(tmp_path / "tut")]) == 0
    assert sorted(p.name for p in (tmp_path / "tut").glob("*.ipynb")) == [p.name for p in TUTORIALS]
    assert main(["exercises", "--out", str(tmp_path / "ex")]) == 2       # no silent overwrite
    assert "--force" in capsys.readouterr().err
    assert main(["exercises", "--out", str(tmp_path / "ex"), "--force"]) == 0


def test_handout_prefers_the_packaged_copy(tmp_path, monkeypatch):
    package = tmp_path / "ssd_edu"
    (package / "notebooks" / "exercises").mkdir(parents=True)
    (package / "notebooks" / "exercises" / "ex01_x.ipynb").write_text("{}")
    monkeypatch.setattr(handout.resources, "files", lambda name: package)
    assert handout.notebook_dir("exercises") == package / "notebooks" / "exercises"
    with pytest.raises(FileNotFoundError, match="no tutorials notebooks"):
        handout.notebook_dir("tutorials")


@pytest.mark.slow
def test_wheel_carries_the_notebooks_and_the_cli_uses_them(tmp_path):
    """Build a regular wheel, install it into a bare target folder, hand out from there."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(ROOT)], check=True, timeout=600,
                   cwd=tmp_path)
    wheel = next(wheels.glob("ssd_edu-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert len([n for n in names if n.startswith("ssd_edu/notebooks/exercises/")]) >= 12
    assert len([n for n in names if n.startswith("ssd_edu/notebooks/tutorials/")]) == len(TUTORIALS)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel)], check=True, timeout=600)
    env = dict(os.environ, PYTHONPATH=str(site))
    for kind, count in (("exercises", len(EXERCISES)), ("tutorials", len(TUTORIALS))):
        out = tmp_path / kind
        subprocess.run([sys.executable, "-m", "ssd_edu", kind, "--out", str(out)], check=True,
                       env=env, cwd=tmp_path, timeout=300)
        assert len(list(out.glob("*.ipynb"))) == count


# --------------------------------------------------------------------------------------------
# The exercise notebooks and the tutorials' pointers


def _cells(path):
    return json.loads(path.read_text())["cells"]


@pytest.mark.parametrize("name", list(EXERCISES))
def test_notebook_says_what_its_grader_checks(name):
    text = ["".join(c["source"]) for c in _cells(EXERCISE_DIR / EXERCISES[name].notebook)]
    assert any(battery_text(name) in t for t in text), f"regenerate {name}'s battery text"


@pytest.mark.parametrize("name", list(EXERCISES))
def test_notebook_has_nbgrader_metadata(name):
    cells = _cells(EXERCISE_DIR / EXERCISES[name].notebook)
    meta = [c["metadata"]["nbgrader"] for c in cells]
    ids = [m["grade_id"] for m in meta]
    assert len(ids) == len(set(ids))
    student = [c for c in cells if "student" in c["metadata"].get("tags", [])]
    assert len(student) == 1 and student[0]["metadata"]["nbgrader"]["solution"] is True
    assert student[0]["metadata"]["nbgrader"]["locked"] is False
    graded = [m for m in meta if m["grade"]]
    assert [m["points"] for m in graded] == [EXERCISES[name].points]
    assert all(m["locked"] for m in meta if not m["solution"])


@pytest.mark.parametrize("path", [p for p in TUTORIALS if p.name[:2] <= "07"],
                         ids=lambda p: p.name)
def test_tutorial_ends_with_try_it_yourself(path):
    last = "".join(_cells(path)[-1]["source"])
    assert last.startswith("## Try it yourself")
    for ex in EXERCISES.values():
        if ex.tutorial == path.name:
            assert ex.notebook in last


def test_grade_allow_package(tmp_path):
    (tmp_path / "package.py").write_text(
        "import ssd_edu\ndef one_ss_mask(a):\n    return ssd_edu.one_ss_mask(a)\n")
    rows = batch.grade_paths([tmp_path], timeout=60, allow_package=True)
    assert [(r.exercise, r.verdict) for r in rows] == [("one_ss_mask", "pass")]


def test_grade_keeps_a_chatty_answer_off_the_disk(tmp_path, monkeypatch):
    """Prints are kept short in the child (a chatty correct answer still passes); output written
    past them (straight to the file descriptor) stops the process at LOG_LIMIT."""
    chatty = _solution_source("one_ss_mask").replace(
        "def one_ss_mask(a):", "def one_ss_mask(a):\n    print('x' * 10**6)", 1)
    (tmp_path / "chatty.py").write_text(chatty)
    (tmp_path / "flood.py").write_text(
        "import os\nwhile True:\n    os.write(2, b'x' * 2**20)\ndef one_ss_mask(a):\n    return a\n")
    monkeypatch.setattr(batch, "LOG_LIMIT", 4 << 20)
    rows = {Path(r.file).name: r for r in batch.grade_paths([tmp_path], timeout=60)}
    assert rows["chatty.py"].verdict == "pass", rows["chatty.py"].message
    flood = rows["flood.py"]
    assert flood.verdict == "error" and "more than 4 MiB of output" in flood.message
    assert flood.seconds < 30


def test_grade_runs_a_py_answer_as_a_script_runs(tmp_path):
    """A dataclass (looked up in sys.modules, and not turned into strings by the grader's own
    __future__ import) and ``__file__`` work as in ``python answer.py``."""
    (tmp_path / "helpers_here.py").write_text("EPS = 0.0\n")
    (tmp_path / "ex01_dc.py").write_text(
        "import os, sys\n"
        "sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\n"
        "from dataclasses import dataclass\n"
        "from helpers_here import EPS\n"
        "@dataclass\nclass Box:\n    n: int\n"
        "assert Box.__annotations__ == {'n': int}\n"
        + _solution_source("one_ss_mask"))
    rows = {(Path(r.file).name, r.exercise): r for r in batch.grade_paths([tmp_path], timeout=60)}
    row = rows[("ex01_dc.py", "one_ss_mask")]
    assert row.verdict == "pass", row.message
    assert [k for k in rows if k[0] == "helpers_here.py"] == [("helpers_here.py", "-")]
