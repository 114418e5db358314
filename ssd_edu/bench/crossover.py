"""``bench --sweep ... --sweep-N ...``: which form is fastest where, over T and N.

Scan costs O(T N P), attention O(T^2 (N + P)), chunked O(T Q (N + P) + T N P): every form is
timed round-robin at every (T, N) to find where attention stops winning.
"""
from __future__ import annotations

import itertools
import time
from functools import partial

import numpy as np

from ..registry import FAMILIES, FORMS, IMPLEMENTATIONS
from ..testing import make_inputs
from .run import DEFAULTS, SWEEP_T, _reference_plan, selected
from .timing import best_times, timed

SWEEP_N = (16, 64)
MAX_ROUNDS = 200


def crossover(Ts=SWEEP_T, Ns=SWEEP_N, P: int = DEFAULTS["P"], batch: int = DEFAULTS["batch"],
              dtypes=("float64",), backends=("numba",), families=FAMILIES, forms=FORMS,
              repeats: int = DEFAULTS["repeats"], chunk_size: int = DEFAULTS["chunk_size"],
              seed: int = 0, progress=None, clock=time.perf_counter,
              min_seconds: float = 1.0,
              reference_cap: float = DEFAULTS["reference_cap"], **ignored) -> list[dict]:
    """Every selected form of each host backend at every (T, N), timed round-robin: one row per
    form, min_s the best ``clock`` seconds of ``repeats`` calls (more for short calls:
    ``min_seconds`` per form) after a warm-up; a NumPy attention not run gets a "skipped" row."""
    from .. import cpu  # noqa: F401  (numba rows need it; the thread count is recorded)
    import numba
    more = dict(clock="cpu" if clock is time.process_time else "wall",
                threads=numba.get_num_threads())
    progress = progress or (lambda row: None)
    rows = []
    for N in Ns:
        progress({"sweep_N": N})
        for T in Ts:
            progress({"sweep_T": T})
            for dtype, family in itertools.product(dtypes, families):
                data = make_inputs(family, T, N, P, (batch,), dtype=dtype, seed=seed)
                for backend in [b for b in backends if b in ("numpy", "numba")]:
                    base = dict(backend=backend, family=family, dtype=str(np.dtype(dtype)), T=T,
                                N=N, P=P, batch=batch, chunk_size=chunk_size)
                    race = {}
                    for name in selected([backend], [family], forms, IMPLEMENTATIONS):
                        fn, form = IMPLEMENTATIONS[name], name.split(".")[2]
                        call = partial(fn, **data, **(
                            {"chunk_size": chunk_size} if form == "chunked" else {}))
                        try:
                            reason = backend == "numpy" and _reference_plan(
                                fn, form, family, T, N, P, batch, np.dtype(dtype),
                                reference_cap, seed)
                            if not reason:
                                call()                               # compiles / loads
                                race[name] = call
                        except Exception as exc:  # reported; the other forms still race
                            reason = f"{type(exc).__name__}: {exc}"
                        if reason:
                            rows.append(dict(base, name=name, form=form, status="skipped",
                                             reason=reason))
                            progress(rows[-1])
                    if not race:
                        continue
                    round_s = sum(timed(call) for call in race.values())
                    rounds = max(repeats, min(MAX_ROUNDS, int(min_seconds / round_s)))
                    best = best_times(list(race.values()), rounds, clock=clock)
                    for name, seconds in zip(race, best):
                        rows.append(dict(base, name=name, form=name.split(".")[2],
                                         min_s=seconds, **more))
                        progress(rows[-1])
    return rows


def winners(rows: list[dict]) -> dict:
    """{(backend, family, dtype, T, N): (fastest form, its min seconds)} over the timed rows."""
    best = {}
    for r in (r for r in rows if "min_s" in r):
        key = (r["backend"], r["family"], r["dtype"], r["T"], r["N"])
        if key not in best or r["min_s"] < best[key][1]:
            best[key] = (r["form"], r["min_s"])
    return best


def format_crossover(rows: list[dict]) -> str:
    """One table per (backend, family, dtype): rows T, columns N, the fastest form (and ms)."""
    best, lines = winners(rows), []
    name_w = max(len(form) for form in FORMS)        # a cell is "form ms"
    cell_w = 2 + name_w + 1 + 9
    for key in sorted({k[:3] for k in best}):
        Ns = sorted({k[4] for k in best if k[:3] == key})
        lines.append(f"fastest {key[0]} {key[1]} form, {key[2]} (min ms per call)")
        head = f"{'T':>6}" + "".join(f"{'N = ' + str(N):>{cell_w}}" for N in Ns)
        lines += [head, "-" * len(head)]
        for T in sorted({k[3] for k in best if k[:3] == key}):
            got = [best.get((*key, T, N)) for N in Ns]
            lines.append(f"{T:>6}" + "".join(f"{'-':>{cell_w}}" if g is None else
                                             f"  {g[0]:>{name_w}} {g[1] * 1e3:>9.2f}" for g in got))
        lines.append("")
    return "\n".join(lines + [f"not timed (not in the race at T = {r['T']}, N = {r['N']}): "
                              f"{r['name']} {r['dtype']}: {r['reason']}"
                              for r in rows if r.get("status") == "skipped"])


def plot_crossover(rows: list[dict], path: str, backend: str = "numba") -> str:
    """:func:`draw_crossover` saved to ``path`` (PNG); returns ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = draw_crossover(rows, backend)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def draw_crossover(rows: list[dict], backend: str = "numba"):
    """Time per call against T (log-log), one panel per (family, N), for ``backend`` and the
    first dtype in ``rows``; the fastest form at each T is ringed. Returns the figure."""
    import matplotlib.pyplot as plt

    timed_rows = [r for r in rows if r["backend"] == backend and "min_s" in r]
    if not timed_rows:
        raise ValueError(f"no timed {backend} rows to plot")
    dtype = timed_rows[0]["dtype"]
    timed_rows = [r for r in timed_rows if r["dtype"] == dtype]
    families = list(dict.fromkeys(r["family"] for r in timed_rows))
    Ns = sorted({r["N"] for r in timed_rows})
    best = winners(timed_rows)
    r0 = timed_rows[0]
    fig, axes = plt.subplots(len(families), len(Ns), figsize=(4.2 * len(Ns), 3.2 * len(families)),
                             squeeze=False, sharex=True)
    colors = {"scan": "tab:blue", "attention": "tab:orange", "chunked": "tab:green"}
    for i, family in enumerate(families):
        for j, N in enumerate(Ns):
            ax = axes[i][j]
            for form in colors:
                pts = sorted((r["T"], r["min_s"]) for r in timed_rows
                             if r["family"] == family and r["N"] == N and r["form"] == form)
                if not pts:
                    continue
                ax.loglog([p[0] for p in pts], [1e3 * p[1] for p in pts], "o-", ms=3,
                          color=colors[form], label=form)
                wins = [p for p in pts if best[(backend, family, dtype, p[0], N)][0] == form]
                ax.loglog([p[0] for p in wins], [1e3 * p[1] for p in wins], "o", ms=9,
                          mfc="none", color=colors[form])
            ax.set_title(f"{backend} {family}, N = {N}, P = {r0['P']}, {dtype}", fontsize=9)
            ax.set(xlabel="T", ylabel="ms per call (min)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle(f"where each form is fastest ({r0['batch']} sequences, Q = "
                 f"{r0.get('chunk_size') or 64}, {r0.get('threads', '?')} thread(s), "
                 f"{r0.get('clock', 'wall')} time; ringed: fastest; one run on this machine)",
                 fontsize=9)
    fig.tight_layout()
    return fig
