"""Rows beyond diagonal A_t (docs/theory.md#theorem-4-1, #general-a, #realization): Theorem 4.1 for
rotations, dense and Jordan-block transitions, the invertible-A_t corollary and its nilpotent
counterexample, and the realization of every N-semiseparable matrix as a state-N SSM."""
from __future__ import annotations

import numpy as np

from .. import exact, structure
from .. import reference as ref
from ._data import REMARK_41_M, corner_matrix, planted_kernel
from .registry import case, check, refused, summarize
from .structure_theorems import case_thm41_sufficiency


def rotations(rng, T, radius=(0.95, 1.0)):
    """``A_t = r_t R(theta_t)``: 2 x 2 scaled rotations, (T, 2, 2)."""
    th, r = rng.uniform(-np.pi, np.pi, T), rng.uniform(*radius, T)
    return np.stack([np.stack([r * np.cos(th), -r * np.sin(th)], -1),
                     np.stack([r * np.sin(th), r * np.cos(th)], -1)], -2)


def nilpotent_ssm(T: int) -> tuple:
    """``A_t = [[0, 1], [0, 0]]``, ``b_t = c_t = (1, 1)``: ss_rank 2 but nu = T - 1 (A^2 = 0)."""
    return np.tile([[0.0, 1.0], [0.0, 0.0]], (T, 1, 1)), np.ones((T, 2)), np.ones((T, 2))


def general_cases(rng, full) -> dict:
    """label -> (A, B, C): rotations, dense (orthogonal + shear), Jordan blocks (invertible A_t)."""
    out = {}
    for T in (16, 48) + ((96,) if full else ()):
        out[f"rotations T={T}"] = (rotations(rng, T), *rng.standard_normal((2, T, 2)))
        dense = 0.97 * np.linalg.qr(rng.standard_normal((T, 3, 3)))[0] + \
            0.05 * np.triu(rng.standard_normal((T, 3, 3)), 1)
        out[f"dense N=3 T={T}"] = (dense, *rng.standard_normal((2, T, 3)))
        jordan = rng.uniform(0.95, 1.0, T)[:, None, None] * np.eye(3) + np.eye(3, k=1)
        out[f"Jordan N=3 T={T}"] = (jordan, *rng.standard_normal((2, T, 3)))
    return out


def _relative(M, R) -> float:  # max|R - M| / max|M|
    return float(np.max(np.abs(R - M))) / max(1e-300, float(np.max(np.abs(M))))


@check("thm-4.1-general", "general", reference="Thm 4.1")
def _thm41_general(full):
    """Theorem 4.1 for any A_t: rotations, dense or Jordan-block SSMs get a width-N dual from
    their kernel; the nilpotent A_t = [[0, 1], [0, 0]] none narrower than T - 1."""
    rng = np.random.default_rng(4101)
    cases = [case_thm41_sufficiency(ref.general_kernel(A, B, C), A.shape[-1], label=label)
             for label, (A, B, C) in general_cases(rng, full).items()]
    n_ok = len(cases)
    for T in (6, 12, 24):
        M = ref.general_kernel(*nilpotent_ssm(T))
        v = structure.has_one_ss_dual(M, T - 2)
        raised = refused(lambda: structure.one_ss_dual(M, T - 2), structure.NoDualError) is not None
        cases.append(case(not v.ok and raised and v.min_width == T - 1, f"nilpotent T={T}: "
                          f"width-{T - 2} dual {'refused' if raised else 'BUILT'}, least width "
                          f"{v.min_width}"))
    worst = max(c["measured"] for c in cases)
    return summarize(cases, worst, 1e-9, tally=True, summary=f"{n_ok} invertible SSMs: width-N "
                     f"duals to {worst:.1e}; nilpotent T = 6, 12, 24: least width T - 1")


def case_invertible_rewrite(A, B, C, label, rewrite=None) -> dict:
    """``tril(C' B'^T) == general_kernel(A, B, C)`` for the rewrite, and nu(M) <= N."""
    M = ref.general_kernel(A, B, C)
    Cp, Bp = (rewrite or structure.general_single_mask)(A, B, C)
    err, v, N = _relative(M, np.tril(Cp @ Bp.T)), structure.nu(M), A.shape[-1]
    return case(err <= 1e-10 and v <= N, f"{label}: err {err:.1e}, nu {v} <= N = {N}", err)


@check("invertible-corollary", "general", reference="Thm 4.1 (corollary); docs/theory.md#general-a")
def _invertible_corollary(full):
    """Invertible A_t (t >= 1): M = tril(C' B'^T), C'_t = Phi_t^T C_t, B'_s = Phi_s^{-1} B_s
    (Phi_t = A_t...A_1), so nu <= N; nilpotent A_t: ss_rank 2 but nu = T - 1, exactly."""
    rng = np.random.default_rng(4102)
    cases = [case_invertible_rewrite(A, B, C, label)
             for label, (A, B, C) in general_cases(rng, full).items()]
    A0, B0, C0 = rotations(rng, 16), *rng.standard_normal((2, 16, 2))
    A0[0] = 0.0  # A_0 never enters M: a singular A_0 must be accepted (a refusal fails the row)
    cases.append(case_invertible_rewrite(A0, B0, C0, "singular A_0 T=16"))
    n_ok, worst = len(cases), max(c["measured"] for c in cases)
    for T in range(4, 10 if full else 8):
        M = ref.general_kernel(*nilpotent_ssm(T)).astype(int).tolist()  # entries 0, 1, 2
        s, v = exact.ss_rank(M), exact.nu(M)
        cases.append(case(s == 2 and v == T - 1, f"nilpotent T={T}: exact ss_rank {s}, nu {v}"))
    if refused(lambda: structure.general_single_mask(*nilpotent_ssm(5))) is None:
        cases.append(case(False, "singular A_t was not refused"))
    return summarize(cases, worst, 1e-10, tally=True, summary=f"{n_ok} invertible SSMs: the "
                     f"rewrite to {worst:.1e}, nu <= N; nilpotent: ss_rank 2, nu = T - 1, refused")


def case_realize(M, N, label, tol=1e-10) -> dict:
    """``general_kernel(*realize(M, N)) == M`` to ``tol`` (relative), with shapes (T, N, N)."""
    A, B, C = structure.realize(M, N)
    T, err = M.shape[0], _relative(M, ref.general_kernel(A, B, C))
    shapes = A.shape == (T, N, N) and B.shape == C.shape == (T, N)
    return case(err <= tol and shapes, f"{label}: round-trip error {err:.1e}", err)


@check("realize", "general", reference="Dao & Gu 2024, Prop. 3.4; docs/theory.md#realization")
def _realize(full):
    """Every lower-triangular M with ss_rank <= N is the kernel of a state-N SSM: realize(M, N)
    builds A_t, B_t, C_t, even without a width-N dual; ss_rank > N is refused."""
    rng = np.random.default_rng(34)
    cases = [case_realize(planted_kernel(rng, T, N, cuts=(T // 3,), low=0.7, high=1.0), N,
                          f"planted T={T} N={N}")
             for T, N in ((8, 1), (24, 2), (48, 4)) + (((96, 8),) if full else ())]
    cases.append(case_realize(corner_matrix(16), 2, "I + E (nu 15, no width-2 dual)"))
    cases.append(case_realize(np.array(REMARK_41_M, float), 2, "Remark 4.1"))
    A, B, C = rotations(rng, 32), *rng.standard_normal((2, 32, 2))
    cases.append(case_realize(ref.general_kernel(A, B, C), 2, "rotations T=32"))
    exc = refused(lambda: structure.realize(np.tril(rng.standard_normal((10, 10))), 4))
    if exc is None or "has rank 5 > N = 4" not in str(exc):  # a Gaussian triangle: ss_rank 5
        cases.append(case(False, f"ss_rank 5 > N = 4 not refused, or unclearly: {exc}"))
    worst = max(c["measured"] for c in cases)
    return summarize(cases, worst, 1e-10, tally=True, summary=f"{len(cases)} round trips, "
                     f"error <= {worst:.1e} (I + E, Remark 4.1 included); ss_rank 5 > 4 refused")
