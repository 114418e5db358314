"""The benchmark runs end to end at a tiny size; its tables and JSON are complete. No timings
are asserted."""
import json
import os
import sys

import pytest

import ssd_edu
from ssd_edu import FAMILIES, FORMS, bench
from ssd_edu.__main__ import main as cli_main

TINY = dict(T=16, N=3, P=2, batch=2, repeats=1, chunk_size=4)


@pytest.mark.slow          # float32 rows: a second compilation of every kernel
def test_run_bench_tiny_every_host_implementation():
    results = bench.run_bench(dtypes=("float64", "float32"), backends=("numpy", "numba"),
                              **TINY)
    names = {(r["name"], r["dtype"]) for r in results}
    host = [k for k in ssd_edu.IMPLEMENTATIONS if k.split(".")[0] in ("numpy", "numba")]
    assert len(names) == len(results) == 2 * len(host)
    for r in results:
        assert r["status"] == "ok", r
        assert r["min_s"] > 0 and r["median_s"] >= r["min_s"] and r["gflops"] > 0
        assert r["flops"] == bench.flop_count(r["form"], 16, 3, 2, 4) * 2
        assert r["matmul_flops"] > 0 and r["mem_bytes"] >= 0 and r["speedup"] > 0
        if r["backend"] == "numpy":
            assert r["speedup"] == 1.0 and r["mem"] == "traced"
    table = bench.format_table(results)
    assert "numba.diagonal.attention" in table and "matmul rate float32" in table


def test_flop_counts_agree_between_forms():
    T, N, P = 10, 3, 2
    # one chunk of q = T is the attention count plus one state-passing step
    assert bench.flop_count("chunked", T, N, P, 64) == (
        bench.flop_count("attention", T, N, P) + 2 * N * P)
    assert bench.flop_count("chunked", T, N, P, 1) == T * (2 * (N + P) + 6 * N * P)
    assert bench.flop_count("scan", T, N, P) == 5 * T * N * P
    with pytest.raises(ValueError, match="form"):
        bench.flop_count("kernel", T, N, P)


def test_reference_skipped_above_the_quadratic_limit(monkeypatch):
    monkeypatch.setenv("SSD_EDU_MAX_QUADRATIC_BYTES", "1000")
    results = bench.run_bench(dtypes=("float64",), backends=("numpy", "numba"),
                              forms=("attention",), families=("scalar",), **TINY)
    ref = next(r for r in results if r["backend"] == "numpy")
    assert ref["status"] == "skipped" and "quadratic memory" in ref["reason"]
    assert "skipped: quadratic memory" in bench.format_table(results)
    fast = next(r for r in results if r["backend"] == "numba")
    assert fast["status"] == "ok" and fast["speedup"] is None


@pytest.mark.slow          # float32
def test_cli_json_and_sweep(tmp_path, capsys):
    path = tmp_path / "bench.json"
    argv = ["bench", "--T", "8", "--N", "2", "--P", "3", "--batch", "1", "--repeats", "1",
            "--dtype", "float32", "--backend", "numpy", "numba", "--form", "scan", "chunked",
            "--json", str(path)]
    assert cli_main(argv) == 0
    rows = json.loads(path.read_text())["results"]
    assert {r["name"] for r in rows} == {f"{b}.{f}.{g}" for b in ("numpy", "numba")
                                         for f in FAMILIES for g in ("scan", "chunked")}
    assert cli_main(argv[:-2] + ["--sweep", "4", "9"]) == 0
    out = capsys.readouterr().out
    assert "T = 9 ..." in out and "fastest" in out


def test_cuda_unavailable_prints_a_skip_line(monkeypatch, capsys):
    monkeypatch.setattr(bench.run, "cuda_timing", lambda: (None, "no GPU in this test"))
    argv = ["bench", "--T", "4", "--N", "1", "--P", "1", "--batch", "1", "--repeats", "1",
            "--dtype", "float64", "--backend", "cuda", "numba", "--form", "scan"]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    assert "cuda: skipped (no GPU in this test)" in out and out.count("cuda: skipped") == 1
    rows = bench.run_bench(T=4, N=1, P=1, batch=1, repeats=1, dtypes=("float64",),
                           backends=("cuda",), forms=("scan",), families=("scalar",))
    assert [r["status"] for r in rows] == ["skipped"] and "no GPU" in rows[0]["reason"]


def test_cuda_branch_on_the_simulator():
    timing, reason = bench.cuda_timing()
    if timing is None:
        pytest.skip(f"cuda: {reason}")
    rows = bench.run_bench(T=4, N=2, P=2, batch=1, repeats=1, dtypes=("float32",),
                           backends=("cuda",), forms=("scan",), families=("scalar",))
    if not rows:
        pytest.skip("no cuda.* entry registered")
    r = rows[0]
    assert r["status"] == "ok", r
    assert r["transfer_s"] >= 0 and r["matmul_flops"] > 0
    assert "transfer" in bench.format_table(rows)


def test_timing_helpers_measure_what_they_say():
    from ssd_edu.bench import timing
    sizes = [10, 20, 40, 80]
    assert timing.loglog_slope(sizes, [3e-3 * s**2 for s in sizes]) == pytest.approx(2.0)
    assert timing.loglog_slope(sizes, [5.0 * s for s in sizes]) == pytest.approx(1.0)
    # a fake clock that each function advances by its cost in that round: best-of is the min
    costs, now, calls = [[5, 3, 9], [2, 1, 2]], [0.0], [0, 0]

    def fn(i):
        def call():
            now[0] += costs[i][calls[i]]
            calls[i] += 1
        return call
    best = timing.best_times([fn(0), fn(1)], 3, clock=lambda: now[0])
    assert best == [3, 1] and calls == [3, 3]
    with pytest.raises(ValueError, match="repeats"):
        timing.best_times([lambda: None], 0)


def test_matmul_rate_lets_blas_threads_sleep_before_returning(monkeypatch):
    """BLAS threads spin after a matmul and slow whatever is timed next (settle_blas):
    matmul_rate settles after its timed matmuls, as its last step."""
    from ssd_edu.bench import timing
    events = []
    real_best = timing.best_time
    monkeypatch.setattr(timing, "settle_blas", lambda: events.append("settle"))
    monkeypatch.setattr(timing, "best_time",
                        lambda fn, repeats: (events.append("matmul"), real_best(fn, repeats))[1])
    assert timing.matmul_rate("float64", n=64, repeats=2) > 0
    assert events == ["matmul", "settle"]


def test_bench_settles_blas_between_numpy_and_numba_rows(monkeypatch):
    """The NumPy forms call BLAS too: the bench settles once per dtype before the first Numba row."""
    from ssd_edu.bench import run, timing
    order = []
    monkeypatch.setattr(timing, "settle_blas", lambda: order.append("settle"))   # in matmul_rate
    monkeypatch.setattr(run, "settle_blas", lambda: order.append("settle"))
    real = run._run_host
    monkeypatch.setattr(run, "_run_host", lambda row, *a: (order.append(row["backend"]),
                                                           real(row, *a))[1])
    bench.run_bench(**TINY, dtypes=("float64",), backends=("numpy", "numba"),
                    families=("scalar",), forms=("scan",))
    assert order == ["settle", "numpy", "settle", "numba"]


def test_workspace_bytes_come_from_the_kernels_allocations(monkeypatch):
    """numba_workspace_bytes calls the functions the kernels allocate with: an extra buffer
    there shows up in the count (no hand-copied list to drift)."""
    import numpy as np

    from ssd_edu.cpu import chunked
    Q, N, P = 16, 3, 5
    before = bench.numba_workspace_bytes("chunked", 100, N, P, "float64", Q, threads=2)
    intra = sum(w.nbytes for w in chunked.intra_workspaces(Q, N, P, np.empty(0)))
    assert before == 2 * intra
    real = chunked.intra_workspaces
    monkeypatch.setattr(chunked, "intra_workspaces",
                        lambda Q, N, P, like: real(Q, N, P, like) + (np.empty((Q, Q)),))
    after = bench.numba_workspace_bytes("chunked", 100, N, P, "float64", Q, threads=2)
    assert after == before + 2 * Q * Q * 8
    assert bench.numba_workspace_bytes("scan", 100, N, P, "float32", threads=1) == N * P * 4


@pytest.mark.slow          # float32 steps
def test_breakdown_times_each_step_of_the_chunked_forms(capsys):
    from ssd_edu.bench import breakdown
    argv = ["bench", "--breakdown", "--T", "40", "--N", "3", "--P", "2", "--batch", "1",
            "--repeats", "2", "--chunk-size", "8", "--dtype", "float64"]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    for part in breakdown.STEPS + ("checks", "whole call", "(rest)"):
        assert part in out
    assert "numba.scalar.chunked float64" in out and "numba.diagonal.chunked float64" in out
    rows = breakdown.run_breakdown(T=20, N=2, P=3, batch=2, dtypes=("float32",),
                                   families=("diagonal",), chunk_size=4, repeats=1)
    assert [r["part"] for r in rows] == list(breakdown.STEPS) + ["checks", "whole call"]
    assert all(r["min_s"] > 0 and r["median_s"] >= r["min_s"] for r in rows)
    assert rows[-1]["share"] == 1.0


def test_breakdown_never_prints_a_negative_rest():
    from ssd_edu.bench import breakdown
    base = dict(family="scalar", dtype="float64", T=8, N=2, P=2, batch=1, chunk_size=4)
    parts = list(breakdown.STEPS) + ["checks"]
    rows = [dict(base, part=p, min_s=0.002, median_s=0.002, share=2.0) for p in parts]
    rows.append(dict(base, part="whole call", min_s=0.001, median_s=0.001, share=1.0))
    out = breakdown.format_breakdown(rows)
    rest = [line for line in out.splitlines() if "(rest)" in line][0]
    assert "-" in rest and "%" not in rest and "9.00 ms more than the whole call" in rest
    rows[-1]["min_s"] = 0.02
    rest = [line for line in breakdown.format_breakdown(rows).splitlines() if "(rest)" in line][0]
    assert rest.split()[1:] == ["10.00", "50%"]


def test_crossover_table_and_figure(tmp_path, capsys):
    from ssd_edu.bench import crossover
    fig = tmp_path / "crossover.png"
    argv = ["bench", "--sweep", "8", "40", "--sweep-N", "2", "3", "--P", "2", "--batch", "1",
            "--repeats", "1", "--dtype", "float64", "--backend", "numba", "--figure", str(fig),
            "--cpu-time"]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    assert "fastest numba scalar form, float64" in out and "N = 3" in out
    assert fig.stat().st_size > 1000
    # the winner is the fastest timed form; untimed (skipped) rows never win
    rows = [dict(backend="numba", family="scalar", dtype="float64", T=8, N=2, form=f, min_s=s)
            for f, s in (("scan", 2.0), ("attention", 1.0), ("chunked", 3.0))]
    rows.append(dict(backend="numba", family="scalar", dtype="float64", T=8, N=2,
                     form="chunked", status="skipped"))
    assert crossover.winners(rows) == {("numba", "scalar", "float64", 8, 2): ("attention", 1.0)}


def test_every_implementation_name_fits_its_column():
    """The longest keys (numpy.diagonal.associative_scan) once ran into the dtype column."""
    from ssd_edu.bench import report
    for key in [*ssd_edu.IMPLEMENTATIONS, *ssd_edu.VJPS]:
        cells = report.label(key, "float64")
        assert len(key) < report.NAME_W and cells.split() == [key, "float64"], cells


def test_sweep_table_columns_line_up_with_the_longest_names():
    from ssd_edu.bench import report
    names = ["numpy.scalar.associative_scan", "numba.scalar.scan"]
    rows = [dict(name=n, family="scalar", dtype="float64", T=T, min_s=1e-3 * T, gflops=1.5)
            for T in (64, 128) for n in names]
    head, rule, *body = report.format_sweep(rows).splitlines()[1:-1]
    assert head.split() == ["T", "numpy.associative_scan", "numba.scan", "fastest"]
    width = len(head) - len("  fastest")
    for line in body:
        assert line[width:].strip() == "numpy.associative_scan" and line[width - 1] == ")"
        assert line[:width].rstrip().endswith(")") and len(line[:width]) == width


def test_best_times_changes_the_order_of_every_round_reproducibly():
    """Interference that recurs with the period of a round (the largest size always last) would
    otherwise hit the same function every round; the orders come from a fixed seed."""
    from ssd_edu.bench import timing

    def orders():
        seen = []
        timing.best_times([lambda i=i: seen.append(i) for i in range(4)], 6)
        return [tuple(seen[k:k + 4]) for k in range(0, 24, 4)]
    first = orders()
    assert all(sorted(o) == [0, 1, 2, 3] for o in first)      # each function once per round
    assert len(set(first)) > 1 and len({o[-1] for o in first}) > 1   # not always the same last
    assert orders() == first                                  # reproducible


# ------------------------------------------------------------------------------------------
# the torch peer rows (optional: run where PyTorch is installed)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("T, Q, regime, initial_state", [
    (1, 4, "random", True), (13, 4, "zero", True), (16, 4, "negative", False),
    (9, 64, "near_one", True), (21, 8, "mixed", True), (6, 1, "zero", True),
    (40, 16, "strong", True), (70, 24, "mixed", True), (30, 12, "negative", True)])
def test_torch_peer_agrees_with_the_oracle(family, T, Q, regime, initial_state, dtype):
    """torch.{family}.chunked against the recurrence on y and the final state: T = 1, T not a
    multiple of the chunk, one short chunk, Q = 1, Q a multiple of the diagonal row's
    sub-chunk of 8 (16, 24: two, three sub-chunks) or not (12: one sub-chunk of 12), zero /
    negative / near-one / 1e-300 decays."""
    pytest.importorskip("torch")
    import numpy as np

    from ssd_edu.bench.peers import numpy_chunked
    from ssd_edu.testing import assert_close, make_inputs
    d = make_inputs(family, T, 5, 3, (2,), regime=regime, dtype=np.dtype(dtype), seed=T,
                    initial_state=initial_state)
    y0, h0 = ssd_edu.oracle(family)(**{k: None if v is None else v.astype(np.float64)
                                        for k, v in d.items()})
    y, h = numpy_chunked(family, d["x"], d["a"], d["B"], d["C"],
                         initial_state=d["initial_state"], chunk_size=Q)
    assert y.dtype == h.dtype == np.dtype(dtype)
    assert_close(f"torch {family} y T={T} Q={Q} {regime}", y0, y, dtype=dtype)
    assert_close(f"torch {family} h T={T} Q={Q} {regime}", h0, h, dtype=dtype)


def test_torch_peer_groups_of_chunks_agree(monkeypatch):
    """The diagonal row's intra-chunk step in groups of chunks: one chunk per group (a tiny
    GROUP_ENTRIES) gives the same y as all chunks in one group."""
    pytest.importorskip("torch")
    from ssd_edu.bench import torch_chunked
    from ssd_edu.bench.peers import numpy_chunked
    from ssd_edu.testing import assert_close, make_inputs
    d = make_inputs("diagonal", 50, 4, 3, (2,), regime="mixed", seed=5)
    whole = numpy_chunked("diagonal", **d, chunk_size=16)
    monkeypatch.setattr(torch_chunked, "GROUP_ENTRIES", 1)
    for want, got in zip(whole, numpy_chunked("diagonal", **d, chunk_size=16)):
        assert_close("grouped", want, got)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("T, Q, regime", [(1, 4, "random"), (13, 4, "zero"), (7, 1, "mixed"),
                                         (16, 8, "negative"), (35, 16, "mixed")])
def test_torch_autograd_vjp_agrees_with_the_reference_vjp(family, T, Q, regime, dtype):
    """The torch rows' gradients (autograd through the direct products) are the package's,
    with and without an initial state (then dinitial_state is zeros), B shared across a head
    axis (its gradient summed back), Q = 1, both dtypes."""
    pytest.importorskip("torch")
    import numpy as np

    from ssd_edu.bench.peers import numpy_chunked_vjp
    from ssd_edu.testing import assert_close, make_inputs
    d = make_inputs(family, T, 5, 3, (2, 2), regime=regime, seed=T, dtype=np.dtype(dtype))
    B = d["B"][:, :1]                                     # shared by the 2 heads
    rng = np.random.default_rng(T)
    dy = rng.standard_normal((2, 2, T, 3)).astype(dtype)
    dh = rng.standard_normal((2, 2, 5, 3)).astype(dtype)
    for h0 in (d["initial_state"], None):
        args = (d["x"], d["a"], B, d["C"], dy, dh)
        want = ssd_edu.VJPS[f"numpy.{family}.scan"](*args, initial_state=h0)
        got = numpy_chunked_vjp(family, *args, initial_state=h0, chunk_size=Q)
        assert type(got) is type(want)
        for name, w, g in zip(want._fields, want, got):
            assert_close(f"torch {family} {name} T={T} Q={Q} {regime} h0={h0 is not None}",
                         w, g, dtype=dtype)


def test_bench_times_the_torch_rows_after_numba():
    pytest.importorskip("torch")
    rows = bench.run_bench(dtypes=("float64",), backends=("numba", "torch"),
                           families=FAMILIES, forms=("chunked",), **TINY)
    assert [r["name"] for r in rows] == ["numba.scalar.chunked", "numba.diagonal.chunked",
                                         "torch.scalar.chunked", "torch.diagonal.chunked"]
    for numba_row, peer in zip(rows[:2], rows[2:]):
        assert peer["status"] == "ok" and peer["min_s"] > 0
        assert peer["mem"] == "torch (not traced)" and peer["flops"] == numba_row["flops"]
        assert peer["matmul_flops"] == numba_row["matmul_flops"]
    assert "torch.diagonal.chunked" in bench.format_table(rows)


def test_bench_backward_times_the_torch_rows_last():
    pytest.importorskip("torch")
    from ssd_edu.bench.backward import format_backward, run_backward
    rows = run_backward(dtypes=("float64",), backends=("numba", "torch"), forms=("chunked",),
                        **TINY)
    assert [r["name"] for r in rows][-2:] == ["torch.scalar.chunked", "torch.diagonal.chunked"]
    assert all(r["status"] == "ok" and r["backward_s"] > 0 and r["ratio"] > 0 for r in rows)
    assert "torch.diagonal.chunked" in format_backward(rows)


def test_bench_reports_the_torch_rows_skipped_without_torch(monkeypatch, capsys):
    """Without PyTorch (never required) the rows say why and how to get it; others run."""
    monkeypatch.setitem(sys.modules, "torch", None)          # import torch -> ImportError
    from ssd_edu.bench import peers
    assert "peers" in peers.torch_reason()
    monkeypatch.delitem(sys.modules, "ssd_edu.bench.torch_chunked", raising=False)
    with pytest.raises(ImportError, match="needs PyTorch.*peers"):
        import ssd_edu.bench.torch_chunked  # noqa: F401
    rows = bench.run_bench(dtypes=("float64",), backends=("numba", "torch"),
                           families=("scalar",), forms=("chunked",), **TINY)
    assert [(r["name"], r["status"]) for r in rows] == [("numba.scalar.chunked", "ok"),
                                                        ("torch.scalar.chunked", "skipped")]
    assert "PyTorch not available" in rows[1]["reason"] and "peers" in rows[1]["reason"]
    argv = ["bench", "--T", "8", "--N", "2", "--P", "2", "--batch", "1", "--repeats", "1",
            "--dtype", "float64", "--form", "chunked", "--family", "scalar"]
    assert cli_main(argv) == 0
    assert "torch.scalar.chunked" in capsys.readouterr().out
    from ssd_edu.bench.backward import run_backward
    rows = run_backward(dtypes=("float64",), backends=("numba", "torch"), families=("scalar",),
                        forms=("chunked",), **TINY)
    assert [r["status"] for r in rows] == ["ok", "skipped"] and "peers" in rows[1]["reason"]


# ---------------------------------------------------------------- what each number is made of

def test_flop_counts_in_closed_form():
    """T = 5, N = 3, P = 2, Q = 2, each derived by hand (chunks of 2, 2, 1 steps)."""
    from ssd_edu.bench.backward import backward_flop_count
    forward = {"scan": 5 * 5 * 6,                                   # 5 T N P
               "attention": 5 * 6 * 5 + 4 * 5 * 6,                  # T (T+1) (N+P) + 4 T N P
               "chunked": 2 * (2 * 3 * 5 + 4 * 2 * 6 + 12) + (2 * 5 + 4 * 6 + 12),
               "associative_scan": 3 * 5 * 6 + 2 * 6 * (4 + 3 + 1)}  # passes d = 1, 2, 4
    backward = {"scan": 14 * 5 * 6,
                "attention": 5 * 6 * 13 + 10 * 5 * 6 + 4 * 6,        # one chunk of q = 5
                "chunked": 2 * (2 * 3 * 13 + 10 * 2 * 6 + 24) + (2 * 13 + 10 * 6 + 24),
                # U, V (2 T N P), both scans (twice the passes), dx, dB, dC, da (8 T N P)
                "associative_scan": 10 * 5 * 6 + 2 * 2 * 6 * (4 + 3 + 1)}
    for form in FORMS:
        assert bench.flop_count(form, 5, 3, 2, 2) == forward[form], form
        assert backward_flop_count(form, 5, 3, 2, 2) == backward[form], form


def test_rows_divide_by_the_min_and_their_own_dtypes_rate(monkeypatch):
    """Fixed fake times through run_bench: min, median, GFLOP/s, % matmul (float32 rows by the
    float32 rate) and the speedup (the reference's min over the kernel's)."""
    from ssd_edu.bench import run
    fake = {"numpy": [4.0, 1.0, 3.0, 2.0], "numba": [0.5, 0.2, 0.9, 0.4]}
    monkeypatch.setattr(run, "_run_host", lambda row, *args: list(fake[row["backend"]]))
    monkeypatch.setattr(run, "matmul_rate", lambda dtype: {"float64": 1e9, "float32": 4e9}[
        str(dtype)])
    results = bench.run_bench(dtypes=("float64", "float32"), backends=("numpy", "numba"),
                              forms=("scan",), families=("scalar",), **TINY)
    assert len(results) == 4
    for r in results:
        lo, med = (1.0, 2.5) if r["backend"] == "numpy" else (0.2, 0.45)
        rate = 1e9 if r["dtype"] == "float64" else 4e9
        assert (r["min_s"], r["median_s"]) == (lo, med)
        assert r["gflops"] == pytest.approx(r["flops"] / lo / 1e9)
        assert r["pct_matmul"] == pytest.approx(100 * r["flops"] / lo / rate)
        assert r["speedup"] == pytest.approx(1.0 if r["backend"] == "numpy" else 5.0)


def test_backward_rows_ratio_and_rate(monkeypatch):
    from ssd_edu.bench import backward
    monkeypatch.setattr(backward, "time_pair", lambda *args: (2.0, 5.0))
    monkeypatch.setattr(backward, "matmul_rate", lambda dtype: {"float64": 1e9, "float32": 4e9}[
        str(dtype)])
    rows = backward.run_backward(dtypes=("float64", "float32"), backends=("numba",),
                                 forms=("scan",), families=("scalar",), T=16, N=3, P=2,
                                 batch=2, repeats=1, chunk_size=4)
    for r in rows:
        rate = 1e9 if r["dtype"] == "float64" else 4e9
        assert (r["forward_s"], r["backward_s"], r["ratio"]) == (2.0, 5.0, 2.5)
        assert r["flops"] == backward.backward_flop_count("scan", 16, 3, 2) * 2
        assert r["gflops"] == pytest.approx(r["flops"] / 5.0 / 1e9)
        assert r["pct_matmul"] == pytest.approx(100 * r["flops"] / 5.0 / rate)


def test_backward_table_does_not_time_cuda_rows_on_the_host(monkeypatch):
    """A cuda VJP would be timed with transfers and divided by the CPU rate: it is skipped."""
    from ssd_edu.bench import backward
    monkeypatch.setitem(ssd_edu.VJPS, "cuda.scalar.scan", ssd_edu.VJPS["numba.scalar.scan"])
    monkeypatch.setitem(ssd_edu.IMPLEMENTATIONS, "cuda.scalar.scan",
                        ssd_edu.IMPLEMENTATIONS["numba.scalar.scan"])
    rows = backward.run_backward(dtypes=("float64",), backends=("cuda", "numba"),
                                 forms=("scan",), families=("scalar",), T=16, N=3, P=2,
                                 batch=2, repeats=1)
    by = {r["name"]: r for r in rows}
    assert by["cuda.scalar.scan"]["status"] == "skipped" and "backward_s" not in by[
        "cuda.scalar.scan"]
    assert by["numba.scalar.scan"]["status"] == "ok"


def test_format_sweep_names_the_fastest_of_unequal_times():
    from ssd_edu.bench import report
    rows = [dict(name=n, family="scalar", dtype="float64", T=64, min_s=s, gflops=1.0)
            for n, s in (("numba.scalar.scan", 3e-3), ("numba.scalar.attention", 1e-3),
                         ("numba.scalar.chunked", 2e-3))]
    line = report.format_sweep(rows).splitlines()[3]
    assert line.split()[-1] == "numba.attention"


def test_breakdown_and_scaling_report_min_then_median(monkeypatch):
    from ssd_edu.bench import timing
    times = iter([5.0, 1.0, 3.0, 2.0])
    monkeypatch.setattr(timing, "timed", lambda call: next(times))
    assert timing.min_median(lambda: None, 4) == (1.0, 2.5)


def test_crossover_cells_keep_the_longest_form_name_apart():
    """A NumPy winner associative_scan (16 characters) used to run into the next cell."""
    from ssd_edu.bench import crossover
    rows = [dict(backend="numpy", family="scalar", dtype="float64", T=T, N=N, form=form,
                 min_s=1e-3) for T in (64, 128) for N in (4, 8)
            for form in ("associative_scan",)]
    table = crossover.format_crossover(rows)
    body = [line for line in table.splitlines() if line.strip().startswith(("64", "128"))]
    for line in body:
        assert line.split() == [line.split()[0], "associative_scan", "1.00",
                                "associative_scan", "1.00"]
    head = [line for line in table.splitlines() if "N = 4" in line][0]
    assert len(head) == len(body[0])                         # columns line up with the head


def test_crossover_skips_a_reference_above_the_quadratic_limit(monkeypatch, capsys):
    """The crossover sweep names the NumPy attention it did not time (it raised before)."""
    monkeypatch.setenv("SSD_EDU_MAX_QUADRATIC_BYTES", "5000")  # T = 40 attention: 38400 bytes
    argv = ["bench", "--sweep", "8", "40", "--sweep-N", "2", "--P", "2", "--batch", "1",
            "--repeats", "1", "--dtype", "float64", "--family", "scalar", "--backend", "numpy",
            "--chunk-size", "4"]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    assert "fastest numpy scalar form, float64" in out
    assert "not timed (not in the race at T = 40, N = 2): numpy.scalar.attention" in out


def test_numpy_rows_load_the_checks_before_the_traced_warm_up(monkeypatch):
    """The one-time load of the compiled finiteness pass is not charged to the first NumPy row
    (it inflated its memory and cut its repeats)."""
    from ssd_edu.bench import run
    calls = []
    real_check, real_trace = run.check_ssm, run.traced_peak
    monkeypatch.setattr(run, "check_ssm", lambda *a, **k: calls.append("check") or
                        real_check(*a, **k))
    monkeypatch.setattr(run, "traced_peak", lambda fn: calls.append("trace") or real_trace(fn))
    bench.run_bench(dtypes=("float64",), backends=("numpy",), forms=("scan",),
                    families=("scalar",), **TINY)
    assert calls.index("check") < calls.index("trace")


@pytest.mark.parametrize("argv, message", [
    (["--T", "-5"], "argument --T: expected an integer >= 1, got -5"),
    (["--chunk-size", "0"], "argument --chunk-size: expected an integer >= 1, got 0"),
    (["--repeats", "0"], "argument --repeats: expected an integer >= 1, got 0"),
    (["--reference-cap", "-1"], "argument --reference-cap: expected a number > 0, got -1"),
    (["--sweep", "-4", "--sweep-N", "2"], "argument --sweep: expected an integer >= 1"),
    (["--batch", "two"], "argument --batch: expected an integer >= 1, got 'two'"),
])
def test_bad_bench_arguments_are_named(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["bench", *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["verify", "--only", "lemma-4.1", "--json", "{missing}/x.json"], "does not exist"),
    (["verify", "--only", "lemma-4.1", "--json", "{tmp}"], "is a folder"),
    (["bench", "--json", "{missing}/x.json"], "argument --json: the folder"),
    (["bench", "--sweep", "8", "--sweep-N", "2", "--figure", "{missing}/c.png"],
     "argument --figure: the folder"),
    (["bench", "--seed", "-1"], "argument --seed: expected an integer >= 0, got -1"),
    (["grade", "{tmp}", "--csv", "{missing}/g.csv"], "argument --csv: the folder"),
    (["grade", "{tmp}", "--json", "{missing}/g.json"], "argument --json: the folder"),
    (["gpu-report", "--json", "{missing}/r.json"], "argument --json: the folder"),
    (["exercises", "--out", "{file}"], "is a file; expected a folder"),
    (["tutorials", "--out", "{file}/sub"], "is a file, so"),
])
def test_outputs_that_cannot_be_written_are_refused_before_work(argv, message, tmp_path,
                                                                capsys, monkeypatch):
    """Every subcommand that writes a file checks where, before its work (verify, bench and
    grade used to finish and then lose their results to a traceback)."""
    from ssd_edu.theorems import cli as verify_cli
    monkeypatch.setattr(verify_cli, "run_checks", lambda *a, **k: pytest.fail("work was done"))
    (tmp_path / "afile").write_text("")
    fill = dict(missing=tmp_path / "missing", tmp=tmp_path, file=tmp_path / "afile")
    with pytest.raises(SystemExit) as exc:
        cli_main([arg.format(**fill) for arg in argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_a_default_output_folder_is_checked_only_when_written(tmp_path, capsys, monkeypatch):
    """figures --list writes nothing, so a file named like the default folder is no error;
    figures and gpu-check check --out before their work, after the refusals that need no
    folder (gpu-check: no GPU, no tests)."""
    from ssd_edu.bench import gpu_check as check
    monkeypatch.chdir(tmp_path)
    (tmp_path / "figures").write_text("")
    assert cli_main(["figures", "--list"]) == 0
    assert cli_main(["figures", "--only", "cost.png"]) == 2
    assert "argument --out: figures is a file" in capsys.readouterr().err
    monkeypatch.setattr(check, "why_not", lambda: None)
    monkeypatch.setattr(check, "_gpu_tests", lambda d: (["tests/test_gpu.py"], None))
    monkeypatch.setattr(check, "_run", lambda *a, **k: pytest.fail("work was done"))
    assert cli_main(["gpu-check", "--out", "figures"]) == 2
    assert "argument --out: figures is a file; expected a folder" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--figure", "x.png"], "--figure needs --sweep T ... --sweep-N N ..."),
    (["--sweep", "8", "--sweep-N", "2", "--figure", "x.png", "--backend", "numpy"],
     "--figure needs numba in --backend"),
    (["--backward", "--breakdown"], "--backward and --breakdown belong to separate runs"),
    (["--breakdown", "--sweep", "8"], "--breakdown and --sweep belong to separate runs"),
    (["--backward", "--sweep"], "--backward and --sweep belong to separate runs"),
    (["--sweep-N", "2"], "--sweep-N needs --sweep T ..."),
    (["--sweep", "8", "--cpu-time"], "--cpu-time needs --sweep T ... --sweep-N"),
    (["--breakdown", "--backend", "numpy"], "--breakdown needs numba in --backend"),
    (["--breakdown", "--form", "scan"], "--breakdown needs --form chunked"),
    (["--breakdown", "--form", "scan", "chunked"], "--breakdown needs --form chunked"),
    (["--backward", "--sweep-N", "2"], "--backward and --sweep-N belong to separate runs"),
    (["--breakdown", "--figure", "x.png"], "--breakdown and --figure belong to separate runs"),
    (["--backward", "--cpu-time"], "--backward and --cpu-time belong to separate runs"),
    (["--scaling", "--backward"], "--backward and --scaling belong to separate runs"),
])
def test_options_that_would_be_ignored_are_refused_before_work(argv, message, capsys):
    assert cli_main(["bench", *argv]) == 2
    assert message in capsys.readouterr().err


def test_scaling_prints_min_and_median_and_decides_nothing(capsys, tmp_path):
    """``bench --scaling``: the timed growth of the forms verify counts, with its spread."""
    path = tmp_path / "scaling.json"
    assert cli_main(["bench", "--scaling", "8", "16", "--N", "2", "--P", "2", "--chunk-size",
                     "4", "--repeats", "2", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "min / median ms of 2 calls" in out and "not a verdict" in out
    assert "diagonal_chunked_vjp" in out and "PASS" not in out and "FAIL" not in out
    result = json.loads(path.read_text())["scaling"]
    row = result["diagonal_scan"]
    assert result["T"] == [8, 16] and all(a <= b for a, b in zip(row["min_s"], row["median_s"]))
