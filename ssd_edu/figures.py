"""Every figure in figures/ (``python -m ssd_edu figures [--out DIR]``): each ``plot_*`` draws one
with fixed seeds and returns the Figure (the tutorials call the same functions); :data:`FIGURES`
maps file names to them and :func:`generate` writes them. Timing figures vary between runs.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

from . import reference as ref
from .bench.timing import best_time, loglog_slope
from .testing import make_inputs
from .training import HIDDEN_DECAYS, fit

DPI = 80


def draw_matrix(ax, M, title: str, *, lower_only: bool = True, cmap: str = "RdBu_r",
                symmetric: bool = True, colorbar: bool = True):
    """Heatmap of a (T, T) matrix on ``ax`` (row t, column s); the upper triangle blank when
    ``lower_only``, colour limits symmetric about 0 when ``symmetric``."""
    M = np.real(np.asarray(M, dtype=complex if np.iscomplexobj(M) else float))
    shown = np.ma.masked_where(np.triu(np.ones(M.shape, dtype=bool), 1), M) if lower_only else M
    vmax = float(np.max(np.abs(M))) or 1.0
    kw = dict(vmin=-vmax, vmax=vmax) if symmetric else {}
    im = ax.imshow(shown, cmap=cmap, interpolation="nearest", **kw)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("s (key / input time)", fontsize=8)
    ax.set_ylabel("t (query / output time)", fontsize=8)
    ax.tick_params(labelsize=7)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
    return im


def _finish(ax, xlabel: str, ylabel: str, title: str, legend: int | None = None):
    """Label ``ax``, add its legend (font size ``legend``), lay out its figure; return it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=legend)
    ax.figure.tight_layout()
    return ax.figure


def _side_note(fig, text: str):
    """The picture on the left, ``text`` on the right."""
    fig.subplots_adjust(left=0.02, right=0.62)
    fig.text(0.64, 0.5, text, fontsize=8, va="center")
    return fig


# Kernels as pictures


def plot_scalar_ssd(T: int = 12, N: int = 2, seed: int = 0):
    """Scalar SSD in three panels: the 1-SS mask L, the scores C B^T, and M = L o C B^T."""
    a, B, C = map(make_inputs("scalar", T, N, 1, seed=seed).get, "aBC")
    a[T // 2] = 0.0  # one zero decay: the mask splits into two blocks
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    draw_matrix(axes[0], ref.one_ss_mask(a),
                f"1-SS mask L = 1SS(a)\n(a zero decay at t = {T // 2})",
                cmap="viridis", symmetric=False)
    draw_matrix(axes[1], C @ B.T, f"scores C B^T (width N = {N})", lower_only=False)
    draw_matrix(axes[2], ref.scalar_kernel(a, B, C), "kernel M = L o (C B^T), y = M x")
    fig.suptitle("Scalar SSD: the recurrence is a 1-SS masked attention", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def plot_diagonal_heads(T: int = 12, N: int = 3, seed: int = 1):
    """A diagonal SSM as the sum of its N heads 1SS(a[:, n]) o (C[:, n] B[:, n]^T)."""
    a, B, C = map(make_inputs("diagonal", T, N, 1, seed=seed).get, "aBC")
    a[:, 0] = np.linspace(0.95, 0.99, T)  # a slow mode
    a[:, -1] = np.linspace(0.2, 0.4, T)   # a fast mode
    heads = ref.diagonal_heads(a, B, C)   # (N, T, T)
    fig, axes = plt.subplots(1, N + 1, figsize=(3.2 * (N + 1), 3.6))
    for n in range(N):
        draw_matrix(axes[n], heads[n], f"head {n}: decays ~{np.mean(a[1:, n]):.2f}",
                    colorbar=False)
    draw_matrix(axes[N], ref.diagonal_kernel(a, B, C), f"M = sum of the {N} heads")
    fig.suptitle("Diagonal SSD: N one-semiseparable masked attentions of width 1, added",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def plot_chunked_blocks(T: int = 16, Q: int = 4, N: int = 2, seed: int = 2):
    """The chunked algorithm on M: Q x Q diagonal blocks (step 1), low-rank blocks (steps 2-4)."""
    d = make_inputs("scalar", T, N, 1, seed=seed)
    M = ref.scalar_kernel(d["a"], d["B"], d["C"])
    fig, ax = plt.subplots(figsize=(7.6, 4.6))
    draw_matrix(ax, M, f"M cut into chunks of Q = {Q} (T = {T}, N = {N})", colorbar=False)
    J = -(-T // Q)
    for j in range(J):
        for k in range(j + 1):
            edge, label = ("tab:orange", "1") if j == k else ("tab:green", "2-4")
            ax.add_patch(Rectangle((k * Q - 0.5, j * Q - 0.5), Q, Q, fill=False, lw=2,
                                   edgecolor=edge))
            ax.text(k * Q + Q / 2 - 0.5, j * Q + Q / 2 - 0.5, label, ha="center", va="center",
                    fontsize=9, color=edge, fontweight="bold")
    return _side_note(fig, "orange, step 1: intra-chunk attention,\none Q x Q masked matmul "
                      "per chunk\n\ngreen, steps 2-4: blocks of rank <= N,\n"
                      "M[t, s] = (C_t delta_t)(abar ...)(gamma_s B_s)\n"
                      "2. chunk states S_c (B scaled by gamma)\n"
                      "3. state passing H_c = abar_c H_{c-1} + S_c\n"
                      "4. state to output (C scaled by delta)")


def plot_split_blocks(M=None, N: int = 2, seed: int = 5):
    """Finest split blocks (Lemma 4.1) and new columns (Def. 4.2) drawn on M; a block with more
    than N new columns in red. Default M: three planted blocks, the last Remark 4.1's example."""
    from . import structure
    if M is None:
        rng = np.random.default_rng(seed)
        a = rng.uniform(0.8, 1.0, 14)
        a[[6, 10]] = 0.0
        M = ref.one_ss_mask(a) * (rng.standard_normal((14, N)) @ rng.standard_normal((14, N)).T)
        M[10:, 10:] = [[2, 0, 0, 0], [1, 2, 0, 0], [0, 1, 2, 0], [0, 0, 1, 2]]
    M = np.asarray(M, float)
    verdict = structure.has_one_ss_dual(M, N)
    fig, ax = plt.subplots(figsize=(7.8, 4.8))
    draw_matrix(ax, M, f"split blocks and new columns (N = {N})", colorbar=False)
    for (start, stop), k in zip(verdict.blocks, verdict.nu):
        edge = "tab:red" if k > N else "tab:green"
        ax.add_patch(Rectangle((start - 0.5, start - 0.5), stop - start, stop - start,
                               fill=False, lw=2.5, edgecolor=edge))
        cols = [start + c for c in structure.new_columns(M[start:stop, start:stop])]
        ax.plot(cols, cols, "o", ms=7, mfc="none", mec="k", mew=1.5)
        ax.text(stop - 0.2, start - 0.3, f"nu = {k}", color=edge, fontsize=9, va="top",
                ha="left", fontweight="bold")
    return _side_note(fig, "rectangles: the finest blocks,\ncut where M[t:, :t] = 0 (Lemma 4.1)"
                      "\n\ncircles: new columns of each block,\nM[t:, t] not in span M[t:, :t]"
                      f"\n\ngreen: nu <= N = {N}; red: nu > N\n\nTheorem 4.1: a width-{N} 1-SS "
                      f"dual exists\niff every block is green: here "
                      f"{'yes' if verdict.ok else 'no'}")


# Rank: SSM vs softmax


def plot_ssrank(Ts=(8, 16, 32, 64, 128, 256), N: int = 4, ds=(1, 4, 16), seed: int = 0):
    """Semiseparable rank against T: flat at N for a diagonal SSM, growing for causal softmax
    (:func:`ssd_edu.softmax.ssrank_curve` per head dim d)."""
    from . import softmax, structure
    Ts = list(Ts)
    rng = np.random.default_rng(seed)
    ssm = [structure.ss_rank(ref.diagonal_kernel(rng.uniform(0.9, 1.0, (T, N)),
                                                 rng.standard_normal((T, N)),
                                                 rng.standard_normal((T, N)))) for T in Ts]
    fig, ax = plt.subplots(figsize=(5.8, 4.2))
    for d, marker in zip(ds, "os^"):
        ax.plot(Ts, softmax.ssrank_curve(Ts, d, seed=seed), marker=marker,
                label=f"causal softmax, head dim d = {d}")
    ax.plot(Ts, ssm, "k-", marker="D", label=f"diagonal SSM, state N = {N}")
    ax.plot(Ts, [int(np.ceil(T / 2)) for T in Ts], "k:", lw=1, label="ceil(T/2)")
    ax.plot(Ts, Ts, color="0.6", ls="--", lw=1, label="ordinary rank (= T for all)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xticks(Ts, [str(T) for T in Ts])
    ticks = [2 ** k for k in range(1, int(np.log2(max(Ts))) + 1)]
    ax.set_yticks(ticks, [str(v) for v in ticks])
    ax.minorticks_off()
    return _finish(ax, "sequence length T", "semiseparable rank (numerical)",
                   "State size needed: flat for an SSM, ~T/2 for softmax", legend=7)


# Cost


def measure_cost(Ts=(128, 256, 512, 1024), N: int = 4, P: int = 16, chunk_size: int = 64,
                 repeats: int = 3, seed: int = 0) -> dict:
    """Best-of-``repeats`` seconds of the scalar reference forms at each T: {"T", "scan",
    "attention", "chunked", "slopes"} (log-log slopes, about 1, 2, 1)."""
    Ts = np.asarray(Ts)
    inputs = [make_inputs("scalar", int(T), N, P, seed=seed, initial_state=False) for T in Ts]
    out = {"T": Ts, "slopes": {}}
    for form in ("scan", "attention", "chunked"):
        fn = getattr(ref, f"scalar_{form}")
        kw = {"chunk_size": chunk_size} if form == "chunked" else {}
        out[form] = np.array([best_time(lambda: fn(**d, **kw), repeats) for d in inputs])
        out["slopes"][form] = loglog_slope(Ts, out[form])
    return out


def plot_cost(Ts=(128, 256, 512, 1024, 2048), N: int = 4, P: int = 16, repeats: int = 3):
    """Log-log time of the scan, attention and chunked reference forms against T."""
    cost = measure_cost(Ts, N, P, repeats=repeats)
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    for form, marker in (("scan", "o"), ("attention", "s"), ("chunked", "^")):
        ax.loglog(cost["T"], cost[form], marker=marker,
                  label=f"{form} (slope {cost['slopes'][form]:.2f})")
    T0, t0 = cost["T"][0], cost["attention"][0]
    ax.loglog(cost["T"], t0 * (cost["T"] / T0) ** 2, "k:", lw=1, label="T^2 guide")
    ax.loglog(cost["T"], cost["chunked"][0] * (cost["T"] / T0), "k--", lw=1, label="T guide")
    ax.set_xticks(cost["T"], [str(int(T)) for T in cost["T"]])
    ax.minorticks_off()
    return _finish(ax, "sequence length T", f"seconds (best of {repeats})",
                   f"NumPy reference, scalar family, N = {N}, P = {P}", legend=8)


# Benchmark: reference vs CPU vs GPU


def gpu_for_benchmark() -> tuple:
    """``(True, device name)`` when a real CUDA GPU can be timed (not the simulator), else
    ``(False, why not)``."""
    from .bench import cuda_timing
    from .gpu import simulator_enabled
    if simulator_enabled():
        return False, "the numba CUDA simulator is active (its timings are not GPU timings)"
    timing, reason = cuda_timing()
    if timing is None:
        return False, (reason or "no CUDA device").split(". ")[0]
    from numba import cuda
    name = cuda.get_current_device().name
    return True, name.decode() if isinstance(name, bytes) else str(name)


def plot_benchmark(T: int = 256, N: int = 16, P: int = 16, batch: int = 2, repeats: int = 3,
                   dtype: str = "float64"):
    """Milliseconds per call of every form, NumPy vs Numba vs GPU (``bench.run_bench``); GPU bars
    only on a real GPU."""
    from .registry import FAMILIES, FORMS
    from .bench import run_bench
    use_gpu, gpu_note = gpu_for_benchmark()
    backends = ("numpy", "numba", "cuda") if use_gpu else ("numpy", "numba")
    rows = run_bench(T=T, N=N, P=P, batch=batch, dtypes=(dtype,), backends=backends,
                     repeats=repeats)
    times = {(r["backend"], r["family"], r["form"]): r.get("min_s") for r in rows}
    groups = [(family, form) for family in FAMILIES for form in FORMS]
    fig, ax = plt.subplots(figsize=(8.4, 4.4))
    width = 0.8 / len(backends)
    for i, (backend, label) in enumerate(zip(backends, ("NumPy reference", "Numba CPU",
                                                          "numba.cuda GPU"))):
        xs = [g + (i - (len(backends) - 1) / 2) * width for g in range(len(groups))]
        ys = [times.get((backend, f, m)) or np.nan for f, m in groups]
        ax.bar(xs, [1e3 * y for y in ys], width, label=label)
        if backend != "numpy":
            for x_, y_, (f, m) in zip(xs, ys, groups):
                base = times.get(("numpy", f, m))
                if base and np.isfinite(y_):
                    ax.text(x_, 1e3 * y_ * 1.1, f"{base / y_:.2g}x", ha="center", fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)), [f"{f}\n{m}" for f, m in groups], fontsize=8)
    ax.set_ylabel("ms per call (min, log scale)")
    ax.set_title(f"{batch} sequences, T = {T}, N = {N}, P = {P}, {dtype}; "
                 f"labels: speedup over NumPy", fontsize=9)
    ax.legend(fontsize=8)
    note = f"GPU: {gpu_note}" if use_gpu else f"GPU not shown: {gpu_note}"
    fig.text(0.01, 0.01, note, fontsize=7, color="0.3")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_crossover(Ts=(64, 128, 256, 512, 1024, 2048), Ns=(16, 64), batch: int = 4,
                   repeats: int = 3, min_seconds: float = 0.2):
    """Where each Numba form is fastest over T and N (``bench.crossover``), one thread, CPU time."""
    import numba

    from .bench.crossover import crossover, draw_crossover
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        rows = crossover(Ts, Ns, batch=batch, repeats=repeats, clock=time.process_time,
                         min_seconds=min_seconds)
    finally:
        numba.set_num_threads(threads)
    return draw_crossover(rows)


def plot_training(steps: int = 300, N: int = 4, seed: int = 0, results: dict | None = None):
    """Tutorial 09: loss curves of a diagonal and a scalar learner of state size N fitted by Adam
    (``training.fit``) to a hidden diagonal SSM. ``results`` ({family: fit result}) reuses fits."""
    results = results or {}
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for family, style in (("diagonal", "-"), ("scalar", "--")):
        run = results.get(family) or fit(family, steps=steps, N=N, seed=seed)
        losses = run["losses"]
        ax.semilogy(losses, style, label=f"{family} learner, N = {N} "
                                          f"(final {losses[-1]:.1e})")
    return _finish(ax, "Adam step", "mean squared error",
                   f"fitting a hidden diagonal SSM (decays {', '.join(map(str, HIDDEN_DECAYS))})")


# The registry and the command


#: file name in figures/ -> (function drawing it, one-line description)
FIGURES = {
    "scalar_ssd.png": (plot_scalar_ssd, "the 1-SS mask, the scores C B^T and the kernel M"),
    "diagonal_heads.png": (plot_diagonal_heads, "the N heads of a diagonal SSM and their sum"),
    "chunked_blocks.png": (plot_chunked_blocks, "the chunked algorithm's blocks of M"),
    "split_blocks.png": (plot_split_blocks, "a kernel's split blocks and new columns (Thm 4.1)"),
    "ssrank.png": (plot_ssrank, "semiseparable rank vs T: an SSM and causal softmax"),
    "cost.png": (plot_cost, "log-log time of the scan, attention and chunked forms"),
    "benchmark.png": (plot_benchmark, "NumPy reference vs Numba CPU vs GPU (GPU if present)"),
    "crossover.png": (plot_crossover, "where each Numba form is fastest over T and N"),
    "backward_training.png": (plot_training, "training a diagonal vs a scalar SSM of equal state "
                              "size with the VJP"),
}


def generate(out_dir="figures", only=None, progress=None) -> list:
    """Write the figures of :data:`FIGURES` (or ``only``) into ``out_dir`` with Agg at :data:`DPI`,
    no version metadata (figures without timings are reproducible). Returns the paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(FIGURES) if not only else list(only)
    unknown = sorted(set(names) - set(FIGURES))
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; known: {list(FIGURES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        start = time.perf_counter()
        fig = FIGURES[name][0]()
        path = out / name
        fig.savefig(path, dpi=DPI, metadata={"Software": None})
        plt.close(fig)
        written.append(path)
        if progress is not None:
            progress(path, time.perf_counter() - start)
    return written
