"""The default run (``pytest``) leaves out the tests marked slow, notebook, cuda and report
(setup.cfg's addopts); ``pytest -m ""`` runs them all. tests/test_fast_run.py checks that the
default run still reaches every registered key, VJP, grader, verify row and one notebook."""
import os

import pytest

REAL_GPU = os.environ.get("SSD_EDU_REAL_GPU") == "1"

# CUDA code is tested on the numba simulator unless a real GPU run is asked for explicitly.
if not REAL_GPU:
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """On a real GPU the `cuda` marker (slow only on the simulator) is dropped, so the default
    run (and gpu-check's) keeps those tests; before `-m` deselects anything."""
    if not REAL_GPU:
        return
    for item in items:
        for node in item.listchain():
            node.own_markers[:] = [m for m in node.own_markers if m.name != "cuda"]
