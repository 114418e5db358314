"""Answer kinds: ``read(got, case) -> (answer, diagnosis of its format)``, ``same(answer,
value, case)`` (against the expected answer and each known mistake) and ``explain(answer, case)``
(when no known mistake matches). Arrays match when their non-finite patterns agree and the error
``ssd_edu.testing.error`` of the finite entries is within the answer dtype's tolerance."""
from __future__ import annotations

import numpy as np

from ..testing import error
from .grading import answer_tolerance, tolerance_note


def fmt(value) -> str:  # 0.5 rather than np.float64(0.5)
    return repr(value.item()) if hasattr(value, "item") else repr(value)


def first_index(mask: np.ndarray) -> tuple:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def unwritten(what: str) -> tuple:
    return None, ("returned None: the function body is not written yet (or it forgot to return); "
                  f"return {what}")


def as_result_array(got, what: str):
    """``(array, None)``, or ``(None, diagnosis)`` for None, a tuple of arrays, text, ..."""
    if got is None:
        return None, (f"{what} is None: the function body is not written yet (or it forgot "
                      "to return)")
    if isinstance(got, (tuple, list)) and len(got) and isinstance(got[0], np.ndarray):
        return None, f"{what} is a {type(got).__name__} of {len(got)} arrays; expected one array"
    try:
        arr = np.asarray(got)
    except Exception:  # an object NumPy cannot read
        return None, f"{what} is a {type(got).__name__}; expected an array"
    if arr.dtype.kind not in "biufc":
        return None, f"{what} has dtype {arr.dtype}; expected numbers"
    return arr, None


def shape_diagnosis(got, expected, what: str, layout: str) -> str | None:
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


def nonfinite_diagnosis(got, expected, what: str, hints: dict) -> str | None:
    """NaN, inf where finite, or finite where inf is expected (each followed by ``hints``
    "nan", "inf", "finite"), or None."""
    with np.errstate(invalid="ignore"):
        fin, inf = "a finite value", "an infinite value"
        faults = (("nan", np.isnan(got) & ~np.isnan(expected), "NaN", fin),
                  ("inf", np.isinf(got) & np.isfinite(expected), inf, fin),
                  ("finite", np.isfinite(got) & np.isinf(expected), fin, inf))
    for key, bad, kind, wanted in faults:
        if np.any(bad):
            idx = first_index(bad)
            return (f"{what} has {int(bad.sum())} entries that are {kind} where {wanted} is "
                    f"expected (first at index {idx}: got {fmt(got[idx])}, expected "
                    f"{fmt(expected[idx])})" + hints.get(key, ""))
    return None


def finite_error(got: np.ndarray, expected: np.ndarray) -> float:
    finite = np.isfinite(expected)
    with np.errstate(invalid="ignore", over="ignore"):
        err = error(expected[finite], got[finite])
    return np.inf if np.isnan(err) else err


def close(got: np.ndarray, expected: np.ndarray, case=None) -> bool:
    expected = np.asarray(expected)
    if got.shape != expected.shape:
        return False
    with np.errstate(invalid="ignore"):
        same_pattern = (np.array_equal(np.isnan(got), np.isnan(expected))
                        and np.array_equal(np.isposinf(got.real), np.isposinf(expected.real))
                        and np.array_equal(np.isneginf(got.real), np.isneginf(expected.real)))
    return same_pattern and finite_error(got, expected) <= answer_tolerance(got, case)[0]


def worst_entry(got: np.ndarray, expected: np.ndarray, what: str, case=None) -> str:
    finite = np.isfinite(expected)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(finite, np.abs(got - np.where(finite, expected, 0)), 0.0)
    diff = np.where(np.isnan(diff), np.inf, diff)
    idx = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape))
    return (f"{what} is wrong: error {finite_error(got, expected):.2e} > "
            f"{tolerance_note(got, case)}; worst at index {idx}: "
            f"got {fmt(got[idx])}, expected {fmt(expected[idx])}")


def above_diagonal(arr: np.ndarray, fill: float, what: str, why: str) -> str | None:
    wrong = np.triu(np.ones(arr.shape[-2:], dtype=bool), 1) & (arr != fill)
    if not np.any(wrong):
        return None
    idx = first_index(wrong)
    return (f"not causal: {what}[t, s] must be {fill} above the diagonal (s > t) {why}; "
            f"got {fmt(arr[idx])} at index {idx}")


class ArrayAnswer:
    """One array; ``pre(arr, case)`` may name a fault before the shape check, ``structure(arr,
    case)`` one before the worst entry."""
    def __init__(self, what: str, layout: str, hints=None, structure=None, pre=None):
        self.what, self.layout, self.hints = what, layout, hints or {}
        self.structure, self.pre = structure, pre

    def read(self, got, case):
        arr, msg = as_result_array(got, self.what)
        exp = np.asarray(case.expected)
        msg = (msg or (self.pre and self.pre(arr, case))
               or shape_diagnosis(arr, exp, self.what, self.layout))
        return arr, msg or nonfinite_diagnosis(arr, exp, self.what, self.hints)

    def same(self, arr, value, case) -> bool:
        return close(arr, np.asarray(value), case)

    def explain(self, arr, case) -> str:
        return ((self.structure and self.structure(arr, case))
                or worst_entry(arr, np.asarray(case.expected), self.what, case))


class TupleAnswer:
    """A tuple of arrays such as ``(y, h)``, parts ((name, layout), ...); a variant's item may be
    None (any value); pre(*arrays, case) may name a fault before the shapes; hint follows a
    non-finite diagnosis."""
    def __init__(self, parts: tuple, hint: str = "", pre=None, noun: str = "the pair"):
        self.parts, self.hint, self.pre, self.noun = parts, hint, pre, noun

    def arrays(self, got):
        """``(arrays, None)`` or ``(None, diagnosis)``: the tuple's items read as arrays."""
        names = ", ".join(p[0] for p in self.parts)
        if got is None:
            return unwritten(f"({names})")
        if not isinstance(got, (tuple, list)) or len(got) != len(self.parts):
            return None, f"returned a {type(got).__name__}; return {self.noun} ({names})"
        arrays = [as_result_array(item, what) for (what, _), item in zip(self.parts, got)]
        msg = next((m for _, m in arrays if m), None)
        return (None, msg) if msg else (tuple(a for a, _ in arrays), None)

    def read(self, got, case):
        arrays, msg = self.arrays(got)
        if msg:
            return None, msg
        msg = self.pre and self.pre(*arrays, case)
        for (what, layout), arr, exp in zip(self.parts, arrays, case.expected):
            msg = msg or shape_diagnosis(arr, np.asarray(exp), what, layout)
        hints = dict.fromkeys(("nan", "inf", "finite"), self.hint)
        for (what, _), arr, exp in zip(self.parts, arrays, case.expected):
            msg = msg or nonfinite_diagnosis(arr, np.asarray(exp), what, hints)
        return arrays, msg

    def same(self, answer, value, case) -> bool:
        return all(v is None or close(a, np.asarray(v), case) for a, v in zip(answer, value))

    def explain(self, answer, case) -> str:
        for k, ((what, _), arr, exp) in enumerate(zip(self.parts, answer, case.expected)):
            if not close(arr, np.asarray(exp), case):
                right = f"{self.parts[0][0]} is right but " if k else ""
                return right + worst_entry(arr, np.asarray(exp), what, case)
        return "the answer is wrong"


class ExactAnswer:
    """An answer compared exactly (a count, a list of ints); ``label`` names it."""
    def __init__(self, label: str = "", list_hint: bool = True):
        self.label, self.list_hint = label, list_hint

    def same(self, answer, value, case) -> bool:
        return answer == value


class CountAnswer(ExactAnswer):
    """An integer count, e.g. "nu"."""
    def read(self, got, case):
        if got is None:
            return unwritten(f"{self.label}, an int")
        if isinstance(got, (list, tuple, np.ndarray)) and np.ndim(got) == 1:
            hint = (" (your list has the right length: return len(...) of it)"
                    if self.list_hint and len(got) == case.expected else "")
            return None, (f"returned a {type(got).__name__} of {len(got)} items; return "
                          f"{self.label}, an int{hint}")
        if isinstance(got, bool) or not isinstance(got, (int, np.integer, float, np.floating)) \
                or not np.isfinite(got) or float(got) != int(got):
            return None, f"returned {got!r}; expected an integer count"
        return int(got), None

    def explain(self, answer, case) -> str:
        return f"got {answer}, expected {self.label} = {case.expected} on M =\n{case.args[0]}"


class IndexListAnswer(ExactAnswer):
    """An increasing list of indices (e.g. split points)."""
    def read(self, got, case):
        if got is None:
            return unwritten(f"the list of {self.label}")
        if isinstance(got, (int, np.integer)):
            return None, f"returned the number {got}; return the list of {self.label} itself"
        try:
            items = [int(v) for v in np.asarray(got).ravel()]
        except (TypeError, ValueError):
            return None, f"returned {got!r}; expected a list of integers"
        if any(b <= a for a, b in zip(items, items[1:])):
            return None, f"returned {items}; list the {self.label} once each, in increasing order"
        return items, None

    def explain(self, answer, case) -> str:
        want, got = set(case.expected), set(answer)
        missing, extra = sorted(want - got), sorted(got - want)
        parts = ([f"missing {missing}"] * bool(missing)
                 + [f"not {self.label}: {extra}"] * bool(extra))
        return (f"got {answer}, expected {list(case.expected)} ({'; '.join(parts)}) on M =\n"
                f"{case.args[0]}")
