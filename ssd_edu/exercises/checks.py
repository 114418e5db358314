"""The graders: ``check_<exercise>(fn) -> GradeResult``, one per classroom exercise.

Each grader runs the attempt on a battery of cases (random data, T = 1, zero decays, negative
decays, leading batch axes, ...), computes the expected answer with the package, and when the
attempt is wrong names the mistake: a wrong shape, NaN at a zero decay, off by one step, not
causal, query and key swapped, ... A mistake is recognized by comparing the attempt with the
answer that mistake would produce ("variants", built from the package's own functions on
altered inputs), so the diagnosis is precise rather than a bare "wrong values".

Exercises (student signature -> grader):
  one_ss_mask(a) -> L                             check_one_ss_mask
  segsum(log_a) -> S                              check_segsum
  diagonal_scan(x, a, B, C, initial_state) -> (y, h)   check_diagonal_scan
  sum_of_heads(a, B, C) -> M                      check_sum_of_heads
  pass_states(abar, S, initial_state) -> (H_prev, H_last)   check_pass_states
  count_new_columns(M) -> int                     check_count_new_columns
"""
from __future__ import annotations

import numpy as np

from .. import reference as ref
from ..testing import make_inputs
from .grading import (Case, GradeResult, as_result_array, close, first_index, fmt,
                      nonfinite_diagnosis, run_cases, shape_diagnosis, worst_entry)

#: Max-norm relative tolerance of an attempt against the package (float64 data). Looser than
#: the package's own 1e-12 so that any correct summation order passes.
TOL = 1e-10


def _judge_array(what: str, layout: str, nan_hint: str, structure=None):
    """A judge for one-array answers: type, shape, NaN, then the known mistakes, then values.

    ``structure(arr, case)`` may return a diagnosis for a structural error (not causal, ...),
    tried after the known-mistake variants in ``case.info["variants"]`` did not match.
    """
    def judge(got, case):
        arr, msg = as_result_array(got, what)
        if msg:
            return msg
        exp = case.expected
        msg = shape_diagnosis(arr, exp, what, layout)
        if msg:
            return msg
        msg = nonfinite_diagnosis(arr, exp, what)
        if msg:
            return msg + nan_hint
        if close(arr, exp, TOL):
            return None
        for description, variant in case.info.get("variants", ()):
            if close(arr, np.asarray(variant), TOL):
                return description
        if structure is not None:
            msg = structure(arr, case)
            if msg:
                return msg
        return worst_entry(arr, exp, what)
    return judge


def _above_diagonal(arr: np.ndarray, fill: float, what: str, why: str) -> str | None:
    """Diagnose entries strictly above the diagonal that differ from ``fill``."""
    T = arr.shape[-1]
    upper = np.triu(np.ones((T, T), dtype=bool), 1)
    wrong = upper & ~((arr == fill) | (np.isnan(arr) & np.isnan(fill)))
    if not np.any(wrong):
        return None
    idx = first_index(wrong)
    return (f"not causal: {what}[t, s] must be {fill} above the diagonal (s > t) {why}; "
            f"got {fmt(arr[idx])} at index {idx}")


# --------------------------------------------------------------------------------------------
# Exercise 1: the 1-SS mask


_MASK_NAN_HINT = (". Did you divide cumulative products (p_t / p_s) or take a log? At a zero "
                  "decay, or once the products underflow, that is 0/0 = NaN; multiply the "
                  "decays a_{s+1} ... a_t directly")


def _mask_structure(arr, case):
    msg = _above_diagonal(arr, 0.0, "L", "(y_t may not see x_s from the future)")
    if msg:
        return msg
    diag = np.diagonal(arr, axis1=-2, axis2=-1)
    if not np.allclose(diag, 1.0, rtol=0, atol=TOL):
        idx = first_index(~np.isclose(diag, 1.0, rtol=0, atol=TOL))
        return (f"the diagonal must be 1 (L[t, t] is the empty product), got {fmt(diag[idx])} "
                f"at t = {idx[-1]}")
    return None


def _mask_case(name: str, a) -> Case:
    a = np.asarray(a, dtype=np.float64)
    L = ref.one_ss_mask(a)
    shifted = np.concatenate([np.ones_like(a[..., :1]), a[..., :-1]], axis=-1)
    variants = [
        ("off by one: your L[t, s] includes a_s; the product runs over s < u <= t, so "
         "L[t, t] = 1 and a_s (which decays the state before x_s arrives) is left out",
         np.tril(L * a[..., None, :])),
        ("off by one step: your product runs over s <= u < t; it must run over s < u <= t "
         "(L[t, t-1] = a_t)", ref.one_ss_mask(shifted)),
        ("transposed: L must be lower triangular, row t (query time) and column s (key time)",
         np.swapaxes(L, -1, -2)),
    ]
    return Case(name, (a,), L, _judge_array("L", "(..., T, T)", _MASK_NAN_HINT, _mask_structure),
                dict(variants=variants))


def check_one_ss_mask(fn) -> GradeResult:
    """Grade ``fn(a) -> L``: ``L[..., t, s] = a_{s+1} ... a_t`` for t >= s, 0 above.

    a: (..., T). Cases: random decays, T = 1, a zero decay, a_0 = 0 (never enters L), negative
    decays, all ones (the causal mask), all zeros (the identity), leading batch axes, and
    T = 200 with a = 0.02 (the products underflow: ratio forms give NaN).
    """
    rng = np.random.default_rng(1)
    cases = [
        _mask_case("T = 5, random decays in (0.5, 1)", rng.uniform(0.5, 1, 5)),
        _mask_case("T = 1", [0.7]),
        _mask_case("a zero decay at t = 2", [0.9, 0.8, 0.0, 0.7, 0.6, 0.5]),
        _mask_case("a_0 = 0, which never enters L", [0.0, 0.8, 0.9, 0.7, 0.6]),
        _mask_case("negative decays", [0.5, -0.9, 0.8, -0.5, -1.0, 0.7]),
        _mask_case("all decays 1: the causal mask tril(ones)", np.ones(4)),
        _mask_case("all decays 0: the identity", np.zeros(4)),
        _mask_case("leading batch axes, a of shape (2, 3, 5) with zeros",
                   np.where(rng.random((2, 3, 5)) < 0.2, 0.0, rng.uniform(-1, 1, (2, 3, 5)))),
        _mask_case("T = 200, a = 0.02: tiny products (2e-340 underflows to 0)",
                   np.full(200, 0.02)),
    ]
    return run_cases("one_ss_mask", fn, cases, ("a",))


# --------------------------------------------------------------------------------------------
# Exercise 2: the stable segsum


_SEGSUM_NAN_HINT = (". NaN appears where a zero decay (log_a = -inf) sits at some u <= s: the "
                    "cumsum difference cs[t] - cs[s] is then -inf - (-inf). Add up only the "
                    "terms log_a[u] with s < u <= t; never subtract")


def _segsum_structure(arr, case):
    if close(arr, np.exp(case.expected), TOL):
        return ("you returned exp(S), the mask itself; return the log-space S (exp(S) is the "
                "1-SS mask)")
    return _above_diagonal(arr, -np.inf, "S", "so that exp(S) = 0 there")


def _segsum_case(name: str, log_a) -> Case:
    log_a = np.asarray(log_a, dtype=np.float64)
    S = ref.segsum(log_a)
    shifted = np.concatenate([np.zeros_like(log_a[..., :1]), log_a[..., :-1]], axis=-1)
    with np.errstate(invalid="ignore"):
        with_s = np.where(np.tri(log_a.shape[-1], dtype=bool), S + log_a[..., None, :], -np.inf)
    variants = [
        ("off by one: your S[t, s] includes log_a[s]; sum over s < u <= t, so S[t, t] = 0",
         with_s),
        ("off by one step: your sum runs over s <= u < t; it must run over s < u <= t",
         ref.segsum(shifted)),
        ("transposed: S[t, s] is for t >= s (row t, column s), -inf above the diagonal",
         np.where(np.tri(log_a.shape[-1], dtype=bool).T, np.swapaxes(S, -1, -2), -np.inf)),
    ]
    return Case(name, (log_a,), S,
                _judge_array("S", "(..., T, T)", _SEGSUM_NAN_HINT, _segsum_structure),
                dict(variants=variants))


def check_segsum(fn) -> GradeResult:
    """Grade ``fn(log_a) -> S``: ``S[..., t, s] = sum_{s < u <= t} log_a[u]``, -inf above.

    log_a: (..., T), may contain -inf (a zero decay). ``exp(S)`` must be the 1-SS mask, with no
    NaN anywhere. Cases: random, T = 1, a zero decay mid-sequence, log_a[0] = -inf, all
    zeros (a = 1), batch axes with -inf entries, T = 60.
    """
    rng = np.random.default_rng(2)
    with np.errstate(divide="ignore"):
        cases = [
            _segsum_case("T = 5, random decays", np.log(rng.uniform(0.5, 1, 5))),
            _segsum_case("T = 1", [np.log(0.5)]),
            _segsum_case("a zero decay at t = 3 (log_a[3] = -inf)",
                         np.log([0.9, 0.8, 0.7, 0.0, 0.6, 0.5])),
            _segsum_case("a_0 = 0 (log_a[0] = -inf), which never enters the mask",
                         np.log([0.0, 0.8, 0.9, 0.7])),
            _segsum_case("all decays 1 (log_a = 0)", np.zeros(4)),
            _segsum_case("leading batch axes (2, 3, 6) with zero decays",
                         np.log(np.where(rng.random((2, 3, 6)) < 0.25, 0.0,
                                         rng.uniform(0.3, 1, (2, 3, 6))))),
            _segsum_case("T = 60, random decays", np.log(rng.uniform(0.5, 1, 60))),
        ]
    return run_cases("segsum", fn, cases, ("log_a",))


# --------------------------------------------------------------------------------------------
# Exercise 3: the diagonal scan (the oracle recurrence)


def _pair(got, names: tuple):
    """``(first, second, None)`` from a returned pair, or ``(None, None, diagnosis)``."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        kind = "None" if got is None else type(got).__name__
        if got is None:
            return None, None, ("returned None: the function body is not written yet (or it "
                                f"forgot to return); return ({names[0]}, {names[1]})")
        return None, None, f"returned a {kind}; return the pair ({names[0]}, {names[1]})"
    return got[0], got[1], None


def _judge_scan(got, case):
    y_got, h_got, msg = _pair(got, ("y", "h"))
    if msg:
        return msg
    y_exp, h_exp = case.expected
    y, msg = as_result_array(y_got, "y")
    if msg:
        return msg
    h, msg = as_result_array(h_got, "the final state h")
    if msg:
        return msg
    msg = shape_diagnosis(y, y_exp, "y", "(..., T, P)")
    if msg:
        return msg
    if h.shape == h_exp.shape[:-2] + (y_exp.shape[-2],) + h_exp.shape[-2:]:
        return (f"the final state h has shape {h.shape}: that is every state h_0 .. h_{{T-1}}; "
                f"return only the last one, shape {h_exp.shape}")
    msg = shape_diagnosis(h, h_exp, "the final state h", "(..., N, P)")
    if msg:
        return msg
    for what, arr, exp in (("y", y, y_exp), ("the final state h", h, h_exp)):
        msg = nonfinite_diagnosis(arr, exp, what)
        if msg:
            return msg + ". The recurrence needs only products and sums: no log, no division"
    y_ok, h_ok = close(y, y_exp, TOL), close(h, h_exp, TOL)
    if y_ok and h_ok:
        return None
    for description, (vy, vh) in case.info["variants"]:
        if close(y, vy, TOL) and (vh is None or close(h, vh, TOL)):
            return description
    if y_ok:
        if close(h, case.info["initial_state"], TOL):
            return "y is right but the returned h is the initial state; return h_{T-1}"
        return "y is right but " + worst_entry(h, h_exp, "the final state h")
    return worst_entry(y, y_exp, "y")


def _scan_case(name: str, d: dict) -> Case:
    x, a, B, C, h0 = d["x"], d["a"], d["B"], d["C"], d["initial_state"]
    expected = ref.diagonal_scan(x, a, B, C, h0)
    h0_arr = np.zeros_like(expected[1]) if h0 is None else np.broadcast_to(h0, expected[1].shape)
    variants = []
    if h0 is not None:
        variants.append(("initial_state is ignored: start from h_{-1} = initial_state "
                         "(zeros only when it is None)", ref.diagonal_scan(x, a, B, C)))
    # y'_t = h_{t-1}^T C_t: the output read before the update
    C_next = np.concatenate([C[..., 1:, :], C[..., :1, :]], axis=-2)
    y_prev = ref.diagonal_scan(x, a, B, C_next, h0)[0]
    y_first = np.einsum("...np,...n->...p", h0_arr, C[..., 0, :])[..., None, :]
    y_late = np.concatenate([y_first, y_prev[..., :-1, :]], axis=-2)
    variants += [
        ("off by one step: your y_t = h_{t-1}^T C_t reads the state before the update; update "
         "first, h_t = diag(a_t) h_{t-1} + B_t x_t^T, then y_t = h_t^T C_t", (y_late, None)),
        ("the decay also multiplies the new input: h_t = diag(a_t) (h_{t-1} + B_t x_t^T); "
         "decay only the old state, h_t = diag(a_t) h_{t-1} + B_t x_t^T",
         ref.diagonal_scan(x, a, a * B, C, h0)),
        ("B and C are swapped: B_t (the key) writes x_t into the state, C_t (the query) reads "
         "y_t out", ref.diagonal_scan(x, a, C, B, h0)),
        ("every mode used the decay of mode 0: in the diagonal family row n of the state decays "
         "by its own a[t, n]", ref.diagonal_scan(x, np.broadcast_to(a[..., :1], a.shape).copy(),
                                                 B, C, h0)),
    ]
    return Case(name, (x, a, B, C, h0), expected, _judge_scan,
                dict(variants=variants, initial_state=h0_arr))


def check_diagonal_scan(fn) -> GradeResult:
    """Grade ``fn(x, a, B, C, initial_state=None) -> (y, h)``, the diagonal recurrence.

    h_t = diag(a_t) h_{t-1} + B_t x_t^T, y_t = h_t^T C_t, h_{-1} = initial_state (zeros if
    None); x (..., T, P), a, B, C (..., T, N), h (..., N, P). Cases: random, T = 1, zero decays,
    negative decays, no initial state, leading batch axes, N = 1, P = 1.
    """
    cases = [
        _scan_case("T = 6, N = 3, P = 2, random decays",
                   make_inputs("diagonal", 6, 3, 2, seed=10)),
        _scan_case("T = 1", make_inputs("diagonal", 1, 2, 3, seed=11)),
        _scan_case("zero decays (a = 0 erases that mode's state)",
                   make_inputs("diagonal", 8, 3, 2, regime="zero", seed=12)),
        _scan_case("negative decays", make_inputs("diagonal", 7, 2, 2, regime="negative", seed=13)),
        _scan_case("initial_state=None (start from zeros)",
                   make_inputs("diagonal", 5, 2, 3, seed=14, initial_state=False)),
        _scan_case("leading batch axes (2, 3), T = 5, N = 2, P = 2",
                   make_inputs("diagonal", 5, 2, 2, (2, 3), regime="zero", seed=15)),
        _scan_case("N = 1, P = 1", make_inputs("diagonal", 9, 1, 1, seed=16)),
    ]
    return run_cases("diagonal_scan", fn, cases, ("x", "a", "B", "C", "initial_state"))


# --------------------------------------------------------------------------------------------
# Exercise 4: the sum-of-heads kernel


def _heads_structure(arr, case):
    return _above_diagonal(arr, 0.0, "M", "(y_t may not see x_s from the future)")


def _heads_judge():
    inner = _judge_array("M", "(..., T, T)", (
        ". A NaN at a zero decay often comes from the single-mask rewrite C o p, B / p "
        "(it needs a[1:] != 0) or from a log: build each head's mask from direct products"),
        _heads_structure)

    def judge(got, case):
        arr, msg = as_result_array(got, "M")
        if msg is None and arr.shape == case.info["heads_shape"] and arr.shape != case.expected.shape:
            return (f"M has shape {arr.shape}: those are the N heads; the kernel is their sum "
                    f"over n, shape {case.expected.shape}")
        return inner(got, case)
    return judge


def _heads_case(name: str, d: dict) -> Case:
    a, B, C = d["a"], d["B"], d["C"]
    M = ref.diagonal_kernel(a, B, C)
    variants = [
        ("query and key are swapped: head n is 1SS(a[:, n]) o (C[:, n] B[:, n]^T), the query "
         "C (output time t) on the rows and the key B (input time s) on the columns",
         ref.diagonal_kernel(a, C, B)),
        ("every head used the decays of mode 0: head n needs its own mask 1SS(a[:, n])",
         ref.diagonal_kernel(np.broadcast_to(a[..., :1], a.shape).copy(), B, C)),
        ("only the first head: sum all N heads", ref.diagonal_heads(a, B, C)[..., 0, :, :]),
        ("transposed: M must be lower triangular (row t, column s)", np.swapaxes(M, -1, -2)),
    ]
    heads_shape = (*M.shape[:-2], a.shape[-1], *M.shape[-2:])
    return Case(name, (a, B, C), M, _heads_judge(),
                dict(variants=variants, heads_shape=heads_shape))


def check_sum_of_heads(fn) -> GradeResult:
    """Grade ``fn(a, B, C) -> M``, the diagonal kernel as a sum of N 1-SS masked attentions.

    M = sum_n 1SS(a[:, n]) o (C[:, n] B[:, n]^T); a, B, C (..., T, N); M (..., T, T). Cases:
    random, T = 1, N = 1, zero decays, negative decays, leading batch axes.
    """
    def abc(*args, **kw):
        d = make_inputs("diagonal", *args, **kw)
        return dict(a=d["a"], B=d["B"], C=d["C"])
    cases = [
        _heads_case("T = 6, N = 3, random decays", abc(6, 3, 1, seed=20)),
        _heads_case("T = 1, N = 2", abc(1, 2, 1, seed=21)),
        _heads_case("N = 1 (one head: a scalar SSM)", abc(5, 1, 1, seed=22)),
        _heads_case("zero decays (the single-mask rewrite breaks here)",
                    abc(8, 3, 1, regime="zero", seed=23)),
        _heads_case("negative decays", abc(6, 2, 1, regime="negative", seed=24)),
        _heads_case("leading batch axes (2, 2), T = 5, N = 3", abc(5, 3, 1, (2, 2), seed=25)),
    ]
    return run_cases("sum_of_heads", fn, cases, ("a", "B", "C"))


# --------------------------------------------------------------------------------------------
# Exercise 5: the chunked algorithm's state passing


def _judge_pass(got, case):
    first, last, msg = _pair(got, ("H_prev", "H_last"))
    if msg:
        return msg
    Hp_exp, Hl_exp = case.expected
    Hp, msg = as_result_array(first, "H_prev")
    if msg:
        return msg
    Hl, msg = as_result_array(last, "H_last")
    if msg:
        return msg
    msg = shape_diagnosis(Hp, Hp_exp, "H_prev", "(..., J, N, P): the state entering each chunk")
    if msg:
        return msg
    msg = shape_diagnosis(Hl, Hl_exp, "H_last", "(..., N, P): the final state")
    if msg:
        return msg
    for what, arr, exp in (("H_prev", Hp, Hp_exp), ("H_last", Hl, Hl_exp)):
        msg = nonfinite_diagnosis(arr, exp, what)
        if msg:
            return msg
    p_ok, l_ok = close(Hp, Hp_exp, TOL), close(Hl, Hl_exp, TOL)
    if p_ok and l_ok:
        return None
    for description, (vp, vl) in case.info["variants"]:
        if close(Hp, vp, TOL) and (vl is None or close(Hl, vl, TOL)):
            return description
    if p_ok:
        return "H_prev is right but " + worst_entry(Hl, Hl_exp, "H_last")
    return worst_entry(Hp, Hp_exp, "H_prev")


def _pass_case(name: str, abar, S, h0) -> Case:
    abar, S, h0 = (np.asarray(v, dtype=np.float64) for v in (abar, S, h0))
    Hp, Hl = ref.state_passing(abar, S, h0)
    after = np.concatenate([Hp[..., 1:, :, :], Hl[..., None, :, :]], axis=-3)
    variants = [
        ("off by one chunk: H_prev[c] must be the state *entering* chunk c (H_{c-1}, with "
         "H_prev[0] = initial_state), not the state after it", (after, Hl)),
        ("initial_state is ignored: H_{-1} = initial_state",
         ref.state_passing(abar, S, np.zeros_like(h0))),
        ("the chunk decay also multiplies the chunk's own state: H_c = abar_c (H_{c-1} + S_c); "
         "S_c already holds the decay inside chunk c, so H_c = abar_c H_{c-1} + S_c",
         ref.state_passing(abar, abar[..., None] * S, h0)),
        ("H_last is the state entering the last chunk; apply the last update too",
         (Hp, Hp[..., -1, :, :])),
    ]
    return Case(name, (abar, S, h0), (Hp, Hl), _judge_pass, dict(variants=variants))


def check_pass_states(fn) -> GradeResult:
    """Grade ``fn(abar, S, initial_state) -> (H_prev, H_last)``, step 3 of the chunked algorithm.

    abar (..., J, N) decay across each chunk, S (..., J, N, P) chunk states from a zero start,
    initial_state (..., N, P). H_c = abar_c H_{c-1} + S_c with H_{-1} = initial_state;
    H_prev[c] = H_{c-1} (the state entering chunk c), H_last = H_{J-1}. Cases: random, one
    chunk, a zero chunk decay, negative decays, leading batch axes, N = P = 1.
    """
    rng = np.random.default_rng(3)

    def data(J, N, P, batch=(), low=0.3):
        return (rng.uniform(low, 1, (*batch, J, N)), rng.standard_normal((*batch, J, N, P)),
                rng.standard_normal((*batch, N, P)))

    zero = data(5, 2, 3)
    zero[0][2, 0] = 0.0
    cases = [
        _pass_case("J = 4 chunks, N = 2, P = 3", *data(4, 2, 3)),
        _pass_case("one chunk (J = 1)", *data(1, 3, 2)),
        _pass_case("a chunk decay of 0 (mode 0 forgets everything before chunk 3)", *zero),
        _pass_case("negative chunk decays", *data(5, 2, 2, low=-1)),
        _pass_case("leading batch axes (2, 3), J = 3", *data(3, 2, 2, batch=(2, 3))),
        _pass_case("N = 1, P = 1", *data(6, 1, 1)),
    ]
    return run_cases("pass_states", fn, cases, ("abar", "S", "initial_state"))


# --------------------------------------------------------------------------------------------
# Exercise 6: counting new columns


def _rank(X) -> int:
    return int(np.linalg.matrix_rank(X)) if X.size and np.any(X) else 0


def _judge_count(got, case):
    expected = case.expected
    if got is None:
        return ("returned None: the function body is not written yet (or it forgot to "
                "return); return the number of new columns, an int")
    if isinstance(got, (list, tuple, np.ndarray)) and np.ndim(got) == 1:
        hint = (" (your list has the right length: return len(...) of it)"
                if len(got) == expected else "")
        return (f"returned a {type(got).__name__} of {len(got)} items; return the count of "
                f"new columns, an int{hint}")
    if isinstance(got, bool) or not isinstance(got, (int, np.integer, float, np.floating)) \
            or float(got) != int(got):
        return f"returned {got!r}; expected an integer count"
    got = int(got)
    if got == expected:
        return None
    head = f"got {got}, expected nu = {expected}"
    matches = [description for description, value in case.info["variants"] if got == value]
    if matches:
        # on this M several mistakes give the same number: name each of them
        return f"{head}: " + "; or ".join(matches)
    return f"{head} on M =\n{case.args[0]}"


def _count_case(name: str, M) -> Case:
    from .. import structure  # the package's count and ranks (THEORY.md 2.3, 2.6)

    M = np.asarray(M, dtype=np.float64)
    T = M.shape[0]
    nonzero_cols = int(np.sum(np.any(M != 0, axis=0)))
    # the row-range trap: rank M[t:, :t] taken as the previous step's rank M[t-1:, :t]
    trap = sum(_rank(M[t:, :t + 1]) - (_rank(M[t - 1:, :t]) if t else 0) for t in range(T))
    variants = [
        ("that is the ordinary rank of M, which is T for any triangular M with a nonzero "
         "diagonal; nu counts columns t where appending M[t:, t] to the block M[t:, :t] "
         "(rows t..T-1 only) raises the rank", _rank(M)),
        ("that is the semiseparable rank max_t rank M[t:, :t+1]; nu adds up the rank "
         "increments rank M[t:, :t+1] - rank M[t:, :t] over every t, which can exceed the "
         "largest block rank", structure.ss_rank(M)),
        ("that is the number of nonzero columns; a nonzero column is not new when it lies in "
         "the span of the earlier columns restricted to rows t..T-1", nonzero_cols),
        ("you compared with the previous step's block M[t-1:, :t]; the row range shrinks "
         "with t, so compare rank M[t:, :t+1] with rank M[t:, :t], both on rows t..T-1",
         trap),
        ("column 0 counts as new only when it is nonzero (a zero column is never new)",
         structure.nu(M) + 1),
    ]
    return Case(name, (M,), structure.nu(M), _judge_count,
                dict(variants=[(d, v) for d, v in variants if v != structure.nu(M)]))


def check_count_new_columns(fn) -> GradeResult:
    """Grade ``fn(M) -> int``, the number of new columns nu(M) of a lower-triangular M (T, T).

    Column t is new iff ``rank M[t:, :t+1] > rank M[t:, :t]`` (the same rows t..T-1). Cases:
    the paper's N = 2, T = 4 example (nu = 3 > ssrank 2), I + E_{T-1,0} (nu = T - 1), I_T,
    tril(ones), the zero matrix, T = 1, a zero column, a random fine diagonal kernel (nu = N)
    and a scalar kernel split by a zero decay.
    """
    T6 = 6
    corner = np.eye(T6)
    corner[-1, 0] = 1.0
    d = make_inputs("diagonal", 12, 3, 1, seed=30)
    a_fine = np.random.default_rng(31).uniform(0.9, 1.0, (12, 3))
    s = make_inputs("scalar", 8, 2, 1, seed=32)
    s["a"][4] = 0.0
    cases = [
        _count_case("the N = 2, T = 4 example of Remark 4.1",
                    [[2, 0, 0, 0], [1, 2, 0, 0], [0, 1, 2, 0], [0, 0, 1, 2]]),
        _count_case("I + E_{T-1,0}, T = 6 (Prop. 5.1)", corner),
        _count_case("the identity I_5", np.eye(5)),
        _count_case("tril(ones(5)), the causal mask", np.tril(np.ones((5, 5)))),
        _count_case("the zero matrix, T = 4", np.zeros((4, 4))),
        _count_case("T = 1, M = [[3]]", [[3.0]]),
        _count_case("diag(1, 0, 1, 1): a zero column", np.diag([1.0, 0.0, 1.0, 1.0])),
        _count_case("a random fine diagonal kernel, T = 12, N = 3",
                    ref.diagonal_kernel(a_fine, d["B"], d["C"])),
        _count_case("a scalar kernel, N = 2, with a zero decay at t = 4",
                    ref.scalar_kernel(s["a"], s["B"], s["C"])),
    ]
    return run_cases("count_new_columns", fn, cases, ("M",))
