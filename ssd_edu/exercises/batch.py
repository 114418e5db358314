"""Batch grading of a class: ``ssd-edu grade PATH... [--csv FILE] [--json FILE] [--timeout S]``.

A PATH is an exercise notebook (the cells tagged ``student``, with the student's helper cells:
:func:`answer_parts`), a ``.py`` file, or a folder of them. Each exercise function a submission
defines is graded in its own time-limited process (an endless loop gives a ``timeout`` row, a
crash an ``error`` row): one row of :data:`FIELDS` per (file, exercise); exit status 0.
"""
from __future__ import annotations

import ast
import contextlib
import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import namedtuple
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .._cli import output_file, positive_float
from . import EXERCISES

SKIP_DIRS = {".ipynb_checkpoints", "__pycache__"}


@dataclass
class Row:
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


FIELDS = tuple(Row.__dataclass_fields__)[:-1]    # the CSV columns: all but by_category


def submissions(paths) -> list:
    """The .py and .ipynb files under ``paths``, sorted."""
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


#: Answer lines and where from ("your answer cell (code cell 3)", "" for a .py); an ``optional``
#: part (a cell the student added) runs statement by statement, skipping failures.
Part = namedtuple("Part", "where source optional", defaults=(False,))


def answer_parts(path: Path) -> list:
    """The answer as :class:`Part` s: a .py file whole; from a notebook the cells tagged
    ``student``, the import-only cells above them, the definitions of cells the student added (no
    nbgrader metadata, no tag); IPython-only lines blanked. ValueError: no ``student`` cell."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return [Part("", text)]
    try:
        cells = json.loads(text)["cells"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a readable notebook ({exc})") from None
    code = [c for c in cells if c.get("cell_type") == "code"]
    tagged = ["student" in c.get("metadata", {}).get("tags", []) for c in code]
    if not any(tagged):
        raise ValueError("the notebook has no code cell tagged 'student'")
    first, answers = tagged.index(True), sum(tagged)
    parts = []
    for k, (cell, is_answer) in enumerate(zip(code, tagged)):
        meta = cell.get("metadata", {})
        source = "\n".join("" if _IPYTHON_LINE.match(ln) else ln   # lines keep their numbers
                           for ln in "".join(cell.get("source", "")).splitlines())
        if is_answer:
            name = "your answer cell" if answers == 1 else "an answer cell"
            parts.append(Part(f"{name} (code cell {k + 1})", source))
        elif k < first and (body := _parse(source)) and all(
                isinstance(n, (ast.Import, ast.ImportFrom)) for n in body):
            parts.append(Part(f"the import cell (code cell {k + 1})", source))
        elif "nbgrader" not in meta and not meta.get("tags"):
            helpers = _definitions(source)
            if helpers.strip():
                parts.append(Part(f"a cell you added (code cell {k + 1})", helpers, True))
    return parts


def intended_exercise(path: Path) -> str | None:
    """The exercise a submission names: its answer cell's nbgrader id ("ex03-answer"), or its
    file name ("ex03_diagonal_scan.ipynb", "diagonal_scan.py"); else None."""
    prefixes = {ex.notebook.split("_")[0]: name for name, ex in EXERCISES.items()}
    ids = []
    with contextlib.suppress(ValueError, KeyError, TypeError, UnicodeDecodeError):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]  # a .py: ValueError
        ids = [c["metadata"]["nbgrader"]["grade_id"] for c in cells
               if "student" in c.get("metadata", {}).get("tags", [])]
    names = [i.split("-")[0] for i in ids] + [path.stem.split("_")[0]]
    return next((prefixes[n] for n in names if n in prefixes),
                path.stem if path.stem in EXERCISES else None)


#: IPython-only lines: ``%time``, ``!ls``, ``np.prod?``, ``files = !ls``.
_IPYTHON_LINE = re.compile(r"^\s*([%!]|[\w.]+\?\??\s*$|[\w, ]+=\s*[%!])")


def _parse(source: str) -> list:
    """The statements of a cell; [] for a broken (scratch) cell, which defines nothing."""
    try:
        return ast.parse(source).body
    except SyntaxError:
        return []


def _definitions(source: str) -> str:
    """The imports, functions, classes and assignments calling nothing outside a lambda (helpers,
    constants) of a cell; other lines blank."""
    lines = source.splitlines()
    keep = [""] * len(lines)
    kinds = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    for node in _parse(source):
        call_free = (isinstance(node, (ast.Assign, ast.AnnAssign))
                     and not any(isinstance(n, ast.Call) for n in _outside_lambdas(node)))
        if isinstance(node, kinds) or call_free:
            top = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            keep[top - 1:node.end_lineno] = lines[top - 1:node.end_lineno]
    return "\n".join(keep)


def _outside_lambdas(node):
    """The nodes under ``node`` outside lambda bodies."""
    for child in ast.iter_child_nodes(node):
        yield child
        if not isinstance(child, ast.Lambda):
            yield from _outside_lambdas(child)


def exercises_defined(source: str) -> list:
    """The exercise names the source defines as top-level functions, in EXERCISES order."""
    tree = ast.parse(source)
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return [name for name in EXERCISES if name in names]


#: Bytes of output that stop a grading process (a print in an endless loop must not fill the disk).
LOG_LIMIT = 16 << 20


def grade_one(path: Path, source_file: Path, exercise: str, timeout: float,
              allow_package: bool = False) -> Row:
    """Grade ``exercise`` of the answer parts in ``source_file`` in a fresh process."""
    ex = EXERCISES[exercise]
    row = Row(str(path), exercise, "error", 0, ex.points)
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # the folder holding the ssd_edu package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    out = source_file.with_suffix(f".{exercise}.json")
    cmd = [sys.executable, "-m", "ssd_edu.exercises.batch", "--worker", str(source_file),
           exercise, str(out)] + ["--allow-package"] * allow_package
    log = source_file.with_suffix(f".{exercise}.log")    # not a pipe, which a chatty answer fills
    start, stopped = time.perf_counter(), ""
    try:
        with open(log, "wb") as err:
            proc = subprocess.Popen(cmd, cwd=path.parent, env=env,
                                    stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
            while proc.poll() is None and not stopped:  # kill at the deadline or LOG_LIMIT
                time.sleep(0.05)
                stopped = ("timeout" if time.perf_counter() >= start + timeout
                           else "output" if log.stat().st_size > LOG_LIMIT else "")
            if stopped:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        row.seconds = round(time.perf_counter() - start, 2)
        if stopped:
            row.verdict = "timeout" if stopped == "timeout" else "error"
            row.message = (f"stopped after the time limit of {timeout:g} s (an endless loop, or "
                           f"far too slow)" if stopped == "timeout" else f"stopped: the process "
                           f"wrote more than {LOG_LIMIT >> 20} MiB of output (print in a loop?)")
            return row
        if not out.exists():
            tail = log.read_bytes()[-4000:].decode(errors="replace").strip().splitlines()[-3:]
            row.message = (f"the grading process exited with status {proc.returncode}"
                           + (": " + " | ".join(tail) if tail else ""))
            return row
        result = json.loads(out.read_text())
    finally:
        for done in (log, out):                  # nothing piles up over a class
            done.unlink(missing_ok=True)
    if "error" in result:
        row.message = f"the submission raised {result['error']} when run ({result['where']})"
        return row
    row.verdict, row.points = ("pass", ex.points) if result["passed"] else ("fail", 0)
    row.cases_passed, row.cases_total = result["n_passed"], result["n_cases"]
    row.message, row.by_category = result["message"], result["by_category"]
    if "NameError" in row.message and path.suffix == ".ipynb":
        row.message += (" (the grader runs your answer cell, the import cells above it, and "
                        "from cells you added only the imports, functions, classes and "
                        "assignments that call nothing (constants, lambdas); an assignment that "
                        "calls something, such as EPS = np.finfo(float).eps, is not run: put it "
                        "in your answer cell)")
    return row


def _worker(parts_file: str, exercise: str, out: str, allow_package: bool) -> int:
    """In the child: run the parts as the module ``__student__`` (in ``sys.modules``), each
    compiled under its own label (tracebacks give the cell's lines) without this module's
    ``__future__`` flags, skipping an optional part's failing statements; grade, write JSON."""
    import traceback
    import types

    given = json.loads(Path(parts_file).read_text(encoding="utf-8"))
    parts = [Part(**p) for p in given["parts"]]
    labels = {part.where or "the answer": part.where for part in parts}
    module = sys.modules["__student__"] = types.ModuleType("__student__")
    module.__file__ = given["file"]
    sink = open(os.devnull, "w")                   # the student's prints: dropped
    with sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        try:
            for part in parts:
                label = part.where or "the answer"
                tree = ast.parse(part.source, filename=label)
                for body in ([node] for node in tree.body) if part.optional else [tree.body]:
                    try:
                        exec(compile(ast.Module(body, type_ignores=[]), label, "exec",
                                     dont_inherit=True), module.__dict__)
                    except (Exception, SystemExit):  # noqa: BLE001 (as in a notebook: skipped)
                        if not part.optional:
                            raise
        except BaseException as exc:  # any failure of the student's module body
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in labels]
            name, line = ((exc.filename, exc.lineno) if isinstance(exc, SyntaxError)
                          else (frames[-1].filename, frames[-1].lineno) if frames else (None, None))
            where = "?" if line is None else f"line {line}" + (
                f" of {labels[name]}" if labels.get(name) else "")
            Path(out).write_text(json.dumps({"error": f"{type(exc).__name__}: {exc}",
                                             "where": where}))
            return 0
        result = EXERCISES[exercise].check(module.__dict__[exercise], allow_package=allow_package)
    Path(out).write_text(json.dumps(asdict(result)))
    return 0


def grade_paths(paths, timeout: float = 60.0, allow_package: bool = False, progress=None) -> list:
    """Grade every submission under ``paths``; returns the rows. ``progress(i, n, row)``."""
    files = submissions(paths)
    plan, rows = [], []
    for path in files:
        intended = intended_exercise(path)

        def missed(name, message):  # an ungraded row still counts the exercise's points
            return Row(str(path), name or "-", "error", 0,
                       EXERCISES[name].points if name else 0, message=message)
        try:
            parts = answer_parts(path)
            for part in parts:                   # a syntax error, placed in its own cell
                try:
                    ast.parse(part.source)
                except SyntaxError as exc:
                    where = f"line {exc.lineno}" + (f" of {part.where}" if part.where else "")
                    raise ValueError(f"{exc.msg} ({where})") from None
            # graded: the functions of the answer itself, not the helpers of added cells (a
            # student may paste another exercise's function there to call it)
            names = exercises_defined("\n".join(p.source for p in parts if not p.optional))
        except (ValueError, UnicodeDecodeError) as exc:
            # a file that does not parse: its exercise from its name, else from the exercise
            # functions it begins to define (a .py answer may hold several)
            found = re.findall(r"\bdef\s+(\w+)\s*\(", path.read_text("utf-8", errors="replace"))
            named = dict.fromkeys([intended] * bool(intended)
                                  + [name for name in found if name in EXERCISES])
            rows += [missed(name, f"cannot read the answer: {exc}") for name in named or [None]]
            continue
        if not names:
            wanted = f"a function named {intended}" if intended else (
                "none of the exercise functions (" + ", ".join(EXERCISES) + ")")
            rows.append(missed(intended, f"defines {wanted}"))
        plan += [(path, parts, name) for name in names]
    n, progress = len(plan) + len(rows), progress or (lambda i, n, row: None)
    for i, row in enumerate(rows):
        progress(i + 1, n, row)
    with tempfile.TemporaryDirectory(prefix="ssd-edu-grade-") as tmp:
        for k, (path, parts, name) in enumerate(plan):
            parts_file = Path(tmp) / f"submission{k}.json"
            parts_file.write_text(json.dumps({"file": str(path.resolve()),     # its __file__
                                              "parts": [p._asdict() for p in parts]}))
            rows.append(grade_one(path, parts_file, name, timeout, allow_package))
            progress(len(rows), n, rows[-1])
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
                     f"{r.points:>2}/{r.max_points:<3}  {r.cases_passed:>3}/{r.cases_total:<3}  "
                     f"{first}")
    lines.append("")
    for f in dict.fromkeys(r.file for r in rows):
        mine = [r for r in rows if r.file == f]
        lines.append(f"{f:<{width}}  total {sum(r.points for r in mine)}/"
                     f"{sum(r.max_points for r in mine)} points")
    return "\n".join(lines)


def add_arguments(parser) -> None:
    parser.add_argument("paths", metavar="PATH", nargs="+",
                        help="notebooks (.ipynb, cell tagged 'student'), .py files or folders")
    parser.add_argument("--csv", metavar="FILE", type=output_file,
                        help="write one row per (file, exercise)")
    parser.add_argument("--json", metavar="FILE", type=output_file, help="write the rows as JSON")
    parser.add_argument("--timeout", metavar="SECONDS", type=positive_float, default=60.0,
                        help="time limit per (file, exercise) process (default 60)")
    parser.add_argument("--allow-package", action="store_true",
                        help="let answers call the package function they re-implement")


def run_from_args(args) -> int:
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
    if args.csv:  # a message's lines joined with " | ": some spreadsheets split a quoted newline
        with open(args.csv, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows({k: getattr(r, k) for k in FIELDS}
                             | {"message": " | ".join(r.message.splitlines())} for r in rows)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2),
                                   encoding="utf-8")
    return 0


if __name__ == "__main__" and len(sys.argv) >= 5 and sys.argv[1] == "--worker":
    sys.exit(_worker(sys.argv[2], sys.argv[3], sys.argv[4], "--allow-package" in sys.argv[5:]))
