"""The grading engine: run a student's function on every :class:`Case` of a battery (arguments,
expected answer, category, known mistakes as *variants*, an answer kind of :mod:`.answers`).
The message names the first failing case and its diagnosis (of the known mistakes it matches, the
one explaining most failing cases), then the tally by category. Arrays are judged at the package's
tolerance ``ssd_edu.testing.TOLERANCES``; calling the package function re-implemented fails,
unless ``allow_package=True``."""
from __future__ import annotations

import contextlib
import copy
import importlib
import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..testing import TOLERANCES

#: Hints added when every failing case lies in one category.
_RELATIVE = ("make it relative to the size of the data (e.g. to the largest singular value or "
             "max|M|)")
CATEGORY_HINTS = {
    "scaled": "it fails only on the scaled cases: a tolerance or threshold in your code is "
              "absolute; " + _RELATIVE,
    "extreme": "it fails only on the extreme-value cases: something over- or underflows "
               "(a division of tiny products, exp of a large negative log, a clamp)",
    "extreme+scaled": "it fails only on the scaled and extreme-value cases: a tolerance or "
                      "threshold in your code is absolute (or something over- or underflows); "
                      + _RELATIVE,
    "float32": "it fails only on the float32 inputs: compute in the input's precision or "
               "higher, and do not compare floats with =="}


class ExerciseFailure(AssertionError):
    """Raised by :meth:`GradeResult.raise_if_failed` for a wrong attempt; carries the result."""
    def __init__(self, result: "GradeResult"):
        super().__init__(result.message)
        self.result = result


@dataclass
class GradeResult:
    """The outcome of one grader run: true when every case passed; ``case`` the first failing
    case; by_category: category -> (passed, total); failures: [(case, diagnosis)]; cases:
    [(case, category)], the battery in order; message: the verdict a student reads."""
    exercise: str
    passed: bool
    n_cases: int
    n_passed: int
    message: str
    case: str = ""
    by_category: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    cases: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython display
        printer.text(self.message)

    def raise_if_failed(self) -> "GradeResult":
        """Return self when passed, else raise :class:`ExerciseFailure` with the diagnosis."""
        if not self.passed:
            raise ExerciseFailure(self)
        return self


class Case:
    """``fn(*args)`` judged by ``kind`` against ``expected``; variants: [(key, diagnosis, the
    answer that mistake gives)]; raises: the exception type to raise (``expected``: the reason)."""
    def __init__(self, name: str, args: tuple, expected, kind, category: str = "basic",
                 variants=(), raises: type | None = None):
        self.name, self.args, self.expected, self.kind = name, args, expected, kind
        self.category, self.variants, self.raises = category, list(variants), raises


def _table_entry(dtype) -> tuple:
    dtype = np.dtype(np.result_type(dtype, np.float32))
    if dtype not in TOLERANCES:
        dtype = np.dtype(np.complex128 if dtype.kind == "c" else np.float64)
    return TOLERANCES[dtype], dtype.name


def input_dtype(args) -> np.dtype:
    """The floating dtype of a case's array arguments (float64 when there are none)."""
    floats = [a.dtype for a in args if isinstance(a, np.ndarray) and a.dtype.kind in "fc"]
    return np.result_type(*floats) if floats else np.dtype(np.float64)


def answer_tolerance(arr: np.ndarray, case: "Case | None" = None) -> tuple:
    """``(tol, dtype name)``: the TOLERANCES entry of the answer's dtype, or of the case's
    inputs when coarser; integers as float64, float16 as float32, longdouble as float64."""
    entry = _table_entry(arr.dtype)
    return entry if case is None else max(entry, _table_entry(input_dtype(case.args)))


def tolerance_note(arr: np.ndarray, case: "Case | None" = None) -> str:
    """'the float32 tolerance 2e-05; your answer is float32'."""
    tol, name = answer_tolerance(arr, case)
    note = f"the {name} tolerance {tol:.0e}; your answer is {arr.dtype}"
    if case is not None and input_dtype(case.args) != np.float64:
        note += f", the inputs {input_dtype(case.args)}"
    return note


def _resolve(dotted: str):
    """The function; None when not importable or in a compiled backend not loaded yet."""
    module, _, attr = dotted.rpartition(".")
    if module.startswith(("ssd_edu.cpu.", "ssd_edu.gpu.")) and module not in sys.modules:
        return None
    with contextlib.suppress(ImportError, AttributeError):
        return getattr(importlib.import_module(module), attr)


def _code_of(fn):
    fn = getattr(fn, "py_func", fn)          # a numba dispatcher: its Python source function
    while hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return getattr(fn, "__code__", None)


def watched_codes(names) -> dict:
    """code object -> dotted name of the package functions (dotted names or functions)."""
    codes = {}
    for entry in names:
        fn = _resolve(entry) if isinstance(entry, str) else entry
        if _code_of(fn) is not None:
            codes.setdefault(_code_of(fn), entry if isinstance(entry, str)
                             else f"{fn.__module__}.{fn.__qualname__}")
    return codes


def _call_watching(fn, args, codes: dict) -> tuple:
    """``(result, called)``: run ``fn(*args)``; ``called`` names a watched function it called."""
    called, previous = [], sys.getprofile()

    def profiler(frame, event, arg):
        if event == "call" and frame.f_code in codes and not called:
            called.append(codes[frame.f_code])

    sys.setprofile(profiler if codes else previous)
    try:
        got = fn(*args)
    finally:
        sys.setprofile(previous)
    return got, (called[0] if called else None)


@dataclass
class _Outcome:
    case: Case
    diagnosis: str | None              # None: passed
    matched: list = field(default_factory=list)   # [(key, diagnosis)] of the matching variants
    coarse: tuple = ()                 # a passing answer's looser tolerance (_coarse_tolerance)
    generic: bool = False              # the fallback diagnosis (no known mistake, no format fault)


def _judge(fn, case: Case, arg_names: tuple, codes: dict, allow_text: str) -> _Outcome:
    args = copy.deepcopy(case.args)
    try:
        got, called = _call_watching(fn, args, codes)
    except Exception as exc:  # the student's bug, reported rather than raised
        if case.raises is not None and isinstance(exc, case.raises):
            return _Outcome(case, None)
        return _Outcome(case, f"your function raised {type(exc).__name__}: {exc}")
    if called:
        return _Outcome(case, f"your function calls {called}, the package's own version of what "
                        f"this exercise asks you to write; write it yourself ({allow_text})")
    for name, before, after in zip(arg_names, case.args, args):
        if isinstance(before, np.ndarray) and not (
                isinstance(after, np.ndarray) and before.shape == after.shape
                and np.array_equal(before, after, equal_nan=True)):
            return _Outcome(case, f"your function modified its input {name}; work on a copy "
                            f"(inputs must never change)")
    if case.raises is not None:
        return _Outcome(case, f"expected {case.raises.__name__} to be raised: {case.expected}")
    answer, msg = case.kind.read(got, case)
    if msg:
        return _Outcome(case, msg)
    if case.kind.same(answer, case.expected, case):
        return _Outcome(case, None, coarse=_coarse_tolerance(answer, case))
    matched = [(k, d) for k, d, v in case.variants
               if case.kind.same(answer, v, case) and not _is_expected(case, v)]
    if matched:
        return _Outcome(case, matched[0][1], matched)
    # a kind whose explain() names causes itself sets category_hints = False
    return _Outcome(case, case.kind.explain(answer, case),
                    generic=getattr(case.kind, "category_hints", True))


def _coarse_tolerance(answer, case: Case) -> tuple:
    """('the float32 tolerance 2e-05', "float32 data" or "a float32 answer") when an array
    answer was judged looser than float64."""
    arr = answer[0] if isinstance(answer, tuple) and answer else answer
    if not isinstance(arr, np.ndarray):
        return ()
    tol, name = answer_tolerance(arr, case)
    if tol <= TOLERANCES[np.dtype(np.float64)]:
        return ()
    data_tol = _table_entry(input_dtype(case.args))[0]
    return (f"the {name} tolerance {tol:.0e}",
            f"{name} data" if data_tol >= tol else f"a {arr.dtype} answer")


def _is_expected(case: Case, value) -> bool:
    """A variant that equals the right answer on this case says nothing about a mistake."""
    try:
        answer, msg = case.kind.read(case.expected, case)
    except Exception:  # an expected value the kind cannot read back (a reason string)
        return False
    return msg is None and case.kind.same(answer, value, case)


def _best_diagnosis(first: _Outcome, outcomes: list) -> str:
    """Of the mistakes the first failure matches, the one matching most failures (or all tied)."""
    if len(first.matched) < 2:
        return first.diagnosis
    failed = [o for o in outcomes if o.diagnosis is not None]
    score = {k: sum(k in dict(o.matched) for o in failed) for k, _ in first.matched}
    best = max(score.values())
    names = list(dict.fromkeys(d for k, d in first.matched if score[k] == best))
    return names[0] if len(names) == 1 else "one of these mistakes: " + "; or ".join(names)


def _tally(outcomes: list) -> dict:
    table = {}
    for o in outcomes:
        k, n = table.get(o.case.category, (0, 0))
        table[o.case.category] = (k + (o.diagnosis is None), n + 1)
    return table


def run_cases(exercise: str, fn: Callable, cases: list, arg_names: tuple, *,
              forbidden=(), allow_package: bool = False) -> GradeResult:
    """Run ``fn`` on fresh copies of every case's arguments; an exception, a modified input, a
    call to a ``forbidden`` package function (unless ``allow_package``) or a wrong answer fails
    the case. Returns the :class:`GradeResult`."""
    n = len(cases)
    battery = [(c.name, c.category) for c in cases]
    if not callable(fn):
        return GradeResult(exercise, False, n, 0, f"{exercise}: expected a function, got "
                           f"{type(fn).__name__}", cases[0].name if cases else "",
                           _tally([_Outcome(c, "") for c in cases]), cases=battery)
    # the package's versions, and the reference solution (unless it is the attempt itself)
    codes = {} if allow_package else watched_codes(
        (*forbidden, f"ssd_edu.exercises.solutions.{exercise}"))
    codes.pop(_code_of(fn), None)
    allow_text = (f"a teacher can allow this: check_{exercise}(fn, allow_package=True), or "
                  f"ssd-edu grade --allow-package")
    outcomes = [_judge(fn, c, arg_names, codes, allow_text) for c in cases]
    categories = _tally(outcomes)
    failed = [(i, o) for i, o in enumerate(outcomes) if o.diagnosis is not None]
    k = n - len(failed)
    if not failed:
        coarse = [o.coarse for o in outcomes if o.coarse]
        whys = {why: sum(c[1] == why for c in coarse) for _, why in coarse}
        note = (f" ({len(coarse)} of them judged at {coarse[0][0]}: "
                + ", ".join(f"{k} with {why}" for why, k in whys.items()) + ")"
                if coarse else "")
        return GradeResult(exercise, True, n, n, f"{exercise}: all {n} cases passed{note}",
                           by_category=categories, cases=battery)
    i, first = failed[0]
    diagnosis = _best_diagnosis(first, outcomes)
    bad_categories = "+".join(sorted({o.case.category for _, o in failed}))
    if k and first.generic and bad_categories in CATEGORY_HINTS:
        diagnosis += f". Note: {CATEGORY_HINTS[bad_categories]}"
    tally = ", ".join(f"{cat} {p}/{t}" for cat, (p, t) in categories.items())
    message = (f"{exercise}: case {i + 1}/{n} ({first.case.name}) failed: {diagnosis}\n"
               f"{exercise}: passed {k} of {n} cases ({tally})")
    return GradeResult(exercise, False, n, k, message, first.case.name, categories,
                       [(o.case.name, o.diagnosis) for _, o in failed], battery)


def grade(check: Callable, fn: Callable, **options) -> GradeResult:
    """Run ``check(fn, **options)``, print its verdict and return it (never raises)."""
    print((result := check(fn, **options)).message)
    return result


#: what a grader compares the answer with (the notebook says so), unless told otherwise
COMPARES = ("the package (arrays within the package's tolerance `ssd_edu.testing.TOLERANCES` "
            "for your answer's dtype, float32 for float32 data)")


def grader(exercise: str, cases: Callable, arg_names: tuple, doc: str, forbidden=(),
           compares: str = COMPARES) -> Callable:
    """``check_<exercise>(fn, allow_package=False) -> GradeResult`` running ``cases()``;
    forbidden: dotted names (or a function giving them); compares: what the notebook says the
    answer is compared with."""
    def check(fn, allow_package: bool = False) -> GradeResult:
        return run_cases(exercise, fn, cases(), arg_names, allow_package=allow_package,
                         forbidden=forbidden() if callable(forbidden) else forbidden)
    check.__name__ = check.__qualname__ = f"check_{exercise}"
    check.__doc__ = f"Grade {doc}."
    check.compares = compares
    return check
