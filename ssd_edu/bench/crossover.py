"""``bench --sweep ... --sweep-N ...``: which form is fastest where, over T and N.

:func:`ssd_edu.bench.sweep` for each state size N; the crossover table names the fastest
form of each backend at every (T, N) (min seconds per call, same run), and
:func:`plot_crossover` draws the time per call against T, one panel per family and N, with
the winner marked (``--figure PATH``; the repository's copy is ``figures/crossover.png``).
Scan costs O(T N P), attention O(T^2 (N + P)), chunked O(T Q (N + P) + T N P): attention wins
at short T, the chunked form (matmuls) and the scan (no extra flops) beyond; where exactly is
a property of this machine and its load, which is what the sweep measures.
"""
from __future__ import annotations

from .run import SWEEP_T, sweep

SWEEP_N = (16, 64)


def crossover(Ts=SWEEP_T, Ns=SWEEP_N, progress=None, **kwargs) -> list[dict]:
    """:func:`ssd_edu.bench.sweep` over ``Ts`` for each N in ``Ns``; all rows, as run_bench."""
    rows = []
    for N in Ns:
        if progress is not None:
            progress({"sweep_N": N})
        rows += sweep(Ts, progress=progress, N=N, **kwargs)
    return rows


def winners(rows: list[dict]) -> dict:
    """{(backend, family, dtype, T, N): (fastest form, its min seconds)} over the timed rows."""
    best = {}
    for r in rows:
        if "min_s" not in r:
            continue
        key = (r["backend"], r["family"], r["dtype"], r["T"], r["N"])
        if key not in best or r["min_s"] < best[key][1]:
            best[key] = (r["form"], r["min_s"])
    return best


def format_crossover(rows: list[dict]) -> str:
    """One table per (backend, family, dtype): rows T, columns N, the fastest form (and ms)."""
    best = winners(rows)
    lines = []
    for backend, family, dtype in sorted({k[:3] for k in best}):
        Ns = sorted({k[4] for k in best if k[:3] == (backend, family, dtype)})
        Ts = sorted({k[3] for k in best if k[:3] == (backend, family, dtype)})
        lines.append(f"fastest {backend} {family} form, {dtype} (min ms per call)")
        head = f"{'T':>6}" + "".join(f"{'N = ' + str(N):>22}" for N in Ns)
        lines += [head, "-" * len(head)]
        for T in Ts:
            cells = []
            for N in Ns:
                got = best.get((backend, family, dtype, T, N))
                cells.append(f"{'-':>22}" if got is None else
                             f"{got[0]:>12} {got[1] * 1e3:>9.2f}")
            lines.append(f"{T:>6}" + "".join(cells))
        lines.append("")
    return "\n".join(lines)


def plot_crossover(rows: list[dict], path: str, backend: str = "numba") -> str:
    """Time per call against T (log-log), one panel per (family, N), for ``backend`` and the
    first dtype in ``rows``; the fastest form at each T is ringed. Returns ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed_rows = [r for r in rows if r["backend"] == backend and "min_s" in r]
    if not timed_rows:
        raise ValueError(f"no timed {backend} rows to plot")
    dtype = timed_rows[0]["dtype"]
    timed_rows = [r for r in timed_rows if r["dtype"] == dtype]
    families = list(dict.fromkeys(r["family"] for r in timed_rows))
    Ns = sorted({r["N"] for r in timed_rows})
    best = winners(timed_rows)
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
            r0 = timed_rows[0]
            ax.set_title(f"{backend} {family}, N = {N}, P = {r0['P']}, {dtype}", fontsize=9)
            ax.set_xlabel("T")
            ax.set_ylabel("ms per call (min)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    r0 = timed_rows[0]
    fig.suptitle(f"where each form is fastest ({r0['batch']} sequences; ringed: fastest; "
                 f"Q = {r0.get('chunk_size') or 64}; timings of one run on this machine)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
