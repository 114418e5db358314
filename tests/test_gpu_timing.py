"""The GPU benchmark's arithmetic (device peaks, bytes, executed flops), its timer on the
simulator, and the device check failing clearly without a GPU."""
from pathlib import Path

import numpy as np
import pytest

from ssd_edu import bench, gpu
from ssd_edu.bench import gpu_check as check, gpu_timing as timing
from ssd_edu.testing import make_inputs

H200 = timing.DeviceSpec("H200-like", (9, 0), 132, 1.98e9, 3.2e9, 6144)


def test_peaks_from_device_properties():
    p = timing.peaks(H200)
    # 132 SMs x 1.98 GHz x 128 float32 FMA units x 2 flops = 66.9 TFLOP/s
    assert p["float32"] == pytest.approx(2 * 132 * 1.98e9 * 128)
    assert p["float64"] == pytest.approx(p["float32"] / 2)      # 64 float64 units on sm_90
    # double data rate: 2 x 3.2 GHz x 6144 bits / 8 = 4.9 TB/s
    assert p["bandwidth"] == pytest.approx(2 * 3.2e9 * 6144 / 8)
    consumer = timing.peaks(H200._replace(cc=(8, 9)))
    assert consumer["float64"] == pytest.approx(consumer["float32"] / 64)
    assert timing.peaks(H200._replace(cc=(1, 0)))["float32"] is None


def test_bytes_moved_counts_every_input_and_output_once():
    # scalar: x, y (T P each), a (T), B, C (T N each), h0, h (N P each)
    assert timing.bytes_moved("scan", "scalar", 10, 3, 2, 4, 8) == 4 * 8 * (
        2 * 10 * 2 + 10 + 2 * 10 * 3 + 2 * 3 * 2)
    assert (timing.bytes_moved("scan", "diagonal", 10, 3, 2, 1, 4)
            - timing.bytes_moved("scan", "scalar", 10, 3, 2, 1, 4)) == 4 * 10 * 2


@pytest.mark.parametrize("form", ["scan", "attention", "chunked"])
@pytest.mark.parametrize("shape", [(64, 16, 16), (2048, 64, 64), (100, 17, 5)])
def test_executed_flops_cover_the_useful_ones(form, shape):
    T, N, P = shape
    executed = timing.executed_flops(form, "scalar", T, N, P, 2, 16, 64)
    useful = 2 * bench.flop_count(form, T, N, P, 64)
    assert executed >= useful
    if shape == (2048, 64, 64) and form != "scan":
        # whole tiles and whole channel blocks: the padding costs little
        assert executed <= 1.6 * useful


def test_executed_flops_attention_counts_the_lower_triangle_of_tiles():
    # T = 32, tile 16: tile pairs (0,0), (1,0), (1,1) = 3; N = P = 16, one channel block
    pairs = 3 * (2 * 16 * 16 * 16 + 2 * 16 * 16 * 16)
    states = 2 * 32 * 16 * 16 + 2 * 1 * 16 * 16
    entering = 2 * 32 * 16 * 16                    # delta_t C_t^T h_{-1}
    assert timing.executed_flops("attention", "scalar", 32, 16, 16, 1, 16) == (
        states + pairs + entering)
    assert timing.executed_flops("attention", "scalar", 32, 16, 16, 1, 16,
                                 initial_state=False) == states + pairs


@pytest.mark.skipif(not gpu.cuda_available(), reason="no CUDA device and no CUDA simulator")
def test_time_kernels_and_time_cuda_run():
    d = make_inputs("diagonal", 9, N=3, P=2, seed=1)
    with gpu.tile_size(4):
        res = timing.time_kernels("diagonal", "chunked", d["x"], d["a"], d["B"], d["C"],
                                  initial_state=d["initial_state"], chunk_size=4, repeats=2)
        assert len(res["kernel_s"]) == 2 and all(s > 0 for s in res["kernel_s"])
        assert res["host_s"] > 0 and res["d2h_s"] > 0
        assert res["simulator"] == gpu.simulator_enabled()
        out = timing.time_cuda(gpu.scalar_scan, (d["x"], d["a"][:, 0], d["B"], d["C"]),
                               {"initial_state": d["initial_state"]}, repeats=1)
        assert out["transfer_s"] == pytest.approx(out["h2d_s"] + out["d2h_s"])
        with pytest.raises(ValueError, match="repeats"):
            timing.time_kernels("scalar", "scan", d["x"], d["a"][:, 0], d["B"], d["C"],
                                repeats=0)


def test_gpu_check_refuses_clearly_without_a_gpu(tmp_path, capsys):
    if check.why_not() is None:
        pytest.skip("a real GPU is here: the check would run")
    assert check.run_check(str(tmp_path / "out")) == 2
    assert "no NVIDIA GPU can run here" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_gpu_check_refuses_without_its_tests(tmp_path, capsys, monkeypatch):
    """A regular install has no tests/: the check says so and runs nothing (it ran pytest on
    no files, collecting whatever folder the user was in)."""
    monkeypatch.setattr(check, "why_not", lambda: None)
    empty = tmp_path / "site-packages" / "tests"
    assert check.run_check(str(tmp_path / "out"), empty) == 2
    assert "no GPU tests (test_gpu*.py)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    here = Path(__file__).parent
    assert check._gpu_tests(here)[1] is None and check._gpu_tests(here)[0]


def test_gpu_check_report_text():
    result = {"tests": {"returncode": 0, "seconds": 12.0, "last_line": "70 passed"},
              "sanitizer": {"racecheck": {"returncode": 0, "seconds": 30.0,
                                          "last_line": "0 hazards"}},
              "bench": {"device": H200._asdict(), "peaks": timing.peaks(H200),
                        "workload": {"T": 2048},
                        "rows": [{"name": "cuda.scalar.scan", "dtype": "float32",
                                  "kernel_s": 1e-3, "host_s": 2e-3, "d2h_s": 5e-4,
                                  "useful_flops": 2e9, "executed_flops": 3e9, "bytes": 1e8,
                                  "flops_per_s": 2e12, "bytes_per_s": 1e11,
                                  "of_peak_flops": 0.03, "of_peak_bandwidth": 0.02}]},
              "notes": ["compute-sanitizer memcheck not run"]}
    text = check._markdown(result)
    assert "| cuda.scalar.scan | float32 | 1.000 | 2.00 | 0.50 | 2000.0 | 3.0 | 100.0 | 2.0 " \
           "| 1.50 |" in text
    assert "H200-like (sm_90, 132 SMs)" in text and "racecheck: exit 0" in text
    assert "70 passed" in text and "memcheck not run" in text


@pytest.mark.skipif(not gpu.simulator_enabled(), reason="on a GPU the peaks are real")
def test_no_device_peaks_on_the_simulator():
    assert timing.device_peaks() == {}
    with pytest.raises(RuntimeError, match="real GPU"):
        timing.device_spec()
