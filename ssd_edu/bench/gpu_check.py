"""The prepared device check: ``python -m ssd_edu gpu-check --out DIR`` on a machine with a GPU.

1. the GPU tests (tests/test_gpu*.py) on the real GPU at tile 16 (``SSD_EDU_REAL_GPU=1``);
2. every cuda form timed in float32 and float64 (:mod:`.gpu_timing`), and a roofline figure;
3. ``compute-sanitizer`` racecheck and memcheck at small sizes, if found.
Writes ``DIR/report.md``, ``report.json``, ``roofline.png`` and the logs. Without a real GPU it
stops at once with exit code 2 and says why.
"""
from __future__ import annotations

import json
from argparse import ArgumentTypeError
import os
import subprocess
import sys
import time
from pathlib import Path

from .._cli import output_dir
from .gpu_report import MissingTool, find_tool

TEST_BUDGET_S = 180
SANITIZER_BUDGET_S = 60

#: The small workload each sanitizer tool runs: every cuda form once, at tile 16.
SANITIZER_SCRIPT = """
import ssd_edu
from ssd_edu import gpu
from ssd_edu.testing import make_inputs
for name in sorted(k for k in ssd_edu.IMPLEMENTATIONS if k.startswith("cuda.")):
    family, form = name.split(".")[1:]
    d = make_inputs(family, 35, N=19, P=18, batch=(2,), regime="mixed", seed=1)
    kw = {"chunk_size": 20} if form == "chunked" else {}
    with gpu.tile_size(16):
        ssd_edu.IMPLEMENTATIONS[name](**d, **kw)
print("sanitizer workload done")
"""


def why_not() -> str | None:
    """None when a real GPU can run the check, else the reason."""
    from ..gpu import simulator_enabled, unavailable_reason
    simulator = ("the numba CUDA simulator is active (NUMBA_ENABLE_CUDASIM=1): the device check "
                 "needs a real NVIDIA GPU")
    return unavailable_reason() or (simulator if simulator_enabled() else None)


def _gpu_tests(tests_dir) -> tuple:
    """(the GPU test files, None), or ([], why they cannot run)."""
    import importlib.util
    tests = sorted(str(p) for p in Path(tests_dir).glob("test_gpu*.py"))
    if not tests:
        return [], (f"no GPU tests (test_gpu*.py) in {tests_dir}: gpu-check runs the tests of a "
                    f"source checkout; clone the repository, install it with "
                    f"pip install -e '.[test,cuda]' and run it there (or pass --tests DIR)")
    if importlib.util.find_spec("pytest") is None:
        return [], "pytest is not installed (it comes with the `test` extra)"
    return tests, None


def _run(cmd, log: Path, budget: float, env=None) -> dict:
    start = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=budget, env=env)
        code, text = out.returncode, out.stdout + out.stderr
    except subprocess.TimeoutExpired as exc:
        code, text = "timeout", exc.stdout or ""
        text = text.decode(errors="replace") if isinstance(text, bytes) else text
    log.write_text(text)
    tail = [line for line in text.strip().splitlines() if line.strip()][-1:] or [""]
    return {"returncode": code, "seconds": round(time.perf_counter() - start, 1),
            "last_line": tail[0], "log": log.name}


def _benchmark(out: Path) -> dict:
    from ..registry import IMPLEMENTATIONS
    from ..testing import make_inputs
    from . import gpu_timing as timing
    from .run import DEFAULTS, flop_count

    spec = timing.device_spec()
    peak, rows = timing.peaks(spec), []
    T, N, P, nb, Q = (DEFAULTS[k] for k in ("T", "N", "P", "batch", "chunk_size"))
    for name in sorted(k for k in IMPLEMENTATIONS if k.startswith("cuda.")):
        family, form = name.split(".")[1:]
        for dtype in ("float32", "float64"):
            data = make_inputs(family, T, N=N, P=P, batch=(nb,), dtype=dtype, seed=0)
            res = timing.time_kernels(family, form, **data, chunk_size=Q, repeats=5)
            best = min(res["kernel_s"])
            useful = nb * flop_count(form, T, N, P, Q)
            moved = timing.bytes_moved(form, family, T, N, P, nb, data["x"].itemsize)
            rows.append({"name": name, "dtype": dtype, "kernel_s": best, "host_s": res["host_s"],
                         "d2h_s": res["d2h_s"], "useful_flops": useful, "bytes": moved,
                         "executed_flops": timing.executed_flops(form, family, T, N, P, nb, 16, Q),
                         "flops_per_s": useful / best, "bytes_per_s": moved / best,
                         "of_peak_flops": useful / best / peak[dtype] if peak[dtype] else None,
                         "of_peak_bandwidth": moved / best / peak["bandwidth"]})
    _roofline(rows, peak, out / "roofline.png")
    return {"device": spec._asdict(), "peaks": peak, "workload": dict(T=T, N=N, P=P, batch=nb,
            chunk_size=Q), "rows": rows}


def _roofline(rows, peak, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ai = np.logspace(-2, 3, 100)
    for dtype, style in (("float32", "-"), ("float64", "--")):
        if peak[dtype]:
            ax.plot(ai, np.minimum(peak[dtype], ai * peak["bandwidth"]), "k" + style, lw=1,
                    label=f"roof {dtype}")
    for r in rows:
        ax.plot(r["useful_flops"] / r["bytes"], r["flops_per_s"],
                "o" if r["dtype"] == "float32" else "s", label=f"{r['name']} {r['dtype']}")
    ax.set(xscale="log", yscale="log", xlabel="useful flops per byte moved",
           ylabel="useful flop/s (kernel time)")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _markdown(result: dict) -> str:
    lines = ["# ssd_edu gpu-check", ""]
    dev = result.get("bench", {}).get("device")
    if dev:
        lines += [f"device: {dev['name']} (sm_{dev['cc'][0]}{dev['cc'][1]}, {dev['sms']} SMs)",
                  f"peaks: {result['bench']['peaks']}", ""]
    t = result["tests"]
    lines += [f"tests (tile 16, real GPU): exit {t['returncode']} in {t['seconds']} s: "
              f"{t['last_line']}", ""]
    lines += [f"compute-sanitizer {tool}: exit {r['returncode']} in {r['seconds']} s: "
              f"{r['last_line']}" for tool, r in result.get("sanitizer", {}).items()]
    if "bench" in result:
        w = result["bench"]["workload"]
        lines += ["", f"benchmark: {w}", "",
                  "| form | dtype | kernel ms | host + h2d ms | d2h ms | useful GFLOP/s | "
                  "% peak flop/s | GB/s | % peak bandwidth | executed / useful flops |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in result["bench"]["rows"]:
            pf = "-" if r["of_peak_flops"] is None else f"{100 * r['of_peak_flops']:.1f}"
            lines.append(f"| {r['name']} | {r['dtype']} | {1e3 * r['kernel_s']:.3f} | "
                         f"{1e3 * r['host_s']:.2f} | {1e3 * r['d2h_s']:.2f} | "
                         f"{r['flops_per_s'] / 1e9:.1f} | {pf} | {r['bytes_per_s'] / 1e9:.1f} | "
                         f"{100 * r['of_peak_bandwidth']:.1f} | "
                         f"{r['executed_flops'] / r['useful_flops']:.2f} |")
    lines += [f"- {note}" for note in result.get("notes", [])]
    return "\n".join(lines) + "\n"


def run_check(out_dir: str, tests_dir=None) -> int:
    """Run the whole check into ``out_dir``; 0 when tests and sanitizers pass, 1 if not, 2 when
    there is no GPU here or the GPU tests cannot be found (nothing is run)."""
    gpu = why_not()
    tests, reason = (([], f"no NVIDIA GPU can run here: {gpu}") if gpu else
                     _gpu_tests(tests_dir or Path(__file__).resolve().parents[2] / "tests"))
    try:
        reason or output_dir(out_dir)
    except ArgumentTypeError as exc:
        reason = f"argument --out: {exc}"
    if reason:
        print(f"gpu-check: {reason}", file=sys.stderr)
        return 2
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SSD_EDU_REAL_GPU="1")
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    result = {"notes": [], "sanitizer": {}}
    result["tests"] = _run([sys.executable, "-m", "pytest", "-q", "-x", *tests], out / "tests.log",
                           TEST_BUDGET_S, env)
    try:
        result["bench"] = _benchmark(out)
    except Exception as exc:  # the report still says what happened
        result["notes"].append(f"benchmark failed: {type(exc).__name__}: {exc}")
    try:
        sanitizer = find_tool("compute-sanitizer")
        for tool in ("racecheck", "memcheck"):
            result["sanitizer"][tool] = _run(
                [sanitizer, "--tool", tool, "--error-exitcode", "1", sys.executable, "-c",
                 SANITIZER_SCRIPT], out / f"sanitizer_{tool}.log", SANITIZER_BUDGET_S, env)
    except MissingTool:
        result["notes"].append("compute-sanitizer not found: racecheck / memcheck not run")
    (out / "report.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "report.md").write_text(_markdown(result))
    print(_markdown(result))
    ok = result["tests"]["returncode"] == 0 and all(
        r["returncode"] == 0 for r in result["sanitizer"].values())
    return 0 if ok and "bench" in result else 1


def add_arguments(parser) -> None:
    parser.add_argument("--out", metavar="DIR", default="gpu-check",
                        help="folder for report.md, report.json, roofline.png and the logs")
    parser.add_argument("--tests", metavar="DIR", default=None,
                        help="the folder of the GPU tests (default: tests/ of the checkout)")


def run_from_args(args) -> int:
    return run_check(args.out, args.tests)
