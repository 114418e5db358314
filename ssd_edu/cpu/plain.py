"""The plain tier (backend "plain"): every form as the shortest correct Numba loops.

The readable twin of each tuned kernel, written line for line after ssd_edu.reference with the
equation above the line that computes it: no tiles, no workspaces, no BLAS, one ``prange`` over
the sequences b. The chunked form is its four steps (each callable on its own), the attention
form the same steps with one chunk. The scalar family's decay is repeated into (nb, T, N).

    y, h = ssd_edu.cpu.plain.scalar_chunked(x, a, B, C, *, chunk_size=64, initial_state=None)
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._keyword_only import keyword_only
from ._jit import JIT, threads_for
from ._launch import chunked_work, flatten
from .chunked import flat_step
from ..validation import check_chunk_size, check_quadratic_work, read_only, unflatten


# ------------------------------------------------------------------ the loops (one sequence b
# per prange iteration; x (nb, T, P), a B C (nb, T, N), h (nb, N, P), y (nb, T, P))

@njit(parallel=True, **JIT)
def _scan(x, a, B, C, h, y):
    nb, T, P = x.shape
    N = B.shape[2]
    for b in prange(nb):
        for t in range(T):
            for n in range(N):
                for p in range(P):
                    # h_t = diag(a_t) h_{t-1} + B_t x_t^T
                    h[b, n, p] = a[b, t, n] * h[b, n, p] + B[b, t, n] * x[b, t, p]
            for p in range(P):
                # y_t = h_t^T C_t
                y[b, t, p] = 0
                for n in range(N):
                    y[b, t, p] += C[b, t, n] * h[b, n, p]


@njit(parallel=True, **JIT)
def _intra_chunk(x, a, B, C, Q, y):
    nb, T, P = x.shape
    N = B.shape[2]
    for b in prange(nb):
        L = np.empty(N, dtype=y.dtype)      # L[n] = delta_t[n] / delta_s[n] = a_{s+1} ... a_t
        for t in range(T):
            L[:] = 1
            for s in range(t, (t // Q) * Q - 1, -1):        # s in chunk(t), s <= t
                # M[t, s] = sum_n C[t, n] (delta_t[n] / delta_s[n]) B[s, n]
                M = 0.0
                for n in range(N):
                    M += C[b, t, n] * L[n] * B[b, s, n]
                    L[n] *= a[b, s, n]
                # Y_diag[t] += M[t, s] x_s
                for p in range(P):
                    y[b, t, p] += M * x[b, s, p]


@njit(parallel=True, **JIT)
def _chunk_states(x, a, B, Q, S, abar):
    nb, T, P = x.shape
    N = B.shape[2]
    for b in prange(nb):
        for c in range(S.shape[1]):
            for n in range(N):
                gamma = 1.0                 # gamma_s[n] = a_{s+1}[n] ... a_{e_c}[n]
                for s in range(min(T, c * Q + Q) - 1, c * Q - 1, -1):
                    for p in range(P):
                        # S_c = sum_{s in c} diag(gamma_s) B_s x_s^T
                        S[b, c, n, p] += gamma * B[b, s, n] * x[b, s, p]
                    gamma *= a[b, s, n]
                # abar_c = prod_{u in c} a_u  (gamma has taken every factor of the chunk)
                abar[b, c, n] = gamma


@njit(parallel=True, **JIT)
def _state_passing(abar, S, h, H_prev):
    nb, J, N, P = S.shape
    for b in prange(nb):
        for c in range(J):
            for n in range(N):
                for p in range(P):
                    H_prev[b, c, n, p] = h[b, n, p]
                    # H_c = diag(abar_c) H_{c-1} + S_c
                    h[b, n, p] = abar[b, c, n] * h[b, n, p] + S[b, c, n, p]


@njit(parallel=True, **JIT)
def _chunk_output(a, C, H_prev, Q, y):
    nb, T, P = y.shape
    N = C.shape[2]
    for b in prange(nb):
        for c in range(H_prev.shape[1]):
            for n in range(N):
                delta = 1.0                 # delta_t[n] = a_{b_c}[n] ... a_t[n]
                for t in range(c * Q, min(T, c * Q + Q)):
                    delta *= a[b, t, n]
                    for p in range(P):
                        # Y_off[t] = (delta_t o C_t)^T H_{c-1}
                        y[b, t, p] += delta * C[b, t, n] * H_prev[b, c, n, p]


# ------------------------------------------------------------------ launchers

def _per_mode(a, N):
    """a (nb, T) or (nb, T, K) -> read-only (nb, T, N), a scalar decay repeated (abar likewise)."""
    a = a[..., None] if a.ndim == 2 else a
    return read_only(np.broadcast_to(a, (*a.shape[:-1], N)))


def _run_scan(family, x, a, B, C, initial_state):
    f = flatten(family, x, a, B, C, initial_state)
    y = np.zeros((f.nb, f.T, f.P), dtype=f.dtype)
    with threads_for(f.nb * f.T * f.N * f.P):         # a small call: one thread
        _scan(f.x, _per_mode(f.a, f.N), f.B, f.C, f.h0, y)
    return unflatten(f, y, f.h0)


def _run_chunked(family, x, a, B, C, chunk_size, initial_state, form="chunked"):
    """The four steps; the attention form: one chunk of T steps (chunk_size None), step 1 its
    masked matmul y = (1SS(a) o C B^T) x, steps 2 to 4 the initial state's terms."""
    f = flatten(family, x, a, B, C, initial_state)
    Q = max(f.T, 1) if chunk_size is None else check_chunk_size(chunk_size)
    check_quadratic_work(f"plain {family}_{form}", family, f.nb, f.T, Q, f.N, f.P)
    a = _per_mode(f.a, f.N)
    J = -(-f.T // Q)
    y = np.zeros((f.nb, f.T, f.P), dtype=f.dtype)
    S = np.zeros((f.nb, J, f.N, f.P), dtype=f.dtype)
    abar = np.empty((f.nb, J, f.N), dtype=f.dtype)
    H_prev = np.empty_like(S)
    with threads_for(chunked_work(f, min(Q, f.T))):
        # 1. intra-chunk: Y_diag = (1SS(a_c) o C_c B_c^T) X_c, mode by mode
        _intra_chunk(f.x, a, f.B, f.C, Q, y)
        # 2. chunk states: S_c = sum_s diag(gamma_s) B_s x_s^T, abar_c = prod_{u in c} a_u
        _chunk_states(f.x, a, f.B, Q, S, abar)
        # 3. state passing: H_c = diag(abar_c) H_{c-1} + S_c
        _state_passing(abar, S, f.h0, H_prev)
        # 4. state output: y = Y_diag + Y_off, Y_off[t] = (delta_t o C_t)^T H_{c-1}
        _chunk_output(a, f.C, H_prev, Q, y)
    return unflatten(f, y, f.h0)


@keyword_only
def scalar_scan(x, a, B, C, *, initial_state=None):
    """h_t = a_t h_{t-1} + B_t x_t^T, y_t = h_t^T C_t. x (..., T, P), a (..., T), B, C
    (..., T, N), initial_state (..., N, P); returns y (..., T, P), h_{T-1} (..., N, P)."""
    return _run_scan("scalar", x, a, B, C, initial_state)


@keyword_only
def diagonal_scan(x, a, B, C, *, initial_state=None):
    """h_t = diag(a_t) h_{t-1} + B_t x_t^T, y_t = h_t^T C_t; a (..., T, N), else as scalar_scan."""
    return _run_scan("diagonal", x, a, B, C, initial_state)


@keyword_only
def scalar_attention(x, a, B, C, *, initial_state=None):
    """y = (1SS(a) o C B^T) x + (delta_t C_t)^T h_{-1}, one (t, s) pair at a time: O(T^2 (N + P))
    time, no T x T matrix; the chunked form's four steps with one chunk. Shapes as scalar_scan."""
    return _run_chunked("scalar", x, a, B, C, None, initial_state, "attention")


@keyword_only
def diagonal_attention(x, a, B, C, *, initial_state=None):
    """y = sum_n diag(C[:, n]) 1SS(a[:, n]) diag(B[:, n]) x + (C_t o delta_t)^T h_{-1};
    a (..., T, N), else as scalar_attention."""
    return _run_chunked("diagonal", x, a, B, C, None, initial_state, "attention")


@keyword_only
def scalar_chunked(x, a, B, C, *, chunk_size=64, initial_state=None):
    """The four steps (intra_chunk, chunk_states, state_passing, chunk_output) with chunks of
    Q = chunk_size steps (any Q >= 1, any T). Shapes as scalar_scan."""
    return _run_chunked("scalar", x, a, B, C, chunk_size, initial_state)


@keyword_only
def diagonal_chunked(x, a, B, C, *, chunk_size=64, initial_state=None):
    """The four steps with one decay per mode; a (..., T, N), else as scalar_chunked."""
    return _run_chunked("diagonal", x, a, B, C, chunk_size, initial_state)


# ------------------------------------------------------------------ the four steps, one by one

@keyword_only
def intra_chunk(x, a, B, C, *, chunk_size):
    """1. Y_diag[t] = sum_{s in chunk(t), s <= t} (C_t . (delta_t / delta_s) B_s) x_s.
    x (..., T, P), a (..., T, N or 1), B, C (..., T, N) -> (..., T, P)."""
    f = flat_step(chunk_size, x=x, a=a, B=B, C=C)
    x, a, B, C = (f.arrays[k] for k in "x a B C".split())
    y = np.zeros((f.nb, f.T, f.P), dtype=f.dtype)
    _intra_chunk(x, _per_mode(a, f.N), B, C, f.Q, y)
    return y.reshape(*f.batch, f.T, f.P)


@keyword_only
def chunk_states(x, a, B, *, chunk_size):
    """2. S_c = sum_{s in c} diag(gamma_s) B_s x_s^T, abar_c = prod_{u in c} a_u.
    x (..., T, P), a (..., T, N or 1), B (..., T, N) -> S (..., J, N, P), abar (..., J, N or 1)."""
    f = flat_step(chunk_size, x=x, a=a, B=B)
    S = np.zeros((f.nb, f.J, f.N, f.P), dtype=f.dtype)
    abar = np.empty((f.nb, f.J, f.N), dtype=f.dtype)
    _chunk_states(f.arrays["x"], _per_mode(f.arrays["a"], f.N), f.arrays["B"], f.Q, S, abar)
    if f.arrays["a"].ndim == 2:
        abar = abar[..., :1]                  # the scalar family: every mode's product is the same
    return S.reshape(*f.batch, f.J, f.N, f.P), abar.reshape(*f.batch, f.J, abar.shape[-1])


@keyword_only
def state_passing(abar, S, *, initial_state=None):
    """3. H_c = diag(abar_c) H_{c-1} + S_c, H_{-1} = initial_state (zeros if None).
    abar (..., J, N or 1), S (..., J, N, P), initial_state (..., N, P) -> H_prev (..., J, N, P)
    (H_prev[c] = H_{c-1}) and h = H_{J-1} (..., N, P)."""
    f = flat_step(abar=abar, S=S, initial_state=initial_state)
    h = np.zeros((f.nb, f.N, f.P), dtype=f.dtype)    # h_{-1} in, h_{J-1} out
    h[...] = f.arrays.get("initial_state", 0)
    H_prev = np.empty((f.nb, f.J, f.N, f.P), dtype=f.dtype)
    _state_passing(_per_mode(f.arrays["abar"], f.N), f.arrays["S"], h, H_prev)
    return H_prev.reshape(*f.batch, f.J, f.N, f.P), h.reshape(*f.batch, f.N, f.P)


@keyword_only
def chunk_output(a, C, H_prev, *, chunk_size):
    """4. Y_off[t] = (delta_t o C_t)^T H_{c-1}, delta_t = a_{b_c} ... a_t (chunk c holds t).
    a (..., T, N or 1), C (..., T, N), H_prev (..., J, N, P) -> (..., T, P)."""
    f = flat_step(chunk_size, a=a, C=C, H_prev=H_prev)
    y = np.zeros((f.nb, f.T, f.P), dtype=f.dtype)
    _chunk_output(_per_mode(f.arrays["a"], f.N), f.arrays["C"], f.arrays["H_prev"], f.Q, y)
    return y.reshape(*f.batch, f.T, f.P)
