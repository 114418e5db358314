"""The verify checks: each passes on the real data and fails on a planted counterexample.

Timing checks are never asserted to pass here (house rule: no timing assertions in tests);
their decision functions are tested on synthetic timings instead.
"""
import json
from fractions import Fraction

import numpy as np
import pytest

from ssd_edu import exact, structure, theorems as th
from ssd_edu.__main__ import main
from ssd_edu.reference import diagonal_kernel, one_ss_mask

TIMED = {"cost-T", "cost-NP"}
STRUCTURE_IDS = ["single-mask", "single-mask-underflow", "rank-vs-ssrank", "remark-4.1-example",
                 "richer-needs-zero", "cost-T", "cost-NP", "lemma-4.1", "prop-4.2",
                 "thm-4.1-necessity", "thm-4.1-sufficiency", "thm-4.1-rejection",
                 "thm-4.1-exhaustive", "woerdeman", "prop-5.1", "softmax-exact",
                 "softmax-numerical"]


def test_every_result_has_a_check():
    assert set(STRUCTURE_IDS) <= set(th.CHECKS)
    for c in th.CHECKS.values():
        assert c.statement and c.reference


@pytest.mark.parametrize("check_id", [i for i in STRUCTURE_IDS if i not in TIMED])
def test_check_passes_in_quick_mode(check_id):
    rec = th.run_check(check_id)
    assert rec.passed, rec.detail
    assert np.isfinite(rec.measured) and np.isfinite(rec.threshold)


# ---- planted counterexamples: every decision function can fail -------------------------------

def test_single_mask_reverse_rescaling_fails():
    rng = np.random.default_rng(0)
    a, B, C = rng.uniform(0.3, 0.99, (37, 2)), rng.standard_normal((37, 2)), \
        rng.standard_normal((37, 2))
    assert th.case_single_mask(a, B, C)["passed"]

    def reversed_rewrite(a, B, C):  # the wrong direction: C / p, B * p
        Cp, Bp = th.ref.diagonal_single_mask(a, B, C)
        return Cp / np.cumprod(np.vstack([np.ones((1, 2)), a[1:]]), 0) ** 2, \
            Bp * np.cumprod(np.vstack([np.ones((1, 2)), a[1:]]), 0) ** 2
    assert not th.case_single_mask(a, B, C, rewrite=reversed_rewrite)["passed"]


def test_underflow_demo_needs_underflow():
    T = 1200
    ones = np.ones((T, 1))
    assert th.case_underflow(np.full((T, 1), 0.5), ones, ones)["passed"]
    out = th.case_underflow(np.full((T, 1), 0.999), ones, ones)  # no underflow: no NaN
    assert not out["passed"] and out["measured"] == 0


def test_rank_vs_ssrank_planted():
    rng = np.random.default_rng(1)
    a = rng.uniform(0.6, 1.0, (24, 3))
    M = diagonal_kernel(a, rng.standard_normal((24, 3)), rng.standard_normal((24, 3)))
    assert th.case_rank_vs_ssrank(M, 3)["passed"]
    assert not th.case_rank_vs_ssrank(M, 2)["passed"]
    noisy = M + np.tril(1e-3 * rng.standard_normal((24, 24)))
    assert not th.case_rank_vs_ssrank(noisy, 3)["passed"]


def test_richer_example_needs_the_zero_decays():
    M = exact.diagonal_kernel(th.REMARK_41_A, np.ones((4, 2), int), np.ones((4, 2), int))
    assert th.case_richer_example(M, 2)["passed"]
    eps = Fraction(1, 1000)
    a = [[eps if x == 0 else 1 for x in row] for row in th.REMARK_41_A]
    fine = exact.diagonal_kernel(a, np.ones((4, 2), int), np.ones((4, 2), int))
    assert not th.case_richer_example(fine, 2)["passed"]  # fine: nu = 2, dual exists


def test_fine_nu_fails_on_the_zero_decay_example():
    M = np.array(th.REMARK_41_M, float)
    assert not th.case_fine_nu(M, 2)["passed"]
    assert th.case_fine_nu(M, 3)["passed"]


def test_slope_decisions():
    Ts = np.array([200, 400, 800, 1600])
    assert th.case_slope(Ts, 1e-6 * Ts, th.SLOPE_LINEAR)["passed"]
    assert not th.case_slope(Ts, 1e-9 * Ts**2, th.SLOPE_LINEAR)["passed"]
    assert th.case_slope(Ts, 1e-9 * Ts**2, th.SLOPE_QUADRATIC)["passed"]
    assert not th.case_slope(Ts, 1e-6 * Ts, th.SLOPE_QUADRATIC)["passed"]
    assert th.loglog_slope(Ts, Ts**1.5) == pytest.approx(1.5)
    v = np.array([32, 64, 128, 256])
    assert th.case_marginal_slope(v, 1e-3 + 1e-5 * v, 4, 1e-3 + 4e-5, th.SLOPE_LINEAR)["passed"]
    assert not th.case_marginal_slope(v, 1e-3 + 1e-6 * v**2, 4, 1e-3 + 1.6e-5,
                                      th.SLOPE_LINEAR)["passed"]
    assert not th.case_marginal_slope(v, np.full(4, 1e-3), 4, 2e-3, th.SLOPE_LINEAR)["passed"]


def test_best_times_takes_the_minimum():
    calls = []
    out = th.best_times([lambda: calls.append(1)], 4, clock=iter(range(100)).__next__)
    assert len(calls) == 4 and out == [1]


def test_lemma_41_planted():
    a = np.array([0.0, 0.5, 0.8, 0.0, 0.9, 0.7, 0.0, 0.6])
    assert th.case_lemma_41(a)["passed"]
    L = one_ss_mask(a)
    L[5, 2] = 1e-3  # a crossing entry: the split at 3 disappears
    assert not th.case_lemma_41(a, L)["passed"]
    L = one_ss_mask(a)
    L[4, 3] = 0.0  # a zero inside a block: not fine
    assert not th.case_lemma_41(a, L)["passed"]


def test_fine_dual_planted():
    rng = np.random.default_rng(2)
    M = th.planted_kernel(rng, 32, 4, width=2, low=0.9, high=1.0)
    assert th.case_fine_dual(M, 2, 4)["passed"]
    assert not th.case_fine_dual(M, 3, 4)["passed"]
    noisy = M + np.tril(1e-4 * rng.standard_normal((32, 32)))
    assert not th.case_fine_dual(noisy, 2, 4)["passed"]


def test_theorem_41_decisions_planted():
    rng = np.random.default_rng(3)
    M = th.planted_kernel(rng, 48, 2, cuts=(16, 30))
    assert th.case_thm41_necessity(M, 2, [16, 30])["passed"]
    assert not th.case_thm41_necessity(M, 2, [16])["passed"]          # wrong splits
    assert not th.case_thm41_necessity(M, 1, [16, 30])["passed"]      # nu 2 > N = 1
    assert th.case_thm41_sufficiency(M, 2)["passed"]
    assert not th.case_thm41_sufficiency(M, 1)["passed"]
    assert not th.case_thm41_reject(M, 2)["passed"]                   # it has a dual
    assert th.case_thm41_reject(M, 1, (0, 16))["passed"]
    assert not th.case_thm41_reject(M, 1, (30, 48))["passed"]         # names the first block


def test_enumeration_counts_are_checked():
    assert th.case_enumeration(exact.lower_01_matrices(3))["passed"]
    wrong = dict(th.ENUM5_WIDTH)
    out = th.case_enumeration(exact.lower_01_matrices(3), expected_width=wrong)
    assert not out["passed"] and out["measured"] >= 1
    # a corrupted audit is caught: pretend every completion is wrong
    orig = exact.audit

    def broken(M):
        r = orig(M)
        r["problems"].append("planted")
        return r
    exact.audit = broken
    try:
        assert not th.case_enumeration(exact.lower_01_matrices(2), float_every=0)["passed"]
    finally:
        exact.audit = orig


def test_woerdeman_trap_is_caught():
    def trap_nu(M):  # the Sec. 2.6 trap: rank M[t-1:, :t] instead of rank M[t:, :t]
        A = np.asarray(M, dtype=object)
        T = len(M)
        return sum(exact.rank(A[t:, : t + 1]) - (exact.rank(A[t - 1:, :t]) if t else 0)
                   for t in range(T))
    M = np.eye(6, dtype=int)
    M[-1, 0] = 1
    assert th.case_woerdeman(M.tolist())["passed"]
    assert not th.case_woerdeman(M.tolist(), nu_fn=trap_nu)["passed"]


def test_prop_51_planted():
    assert th.case_prop51(th.corner_matrix(6).astype(int).tolist())["passed"]
    assert th.case_prop51(th.corner_matrix(20), exact_arith=False)["passed"]
    shifted = np.eye(6)
    shifted[-1, 1] = 1.0  # I + E_{T-1,1}: splits at t = 1
    assert not th.case_prop51(shifted.astype(int).tolist())["passed"]
    assert not th.case_prop51(shifted, exact_arith=False)["passed"]
    a, B, C = th.prop51_diagonal_ssm(7)
    assert np.array_equal(diagonal_kernel(a, B, C), th.corner_matrix(7))


def test_softmax_decisions_planted():
    assert th.case_softmax_exact(th.softmax.power_kernel(7))["passed"]
    assert not th.case_softmax_exact(np.tril(np.ones((7, 7), int)).tolist())["passed"]
    Ts = (16, 64, 128)
    assert th.case_softmax_growth(Ts, {"d=4": [8, 32, 64]})["passed"]
    assert not th.case_softmax_growth(Ts, {"d=4": [8, 32, 64], "d=1": [8, 14, 16]})["passed"]


def test_a_failing_check_is_reported_not_raised():
    @th.check("planted-failure", "raises on purpose", "none")
    def _boom(full):
        raise structure.NoDualError("planted")
    try:
        rec = th.run_check("planted-failure")
        assert not rec.passed and "NoDualError: planted" in rec.detail
    finally:
        del th.CHECKS["planted-failure"]


# ---- the command line ------------------------------------------------------------------------

def test_verify_cli_json(tmp_path, capsys):
    ids = ["remark-4.1-example", "lemma-4.1", "softmax-exact", "woerdeman"]
    path = tmp_path / "out.json"
    assert main(["verify", "--only", *ids, "--json", str(path)]) == 0
    data = json.loads(path.read_text())
    assert data["mode"] == "quick" and sorted(r["id"] for r in data["records"]) == sorted(ids)
    assert all(r["passed"] for r in data["records"])
    out = capsys.readouterr().out
    assert "4 passed, 0 failed" in out and "remark-4.1-example" in out


def test_verify_cli_fails_on_a_failing_check(tmp_path):
    th.check("planted-fail", "always fails", "none")(
        lambda full: dict(measured=1.0, threshold=0.0, passed=False))
    try:
        assert main(["verify", "--only", "planted-fail"]) == 1
    finally:
        del th.CHECKS["planted-fail"]
    assert main(["verify", "--only", "no-such-check"]) == 2


def test_timed_checks_produce_records(tmp_path):
    # the cost checks run and report finite slopes; whether they pass is machine-dependent
    path = tmp_path / "cost.json"
    main(["verify", "--only", "cost-NP", "--json", str(path)])
    rec = json.loads(path.read_text())["records"][0]
    assert rec["id"] == "cost-NP" and np.isfinite(rec["measured"]) and "slope" in rec["detail"]
