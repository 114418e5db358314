"""The compile report (``python -m ssd_edu gpu-report``): its arithmetic, and the targets.

The report compiles every kernel for sm_90 with NVIDIA's compiler wheels (the ``cuda-tools``
extra) in a process without the CUDA simulator; no GPU is needed. The unit tests of the
occupancy and hot-loop arithmetic need nothing at all.
"""
import json
import os
import subprocess
import sys

import pytest

from ssd_edu.bench import gpu_report as report

SM90 = report.ARCHS["sm_90"]


def test_occupancy_from_sm90_limits():
    # 256 threads = 8 warps; 32 registers: 8 blocks of 8 warps = 64 warps, 100%
    assert report.occupancy(SM90, 32, 0, 256) == 1.0
    # 128 registers: 128 * 32 = 4096 per warp, 16 warps by registers: 2 blocks, 25%
    assert report.occupancy(SM90, 128, 0, 256) == 0.25
    # 129 registers round up to 136 per thread: 15 warps by registers, 1 block, 12.5%
    assert report.occupancy(SM90, 129, 0, 256) == 0.125
    # shared memory: (100 KiB + 1 KiB reserved) per block, 2 blocks in 228 KiB
    assert report.occupancy(SM90, 32, 100 * 1024, 256) == 0.25
    # blocks of 32 threads hit the 32-blocks-per-SM limit: 32 warps, 50%
    assert report.occupancy(SM90, 32, 0, 32) == 0.5


SASS = """
        /*0000*/                   MOV R1, c[0x0][0x28] ;
.L_x_0:
        /*0010*/                   LDS R2, [R3] ;
        /*0020*/                   FFMA R4, R2, R2, R4 ;
.L_x_1:
        /*0030*/                   LDS R5, [R6] ;
        /*0040*/                   FFMA R4, R5, R5, R4 ;
        /*0050*/                   FFMA R4, R5, R5, R4 ;
        /*0060*/              @P0 BRA `(.L_x_1) ;
        /*0070*/              @P1 BRA `(.L_x_0) ;
.L_x_2:
        /*0080*/                   DFMA R8, R8, R8, R8 ;
        /*0090*/                   IADD3 R9, R9, 0x1, RZ ;
        /*00a0*/                   IADD3 R9, R9, 0x1, RZ ;
        /*00b0*/              @P2 BRA `(.L_x_2) ;
        /*00c0*/                   EXIT ;
"""


def test_hot_loop_is_the_innermost_loop_with_most_fmas():
    loop = report.hot_loop(SASS)
    # innermost loops: .L_x_1 (4 instructions, 2 FFMA) and .L_x_2 (4 instructions, 1 DFMA);
    # the outer loop .L_x_0 holds .L_x_1 and is not innermost
    assert loop == {"instructions": 4, "fmas": 2, "per_fma": 2.0}
    assert report.hot_loop("        /*0000*/  EXIT ;")["per_fma"] is None


def _row(**kw):
    row = {"kernel": "k", "dtype": "float32", "registers": 64, "spills": 0, "shared_bytes": 0,
           "occupancy": 0.5, "instructions_per_fma": 4.0, "fmas": 16, "tiled": True,
           "threads": 256, "f64_ops": 0}
    row.update(kw)
    return row


@pytest.mark.parametrize("bad", [dict(spills=8), dict(occupancy=0.125),
                                 dict(instructions_per_fma=10.5),
                                 dict(instructions_per_fma=None)])
def test_misses_catch_each_target(bad):
    assert report.misses([_row()]) == []
    assert len(report.misses([_row(**bad)])) == 1
    assert report.misses([_row(tiled=False, **bad)]) == []   # targets are for tiled kernels


def _without_simulator():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["NUMBA_ENABLE_CUDASIM"] = "0"
    return env


def _tools_missing():
    try:
        for tool in ("ptxas", "nvdisasm"):
            report.find_tool(tool)
    except report.MissingTool as exc:
        return str(exc)
    return None


def test_a_missing_disassembler_is_named_as_nvdisasm(monkeypatch):
    """Neither nvdisasm nor cuobjdump: the error names nvdisasm (the wheel to install), not
    the fallback, and says how to install it outside a checkout too."""
    def nowhere(name):
        raise report.MissingTool(f"{name} not found; {report.INSTALL_TOOLS}")
    monkeypatch.setattr(report, "find_tool", nowhere)
    with pytest.raises(report.MissingTool, match="nvdisasm not found") as exc:
        report._disassembler()
    assert "nvidia-cuda-nvdisasm" in str(exc.value)


@pytest.mark.report
@pytest.mark.skipif(_tools_missing() is not None, reason=str(_tools_missing()))
def test_compile_report_meets_the_targets(tmp_path):
    """Every tiled kernel at sm_90: no spills, occupancy >= 25%, <= 10 instructions per FMA;
    float32 kernels have no double-precision operation; the JSON has the documented keys."""
    out = tmp_path / "report.json"
    run = subprocess.run([sys.executable, "-m", "ssd_edu", "gpu-report", "--arch", "sm_90",
                          "--json", str(out)], env=_without_simulator(), capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = json.loads(out.read_text())
    keys = {"kernel", "dtype", "registers", "spills", "shared_bytes", "occupancy",
            "instructions_per_fma"}
    assert rows and all(keys <= set(r) for r in rows)
    assert {r["dtype"] for r in rows} == {"float32", "float64"}
    tiled = [r for r in rows if r["tiled"]]
    assert len(tiled) >= 2 * 8, [r["kernel"] for r in tiled]
    backward = {f"{k} ({fam})" for fam in ("scalar", "diagonal")
                for k in ("scan backward", "attention backward", "chunk links",
                          "state passing both ways")}
    assert backward <= {r["kernel"] for r in rows}          # the VJPs' kernels are read too
    assert report.misses(rows) == [], report.misses(rows)
    assert all(0 < r["occupancy"] <= 1 for r in rows)
    assert not [r["kernel"] for r in rows if r["dtype"] == "float32" and r["f64_ops"]]
    assert "| timing matmul | float32 |" in run.stdout
