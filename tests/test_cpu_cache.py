"""Numba's disk cache never serves stale machine code (issue 10, item 9).

A cached kernel inlines helpers of other files (``_jit.decay`` into ``scan._scan_kernel``);
Numba alone stamps the cache with the kernel's own file. In a temporary copy of the package
the test edits the helper and checks, in fresh processes, that the kernel's result follows
the edit; the planted defect (the package's locators not installed) shows the same check
fails with Numba's default stamp.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ssd_edu

CHILD = """
import numpy as np
import ssd_edu
from ssd_edu.cpu import scan
x = np.arange(12.0).reshape(4, 3) / 10
a = np.array([0.5, -0.25, 1.0, 0.75])
B = np.ones((4, 2))
C = np.full((4, 2), 0.5)
y, h = ssd_edu.cpu.scalar_scan(x, a, B, C)
y0, h0 = ssd_edu.oracle("scalar")(x, a * {factor}, B, C)
stats = scan._scan_kernel.stats
print(int(np.allclose(y, y0) and np.allclose(h, h0)), int(sum(stats.cache_hits.values())))
"""

DECAY = "return lambda a, t: a[t]\n"


def _copy_package(tmp: Path) -> Path:
    src = Path(ssd_edu.__file__).parent
    shutil.copytree(src, tmp / "ssd_edu", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp / "ssd_edu"


def _run(tmp: Path, factor: str):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = str(tmp)
    out = subprocess.run([sys.executable, "-c", CHILD.format(factor=factor)], cwd=tmp, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    agrees, hits = out.stdout.split()
    return agrees == "1", int(hits)


def _edit(path: Path, old: str, new: str):
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    path.write_text(text.replace(old, new))


def _edit_helper_and_rerun(tmp: Path):
    """(first run agrees, second run loads from cache, after the edit agrees with a * 0.5)."""
    jit = tmp / "ssd_edu" / "cpu" / "_jit.py"
    first = _run(tmp, "1")
    cached = _run(tmp, "1")
    _edit(jit, DECAY, "return lambda a, t: a[t] * 0.5\n")
    edited = _run(tmp, "0.5")
    return first, cached, edited


@pytest.mark.slow          # compiles the scan kernel afresh, twice
def test_editing_an_inlined_helper_recompiles_the_kernel(tmp_path):
    _copy_package(tmp_path)
    first, cached, edited = _edit_helper_and_rerun(tmp_path)
    assert first == (True, 0)                 # compiled, right
    assert cached == (True, 1)                # loaded from the disk cache, right
    assert edited == (True, 0)                # the helper changed: compiled again, new result


@pytest.mark.slow
def test_planted_default_numba_stamp_serves_stale_code(tmp_path):
    """Without the package's locators (Numba's own stamp: the kernel's file only), the edit
    of the helper is not seen: the cached kernel still computes with the old decay."""
    pkg = _copy_package(tmp_path)
    _edit(pkg / "cpu" / "_jit.py", "_cache.install()", "pass")
    first, cached, edited = _edit_helper_and_rerun(tmp_path)
    assert first == (True, 0) and cached == (True, 1)
    assert edited == (False, 1)               # stale: loaded from cache, old result
