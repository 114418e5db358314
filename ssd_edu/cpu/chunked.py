"""The block (chunked) algorithm as Numba kernels: scalar_chunked and diagonal_chunked.

The reference's four steps (``ssd_edu.reference.scalar.scalar_chunked``), numbered as there.
For chunk c = [t0, t1) of q <= Q steps, with delta_t = prod_{t0<=u<=t} a_u (F below, the
prefix products) and gamma_s = prod_{s<u<t1} a_u (G, the suffix products), per mode n:

    1. intra-chunk    Y_diag = (1SS(a_c) o C_c B_c^T) X_c                (masked matmul)
    2. chunk states   S_c = (B_c o G)^T X_c                              (N, P)
    3. state passing  H_c = diag(abar_c) H_{c-1} + S_c,  abar_c = prod_{u in c} a_u
    4. state output   Y_off = (C_c o F) H_{c-1}                          (H_{-1} = h_{-1})

y = Y_diag + Y_off. Three parallel kernels, so one long sequence keeps every thread busy:
``_intra_kernel`` (steps 1 and 2, parallel over the chunks of every sequence),
``_state_passing_kernel`` (step 3, the scan over chunks, parallel over sequences and modes;
it overwrites S_c by H_{c-1} in place) and ``_state_output_kernel`` (step 4, parallel over
chunks). Every product of chunk-sized matrices is a dense ``np.dot`` (BLAS gemm, held to one
thread inside the Numba threads) into C-contiguous workspaces of the full chunk size Q; a
short last chunk is zero-padded, so padded rows and columns contribute nothing.

The mask is never built from a division. Scalar family: W = L o (C_c B_c^T), one gemm, then
the mask L[i, j] = prod_{j<u<=i} a_u by direct products (``_tiles.scalar_mask``). Diagonal
family (one mask per mode): the chunk is cut into sub-chunks of ``SUB`` steps; for a query
sub-chunk I = [i0, i1) every earlier key j < i0 factors through i0,

    prod_{j<u<=i} a_u[n] = prod_{i0<=u<=i} a_u[n] * prod_{j<u<i0} a_u[n]

so W[I, :i0] = (C_I o F_I) (B_{:i0} o G_{:i0})^T is one gemm of queries and keys rescaled by
direct products (each a running product from i0, forward and backward: zeros and negative
decays are exact), and only the SUB x SUB diagonal blocks use the per-mode running products
of ``_tiles.modes_block``.

Any T and any chunk size (the last chunk may be short; Q = 1 is the scan, Q >= T the
attention form). Extra memory: S (nb, J, N, P) and abar (nb, J, N) (J = ceil(T / Q)
chunks), plus per thread the workspaces of :func:`intra_workspaces` and
:func:`output_workspaces` (the bench counts them from the same functions).

Cost per chunk of q steps: q (q + 1) (N + P) (intra, lower triangle) + 4 q N P (steps 2, 4)
+ 2 N P (step 3) flops. (The dense gemm also multiplies the zero upper triangle of W: the
bench counts only the flops the algorithm needs.)
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._keyword_only import keyword_only
from ._jit import FASTMATH, JIT, at, decay, num_threads, single_threaded_blas, threads_for
from ._launch import chunk, chunked_work, flatten, unflatten
from ..validation import check_chunks
from ._tiles import (SUB, chunk_of_job, intra_chunk, prefix_products,  # noqa: F401 (SUB)
                     suffix_products)


@njit(**JIT)
def intra_workspaces(Q, N, P, like):
    """Per-thread workspaces of steps 1 and 2 (dtype of ``like``): W (Q, Q); Cc, Kt, G
    (Q, N); Bt, BG (N, Q); Xc, Y (Q, P); r (N,)."""
    dt = like.dtype
    return (np.zeros((Q, Q), dtype=dt),     # W = 1SS(a_c) o C_c B_c^T
            np.zeros((Q, N), dtype=dt),     # C_c (scalar scores) or rescaled queries
            np.zeros((Q, N), dtype=dt),     # rescaled keys (diagonal family)
            np.zeros((N, Q), dtype=dt),     # B_c^T (scalar scores)
            np.zeros((Q, P), dtype=dt),     # X_c
            np.zeros((Q, P), dtype=dt),     # Y_diag
            np.ones((Q, N), dtype=dt),      # G, suffix products
            np.zeros((N, Q), dtype=dt),     # (B_c o G)^T
            np.zeros(N, dtype=dt))          # a running product over the modes


@njit(**JIT)
def output_workspaces(Q, N, P, like):
    """Per-thread workspaces of step 4 (dtype of ``like``): F, CF (Q, N); Y (Q, P)."""
    dt = like.dtype
    return (np.ones((Q, N), dtype=dt),      # F, prefix products
            np.zeros((Q, N), dtype=dt),     # C_c o F
            np.zeros((Q, P), dtype=dt))     # Y_off


@njit(parallel=True, fastmath=FASTMATH, **JIT)
def _intra_kernel(x, a, B, C, y, S, abar, Q, steps, workers):
    """Steps 1 (if ``steps & 1``: y_c = Y_diag) and 2 (if ``steps & 2``: S[b, c] = S_c and
    abar[b, c]) for every chunk c of every sequence b; ``workers`` jobs share the chunks."""
    nb, T, P = x.shape
    N = B.shape[2]
    J = (T + Q - 1) // Q
    for worker in prange(workers):
        W, Cc, Kt, Bt, Xc, Y, G, BG, r = intra_workspaces(Q, N, P, x)
        for job in range(worker, nb * J, workers):
            b, c, t0, t1 = chunk_of_job(job, J, Q, T)
            q = t1 - t0
            if steps & 1:
                # 1. intra-chunk: Y_diag = (1SS(a_c) o C_c B_c^T) X_c
                intra_chunk(a[b], B[b], C[b], x[b], t0, t1, W, r, Cc, Kt, Bt, Xc, Y)
                y[b, t0:t1] = Y[:q]
            else:
                if q < Q:                   # X_c, zero-padded, for step 2
                    Xc[q:, :] = 0
                Xc[:q, :] = x[b, t0:t1]
            if steps & 2:
                if q < Q:                   # the short last chunk: zero padding
                    BG[:, q:] = 0
                # 2. chunk states: S_c = (B_c o G)^T X_c,  G[j] = prod_{t0+j<u<t1} a_u
                suffix_products(a[b], t0, t1, N, G)
                for j in range(q):
                    for n in range(N):
                        BG[n, j] = B[b, t0 + j, n] * G[j, n]
                np.dot(BG, Xc, S[b, c])
                # abar_c = prod_{t0<=u<t1} a_u = a_{t0} G[0]
                a_first = decay(a[b], t0)
                for n in range(N):
                    abar[b, c, n] = at(a_first, n) * G[0, n]


@njit(parallel=True, fastmath=FASTMATH, **JIT)
def _state_passing_kernel(abar, S, h):
    """Step 3 for every sequence b and mode n: S[b, c] <- H_{c-1}, h[b] <- H_{J-1} = h_{T-1}.

    abar (nb, J, N), S (nb, J, N, P) chunk states in, H_{c-1} out; h (nb, N, P) h_{-1} in."""
    nb, J, N, P = S.shape
    for job in prange(nb * N):
        b = job // N
        n = job % N
        h_n = h[b, n]
        for c in range(J):
            S_cn = S[b, c, n]
            abar_c = abar[b, c, n]
            for p in range(P):
                # 3. state passing: H_c = abar_c H_{c-1} + S_c (S_c is replaced by H_{c-1})
                s_c = S_cn[p]
                S_cn[p] = h_n[p]
                h_n[p] = abar_c * h_n[p] + s_c


@njit(parallel=True, fastmath=FASTMATH, **JIT)
def _state_output_kernel(a, C, H_prev, y, Q, workers):
    """Step 4 for every chunk: y_c += (C_c o F) H_{c-1}, H_prev (nb, J, N, P) from step 3."""
    nb, J, N, P = H_prev.shape
    T = y.shape[1]
    for worker in prange(workers):
        F, CF, Y = output_workspaces(Q, N, P, y)
        for job in range(worker, nb * J, workers):
            b, c, t0, t1 = chunk_of_job(job, J, Q, T)
            q = t1 - t0
            if q < Q:
                CF[q:, :] = 0
            # F[i] = delta_{t0+i} = prod_{t0<=u<=t0+i} a_u
            prefix_products(a[b], t0, t1, N, F)
            for i in range(q):
                for n in range(N):
                    CF[i, n] = C[b, t0 + i, n] * F[i, n]
            # 4. state output: Y_off = (C_c o F) H_{c-1}
            np.dot(CF, H_prev[b, c], Y)
            for i in range(q):
                for p in range(P):
                    y[b, t0 + i, p] += Y[i, p]


def steps(family, x, a, B, C, *, chunk_size=64, initial_state=None) -> dict:
    """The four steps as separate calls on one validated workload, for timing them apart
    (``bench --breakdown``): {"1 intra-chunk": fn, "2 chunk states": fn, "3 state passing":
    fn, "4 state output": fn}, each a no-argument function that runs that step's kernel.
    Run in order once, they compute y and h as ``{family}_chunked`` does (returned by
    ``steps[...]["result"]()``); run again, steps 3 and 4 read the results of the last run."""
    f = flatten(family, x, a, B, C, initial_state)
    Q = min(chunk(chunk_size), max(f.T, 1))
    J = -(-f.T // Q)
    y = np.zeros((f.nb, f.T, f.P), dtype=f.dtype)
    S = np.zeros((f.nb, J, f.N, f.P), dtype=f.dtype)
    abar = np.zeros((f.nb, J, f.N), dtype=f.dtype)
    with threads_for(chunked_work(f, Q)):       # the threads the whole call would use
        workers = num_threads()
    h = f.h0

    def run(kernel, *args):
        def call():
            with threads_for(chunked_work(f, Q)), single_threaded_blas():  # as in the whole call
                kernel(*args)
        return call

    return {"1 intra-chunk": run(_intra_kernel, f.x, f.a, f.B, f.C, y, S, abar, Q, 1, workers),
            "2 chunk states": run(_intra_kernel, f.x, f.a, f.B, f.C, y, S, abar, Q, 2, workers),
            "3 state passing": run(_state_passing_kernel, abar, S, h),
            "4 state output": run(_state_output_kernel, f.a, f.C, S, y, Q, workers),
            "result": lambda: unflatten(f, y, h)}


def _chunked(family, x, a, B, C, chunk_size, initial_state):
    f = flatten(family, x, a, B, C, initial_state)
    Q = chunk(chunk_size)
    h = f.h0                                                     # h_{-1} in, h_{T-1} out
    y = np.empty((f.nb, f.T, f.P), dtype=f.dtype)              # every entry is written
    if f.T == 0 or f.nb == 0:
        return unflatten(f, y, h)
    Q = min(Q, f.T)
    J = -(-f.T // Q)
    with threads_for(chunked_work(f, Q)):                        # a small call: one thread
        workers = num_threads()
        # the (Q, Q) workspaces of every thread (W and the diagonal family's per-mode products)
        check_chunks(f"{family}_chunked", workers, Q, f.dtype, copies=2)
        S = np.empty((f.nb, J, f.N, f.P), dtype=f.dtype)        # S_c, then H_{c-1}
        abar = np.empty((f.nb, J, f.N), dtype=f.dtype)
        with single_threaded_blas():                             # np.dot inside prange threads
            _intra_kernel(f.x, f.a, f.B, f.C, y, S, abar, Q, 3, workers)
            _state_passing_kernel(abar, S, h)
            _state_output_kernel(f.a, f.C, S, y, Q, workers)
    return unflatten(f, y, h)


@keyword_only
def scalar_chunked(x, a, B, C, *, chunk_size=64, initial_state=None):
    """The scalar-family block algorithm: masked matmul in chunks of Q, recurrence across them.

    x (..., T, P), a (..., T), B, C (..., T, N), initial_state (..., N, P); float32/float64.
    O(T Q (N + P) + T N P) time, O(T N P / Q) memory for the chunk states plus
    O(Q^2 + Q (N + P)) per thread; any T, any Q >= 1.
    Returns y (..., T, P) and h_{T-1} (..., N, P).
    Plain twin: ssd_edu.cpu.plain.scalar_chunked.
    """
    return _chunked("scalar", x, a, B, C, chunk_size, initial_state)


@keyword_only
def diagonal_chunked(x, a, B, C, *, chunk_size=64, initial_state=None):
    """The diagonal-family block algorithm (one mask per mode inside each chunk).

    x (..., T, P), a (..., T, N), B, C (..., T, N), initial_state (..., N, P); float32/float64.
    O(T Q (N + P) + T N P) time, O(T N P / Q) memory for the chunk states plus
    O(Q^2 + Q (N + P)) per thread; any T, any Q >= 1.
    Returns y (..., T, P) and h_{T-1} (..., N, P).
    Plain twin: ssd_edu.cpu.plain.diagonal_chunked.
    """
    return _chunked("diagonal", x, a, B, C, chunk_size, initial_state)
