"""``import ssd_edu`` is light: NumPy and the reference only; Numba, numba.cuda, matplotlib and
SciPy load when something needs them. Each check runs in a fresh interpreter."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ssd_edu
from ssd_edu import registry

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numba", "numba.cuda", "matplotlib", "scipy")


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (the checkout on the path); its stdout."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


LOADED = f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"


def test_import_loads_no_backend_and_lists_every_key():
    out = run_python(f"""
        import sys
        import ssd_edu
        {LOADED}
        print(sorted(ssd_edu.IMPLEMENTATIONS))
        print(sorted(ssd_edu.VJPS))
        {LOADED}
    """).splitlines()
    assert out[0] == "[]", f"import ssd_edu loaded {out[0]}"
    keys, vjp_keys = eval(out[1]), eval(out[2])
    for backend in ("numpy", "numba", "cuda"):
        for family in ssd_edu.FAMILIES:
            for form in ("scan", "attention", "chunked"):
                assert f"{backend}.{family}.{form}" in keys
                assert f"{backend}.{family}.{form}" in vjp_keys
    assert "numpy.scalar.associative_scan" in keys
    assert out[3] == "[]", f"listing the registries loaded {out[3]}"


def test_a_numba_entry_loads_its_backend_on_first_use():
    out = run_python(f"""
        import sys
        import numpy as np
        import ssd_edu
        fn = ssd_edu.IMPLEMENTATIONS["numba.scalar.scan"]
        print(fn.__module__, "numba" in sys.modules)
        y, h = fn(np.ones((3, 1)), np.ones(3), np.ones((3, 1)), np.ones((3, 1)))
        print(y.ravel().tolist())
    """).splitlines()
    assert out == ["ssd_edu.cpu.scan True", "[1.0, 2.0, 3.0]"]


def test_graders_bridges_and_verify_numpy_rows_load_no_numba():
    out = run_python(f"""
        import sys
        import numpy as np
        from ssd_edu.exercises import check_diagonal_scan, check_one_ss_mask, solutions
        assert check_diagonal_scan(solutions.diagonal_scan).passed
        assert check_one_ss_mask(solutions.one_ss_mask).passed
        from ssd_edu.exercises import check_scalar_scan_backward
        assert check_scalar_scan_backward(solutions.scalar_scan_backward).passed
        from ssd_edu.bridges import fla
        q = k = np.ones((1, 4, 2, 3)); v = np.ones((1, 4, 2, 2)); g = np.full((1, 4, 2), -0.1)
        o, _ = fla.simple_gla(q, k, v, g, backend="numpy", form="scan")
        assert o.shape == (1, 4, 2, 2)
        from ssd_edu.__main__ import main
        assert main(["verify", "--only", "scalar-ssd", "realize"]) == 0
        {LOADED}
    """).splitlines()
    assert out[-1] == "[]", f"the NumPy-only paths loaded {out[-1]}"


def test_missing_backends_tells_the_truth_on_access():
    """plain and cuda probe when asked; the registry lists no key of a backend whose package
    is absent (numba blocked: every numba, plain and cuda key disappears, with the reason)."""
    out = run_python("""
        import sys
        sys.modules["numba"] = None
        import ssd_edu
        print(sorted({k.split(".")[0] for k in ssd_edu.IMPLEMENTATIONS}))
        print("numba" in ssd_edu.MISSING_BACKENDS, "cuda" in ssd_edu.MISSING_BACKENDS)
        print(ssd_edu.MISSING_BACKENDS["numba"])
    """).splitlines()
    assert out[:2] == ["['numpy']", "True True"]
    assert "pip install numba" in out[2]


def test_the_static_table_names_what_the_backends_define():
    """The keys come from a table, not from the modules: after loading, every listed key has
    its function and every ``{family}_{form}`` a backend module defines is listed."""
    for backend, (forms_module, vjp_module, _) in registry.BACKEND_MODULES.items():
        if backend in ssd_edu.MISSING_BACKENDS and backend != "cuda":
            continue
        for module_name, reg, suffix in ((forms_module, ssd_edu.IMPLEMENTATIONS, ""),
                                         (vjp_module, ssd_edu.VJPS, "_vjp")):
            if module_name is None:
                continue
            module = __import__(module_name, fromlist=["_"])
            defined = {f"{backend}.{family}.{form}" for family in registry.FAMILIES
                       for form in registry.FORMS
                       if callable(getattr(module, f"{family}_{form}{suffix}", None))}
            listed = {k for k in reg if k.startswith(backend + ".")}
            assert listed == defined, (module_name, listed ^ defined)
            for key in listed:
                assert reg[key] is getattr(module, f"{key.split('.')[1]}_{key.split('.')[2]}"
                                                   f"{suffix}")


def test_registry_entries_can_be_set_and_restored(monkeypatch):
    key = "numpy.scalar.scan"
    original = ssd_edu.IMPLEMENTATIONS[key]
    with monkeypatch.context() as m:
        m.setitem(ssd_edu.IMPLEMENTATIONS, key, len)
        assert ssd_edu.IMPLEMENTATIONS[key] is len
        m.setitem(ssd_edu.IMPLEMENTATIONS, "numpy.scalar.planted", len)
        assert "numpy.scalar.planted" in ssd_edu.IMPLEMENTATIONS
    assert ssd_edu.IMPLEMENTATIONS[key] is original
    assert "numpy.scalar.planted" not in ssd_edu.IMPLEMENTATIONS
    with pytest.raises(KeyError):
        ssd_edu.IMPLEMENTATIONS["numpy.scalar.nothing"]
