"""The benchmark's tables: one workload (:func:`format_table`) and a sweep over T."""
from __future__ import annotations


def _fmt(value, spec, missing="-"):
    return missing if value is None else format(value, spec)


def format_table(results: list[dict]) -> str:
    """A readable table of :func:`run_bench` rows, with the matmul rates and flop counts."""
    lines = []
    rates = {}
    for r in results:
        if "matmul_flops" in r:
            rates[(r["backend"] == "cuda", r["dtype"])] = r["matmul_flops"]
    if results:
        r0 = results[0]
        lines.append(f"workload: {r0['batch']} sequences, T = {r0['T']}, N = {r0['N']}, "
                     f"P = {r0['P']}; median/min of the timed calls after a warm-up")
    for (is_cuda, dtype), rate in sorted(rates.items()):
        where = "device (ssd_edu.gpu.timing)" if is_cuda else "NumPy/BLAS"
        lines.append(f"matmul rate {dtype}: {rate / 1e9:.1f} GFLOP/s ({where}, same run)")
    lines.append("flops counted: scan 5TNP; attention T(T+1)(N+P)+4TNP; chunked "
                 "sum_c q(q+1)(N+P)+4qNP+2NP (per sequence)")
    head = (f"{'implementation':<26}{'dtype':<9}{'median ms':>11}{'min ms':>10}{'GFLOP':>9}"
            f"{'GFLOP/s':>9}{'%matmul':>9}{'vs numpy':>10}{'extra MiB':>11}  note")
    lines += [head, "-" * len(head)]
    for r in results:
        if "min_s" not in r:
            lines.append(f"{r['name']:<26}{r['dtype']:<9}{r['status']}: {r['reason']}")
            continue
        speed = _fmt(r.get("speedup"), ".1f") + ("x" if r.get("speedup") is not None else "")
        mem = r.get("mem_bytes")
        note = r.get("mem", "")
        if r["backend"] == "cuda":
            note = f"transfer {r['transfer_s'] * 1e3:.2f} ms" + (
                " (simulator)" if r.get("simulator") else "")
        if r.get("validate_s") is not None:
            note += f"; checks {r['validate_s'] * 1e3:.1f} ms"
        if r.get("reason"):
            note += f"; {r['reason']}"
        lines.append(
            f"{r['name']:<26}{r['dtype']:<9}{r['median_s'] * 1e3:>11.2f}{r['min_s'] * 1e3:>10.2f}"
            f"{r['flops'] / 1e9:>9.3f}{r['gflops']:>9.2f}{r['pct_matmul']:>8.1f}%{speed:>10}"
            f"{_fmt(None if mem is None else mem / 2**20, '.1f'):>11}  {note}")
    return "\n".join(lines)


def format_sweep(results: list[dict]) -> str:
    """One table per (family, dtype): min ms per implementation against T, and the winner."""
    lines = []
    keys = sorted({(r["family"], r["dtype"]) for r in results})
    for family, dtype in keys:
        rows = [r for r in results if r["family"] == family and r["dtype"] == dtype]
        names = list(dict.fromkeys(r["name"] for r in rows))
        Ts = sorted({r["T"] for r in rows})
        short = [n.replace(f".{family}.", ".") for n in names]
        lines.append(f"{family} family, {dtype}: min ms per call (GFLOP/s)")
        head = f"{'T':>6}" + "".join(f"{s:>22}" for s in short) + "  fastest"
        lines += [head, "-" * len(head)]
        for T in Ts:
            cells, best = [], None
            for n in names:
                r = next((r for r in rows if r["name"] == n and r["T"] == T), None)
                if r is None or "min_s" not in r:
                    cells.append(f"{'skipped' if r else '-':>22}")
                    continue
                cells.append(f"{r['min_s'] * 1e3:>12.2f} ({r['gflops']:>6.1f})")
                if best is None or r["min_s"] < best[1]:
                    best = (n.replace(f".{family}.", "."), r["min_s"])
            lines.append(f"{T:>6}" + "".join(cells) + f"  {best[0] if best else '-'}")
        lines.append("")
    return "\n".join(lines)
