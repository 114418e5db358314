"""The benchmark's tables: one workload (:func:`format_table`) and a sweep over T."""
from __future__ import annotations

#: Column widths: the longest key and a space; in the sweep, a key without its family and two.
NAME_W, SWEEP_W = 32, 24


def label(name: str, dtype: str) -> str:
    """The first two cells of a row, padded: implementation (``NAME_W``) and dtype (9)."""
    return f"{name:<{NAME_W}}{dtype:<9}"


def preamble(title: str, rows: list[dict], how: str, flops: str) -> list[str]:
    """A table's first lines: the workload of ``rows[0]``, the matmul rate of each device and
    dtype (what %matmul divides by), and the flops counted."""
    lines = [f"{title}: {r['batch']} sequences, T = {r['T']}, N = {r['N']}, P = {r['P']}; {how}"
             for r in rows[:1]]
    rates = {(r.get("backend") == "cuda", r["dtype"]): r["matmul_flops"] for r in rows
             if "matmul_flops" in r}
    for (is_cuda, dtype), rate in sorted(rates.items()):
        where = "device (ssd_edu.bench.gpu_timing)" if is_cuda else "NumPy/BLAS"
        lines.append(f"matmul rate {dtype}: {rate / 1e9:.1f} GFLOP/s ({where}, same run)")
    return lines + [f"flops counted: {flops}"]


def timed_rows(head: str, rows: list[dict], timed_key: str, row_line) -> list[str]:
    """``head``, its rule, then ``row_line(r)`` of each row with ``timed_key``, else its status."""
    return [head, "-" * len(head)] + [
        row_line(r) if timed_key in r else f"{label(r['name'], r['dtype'])}{r['status']}: "
        f"{r['reason']}" for r in rows]


def format_table(results: list[dict]) -> str:
    """A readable table of :func:`run_bench` rows, with the matmul rates and flop counts."""
    lines = preamble("workload", results, "median/min of the timed calls after a warm-up",
                     "scan 5TNP; attention T(T+1)(N+P)+4TNP; chunked sum_c q(q+1)(N+P)+4qNP+2NP "
                     "(per sequence)")
    head = (f"{label('implementation', 'dtype')}{'median ms':>11}{'min ms':>10}{'GFLOP':>9}"
            f"{'GFLOP/s':>9}{'%matmul':>9}{'vs numpy':>10}{'extra MiB':>11}  note")
    return "\n".join(lines + timed_rows(head, results, "min_s", _table_row))


def _table_row(r: dict) -> str:
    speed = "-" if r.get("speedup") is None else f"{r['speedup']:.1f}x"
    mem = "-" if r.get("mem_bytes") is None else f"{r['mem_bytes'] / 2**20:.1f}"
    note = r.get("mem", "")
    if r["backend"] == "cuda":
        note = f"transfer {r['transfer_s'] * 1e3:.2f} ms" + (
            " (simulator)" if r.get("simulator") else "")
    if r.get("validate_s") is not None:
        note += f"; checks {r['validate_s'] * 1e3:.1f} ms"
    if r.get("reason"):
        note += f"; {r['reason']}"
    return (
        f"{label(r['name'], r['dtype'])}{r['median_s'] * 1e3:>11.2f}{r['min_s'] * 1e3:>10.2f}"
        f"{r['flops'] / 1e9:>9.3f}{r['gflops']:>9.2f}{r['pct_matmul']:>8.1f}%{speed:>10}"
        f"{mem:>11}  {note}")


def format_sweep(results: list[dict]) -> str:
    """One table per (family, dtype): min ms per implementation against T, and the winner."""
    lines = []
    for family, dtype in sorted({(r["family"], r["dtype"]) for r in results}):
        rows = [r for r in results if r["family"] == family and r["dtype"] == dtype]
        short = {r["name"]: r["name"].replace(f".{family}.", ".") for r in rows}
        lines.append(f"{family} family, {dtype}: min ms per call (GFLOP/s)")
        head = f"{'T':>6}" + "".join(f"{s:>{SWEEP_W}}" for s in short.values()) + "  fastest"
        lines += [head, "-" * len(head)]
        for T in sorted({r["T"] for r in rows}):
            cells, best = [], None
            for n in short:
                r = next((r for r in rows if r["name"] == n and r["T"] == T), None)
                if r is None or "min_s" not in r:
                    cells.append(f"{'skipped' if r else '-':>{SWEEP_W}}")
                    continue
                cells.append(f"{r['min_s'] * 1e3:>{SWEEP_W - 9}.2f} ({r['gflops']:>6.1f})")
                best = min(best or (short[n], r["min_s"]), (short[n], r["min_s"]),
                           key=lambda b: b[1])
            lines.append(f"{T:>6}" + "".join(cells) + f"  {best[0] if best else '-'}")
        lines.append("")
    return "\n".join(lines)
