"""Row for claim (ii) in training: the backward pass is the gradient, and its counted flops
grow linearly in T, N and P.

The VJPs of the NumPy reference (the reverse-time scans and the chunked forms of both
families, Q = 8) are counted while they run (:mod:`.counting`), as the forward forms are in
:mod:`.cost`: training, like inference, is O(T N P). Times: ``bench --backward``.
"""
from __future__ import annotations

from ..bench.backward import backward_flop_count
from ..testing import check_vjp
from . import counting
from .cost import N0, P0, Q, case_degree, counts_in, sizes_T
from .registry import check, failures, summarize

KEYS = ("numpy.diagonal.scan", "numpy.scalar.scan", "numpy.diagonal.chunked")


def gradient_cases() -> list:
    """Each counted VJP is first the gradient: :func:`ssd_edu.testing.check_vjp` (central finite
    differences, float64) at random, zero and negative decays, T = 5 (not a multiple of the
    chunk), odd N and P, broadcast leading axes. A count of a wrong gradient proves nothing."""
    cases = []
    for key in KEYS:
        for regime in ("random", "zero", "negative"):
            try:
                errors = check_vjp(key, T=5, N=3, P=3, regime=regime, chunk_size=2)
                worst = max(errors.values())
                cases.append(dict(measured=worst, passed=True,
                                  detail=f"{key} {regime}: gradient error {worst:.1e}"))
            except AssertionError as exc:
                cases.append(dict(measured=float("inf"), passed=False,
                                  detail=f"{key} {regime}: {str(exc).splitlines()[0]}"))
    return cases


@check("backward-T", "diagonal", "Training cost: the backward pass (VJP) of the scan and of the "
       "chunked forms is the gradient (finite differences) and its counted flops are of degree 1 "
       "in T, N and P, like the forward's: SSD trains in O(T N P).",
       "Sec. 4.3 (claim (ii)); docs/theory.md#algorithm-1")
def _backward_T(full):
    grads = gradient_cases()
    cases, data = [], {}
    for var in ("T", "N", "P"):
        for name in counting.VJPS:
            sizes, counts = counts_in(var, name, full, vjp=True)
            cases.append(case_degree(name, var, sizes, counts, 1))
            data[f"{name} in {var}"] = counts
    Ts = sizes_T(full)
    formula = [backward_flop_count("scan", T, N0, P0) for T in Ts]
    scan = data["diagonal_scan_vjp in T"]
    cases.append(dict(passed=scan == formula, detail=f"diagonal_scan_vjp: counted {scan}, "
                                                     f"bench's backward_flop_count {formula}"))
    bad = [c for c in grads if not c["passed"]]
    worst = max((c["measured"] for c in grads if c["passed"]), default=float("nan"))
    out = summarize(grads + cases, failures(grads + cases), 0, summary=(
        f"{len(grads) - len(bad)} of {len(grads)} gradient checks of the {len(KEYS)} VJPs match "
        f"finite differences at random, zero and negative decays (worst passing error "
        f"{worst:.1e}); the counted flops of the {len(counting.VJPS)} scan and chunked VJPs "
        f"(Q = {Q}) are of degree 1 in T = {Ts}, in N and in P; the diagonal scan's VJP counts "
        f"14 T N P = {scan}, as bench's backward_flop_count says"),
        extra="gradients match, every degree 1", data=data)
    out["data"]["gradients"] = [c["detail"] for c in grads]
    return out
