"""The grading engine: run a student's function on a battery of cases and say what is wrong.

A grader (``check_one_ss_mask(fn)`` and friends, in :mod:`ssd_edu.exercises.checks`) builds a
list of :class:`Case` objects and calls :func:`run_cases`. Each case holds the arguments, the
expected answer (computed by the package, never hard-coded) and a ``judge`` that compares the
attempt with the expected answer and returns ``None`` (right) or a diagnosis (wrong). The first
failing case stops the run, so the message describes one precise mistake.

The outcome is a :class:`GradeResult`: true when every case passed, printed as
"all N cases passed" or as the diagnosis. ``result.raise_if_failed()`` turns a failure into an
:class:`ExerciseFailure` (an AssertionError) for scripts and tests; :func:`grade` prints the
outcome and never raises, which is what a notebook cell wants.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


class ExerciseFailure(AssertionError):
    """Raised by :meth:`GradeResult.raise_if_failed` for a wrong attempt; carries the result."""

    def __init__(self, result: "GradeResult"):
        super().__init__(result.message)
        self.result = result


@dataclass
class GradeResult:
    """The outcome of one grader run.

    passed: every case passed. n_cases: the size of the battery. n_passed: cases passed before
    the first failure. case: the failing case's name ("" when passed). message: "all N cases
    passed" or the diagnosis, naming the exercise, the case and the mistake.
    """

    exercise: str
    passed: bool
    n_cases: int
    n_passed: int
    message: str
    case: str = ""

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


@dataclass
class Case:
    """One test case: ``fn(*args)`` is compared with ``expected`` by ``judge``.

    name: what the case exercises (shown in the diagnosis, e.g. "zero decay at t = 2").
    judge(got, case) -> str | None: the diagnosis, or None when the attempt is right.
    info: anything the judge needs besides the expected answer (variants, the inputs).
    """

    name: str
    args: tuple
    expected: object
    judge: Callable
    info: dict = field(default_factory=dict)


def _same_input(before, after) -> bool:
    if isinstance(before, np.ndarray):
        return (isinstance(after, np.ndarray) and before.shape == after.shape
                and np.array_equal(before, after, equal_nan=True))
    return True


def run_cases(exercise: str, fn: Callable, cases: list, arg_names: tuple) -> GradeResult:
    """Run ``fn`` on every case in order; stop at the first wrong answer and diagnose it.

    The student's function gets fresh copies of the arguments; an exception, a modified input
    or a wrong answer is reported with the case name. Returns a :class:`GradeResult`.
    """
    n = len(cases)
    if not callable(fn):
        return GradeResult(exercise, False, n, 0,
                           f"{exercise}: expected a function, got {type(fn).__name__}")
    for i, case in enumerate(cases):
        head = f"{exercise}: case {i + 1}/{n} ({case.name}) failed: "
        args = copy.deepcopy(case.args)
        try:
            got = fn(*args)
        except Exception as exc:  # the student's bug, reported rather than raised
            return GradeResult(exercise, False, n, i,
                               head + f"your function raised {type(exc).__name__}: {exc}",
                               case.name)
        for name, before, after in zip(arg_names, case.args, args):
            if not _same_input(before, after):
                return GradeResult(exercise, False, n, i,
                                   head + f"your function modified its input {name}; "
                                   f"work on a copy (inputs must never change)", case.name)
        diagnosis = case.judge(got, case)
        if diagnosis is not None:
            return GradeResult(exercise, False, n, i, head + diagnosis, case.name)
    return GradeResult(exercise, True, n, n, f"{exercise}: all {n} cases passed")


def grade(check: Callable, fn: Callable) -> GradeResult:
    """Run ``check(fn)``, print its verdict and return the :class:`GradeResult` (never raises).

    Made for notebooks: ``grade(check_one_ss_mask, one_ss_mask)`` prints
    "one_ss_mask: all 9 cases passed" or the precise diagnosis of the first failing case.
    """
    result = check(fn)
    print(result.message)
    return result


# --------------------------------------------------------------------------------------------
# Helpers the judges share


def as_result_array(got, what: str):
    """``(array, None)`` for an array-like answer, or ``(None, diagnosis)`` for None etc."""
    if got is None:
        return None, (f"{what} is None: the function body is not written yet (or it forgot "
                      f"to return)")
    if isinstance(got, (tuple, list)) and len(got) and isinstance(got[0], np.ndarray):
        return None, f"{what} is a {type(got).__name__} of {len(got)} arrays; expected one array"
    try:
        arr = np.asarray(got)
    except Exception:  # an object NumPy cannot read
        return None, f"{what} is a {type(got).__name__}; expected an array"
    if arr.dtype.kind not in "biufc":
        return None, f"{what} has dtype {arr.dtype}; expected numbers"
    return arr, None


def shape_diagnosis(got: np.ndarray, expected: np.ndarray, what: str,
                    layout: str) -> str | None:
    """Say how ``got``'s shape differs from ``expected``'s, or None when they are equal."""
    if got.shape == expected.shape:
        return None
    msg = f"{what} has shape {got.shape}, expected {expected.shape} {layout}"
    lead = expected.ndim - got.ndim
    if lead > 0 and got.shape == expected.shape[lead:]:
        msg += (f"; the leading (batch) axes {expected.shape[:lead]} are missing: index from "
                f"the end (a[..., t], axis=-1) so that any leading axes are carried along")
    elif got.shape == expected.shape[:-2] + expected.shape[-2:][::-1] and got.ndim >= 2:
        msg += "; the last two axes are swapped (transposed)"
    return msg


def fmt(value) -> str:
    """A plain repr of one entry: ``0.5``, ``-inf``, ``(1+2j)`` rather than ``np.float64(0.5)``."""
    return repr(value.item()) if hasattr(value, "item") else repr(value)


def first_index(mask: np.ndarray) -> tuple:
    """The first index where ``mask`` is true, as a tuple of ints."""
    return tuple(int(i) for i in np.argwhere(mask)[0])


def nonfinite_diagnosis(got: np.ndarray, expected: np.ndarray, what: str) -> str | None:
    """Report NaN/inf in ``got`` where ``expected`` is finite (or NaN where it is -inf)."""
    with np.errstate(invalid="ignore"):
        bad = np.isnan(got) & ~np.isnan(expected)
        bad |= np.isinf(got) & np.isfinite(expected)
    if not np.any(bad):
        return None
    idx = first_index(bad)
    kind = "NaN" if np.isnan(got[idx]) else "inf"
    return (f"{what} has {int(bad.sum())} non-finite entries ({kind} first at index {idx}, "
            f"expected {fmt(expected[idx])})")


def max_error(got: np.ndarray, expected: np.ndarray) -> float:
    """``max|got - expected| / max(1, max|expected|)`` over the finite entries of expected."""
    finite = np.isfinite(expected)
    if not np.any(finite):
        return 0.0
    e = expected[finite]
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(got[finite].astype(np.result_type(got, e)) - e)
    diff = np.where(np.isnan(diff), np.inf, diff)
    return float(np.max(diff)) / max(1.0, float(np.max(np.abs(e))))


def close(got: np.ndarray, expected: np.ndarray, tol: float) -> bool:
    """Same shape, the same non-finite pattern (NaN, +inf, -inf) and finite error <= tol."""
    if got.shape != expected.shape:
        return False
    with np.errstate(invalid="ignore"):
        same_pattern = np.array_equal(np.isnan(got), np.isnan(expected)) and np.array_equal(
            np.isposinf(got.real), np.isposinf(expected.real)) and np.array_equal(
            np.isneginf(got.real), np.isneginf(expected.real))
    return same_pattern and max_error(got, expected) <= tol


def worst_entry(got: np.ndarray, expected: np.ndarray, what: str) -> str:
    """'max error e at index i: got g, expected v' for the worst finite entry."""
    finite = np.isfinite(expected)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(finite, np.abs(got - np.where(finite, expected, 0)), 0.0)
    diff = np.where(np.isnan(diff), np.inf, diff)
    idx = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape))
    return (f"{what} is wrong: error {max_error(got, expected):.2e}, worst at index {idx}: "
            f"got {fmt(got[idx])}, expected {fmt(expected[idx])}")
