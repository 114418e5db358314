"""The chunked (block) algorithm as Numba kernels: its four steps by name, and the two forms.

    1. y_diag    = intra_chunk(x, a, B, C, *, chunk_size)    Y_diag = (1SS(a_c) o C_c B_c^T) X_c
    2. S, abar   = chunk_states(x, a, B, *, chunk_size)      S_c = (B_c o gamma)^T X_c
    3. H_prev, h = state_passing(abar, S, *, initial_state)  H_c = diag(abar_c) H_{c-1} + S_c
    4. y_off     = chunk_output(a, C, H_prev, *, chunk_size) Y_off = (C_c o delta) H_{c-1}

Within chunk c = [t0, t1): delta_t = a_{t0} ... a_t, gamma_s = a_{s+1} ... a_{t1-1}, abar_c =
a_{t0} ... a_{t1-1}; a is (..., T, N), or (..., T, 1) for the scalar family. Steps 1 and 2 share
one kernel over the chunks; chunk products are np.dot; a short last chunk is zero-padded.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit, prange

from .._keyword_only import keyword_only
from ._jit import FASTMATH, JIT, at, decay, num_threads, single_threaded_blas, threads_for
from ._launch import chunked_work, flatten
from ..validation import (check_chunk_size, check_chunks, check_quadratic_work, check_step,
                          read_only, unflatten)
from ._tiles import chunk_of_job, prefix_products, suffix_products
from ._tiles import intra_chunk as intra_chunk_tile


@njit(**JIT)
def intra_workspaces(Q, N, P, like):
    """Per-thread workspaces of steps 1 and 2 (dtype of ``like``)."""
    dt = like.dtype
    return (np.zeros((Q, Q), dtype=dt),     # W = 1SS(a_c) o C_c B_c^T
            np.zeros((Q, N), dtype=dt),     # C_c (scalar scores) or rescaled queries
            np.zeros((Q, N), dtype=dt),     # rescaled keys (diagonal family)
            np.zeros((N, Q), dtype=dt),     # B_c^T (scalar scores)
            np.zeros((Q, P), dtype=dt),     # X_c, zero-padded
            np.zeros((Q, P), dtype=dt),     # Y_diag
            np.ones((Q, N), dtype=dt),      # gamma, the suffix products
            np.zeros((N, Q), dtype=dt),     # (B_c o gamma)^T
            np.zeros(N, dtype=dt))          # a running product over the modes


@njit(**JIT)
def output_workspaces(Q, N, P, like):
    """Per-thread workspaces of step 4 (dtype of ``like``)."""
    dt = like.dtype
    return (np.ones((Q, N), dtype=dt),      # delta, the prefix products
            np.zeros((Q, N), dtype=dt),     # C_c o delta
            np.zeros((Q, P), dtype=dt))     # Y_off


@njit(fastmath=FASTMATH, **JIT)
def _chunk_state(a, B, Xc, t0, t1, gamma, BG, S_c, abar_c):
    """Step 2 for the chunk [t0, t1) of one sequence, Xc (Q, P) its x_c zero-padded:
    S_c = (B_c o gamma)^T X_c (N, P) and abar_c (1 or N,)."""
    q = t1 - t0
    N = B.shape[1]
    if q < BG.shape[1]:                     # the short last chunk: zero padding
        BG[:, q:] = 0
    # gamma[j] = a_{t0+j+1} ... a_{t1-1}
    suffix_products(a, t0, t1, N, gamma)
    for j in range(q):
        for n in range(N):
            BG[n, j] = B[t0 + j, n] * gamma[j, n]
    # S_c = (B_c o gamma)^T X_c
    np.dot(BG, Xc, S_c)
    # abar_c = a_{t0} gamma[0]
    a_first = decay(a, t0)
    for n in range(abar_c.shape[0]):
        abar_c[n] = at(a_first, n) * gamma[0, n]


@njit(parallel=True, fastmath=FASTMATH, **JIT)
def _intra_chunk_and_chunk_states_kernel(x, a, B, C, y, S, abar, Q, intra, states, workers):
    """Steps 1 (if ``intra``: y[b, c] = Y_diag) and 2 (if ``states``: S[b, c] = S_c, abar[b, c]
    = abar_c) for every chunk c of every sequence b, in one pass; ``workers`` jobs."""
    nb, T, P = x.shape
    N = B.shape[2]
    J = (T + Q - 1) // Q
    for worker in prange(workers):
        W, Cc, Kt, Bt, Xc, Y, gamma, BG, r = intra_workspaces(Q, N, P, x)
        for job in range(worker, nb * J, workers):
            b, c, t0, t1 = chunk_of_job(job, J, Q, T)
            if intra:
                # 1. intra_chunk: Y_diag = (1SS(a_c) o C_c B_c^T) X_c (leaves X_c, padded, in Xc)
                intra_chunk_tile(a[b], B[b], C[b], x[b], t0, t1, W, r, Cc, Kt, Bt, Xc, Y)
                y[b, t0:t1] = Y[:t1 - t0]
            else:                                  # X_c, zero-padded
                Xc[t1 - t0:, :] = 0
                Xc[:t1 - t0, :] = x[b, t0:t1]
            if states:
                # 2. chunk_states: S_c = (B_c o gamma)^T X_c, abar_c
                _chunk_state(a[b], B[b], Xc, t0, t1, gamma, BG, S[b, c], abar[b, c])


@njit(parallel=True, fastmath=FASTMATH, **JIT)
def _state_passing_kernel(abar, S, h):
    """Step 3 for every sequence b and mode n, in place: S[b, c] = S_c in, H_{c-1} out; h[b] =
    h_{-1} in, H_{J-1} out. abar (nb, J, N) or (nb, J, 1)."""
    nb, J, N, P = S.shape
    w = abar.shape[2]
    for job in prange(nb * N):
        b = job // N
        n = job % N
        k = n if w == N else 0
        h_n = h[b, n]
        for c in range(J):
            S_cn = S[b, c, n]
            abar_c = abar[b, c, k]
            for p in range(P):
                # H_c = abar_c H_{c-1} + S_c (S_c is replaced by H_{c-1})
                s_c = S_cn[p]
                S_cn[p] = h_n[p]
                h_n[p] = abar_c * h_n[p] + s_c


@njit(parallel=True, fastmath=FASTMATH, **JIT)
def _chunk_output_kernel(a, C, H_prev, y, Q, workers):
    """Step 4 for every chunk: y_c += (C_c o delta) H_{c-1}, H_prev (nb, J, N, P)."""
    nb, J, N, P = H_prev.shape
    T = y.shape[1]
    for worker in prange(workers):
        delta, Cdelta, Y = output_workspaces(Q, N, P, y)
        for job in range(worker, nb * J, workers):
            b, c, t0, t1 = chunk_of_job(job, J, Q, T)
            q = t1 - t0
            if q < Q:
                Cdelta[q:, :] = 0
            # delta[i] = a_{t0} ... a_{t0+i}
            prefix_products(a[b], t0, t1, N, delta)
            for i in range(q):
                for n in range(N):
                    Cdelta[i, n] = C[b, t0 + i, n] * delta[i, n]
            # Y_off = (C_c o delta) H_{c-1}
            np.dot(Cdelta, H_prev[b, c], Y)
            for i in range(q):
                for p in range(P):
                    y[b, t0 + i, p] += Y[i, p]


# ---------------------------------------------------------------- launchers

#: A step's arguments flattened to nb sequences: arrays maps each name to its (nb, ...) array.
Steps = namedtuple("Steps", "arrays batch nb T N P J Q dtype")


def flat_step(chunk_size=..., **given) -> Steps:
    """check_step (real dtypes), the chunk size (``...`` for state_passing, which has none) and
    J = ceil(T / Q) against H_prev; then the leading axes broadcast and flattened. a of the
    scalar family ((..., T, 1) with N > 1) becomes (nb, T)."""
    v = check_step(**given)
    nb = int(np.prod(v.batch, dtype=np.int64))
    T, N, P = v.sizes.get("T", 0), v.sizes["N"], v.sizes["P"]
    Q = 0 if chunk_size is ... else min(check_chunk_size(chunk_size), max(T, 1))
    J = v.sizes["J"] if chunk_size is ... else -(-T // Q)
    if v.sizes.get("J", J) != J:
        raise ValueError(f"H_prev has shape {np.shape(given['H_prev'])}; expected (..., J, N, P) "
                         f"with J = ceil(T / chunk_size) = {J} chunks (T = {T})")
    arrays = {}
    for name, arr in v.arrays.items():
        tail = arr.shape[-3:] if name in ("S", "H_prev") else arr.shape[-2:]
        flat = np.broadcast_to(arr, (*v.batch, *tail)).reshape(nb, *tail)
        if name == "a" and tail[-1] == 1 and N > 1:          # the scalar family's kernels
            flat = flat[..., 0]
        arrays[name] = read_only(flat)
    return Steps(arrays, v.batch, nb, T, N, P, J, Q, v.dtype)


def _steps_1_2(f, intra, states):
    """Steps 1 and/or 2 on the flattened arguments ``f``: y, S, abar (empty if not run)."""
    m = 1 if f.arrays["a"].ndim == 2 else f.N                  # abar's last axis, as a's
    y = np.zeros((f.nb, f.T, f.P) if intra else (0, 0, 0), dtype=f.dtype)
    S = np.zeros((f.nb, f.J, f.N, f.P) if states else (0, 0, 0, 0), dtype=f.dtype)
    abar = np.ones((f.nb, f.J, m) if states else (0, 0, 0), dtype=f.dtype)
    if f.nb and f.T:
        with threads_for(chunked_work(f, f.Q)), single_threaded_blas():
            workers = num_threads()
            if intra:
                check_chunks("intra_chunk", workers, f.Q, f.dtype, copies=2)
            x, a, B = (f.arrays[k] for k in "x a B".split())
            _intra_chunk_and_chunk_states_kernel(x, a, B, f.arrays.get("C", B), y, S, abar,
                                                 f.Q, intra, states, workers)
    return y, S, abar


@keyword_only
def intra_chunk(x, a, B, C, *, chunk_size):
    """Step 1: attention inside each chunk from a zero state. x (..., T, P); a (..., T, N) or
    (..., T, 1); B, C (..., T, N); float32/float64. Returns y_diag (..., T, P):
    Y_diag[t] = sum_{s in chunk(t), s <= t} (C_t . (delta_t / delta_s) B_s) x_s."""
    f = flat_step(chunk_size, x=x, a=a, B=B, C=C)
    return _steps_1_2(f, True, False)[0].reshape(*f.batch, f.T, f.P)


@keyword_only
def chunk_states(x, a, B, *, chunk_size):
    """Step 2: each chunk's state from a zero start and its decay. x (..., T, P); a (..., T, N)
    or (..., T, 1); B (..., T, N). Returns S (..., J, N, P), S_c = sum_s diag(gamma_s) B_s
    x_s^T, and abar (..., J, N) or (..., J, 1), abar_c = prod_{u in c} a_u."""
    f = flat_step(chunk_size, x=x, a=a, B=B)
    _, S, abar = _steps_1_2(f, False, True)
    return S.reshape(*f.batch, f.J, f.N, f.P), abar.reshape(*f.batch, f.J, abar.shape[-1])


@keyword_only
def state_passing(abar, S, *, initial_state=None):
    """Step 3: H_c = diag(abar_c) H_{c-1} + S_c with H_{-1} = initial_state (zeros if None).
    abar (..., J, N) or (..., J, 1); S (..., J, N, P). Returns H_prev (..., J, N, P),
    H_prev[c] = H_{c-1}, and the final state h = H_{J-1} (..., N, P)."""
    f = flat_step(abar=abar, S=S, initial_state=initial_state)
    H = np.array(f.arrays["S"])                                  # S_c, then H_{c-1}
    h = np.zeros((f.nb, f.N, f.P), dtype=f.dtype)
    h[...] = f.arrays.get("initial_state", 0)
    if f.nb and f.J:
        with threads_for(f.nb * f.J * f.N * f.P):
            _state_passing_kernel(f.arrays["abar"], H, h)
    return H.reshape(*f.batch, f.J, f.N, f.P), h.reshape(*f.batch, f.N, f.P)


@keyword_only
def chunk_output(a, C, H_prev, *, chunk_size):
    """Step 4: the output of the state entering each chunk. a (..., T, N) or (..., T, 1);
    C (..., T, N); H_prev (..., J, N, P), J = ceil(T / chunk_size). Returns y_off
    (..., T, P): Y_off[t] = (delta_t o C_t)^T H_{c-1}."""
    f = flat_step(chunk_size, a=a, C=C, H_prev=H_prev)
    y = np.zeros((f.nb, f.T, f.P), dtype=f.dtype)
    if f.nb and f.T:
        with threads_for(chunked_work(f, f.Q)), single_threaded_blas():
            _chunk_output_kernel(f.arrays["a"], f.arrays["C"], f.arrays["H_prev"], y, f.Q,
                                 num_threads())
    return y.reshape(*f.batch, f.T, f.P)


def _workload(family, x, a, B, C, chunk_size, initial_state):
    """f, Q = min(chunk_size, T), y (nb, T, P), S (nb, J, N, P) (S_c, then H_{c-1}), abar
    (nb, J, 1 or N) and the call's thread count."""
    f = flatten(family, x, a, B, C, initial_state)
    Q = min(check_chunk_size(chunk_size), max(f.T, 1))
    check_quadratic_work(f"numba {family}_chunked", family, f.nb, f.T, Q, f.N, f.P)
    J = -(-f.T // Q)
    with threads_for(chunked_work(f, Q)):                        # a small call: one thread
        workers = num_threads()
    # the (Q, Q) workspaces of every thread (W and the diagonal family's per-mode products)
    check_chunks(f"{family}_chunked", workers, Q, f.dtype, copies=2)
    y = np.empty((f.nb, f.T, f.P), dtype=f.dtype)               # every entry is written
    S = np.empty((f.nb, J, f.N, f.P), dtype=f.dtype)
    abar = np.empty((f.nb, J, 1 if family == "scalar" else f.N), dtype=f.dtype)
    return f, Q, y, S, abar, workers


def step_calls(family, x, a, B, C, *, chunk_size=64, initial_state=None) -> dict:
    """The four steps' kernels as no-argument calls on one validated workload, for timing them
    apart (``bench --breakdown``): {"intra_chunk", "chunk_states", "state_passing",
    "chunk_output", "result"}. Run once in order, they compute ``{family}_chunked``'s (y, h),
    returned by ``result()``; step 3 works in place (a second run reads the first's states)."""
    f, Q, y, S, abar, workers = _workload(family, x, a, B, C, chunk_size, initial_state)

    def run(kernel, *args):
        def call():
            with threads_for(chunked_work(f, Q)), single_threaded_blas():  # as in the whole call
                kernel(*args)
        return call

    steps_1_2 = _intra_chunk_and_chunk_states_kernel
    return {"intra_chunk": run(steps_1_2, f.x, f.a, f.B, f.C, y, S, abar, Q, True, False,
                               workers),
            "chunk_states": run(steps_1_2, f.x, f.a, f.B, f.C, y, S, abar, Q, False, True,
                                workers),
            "state_passing": run(_state_passing_kernel, read_only(abar), S, f.h0),
            "chunk_output": run(_chunk_output_kernel, f.a, f.C, read_only(S), y, Q, workers),
            "result": lambda: unflatten(f, y, f.h0)}


def _chunked(family, x, a, B, C, chunk_size, initial_state):
    f, Q, y, S, abar, workers = _workload(family, x, a, B, C, chunk_size, initial_state)
    if f.T == 0 or f.nb == 0:
        return unflatten(f, y, f.h0)
    # np.dot inside prange threads; h = f.h0: h_{-1} in, h_{T-1} out
    with threads_for(chunked_work(f, Q)), single_threaded_blas():
        # 1. intra_chunk and 2. chunk_states, fused: y = Y_diag, S, abar
        _intra_chunk_and_chunk_states_kernel(f.x, f.a, f.B, f.C, y, S, abar, Q, True, True,
                                             workers)
        # 3. state_passing: S <- H_prev, h <- H_{J-1}
        _state_passing_kernel(read_only(abar), S, f.h0)
        # 4. chunk_output: y += Y_off
        _chunk_output_kernel(f.a, f.C, read_only(S), y, Q, workers)
    return unflatten(f, y, f.h0)


@keyword_only
def scalar_chunked(x, a, B, C, *, chunk_size=64, initial_state=None):
    """The scalar-family block algorithm: the four steps with one decay for every mode.
    x (..., T, P), a (..., T), B, C (..., T, N), initial_state (..., N, P); any T, any Q >= 1.
    Returns y (..., T, P) and h_{T-1} (..., N, P). O(T Q (N + P) + T N P) time, O(T N P / Q)
    memory for the chunk states. Plain twin: ssd_edu.cpu.plain."""
    return _chunked("scalar", x, a, B, C, chunk_size, initial_state)


@keyword_only
def diagonal_chunked(x, a, B, C, *, chunk_size=64, initial_state=None):
    """The diagonal-family block algorithm, one mask per mode in each chunk; a (..., T, N),
    else as scalar_chunked."""
    return _chunked("diagonal", x, a, B, C, chunk_size, initial_state)
