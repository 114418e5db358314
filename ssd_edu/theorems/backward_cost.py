"""Row for claim (ii) in training: the backward pass is the gradient, and its time grows
linearly in T.

The VJPs of the NumPy reference (the reverse-time scans of both families, the diagonal chunked
form at Q = 64) are timed at N = 4, P = 16 for each T, in one fresh single-threaded
process (``ssd_edu.bench.timing``, CPU time, best of several rounds). The decision reads the
T-dependent part of each time (the time at the smallest T subtracted, as in ``cost``), which
must grow as T^k with k in ``SLOPE_LINEAR``: training, like inference, is O(T N P).
"""
from __future__ import annotations

import numpy as np

from ..registry import VJPS
from ..bench.timing import best_times, run_isolated
from ..testing import check_vjp, make_inputs
from .cost import SLOPE_LINEAR, case_marginal_slope, decide_with_retry
from .registry import check, summarize

KEYS = ("numpy.diagonal.scan", "numpy.scalar.scan", "numpy.diagonal.chunked")
#: Round-robin rounds per size (best of). This machine's speed halves for a second or more at
#: a time; a size whose every round falls in a slow phase fails the row. With 5 rounds, 2 of
#: 8 isolated measurements failed (a slow phase 15-80% of the time: one size 1.7x its speed);
#: 12 rounds give every size about 2.4x more chances, for about 4 s a measurement.
ROUNDS = 12


def backward_timings(full: bool) -> dict:
    """{"sizes": Ts, key: seconds per T} for every key of :data:`KEYS` (CPU time, best of)."""
    Ts = (256, 512, 1024, 2048, 4096) if full else (256, 512, 1024, 2048)
    out = {"sizes": list(Ts)}
    for key in KEYS:
        family = key.split(".")[1]
        kwargs = {"chunk_size": 64} if key.endswith(".chunked") else {}
        calls = []
        for T in Ts:
            d = make_inputs(family, T, 4, 16, seed=T)
            dy = np.random.default_rng(T).standard_normal((T, 16))
            calls.append(lambda d=d, dy=dy: VJPS[key](d["x"], d["a"], d["B"], d["C"], dy,
                                                      initial_state=d["initial_state"], **kwargs))
        calls[0]()                                               # warm-up
        out[key] = best_times(calls, ROUNDS)
    return out


def decide_backward_T(times) -> dict:
    """Pass iff every key's T-dependent backward time grows linearly (slope in SLOPE_LINEAR)."""
    Ts = times["sizes"]
    cases = [case_marginal_slope(Ts[1:], times[k][1:], Ts[0], times[k][0], SLOPE_LINEAR,
                                 f"{k} backward") for k in KEYS]
    s = [c["measured"] for c in cases]
    worst = max(abs(x - 1) for x in s)
    parts = ", ".join(f"{k.split('.', 1)[1]} T^{x:.2f}" for k, x in zip(KEYS, s))
    return summarize(cases, worst, 0.2, summary=f"over T = {Ts[0]}..{Ts[-1]} (N = 4, P = 16), "
                     f"the T-dependent time of the backward grows as: {parts} (expected in "
                     f"{list(SLOPE_LINEAR)}); at T = {Ts[-1]}: " + ", ".join(
                         f"{times[k][-1] * 1e3:.0f} ms" for k in KEYS),
                     extra="all slopes in the band")


def gradient_cases() -> list:
    """Each timed VJP is first the gradient: :func:`ssd_edu.testing.check_vjp` (central finite
    differences, float64) at random, zero and negative decays, T = 5 (not a multiple of the
    chunk), odd N and P, broadcast leading axes. A timing of a wrong gradient proves nothing."""
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
       "chunked forms is the gradient (finite differences) and grows linearly in T, like the "
       "forward: SSD trains in O(T N P).", "Sec. 4.3 (claim (ii)); THEORY 3.5", timed=True)
def _backward_T(full):
    grads = gradient_cases()
    out = decide_with_retry(lambda fresh: run_isolated(
        "ssd_edu.theorems.backward_cost.backward_timings", bool(full)), decide_backward_T)
    bad = [c for c in grads if not c["passed"]]
    worst = max((c["measured"] for c in grads if c["passed"]), default=float("nan"))
    out["summary"] = (f"{len(grads) - len(bad)} of {len(grads)} gradient checks of the {len(KEYS)} "
                      f"VJPs match finite differences at random, zero and negative decays "
                      f"(worst passing error {worst:.1e}); " + out["summary"])
    if bad:
        out["passed"] = False
        out["detail"] = "; ".join(c["detail"] for c in bad[:4]) + "; " + out["detail"]
    out["data"]["gradients"] = [c["detail"] for c in grads]
    return out
