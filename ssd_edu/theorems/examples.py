"""Rows for the paper's examples (docs/theory.md#example-n2, #prop-5-1, #experiments): Remark 4.1's
N = 2, T = 4 example, why richer dynamics need an exact zero decay, the corrected rank study of
App. B.3 and the state-2 SSM of Prop 5.1 that has no narrow dual."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from .. import exact, structure
from .. import reference as ref
from ..testing import make_inputs
from ._data import REMARK_41_A, REMARK_41_M, corner_matrix
from .registry import case, check, failures, refused, summarize


def case_rank_vs_ssrank(M, N) -> dict:
    """The corrected App. B.3 check: rank(M) == T while ss_rank(M) == nu(M) == N."""
    T, r, s, v = M.shape[-1], int(np.linalg.matrix_rank(M)), structure.ss_rank(M), structure.nu(M)
    return case(r == T and s == N and v == N, f"T={T} N={N}: rank {r}, ss_rank {s}, nu {v}", s, N)


@check("rank-vs-ssrank", "rank", reference="App. B.3 (corrected); Def 3.1")
def _rank_vs_ssrank(full):
    """A state-N SSM kernel has ordinary rank T but semiseparable rank N (the paper's rank study
    measured the wrong rank); a 1-SS mask has semiseparable rank 1."""
    rng, cases, T = np.random.default_rng(62), [], 24
    for N in (2, 3, 5):  # the paper's setting: B = C = 1, time-invariant distinct decays
        a, ones = np.tile(np.linspace(0.6, 0.95, N), (T, 1)), np.ones((T, N))
        cases.append(case_rank_vs_ssrank(ref.diagonal_kernel(a, ones, ones), N))
        for seed in range(3 if full else 1):  # time-varying decays, Gaussian B, C
            a = rng.uniform(0.6, 1.0, (T, N))
            cases.append(case_rank_vs_ssrank(ref.diagonal_kernel(
                a, rng.standard_normal((T, N)), rng.standard_normal((T, N))), N))
    for regime in ("random", "zero", "negative"):
        s = structure.ss_rank(ref.one_ss_mask(make_inputs("scalar", T, 1, 1, regime=regime,
                                                          seed=7)["a"]))
        cases.append(case(s == 1, f"ss_rank(1SS(a)) = {s} ({regime} decays)", s, 1))
    worst = max(abs(c["measured"] - c["threshold"]) for c in cases)
    return summarize(cases, worst, 0, tally=True, summary=f"{len(cases) - 3} kernels (T = {T}, "
                     f"N = 2, 3, 5): rank T, ss_rank = nu = N; 3 masks: ss_rank 1")


def case_richer_example(M, N=2) -> dict:
    """Exact: ss_rank(M) <= N < nu(M) and no split points, so no width-N 1-SS dual."""
    s, v, sp = exact.ss_rank(M), exact.nu(M), exact.split_points(M)
    ok = exact.has_one_ss_dual(M, N).ok
    return case(s <= N < v and not sp and not ok, f"nu {v}, ss_rank {s}, splits {sp}, "
                f"width-{N} dual {'yes' if ok else 'no'}", v, N)


@check("remark-4.1-example", "duality", reference="Remark 4.1")
def _remark_41(full):
    """The diagonal SSM with N = 2, T = 4, B = C = 1, decays (1, 0, 1) and (0, 1, 0) has ss_rank
    2 but 3 new columns and no split: no width-2 1-SS dual has its kernel, though width 3 does."""
    M = exact.diagonal_kernel(REMARK_41_A, np.ones((4, 2), int), np.ones((4, 2), int))
    out, dual = case_richer_example(M, 2), exact.one_ss_dual(M, 3)
    Mf = ref.diagonal_kernel(np.array(REMARK_41_A, float), np.ones((4, 2)), np.ones((4, 2)))
    rebuilt = exact.masked_attention(dual.a, dual.Q, dual.K) == M
    problems = [p for p, bad in (
        ("exact kernel differs from the printed M", M != exact.as_fractions(REMARK_41_M)),
        ("float diagonal_kernel differs from the printed M",
         not np.array_equal(Mf, np.array(REMARK_41_M, float))),
        (f"exact ss_rank {exact.ss_rank(M)}, expected 2", exact.ss_rank(M) != 2),
        (f"float: new columns {structure.new_columns(Mf)}, ss_rank {structure.ss_rank(Mf)}",
         structure.new_columns(Mf) != [0, 1, 2] or structure.ss_rank(Mf) != 2),
        ("the exact width-3 dual does not rebuild M", not rebuilt)) if bad]
    out["summary"] = (f"exactly: {out['detail']}; so the smallest 1-SS dual has width "
                      f"{out['measured']} > N = 2, and the exact width-3 dual "
                      f"{'rebuilds' if rebuilt else 'does NOT rebuild'} M")
    if problems:
        out["passed"], out["detail"] = False, out["detail"] + "; " + "; ".join(problems)
    return out


@check("richer-needs-zero", "duality", reference="Remark 4.1; docs/theory.md#example-n2")
def _richer_needs_zero(full):
    """Diagonal beats scalar at equal N only with an exact zero decay: fine kernels have nu =
    N, and Remark 4.1 with eps > 0 for its zeros has nu = 2; only eps = 0 gives 3."""
    rng, cases, T = np.random.default_rng(34), [], 24
    for N in (1, 2, 4):
        for seed in range(3 if full else 1):
            a = rng.uniform(0.9, 1.0, (T, N))
            M = ref.diagonal_kernel(a, rng.standard_normal((T, N)), rng.standard_normal((T, N)))
            v, s = structure.nu(M), structure.ss_rank(M)
            cases.append(case(v == s == N, f"fine T={T} N={N}: nu {v}, ss_rank {s} (expected both "
                                           f"{N})", v, N))
    sweep = {}
    for eps in (1e-3, 1e-6, 1e-9, 0.0):
        a, ones = np.where(np.array(REMARK_41_A) == 0, eps, 1.0), np.ones((4, 2))
        sweep[f"{eps:g}"] = v = structure.nu(ref.diagonal_kernel(a, ones, ones))
        if v != (2 if eps > 0 else 3):
            cases.append(case(False, f"eps={eps:g}: nu {v}, expected {2 if eps > 0 else 3}"))
    a = [[Fraction(1, 10**9) if x == 0 else 1 for x in row] for row in REMARK_41_A]
    v = exact.nu(exact.diagonal_kernel(a, np.ones((4, 2), int), np.ones((4, 2), int)))
    if v != 2:  # exactly: eps = 1e-9 as a Fraction still gives nu = 2
        cases.append(case(False, f"exact eps = 1e-9: nu {v}, expected 2"))
    return summarize(cases, failures(cases), 0, summary=f"fine kernels N = 1, 2, 4: nu = "
                     f"ss_rank = N; eps-sweep nu: " + ", ".join(f"eps {k}: {v}" for k, v in
                     sweep.items()) + f" (exact eps = 1e-9: {v}); {failures(cases)} failures",
                     data=dict(sweep=sweep))


def case_prop51(M, exact_arith: bool = True) -> dict:
    """nu = T - 1, ss_rank 2, strict rank 1, no split (float beyond T = 128: nu and splits)."""
    T = len(M)
    if exact_arith:
        v, s, sp = exact.nu(M), exact.ss_rank(M), exact.split_points(M)
        F = np.asarray(M, dtype=object)
        strict = max((exact.rank(F[t:, :t]) for t in range(1, T)), default=0)
    else:
        M = np.asarray(M, float)
        v, sp = structure.nu(M), structure.split_points(M)
        if T > 128:
            return case(v == T - 1 and sp == [], f"T={T}: nu {v}, splits {sp}", v, T - 1)
        s = structure.ss_rank(M)
        strict = max((int(np.linalg.matrix_rank(M[t:, :t])) for t in range(1, T)), default=0)
    return case(v == T - 1 and s == 2 and strict == 1 and sp == [], f"T={T}: nu {v}, ss_rank "
                f"{s}, strict rank {strict}, splits {sp}", v, T - 1)


def prop51_diagonal_ssm(T: int) -> tuple:
    """The state-2 diagonal SSM of Prop 5.1: a = (1, 0) per step, B_0 = (1, 1), B_t = (0, 1),
    C_t = (0, 1) for t < T-1 and C_{T-1} = (1, 1). Its kernel is I + E_{T-1,0}."""
    a, B, C = np.tile([1.0, 0.0], (T, 1)), np.tile([0.0, 1.0], (T, 1)), np.tile([0.0, 1.0], (T, 1))
    B[0] = C[-1] = 1.0
    return a, B, C


@check("prop-5.1", "limits", reference="Prop 5.1")
def _prop51(full):
    """I + E_{T-1,0} is 2-SS with no split and T - 1 new columns: no 1-SS dual narrower than
    T - 1, yet a state-2 diagonal SSM with a zero decay realizes it in every form."""
    long_T = (16, 128, 256) if full else (16, 128)
    cases = [case_prop51(corner_matrix(T).astype(int).tolist()) for T in (4, 6, 9)]
    cases += [case_prop51(corner_matrix(T), exact_arith=False) for T in long_T]
    for T in (4, 6, 9):
        M, (a, B, C), x = corner_matrix(T), prop51_diagonal_ssm(T), np.eye(T)  # y = M x = M
        forms = {k: getattr(ref, f"diagonal_{k}")(x, a, B, C)[0]
                 for k in ("scan", "attention", "algorithm1")}
        forms.update(kernel=ref.diagonal_kernel(a, B, C), heads=ref.diagonal_heads(a, B, C).sum(-3),
                     chunked=ref.diagonal_chunked(x, a, B, C, chunk_size=3)[0])
        cases += [case(False, f"diagonal {name} does not give I + E at T={T}", 0, T - 1)
                  for name, got in forms.items() if not np.array_equal(got, M)]
        if refused(lambda: structure.one_ss_dual(M, T - 2), structure.NoDualError) is None:
            cases.append(case(False, f"a width-{T - 2} dual was built at T={T}", 0, T - 1))
    worst = min(c["measured"] - c["threshold"] for c in cases)
    return summarize(cases, worst, 0, tally=True, summary=f"nu = T - 1, ss_rank 2, no split "
                     f"(T = 4, 6, 9 exact; {long_T} float); 6 forms give it; T - 2 refused")
