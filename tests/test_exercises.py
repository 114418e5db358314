"""The classroom graders: every reference solution passes, every planted mistake is named.

Each planted attempt is a plausible student answer; the test pins the words of its diagnosis.
"""
import numpy as np
import pytest

import ssd_edu
from ssd_edu import reference as ref
from ssd_edu import structure
from ssd_edu.exercises import EXERCISES, ExerciseFailure, GradeResult, grade, solutions
from ssd_edu import exercises as checks
from ssd_edu.exercises.grading import run_cases
from ssd_edu.testing import TOLERANCES


@pytest.mark.parametrize("name", list(EXERCISES))
def test_reference_solution_passes(name):
    ex = EXERCISES[name]
    result = ex.check(ex.solution)
    assert isinstance(result, GradeResult)
    assert result.passed, result.message
    assert result.n_passed == result.n_cases >= 8
    assert result.message.startswith(f"{name}: all {result.n_cases} cases passed")


@pytest.mark.parametrize("name", list(EXERCISES))
def test_every_battery_has_extreme_and_scaled_cases(name):
    categories = EXERCISES[name].check(EXERCISES[name].solution).by_category
    assert {"basic", "edge", "extreme", "scaled"} <= set(categories), categories


@pytest.mark.parametrize("name", list(EXERCISES))
def test_empty_skeleton_is_reported_not_raised(name):
    result = EXERCISES[name].check(lambda *args: None)
    assert not result.passed and "None" in result.message and "case 1/" in result.message
    assert result.n_passed == 0 and f"passed 0 of {result.n_cases} cases" in result.message


def test_at_least_twelve_exercises_with_points():
    assert len(EXERCISES) >= 12
    for ex in EXERCISES.values():
        assert ex.points >= 1 and ex.difficulty in ("easy", "medium", "hard")


def test_grade_prints_and_never_raises(capsys):
    ok = grade(checks.check_one_ss_mask, solutions.one_ss_mask)
    bad = grade(checks.check_one_ss_mask, lambda a: 1 / 0)
    out = capsys.readouterr().out
    assert ok and not bad
    assert out == ok.message + "\n" + bad.message + "\n"
    assert "raised ZeroDivisionError" in bad.message
    with pytest.raises(ExerciseFailure, match="ZeroDivisionError"):
        bad.raise_if_failed()
    assert ok.raise_if_failed() is ok
    assert not checks.check_segsum("not a function")


# --------------------------------------------------------------------------------------------
# Fairness: every case runs, tolerance by dtype, tallies by category


def test_every_case_runs_and_the_tally_is_order_free():
    from ssd_edu.exercises.masks import mask_cases

    def half_wrong(a):  # wrong exactly on the batch and extreme cases
        L = solutions.one_ss_mask(a)
        tiny = np.any((np.abs(a) > 0) & (np.abs(a) < 1e-100))
        return L * 2 if np.ndim(a) > 1 or len(a) >= 100 or tiny else L
    cases = mask_cases()
    forward = run_cases("one_ss_mask", half_wrong, cases, ("a",), allow_package=True)
    backward = run_cases("one_ss_mask", half_wrong, cases[::-1], ("a",), allow_package=True)
    assert forward.n_passed == backward.n_passed == forward.n_cases - 3
    assert forward.by_category["batch"] == (0, 1) and forward.by_category["extreme"] == (0, 2)
    assert forward.by_category["basic"] == (3, 3)
    assert "batch 0/1" in forward.message and "extreme 0/2" in forward.message
    assert len(forward.failures) == 3


def test_float32_answer_is_judged_at_the_float32_tolerance():
    def in_float32(a):
        return solutions.one_ss_mask(np.asarray(a, dtype=np.float32)).astype(np.float32)
    result = checks.check_one_ss_mask(in_float32, allow_package=True)
    assert result.passed
    # 11 float64 cases and 1 float32 case: the message says why each was judged in float32
    assert "all 12 cases passed (12 of them judged at the float32 tolerance 2e-05: 11 with a " \
        "float32 answer, 1 with float32 data)" in result.message, result.message
    exact = checks.check_one_ss_mask(solutions.one_ss_mask)
    assert exact.message.endswith("(1 of them judged at the float32 tolerance 2e-05: 1 with "
                                  "float32 data)"), exact.message

    def diagonal_scan32(x, a, B, C, initial_state=None):
        y, h = solutions.diagonal_scan(x, a, B, C, initial_state)
        return y.astype(np.float32), h.astype(np.float32)
    assert checks.check_diagonal_scan(diagonal_scan32, allow_package=True).passed

    def slightly_off32(a):  # right in float32, but 1e-4 off: beyond the float32 tolerance
        L = solutions.one_ss_mask(a)
        return (L + 1e-4 * np.tril(L, -1)).astype(np.float32)
    result = checks.check_one_ss_mask(slightly_off32, allow_package=True)
    assert not result.passed
    assert f"the float32 tolerance {TOLERANCES[np.dtype(np.float32)]:.0e}" in result.message
    assert "your answer is float32" in result.message


def test_float64_answer_is_judged_at_the_float64_tolerance():
    def slightly_off(a):
        L = solutions.one_ss_mask(a)
        return L + 1e-9 * np.tril(L, -1)
    result = checks.check_one_ss_mask(slightly_off, allow_package=True)
    assert not result.passed and "the float64 tolerance 1e-12" in result.message


# --------------------------------------------------------------------------------------------
# Calling the package function one is meant to write


PACKAGE_CALLS = [
    ("one_ss_mask", lambda a: ssd_edu.one_ss_mask(a), "ssd_edu.reference.masks.one_ss_mask"),
    ("diagonal_scan",
     lambda x, a, B, C, h0=None: ssd_edu.diagonal_scan(x, a, B, C, initial_state=h0),
     "diagonal_scan"),
    ("pass_states", lambda abar, S, h0: ref.state_passing(abar, S, initial_state=h0),
     "ssd_edu.reference.chunking.state_passing"),
    ("count_new_columns", lambda M: structure.nu(M), "ssd_edu.structure.nu"),
    ("segsum", lambda la: solutions.segsum(la), "ssd_edu.exercises.solutions.segsum"),
]


@pytest.mark.parametrize("name, attempt, called", PACKAGE_CALLS, ids=[p[0] for p in PACKAGE_CALLS])
def test_calling_the_package_fails_unless_allowed(name, attempt, called):
    ex = EXERCISES[name]
    result = ex.check(attempt)
    assert not result.passed and result.n_passed == 0
    assert "your function calls" in result.message and called in result.message
    assert "allow_package=True" in result.message
    assert ex.check(attempt, allow_package=True).passed


def test_a_building_block_from_the_package_is_allowed():
    def sum_of_heads(a, B, C):
        return sum(ssd_edu.one_ss_mask(a[..., n]) * (C[..., :, n, None] * B[..., None, :, n])
                   for n in range(a.shape[-1]))
    assert checks.check_sum_of_heads(sum_of_heads).passed


# --------------------------------------------------------------------------------------------
# Planted wrong attempts: (attempt, the case it must fail on, words the diagnosis must contain)


def _mask_ratio(a):
    p = np.cumprod(a, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.tril(p[..., :, None] / p[..., None, :])


def _mask_loop(a, lo, hi, full=False):
    a = np.asarray(a)
    T = a.shape[-1]
    L = np.zeros(a.shape + (T,))
    for t in range(T):
        for s in range(T if full else t + 1):
            L[..., t, s] = np.prod(a[..., s + lo:t + hi], axis=-1) if s <= t or full else 0
    return L


def _mask_one_d(a):
    T = a.shape[-1]
    L = np.eye(T)
    for t in range(T):
        for s in range(t):
            L[t, s] = np.prod(a[s + 1:t + 1])
    return L


def _mask_in_place(a):
    a[..., 0] = 1.0
    return solutions.one_ss_mask(a)


def _mask_log(a):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(ref.segsum_naive(np.log(a)))


MASK_MISTAKES = [
    (_mask_ratio, "the identity", ["NaN", "divide cumulative products"]),
    (lambda a: _mask_loop(a, 0, 1), "T = 5", ["includes a_s"]),
    (lambda a: _mask_loop(a, 0, 0), "T = 5", ["s <= u < t"]),
    (lambda a: _mask_loop(a, 1, 1, full=True), "T = 5", ["not causal", "above the diagonal"]),
    (lambda a: np.swapaxes(solutions.one_ss_mask(a), -1, -2), "T = 5", ["transposed"]),
    (_mask_one_d, "batch", ["shape (5, 5)", "leading (batch) axes (2, 3) are missing"]),
    (_mask_in_place, "T = 5", ["modified its input a"]),
    (_mask_log, "negative decays", ["NaN"]),
    (lambda a: solutions.one_ss_mask(a)[..., :-1, :], "T = 5", ["shape (4, 5)"]),
]


def _segsum_naive(log_a):
    with np.errstate(invalid="ignore"):
        return ref.segsum_naive(log_a)


def _segsum_with_s(log_a):
    S = solutions.segsum(log_a)
    return np.where(np.isfinite(S) | (np.tri(S.shape[-1], dtype=bool) & ~np.isnan(S)),
                    S + np.asarray(log_a)[..., None, :], S)


SEGSUM_MISTAKES = [
    (_segsum_naive, "zero decay at t = 3", ["NaN", "-inf - (-inf)"]),
    (lambda la: np.where(np.tri(np.shape(la)[-1], dtype=bool), solutions.segsum(la), 0.0),
     "T = 5", ["not causal", "-inf"]),
    (_segsum_with_s, "T = 5", ["includes log_a[s]"]),
    (lambda la: np.exp(solutions.segsum(la)), "T = 5", ["returned exp(S)"]),
    (lambda la: solutions.segsum(la) * 1.01, "T = 5", ["S is wrong", "worst at index"]),
]


def _scan_variant(x, a, B, C, initial_state=None, *, late=False, decay_input=False,
                  mode0=False, all_states=False, transpose=False, ignore_h0=False):
    x, a, B, C = (np.asarray(v) for v in (x, a, B, C))
    N, P = a.shape[-1], x.shape[-1]
    h = np.zeros(x.shape[:-2] + (N, P))
    if initial_state is not None and not ignore_h0:
        h = h + initial_state
    ys, hs = [], []
    for t in range(x.shape[-2]):
        decay = a[..., t, :1] if mode0 else a[..., t, :]
        if late:
            ys.append((h * C[..., t, :, None]).sum(-2))
        inp = B[..., t, :, None] * x[..., t, None, :]
        h = decay[..., None] * (h + inp) if decay_input else decay[..., None] * h + inp
        if not late:
            ys.append((h * C[..., t, :, None]).sum(-2))
        hs.append(h)
    y = np.stack(ys, -2)
    if all_states:
        return y, np.stack(hs, -3)
    return y, (np.swapaxes(h, -1, -2) if transpose else h)


SCAN_MISTAKES = [
    (lambda *a: _scan_variant(*a, late=True), "T = 6", ["off by one step", "h_{t-1}^T C_t"]),
    (lambda *a: _scan_variant(*a, decay_input=True), "T = 6",
     ["decay also multiplies the new input"]),
    (lambda *a: _scan_variant(*a, mode0=True), "T = 6", ["decay of mode 0"]),
    (lambda *a: _scan_variant(*a, ignore_h0=True), "T = 6", ["initial_state is ignored"]),
    (lambda *a: _scan_variant(*a, all_states=True), "T = 6", ["every state"]),
    (lambda *a: _scan_variant(*a, transpose=True), "T = 6", ["last two axes are swapped"]),
    (lambda x, a, B, C, h0=None: solutions.diagonal_scan(x, a, C, B, h0), "T = 6",
     ["B and C are swapped"]),
    (lambda *a: solutions.diagonal_scan(*a)[0], "T = 6", ["return the pair (y, the final state h)"]),
    (lambda *a: (solutions.diagonal_scan(*a)[0], a[4]), "T = 6",
     ["returned h is the initial state"]),
]


def _single_mask(a, B, C):
    a = np.asarray(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.cumprod(np.concatenate([np.ones_like(a[..., :1, :]), a[..., 1:, :]], -2), -2)
        return np.tril(np.einsum("...tn,...sn->...ts", C * p, B / p))


def _heads_only(a, B, C):
    return np.stack([solutions.one_ss_mask(a[..., n]) * (C[..., :, n, None] * B[..., None, :, n])
                     for n in range(a.shape[-1])], axis=-3)


HEADS_MISTAKES = [
    (_heads_only, "T = 6", ["those are the N heads"]),
    (lambda a, B, C: solutions.sum_of_heads(a, C, B), "T = 6", ["query and key are swapped"]),
    (lambda a, B, C: solutions.sum_of_heads(np.repeat(a[..., :1], a.shape[-1], -1), B, C),
     "T = 6", ["decays of mode 0"]),
    (_single_mask, "zero decays", ["NaN", "single-mask rewrite"]),
    (lambda a, B, C: _heads_only(a, B, C)[..., 0, :, :], "T = 6", ["only the first head"]),
    (lambda a, B, C: solutions.sum_of_heads(a, B, C) + np.triu(np.ones(a.shape[-2]), 1),
     "T = 6", ["not causal"]),
]


def _pass_after(abar, S, h0):
    H_prev, H = solutions.pass_states(abar, S, h0)
    return np.concatenate([H_prev[..., 1:, :, :], H[..., None, :, :]], axis=-3), H


PASS_MISTAKES = [
    (_pass_after, "J = 4", ["off by one chunk", "entering"]),
    (lambda abar, S, h0: solutions.pass_states(abar, S, np.zeros_like(h0)), "J = 4",
     ["initial_state is ignored"]),
    (lambda abar, S, h0: solutions.pass_states(abar, np.asarray(abar)[..., None] * S, h0),
     "J = 4", ["H_c = abar_c (H_{c-1} + S_c)"]),
    (lambda abar, S, h0: (solutions.pass_states(abar, S, h0)[0],) * 2, "J = 4",
     ["H_last has shape"]),
    (lambda abar, S, h0: (lambda Hp, H: (Hp, Hp[..., -1, :, :]))(
        *solutions.pass_states(abar, S, h0)), "J = 4", ["apply the last update"]),
]

def _mask_clamped_segsum(log_a):  # the clamp of issue 12: log a >= -1e4
    return solutions.segsum(np.maximum(np.asarray(log_a, dtype=float), -1e4))


def _segsum_via_mask(log_a):
    with np.errstate(divide="ignore"):
        return np.log(solutions.one_ss_mask(np.exp(np.asarray(log_a, dtype=float))))


SEGSUM_MISTAKES += [
    (_mask_clamped_segsum, "zero decay", ["a finite value where an infinite value is expected",
                                          "clamp log_a"]),
    (_segsum_via_mask, "exp(log_a) underflows", ["infinite value where a finite value",
                                                 "go through exp(log_a)"]),
]


def _shared_decay(how):
    def attempt(x, a, B, C, h0=None):
        a = np.asarray(a)
        shared = a.mean(axis=-1) if how == "mean" else a.prod(axis=-1)
        return solutions.diagonal_scan(x, np.repeat(shared[..., None], a.shape[-1], -1), B, C, h0)
    return attempt


def _scan_no_decay0(x, a, B, C, h0=None):
    a = np.array(a, dtype=float)
    a[..., 0, :] = 1.0
    return solutions.diagonal_scan(x, a, B, C, h0)


def _scan_prev_decay(x, a, B, C, h0=None):  # h = a[t-1] * h + ..., a[-1] at t = 0
    return solutions.diagonal_scan(x, np.roll(a, 1, axis=-2), B, C, h0)


def _scan_no_decay(x, a, B, C, h0=None):  # h = h + B x^T: the running sum
    return solutions.diagonal_scan(x, np.ones_like(np.asarray(a, dtype=float)), B, C, h0)


def _scan_y_without_h0(x, a, B, C, h0=None):
    return solutions.diagonal_scan(x, a, B, C)[0], solutions.diagonal_scan(x, a, B, C, h0)[1]


SCAN_MISTAKES += [
    (_shared_decay("mean"), "T = 6", ["one decay shared by all modes", "mean"]),
    (_shared_decay("product"), "T = 6", ["one decay shared by all modes", "product"]),
    (_scan_no_decay0, "T = 6", ["decay at t = 0 is missing"]),
    (_scan_prev_decay, "T = 6", ["the decay is a[t-1]"]),
    (_scan_y_without_h0, "T = 6", ["y leaves out the initial state"]),
    (_scan_no_decay, "T = 6", ["the state never decays"]),
]


def _heads_shared(how):
    def attempt(a, B, C):
        a = np.asarray(a)
        shared = a.mean(axis=-1) if how == "mean" else a.prod(axis=-1)
        return solutions.sum_of_heads(np.repeat(shared[..., None], a.shape[-1], -1), B, C)
    return attempt


HEADS_MISTAKES += [
    (_heads_shared("mean"), "T = 6", ["one mask shared by all modes", "mean"]),
    (_heads_shared("product"), "T = 6", ["one mask shared by all modes", "product"]),
]

PASS_MISTAKES += [
    (lambda abar, S, h0: solutions.pass_states(np.roll(abar, 1, axis=-2), S, h0), "J = 4",
     ["the chunk decay is abar[c-1]"]),
]


def _alg1(x, a, B, C, h0=None, *, no_c=False, last=False):
    y, h = solutions.algorithm1(x, a, B, C, h0)
    if no_c:
        y = solutions.algorithm1(x, a, B, np.ones_like(C), h0)[0]
    if last:
        y = solutions.algorithm1(x, a[..., -1:], B[..., -1:], C[..., -1:],
                                 None if h0 is None else np.asarray(h0)[..., -1:, :])[0]
    return y, h


ALGORITHM1_MISTAKES = [
    (lambda *a: _alg1(*a, no_c=True), "T = 6", ["weight each by its query"]),
    (lambda *a: _alg1(*a, last=True), "T = 6", ["only the last mode", "y +="]),
    (lambda x, a, B, C, h0=None: solutions.algorithm1(x, a, np.ones_like(B), C, h0), "T = 6",
     ["Z = x for every mode"]),
]


def _chunked_pad0(x, a, B, C, Q, h0=None):
    x, a, B, C = (np.asarray(v) for v in (x, a, B, C))
    T = x.shape[-2]
    pad = -T % Q
    def padded(v, fill):
        return np.concatenate([v, np.full(v.shape[:-2] + (pad, v.shape[-1]), fill)], axis=-2)
    y, h = solutions.chunked_scan(padded(x, 0), padded(a, 0.0), padded(B, 0), padded(C, 0), Q, h0)
    return y[..., :T, :], h


def _chunked_nopass(x, a, B, C, Q, h0=None):
    x, a, B, C = (np.asarray(v) for v in (x, a, B, C))
    ys, h = [], None
    for b in range(0, x.shape[-2], Q):
        y_c, h = solutions.diagonal_scan(x[..., b:b + Q, :], a[..., b:b + Q, :], B[..., b:b + Q, :],
                                         C[..., b:b + Q, :], h0 if b == 0 else None)
        ys.append(y_c)
    return np.concatenate(ys, axis=-2), h


CHUNKED_MISTAKES = [
    (_chunked_pad0, "T = 6", ["padded the decays with 0"]),
    (_chunked_nopass, "T = 6", ["no state passing"]),
    (lambda x, a, B, C, Q, h0=None: solutions.chunked_scan(x, a, B, C, Q), "T = 6",
     ["initial_state is ignored"]),
    (lambda x, a, B, C, Q, h0=None: solutions.diagonal_scan(x, a, B, C, h0), "T = 6", []),
]

ALL_MISTAKES = ([("one_ss_mask", *m) for m in MASK_MISTAKES]
                + [("segsum", *m) for m in SEGSUM_MISTAKES]
                + [("diagonal_scan", *m) for m in SCAN_MISTAKES]
                + [("sum_of_heads", *m) for m in HEADS_MISTAKES]
                + [("pass_states", *m) for m in PASS_MISTAKES]
                + [("algorithm1", *m) for m in ALGORITHM1_MISTAKES]
                + [("chunked_scan", *m) for m in CHUNKED_MISTAKES[:3]])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the attempts' own overflows
@pytest.mark.parametrize("name, attempt, case, words", ALL_MISTAKES,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(ALL_MISTAKES)])
def test_planted_mistake_is_diagnosed(name, attempt, case, words):
    # the attempts are built from the reference solutions, which the graders otherwise refuse
    result = EXERCISES[name].check(attempt, allow_package=True)
    assert not result.passed
    assert case in result.case, result.message
    for w in words:
        assert w in result.message, result.message


def test_chunked_exercise_refuses_the_scan_solution_of_ex03():
    # the ex03 solution is not a package SSM form: it passes; the package's scan does not
    attempt = CHUNKED_MISTAKES[3][0]
    assert checks.check_chunked_scan(attempt).passed
    result = checks.check_chunked_scan(
        lambda x, a, B, C, Q, h0=None: ssd_edu.diagonal_chunked(x, a, B, C, chunk_size=Q,
                                                                initial_state=h0))
    assert not result.passed and "your function calls" in result.message


def _rank(X):
    return np.linalg.matrix_rank(X) if X.size and np.any(X) else 0


def _nu_lstsq_absolute(M):  # a new column = least-squares residual above an absolute 1e-8
    M = np.asarray(M, dtype=float)
    count = int(np.linalg.norm(M[:, 0]) > 1e-8)
    for t in range(1, len(M)):
        coef = np.linalg.lstsq(M[t:, :t], M[t:, t], rcond=None)[0]
        count += int(np.linalg.norm(M[t:, :t] @ coef - M[t:, t]) > 1e-8)
    return count


def _nu_max_blocks(M):
    M = np.asarray(M)
    cuts = [0, *solutions.split_points(M), len(M)]
    return max(solutions.count_new_columns(M[b:e, b:e]) for b, e in zip(cuts, cuts[1:]))


def _nu_prev_column(M):
    M = np.asarray(M)
    return int(np.any(M[:, 0])) + sum(
        _rank(M[t:, t - 1:t + 1]) - _rank(M[t:, t - 1:t]) for t in range(1, len(M)))


COUNT_MISTAKES = [
    (lambda M: structure.ss_rank(M), "N = 2, T = 4", ["semiseparable rank"]),
    (lambda M: _rank(np.asarray(M)), "N = 2, T = 4", ["ordinary rank"]),
    (lambda M: int(np.sum(np.any(np.asarray(M) != 0, axis=0))), "N = 2, T = 4",
     ["number of nonzero columns"]),
    (lambda M: sum(_rank(M[t:, :t + 1]) - (_rank(M[t - 1:, :t]) if t else 0)
                   for t in range(len(M))), "N = 2, T = 4", ["previous step's block"]),
    (lambda M: 1 + sum(_rank(M[t:, :t + 1]) - _rank(M[t:, :t]) for t in range(1, len(M))),
     "zero matrix", ["column 0 counts as new only when it is nonzero"]),
    (lambda M: sum(_rank(M[t:, :t + 1]) - _rank(M[t:, :t]) for t in range(1, len(M))),
     "N = 2, T = 4", ["column 0 is skipped"]),
    (_nu_max_blocks, "zero decay at t = 4", ["largest nu over the split blocks"]),
    (_nu_prev_column, "I + E", ["previous column M[t:, t-1] only"]),
    (_nu_lstsq_absolute, "1e-200", ["fails only on the", "absolute"]),
    (lambda M: [t for t in range(len(M))
                if _rank(M[t:, :t + 1]) > _rank(M[t:, :t])], "N = 2, T = 4",
     ["returned a list of 3 items", "return len(...)"]),
    (lambda M: 2.5, "N = 2, T = 4", ["expected an integer count"]),
]

SSRANK_MISTAKES = [
    (lambda M: max(_rank(M[t:, :t]) for t in range(len(M))), "N = 2, T = 4", ["strict blocks"]),
    (lambda M: _rank(M[len(M) // 2:, :len(M) // 2 + 1]), "zero decay at t = 4", ["only the middle block"]),
    (lambda M: structure.nu(M), "N = 2, T = 4", ["that is nu(M)"]),
    (lambda M: _rank(np.asarray(M)), "N = 2, T = 4", ["ordinary rank"]),
]

SPLIT_MISTAKES = [
    (lambda M: [t for t in range(1, len(M)) if M[t, t - 1] == 0], "I + E", ["subdiagonal"]),
    (lambda M: [0] + solutions.split_points(M), "N = 2, T = 4", ["t = 0 is not a split point"]),
    (lambda M: [t - 1 for t in solutions.split_points(M)], "zero decay", ["off by one"]),
    (lambda M: [t for t in range(1, len(M)) if np.allclose(M[t:, :t], 0)], "1e-200",
     ["with a tolerance"]),
    (lambda M: len(solutions.split_points(M)), "N = 2, T = 4", ["return the list"]),
]


def _dual_no_split(M, N):
    a, Q, K = solutions.one_ss_dual(M, N)
    return np.ones_like(a), Q, K


def _dual_never_raises(M, N):
    try:
        return solutions.one_ss_dual(M, N)
    except ValueError:
        return solutions.one_ss_dual(M, len(M))


DUAL_MISTAKES = [
    (_dual_no_split, "zero decay at t = 4", ["across the split point t = 4", "a_t = 0"]),
    (lambda M, N: solutions.one_ss_dual(M, len(M) + 1), "fine scalar", ["width"]),
    (_dual_never_raises, "no dual", ["expected ValueError"]),
]


def _power_float(T, base=2):
    return [[float(base) ** ((i + 1) * (j + 1)) if j <= i else 0.0 for j in range(T)]
            for i in range(T)]


def _power_int64(T, base=2):
    i = np.arange(1, T + 1)
    with np.errstate(over="ignore"):
        return np.tril(np.int64(base) ** np.outer(i, i))


POWER_MISTAKES = [
    (_power_float, "T = 4", ["is a float", "exact integer"]),
    (_power_int64, "beyond int64", ["int64 array overflows"]),
    (lambda T, base=2: [[base ** (i * j) if j <= i else 0 for j in range(T)] for i in range(T)],
     "T = 4", ["0-based exponents"]),
    (lambda T, base=2: [[base ** ((i + 1) * (j + 1)) for j in range(T)] for i in range(T)],
     "T = 4", ["not causal"]),
]

STRUCTURE_MISTAKES = ([("count_new_columns", *m) for m in COUNT_MISTAKES]
                      + [("ss_rank", *m) for m in SSRANK_MISTAKES]
                      + [("split_points", *m) for m in SPLIT_MISTAKES]
                      + [("one_ss_dual", *m) for m in DUAL_MISTAKES]
                      + [("power_kernel", *m) for m in POWER_MISTAKES])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name, attempt, case, words", STRUCTURE_MISTAKES,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(STRUCTURE_MISTAKES)])
def test_planted_structure_mistake_is_diagnosed(name, attempt, case, words):
    test_planted_mistake_is_diagnosed(name, attempt, case, words)
