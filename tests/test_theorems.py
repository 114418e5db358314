"""The verify checks: each passes on the real data and fails on a planted counterexample."""
import json
from fractions import Fraction

import numpy as np
import pytest

from ssd_edu import exact, softmax, structure, theorems as th
from ssd_edu import reference as ref
from ssd_edu.__main__ import main
from ssd_edu.reference import diagonal_kernel, one_ss_mask
from ssd_edu.theorems import cost, counting

ALL_IDS = ["scalar-ssd", "diagonal-ssd", "single-mask", "single-mask-underflow",
           "conjugate-pairs", "cost-T", "cost-NP", "claim-ii", "remark-4.4", "rank-vs-ssrank",
           "remark-4.1-example", "richer-needs-zero", "prop-5.1", "lemma-4.1", "prop-4.2",
           "thm-4.1-necessity", "thm-4.1-sufficiency", "thm-4.1-rejection",
           "thm-4.1-exhaustive", "woerdeman", "thm-4.1-general", "invertible-corollary",
           "realize", "softmax-exact", "softmax-numerical", "backward-T"]


def test_every_result_has_a_check():
    assert list(th.CHECKS) == ALL_IDS
    for c in th.CHECKS.values():
        assert c.statement and c.reference and c.section in th.SECTIONS


@pytest.mark.parametrize("check_id", ALL_IDS)
def test_check_passes_in_quick_mode(check_id):
    rec = th.run_check(check_id)
    assert rec.passed, rec.detail
    assert np.isfinite(rec.measured) and np.isfinite(rec.threshold)
    assert rec.summary and rec.icml


# ---- planted counterexamples: every decision function can fail -------------------------------

def test_single_mask_reverse_rescaling_fails():
    rng = np.random.default_rng(0)
    a, B, C = rng.uniform(0.3, 0.99, (37, 2)), rng.standard_normal((37, 2)), \
        rng.standard_normal((37, 2))
    assert th.case_single_mask(a, B, C)["passed"]

    def reversed_rewrite(a, B, C):  # the wrong direction: C / p, B * p
        Cp, Bp = ref.diagonal_single_mask(a, B, C)
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


# ---- the cost rows: counted flops, exact degrees -------------------------------------------

def test_counted_flops_are_those_executed():
    A, B = np.ones((3, 4)), np.ones((4, 5))
    assert th.count_flops(lambda A, B: A @ B, A, B) == 2 * 3 * 4 * 5
    assert th.count_flops(lambda A, B: A * 2.0 + A, A, B) == 2 * 12
    assert th.count_flops(lambda A, B: np.einsum("...ij,jk->...ik", A, B), A, B) == 2 * 60
    assert th.count_flops(lambda A, B: np.einsum("ij,ij->ij", A, A), A, B) == 12
    assert th.count_flops(lambda A, B: np.einsum("ij,ij,ij->", A, A, A), A, B) == 3 * 12
    assert th.count_flops(lambda A, B: np.sum(np.pad(A, 1)), A, B) == 5 * 6  # pad keeps the mark
    with pytest.raises(ValueError, match="explicit"):
        th.einsum_flops("ij,jk", A, B)
    # the scans count 5 T N P forward and 14 T N P backward: bench's flop counts
    from ssd_edu.bench import flop_count
    from ssd_edu.bench.backward import backward_flop_count
    assert th.form_flops("diagonal_scan", 7, 3, 2) == flop_count("scan", 7, 3, 2)
    assert th.vjp_flops("diagonal_scan_vjp", 7, 3, 2) == backward_flop_count("scan", 7, 3, 2)


def test_degree_of_equispaced_counts():
    assert th.degree([5, 10, 15, 20]) == 1
    assert th.degree([3, 12, 27, 48]) == 2
    assert th.degree([1, 8, 27, 64]) is None                   # cubic: 4 points do not decide
    assert th.degree([1, 8, 27, 64, 125]) == 3
    assert th.degree([7, 7, 7]) == 0
    assert th.degree([20, 15, 10, 5]) is None                  # a count that shrinks
    assert th.degree([1, 2, 4, 8]) is None


def _attention_ignoring_q(x, a, B, C, chunk_size=64, initial_state=None):
    """A 'chunked' form that attends over the whole sequence: quadratic in T."""
    return ref.diagonal_attention.__wrapped__(x, a, B, C, initial_state=initial_state)


def _with_mode_pairs(body):
    """``body`` plus an (N, N) product of the keys per step: a count that grows as N^2."""
    def planted(x, a, B, C, *args, **kwargs):
        np.einsum("tn,tm->tnm", B, C)
        return body(x, a, B, C, *args, **kwargs)
    return planted


def _planted_form(monkeypatch, name, body):
    family, _, chunked = counting.FORMS[name]
    monkeypatch.setitem(counting.FORMS, name, (family, body, chunked))


def test_planted_chunked_form_quadratic_in_T(monkeypatch):
    _planted_form(monkeypatch, "diagonal_chunked", _attention_ignoring_q)
    assert "diagonal_chunked: count of degree 2 in T (expected 1)" in _fails("cost-T").detail
    assert "diagonal_chunked: count of degree 2 in T" in _fails("claim-ii").detail


def test_planted_diagonal_form_quadratic_in_N(monkeypatch):
    _planted_form(monkeypatch, "diagonal_chunked",
                  _with_mode_pairs(counting.FORMS["diagonal_chunked"][1]))
    assert "diagonal_chunked: count of degree 2 in N" in _fails("cost-NP").detail
    assert "diagonal_chunked: count of degree 2 in N" in _fails("claim-ii").detail
    assert th.run_check("cost-T").passed                       # T is not where it goes wrong


def test_planted_algorithm1_quadratic_in_N(monkeypatch):
    _planted_form(monkeypatch, "algorithm1", _with_mode_pairs(counting.FORMS["algorithm1"][1]))
    assert "algorithm1: count of degree 2 in N" in _fails("claim-ii").detail


def test_planted_scan_off_the_bench_formula(monkeypatch):
    """A scan that does its update twice is still linear but no longer 5 T N P."""
    body = counting.FORMS["diagonal_scan"][1]

    def twice(x, a, B, C, initial_state=None):
        body(x, a, B, C, initial_state=initial_state)
        return body(x, a, B, C, initial_state=initial_state)
    _planted_form(monkeypatch, "diagonal_scan", twice)
    assert "bench.flop_count" in _fails("cost-NP").detail


def test_planted_cheap_dual(monkeypatch):
    """A dual whose work grew linearly would contradict Remark 4.4: the row fails."""
    monkeypatch.setattr(cost, "dual_work", lambda T: 1000 * T)
    assert "at least x8 expected" in _fails("remark-4.4").detail


def test_dual_work_counts_the_svds():
    with th.counted_svds() as work:
        np.linalg.svd(np.ones((5, 3)))
        np.linalg.norm(np.ones((4, 2)), 2)
        np.linalg.norm(np.ones((4, 2)))                        # Frobenius: no SVD
    assert work[0] == 5 * 3 * 3 + 4 * 2 * 2
    assert np.linalg.svd is not None and "counted" not in np.linalg.svd.__name__


def test_planted_backward_quadratic_in_T(monkeypatch):
    """A chunked VJP that ignores Q (one chunk of T steps) is an attention VJP: it fails."""
    family, body = counting.VJPS["diagonal_chunked_vjp"]
    monkeypatch.setitem(counting.VJPS, "diagonal_chunked_vjp",
                        (family, lambda *args, Q: body(*args, Q=args[0].shape[-2])))
    detail = _fails("backward-T").detail  # the (Q, Q) mask gradients: degree 3 or more in T
    assert "diagonal_chunked_vjp: count of degree" in detail and "in T (expected 1)" in detail


def test_no_row_reads_a_timer(monkeypatch):
    """Every verdict is mathematics: verify runs with every clock of the package disabled (the
    report's own stopwatch, a row's duration, is bound before and is no verdict)."""
    import time
    from ssd_edu.bench import timing

    def timer(*args, **kwargs):
        raise AssertionError("a verify row read a timer")
    for name in ("perf_counter", "process_time", "time", "monotonic", "perf_counter_ns",
                 "process_time_ns"):
        monkeypatch.setattr(time, name, timer)
    for name in ("timed", "best_time", "best_times", "traced_peak", "matmul_rate"):
        monkeypatch.setattr(timing, name, timer)
    records = th.run_checks()
    raised = [r.id for r in records if "timer" in r.detail]
    assert not raised and all(r.passed for r in records), [(r.id, r.detail) for r in records
                                                            if not r.passed]


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
    wrong = dict(th.ENUM_COUNTS[5][0])
    out = th.case_enumeration(exact.lower_01_matrices(3), expected_width=wrong)
    assert not out["passed"] and out["measured"] >= 1
    # a corrupted audit is caught: pretend every completion is wrong
    orig = exact.audit

    def broken(M, complete=True):
        r = orig(M, complete)
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
    assert th.case_softmax_exact(softmax.power_kernel(7))["passed"]
    assert not th.case_softmax_exact(np.tril(np.ones((7, 7), int)).tolist())["passed"]
    Ts = (16, 64, 128)
    assert th.case_softmax_growth(Ts, {"d=4": [8, 32, 64]})["passed"]
    assert not th.case_softmax_growth(Ts, {"d=4": [8, 32, 64], "d=1": [8, 14, 16]})["passed"]
    # the ordinary rank (App. B.5's mistake) is T: more than any semiseparable rank can be
    assert not th.case_softmax_growth(Ts, {"d=4": list(Ts)})["passed"]


def test_a_failing_check_is_reported_not_raised():
    @th.check("planted-failure", "duality", "raises on purpose", "none")
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
    assert "arXiv Remark 4.1 = ICML Remark 3.1" in out and "measured: exactly: nu 3" in out


def test_verify_cli_fails_on_a_failing_check(tmp_path):
    th.check("planted-fail", "duality", "always fails", "none")(
        lambda full: dict(measured=1.0, threshold=0.0, passed=False))
    try:
        assert main(["verify", "--only", "planted-fail"]) == 1
    finally:
        del th.CHECKS["planted-fail"]
    assert main(["verify", "--only", "no-such-check"]) == 2


# ---- planted defects: every verify row fails when what it relies on is wrong ----------------
# Each test swaps a plausible wrong implementation into the module the row reads it from, runs
# the row again and shows that it fails (and names what failed).

def _fails(check_id, full=False):
    rec = th.run_check(check_id, full)
    assert not rec.passed, f"{check_id} passed with a planted defect: {rec.summary}"
    return rec


def _shift_decay(a, axis):
    """a[t - 1] in place of a[t] (a_0 repeated): the off-by-one of a time-shifted decay."""
    first = np.take(a, [0], axis=axis)
    return np.concatenate([first, np.delete(a, -1, axis=axis)], axis=axis)


def test_planted_scalar_attention_with_a_shifted_mask(monkeypatch):
    orig = ref.scalar_attention
    monkeypatch.setattr(ref, "scalar_attention", lambda x, a, B, C, *, initial_state=None:
                        orig(x, _shift_decay(a, -1), B, C, initial_state=initial_state))
    assert "attention" in _fails("scalar-ssd").detail


def test_planted_algorithm1_with_the_decay_one_step_late(monkeypatch):
    # issue 11, defect 2: Algorithm 1 with a[t-1] passed every row before it was in the grid
    orig = ref.diagonal_algorithm1
    monkeypatch.setattr(ref, "diagonal_algorithm1", lambda x, a, B, C, *, initial_state=None:
                        orig(x, _shift_decay(a, -2), B, C, initial_state=initial_state))
    assert "algorithm1" in _fails("diagonal-ssd").detail


def test_planted_single_mask_refusing_a0_zero(monkeypatch):
    # issue 11, defect 4: a rewrite that refuses a_0 = 0 (which never enters M)
    orig = ref.diagonal_single_mask

    def strict(a, B, C):
        if np.any(np.asarray(a) == 0):
            raise ValueError("zero decay")
        return orig(a, B, C)
    monkeypatch.setattr(ref, "diagonal_single_mask", strict)
    _fails("single-mask")


def test_planted_ratio_kernel_underflows(monkeypatch):
    def ratio_kernel(a, B, C):  # p[t] / p[s]: NaN once the products underflow
        p = np.cumprod(np.vstack([np.ones((1, a.shape[-1])), a[1:]]), axis=0)
        with np.errstate(all="ignore"):
            return np.tril(np.einsum("tn,sn->ts", C * p, B / p))
    monkeypatch.setattr(ref, "diagonal_kernel", ratio_kernel)
    assert "direct products" in _fails("single-mask-underflow").detail


def test_planted_structure_tools_refusing_complex(monkeypatch):
    orig = structure.check_lower

    def real_only(M, name="M"):
        if np.iscomplexobj(M):
            raise TypeError(f"{name} has complex dtype")
        return orig(M, name)
    monkeypatch.setattr(structure, "check_lower", real_only)
    assert "TypeError" in _fails("conjugate-pairs").detail


def test_planted_ss_rank_as_ordinary_rank(monkeypatch):
    monkeypatch.setattr(structure, "ss_rank", lambda M, rtol=None: int(np.linalg.matrix_rank(M)))
    _fails("rank-vs-ssrank")


def test_planted_softmax_ordinary_rank(monkeypatch):
    # issue 11, defect 1: App. B.5's own mistake, the ordinary rank in place of ss_rank
    monkeypatch.setattr(softmax, "ss_rank", lambda M, rtol=None: int(np.linalg.matrix_rank(M)))
    rec = _fails("softmax-numerical")
    assert "ceil(T/2)" in rec.detail and "uniform averaging" in rec.detail


def test_planted_exact_ss_rank_as_rank(monkeypatch):
    monkeypatch.setattr(exact, "ss_rank", exact.rank)
    _fails("softmax-exact")


def test_planted_exact_nu_as_ss_rank(monkeypatch):
    monkeypatch.setattr(exact, "nu", exact.ss_rank)
    _fails("remark-4.1-example")
    _fails("prop-5.1")


def test_planted_nu_with_a_loose_tolerance(monkeypatch):
    orig = structure.nu
    monkeypatch.setattr(structure, "nu", lambda M, rtol=None: orig(M, 1e-8))
    assert "eps=1e-09: nu 3" in _fails("richer-needs-zero").detail


def test_planted_mask_built_from_shifted_decays(monkeypatch):
    orig = ref.one_ss_mask
    monkeypatch.setattr(ref, "one_ss_mask", lambda a: orig(_shift_decay(np.asarray(a), -1)))
    _fails("lemma-4.1")


def test_planted_completion_that_completes_nothing(monkeypatch):
    monkeypatch.setattr(structure, "min_rank_completion",
                        lambda M, rtol=None: (structure.check_lower(M)[0], []))
    # the dual builds its blocks' completions with the core (the float32 eps passed on)
    monkeypatch.setattr(structure, "_min_rank_completion", lambda L, eps, rtol: (L.copy(), []))
    _fails("prop-4.2")
    _fails("thm-4.1-sufficiency")


def test_planted_split_points_that_find_nothing(monkeypatch):
    monkeypatch.setattr(structure, "split_points", lambda M, split_tol=None, rtol=None: [])
    _fails("thm-4.1-necessity")


def test_planted_float_dual_with_the_zero_one_step_early(monkeypatch):
    orig = structure.one_ss_dual

    def early(M, N, rtol=None, split_tol=None):
        d = orig(M, N, rtol, split_tol)
        a = np.ones_like(d.a)
        a[np.flatnonzero(d.a == 0) - 1] = 0.0
        return structure.Dual(a, d.Q, d.K, d.error, d.N)
    monkeypatch.setattr(structure, "one_ss_dual", early)
    _fails("thm-4.1-sufficiency")


def test_planted_exact_dual_with_the_zero_one_step_early(monkeypatch):
    # issue 11, defect 3: the exact row must rebuild M from the stacked dual and its mask
    orig = exact.one_ss_dual

    def early(M, N):
        d = orig(M, N)
        a = [Fraction(1)] * len(d.a)
        for t, v in enumerate(d.a):
            if v == 0 and t >= 1:
                a[t - 1] = Fraction(0)
        return structure.Dual(a, d.Q, d.K, d.error, d.N)
    monkeypatch.setattr(exact, "one_ss_dual", early)
    assert "does not rebuild M" in _fails("thm-4.1-exhaustive").detail


def test_planted_verdict_that_always_says_yes(monkeypatch):
    monkeypatch.setattr(structure, "has_one_ss_dual",
                        lambda M, N, rtol=None, split_tol=None:
                        structure.DualCheck(True, "planted", N, [(0, len(M))], [0]))
    _fails("thm-4.1-rejection")


def test_planted_verdict_from_ss_rank(monkeypatch):
    # the plausible wrong belief "N-SS suffices": the nilpotent kernel is 2-SS
    def by_ss_rank(M, N, rtol=None, split_tol=None):
        s = structure.ss_rank(M)
        return structure.DualCheck(s <= N, "planted", N, [(0, len(M))], [s])
    monkeypatch.setattr(structure, "has_one_ss_dual", by_ss_rank)
    assert "nilpotent" in _fails("thm-4.1-general").detail


def test_planted_woerdeman_agreeing_on_a_wrong_value(monkeypatch):
    # issue 11, defect 5: nu and Woerdeman agree because both are wrong; the lower bound
    # (new columns by solving) and the known widths catch it, exactly and in floating point
    monkeypatch.setattr(exact, "nu", exact.ss_rank)
    monkeypatch.setattr(exact, "min_completion_rank", exact.ss_rank)
    assert "below the rank" in _fails("woerdeman").detail
    monkeypatch.undo()
    monkeypatch.setattr(structure, "nu", structure.ss_rank)
    monkeypatch.setattr(structure, "min_completion_rank", structure.ss_rank)
    assert "known" in _fails("woerdeman").detail


def test_planted_invertible_rewrite_in_the_wrong_direction(monkeypatch):
    orig = structure.general_single_mask

    def reversed_rewrite(A, B, C):
        Cp, Bp = orig(A, B, C)
        return Bp, Cp  # C' and B' exchanged
    monkeypatch.setattr(structure, "general_single_mask", reversed_rewrite)
    _fails("invertible-corollary")


def test_planted_realization_with_transposed_transitions(monkeypatch):
    orig = structure.realize
    monkeypatch.setattr(structure, "realize", lambda M, N, rtol=None: (
        lambda A, B, C: (np.swapaxes(A, -1, -2), B, C))(*orig(M, N, rtol)))
    _fails("realize")


# ---- the report ----------------------------------------------------------------------------

def test_icml_numbering():
    assert th.icml_reference("Thm 4.1 (<=); Remark 4.4") == "Thm 3.1 (<=); Remark 3.4"
    assert th.icml_reference("Sec. 4.2-4.3; App. B.4") == "Sec. 3.2-3.3; App. C.4"
    assert th.icml_reference("Dao & Gu 2024, Prop. 3.4") == "Dao & Gu 2024, Prop. 3.4"
    assert th.both_numberings("Prop 5.1") == "arXiv Prop 5.1 = ICML Prop 4.1"
    assert th.icml_reference("Sec. 5 (corrected App. B.5)") == "Sec. 4 (corrected App. C.5)"


def test_report_groups_by_section_and_teaches():
    recs = th.run_checks(["remark-4.1-example", "lemma-4.1", "softmax-exact"])
    text = " ".join(th.format_report(recs).split())  # unwrapped
    assert text.index("When is an SSM a single 1-SS") < text.index("Limits of SSD")
    assert "no width-2 1-SS dual" in text  # the statement in words
    assert "measured: exactly: nu 3, ss_rank 2" in text  # what was measured, in plain terms
    assert "[arXiv Remark 4.1 = ICML Remark 3.1]" in text
    assert "Sec. 4.1 (Thm 4.1 setup)" not in th.CHECKS["diagonal-ssd"].reference


def test_verify_detail_prints_the_whole_record(capsys):
    assert main(["verify", "--detail", "richer-needs-zero"]) == 0
    out = capsys.readouterr().out
    assert "sweep:" in out and "reference: arXiv Remark 4.1 = ICML Remark 3.1" in out


def test_full_mode_shows_progress(capsys):
    assert main(["verify", "--only", "lemma-4.1", "--progress"]) == 0
    assert "[1/1] lemma-4.1 ... PASS" in capsys.readouterr().out


def test_every_row_has_a_planted_defect_test():
    import inspect
    import sys
    source = inspect.getsource(sys.modules[__name__])
    covered = {i for i in th.CHECKS if f'_fails("{i}")' in source or f'("{i}", "' in source}
    assert covered == set(th.CHECKS), sorted(set(th.CHECKS) - covered)


def test_row_helpers_refused_failures_summarize():
    from ssd_edu.theorems.registry import failures, refused, summarize
    assert refused(lambda: None) is None
    err = refused(lambda: (_ for _ in ()).throw(ValueError("no dual")))
    assert isinstance(err, ValueError) and "no dual" in str(err)
    with pytest.raises(KeyError):
        refused(lambda: {}["missing"])
    cases = [dict(passed=True, detail="a"), dict(passed=False, detail="b broke")]
    assert failures(cases) == 1
    out = summarize(cases, 1, 0, summary="2 cases", tally=True)
    assert not out["passed"] and out["summary"] == "2 cases; 1 failures" and out["detail"] == "b broke"


def test_a_row_needs_a_statement():
    from ssd_edu.theorems.registry import check
    from ssd_edu.theorems.registry import CHECKS, SECTIONS
    section = next(iter(SECTIONS))
    with pytest.raises(ValueError, match="statement or a docstring"):
        check("planted-no-statement", section)(lambda full: None)
    assert "planted-no-statement" not in CHECKS
    with pytest.raises(ValueError, match="section must be one of"):
        check("planted-bad-section", "Sec. 99", "words")(lambda full: None)


def test_cli_output_into_a_closed_pipe_ends_quietly():
    """``python -m ssd_edu verify --list | head -1``: the reader goes away early; the command
    stops without a BrokenPipeError traceback."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    proc = subprocess.Popen([sys.executable, "-m", "ssd_edu", "verify", "--list"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()                        # before anything is written
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


# ---- defects found by planting them all (a helper's audit of every row) -----------------------

def test_planted_nan_form_is_caught(monkeypatch):
    """An attention form that returns NaN (a dividing mask at zero decays) fails the duality
    rows: the error metric makes a NaN infinite, where max() used to skip it."""
    orig = ref.scalar_attention
    monkeypatch.setattr(ref, "scalar_attention",
                        lambda *a, **k: (np.full_like(orig(*a, **k)[0], np.nan), orig(*a, **k)[1]))
    _fails("scalar-ssd")
    orig_d = ref.diagonal_chunked

    def nan_chunked(*a, **k):
        y, h = orig_d(*a, **k)
        return np.full_like(y, np.nan), h
    monkeypatch.setattr(ref, "diagonal_chunked", nan_chunked)
    _fails("diagonal-ssd")


def test_planted_real_part_only_is_caught(monkeypatch):
    orig = structure.check_lower

    def real_only(M, name="M"):
        arr = np.asarray(M)
        return orig(arr.real if np.iscomplexobj(arr) else M, name)
    monkeypatch.setattr(structure, "check_lower", real_only)
    _fails("conjugate-pairs")


def test_planted_kernel_that_is_not_real_is_caught(monkeypatch):
    """Modes that are not exact conjugates give a kernel with an imaginary part (nu is still 2
    and a width-2 dual still fits, a complex one): the row fails (docs/theory.md#pitfall-complex:
    max|Im M| <= 1e-15 and a real dual)."""
    from ssd_edu.theorems import dualities
    orig = dualities.conjugate_pair_kernel

    def almost(rng, T, **kw):
        M = orig(rng, T, **kw)
        return M + 1e-12j * np.tril(M.real)
    monkeypatch.setattr(dualities, "conjugate_pair_kernel", almost)
    detail = _fails("conjugate-pairs").detail
    assert "max|Im M| 0.0" not in detail and "real dual False" in detail


def test_planted_refusal_of_a_singular_A0_is_caught(monkeypatch):
    orig = structure.general_single_mask

    def strict(A, B, C):
        if np.linalg.matrix_rank(np.asarray(A)[0]) < np.shape(A)[-1]:
            raise ValueError("A[0] is singular")
        return orig(A, B, C)
    monkeypatch.setattr(structure, "general_single_mask", strict)
    _fails("invertible-corollary")


def test_planted_completion_of_too_high_rank_is_caught(monkeypatch):
    orig = exact.completion

    def higher(M):
        R, new, rest = orig(M)
        R = [list(row) for row in R]
        R[0][-1] += 1                        # above the diagonal: M is unchanged, rank grows
        return R, new, rest
    monkeypatch.setattr(exact, "completion", higher)
    _fails("woerdeman")


def test_planted_exact_ss_rank_too_small_is_caught(monkeypatch):
    monkeypatch.setattr(exact, "ss_rank", lambda M: 1)
    _fails("remark-4.1-example")


def test_backward_row_checks_the_gradient_first(monkeypatch):
    """A VJP that drops a term (da = 0) fails the backward row's gradient cases (its count
    alone would pass it)."""
    import ssd_edu
    from ssd_edu.theorems import backward_cost
    orig = ssd_edu.VJPS["numpy.scalar.scan"]
    monkeypatch.setitem(ssd_edu.VJPS, "numpy.scalar.scan",
                        lambda *a, **k: orig(*a, **k)._replace(da=0 * orig(*a, **k).da))
    bad = [c for c in backward_cost.gradient_cases() if not c["passed"]]
    assert bad and all("numpy.scalar.scan" in c["detail"] for c in bad)


# ---- general A_t rows: each clause has its planted failure ----------------------------------
def test_planted_dual_one_column_too_wide_is_caught(monkeypatch):
    """thm-4.1-general asks for width N: a zero column padded on reproduces M but is N + 1."""
    orig = structure.one_ss_dual

    def wider(M, N, *args, **kwargs):
        a, Q, K = orig(M, N, *args, **kwargs)
        pad = np.zeros((Q.shape[0], 1))
        return a, np.hstack([Q, pad]), np.hstack([K, pad])
    monkeypatch.setattr(structure, "one_ss_dual", wider)
    _fails("thm-4.1-general")


def test_planted_dual_that_never_refuses_is_caught(monkeypatch):
    """The nilpotent kernel has no width T - 2 dual: building a wider one instead passes M's
    error but must fail the row (it asks for the refusal)."""
    orig = structure.one_ss_dual

    def never_refuses(M, N, *args, **kwargs):
        try:
            return orig(M, N, *args, **kwargs)
        except structure.NoDualError:
            return orig(M, len(M), *args, **kwargs)
    monkeypatch.setattr(structure, "one_ss_dual", never_refuses)
    assert "nilpotent" in _fails("thm-4.1-general").detail


def test_planted_rewrite_of_a_singular_A_t_is_caught(monkeypatch):
    """invertible-corollary asks the rewrite to refuse a singular A_t (t >= 1): a pseudo-inverse
    in place of the refusal must fail it."""
    def pinv_rewrite(A, B, C):
        A, B, C = (np.asarray(v, float) for v in (A, B, C))
        T, N = B.shape[-2:]
        Phi, Cp, Bp = np.eye(N), np.empty((T, N)), np.empty((T, N))
        for t in range(T):
            if t:
                Phi = A[t] @ Phi
            Cp[t], Bp[t] = Phi.T @ C[t], np.linalg.pinv(Phi) @ B[t]
        return Cp, Bp
    monkeypatch.setattr(structure, "general_single_mask", pinv_rewrite)
    assert "singular A_t was not refused" in _fails("invertible-corollary").detail


def test_planted_nu_above_the_state_size_is_caught(monkeypatch):
    orig = structure.nu
    monkeypatch.setattr(structure, "nu", lambda M, *args, **kwargs: orig(M, *args, **kwargs) + 9)
    _fails("invertible-corollary")


def test_planted_realization_that_never_refuses_is_caught(monkeypatch):
    """realize asks ss_rank > N to be refused: falling back to a larger state must fail."""
    orig = structure.realize

    def never_refuses(M, N, rtol=None):
        try:
            return orig(M, N, rtol)
        except ValueError:
            return orig(M, structure.ss_rank(M), rtol)
    monkeypatch.setattr(structure, "realize", never_refuses)
    assert "not refused" in _fails("realize").detail
