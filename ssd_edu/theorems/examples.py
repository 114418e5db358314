"""Rows for the paper's examples and counterexamples (docs/theory.md#example-n2, #prop-5-1,
#experiments): the N = 2, T = 4 example of Remark 4.1, why richer dynamics need an exact zero decay,
the corrected rank study of App. B.3 and the state-2 SSM of Prop 5.1 that has no narrow dual."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from .. import exact, structure
from .. import reference as ref
from ..structure import NoDualError
from ..testing import make_inputs
from ._data import REMARK_41_A, REMARK_41_M, corner_matrix
from .registry import check, failures, refused, summarize

# ---- 6.2 rank vs semiseparable rank --------------------------------------------------------


def case_rank_vs_ssrank(M, N) -> dict:
    """The corrected App. B.3 check: rank(M) == T while ss_rank(M) == nu(M) == N."""
    T = M.shape[-1]
    r, s, v = int(np.linalg.matrix_rank(M)), structure.ss_rank(M), structure.nu(M)
    passed = r == T and s == N and v == N
    return dict(measured=s, threshold=N, passed=passed,
                detail=f"T={T} N={N}: rank {r}, ss_rank {s}, nu {v}")


@check("rank-vs-ssrank", "rank", reference="App. B.3 (corrected); Def 3.1")
def _rank_vs_ssrank(full):
    """A state-N SSM kernel has full ordinary rank T (it is triangular with a nonzero diagonal)
    but semiseparable rank N: the paper's rank study measured the wrong rank. A 1-SS mask has
    semiseparable rank 1."""
    rng = np.random.default_rng(62)
    cases, T = [], 24
    for N in (2, 3, 5):
        # the paper's setting: B = C = 1, time-invariant distinct decays
        a = np.tile(np.linspace(0.6, 0.95, N), (T, 1))
        cases.append(case_rank_vs_ssrank(ref.diagonal_kernel(a, np.ones((T, N)),
                                                             np.ones((T, N))), N))
        for seed in range(3 if full else 1):  # time-varying decays, Gaussian B, C
            a = rng.uniform(0.6, 1.0, (T, N))
            cases.append(case_rank_vs_ssrank(ref.diagonal_kernel(
                a, rng.standard_normal((T, N)), rng.standard_normal((T, N))), N))
    for regime in ("random", "zero", "negative"):
        a = make_inputs("scalar", T, 1, 1, regime=regime, seed=7)["a"]
        s = structure.ss_rank(ref.one_ss_mask(a))
        cases.append(dict(measured=s, threshold=1, passed=s == 1,
                          detail=f"ss_rank(1SS(a)) = {s} ({regime} decays)"))
    worst = max(abs(c["measured"] - c["threshold"]) for c in cases)
    bad = failures(cases)
    return summarize(cases, worst, 0, summary=f"{len(cases) - 3} SSM kernels (T = {T}, N = 2, "
                     f"3, 5) should have rank 24 but ss_rank = nu = N, and 3 masks ss_rank 1: "
                     f"{bad} disagree (max |ss_rank - expected| = {worst})")


# ---- 3.4 the N = 2, T = 4 example and zero decays ------------------------------------------

def case_richer_example(M, N=2) -> dict:
    """Exact: ss_rank(M) <= N < nu(M) and no split points, so no width-N 1-SS dual."""
    s, v, sp = exact.ss_rank(M), exact.nu(M), exact.split_points(M)
    ok = exact.has_one_ss_dual(M, N).ok
    passed = s <= N < v and not sp and not ok
    return dict(measured=v, threshold=N, passed=passed,
                detail=f"nu {v}, ss_rank {s}, splits {sp}, width-{N} dual {'yes' if ok else 'no'}")


@check("remark-4.1-example", "duality", reference="Remark 4.1")
def _remark_41(full):
    """The diagonal SSM with N = 2, T = 4, B = C = 1 and decays (1, 0, 1) and (0, 1, 0) has
    semiseparable rank 2 but 3 new columns and no split: no scalar SSM of state 2 (no width-2
    1-SS dual) has its kernel, though width 3 works."""
    M = exact.diagonal_kernel(REMARK_41_A, np.ones((4, 2), int), np.ones((4, 2), int))
    out = case_richer_example(M, 2)
    problems = []
    if M != exact.as_fractions(REMARK_41_M):
        problems.append("exact kernel differs from the printed M")
    Mf = ref.diagonal_kernel(np.array(REMARK_41_A, float), np.ones((4, 2)), np.ones((4, 2)))
    if not np.array_equal(Mf, np.array(REMARK_41_M, float)):
        problems.append("float diagonal_kernel differs from the printed M")
    if exact.ss_rank(M) != 2:                      # the remark's rank, not only <= N
        problems.append(f"exact ss_rank {exact.ss_rank(M)}, expected 2")
    if structure.new_columns(Mf) != [0, 1, 2] or structure.ss_rank(Mf) != 2:
        problems.append(f"float: new columns {structure.new_columns(Mf)}, ss_rank "
                        f"{structure.ss_rank(Mf)}")
    a, Q, K = exact.one_ss_dual(M, 3)
    if exact.masked_attention(a, Q, K) != M:
        problems.append("the exact width-3 dual does not rebuild M")
    if problems:
        out["passed"] = False
        out["detail"] += "; " + "; ".join(problems)
    out["summary"] = (f"exactly: {out['detail'].split(';')[0]}; so the smallest 1-SS dual has "
                      f"width {out['measured']} > N = 2, and the exact width-3 dual "
                      f"{'rebuilds' if 'rebuild' not in out['detail'] else 'does NOT rebuild'} M")
    return out


def case_fine_nu(M, N) -> dict:
    """A fine diagonal state-N kernel has nu(M) <= N (the single-mask rewrite)."""
    v = structure.nu(M)
    return dict(measured=v, threshold=N, passed=v <= N, detail=f"nu {v} vs N {N}")


@check("richer-needs-zero", "duality", reference="Remark 4.1; docs/theory.md#example-n2")
def _richer_needs_zero(full):
    """The extra expressiveness of diagonal over scalar SSMs at equal N needs a decay that is
    exactly zero: fine diagonal kernels have nu = ss_rank = N, and in the Remark 4.1 example any
    eps > 0 in place of the zeros gives nu = 2; only eps = 0 gives 3."""
    rng = np.random.default_rng(34)
    cases, T = [], 24
    for N in (1, 2, 4):
        for seed in range(3 if full else 1):
            a = rng.uniform(0.9, 1.0, (T, N))
            M = ref.diagonal_kernel(a, rng.standard_normal((T, N)), rng.standard_normal((T, N)))
            c = case_fine_nu(M, N)
            s = structure.ss_rank(M)
            if c["measured"] != N or s != N:
                c = dict(c, passed=False, detail=f"fine T={T} N={N}: nu {c['measured']}, "
                         f"ss_rank {s} (expected both {N})")
            cases.append(c)
    sweep = {}
    for eps in (1e-3, 1e-6, 1e-9, 0.0):
        a = np.where(np.array(REMARK_41_A) == 0, eps, 1.0)
        v = structure.nu(ref.diagonal_kernel(a, np.ones((4, 2)), np.ones((4, 2))))
        sweep[f"{eps:g}"] = v
        expected = 2 if eps > 0 else 3
        if v != expected:
            cases.append(dict(passed=False, detail=f"eps={eps:g}: nu {v}, expected {expected}"))
    a = [[Fraction(1, 10**9) if x == 0 else 1 for x in row] for row in REMARK_41_A]
    v = exact.nu(exact.diagonal_kernel(a, np.ones((4, 2), int), np.ones((4, 2), int)))
    if v != 2:  # exactly: eps = 1e-9 as a Fraction still gives nu = 2
        cases.append(dict(passed=False, detail=f"exact eps = 1e-9: nu {v}, expected 2"))
    bad = failures(cases)
    return summarize(cases, bad, 0, summary=f"fine kernels N = 1, 2, 4: nu = ss_rank = N; "
                     f"eps-sweep nu: " + ", ".join(f"eps {k}: {v}" for k, v in sweep.items())
                     + f" (exact eps = 1e-9: {v}); {bad} failures", data=dict(sweep=sweep))


# ---- 3.10 Proposition 5.1 ------------------------------------------------------------------

def case_prop51(M, exact_arith: bool = True) -> dict:
    """nu = T - 1, ss_rank 2, strict semiseparable rank 1, no split points."""
    T = len(M)
    if exact_arith:
        F = np.asarray(M, dtype=object)
        v, s, sp = exact.nu(M), exact.ss_rank(M), exact.split_points(M)
        strict = max((exact.rank(F[t:, :t]) for t in range(1, T)), default=0)
    else:
        M = np.asarray(M, float)
        v, sp = structure.nu(M), structure.split_points(M)
        if T > 128:  # long sequences: nu and splits only (docs/theory.md#prop-5-1), to keep it fast
            return dict(measured=v, threshold=T - 1, passed=v == T - 1 and sp == [],
                        detail=f"T={T}: nu {v}, splits {sp}")
        s = structure.ss_rank(M)
        strict = max((int(np.linalg.matrix_rank(M[t:, :t])) for t in range(1, T)), default=0)
    passed = v == T - 1 and s == 2 and strict == 1 and sp == []
    return dict(measured=v, threshold=T - 1, passed=passed,
                detail=f"T={T}: nu {v}, ss_rank {s}, strict rank {strict}, splits {sp}")


def prop51_diagonal_ssm(T: int) -> tuple:
    """The state-2 diagonal SSM of Prop 5.1: a = (1, 0) per step, B_0 = (1, 1), B_t = (0, 1),
    C_t = (0, 1) for t < T-1 and C_{T-1} = (1, 1). Its kernel is I + E_{T-1,0}."""
    a = np.tile([1.0, 0.0], (T, 1))
    B = np.tile([0.0, 1.0], (T, 1))
    B[0] = 1.0
    C = np.tile([0.0, 1.0], (T, 1))
    C[-1] = 1.0
    return a, B, C


@check("prop-5.1", "limits", reference="Prop 5.1")
def _prop51(full):
    """The identity plus a one in the bottom-left corner is 2-SS, has no split and T - 1 new
    columns: no 1-SS dual narrower than T - 1 exists, yet a state-2 diagonal SSM with a zero
    decay realizes it in every form."""
    cases = [case_prop51(corner_matrix(T).astype(int).tolist()) for T in (4, 6, 9)]
    long_T = (16, 128, 256) if full else (16, 128)
    for T in long_T:
        cases.append(case_prop51(corner_matrix(T), exact_arith=False))
    for T in (4, 6, 9):
        M = corner_matrix(T)
        a, B, C = prop51_diagonal_ssm(T)
        x = np.eye(T)  # y = M x = M: every diagonal form reproduces the kernel, exactly
        forms = {"kernel": ref.diagonal_kernel(a, B, C),
                 "heads": ref.diagonal_heads(a, B, C).sum(-3),
                 "scan": ref.diagonal_scan(x, a, B, C)[0],
                 "attention": ref.diagonal_attention(x, a, B, C)[0],
                 "algorithm1": ref.diagonal_algorithm1(x, a, B, C)[0],
                 "chunked": ref.diagonal_chunked(x, a, B, C, chunk_size=3)[0]}
        for name, got in forms.items():
            if not np.array_equal(got, M):
                cases.append(dict(measured=0, threshold=T - 1, passed=False,
                                  detail=f"diagonal {name} does not give I + E at T={T}"))
        if refused(lambda: structure.one_ss_dual(M, T - 2), NoDualError) is None:
            cases.append(dict(measured=0, threshold=T - 1, passed=False,
                              detail=f"a width-{T - 2} dual was built at T={T}"))
    worst = min(c["measured"] - c["threshold"] for c in cases)
    return summarize(cases, worst, 0, tally=True, summary=f"nu = T - 1, ss_rank 2, strict rank "
                     f"1, no split for T = 4, 6, 9 (exact) and T = {', '.join(map(str, long_T))} "
                     f"(float); all 6 diagonal forms give the matrix exactly; width T - 2 refused")
