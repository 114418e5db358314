"""No silent minutes: a compiled quadratic form far beyond a teaching-size call is refused before
any work, with the time it would take and the form to use instead (SSD_EDU_MAX_QUADRATIC_WORK)."""
import time

import numpy as np
import pytest

import ssd_edu
from ssd_edu.testing import make_inputs
from ssd_edu.validation import QuadraticWorkError

#: the compiled quadratic forms: attention (Q = T) and chunked with a chunk as long as T
QUADRATIC = [(f"{backend}.{family}.{form}", extra)
             for backend in ("numba", "plain") for family in ("scalar", "diagonal")
             for form, extra in (("attention", {}), ("chunked", {"chunk_size": 10**9}))]


@pytest.mark.parametrize("key, extra", QUADRATIC, ids=[k for k, _ in QUADRATIC])
def test_a_huge_quadratic_call_is_refused_at_once(key, extra):
    family = key.split(".")[1]
    d = make_inputs(family, 100_000, N=8, P=8, seed=0)          # T^2 (N + P) = 1.6e11
    start = time.perf_counter()
    with pytest.raises(QuadraticWorkError) as exc:
        ssd_edu.IMPLEMENTATIONS[key](**d, **extra)
    assert time.perf_counter() - start < 30                    # no kernel ran (compiling aside)
    message = str(exc.value)
    for part in ("T = 100000", "multiply-adds", "s at this machine's matmul rate",
                 "SSD_EDU_MAX_QUADRATIC_WORK", f"{family}_scan", "chunk_size"):
        assert part in message, message


@pytest.mark.parametrize("key, extra", QUADRATIC, ids=[k for k, _ in QUADRATIC])
def test_the_limit_is_the_environment_s(key, extra, monkeypatch):
    family = key.split(".")[1]
    d = make_inputs(family, 16, N=2, P=3, batch=(2,), seed=1)   # 2 x 16 x 16 x 5 = 2560
    monkeypatch.setenv("SSD_EDU_MAX_QUADRATIC_WORK", "2559")
    with pytest.raises(QuadraticWorkError, match="2 sequence"):
        ssd_edu.IMPLEMENTATIONS[key](**d, **extra)
    monkeypatch.setenv("SSD_EDU_MAX_QUADRATIC_WORK", "2560")
    y, h = ssd_edu.IMPLEMENTATIONS[key](**d, **extra)
    y0, h0 = ssd_edu.oracle(family)(**d)
    np.testing.assert_allclose(y, y0, rtol=1e-10, atol=1e-12)


def test_the_default_chunk_and_the_scan_are_never_quadratic(monkeypatch):
    monkeypatch.setenv("SSD_EDU_MAX_QUADRATIC_WORK", str(64 * 64 * 5))
    d = make_inputs("scalar", 64, N=2, P=3, seed=2)
    ssd_edu.IMPLEMENTATIONS["numba.scalar.chunked"](**d, chunk_size=16)   # 64 x 16 x 5: fine
    ssd_edu.IMPLEMENTATIONS["numba.scalar.scan"](**d)


def test_a_bad_limit_is_named(monkeypatch):
    monkeypatch.setenv("SSD_EDU_MAX_QUADRATIC_WORK", "lots")
    d = make_inputs("scalar", 8, N=2, P=3, seed=3)
    with pytest.raises(ValueError, match="SSD_EDU_MAX_QUADRATIC_WORK must be a number of "
                                         "multiply-adds"):
        ssd_edu.IMPLEMENTATIONS["numba.scalar.attention"](**d)
