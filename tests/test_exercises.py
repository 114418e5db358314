"""The classroom graders: every reference solution passes, every planted mistake is named."""
import numpy as np
import pytest

from ssd_edu import reference as ref
from ssd_edu.exercises import EXERCISES, ExerciseFailure, GradeResult, grade, solutions
from ssd_edu.exercises import checks


@pytest.mark.parametrize("name", list(EXERCISES))
def test_reference_solution_passes(name):
    ex = EXERCISES[name]
    result = ex.check(ex.solution)
    assert isinstance(result, GradeResult)
    assert result.passed, result.message
    assert result.n_passed == result.n_cases >= 6
    assert result.message == f"{name}: all {result.n_cases} cases passed"


@pytest.mark.parametrize("name", list(EXERCISES))
def test_empty_skeleton_is_reported_not_raised(name):
    result = EXERCISES[name].check(lambda *args: None)
    assert not result.passed and "None" in result.message and "case 1/" in result.message


def test_grade_prints_and_never_raises(capsys):
    ok = grade(checks.check_one_ss_mask, solutions.one_ss_mask)
    bad = grade(checks.check_one_ss_mask, lambda a: 1 / 0)
    out = capsys.readouterr().out.splitlines()
    assert ok and not bad
    assert out == [ok.message, bad.message]
    assert "raised ZeroDivisionError" in bad.message
    with pytest.raises(ExerciseFailure, match="ZeroDivisionError"):
        bad.raise_if_failed()
    assert ok.raise_if_failed() is ok
    assert not checks.check_segsum("not a function")


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
    (_mask_ratio, "zero decay", ["NaN", "divide cumulative products"]),
    (lambda a: _mask_loop(a, 0, 1), "T = 5", ["includes a_s"]),
    (lambda a: _mask_loop(a, 0, 0), "T = 5", ["s <= u < t"]),
    (lambda a: _mask_loop(a, 1, 1, full=True), "T = 5", ["not causal", "above the diagonal"]),
    (lambda a: np.swapaxes(solutions.one_ss_mask(a), -1, -2), "T = 5", ["transposed"]),
    (_mask_one_d, "batch", ["shape (5, 5)", "leading (batch) axes (2, 3) are missing"]),
    (_mask_in_place, "T = 5", ["modified its input a"]),
    (_mask_log, "zero decay", ["NaN"]),
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
    (lambda *a: solutions.diagonal_scan(*a)[0], "T = 6", ["return the pair (y, h)"]),
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

ALL_MISTAKES = ([("one_ss_mask", *m) for m in MASK_MISTAKES]
                + [("segsum", *m) for m in SEGSUM_MISTAKES]
                + [("diagonal_scan", *m) for m in SCAN_MISTAKES]
                + [("sum_of_heads", *m) for m in HEADS_MISTAKES]
                + [("pass_states", *m) for m in PASS_MISTAKES])


@pytest.mark.parametrize("name, attempt, case, words", ALL_MISTAKES,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(ALL_MISTAKES)])
def test_planted_mistake_is_diagnosed(name, attempt, case, words):
    result = EXERCISES[name].check(attempt)
    assert not result.passed
    assert case in result.case, result.message
    for w in words:
        assert w in result.message, result.message


def _rank(X):
    return np.linalg.matrix_rank(X) if X.size and np.any(X) else 0


COUNT_MISTAKES = [
    (lambda M: __import__("ssd_edu.structure").structure.ss_rank(M), "N = 2, T = 4",
     ["got 2, expected nu = 3", "semiseparable rank"]),
    (lambda M: _rank(np.asarray(M)), "N = 2, T = 4", ["ordinary rank"]),
    (lambda M: int(np.sum(np.any(np.asarray(M) != 0, axis=0))), "N = 2, T = 4",
     ["number of nonzero columns"]),
    (lambda M: sum(_rank(M[t:, :t + 1]) - (_rank(M[t - 1:, :t]) if t else 0)
                   for t in range(len(M))), "N = 2, T = 4", ["previous step's block"]),
    (lambda M: 1 + sum(_rank(M[t:, :t + 1]) - _rank(M[t:, :t]) for t in range(1, len(M))),
     "zero matrix", ["column 0 counts as new only when it is nonzero"]),
    (lambda M: [t for t in range(len(M))
                if _rank(M[t:, :t + 1]) > _rank(M[t:, :t])], "N = 2, T = 4",
     ["returned a list of 3 items", "return len(...)"]),
    (lambda M: 2.5, "N = 2, T = 4", ["expected an integer count"]),
]


@pytest.mark.parametrize("attempt, case, words", COUNT_MISTAKES,
                         ids=[f"count_new_columns-{i}" for i in range(len(COUNT_MISTAKES))])
def test_planted_count_mistake_is_diagnosed(attempt, case, words):
    test_planted_mistake_is_diagnosed("count_new_columns", attempt, case, words)
