"""Graders of the mask exercises: the 1-SS mask (ex01), the stable segsum (ex02) and the
diagonal kernel as a sum of 1-SS masked heads (ex04)."""
from __future__ import annotations

import numpy as np

from .. import reference as ref
from ..testing import make_inputs
from .answers import ArrayAnswer, above_diagonal, close, first_index, fmt
from .grading import Case, answer_tolerance, grader

SEGSUM_FORBIDDEN = ("ssd_edu.reference.masks.segsum", "ssd_edu.reference.masks.segsum_naive")
MASK_FORBIDDEN = ("ssd_edu.reference.masks.one_ss_mask", *SEGSUM_FORBIDDEN,
                  "ssd_edu.exact.one_ss_mask")
HEADS_FORBIDDEN = (*(f"ssd_edu.reference.diagonal.diagonal_{f}"
                     for f in ("kernel", "heads", "attention")),
                   "ssd_edu.reference.scalar.scalar_kernel", "ssd_edu.exact.diagonal_kernel",
                   "ssd_edu.reference.general.general_kernel", "ssd_edu.exact.masked_attention")


_MASK_NAN = (". Did you divide cumulative products (p_t / p_s) or take a log? At a zero decay, "
             "or once the products underflow, that is 0/0 = NaN; multiply the decays "
             "a_{s+1} ... a_t directly")


def _mask_structure(arr, case):
    if msg := above_diagonal(arr, 0.0, "L", "(y_t may not see x_s from the future)"):
        return msg
    diag = np.diagonal(arr, axis1=-2, axis2=-1)
    off = np.abs(diag - 1.0) > answer_tolerance(arr, case)[0]
    if np.any(off):
        idx = first_index(off)
        return (f"the diagonal must be 1 (L[t, t] is the empty product), got {fmt(diag[idx])} "
                f"at t = {idx[-1]}")
    return None


MASK_ANSWER = ArrayAnswer("L", "(..., T, T)", {"nan": _MASK_NAN, "inf": _MASK_NAN}, _mask_structure)


def mask_cases() -> list:
    def case(name: str, a, category: str) -> Case:
        a = np.asarray(a)
        a64 = a.astype(np.float64)
        L = ref.one_ss_mask(a64)
        shifted = np.concatenate([np.ones_like(a64[..., :1]), a64[..., :-1]], axis=-1)
        return Case(name, (a,), L, MASK_ANSWER, category, [
            ("with_s", "off by one: your L[t, s] includes a_s; the product runs over s < u <= t, "
             "so L[t, t] = 1 and a_s (which decays the state before x_s arrives) is left out",
             np.tril(L * a64[..., None, :])),
            ("early", "off by one step: your product runs over s <= u < t; it must run over "
             "s < u <= t (L[t, t-1] = a_t)", ref.one_ss_mask(shifted)),
            ("transposed", "transposed: L must be lower triangular, row t (query time) and "
             "column s (key time)", np.swapaxes(L, -1, -2))])
    rng = np.random.default_rng(1)
    batch = np.where(rng.random((2, 3, 5)) < 0.2, 0.0, rng.uniform(-1, 1, (2, 3, 5)))
    return [
        case("T = 5, random decays in (0.5, 1)", rng.uniform(0.5, 1, 5), "basic"),
        case("negative decays", [0.5, -0.9, 0.8, -0.5, -1.0, 0.7], "basic"),
        case("all decays 1: the causal mask tril(ones)", np.ones(4), "basic"),
        case("T = 1", [0.7], "edge"),
        case("all decays 0: the identity", np.zeros(4), "edge"),
        case("a zero decay at t = 2", [0.9, 0.8, 0.0, 0.7, 0.6, 0.5], "zero decays"),
        case("a_0 = 0, which never enters L", [0.0, 0.8, 0.9, 0.7, 0.6], "zero decays"),
        case("leading batch axes, a of shape (2, 3, 5) with zeros", batch, "batch"),
        case("T = 200, a = 0.02: tiny products (2e-340 underflows to 0)",
             np.full(200, 0.02), "extreme"),
        case("decays 1e-200: the running product underflows to 0",
             [0.5, 1e-200, 1e-200, 0.9, 0.8, 0.7], "extreme"),
        case("decays of size 10: products up to 1e8", rng.uniform(8, 12, 9), "scaled"),
        case("float32 decays, T = 40", rng.uniform(0.5, 1, 40).astype(np.float32), "float32")]


check_one_ss_mask = grader("one_ss_mask", mask_cases, ("a",), "fn(a) -> L: L[..., t, s] = "
                   "a_{s+1} ... a_t for t >= s, 0 above; a (..., T)", MASK_FORBIDDEN)


_SEGSUM_HINTS = {
    "nan": (". NaN appears where a zero decay (log_a = -inf) sits at some u <= s: the cumsum "
            "difference cs[t] - cs[s] is then -inf - (-inf). Add up only the terms log_a[u] "
            "with s < u <= t; never subtract"),
    "inf": (". Did you go through exp(log_a) (the mask) and back with log? exp underflows to 0 "
            "below log a = -745, and log(0) = -inf; stay in log space and add the log_a[u]"),
    "finite": (". A zero decay (log_a = -inf) must give exactly -inf, so that exp(S) = 0: did "
               "you clamp log_a or replace -inf by a large negative number?")}


def _segsum_pre(arr, case):  # before the -inf pattern check, which would blame a clamp
    if arr.shape != case.expected.shape:
        return None
    if close(arr, np.exp(case.expected), case):
        return ("you returned exp(S), the mask itself; return the log-space S (exp(S) is the "
                "1-SS mask)")
    return above_diagonal(arr, -np.inf, "S", "so that exp(S) = 0 there")


SEGSUM_ANSWER = ArrayAnswer("S", "(..., T, T)", _SEGSUM_HINTS, pre=_segsum_pre)


def segsum_cases() -> list:
    def case(name: str, log_a, category: str) -> Case:
        log_a = np.asarray(log_a)
        la64 = log_a.astype(np.float64)
        S = ref.segsum(la64)
        lower = np.tri(la64.shape[-1], dtype=bool)
        shifted = np.concatenate([np.zeros_like(la64[..., :1]), la64[..., :-1]], axis=-1)
        with np.errstate(invalid="ignore"):
            with_s = np.where(lower, S + la64[..., None, :], -np.inf)
        return Case(name, (log_a,), S, SEGSUM_ANSWER, category, [
            ("with_s", "off by one: your S[t, s] includes log_a[s]; sum over s < u <= t, so "
             "S[t, t] = 0", with_s),
            ("early", "off by one step: your sum runs over s <= u < t; it must run over "
             "s < u <= t", ref.segsum(shifted)),
            ("transposed", "transposed: S[t, s] is for t >= s (row t, column s), -inf above the "
             "diagonal", np.where(lower.T, np.swapaxes(S, -1, -2), -np.inf))])
    rng = np.random.default_rng(2)
    with np.errstate(divide="ignore"):
        zeros = np.log(np.where(rng.random((2, 3, 6)) < 0.25, 0.0, rng.uniform(0.3, 1, (2, 3, 6))))
        return [
            case("T = 5, random decays", np.log(rng.uniform(0.5, 1, 5)), "basic"),
            case("all decays 1 (log_a = 0)", np.zeros(4), "basic"),
            case("T = 60, random decays", np.log(rng.uniform(0.5, 1, 60)), "basic"),
            case("T = 1", [np.log(0.5)], "edge"),
            case("a zero decay at t = 3 (log_a[3] = -inf)",
                 np.log([0.9, 0.8, 0.7, 0.0, 0.6, 0.5]), "zero decays"),
            case("a_0 = 0 (log_a[0] = -inf), which never enters the mask",
                 np.log([0.0, 0.8, 0.9, 0.7]), "zero decays"),
            case("leading batch axes (2, 3, 6) with zero decays", zeros, "batch"),
            case("log_a = -800 and -1000: exp(log_a) underflows to 0",
                 [-0.1, -800.0, -0.5, -1000.0, -0.2], "extreme"),
            case("log_a = -1e5 next to a zero decay", [-0.3, -1e5, -np.inf, -0.2, -1e5], "extreme"),
            case("strong decays, log_a in (-60, -20): S down to -1000",
                 rng.uniform(-60, -20, 25), "scaled"),
            case("float32 log decays, T = 40",
                 np.log(rng.uniform(0.5, 1, 40)).astype(np.float32), "float32")]


check_segsum = grader("segsum", segsum_cases, ("log_a",), "fn(log_a) -> S: S[..., t, s] = "
                      "sum_{s < u <= t} log_a[u], -inf above; log_a (..., T) may hold -inf",
                      SEGSUM_FORBIDDEN)


_HEADS_NAN = (". A NaN at a zero decay often comes from the single-mask rewrite C o p, B / p "
              "(it needs a[1:] != 0) or from a log: build each head's mask from direct products")


def _heads_pre(arr, case):
    heads = (*case.expected.shape[:-2], case.args[0].shape[-1], *case.expected.shape[-2:])
    if arr.shape == heads and arr.shape != case.expected.shape:
        return (f"M has shape {arr.shape}: those are the N heads; the kernel is their sum over "
                f"n, shape {case.expected.shape}")
    return None


HEADS_ANSWER = ArrayAnswer("M", "(..., T, T)", {"nan": _HEADS_NAN, "inf": _HEADS_NAN},
                   lambda arr, case: above_diagonal(
                       arr, 0.0, "M", "(y_t may not see x_s from the future)"), _heads_pre)

_SHARED = ("one mask shared by all modes, built from the {} of the modes' decays: in the "
           "diagonal family each mode n decays by its own a[:, n], so head n needs its own "
           "mask 1SS(a[:, n]); the heads cannot share one mask")


def heads_cases() -> list:
    def case(name, category, *sizes, scale=1.0, dtype=np.float64, **kw):
        d = make_inputs("diagonal", *sizes, dtype=dtype, **kw)
        a, B, C = d["a"], d["B"] * dtype(scale), d["C"]
        a64, B64, C64 = (np.asarray(v, dtype=np.float64) for v in (a, B, C))
        M = ref.diagonal_kernel(a64, B64, C64)

        def shared(decay):  # every head masked by one decay sequence
            return ref.diagonal_kernel(np.broadcast_to(decay[..., None], a64.shape), B64, C64)
        return Case(name, (a, B, C), M, HEADS_ANSWER, category, [
            ("swapped", "query and key are swapped: head n is 1SS(a[:, n]) o (C[:, n] B[:, n]^T), "
             "the query C (output time t) on the rows and the key B (input time s) on the "
             "columns", ref.diagonal_kernel(a64, C64, B64)),
            ("mode0", "every head used the decays of mode 0: head n needs its own mask "
             "1SS(a[:, n])", shared(a64[..., 0])),
            ("mean", _SHARED.format("mean"), shared(a64.mean(axis=-1))),
            ("product", _SHARED.format("product"), shared(a64.prod(axis=-1))),
            ("first", "only the first head: sum all N heads",
             ref.diagonal_heads(a64, B64, C64)[..., 0, :, :]),
            ("transposed", "transposed: M must be lower triangular (row t, column s)",
             np.swapaxes(M, -1, -2))])
    return [
        case("T = 6, N = 3, random decays", "basic", 6, 3, 1, seed=20),
        case("negative decays", "basic", 6, 2, 1, regime="negative", seed=24),
        case("T = 1, N = 2", "edge", 1, 2, 1, seed=21),
        case("N = 1 (one head: a scalar SSM)", "edge", 5, 1, 1, seed=22),
        case("zero decays (the single-mask rewrite breaks here)", "zero decays", 8, 3, 1,
             regime="zero", seed=23),
        case("leading batch axes (2, 2), T = 5, N = 3", "batch", 5, 3, 1, (2, 2), seed=25),
        case("strong decays down to 1e-300, T = 12, N = 3", "extreme", 12, 3, 1,
             regime="strong", seed=26),
        case("B scaled by 1e6, T = 7, N = 2", "scaled", 7, 2, 1, scale=1e6, seed=27),
        case("float32 inputs, T = 16, N = 4", "float32", 16, 4, 1, dtype=np.float32, seed=28)]


check_sum_of_heads = grader("sum_of_heads", heads_cases, ("a", "B", "C"),
                    "fn(a, B, C) -> M = sum_n 1SS(a[:, n]) o (C[:, n] B[:, n]^T); "
                    "a, B, C (..., T, N), M (..., T, T)", HEADS_FORBIDDEN)
