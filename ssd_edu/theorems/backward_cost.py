"""Row for claim (ii) in training: the backward pass is the gradient, and its counted flops grow
linearly in T, N and P (the reference VJPs counted as :mod:`.cost` counts the forward forms).
Times: ``bench --backward``."""
from __future__ import annotations

from ..bench.backward import backward_flop_count
from ..testing import check_vjp
from . import counting
from .cost import N0, P0, Q, degree_cases, sizes
from .registry import case, check, failures, summarize

KEYS = ("numpy.diagonal.scan", "numpy.scalar.scan", "numpy.diagonal.chunked")


def gradient_cases() -> list:
    """``check_vjp`` of each VJP at random, zero and negative decays, T = 5, N = P = 3."""
    cases = []
    for key in KEYS:
        for regime in ("random", "zero", "negative"):
            try:
                worst = max(check_vjp(key, T=5, N=3, P=3, regime=regime, chunk_size=2).values())
                cases.append(case(True, f"{key} {regime}: gradient error {worst:.1e}", worst))
            except AssertionError as exc:
                cases.append(case(False, f"{key} {regime}: {str(exc).splitlines()[0]}",
                                  float("inf")))
    return cases


@check("backward-T", "diagonal", "Training cost: the backward pass (VJP) of the scan and of the "
       "chunked forms is the gradient (finite differences) and its counted flops are of degree 1 "
       "in T, N and P, like the forward's: SSD trains in O(T N P).",
       "Sec. 4.3 (claim (ii)); docs/theory.md#algorithm-1")
def _backward_T(full):
    grads = gradient_cases()
    cases, data = degree_cases(counting.VJPS, "TNP", full, lambda name, var: 1, vjp=True)
    Ts, scan = sizes("T", full), data["diagonal_scan_vjp in T"]
    formula = [backward_flop_count("scan", T, N0, P0) for T in Ts]
    cases.append(case(scan == formula, f"diagonal_scan_vjp in T: counted {scan}, bench's "
                      f"backward_flop_count {formula}"))
    n_ok = len(grads) - failures(grads)
    worst = max((c["measured"] for c in grads if c["passed"]), default=float("nan"))
    return summarize(grads + cases, failures(grads + cases), 0, summary=(
        f"{n_ok} of {len(grads)} gradient checks of the {len(KEYS)} VJPs match finite "
        f"differences (worst passing error {worst:.1e}); the counted flops of the "
        f"{len(counting.VJPS)} scan and chunked VJPs (Q = {Q}) are of degree 1 in T = {Ts}, in N "
        f"and in P; the diagonal scan's VJP counts 14 T N P = {scan}, as bench's "
        f"backward_flop_count says"), extra="gradients match, every degree 1",
        data=dict(data, gradients=[c["detail"] for c in grads]))
