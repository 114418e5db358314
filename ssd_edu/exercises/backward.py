"""Exercise: write the backward of the scalar scan (grader, solution, plausible mistakes).

The student writes ``scalar_scan_backward(x, a, B, C, initial_state, dy, dh)`` for one sequence,
x, dy (T, P), a (T,), B, C (T, N), initial_state, dh (N, P), returning the gradient of
``<dy, y> + <dh, h_{T-1}>`` of the scalar scan as ``(dx, da, dB, dC, dinitial_state)``:

    G_{T-1} = C_{T-1} dy_{T-1}^T + dh,   G_{t-1} = a_t G_t + C_{t-1} dy_{t-1}^T
    dx_t = G_t^T B_t,  da_t = <G_t, h_{t-1}>,  dB_t = G_t x_t,  dC_t = h_t dy_t,  dh_{-1} = a_0 G_0

:func:`check_scalar_scan_backward` compares each gradient with central finite differences of the
forward (``ssd_edu.testing.finite_difference_grads``) and recognizes the usual mistakes.
To list it: ``Exercise("scalar_scan_backward", check_scalar_scan_backward,
scalar_scan_backward, "ex07_scalar_scan_backward.ipynb")`` in ``EXERCISES``.
"""
from __future__ import annotations

import numpy as np

from ..testing import GRADIENT_TOLERANCES, finite_difference_grads, make_inputs
from .grading import (Case, GradeResult, as_result_array, close, nonfinite_diagnosis,
                      run_cases, shape_diagnosis, worst_entry)

NAMES = ("dx", "da", "dB", "dC", "dinitial_state")
LAYOUTS = ("(T, P)", "(T,)", "(T, N)", "(T, N)", "(N, P)")


def scalar_scan_backward(x, a, B, C, initial_state, dy, dh, *, _mistake=None):
    """The solution: forward storing every state, then the reverse-time scan.

    ``_mistake`` (for the grader only) plants one of the plausible wrong answers of
    :data:`MISTAKES`.
    """
    T = x.shape[0]
    hs = [np.asarray(initial_state, dtype=float)]           # hs[t + 1] = h_t
    for t in range(T):
        # h_t = a_t h_{t-1} + B_t x_t^T
        hs.append(a[t] * hs[-1] + np.outer(B[t], x[t]))
    dx, dB, dC = np.zeros(x.shape), np.zeros(B.shape), np.zeros(C.shape)
    da = np.zeros((T, B.shape[1])) if _mistake == "da_per_mode" else np.zeros(T)
    g = np.zeros_like(dh) if _mistake == "no_dh" else np.array(dh, dtype=float)
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
    dh0 = G if (_mistake == "dh0_undecayed" and T) else g    # dh_{-1} = a_0 G_0
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
                   "every mode and channel, so da_t = sum over n and p of G_t o h_{t-1}",
}


def _judge(got, case):
    if got is None:
        return ("returned None: the function body is not written yet (or it forgot to "
                "return); return (dx, da, dB, dC, dinitial_state)")
    if not isinstance(got, (tuple, list)) or len(got) != 5:
        return "return the five gradients (dx, da, dB, dC, dinitial_state) as a tuple"
    arrays = []
    for name, layout, value, exp in zip(NAMES, LAYOUTS, got, case.expected):
        arr, msg = as_result_array(value, name)
        msg = msg or shape_diagnosis(arr, exp, name, layout)
        if msg:
            mode = case.info["variants"]["da_per_mode"][1]
            if name == "da" and arr is not None and arr.shape == mode.shape:
                return MISTAKES["da_per_mode"]
            return msg
        msg = nonfinite_diagnosis(arr, exp, name)
        if msg:
            return (msg + ". Did you divide by a decay or take a log (d log a)? At a zero "
                    "decay use the direct products: da_t = <G_t, h_{t-1}>")
        arrays.append(arr)
    ok = [close(arr, exp, case.info["tol"]) for arr, exp in zip(arrays, case.expected)]
    if all(ok):
        return None
    for mistake, variant in case.info["variants"].items():
        if mistake != "da_per_mode" and all(
                close(arr, v, case.info["tol"]) for arr, v in zip(arrays, variant)):
            return MISTAKES[mistake]
    wrong = ok.index(False)
    return worst_entry(arrays[wrong], case.expected[wrong], NAMES[wrong])


def _case(name: str, d: dict, seed: int) -> Case:
    x, a, B, C = d["x"], d["a"], d["B"], d["C"]
    h0 = d["initial_state"] if d["initial_state"] is not None else np.zeros((B.shape[1], x.shape[1]))
    rng = np.random.default_rng(seed)
    dy, dh = rng.standard_normal(x.shape), rng.standard_normal(h0.shape)
    fd = finite_difference_grads("scalar", {**d, "initial_state": h0}, dy, dh)
    expected = tuple(fd["d" + k] for k in ("x", "a", "B", "C", "initial_state"))
    variants = {m: scalar_scan_backward(x, a, B, C, h0, dy, dh, _mistake=m) for m in MISTAKES}
    return Case(name, (x, a, B, C, h0, dy, dh), expected, _judge,
                dict(variants=variants, tol=GRADIENT_TOLERANCES["finite_differences"]))


def check_scalar_scan_backward(fn) -> GradeResult:
    """Grade ``fn(x, a, B, C, initial_state, dy, dh) -> (dx, da, dB, dC, dinitial_state)``.

    One sequence: x, dy (T, P); a (T,); B, C (T, N); initial_state, dh (N, P). Expected values:
    central finite differences of the scalar recurrence. Cases: random, T = 1, zero decays,
    negative decays, decays near one, N = 1 and P = 1, a zero initial state.
    """
    cases = [
        _case("T = 6, N = 3, P = 2, random decays", make_inputs("scalar", 6, 3, 2, seed=20), 1),
        _case("T = 1", make_inputs("scalar", 1, 2, 3, seed=21), 2),
        _case("zero decays (a = 0 cuts the sequence)",
              make_inputs("scalar", 7, 3, 2, regime="zero", seed=22), 3),
        _case("negative decays", make_inputs("scalar", 6, 2, 3, regime="negative", seed=23), 4),
        _case("decays near one", make_inputs("scalar", 5, 3, 1, regime="near_one", seed=24), 5),
        _case("N = 1, P = 1", make_inputs("scalar", 8, 1, 1, seed=25), 6),
        _case("a zero initial state",
              make_inputs("scalar", 5, 2, 2, seed=26, initial_state=False), 7),
    ]
    return run_cases("scalar_scan_backward", fn, cases,
                     ("x", "a", "B", "C", "initial_state", "dy", "dh"))
