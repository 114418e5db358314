"""Rows for the dualities themselves (docs/theory.md#scalar-ssd to #single-mask, #pitfall-complex,
#pitfall-underflow): every form of the scalar and diagonal families equals the recurrence, the fine
diagonal kernel is one causal mask, and conjugate-pair modes give a real kernel with a real dual."""
from __future__ import annotations

import numpy as np

from .. import reference as ref
from .. import structure
from ..testing import error, make_inputs, tolerance
from .registry import case, check, refused, summarize

_REGIMES = ("random", "zero", "negative", "near_one", "strong", "mixed")


def _grid(full):
    Ts, Ns, Ps = ((1, 2, 3, 17, 64) + (256,) * full, (1, 2, 5) + (16,) * full, (1, 3) + (8,) * full)
    return [(T, N, P) for T in Ts for N in Ns for P in Ps]


def _form_row(family: str, full: bool, regimes, names: str) -> dict:
    """Max error of every form against the scan (y and final state) over the grid and regimes."""
    scan, kernel = getattr(ref, f"{family}_scan"), getattr(ref, f"{family}_kernel")
    forms = {"attention": getattr(ref, f"{family}_attention"),
             "chunked(Q=7)": lambda **d: getattr(ref, f"{family}_chunked")(**d, chunk_size=7)}
    if family == "diagonal":
        forms["algorithm1"] = ref.diagonal_algorithm1
    worst, where, n, k = 0.0, "", 0, 3 if full else 2
    for seed, (T, N, P) in enumerate(_grid(full)):
        for regime in (regimes[(k * seed + i) % len(regimes)] for i in range(k)):
            d = make_inputs(family, T, N, P, (2,), regime=regime, seed=seed)
            y, h = scan(**d)
            errs = {name: max(error(y, yy), error(h, hh))
                    for name, (yy, hh) in ((k, f(**d)) for k, f in forms.items())}
            y0, _ = scan(d["x"], d["a"], d["B"], d["C"])
            errs["kernel @ x"] = error(y0, kernel(d["a"], d["B"], d["C"]) @ d["x"])
            if family == "diagonal":
                errs["sum of heads @ x"] = error(
                    y0, ref.diagonal_heads(d["a"], d["B"], d["C"]).sum(-3) @ d["x"])
            n, (name, err) = n + 1, max(errs.items(), key=lambda kv: kv[1])
            if err >= worst:
                worst, where = err, f"{name} at T={T} N={N} P={P} regime={regime}"
    tol = tolerance(np.float64)
    return dict(measured=worst, threshold=tol, passed=worst <= tol,
                summary=f"largest error {worst:.1e} against the recurrence over {n} input sets "
                        f"({names}; T <= {max(_grid(full))[0]}; decays {', '.join(regimes)})",
                detail=f"worst: {where}", data=dict(regimes=list(regimes), grid=_grid(full)))


@check("scalar-ssd", "scalar", reference="Prop 3.1; Dao & Gu 2024")
def _scalar_ssd(full):
    """Scalar A_t: the recurrence, the masked attention 1SS(a) o (C B^T) x and the chunked
    algorithm give the same outputs and final state, for any decays (zero, negative)."""
    return _form_row("scalar", full, _REGIMES, "attention, chunked, kernel @ x")


@check("diagonal-ssd", "diagonal", reference="Sec. 4.1 (diagonal SSD); Sec. 4.2 (Algorithm 1)")
def _diagonal_ssd(full):
    """Diagonal A_t: the kernel is a sum of N width-1 1-SS masked attentions (one per mode); the
    recurrence, the heads, Algorithm 1 and the chunked algorithm agree, complex decays too."""
    return _form_row("diagonal", full, _REGIMES + ("complex",),
                     "attention, chunked, Algorithm 1, kernel @ x, sum of heads @ x")


def _rewritten(rewrite, a, B, C):
    """tril(C' B'^T) for ``(C', B') = rewrite(a, B, C)`` (NaN where the rewrite underflows)."""
    Cp, Bp = rewrite(a, B, C)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.tril(np.einsum("...tn,...sn->...ts", Cp, Bp))


def case_single_mask(a, B, C, rewrite=None) -> dict:
    """err(tril(C' B'^T), diagonal_kernel(a, B, C)) for ``(C', B') = rewrite(a, B, C)``."""
    got = _rewritten(rewrite or ref.diagonal_single_mask, a, B, C)
    err = error(ref.diagonal_kernel(a, B, C), got) if np.all(np.isfinite(got)) else float("inf")
    return case(err <= 1e-12, f"(T, N) = {np.shape(a)[-2:]}: err {err:.3g}", err, 1e-12)


@check("single-mask", "duality", reference="Prop 4.2 proof (fine mask)")
def _single_mask(full):
    """A diagonal SSM with every a[t >= 1] nonzero is one causal linear attention of width N:
    M = tril(C' B'^T), C' = C o p, B' = B / p (p the decay products); a_0 never matters."""
    rng, cases = np.random.default_rng(33), []
    for T in (1, 2, 17, 37, 64):
        for N in (1, 3, 5):
            for sign in (False, True):
                a = rng.uniform(0.5, 1.0, (T, N)) * (rng.choice([-1.0, 1.0], (T, N)) if sign else 1)
                if N == 3:
                    a[0] = 0.0  # a_0 never enters M: the rewrite must accept it
                cases.append(case_single_mask(a, rng.standard_normal((T, N)),
                                              rng.standard_normal((T, N))))
    a = rng.uniform(0.5, 1.0, (17, 3))
    a[5, 1] = 0.0
    ok = refused(lambda: ref.diagonal_single_mask(a, np.ones((17, 3)), np.ones((17, 3))))
    if ok is None:
        cases.append(case(False, "no error for a zero decay at t = 5"))
    worst = max(c["measured"] for c in cases)
    return summarize(cases, worst, 1e-12, summary=f"largest error {worst:.1e} over {len(cases)} "
                     f"fine kernels (T <= 64, a_0 = 0 in some); a zero decay at t = 5 "
                     f"{'refused' if ok is not None else 'NOT refused'}", tally=True)


def case_underflow(a, B, C) -> dict:
    """NaNs in tril(C' B'^T) of the rewrite vs in the direct-product kernel (must be 0)."""
    R = _rewritten(ref.diagonal_single_mask, a, B, C)
    nan_rewrite = int(np.sum(np.isnan(R) & np.tri(R.shape[-1], dtype=bool)))
    nan_products = int(np.sum(~np.isfinite(ref.diagonal_kernel(a, B, C))))
    return case(nan_rewrite >= 1 and nan_products == 0, f"rewrite {nan_rewrite} NaNs, direct "
                f"products {nan_products} NaNs", nan_rewrite, 1)


@check("single-mask-underflow", "duality",
       reference="Prop 4.2 proof; docs/theory.md#pitfall-underflow")
def _single_mask_underflow(full):
    """The rewrite divides by decay products, so it gives NaN once they underflow (a = 0.5,
    T = 1200); the kernel built from direct products stays finite."""
    T = 1200
    out = case_underflow(np.full((T, 1), 0.5), np.ones((T, 1)), np.ones((T, 1)))
    return dict(out, summary=f"of the {T * (T + 1) // 2} lower entries: {out['detail']} (0.5^1074 "
                f"= {0.5**1074:.3g}, 0.5^1075 = {0.5**1075:.3g})")


def conjugate_pair_kernel(rng, T: int, radius=(0.9, 1.0), pair: bool = True):
    """The real (T, T) kernel of a complex mode and its conjugate (the mode alone: not ``pair``)."""
    lam = rng.uniform(*radius, T) * np.exp(1j * rng.uniform(-np.pi, np.pi, T))
    b, c = (rng.standard_normal(T) + 1j * rng.standard_normal(T) for _ in range(2))
    return ref.diagonal_kernel(*(np.stack([v, v.conj()], -1) if pair else v[:, None]
                                 for v in (lam, b, c)))


@check("conjugate-pairs", "duality", reference="Sec. 4.1; docs/theory.md#pitfall-complex")
def _conjugate_pairs(full):
    """A complex mode and its conjugate give a real kernel with 2 new columns and a real width-2
    dual; the structure tools take complex kernels (ranks over C)."""
    rng, cases = np.random.default_rng(53), []
    for T in (8, 24, 48) + ((96,) if full else ()):
        M = conjugate_pair_kernel(rng, T)
        imag, v = float(np.max(np.abs(M.imag))), structure.nu(M)
        dual = structure.one_ss_dual(M, 2)
        ok = imag <= 1e-15 and v == 2 and np.isrealobj(dual.Q) and dual.error <= 1e-9
        cases.append(case(ok, f"T={T}: max|Im M| {imag:.1e}, nu {v}, real dual "
                              f"{np.isrealobj(dual.Q)}, dual error {dual.error:.1e}", dual.error))
    vz = structure.nu(np.tril(rng.standard_normal((6, 6)) + 1j * rng.standard_normal((6, 6))))
    if vz != 3:  # a generic complex triangle: nu = ceil(T / 2)
        cases.append(case(False, f"complex 6 x 6 triangle: nu {vz}, expected 3", float("inf")))
    # one complex mode alone: a complex kernel of state 1, nu = 1; its real part alone has nu 2
    M1 = conjugate_pair_kernel(rng, 12, pair=False)
    v1, v1_real = structure.nu(M1), structure.nu(M1.real)
    if v1 != 1 or v1_real == 1:
        cases.append(case(False, f"one complex mode: nu {v1} (expected 1; its real part "
                                 f"{v1_real})", float("inf")))
    worst = max(c["measured"] for c in cases)
    return summarize(cases, worst, 1e-9, tally=True, summary=f"conjugate pairs: real kernels, "
                     f"nu 2, real duals to {worst:.1e}; complex 6 x 6 triangle nu {vz} (3); one "
                     f"complex mode nu {v1} (1; its real part {v1_real})")
