"""Every CPU kernel also runs interpreted: with NUMBA_DISABLE_JIT=1 (set before numba is imported,
hence a fresh process) each numba.* and plain.* form, and each numba.* VJP, is plain Python and
must give the recurrence's answer (a debugger and coverage can then step through it)."""
import os
import subprocess
import sys
from pathlib import Path

import ssd_edu
from ssd_edu.testing import keys

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import numpy as np
import ssd_edu
import ssd_edu.cpu.plain
from ssd_edu.testing import (GRADIENT_TOLERANCES, assert_close, check_against_oracle, keys,
                             make_inputs)

assert ssd_edu.cpu.plain._scan.__class__.__name__ == "function", "the jit is not disabled"
for key in keys("numba") + keys("plain"):
    family = key.split(".")[1]
    for dtype in (np.float64, np.float32):
        d = make_inputs(family, 5, 2, 3, batch=(2,), regime="zero", dtype=dtype, seed=1)
        check_against_oracle(key, d, chunk_size=2, label="NUMBA_DISABLE_JIT=1")
    print("ok", key)
for key in sorted(k for k in ssd_edu.VJPS if k.startswith("numba.")):
    family = key.split(".")[1]
    d = make_inputs(family, 5, 2, 3, batch=(2,), regime="negative", seed=2)
    rng = np.random.default_rng(3)
    dy, dh = rng.standard_normal(d["x"].shape), rng.standard_normal(d["initial_state"].shape)
    args = (d["x"], d["a"], d["B"], d["C"], dy, dh)
    extra = {"chunk_size": 2} if key.endswith("chunked") else {}
    got = ssd_edu.VJPS[key](*args, initial_state=d["initial_state"], **extra)
    want = ssd_edu.VJPS[f"numpy.{family}.scan"](*args, initial_state=d["initial_state"])
    for name, w, g in zip(want._fields, want, got):
        assert_close(f"{key} {name} NUMBA_DISABLE_JIT=1", w, g,
                     GRADIENT_TOLERANCES["across_forms"])
    print("ok", key, "vjp")
"""


def test_every_cpu_kernel_runs_with_the_jit_disabled():
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    done = set(run.stdout.split("\n"))
    expected = {f"ok {k}" for k in keys("numba") + keys("plain")}
    expected |= {f"ok {k} vjp" for k in ssd_edu.VJPS if k.startswith("numba.")}
    assert expected <= done and len(expected) == 6 + 6 + 6, run.stdout
