"""The four chunked steps by name: reference against plain loops, every backend against the
reference. a is (..., T, N) for the diagonal family and (..., T, 1) for the scalar one."""
import itertools

import numpy as np
import pytest

import ssd_edu
import ssd_edu.cpu.chunked
import ssd_edu.cpu.plain
from ssd_edu.reference import chunking as ref

#: Backends whose four steps are checked against the reference: one line per backend.
STEP_BACKENDS = {"numba": ssd_edu.cpu.chunked, "plain": ssd_edu.cpu.plain}

STEPS = ("intra_chunk", "chunk_states", "state_passing", "chunk_output")
FAMILIES = ("scalar", "diagonal")

#: (T, N, P, Q, leading shapes of x, a, B, C, initial_state): T = 1, a short last chunk, odd
#: N and P, one chunk longer than T, Q = 1, broadcast leading axes.
CASES = {
    "T=1": (1, 2, 3, 4, [(), (), (), (), ()]),
    "short last chunk": (11, 3, 5, 4, [(2,)] * 5),
    "odd N, P": (9, 5, 7, 3, [(1,)] * 5),
    "Q > T": (5, 2, 3, 8, [()] * 5),
    "Q = 1": (6, 3, 2, 1, [()] * 5),
    "broadcast": (10, 3, 2, 4, [(2, 1), (1, 3), (3,), (2, 3), (1, 3)]),
}


def _inputs(family, case, dtype=np.float64, seed=0):
    """x, a, B, C, h0 with zero and negative decays (a's last axis 1 for the scalar family)."""
    T, N, P, Q, lead = CASES[case]
    rng = np.random.default_rng(seed)
    m = 1 if family == "scalar" else N
    x = rng.standard_normal((*lead[0], T, P))
    a = rng.uniform(-1.0, 1.0, (*lead[1], T, m))
    a.reshape(-1)[::5] = 0.0                             # zero decays, some at chunk edges
    B, C = (rng.standard_normal((*lead[k], T, N)) for k in (2, 3))
    h0 = rng.standard_normal((*lead[4], N, P))
    return [v.astype(dtype) for v in (x, a, B, C, h0)], Q


def _prod(a, lo, hi, n):
    """a[lo, k] ... a[hi - 1, k] with k the decay of mode n (an empty product is 1)."""
    k = n if a.shape[1] > 1 else 0
    out = 1.0
    for u in range(lo, hi):
        out *= a[u, k]
    return out


def _each(fn, arrays, tails, batch):
    """fn on every sequence of the broadcast batch; outputs stacked back to (*batch, ...)."""
    full = [np.broadcast_to(v, (*batch, *v.shape[v.ndim - t:])).astype(np.float64)
            for v, t in zip(arrays, tails)]
    outs = [fn(*(v[i] for v in full)) for i in np.ndindex(*batch)]
    outs = [o if isinstance(o, tuple) else (o,) for o in outs]
    res = tuple(np.stack([o[k] for o in outs]).reshape(*batch, *outs[0][k].shape)
                for k in range(len(outs[0])))
    return res if len(res) > 1 else res[0]


# ---------------------------------------------------------- plain loops, one sequence each

def loop_intra_chunk(x, a, B, C, Q):
    """Y_diag[t] = sum_{s in chunk(t), s <= t} sum_n C[t, n] a_{s+1..t}[n] B[s, n] x_s."""
    T, P = x.shape
    y = np.zeros((T, P))
    for t in range(T):
        for s in range(t - t % Q, t + 1):
            for n in range(B.shape[1]):
                y[t] += C[t, n] * _prod(a, s + 1, t + 1, n) * B[s, n] * x[s]
    return y


def loop_chunk_states(x, a, B, Q):
    """S_c = sum_{s in c} gamma_s[n] B[s, n] x_s, abar_c = prod_{u in c} a_u."""
    T, P = x.shape
    N, m = B.shape[1], a.shape[1]
    J = -(-T // Q)
    S, abar = np.zeros((J, N, P)), np.ones((J, m))
    for c in range(J):
        b, e = c * Q, min(T, c * Q + Q)                  # steps b ... e - 1
        for s in range(b, e):
            for n in range(N):
                S[c, n] += _prod(a, s + 1, e, n) * B[s, n] * x[s]
        for k in range(m):
            abar[c, k] = _prod(a, b, e, k)
    return S, abar


def loop_state_passing(abar, S, h0):
    """H_prev[c] = H_{c-1}, H_c[n] = abar_c[n] H_{c-1}[n] + S_c[n], H_{-1} = h0."""
    H = h0.copy()
    H_prev = np.zeros_like(S)
    for c in range(S.shape[0]):
        H_prev[c] = H
        for n in range(S.shape[1]):
            H[n] = _prod(abar, c, c + 1, n) * H[n] + S[c, n]
    return H_prev, H


def loop_chunk_output(a, C, H_prev, Q):
    """Y_off[t] = sum_n delta_t[n] C[t, n] H_{c-1}[n], delta_t = a_{b_c} ... a_t."""
    T = C.shape[0]
    y = np.zeros((T, H_prev.shape[2]))
    for t in range(T):
        c, b = t // Q, t - t % Q
        for n in range(C.shape[1]):
            y[t] += _prod(a, b, t + 1, n) * C[t, n] * H_prev[c, n]
    return y


def _loop(step, family, case, dtype=np.float64):
    """(the step's arguments, its keywords, the plain loop's result)."""
    (x, a, B, C, h0), Q = _inputs(family, case, dtype)
    q = min(Q, x.shape[-2])
    batch = np.broadcast_shapes(x.shape[:-2], a.shape[:-2], B.shape[:-2], C.shape[:-2],
                                h0.shape[:-2])
    if step == "intra_chunk":
        return (x, a, B, C), dict(chunk_size=Q), _each(
            lambda *v: loop_intra_chunk(*v, q), (x, a, B, C), (2, 2, 2, 2), batch)
    if step == "chunk_states":
        return (x, a, B), dict(chunk_size=Q), _each(
            lambda *v: loop_chunk_states(*v, q), (x, a, B), (2, 2, 2), batch)
    S, abar = ref.chunk_states(x, a, B, chunk_size=Q)
    if step == "state_passing":
        return (abar, S), dict(initial_state=h0), _each(
            loop_state_passing, (abar, S, h0), (2, 3, 2), batch)
    H_prev, _ = ref.state_passing(abar, S, initial_state=h0)
    return (a, C, H_prev), dict(chunk_size=Q), _each(
        lambda *v: loop_chunk_output(*v, q), (a, C, H_prev), (2, 2, 3), batch)


def _close(expected, actual, dtype):
    expected = expected if isinstance(expected, tuple) else (expected,)
    actual = actual if isinstance(actual, tuple) else (actual,)
    tol = 1e-11 if dtype == np.float64 else 1e-4
    assert len(expected) == len(actual)
    for e, v in zip(expected, actual):
        assert v.shape == e.shape, (v.shape, e.shape)
        assert v.dtype == dtype, v.dtype
        np.testing.assert_allclose(v, e, rtol=tol, atol=tol)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("step", STEPS)
def test_reference_step_is_its_formula(step, family, case):
    args, kw, expected = _loop(step, family, case)
    _close(expected, getattr(ref, step)(*args, **kw), np.float64)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("step", STEPS)
def test_reference_step_in_float32(step, family):
    args, kw, expected = _loop(step, family, "short last chunk", np.float32)
    _close(expected, getattr(ref, step)(*args, **kw), np.float32)


@pytest.mark.parametrize("dtype", [np.float64, pytest.param(np.float32, marks=pytest.mark.slow)])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("backend", STEP_BACKENDS)
def test_backend_step_matches_the_reference(backend, step, family, case, dtype):
    args, kw, _ = _loop(step, family, case, dtype)
    before = [np.copy(v) for v in itertools.chain(args, kw.values()) if hasattr(v, "shape")]
    got = getattr(STEP_BACKENDS[backend], step)(*args, **kw)
    after = [v for v in itertools.chain(args, kw.values()) if hasattr(v, "shape")]
    assert all(np.array_equal(u, v) for u, v in zip(before, after)), "an input was modified"
    _close(getattr(ref, step)(*args, **kw), got, dtype)


@pytest.mark.parametrize("module", [ref] + list(STEP_BACKENDS.values()))
@pytest.mark.parametrize("family", FAMILIES)
def test_the_steps_compose_to_the_chunked_form(module, family):
    (x, a, B, C, h0), Q = _inputs(family, "broadcast")
    y_diag = module.intra_chunk(x, a, B, C, chunk_size=Q)
    S, abar = module.chunk_states(x, a, B, chunk_size=Q)
    H_prev, h = module.state_passing(abar, S, initial_state=h0)
    y = y_diag + module.chunk_output(a, C, H_prev, chunk_size=Q)
    a_form = a[..., 0] if family == "scalar" else a
    y0, h0_ = ssd_edu.oracle(family)(x, a_form, B, C, initial_state=h0)
    np.testing.assert_allclose(y, y0, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(h, h0_, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("module", [ref] + list(STEP_BACKENDS.values()))
def test_bad_step_arguments_are_named(module):
    (x, a, B, C, h0), Q = _inputs("diagonal", "short last chunk")
    with pytest.raises(ValueError, match=r"^a has shape \(2, 11, 2\)"):
        module.intra_chunk(x, a[..., :2], B, C, chunk_size=Q)
    with pytest.raises(ValueError, match=r"^B has shape"):
        module.chunk_states(x, a, B[..., :5, :], chunk_size=Q)
    S, abar = ref.chunk_states(x, a, B, chunk_size=Q)
    with pytest.raises(ValueError, match=r"^abar has shape"):
        module.state_passing(abar[..., :2, :], S, initial_state=h0)
    with pytest.raises(ValueError, match=r"^initial_state has shape"):
        module.state_passing(abar, S, initial_state=h0[..., :2])
    with pytest.raises(ValueError, match=r"^H_prev has shape .* J = ceil"):
        module.chunk_output(a, C, S, chunk_size=Q - 1)
    with pytest.raises(TypeError, match="chunk_size"):
        module.intra_chunk(x, a, B, C, chunk_size=2.0)
    with pytest.raises(TypeError):
        module.state_passing(abar, S, h0)                # initial_state is keyword-only


@pytest.mark.parametrize("module", [ref, ssd_edu.cpu.chunked])   # plain holds no (Q, Q) block
def test_intra_chunk_refuses_chunks_above_the_quadratic_limit(module, monkeypatch):
    """A chunk as long as T makes the intra-chunk masks quadratic: refused before any work."""
    from ssd_edu.validation import QuadraticMemoryError
    monkeypatch.setenv("SSD_EDU_MAX_QUADRATIC_BYTES", str(100_000))
    rng = np.random.default_rng(0)
    x, a, B, C = (rng.standard_normal((300, k)) for k in (2, 3, 3, 3))
    with pytest.raises(QuadraticMemoryError, match=r"intra_chunk would allocate .* Q = 300"):
        module.intra_chunk(x, a, B, C, chunk_size=10**6)
    assert module.intra_chunk(x, a, B, C, chunk_size=16).shape == (300, 2)


@pytest.mark.parametrize("module", [ref] + list(STEP_BACKENDS.values()))
def test_chunk_size_is_required_and_checked(module):
    (x, a, B, C, h0), Q = _inputs("diagonal", "short last chunk")
    for bad in (None, 0):
        with pytest.raises((TypeError, ValueError), match="chunk_size"):
            module.chunk_states(x, a, B, chunk_size=bad)
    with pytest.raises(TypeError):
        module.intra_chunk(x, a, B, C)


def test_the_chunked_exercise_may_not_call_the_package_steps():
    """Exercise 8 asks for the four steps: composing the package's (all but state passing,
    which the exercise may call) is refused, naming the step."""
    from ssd_edu import exercises as checks

    def attempt(x, a, B, C, chunk_size, initial_state=None):
        y = ref.intra_chunk(x, a, B, C, chunk_size=chunk_size)
        S, abar = ref.chunk_states(x, a, B, chunk_size=chunk_size)
        H_prev, h = ref.state_passing(abar, S, initial_state=initial_state)
        return y + ref.chunk_output(a, C, H_prev, chunk_size=chunk_size), h
    result = checks.check_chunked_scan(attempt)
    assert not result.passed and "intra_chunk" in result.message, result.message
