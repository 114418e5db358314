"""One numerical check per result of THEORY.md; ``python -m ssd_edu verify`` runs them all.

Each check is a function registered with :func:`check`; it returns the measured value, the
threshold and whether it passed, and :func:`run_checks` wraps that into a :class:`Record`
with the statement, the paper reference and the time taken. ``full=True`` runs the larger
(slower) version of a check where one exists.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from . import reference as ref
from .testing import error, make_inputs, tolerance


@dataclass
class Record:
    """The outcome of one check, as printed by ``verify`` and written by ``--json``."""

    id: str
    statement: str
    reference: str
    measured: float
    threshold: float
    passed: bool
    seconds: float
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Check:
    id: str
    statement: str
    reference: str
    fn: Callable = field(repr=False)


#: id -> registered check, in registration (reading) order.
CHECKS: dict = {}


def check(id: str, statement: str, reference: str):
    """Register ``fn(full) -> dict(measured=, threshold=, passed=, detail=)`` as check ``id``."""
    def wrap(fn):
        CHECKS[id] = _Check(id, statement, reference, fn)
        return fn
    return wrap


def run_check(id: str, full: bool = False) -> Record:
    """Run one registered check; an exception inside it is a failed record, not a crash."""
    c = CHECKS[id]
    start = time.perf_counter()
    try:
        out = c.fn(full)
        measured, threshold = float(out["measured"]), float(out["threshold"])
        passed, detail = bool(out["passed"]), str(out.get("detail", ""))
    except Exception as exc:  # reported as a failure with the reason
        measured, threshold, passed = float("nan"), float("nan"), False
        detail = f"{type(exc).__name__}: {exc}"
    return Record(c.id, c.statement, c.reference, measured, threshold, passed,
                  time.perf_counter() - start, detail)


def run_checks(only=None, full: bool = False, progress: Callable | None = None) -> list:
    """Run the checks whose id is in ``only`` (all when None), in registration order."""
    if only:
        unknown = sorted(set(only) - set(CHECKS))
        if unknown:
            raise ValueError(f"unknown check id(s) {unknown}; known: {list(CHECKS)}")
    records = []
    for id in CHECKS:
        if only and id not in only:
            continue
        rec = run_check(id, full)
        if progress is not None:
            progress(rec)
        records.append(rec)
    return records


def format_table(records) -> str:
    """A fixed-width table: one row per check with measured value, threshold, verdict, time."""
    head = f"{'check':<26} {'measured':>11} {'threshold':>11} {'result':>6} {'time':>8}  reference"
    lines = [head, "-" * len(head)]
    for r in records:
        lines.append(f"{r.id:<26} {r.measured:>11.3g} {r.threshold:>11.3g} "
                     f"{'PASS' if r.passed else 'FAIL':>6} {r.seconds:>7.2f}s  {r.reference}")
        if r.detail and not r.passed:
            lines.append(f"    {r.detail}")
    n_fail = sum(not r.passed for r in records)
    lines.append(f"{len(records) - n_fail} passed, {n_fail} failed")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The dualities (THEORY.md 3.1, 3.2)

_GRID_QUICK = dict(T=(1, 2, 3, 17, 64), N=(1, 2, 5), P=(1, 3))
_GRID_FULL = dict(T=(1, 2, 3, 17, 64, 256), N=(1, 2, 5, 16), P=(1, 3, 8))
_REGIMES = ("random", "zero", "negative", "near_one", "strong", "mixed")


def _grid(full):
    g = _GRID_FULL if full else _GRID_QUICK
    for T in g["T"]:
        for N in g["N"]:
            for P in g["P"]:
                yield T, N, P


def _worst_form_error(family: str, full: bool, regimes) -> tuple:
    """Max error over the grid of attention, kernel @ x and chunked against the scan."""
    scan = getattr(ref, f"{family}_scan")
    attention = getattr(ref, f"{family}_attention")
    chunked = getattr(ref, f"{family}_chunked")
    kernel = getattr(ref, f"{family}_kernel")
    worst, where = 0.0, ""
    for seed, (T, N, P) in enumerate(_grid(full)):
        for regime in regimes:
            d = make_inputs(family, T, N, P, (2,), regime=regime, seed=seed)
            y, h = scan(**d)
            candidates = {"attention": attention(**d), "chunked(Q=7)": chunked(**d, chunk_size=7)}
            y0, _ = scan(d["x"], d["a"], d["B"], d["C"])
            errs = {name: max(error(y, yy), error(h, hh)) for name, (yy, hh) in candidates.items()}
            errs["kernel @ x"] = error(y0, kernel(d["a"], d["B"], d["C"]) @ d["x"])
            if family == "diagonal":
                errs["sum of heads @ x"] = error(
                    y0, ref.diagonal_heads(d["a"], d["B"], d["C"]).sum(-3) @ d["x"])
            name, err = max(errs.items(), key=lambda kv: kv[1])
            if err >= worst:
                worst, where = err, f"{name} at T={T} N={N} P={P} regime={regime}"
    return worst, where


@check("scalar-ssd", "A_t = a_t I: scan == 1SS(a) o (C B^T) masked attention == chunked",
       "Prop 3.1; Dao & Gu 2024")
def _scalar_ssd(full):
    worst, where = _worst_form_error("scalar", full, _REGIMES)
    tol = tolerance(np.float64)
    return dict(measured=worst, threshold=tol, passed=worst <= tol, detail=f"worst: {where}")


@check("diagonal-ssd", "A_t = diag(a_t): scan == sum of N 1-SS masked attentions == chunked",
       "Sec. 4.1 (Thm 4.1 setup)")
def _diagonal_ssd(full):
    worst, where = _worst_form_error("diagonal", full, _REGIMES + ("complex",))
    tol = tolerance(np.float64)
    return dict(measured=worst, threshold=tol, passed=worst <= tol, detail=f"worst: {where}")
