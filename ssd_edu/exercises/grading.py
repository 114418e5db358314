"""The grading engine: run a student's function on every case of a battery and say what is wrong.

A grader (``check_one_ss_mask(fn)`` and friends) builds a list of :class:`Case` objects and calls
:func:`run_cases`. Each case holds the arguments, the expected answer (computed by the package,
never hard-coded), a *category* ("basic", "edge", "extreme", "scaled", "float32", ...), the
known mistakes as *variants* (the answer that mistake would give on this case) and an *answer
kind* (:mod:`ssd_edu.exercises.answers`) that reads, compares and explains the attempt.

Every case runs, whatever the order, so "passed k of n" is a property of the attempt. The
message names the first failing case and its diagnosis; when the attempt matches a known
mistake, the diagnosis names the mistake that explains the most failing cases of the battery
(a mistake is recognized by its pattern across cases, not by one number). The tally follows,
per category.

Tolerance: an answer is judged at the package's tolerance for its own dtype
(``ssd_edu.testing.TOLERANCES``: a float32 answer at the float32 tolerance), with the error
``ssd_edu.testing.error``; a failure message says which tolerance was applied.

An attempt that calls the package function it is meant to re-implement fails every case with a
message saying so, unless the teacher passes ``allow_package=True``.
"""
from __future__ import annotations

import copy
import importlib
import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..testing import TOLERANCES

#: Hints added when every failing case lies in one category: the mistake is about that kind of data.
CATEGORY_HINTS = {
    "scaled": ("it fails only on the scaled cases: a tolerance or threshold in your code is "
               "absolute; make it relative to the size of the data (e.g. to the largest "
               "singular value or max|M|)"),
    "extreme": ("it fails only on the extreme-value cases: something over- or underflows "
                "(a division of tiny products, exp of a large negative log, a clamp)"),
    "extreme+scaled": ("it fails only on the scaled and extreme-value cases: a tolerance or "
                       "threshold in your code is absolute (or something over- or underflows); "
                       "make it relative to the size of the data (e.g. to the largest singular "
                       "value or max|M|)"),
    "float32": ("it fails only on the float32 inputs: compute in the input's precision or "
                "higher, and do not compare floats with ==") ,
}


class ExerciseFailure(AssertionError):
    """Raised by :meth:`GradeResult.raise_if_failed` for a wrong attempt; carries the result."""

    def __init__(self, result: "GradeResult"):
        super().__init__(result.message)
        self.result = result


@dataclass
class GradeResult:
    """The outcome of one grader run.

    passed: every case passed. n_cases: the size of the battery. n_passed: how many cases
    passed (all cases always run). case: the first failing case ("" when passed).
    by_category: category -> (passed, total). failures: [(case name, diagnosis), ...].
    cases: [(case name, category), ...], the whole battery in order.
    message: "all N cases passed" or the first failure's diagnosis plus the tally.
    """

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

    def to_dict(self) -> dict:
        """A JSON-ready dict (what ``ssd-edu grade --json`` writes per row)."""
        return {"exercise": self.exercise, "passed": self.passed, "n_passed": self.n_passed,
                "n_cases": self.n_cases, "case": self.case, "message": self.message,
                "by_category": {k: list(v) for k, v in self.by_category.items()},
                "failures": [list(f) for f in self.failures]}


class Case:
    """One test case: ``fn(*args)`` is read and judged by ``kind`` against ``expected``.

    name: what the case exercises (shown in the diagnosis, e.g. "zero decay at t = 2").
    kind: an answer kind of :mod:`ssd_edu.exercises.answers` (read, same, explain).
    category: its group in the tally ("basic", "edge", "zero decays", "extreme", ...).
    variants: [(key, description, value)]: the answer each known mistake gives on this case.
    raises: when set, the right answer is to raise this exception type (then expected is the
    reason shown when it does not).
    """

    def __init__(self, name: str, args: tuple, expected, kind, category: str = "basic",
                 variants=(), raises: type | None = None):
        self.name, self.args, self.expected, self.kind = name, args, expected, kind
        self.category, self.variants, self.raises = category, list(variants), raises


# --------------------------------------------------------------------------------------------
# Tolerance: the package's table, by the answer's dtype


def _table_entry(dtype) -> tuple:
    dtype = np.result_type(dtype, np.float32)
    tol = TOLERANCES.get(np.dtype(dtype))
    if tol is None:
        dtype = np.complex128 if np.issubdtype(dtype, np.complexfloating) else np.float64
        tol = TOLERANCES[np.dtype(dtype)]
    return tol, np.dtype(dtype).name


def input_dtype(args) -> np.dtype:
    """The floating dtype of a case's array arguments (float64 when there are none)."""
    floats = [a.dtype for a in args if isinstance(a, np.ndarray) and a.dtype.kind in "fc"]
    return np.result_type(*floats) if floats else np.dtype(np.float64)


def answer_tolerance(arr: np.ndarray, case: "Case | None" = None) -> tuple:
    """``(tol, dtype name)`` from :data:`ssd_edu.testing.TOLERANCES`: the entry of the answer's
    dtype, or of the case's inputs when they are coarser (float32 inputs allow float32 error
    in a float64 answer).

    Integer and boolean answers are judged as float64; float16 as float32 (the table's
    coarsest entry); a dtype missing from the table (longdouble) as float64.
    """
    entry = _table_entry(arr.dtype)
    if case is not None:
        entry = max(entry, _table_entry(input_dtype(case.args)))
    return entry


def tolerance_note(arr: np.ndarray, case: "Case | None" = None) -> str:
    """'the float32 tolerance 2e-05; your answer is float32' (for a failure message)."""
    tol, name = answer_tolerance(arr, case)
    note = f"the {name} tolerance {tol:.0e}; your answer is {arr.dtype}"
    if case is not None and input_dtype(case.args) != np.float64:
        note += f", the inputs {input_dtype(case.args)}"
    return note


# --------------------------------------------------------------------------------------------
# Calls to the package function the exercise re-implements


def _resolve(dotted: str):
    module, _, attr = dotted.rpartition(".")
    if module.startswith(("ssd_edu.cpu.", "ssd_edu.gpu.")) and module not in sys.modules:
        return None  # a compiled backend not loaded yet: grading loads none
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None  # e.g. a backend that is not installed here: nothing to watch


def _code_of(fn):
    fn = getattr(fn, "py_func", fn)          # a numba dispatcher: its Python source function
    while hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return getattr(fn, "__code__", None)


def watched_codes(names) -> dict:
    """code object -> dotted name, for the package functions an attempt may not call.

    names: dotted names ("ssd_edu.reference.masks.one_ss_mask") or the functions themselves.
    """
    codes = {}
    for entry in names:
        fn = _resolve(entry) if isinstance(entry, str) else entry
        code = _code_of(fn)
        if code is not None:
            dotted = entry if isinstance(entry, str) else f"{fn.__module__}.{fn.__qualname__}"
            codes.setdefault(code, dotted)
    return codes


def _call_watching(fn, args, codes: dict) -> tuple:
    """``(result, called)``: run ``fn(*args)``; ``called`` names a watched function it called."""
    called = []
    previous = sys.getprofile()

    def profiler(frame, event, arg):
        if event == "call" and frame.f_code in codes and not called:
            called.append(codes[frame.f_code])

    sys.setprofile(profiler if codes else previous)
    try:
        got = fn(*args)
    finally:
        sys.setprofile(previous)
    return got, (called[0] if called else None)


# --------------------------------------------------------------------------------------------
# Running a battery


def _same_input(before, after) -> bool:
    if isinstance(before, np.ndarray):
        return (isinstance(after, np.ndarray) and before.shape == after.shape
                and np.array_equal(before, after, equal_nan=True))
    return True


@dataclass
class _Outcome:
    case: Case
    diagnosis: str | None              # None: passed
    matched: list = field(default_factory=list)   # keys of the variants the answer equals
    coarse: tuple = ()                 # (the looser tolerance a passing answer was judged at,
                                       #  why: "float32 data" or "a float32 answer")
    generic: bool = False              # the fallback diagnosis (no known mistake, no format fault)


def _judge(case: Case, got) -> _Outcome:
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
    """('the float32 tolerance 2e-05', why) when an array answer was judged looser than
    float64: why is "float32 data", or "a float32 answer" (to float64 data)."""
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


def _run_one(fn, case: Case, arg_names: tuple, codes: dict, allow_text: str) -> _Outcome:
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
        if not _same_input(before, after):
            return _Outcome(case, f"your function modified its input {name}; work on a copy "
                            f"(inputs must never change)")
    if case.raises is not None:
        return _Outcome(case, f"expected {case.raises.__name__} to be raised: {case.expected}")
    return _judge(case, got)


def _best_diagnosis(first: _Outcome, outcomes: list) -> str:
    """The first failure's diagnosis, choosing among the mistakes it matches the one that
    explains the most failing cases (ties: all of them)."""
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
    """Run ``fn`` on every case; diagnose the first failure; tally passes by category.

    The function gets fresh copies of the arguments; an exception, a modified input, a call
    to one of the ``forbidden`` package functions (dotted names; ignored with
    ``allow_package=True``) or a wrong answer fails that case. Returns a :class:`GradeResult`.
    """
    n = len(cases)
    categories = {c.category: (0, 0) for c in cases}
    battery = [(c.name, c.category) for c in cases]
    if not callable(fn):
        return GradeResult(exercise, False, n, 0, f"{exercise}: expected a function, got "
                           f"{type(fn).__name__}", cases[0].name if cases else "",
                           {k: (0, v) for k, v in _tally([_Outcome(c, "") for c in cases]).items()},
                           cases=battery)
    # the package's versions, and the reference solution (unless it is the attempt itself)
    codes = {} if allow_package else watched_codes(
        (*forbidden, f"ssd_edu.exercises.solutions.{exercise}"))
    codes.pop(_code_of(fn), None)
    allow_text = (f"a teacher can allow this: check_{exercise}(fn, allow_package=True), or "
                  f"ssd-edu grade --allow-package")
    outcomes = [_run_one(fn, c, arg_names, codes, allow_text) for c in cases]
    categories.update(_tally(outcomes))
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
    if k and first.generic:
        hint = CATEGORY_HINTS.get(bad_categories)
        if hint:
            diagnosis += f". Note: {hint}"
    tally = ", ".join(f"{cat} {p}/{t}" for cat, (p, t) in categories.items())
    message = (f"{exercise}: case {i + 1}/{n} ({first.case.name}) failed: {diagnosis}\n"
               f"{exercise}: passed {k} of {n} cases ({tally})")
    return GradeResult(exercise, False, n, k, message, first.case.name, categories,
                       [(o.case.name, o.diagnosis) for _, o in failed], battery)


def grade(check: Callable, fn: Callable, **options) -> GradeResult:
    """Run ``check(fn, **options)``, print its verdict and return the :class:`GradeResult`.

    Made for notebooks (never raises): ``grade(check_one_ss_mask, one_ss_mask)`` prints
    "one_ss_mask: all 12 cases passed" or the diagnosis of the first failing case and the tally.
    """
    result = check(fn, **options)
    print(result.message)
    return result
