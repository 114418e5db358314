"""Rows for the structure theorems (docs/theory.md#prop-4-2 to #woerdeman): Lemma 4.1, Prop 4.2,
Theorem 4.1 in both directions and exhaustively, and Woerdeman's minimal completion rank."""
from __future__ import annotations

import warnings
from collections import Counter
from fractions import Fraction

import numpy as np

from .. import exact, structure
from .. import reference as ref
from ..testing import make_inputs
from ._data import REMARK_41_M, corner_matrix, planted_blocks, planted_kernel
from .registry import case, check, failures, refused, summarize


def case_lemma_41(a, L=None) -> dict:
    """split_points(1SS(a)) == {t >= 1 : a_t = 0}, and every block is fine (no zero below)."""
    a = np.asarray(a, float)
    L = ref.one_ss_mask(a) if L is None else np.asarray(L, float)
    want, got = [t for t in range(1, a.shape[-1]) if a[t] == 0], structure.split_points(L)
    fine = all(np.all(L[s:e, s:e][np.tri(e - s, dtype=bool)] != 0)
               for s, e in structure.split_blocks(L))
    return case(got == want and fine, f"T={a.shape[-1]}: splits {got}, zeros of a[1:] at "
                f"{want}, blocks fine: {fine}", int(got != want) + int(not fine))


@check("lemma-4.1", "duality", reference="Lemma 4.1")
def _lemma_41(full):
    """A zero decay a_t (t >= 1) cuts the 1-SS mask into diagonal blocks: L[t:, :t] = 0 exactly
    at the zeros of a[1:], and the mask inside every block is fine."""
    rng, cases = np.random.default_rng(41), []
    for T in (1, 2, 3, 17, 64) + ((256,) if full else ()):
        for trial in range(4 if full else 2):
            a = rng.uniform(0.3, 1.0, T) * rng.choice([-1.0, 1.0], T)
            a[rng.random(T) < 0.2] = 0.0
            a[0] = 0.0 if trial % 2 == 0 else a[0]
            cases.append(case_lemma_41(a))
    return summarize(cases, failures(cases), 0, tally=True, summary=f"{len(cases)} masks (T <= "
                     f"{256 if full else 64}, random zeros): splits at the zeros of a[1:]")


def case_fine_dual(M, r, N, tol=1e-9, label=None) -> dict:
    """Prop 4.2: nu == r (the planted width; None: unchecked); the width-N dual rebuilds M."""
    label = label or f"T={M.shape[0]} r={r} N={N}"
    try:
        a, Q, K = structure.one_ss_dual(M, N)
    except structure.NoDualError as exc:
        return case(False, f"{label}: {exc}", float("inf"), tol)
    err, v = structure.dual_error(M, a, Q, K), structure.nu(M) if r is not None else None
    return case(v == r and err <= tol and Q.shape == (M.shape[0], N),
                f"{label}: " + (f"nu {v}, " if r is not None else "") + f"dual error {err:.3g}",
                err, tol)


@check("prop-4.2", "duality", reference="Prop 4.2")
def _prop_42(full):
    """A lower-triangular M is a fine 1-SS mask times width-N scores iff it has at most N new
    columns; the left-to-right completion builds the dual from M alone (also exactly)."""
    rng, cases = np.random.default_rng(42), []
    for T in (16, 64) + ((128,) if full else ()):
        for N in (1, 2, 4, 8):
            r = int(rng.integers(1, min(N, T // 2) + 1))
            M = planted_kernel(rng, T, N, width=r, low=0.9, high=1.0)
            cases.append(case_fine_dual(M, r, N))
    n_float = len(cases)
    for T in range(2, 9 if full else 7):  # exact data: dyadic fine decays, integer scores
        r = int(rng.integers(1, max(1, T // 2) + 1))
        a = [Fraction(int(rng.choice([1, -1])), int(rng.choice([1, 2, 4]))) for _ in range(T)]
        M = exact.masked_attention(a, rng.integers(-3, 4, (T, r)).tolist(),
                                   rng.integers(-3, 4, (T, r)).tolist())
        R, new, _ = exact.completion(M)
        ok = all(R[i][j] == M[i][j] for i in range(T) for j in range(i + 1)) and \
            exact.rank(R) == len(new) == exact.nu(M) <= r
        cases.append(case(ok, f"exact T={T}: completion "
                              f"{'reproduces M with rank nu' if ok else 'FAILED'}"))
    # negative control: I + E_{T-1,0} needs width T - 1
    cases.append(case_fine_dual(corner_matrix(12), 11, 11, label="I + E_(11,0)"))
    worst = max(c["measured"] for c in cases)
    return summarize(cases, worst, 1e-9, tally=True, summary=f"{n_float} planted fine kernels: "
                     f"nu = planted width, dual error <= {worst:.1e}; {len(cases) - n_float - 1} "
                     f"exact completions; I + E_(11,0) needs width 11")


def case_thm41_necessity(M, N, cuts) -> dict:
    """A width-N 1-SS dual with zeros at ``cuts``: detected splits == cuts, every nu(M_k) <= N."""
    sp, verdict = structure.split_points(M), structure.has_one_ss_dual(M, N)
    return case(sp == sorted(cuts) and verdict.ok, f"T={M.shape[0]} N={N}: splits {sp} "
                f"(planted {sorted(cuts)}), nu per block {verdict.nu}", verdict.min_width, N)


def _thm41_grid(full):  # (T, N, number of blocks); long kernels in 4 (a completion is O(block^4))
    return [(64, N, m) for N in (1, 2, 4, 8) for m in (2, 4)] + \
        ([(128, 4, 4), (128, 16, 4), (256, 8, 4)] if full else [])


@check("thm-4.1-necessity", "duality", reference="Thm 4.1 (=>)")
def _thm41_necessity(full):
    """If M = 1SS(a) o (Q K^T) with width N, M is block diagonal at the zeros of a and every
    block has at most N new columns."""
    rng, cases = np.random.default_rng(410), []
    for T, N, m in _thm41_grid(full):
        cuts = planted_blocks(rng, T, m)
        cases.append(case_thm41_necessity(planted_kernel(rng, T, N, cuts), N, cuts))
    worst = max(c["measured"] - c["threshold"] for c in cases)
    return summarize(cases, worst, 0, tally=True, summary=f"{len(cases)} planted kernels (2 or "
                     f"4 blocks): the planted blocks found, at most N new columns each (max excess "
                     f"{worst})")


def case_thm41_sufficiency(M, N, tol=1e-9, label=None) -> dict:
    """The condition holds and the dual built from M alone reproduces it: err <= tol."""
    verdict, label = structure.has_one_ss_dual(M, N), label or f"T={M.shape[0]} N={N}"
    if not verdict.ok:
        return case(False, f"{label}: {verdict.reason}", float("inf"), tol)
    return case_fine_dual(M, None, N, tol, label)


@check("thm-4.1-sufficiency", "duality", reference="Thm 4.1 (<=); Remark 4.4")
def _thm41_sufficiency(full):
    """Conversely, if every block has at most N new columns a width-N dual exists (zeros at the
    splits, each block completed); with strong decays the construction blows up (shown)."""
    rng = np.random.default_rng(411)
    cases = [case_thm41_sufficiency(planted_kernel(rng, T, N, planted_blocks(rng, T, m)), N)
             for T, N, m in _thm41_grid(full)]
    n_planted = len(cases)
    # tiny decays: the exact verdict is yes, though an exact-zero split test says no
    cases.append(case_thm41_sufficiency(np.array([[1.0, 0.0], [1e-20, 1.0]]), 1,
                                        label="[[1, 0], [1e-20, 1]]"))
    rng16 = np.random.default_rng(16)
    for value in (1e-20, 1e-12):
        a = rng16.uniform(0.92, 0.999, 32)
        a[16] = value
        Q, K = rng16.integers(-3, 4, (2, 32, 2)).astype(float)
        cases.append(case_thm41_sufficiency(ref.one_ss_mask(a) * (Q @ K.T), 2,
                                            label=f"planted width 2, a[16] = {value:g}"))
    T, N = (128, 8) if full else (64, 4)
    M = ref.diagonal_kernel(rng.uniform(0.3, 0.95, (T, N)), rng.standard_normal((T, N)),
                            rng.standard_normal((T, N)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", structure.PoorDualWarning)  # the blow-up, on purpose
        dual = structure.one_ss_dual(M, N)
    big = float(np.max(np.abs(dual.Q @ dual.K.T)))
    worst, worst_tiny = (max(c["measured"] for c in cs) for cs in (cases, cases[n_planted:]))
    return summarize(cases, worst, 1e-9, summary=f"{n_planted} planted kernels: duals to "
                     f"{worst:.1e}; tiny decays 1e-20, 1e-12: yes, to {worst_tiny:.1e}; strong "
                     f"decays (T = {T}, N = {N}): completion {big:.1e}, error {dual.error:.1e}",
                     data=dict(blow_up=dict(T=T, N=N, max_completion=big, error=dual.error)))


def case_thm41_reject(M, N, bad_block=None) -> dict:
    """No width-N dual: has_one_ss_dual says no (naming ``bad_block``), one_ss_dual refuses."""
    verdict = structure.has_one_ss_dual(M, N)
    raised = refused(lambda: structure.one_ss_dual(M, N), structure.NoDualError) is not None
    passed = not verdict.ok and raised and (
        bad_block is None or f"block [{bad_block[0]}, {bad_block[1]})" in verdict.reason)
    return case(passed, f"T={M.shape[0]} N={N}: accepted={verdict.ok}, raised={raised}; "
                        f"{verdict.reason}", int(not passed))


@check("thm-4.1-rejection", "duality", reference="Thm 4.1 (=>, contrapositive)")
def _thm41_rejection(full):
    """When some block has more than N new columns there is no width-N dual: the verdict is no,
    names the block, and the construction refuses."""
    rng, cases = np.random.default_rng(412), []
    for T, N, m in _thm41_grid(full):
        cuts = planted_blocks(rng, T, m)
        M = planted_kernel(rng, T, N, cuts)
        k = int(rng.integers(len(cuts) + 1))
        s, e = [0, *cuts, T][k:k + 2]
        if e - s >= 2 * N + 2:  # a fine block of width N + 1 has nu = N + 1
            M[s:e, s:e] = planted_kernel(rng, e - s, N + 1)
            cases.append(case_thm41_reject(M, N, (s, e)))
    M = np.zeros((10, 10))
    M[3:7, 3:7] = np.array(REMARK_41_M, float)
    cases.append(case_thm41_reject(M, 2, (3, 7)))
    G = np.tril(rng.standard_normal((20, 20)))  # generic: nu = ceil(T / 2) = 10
    cases.append(case_thm41_reject(G, 9, (0, 20)))
    return summarize(cases, failures(cases), 0, tally=True, summary=f"{len(cases)} matrices "
                     f"without a width-N dual: refused, the block named")


#: docs/theory.md#theorem-4-1: T -> the exhaustive counts (width, ss_rank, 2-SS without a width-2
#: dual; T = 4 found by this enumeration).
ENUM_COUNTS = {4: ({0: 1, 1: 207, 2: 672, 3: 144}, {0: 1, 1: 207, 2: 816}, 144),
               5: ({0: 1, 1: 1087, 2: 12768, 3: 18048, 4: 864},
                   {0: 1, 1: 1087, 2: 20544, 3: 11136}, 7776)}


def case_enumeration(matrices, expected_width=None, expected_ssrank=None, expected_gap=None,
                     float_every: int = 1, dual_every: int = 0, complete_every: int = 1) -> dict:
    """exact.audit of every matrix (completions on every ``complete_every``-th), float against
    exact on every ``float_every``-th, the exact dual on every ``dual_every``-th (0: never)."""
    width, ssr, gap, problems = Counter(), Counter(), 0, []
    for n, M in enumerate(matrices):
        r = exact.audit(M, complete=n % complete_every == 0)
        width[r["width"]] += 1
        ssr[r["ss_rank"]] += 1
        gap += r["ss_rank"] <= 2 < r["width"]
        problems += [f"{M}: {p}" for p in r["problems"]]
        if float_every and n % float_every == 0:
            F = np.array(M, float)
            got = (structure.nu(F), structure.ss_rank(F), structure.min_completion_rank(F),
                   structure.has_one_ss_dual(F, max(r["width"], 1)).nu)
            if got != (r["nu"], r["ss_rank"], r["woerdeman"], r["nu_blocks"]):
                problems.append(f"{M}: float {got} != exact")
        if dual_every and n % dual_every == 0:
            a, Q, K = exact.one_ss_dual(M, max(r["width"], 1))
            if exact.masked_attention(a, Q, K) != exact.as_fractions(M):
                problems.append(f"{M}: the exact dual 1SS(a) o QK^T does not rebuild M")
    n = sum(width.values())
    for name, got, want in (("width", dict(width), expected_width),
                            ("ss_rank", dict(ssr), expected_ssrank)):
        if want is not None and got != want:
            problems.append(f"{name} counts {sorted(got.items())} != {sorted(want.items())}")
    if expected_gap is not None and gap != expected_gap:
        problems.append(f"{gap} matrices 2-SS without a width-2 dual, expected {expected_gap}")
    return dict(measured=len(problems), threshold=0, passed=not problems,
                summary=f"{len(problems)} discrepancies over all {n} lower-triangular 0/1 "
                        f"matrices; {gap} of them are 2-SS yet have no width-2 dual",
                detail="; ".join(problems[:3]) if problems else
                f"{n} matrices; width {sorted(width.items())}; ss_rank {sorted(ssr.items())}",
                data=dict(width_counts=dict(width), ss_rank_counts=dict(ssr), two_ss_no_dual=gap))


@check("thm-4.1-exhaustive", "duality", reference="Thm 4.1; Prop 4.2")
def _thm41_exhaustive(full):
    """Every lower-triangular 0/1 matrix (T = 4; 5 with --full), exactly: completions, nu =
    Woerdeman = sum over blocks, the exact dual rebuilds M, float agrees, the known counts."""
    T, every = (5, (16, 64, 4)) if full else (4, (4, 8, 1))
    return case_enumeration(exact.lower_01_matrices(T), *ENUM_COUNTS[T], *every)


def case_woerdeman(M, nu_fn=None, woerdeman_fn=None, expected=None) -> dict:
    """Woerdeman's rank w of an exact M: w == nu, >= the columns ``M[t:, :t] alpha = M[t:, t]``
    cannot solve, == the rank of the exact completion (agreeing with M), == ``expected``."""
    v, w = (nu_fn or exact.nu)(M), (woerdeman_fn or exact.min_completion_rank)(M)
    F = exact.as_fractions(M)
    T = len(F)
    lower = sum(any(F[i][t] for i in range(t, T)) and (t == 0 or exact.solve(
        [F[i][:t] for i in range(t, T)], [F[i][t] for i in range(t, T)]) is None)
        for t in range(T))
    R, _, _ = exact.completion(M)
    agrees = all(R[i][j] == F[i][j] for i in range(T) for j in range(i + 1))
    upper = exact.rank(R) if agrees else None
    problems = [p for p, bad in (
        (f"nu {v} != Woerdeman {w}", v != w),
        (f"Woerdeman {w} below the rank {lower} every completion has", w < lower),
        (f"the completion's rank {upper} is not Woerdeman's {w} (it attains the minimum)",
         w != upper),
        (f"expected {expected}", expected is not None and w != expected)) if bad]
    return case(not problems, f"T={T}: nu {v}, Woerdeman {w}, lower bound {lower}, completion "
                f"rank {upper}" + (f": {'; '.join(problems)}" if problems else ""), len(problems))


@check("woerdeman", "duality", reference="Woerdeman; Prop 4.2 proof")
def _woerdeman(full):
    """The least rank of a completion of the lower triangle is the number of new columns
    (sum_t rank M[t:, :t+1] - rank M[t+1:, :t+1]), attained; nu is additive over blocks."""
    rng = np.random.default_rng(39)
    named = [(REMARK_41_M, 3), (corner_matrix(6).astype(int).tolist(), 5),
             (np.eye(5, dtype=int).tolist(), 5), (np.tril(np.ones((5, 5), int)).tolist(), 1)]
    cases = [case_woerdeman(M, expected=k) for M, k in named]
    for trial in range(40 if full else 12):
        T = int(rng.integers(2, 9))
        d = make_inputs("diagonal", T, int(rng.integers(1, 4)), 1, regime="dyadic",
                        seed=int(rng.integers(1 << 30)))
        Mf = ref.diagonal_kernel(d["a"], d["B"], d["C"])  # exact in float64 (#exact-data)
        cases.append(case_woerdeman(Mf.tolist()))
        v, fv, fw = exact.nu(Mf.tolist()), structure.nu(Mf), structure.min_completion_rank(Mf)
        if fv != v or fw != v:
            cases.append(case(False, f"float nu {fv}, Woerdeman {fw} != exact {v}", 1))
    for widths in ((3, 3), (1, 4), (2, 5)):  # float: fine blocks of known width, nu = sum
        M = np.zeros((48, 48))
        M[:20, :20] = planted_kernel(rng, 20, widths[0])
        M[20:, 20:] = planted_kernel(rng, 28, widths[1])
        v, w, k = structure.nu(M), structure.min_completion_rank(M), sum(widths)
        cases.append(case(v == w == k, f"float T=48: nu {v}, Woerdeman {w}, known {k}",
                          abs(v - k) + abs(w - k)))
    D = np.zeros((10, 10), int)
    D[:4, :4], D[4:, 4:] = REMARK_41_M, corner_matrix(6)
    if exact.nu(D.tolist()) != exact.nu(REMARK_41_M) + exact.nu(corner_matrix(6).tolist()):
        cases.append(case(False, "nu is not additive", 1))
    return summarize(cases, failures(cases), 0, tally=True, summary=f"{len(cases)} matrices: "
                     f"named, exact dyadic (bounded by solving and a completion), float")
