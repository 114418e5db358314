"""What the GPU kernels become on real hardware, without a GPU: ``python -m ssd_edu gpu-report``.

Every kernel (tile 16, both families, float32 and float64) compiled as the launchers build it:
numba.cuda to PTX, ``ptxas -v`` (registers, spills, shared memory), ``nvdisasm`` to read the
machine code. ``occupancy`` = resident warps / maximum warps per SM (:data:`ARCHS`);
``instructions_per_fma`` over the innermost loop with the most FMAs; ``f64_ops`` = PTX lines
with a double operation. Needs the ``cuda-tools`` extra, no GPU, no NUMBA_ENABLE_CUDASIM=1.
"""
from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import tempfile
from typing import NamedTuple

from .._cli import output_file


class Arch(NamedTuple):
    """Per-SM limits (CUDA occupancy calculator): resident warps and blocks, shared bytes,
    32-bit registers; bytes reserved per block; allocation units of registers (per warp) and
    shared memory (per block)."""
    cc: tuple
    warps: int
    blocks: int
    shared: int
    registers: int = 65536
    reserved: int = 1024
    reg_unit: int = 256
    smem_unit: int = 128


ARCHS = {"sm_80": Arch((8, 0), 64, 32, 167936), "sm_86": Arch((8, 6), 48, 16, 102400),
         "sm_89": Arch((8, 9), 48, 24, 102400), "sm_90": Arch((9, 0), 64, 32, 233472)}

#: What every tiled kernel must reach (tests/test_gpu_report.py asserts it).
TARGETS = {"spills": 0, "occupancy": 0.25, "instructions_per_fma": 10.0}

TILE = 16


class MissingTool(RuntimeError):
    """NVVM / ptxas / nvdisasm not found: install the ``cuda-tools`` extra."""

#: How to get the compilers: the wheels the ``cuda-tools`` extra lists.
INSTALL_TOOLS = ("install NVIDIA's compiler wheels: pip install -e '.[cuda-tools]' in a "
                 "checkout, or pip install 'numba-cuda>=0.20' 'cuda-bindings>=13,<14' "
                 "'nvidia-nvvm>=13' 'nvidia-cuda-nvrtc>=13' 'nvidia-cuda-nvcc>=13' "
                 "'nvidia-cuda-nvdisasm>=13'")


def occupancy(arch: Arch, registers: int, shared_bytes: int, threads: int) -> float:
    """Theoretical occupancy: resident warps per SM / ``arch.warps`` for blocks of ``threads``."""
    warps = -(-threads // 32)
    per_warp = -(-max(registers, 1) * 32 // arch.reg_unit) * arch.reg_unit
    by_regs = (arch.registers // per_warp) // warps
    need = -(-(shared_bytes + arch.reserved) // arch.smem_unit) * arch.smem_unit
    by_shared = arch.shared // need
    blocks = min(arch.blocks, arch.warps // warps, by_regs, by_shared)
    return blocks * warps / arch.warps


def kernels(dtype):
    """(name, python body, argument types, threads per block, tiled) of every kernel."""
    from ..gpu import _device, _tiles, backward, chunked, scan
    from . import _gpu_matmul as _matmul
    from numba import types as nt
    a1, a2, a3, a4 = (nt.Array(dtype, ndim, "C") for ndim in (1, 2, 3, 4))
    i1, i2 = nt.Array(nt.int64, 1, "C"), nt.Array(nt.int64, 2, "C")
    i, flag, blk = nt.int64, nt.boolean, TILE * TILE
    width = _tiles.MAX_WIDTH

    def body(factory, family, *extra):
        return factory.builder(TILE, family == "diagonal", dtype, *extra)

    out = [("timing matmul", body(_matmul.matmul_kernel, "scalar", _matmul.MATMUL_WIDTH),
            (a2, a2, a2), blk, True)]
    for fam in ("scalar", "diagonal"):
        out.append((f"chunk states ({fam})", body(chunked.chunk_states_kernel, fam, width),
                    (a3, a3, a3, i, i2, a4, a3), blk, True))
    out.append(("scalar output (chunked/attention)",
                body(_tiles.scalar_output_kernel, "scalar", width, True),
                (a3, a3, a3, a3, a4, flag, i, i2, a3), blk, True))
    out.append(("diagonal mode factors (chunked/attention)",
                body(_tiles.mode_factors_kernel, "diagonal"), (a3, i, i2, a3, a3), blk, False))
    out.append(("diagonal output (chunked/attention)",
                body(_tiles.diagonal_output_kernel, "diagonal", width, True),
                (a3, a3, a3, a3, a3, a3, a4, flag, i, i2, a2, a3), blk, True))
    for fam in ("scalar", "diagonal"):
        for full, note in ((True, ""), (False, ", N % 16 > 0")):
            out.append((f"scan outputs ({fam}{note})", body(scan.scan_outputs_kernel, fam, full),
                        (a3, a3, a3, a3, a4, i, i2, a3), blk, True))
        # the VJPs' kernels: one thread per (sequence, mode, channel) lane, no shared tiles
        out += [(f"scan backward ({fam})", body(backward.scan_backward_kernel, fam),
                 (a3,) * 7 + (a4,) + (a3,) * 4, blk, False),
                (f"attention backward ({fam})",
                 body(backward.attention_backward_kernel, fam), (a3,) * 12, blk, False),
                (f"chunk links ({fam})", body(backward.chunk_links_kernel, fam),
                 (a3,) * 7 + (a2,), blk, False),
                (f"state passing both ways ({fam})",
                 body(backward.state_passing_both_ways_kernel, fam),
                 (a3, a3, a2) + (a3,) * 5, blk, False)]
    out += [
        ("state passing", chunked.state_passing_kernel.py_func,
         (a4, a3, a3, flag, i2, a4, a3), 128, False),
        ("count non-finite", _device.count_nonfinite_kernel.py_func,
         (a1, i1, i), 256, False),
    ]
    return out


def find_tool(name: str) -> str:
    """Path of an NVIDIA tool: the nvidia-* wheels (matching numba's NVVM) first."""
    roots = [r for path in sys.path
             for r in sorted(glob.glob(os.path.join(path, "nvidia", "*", "bin")), reverse=True)]
    roots += [os.path.join(os.environ[k], "bin") for k in ("CUDA_HOME", "CUDA_PATH")
              if os.environ.get(k)]
    roots += [*os.environ.get("PATH", "").split(os.pathsep), "/usr/local/cuda/bin"]
    for root in filter(None, roots):
        candidate = os.path.join(root, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise MissingTool(f"{name} not found in the nvidia-* wheels, $CUDA_HOME/bin, PATH or "
                      f"/usr/local/cuda/bin; {INSTALL_TOOLS}")


def _run(cmd: list) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}")
    return out


def _disassembler():
    """nvdisasm, else cuobjdump (a CUDA toolkit's); the error names nvdisasm, the one to get."""
    try:
        return [find_tool("nvdisasm"), "-c"]
    except MissingTool as missing:
        try:
            return [find_tool("cuobjdump"), "-sass"]
        except MissingTool:
            raise missing from None


_INSN = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(.*?);")
_LABEL = re.compile(r"^\s*(\.L_\w+):")
_TARGET = re.compile(r"BRA\w*(?:\.\w+)*\s+`?\(?(\.L_\w+)")


def hot_loop(sass: str) -> dict:
    """The innermost loop (label to a branch back, no loop inside) with the most FMAs, over the
    lines ``/*addr*/ OPCODE ...;`` of ``sass``: ``{"instructions", "fmas", "per_fma"}``."""
    insns, labels, branches, pending = [], {}, [], []
    for line in sass.splitlines():
        m = _LABEL.match(line)
        if m:
            pending.append(m.group(1))
            continue
        m = _INSN.search(line)
        if not m:
            continue
        text = m.group(2).strip()
        labels.update((lab, len(insns)) for lab in pending)
        pending = []
        t = _TARGET.search(text)
        if t:
            branches.append((len(insns), t.group(1)))
        insns.append(text)
    loops = [(labels[lab], at) for at, lab in branches if lab in labels and labels[lab] <= at]
    inner = [(lo, hi) for lo, hi in loops
             if not any((a, b) != (lo, hi) and lo <= a and b <= hi for a, b in loops)]

    best = None
    for lo, hi in inner:
        body = insns[lo:hi + 1]
        fmas = sum(1 for t in body                 # the opcode follows a predicate @P0
                   if t.split()[t.startswith("@")].startswith(("FFMA", "DFMA", "HFMA")))
        if fmas and (best is None or fmas > best["fmas"]):
            best = {"instructions": len(body), "fmas": fmas, "per_fma": len(body) / fmas}
    return best or {"instructions": 0, "fmas": 0, "per_fma": None}


def _number(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    return int(found.group(1)) if found else 0


def compile_report(arch: str = "sm_90") -> list:
    """Every kernel compiled for ``arch`` in float32 and float64: one dict per (kernel, dtype)
    (registers, spills, shared_bytes, occupancy, instructions_per_fma, fmas, f64_ops, tiled,
    threads). :class:`MissingTool` when a compiler is missing, RuntimeError on the simulator."""
    from ..gpu import _device
    from ..gpu._cuda import cuda, simulator_enabled
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {sorted(ARCHS)}, got {arch!r}")
    if cuda is None:
        raise MissingTool(f"numba-cuda is not installed; {INSTALL_TOOLS}")
    if simulator_enabled():
        raise RuntimeError("the compile report needs the real numba.cuda compiler: run it in a "
                           "process without NUMBA_ENABLE_CUDASIM=1")
    from numba import types as nt

    limits = ARCHS[arch]
    ptxas = find_tool("ptxas")
    disasm = _disassembler()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in (nt.float32, nt.float64):
            for name, fn, sig, threads, tiled in kernels(dtype):
                try:
                    bounds = _device.launch_bounds(TILE) if tiled else None
                    ptx, _ = cuda.compile_ptx(fn, sig, cc=limits.cc, launch_bounds=bounds)
                except Exception as exc:  # NVVM missing shows up here
                    if "nvvm" in str(exc).lower() or "NvvmSupportError" in type(exc).__name__:
                        raise MissingTool(f"NVVM not usable ({exc}); {INSTALL_TOOLS}") from exc
                    raise
                src, cubin = os.path.join(tmp, "k.ptx"), os.path.join(tmp, "k.cubin")
                with open(src, "w") as fh:
                    fh.write(ptx)
                info = _run([ptxas, f"-arch={arch}", "-v", src, "-o", cubin])
                text = info.stdout + info.stderr
                row = {"registers": _number(r"Used (\d+) registers", text),
                       "shared_bytes": _number(r"(\d+) bytes smem", text),
                       "spills": sum(_number(rf"(\d+) bytes spill {kind}", text)
                                     for kind in ("stores", "loads"))}
                loop = hot_loop(_run(disasm + [cubin]).stdout)
                f64 = sum(1 for line in ptx.splitlines() if re.search(r"\.f64\b", line))
                rows.append({"kernel": name, "dtype": str(dtype), **row,
                             "occupancy": occupancy(limits, row["registers"],
                                                    row["shared_bytes"], threads),
                             "instructions_per_fma": loop["per_fma"], "fmas": loop["fmas"],
                             "tiled": tiled, "threads": threads,
                             "f64_ops": f64 if dtype == nt.float32 else 0})
    return rows


def misses(rows: list) -> list:
    """Human-readable misses of :data:`TARGETS` by the tiled kernels (empty: all met)."""
    out = []
    for r in [r for r in rows if r["tiled"]]:
        ipf = r["instructions_per_fma"]
        out += [f"{r['kernel']} {r['dtype']}: {what}" for missed, what in (
            (r["spills"] > TARGETS["spills"], f"{r['spills']} bytes of spills"),
            (r["occupancy"] < TARGETS["occupancy"], f"occupancy {r['occupancy']:.1%}"),
            (ipf is None or ipf > TARGETS["instructions_per_fma"], f"{ipf} instructions per FMA"))
            if missed]
    return out


def format_table(rows: list, arch: str = "sm_90") -> str:
    """A Markdown table of the report."""
    lines = [f"compile report for {arch} (tile {TILE}; targets for tiled kernels: no spills, "
             f"occupancy >= {TARGETS['occupancy']:.0%}, <= {TARGETS['instructions_per_fma']:g} "
             f"instructions per FMA)", "",
             "| kernel | dtype | registers | spills | shared bytes | occupancy | "
             "instructions per FMA (hot loop) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        ipf = "-" if r["instructions_per_fma"] is None else (
            f"{r['instructions_per_fma']:.2f} ({r['fmas']} FMA)")
        name = r["kernel"] + ("" if r["tiled"] else " (untiled)")
        lines.append(f"| {name} | {r['dtype']} | {r['registers']} | {r['spills']} | "
                     f"{r['shared_bytes']} | {r['occupancy']:.1%} | {ipf} |")
    return "\n".join(lines)


def add_arguments(parser) -> None:
    """The options of ``python -m ssd_edu gpu-report``."""
    parser.add_argument("--arch", default="sm_90", choices=sorted(ARCHS),
                        help="target architecture (default: sm_90, the H100 / H200)")
    parser.add_argument("--json", metavar="FILE", type=output_file,
                        help="also write the rows as a JSON list")


def run_from_args(args) -> int:
    """Print the table (and write --json); 0 when every tiled kernel meets TARGETS, 1 when not,
    2 when a compiler is missing."""
    import json

    try:
        rows = compile_report(args.arch)
    except (MissingTool, RuntimeError) as exc:
        print(f"gpu-report: {exc}", file=sys.stderr)
        return 2
    print(format_table(rows, args.arch))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    missed = misses(rows)
    print("".join(f"target missed: {line}\n" for line in missed), end="")
    return 1 if missed else 0
