"""Rows for softmax attention (docs/theory.md#softmax, #experiments): the exact rank explosion and
the numerical semiseparable-rank curves, with controls that show why the ordinary rank is blind."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from .. import exact, softmax
from .. import reference as ref
from ..testing import make_inputs
from .registry import case, check, failures, summarize


def case_softmax_exact(E) -> dict:
    """Exact: ss_rank(E) == ceil(T / 2) and rank(E) == T (rank explosion of exp)."""
    T, s, r = len(E), exact.ss_rank(E), exact.rank(E)
    want = -(-T // 2)
    return case(s == want and r == T, f"T={T}: ss_rank {s} (ceil(T/2) = {want}), rank {r}",
                s, want)


@check("softmax-exact", "limits", reference="Sec. 5 (corrected App. B.5)")
def _softmax_exact(full):
    """Causal softmax with rank-1 logits (2^(i j) exactly, for the paper's exp(i j)) has ss_rank
    ceil(T/2), normalized or not: no SSM of fewer states has it; uniform averaging has ss_rank 1."""
    Ts = range(4, 11 if full else 9)
    cases = [case_softmax_exact(softmax.power_kernel(T, normalize=norm))
             for T in Ts for norm in (False, True)]
    for T in (4, 8):
        U = [[Fraction(1, t + 1) if s <= t else 0 for s in range(T)] for t in range(T)]
        r, s = exact.rank(U), exact.ss_rank(U)
        cases.append(case(r == T and s == 1, f"uniform averaging T={T}: rank {r}, ss_rank {s}",
                          s, 1))
    worst = max(abs(c["measured"] - c["threshold"]) for c in cases)
    return summarize(cases, worst, 0, summary=f"exact ss_rank for T = {Ts[0]}..{Ts[-1]}: "
                     f"{[c['measured'] for c in cases[:2 * len(Ts):2]]} (ceil(T/2)), rank T, the "
                     f"same after normalizing; uniform averaging rank T, ss_rank 1; "
                     f"{failures(cases)} of {len(cases)} disagree")


def case_softmax_growth(Ts, curves: dict, min_fraction: float = 0.25) -> dict:
    """Every curve (label -> ss_ranks over Ts) stays <= ceil(T/2) and ends >= min_fraction T."""
    bound, worst = min_fraction * Ts[-1], min(v[-1] for v in curves.values())
    low = [k for k, v in curves.items() if v[-1] < bound]
    impossible = [k for k, v in curves.items() if any(s > -(-T // 2) for s, T in zip(v, Ts))]
    detail = "; ".join(([f"ss_rank at T={Ts[-1]} below {bound:g} for {low}"] if low else []) + (
        [f"ss_rank above ceil(T/2) (not a semiseparable rank) for {impossible}"]
        if impossible else []))
    return case(not low and not impossible, detail or f"min ss_rank at T={Ts[-1]}: {worst}", worst,
                bound)


@check("softmax-numerical", "limits", reference="Sec. 5 (corrected App. B.5)")
def _softmax_numerical(full):
    """Numerically, causal softmax of random queries and keys with head dim d >= 4 has ss_rank
    growing like T/2 (d = 1 saturates); the same rank gives 1 for uniform averaging, 4 for N = 4."""
    Ts, grow, sat = (16, 32, 64, 128, 256) if full else (16, 32, 64, 128), {}, {}
    for d in (1, 4, 16):  # --full: d = 4 also at logit scales 0.5, 2 and a second tolerance
        for scale, rtol in [(1.0, None)] + ([(0.5, None), (2.0, None), (0.5, 1e-10), (1.0, 1e-10),
                                            (2.0, 1e-10)] if full and d == 4 else []):
            (grow if d >= 4 else sat)[f"d={d} scale={scale:g} rtol={rtol or 'default'}"] = \
                softmax.ssrank_curve(Ts, d, scale, rtol=rtol)
    out, controls = case_softmax_growth(Ts, grow), {}
    for T in (16, 64):  # measured with the rank function the curves use
        U = softmax.uniform_average(T)
        d4 = make_inputs("scalar", T, 4, 1, regime="random", seed=T)
        controls[f"uniform averaging T={T}"] = (softmax.ss_rank(U), 1)
        controls[f"state-4 kernel T={T}"] = (
            softmax.ss_rank(ref.scalar_kernel(d4["a"], d4["B"], d4["C"])), 4)
        controls[f"uniform averaging T={T}, ordinary rank"] = (int(np.linalg.matrix_rank(U)), T)
    failed = [f"{k}: {got} (expected {want})" for k, (got, want) in controls.items() if got != want]
    if failed:
        out.update(passed=False, detail=out["detail"] + "; failed controls: " + ", ".join(failed))
    last = [v[-1] for v in grow.values()]
    return dict(out, summary=(
        f"at T = {Ts[-1]}: ss_rank {min(last)}..{max(last)} for d >= 4 (at least T/4 = "
        f"{Ts[-1] // 4} required, at most ceil(T/2) = {Ts[-1] // 2} possible); d = 1 saturates "
        f"at {max(v[-1] for v in sat.values())}; controls {'FAIL' if failed else 'hold'} (uniform "
        f"averaging ss_rank 1, state-4 SSM 4)"), data=dict(T=list(Ts), growing=grow,
        saturating=sat, controls={k: v[0] for k, v in controls.items()}))
