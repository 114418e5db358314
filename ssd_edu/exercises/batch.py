"""Batch grading of a class: ``ssd-edu grade PATH... [--csv FILE] [--json FILE] [--timeout S]``.

A PATH is a student's exercise notebook (``.ipynb``: the cells tagged ``student`` are the
answer), a ``.py`` file, or a folder of them (searched recursively). A submission is graded on
every exercise of :data:`ssd_edu.exercises.EXERCISES` whose function it defines at top level.

Each (submission, exercise) pair runs in its own Python process under the time limit, so an
endless loop gives a ``timeout`` row and a crash an ``error`` row, never a hung or failed run.
One row per (file, exercise): file, exercise, verdict (pass / fail / error / timeout),
points, max_points, cases_passed, cases_total, seconds, message. The exit status is 0 whenever
grading finished, whatever the students scored.
"""
from __future__ import annotations

import ast
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import EXERCISES

FIELDS = ("file", "exercise", "verdict", "points", "max_points", "cases_passed", "cases_total",
          "seconds", "message")
SKIP_DIRS = {".ipynb_checkpoints", "__pycache__"}


@dataclass
class Row:
    """One graded (file, exercise) pair."""

    file: str
    exercise: str
    verdict: str
    points: int = 0
    max_points: int = 0
    cases_passed: int = 0
    cases_total: int = 0
    seconds: float = 0.0
    message: str = ""
    by_category: dict = field(default_factory=dict)

    def csv_row(self) -> dict:
        return {k: getattr(self, k) for k in FIELDS}


# --------------------------------------------------------------------------------------------
# Finding the answers


def submissions(paths) -> list:
    """The .py and .ipynb files named by ``paths`` (folders searched recursively), sorted."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.suffix in (".py", ".ipynb")
                            and f.is_file() and not SKIP_DIRS & set(f.parts)
                            and not f.name.startswith("."))
        elif p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    return found


def student_source(path: Path) -> str:
    """The answer's Python source: the whole .py file, or a notebook's cells tagged
    ``student`` (IPython magics and shell lines dropped). Raises ValueError when there is none."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return text
    try:
        cells = json.loads(text)["cells"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a readable notebook ({exc})") from None
    code = [c for c in cells if c.get("cell_type") == "code"]
    tagged = ["student" in c.get("metadata", {}).get("tags", []) for c in code]
    if not any(tagged):
        raise ValueError("the notebook has no code cell tagged 'student'")
    # the answer, preceded by the import-only cells above it (e.g. "import numpy as np")
    first = tagged.index(True)
    sources = [_cell_source(c) for c in code[:first] if _imports_only(_cell_source(c))]
    sources += [_cell_source(c) for c, t in zip(code, tagged) if t]
    return "\n".join(sources) + "\n"


def _cell_source(cell) -> str:
    """A code cell's source without IPython magics and shell lines."""
    return "\n".join(ln for ln in "".join(cell.get("source", "")).splitlines()
                     if not ln.lstrip().startswith(("%", "!")))


def _imports_only(source: str) -> bool:
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return bool(body) and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in body)


def exercises_defined(source: str) -> list:
    """The exercise names the source defines as top-level functions, in EXERCISES order."""
    tree = ast.parse(source)
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return [name for name in EXERCISES if name in names]


# --------------------------------------------------------------------------------------------
# Grading one pair in a child process


def _child_env() -> dict:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # the folder holding the ssd_edu package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def grade_one(path: Path, source_file: Path, exercise: str, timeout: float,
              allow_package: bool = False) -> Row:
    """Grade ``exercise`` of the answer in ``source_file`` in a fresh process (time limited)."""
    ex = EXERCISES[exercise]
    row = Row(str(path), exercise, "error", 0, ex.points)
    out = source_file.with_suffix(f".{exercise}.json")
    cmd = [sys.executable, "-m", "ssd_edu.exercises.batch", "--worker", str(source_file),
           exercise, str(out)] + ["--allow-package"] * allow_package
    log = source_file.with_suffix(f".{exercise}.log")    # a file: a chatty answer cannot fill a pipe
    start = time.perf_counter()
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, cwd=path.parent, env=_child_env(),
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the child and anything it started
            proc.wait()
            row.verdict, row.seconds = "timeout", round(time.perf_counter() - start, 2)
            row.message = (f"stopped after the time limit of {timeout:g} s (an endless loop, or "
                           f"far too slow)")
            return row
    row.seconds = round(time.perf_counter() - start, 2)
    if not out.exists():
        with open(log, "rb") as fh:
            fh.seek(max(0, log.stat().st_size - 4000))
            tail = fh.read().decode(errors="replace").strip().splitlines()[-3:]
        row.message = (f"the grading process exited with status {proc.returncode}: "
                       + " | ".join(tail))
        return row
    result = json.loads(out.read_text())
    if "error" in result:
        row.message = result["error"]
        return row
    row.verdict = "pass" if result["passed"] else "fail"
    row.points = ex.points if result["passed"] else 0
    row.cases_passed, row.cases_total = result["n_passed"], result["n_cases"]
    row.message, row.by_category = result["message"], result["by_category"]
    return row


def _worker(source_file: str, exercise: str, out: str, allow_package: bool) -> int:
    """In the child: run the answer's source, grade its function, write the result as JSON."""
    import contextlib
    import runpy
    import traceback

    def write(payload):
        Path(out).write_text(json.dumps(payload))

    with contextlib.redirect_stdout(sys.stderr):   # the student's prints stay out of the way
        try:
            namespace = runpy.run_path(source_file, run_name="__student__")
        except BaseException as exc:  # any failure of the student's module body
            last = traceback.extract_tb(exc.__traceback__)[-1]
            write({"error": f"the submission raised {type(exc).__name__} when run (line "
                            f"{last.lineno}): {exc}"})
            return 0
        result = EXERCISES[exercise].check(namespace[exercise], allow_package=allow_package)
    write(result.to_dict())
    return 0


# --------------------------------------------------------------------------------------------
# A class


def grade_paths(paths, timeout: float = 60.0, allow_package: bool = False,
                progress=None) -> list:
    """Grade every submission under ``paths``; returns the rows. ``progress(i, n, row)``."""
    files = submissions(paths)
    plan, rows = [], []
    for path in files:
        try:
            source = student_source(path)
            names = exercises_defined(source)
        except (ValueError, SyntaxError, UnicodeDecodeError) as exc:
            rows.append(Row(str(path), "-", "error", message=f"cannot read the answer: {exc}"))
            continue
        if not names:
            rows.append(Row(str(path), "-", "error", message=(
                "defines none of the exercise functions (" + ", ".join(EXERCISES) + ")")))
        plan += [(path, source, name) for name in names]
    n = len(plan) + len(rows)
    for i, row in enumerate(rows):
        if progress:
            progress(i + 1, n, row)
    with tempfile.TemporaryDirectory(prefix="ssd-edu-grade-") as tmp:
        for k, (path, source, name) in enumerate(plan):
            source_file = Path(tmp) / f"submission{k}.py"
            source_file.write_text(source, encoding="utf-8")
            row = grade_one(path, source_file, name, timeout, allow_package)
            rows.append(row)
            if progress:
                progress(len(rows), n, row)
    order = {str(p): i for i, p in enumerate(files)}
    names = list(EXERCISES)
    rows.sort(key=lambda r: (order[r.file], names.index(r.exercise) if r.exercise in names else -1))
    return rows


def format_table(rows) -> str:
    """The summary table: one line per row, then the points per file."""
    width = max([len("file")] + [len(r.file) for r in rows])
    lines = [f"{'file':<{width}}  {'exercise':<18} {'verdict':<8} {'points':>6}  {'cases':>7}  "
             f"message", "-" * (width + 60)]
    for r in rows:
        first = r.message.splitlines()[0] if r.message else ""
        first = first if len(first) <= 90 else first[:87] + "..."
        lines.append(f"{r.file:<{width}}  {r.exercise:<18} {r.verdict:<8} "
                     f"{r.points:>2}/{r.max_points:<3}  {r.cases_passed:>3}/{r.cases_total:<3}  {first}")
    totals = {}
    for r in rows:
        got, most = totals.get(r.file, (0, 0))
        totals[r.file] = (got + r.points, most + r.max_points)
    lines.append("")
    lines += [f"{f:<{width}}  total {got}/{most} points" for f, (got, most) in totals.items()]
    return "\n".join(lines)


def write_csv(rows, file) -> None:
    with open(file, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(r.csv_row() for r in rows)


def write_json(rows, file) -> None:
    with open(file, "w", encoding="utf-8") as fh:
        json.dump([asdict(r) for r in rows], fh, indent=2)


def add_arguments(parser) -> None:
    parser.add_argument("paths", metavar="PATH", nargs="+",
                        help="student notebooks (.ipynb, cell tagged 'student'), .py files or folders")
    parser.add_argument("--csv", metavar="FILE", help="write one row per (file, exercise)")
    parser.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    parser.add_argument("--timeout", metavar="SECONDS", type=float, default=60.0,
                        help="time limit per (file, exercise) process (default 60)")
    parser.add_argument("--allow-package", action="store_true",
                        help="let answers call the package function they re-implement")


def run_from_args(args) -> int:
    if not args.timeout > 0:
        print(f"error: --timeout must be > 0, got {args.timeout}", file=sys.stderr)
        return 2
    try:
        files = submissions(args.paths)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"ssd-edu grade: {len(files)} submission file(s), time limit {args.timeout:g} s each",
          flush=True)

    def progress(i, n, row):
        print(f"  [{i}/{n}] {row.file} {row.exercise}: {row.verdict} "
              f"({row.cases_passed}/{row.cases_total} cases, {row.seconds:.1f} s)", flush=True)
    rows = grade_paths(args.paths, args.timeout, args.allow_package, progress)
    print(format_table(rows))
    if args.csv:
        write_csv(rows, args.csv)
    if args.json:
        write_json(rows, args.json)
    return 0


if __name__ == "__main__" and len(sys.argv) >= 5 and sys.argv[1] == "--worker":
    sys.exit(_worker(sys.argv[2], sys.argv[3], sys.argv[4], "--allow-package" in sys.argv[5:]))
