"""Rows for softmax attention (docs/theory.md#softmax, #experiments): the exact rank explosion and
the numerical semiseparable-rank curves, with the negative controls that show why the ordinary rank
is blind."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from .. import exact, softmax
from .. import reference as ref
from ..testing import make_inputs
from .registry import check, failures, summarize


def case_softmax_exact(E) -> dict:
    """Exact: ss_rank(E) == ceil(T / 2) and rank(E) == T (rank explosion of exp)."""
    T = len(E)
    s, r = exact.ss_rank(E), exact.rank(E)
    want = -(-T // 2)
    return dict(measured=s, threshold=want, passed=s == want and r == T,
                detail=f"T={T}: ss_rank {s} (ceil(T/2) = {want}), rank {r}")


@check("softmax-exact", "limits", reference="Sec. 5 (corrected App. B.5)")
def _softmax_exact(full):
    """Causal softmax with rank-1 logits (the paper's E[i, j] = exp(i j), here 2^(i j) in exact
    integers) has semiseparable rank ceil(T/2), normalized or not: no SSM with fewer states has
    this kernel. Uniform averaging, also of rank T, has ss_rank 1."""
    cases = []
    Ts = range(4, 11 if full else 9)
    for T in Ts:
        cases.append(case_softmax_exact(softmax.power_kernel(T)))
        cases.append(case_softmax_exact(softmax.power_kernel(T, normalize=True)))
    for T in (4, 8):
        U = [[Fraction(1, t + 1) if s <= t else 0 for s in range(T)] for t in range(T)]
        r, s = exact.rank(U), exact.ss_rank(U)
        cases.append(dict(measured=s, threshold=1, passed=r == T and s == 1,
                          detail=f"uniform averaging T={T}: rank {r}, ss_rank {s}"))
    worst = max(abs(c["measured"] - c["threshold"]) for c in cases)
    bad = failures(cases)
    ranks = [c["measured"] for c in cases[: 2 * len(Ts): 2]]
    return summarize(cases, worst, 0, summary=f"exact ss_rank for T = {Ts[0]}..{Ts[-1]}: "
                     f"{ranks} (ceil(T/2)), rank T, the same after normalizing; uniform "
                     f"averaging rank T, ss_rank 1; {bad} of {len(cases)} disagree")


def case_softmax_growth(Ts, curves: dict, min_fraction: float = 0.25) -> dict:
    """Every curve (label -> ss_ranks over Ts) is a possible ss_rank (at most ceil(T/2), the
    largest any T x T triangle has) and grows: ss_rank(T_max) >= min_fraction * T_max."""
    bound = min_fraction * Ts[-1]
    lows = {k: v[-1] for k, v in curves.items()}
    worst = min(lows.values())
    low = [k for k, v in lows.items() if v < bound]
    impossible = [k for k, v in curves.items() if any(s > -(-T // 2) for s, T in zip(v, Ts))]
    passed = not low and not impossible
    detail = (f"ss_rank at T={Ts[-1]} below {bound:g} for {low}" if low else "") + \
        (f"; ss_rank above ceil(T/2) (not a semiseparable rank) for {impossible}"
         if impossible else "")
    return dict(measured=worst, threshold=bound, passed=passed,
                detail=detail.strip("; ") or f"min ss_rank at T={Ts[-1]}: {worst}")


@check("softmax-numerical", "limits", reference="Sec. 5 (corrected App. B.5)")
def _softmax_numerical(full):
    """Numerically, causal softmax of random queries and keys with head dim d >= 4 has
    semiseparable rank growing like T/2 (d = 1 saturates: exp(xy) on a bounded range is nearly
    low rank); the same rank function gives 1 for uniform averaging and 4 for a state-4 SSM."""
    Ts = (16, 32, 64, 128, 256) if full else (16, 32, 64, 128)
    grow, sat = {}, {}
    for d in (1, 4, 16):
        # --full: d = 4 also at logit scales 0.5, 2 and a second tolerance (docs/theory.md#softmax)
        wide = full and d == 4
        for scale in ((0.5, 1.0, 2.0) if wide else (1.0,)):
            for rtol in ((None, 1e-10) if wide else (None,)):
                label = f"d={d} scale={scale:g} rtol={rtol or 'default'}"
                curve = softmax.ssrank_curve(Ts, d, scale, rtol=rtol)
                (grow if d >= 4 else sat)[label] = curve
    out = case_softmax_growth(Ts, grow)
    controls = {}
    for T in (16, 64):  # measured with the rank function the curves use
        U = softmax.uniform_average(T)
        controls[f"uniform averaging T={T}"] = (softmax.ss_rank(U), 1)
        d4 = make_inputs("scalar", T, 4, 1, regime="random", seed=T)
        controls[f"state-4 kernel T={T}"] = (softmax.ss_rank(
            ref.scalar_kernel(d4["a"], d4["B"], d4["C"])), 4)
        controls[f"uniform averaging T={T}, ordinary rank"] = (
            int(np.linalg.matrix_rank(U)), T)
    failed = [f"{k}: {got} (expected {want})" for k, (got, want) in controls.items()
              if got != want]
    if failed:
        out["passed"] = False
        out["detail"] += "; failed controls: " + ", ".join(failed)
    last = {k: v[-1] for k, v in grow.items()}
    out["summary"] = (f"at T = {Ts[-1]}: ss_rank {min(last.values())}..{max(last.values())} for "
                      f"d >= 4 (at least T/4 = {Ts[-1] // 4} required, at most ceil(T/2) = "
                      f"{Ts[-1] // 2} possible); d = 1 saturates at "
                      f"{max(v[-1] for v in sat.values())}; controls "
                      f"{'hold' if not failed else 'FAIL'} (uniform averaging ss_rank 1, "
                      f"state-4 SSM 4)")
    out["data"] = dict(T=list(Ts), growing=grow, saturating=sat,
                       controls={k: v[0] for k, v in controls.items()})
    return out
