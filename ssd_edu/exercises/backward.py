"""Exercise 13: the backward of the scalar scan (grader, solution, plausible mistakes).

For one sequence, x, dy (T, P), a (T,), B, C (T, N), initial_state, dh (N, P), the gradient of
``<dy, y> + <dh, h_{T-1}>`` as ``(dx, da, dB, dC, dinitial_state)``:

    G_{T-1} = C_{T-1} dy_{T-1}^T + dh,   G_{t-1} = a_t G_t + C_{t-1} dy_{t-1}^T
    dx_t = G_t^T B_t,  da_t = <G_t, h_{t-1}>,  dB_t = G_t x_t,  dC_t = h_t dy_t,  dh_{-1} = a_0 G_0

The grader compares with complex-step finite differences (exact to rounding).
"""
from __future__ import annotations

import numpy as np

from ..testing import finite_difference_grads, make_inputs
from .answers import TupleAnswer
from .grading import Case, grader

NAMES = ("dx", "da", "dB", "dC", "dinitial_state")
LAYOUTS = ("(T, P)", "(T,)", "(T, N)", "(T, N)", "(N, P)")
#: the package's backward of the scan: what the attempt may not call
FORBIDDEN = ("ssd_edu.reference.backward._scan_grads", "ssd_edu.cpu.scan_backward._scan_vjp")


def scalar_scan_backward(x, a, B, C, initial_state, dy, dh, *, _mistake=None):
    """The solution: forward storing every state, then the reverse-time scan. ``_mistake``
    (for the grader) plants one of the wrong answers of :data:`MISTAKES`."""
    T = x.shape[0]
    hs = [np.asarray(initial_state, dtype=float)]           # hs[t + 1] = h_t
    for t in range(T):
        # h_t = a_t h_{t-1} + B_t x_t^T
        hs.append(a[t] * hs[-1] + np.outer(B[t], x[t]))
    dx, dB, dC = np.zeros(x.shape), np.zeros(B.shape), np.zeros(C.shape)
    da = np.zeros((T, B.shape[1])) if _mistake == "da_per_mode" else np.zeros(T)
    g = np.zeros_like(dh) if _mistake == "no_dh" else np.array(dh, dtype=float)
    G = g
    for t in reversed(range(T)):
        # G_t = a_{t+1} G_{t+1} + C_t dy_t^T   (g = a_{t+1} G_{t+1}; dh at t = T-1)
        G = g + np.outer(C[t], dy[t])
        dx[t] = G.T @ B[t]                                   # dx_t = G_t^T B_t
        dB[t] = G @ x[t]                                     # dB_t = G_t x_t
        h_out = hs[t] if _mistake == "dC_old_state" else hs[t + 1]
        dC[t] = h_out @ dy[t]                                # dC_t = h_t dy_t
        h_in = hs[t + 1] if _mistake == "da_new_state" else hs[t]
        # da_t = <G_t, h_{t-1}>
        da[t] = (G * h_in).sum(axis=-1) if _mistake == "da_per_mode" else np.sum(G * h_in)
        a_back = a[t - 1] if (_mistake == "decay_index" and t > 0) else a[t]
        g = a_back * G                                       # a_t G_t
    dh0 = G if _mistake == "dh0_undecayed" else g            # dh_{-1} = a_0 G_0
    return dx, da, dB, dC, dh0


#: mistake -> diagnosis shown when the attempt matches it.
MISTAKES = {
    "no_dh": "the gradient of the final state is missing: start the reverse scan from "
             "G_{T-1} = C_{T-1} dy_{T-1}^T + dh, not from C_{T-1} dy_{T-1}^T alone",
    "decay_index": "off by one step in the decay: G_{t-1} = a_t G_t + C_{t-1} dy_{t-1}^T uses "
                   "the decay a_t of the later step (h_t = a_t h_{t-1} + ...), not a_{t-1}",
    "dC_old_state": "dC_t uses the state before the update: y_t = h_t^T C_t reads h_t, so "
                    "dC_t = h_t dy_t",
    "da_new_state": "da_t uses h_t: the decay a_t multiplies h_{t-1}, so da_t = <G_t, h_{t-1}>",
    "dh0_undecayed": "dinitial_state is G_0: h_0 = a_0 h_{-1} + ..., so dh_{-1} = a_0 G_0",
    "da_per_mode": "da has one value per mode: in the scalar family one decay a_t is shared by "
                   "every mode and channel, so da_t = sum over n and p of G_t o h_{t-1}"}
_DIVISION_HINT = (". Did you divide by a decay or take a log (d log a)? At a zero decay use "
                  "the direct products: da_t = <G_t, h_{t-1}>")


GRADS_ANSWER = TupleAnswer(
    tuple(zip(NAMES, LAYOUTS)), _DIVISION_HINT, lambda dx, da, dB, dC, dh0, case: (
        MISTAKES["da_per_mode"] if da.shape == (*case.expected[1].shape, dB.shape[-1]) else None),
    "the five gradients")


def backward_cases() -> list:
    def case(name, category, *sizes, seed, scaled=False, **kw):
        d = make_inputs("scalar", *sizes, seed=seed, **kw)
        if scaled:
            d = {**d, "x": 1e3 * d["x"], "B": 1e-2 * d["B"]}
        x, a, B, C, h0 = (d[k] for k in ("x", "a", "B", "C", "initial_state"))
        h0 = np.zeros((B.shape[1], x.shape[1])) if h0 is None else h0
        rng = np.random.default_rng(seed - 19)
        dy, dh = rng.standard_normal(x.shape), rng.standard_normal(h0.shape)
        fd = finite_difference_grads("scalar", {**d, "initial_state": h0}, dy, dh, method="complex")
        expected = tuple(fd[k] for k in NAMES)
        variants = [(m, MISTAKES[m], scalar_scan_backward(x, a, B, C, h0, dy, dh, _mistake=m))
                    for m in MISTAKES if m != "da_per_mode"]
        return Case(name, (x, a, B, C, h0, dy, dh), expected, GRADS_ANSWER, category, variants)
    return [
        case("T = 6, N = 3, P = 2, random decays", "basic", 6, 3, 2, seed=20),
        case("T = 1", "edge", 1, 2, 3, seed=21),
        case("zero decays (a = 0 cuts the sequence)", "zero decays", 7, 3, 2, regime="zero",
             seed=22),
        case("negative decays", "extreme", 6, 2, 3, regime="negative", seed=23),
        case("decays near one", "extreme", 5, 3, 1, regime="near_one", seed=24),
        case("N = 1, P = 1", "edge", 8, 1, 1, seed=25),
        case("a zero initial state", "edge", 5, 2, 2, seed=26, initial_state=False),
        case("tiny decays (1e-300) and strong ones", "extreme", 6, 2, 2, regime="strong", seed=27),
        case("scaled inputs: x times 1e3, B times 1e-2", "scaled", 6, 3, 2, seed=28, scaled=True)]


check_scalar_scan_backward = grader(
    "scalar_scan_backward", backward_cases, ("x", "a", "B", "C", "initial_state", "dy", "dh"),
    "fn(x, a, B, C, initial_state, dy, dh) -> (dx, da, dB, dC, dinitial_state)", FORBIDDEN,
    "complex-step finite differences of the forward scan (exact to rounding; every gradient "
    "within the package's float64 tolerance `ssd_edu.testing.TOLERANCES`)")
