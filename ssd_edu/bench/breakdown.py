"""``bench --breakdown``: where the time of a Numba chunked call goes, step by step.

Each step kernel of ``ssd_edu.cpu.chunked.step_calls`` timed alone (min and median after a
warm-up), next to ``check_ssm`` and the whole call; the rest is the difference.
"""
from __future__ import annotations

import numpy as np

from ..registry import FAMILIES, IMPLEMENTATIONS
from ..testing import make_inputs
from ..validation import check_ssm
from .run import DEFAULTS, flop_count
from .timing import min_median

STEPS = ("1 intra_chunk", "2 chunk_states", "3 state_passing", "4 chunk_output")


def run_breakdown(T: int = DEFAULTS["T"], N: int = DEFAULTS["N"], P: int = DEFAULTS["P"],
                  batch: int = DEFAULTS["batch"], dtypes=("float64", "float32"),
                  families=FAMILIES, chunk_size: int = DEFAULTS["chunk_size"],
                  repeats: int = DEFAULTS["repeats"], seed: int = 0, **ignored) -> list[dict]:
    """One row per (family, dtype, part): part is a step, "checks" or "whole call"; min_s,
    median_s and ``share`` (min of the part over min of the whole call). The bench's other
    options (``backends``, ``forms``, ...) are ignored."""
    from ..cpu import chunked
    rows = []
    for dtype in dtypes:
        for family in families:
            data = make_inputs(family, T, N, P, (batch,), dtype=dtype, seed=seed)
            fn = IMPLEMENTATIONS[f"numba.{family}.chunked"]
            whole = min_median(lambda: fn(**data, chunk_size=chunk_size), repeats)
            calls = chunked.step_calls(family, **data, chunk_size=chunk_size)
            parts = [(name, min_median(calls[name.split()[1]], repeats)) for name in STEPS]
            parts.append(("checks", min_median(lambda: check_ssm(family, **data), repeats)))
            for name, (lo, med) in parts + [("whole call", whole)]:
                rows.append(dict(family=family, dtype=str(np.dtype(dtype)), T=T, N=N, P=P,
                                 batch=batch, chunk_size=chunk_size, part=name, min_s=lo,
                                 median_s=med, share=lo / whole[0]))
            rows[-1]["flops"] = flop_count("chunked", T, N, P, chunk_size) * batch
    return rows


def format_breakdown(rows: list[dict]) -> str:
    """One block per (family, dtype): min and median ms of each part and its share."""
    lines = [f"chunked breakdown: {r['batch']} sequences, T = {r['T']}, N = {r['N']}, "
             f"P = {r['P']}, Q = {r['chunk_size']}; each part timed alone" for r in rows[:1]]
    for family, dtype in dict.fromkeys((r["family"], r["dtype"]) for r in rows):
        block = [r for r in rows if r["family"] == family and r["dtype"] == dtype]
        lines.append(f"numba.{family}.chunked {dtype}")
        head = f"  {'part':<18}{'min ms':>10}{'median ms':>11}{'of call':>9}"
        lines += [head, "  " + "-" * (len(head) - 2)] + [
            f"  {r['part']:<18}{r['min_s'] * 1e3:>10.2f}{r['median_s'] * 1e3:>11.2f}"
            f"{100 * r['share']:>8.0f}%" for r in block]
        rest = block[-1]["min_s"] - sum(r["min_s"] for r in block[:-1])
        if rest >= 0:
            lines.append(f"  {'(rest)':<18}{rest * 1e3:>10.2f}{'':>11}"
                         f"{100 * rest / block[-1]['min_s']:>8.0f}%")
        else:                        # parts alone slower than the call: not a time to print
            lines.append(f"  {'(rest)':<18}{'-':>10}  the parts timed alone took "
                         f"{-rest * 1e3:.2f} ms more than the whole call (a busy machine?)")
    return "\n".join(lines)
