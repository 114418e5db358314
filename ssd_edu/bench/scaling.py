"""``bench --scaling``: min and median ms against T of the NumPy forms and VJPs whose flops
``verify`` counts, and the log-log slope k of ``time ~ T^k`` (this machine, not a verdict).
"""
from __future__ import annotations

import numpy as np

from ..registry import VJPS
from .. import reference as ref
from ..testing import make_inputs
from .timing import loglog_slope, min_median

SCALING_T = (128, 256, 512, 1024)
#: name -> (family, call(d, dy, Q)) at the inputs d of ``make_inputs`` and output gradient dy.
CALLS = {
    "diagonal_scan": ("diagonal", lambda d, dy, Q: ref.diagonal_scan(**d)),
    "algorithm1": ("diagonal", lambda d, dy, Q: ref.diagonal_algorithm1(**d)),
    "diagonal_attention": ("diagonal", lambda d, dy, Q: ref.diagonal_attention(**d)),
    "scalar_chunked": ("scalar", lambda d, dy, Q: ref.scalar_chunked(**d, chunk_size=Q)),
    "diagonal_chunked": ("diagonal", lambda d, dy, Q: ref.diagonal_chunked(**d, chunk_size=Q)),
    "diagonal_scan_vjp": ("diagonal", lambda d, dy, Q: VJPS["numpy.diagonal.scan"](**d, dy=dy)),
    "diagonal_chunked_vjp": ("diagonal", lambda d, dy, Q: VJPS["numpy.diagonal.chunked"](
        **d, dy=dy, chunk_size=Q)),
}


def scaling(Ts=SCALING_T, N: int = 4, P: int = 16, chunk_size: int = 64, repeats: int = 5,
            names=tuple(CALLS), progress=None, **ignored) -> dict:
    """{"T": Ts, name: {"min_s": [...], "median_s": [...], "slope_min": k, "slope_median": k}}:
    seconds per call (wall clock, after one untimed call) over ``repeats`` calls at each T.
    The bench's other options (``batch``, ``dtypes``, ...) are ignored."""
    out = {"T": list(Ts), "N": N, "P": P, "chunk_size": chunk_size, "repeats": repeats}
    progress = progress or (lambda line: None)
    for name in names:
        family, call = CALLS[name]
        times = []                                             # (min, median) per T
        for T in Ts:
            d = make_inputs(family, T, N, P, seed=T)
            dy = np.random.default_rng(T).standard_normal((T, P))
            times.append(min_median(lambda: call(d, dy, chunk_size), repeats))
            progress(f"  {name} T = {T}: min {times[-1][0] * 1e3:.2f} ms, median "
                     f"{times[-1][1] * 1e3:.2f} ms")
        mins, medians = (list(v) for v in zip(*times))
        out[name] = dict(min_s=mins, median_s=medians, slope_min=loglog_slope(Ts, mins),
                         slope_median=loglog_slope(Ts, medians))
    return out


def format_scaling(result: dict) -> str:
    """Min / median ms per T for each form, and the fitted slopes of both."""
    head = f"{'form':<22}" + "".join(f"{T:>18}" for T in result["T"]) + "   T^k (min / median)"
    lines = [f"time against T (N = {result['N']}, P = {result['P']}, Q = "
             f"{result['chunk_size']}; min / median ms of {result['repeats']} calls): an "
             f"illustration of this machine, not a verdict (verify counts the operations)",
             head, "-" * len(head)]
    for name in [k for k in CALLS if k in result]:
        r = result[name]
        cells = "".join(f"{a * 1e3:>8.2f} /{b * 1e3:>8.2f}" for a, b in zip(r["min_s"],
                                                                          r["median_s"]))
        lines.append(f"{name:<22}{cells}   {r['slope_min']:.2f} / {r['slope_median']:.2f}")
    return "\n".join(lines)
