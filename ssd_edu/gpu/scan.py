"""The recurrence on the GPU, parallel over T: scalar_scan and diagonal_scan.

    h_t = A_t h_{t-1} + B_t x_t^T,   y_t = h_t^T C_t,   h_{-1} = initial_state (default 0)

A single thread walking all T steps leaves the GPU idle, so the scan runs in three passes over
chunks of ``SCAN_CHUNK_TILES * tile`` steps (docs/theory.md#chunked, #associative-scan; the chunks'
own recurrence is the associative composition of the chunk maps h -> abar_c h + S_c):

    a. chunk states  S_c, abar_c from a zero start, all chunks at once   (chunked.py, step 2)
    b. state passing H_c = abar_c H_{c-1} + S_c, the short pass over J chunks (chunked.py, step 3)
    c. outputs       each chunk re-runs its steps from H_{c-1}, all chunks at once (below)

Deterministic: every sum is taken in a fixed order and there are no atomics, so the same input
gives bit-identical output on every run (one thread sums y_t over all N modes, tile by tile).
"""
from __future__ import annotations

from .._keyword_only import keyword_only
from ._cuda import cuda, require_cuda, uint64
from ._device import ONE, ZERO, ceil_div, operands, specialized, split_block
from ._launch import empty_result, finish, get_tile, prepare
from .chunked import channel_width, chunk_states_kernel, state_passing_kernel

#: Scan chunk length in tiles: chunks of 4 tiles (64 steps at the default tile).
SCAN_CHUNK_TILES = 4


def _build_scan_outputs(TILE, DIAG, DT, FULL):
    """Pass c: the recurrence inside every chunk from the state entering it.

    Naive loop it computes (chunk c covers [c Q, min(c Q + Q, T)))::

        for b, c, p:
            for n-tile [n0, n0 + TILE):                        # in order
                h[n] = H_prev[b, c, n, p]                      # H_{c-1}
                for t in chunk c:
                    h[n] = a[b, t, n] h[n] + B[b, t, n] x[b, t, p]   # h_t = A_t h_{t-1} + B_t x_t^T
                    y[b, t, p] += sum_{n in tile} C[b, t, n] h[n]    # y_t = h_t^T C_t

    ``FULL`` (N a multiple of TILE) compiles the mode loop without the guard for the modes
    past N. Mapping: block (TILE, TILE) threads = (chunk c0 + ty, channel p0 + tx) lanes; grid.x =
    nb * chunk groups * p-tiles. Each thread keeps a register tile of TILE states h[n] (one
    channel, TILE modes) and sums y_t over them itself, so y is reduced in a fixed order with
    no shared memory and no atomics; a second mode tile adds into the y its own thread wrote.
    The decays, B and C of a step are the same for the 16 channels of a half-warp (broadcast
    loads), x is coalesced over p. Shared: none.
    """

    def scan_outputs(x, a, B, C, H_prev, Q, idx, y):
        _, T, P = x.shape
        N = B.shape[2]
        J = H_prev.shape[1]
        pt, ct, b = split_block(ceil_div(P, TILE), ceil_div(J, TILE))
        p = pt * TILE + cuda.threadIdx.x               # this thread's channel
        c = ct * TILE + cuda.threadIdx.y               # and chunk
        if c >= J or p >= P:
            return
        ix, ia, iB, iC = operands(idx, b)
        h = cuda.local.array(TILE, DT)
        UN = uint64(N)
        start = c * Q
        stop = uint64(min(start + Q, T))                # unsigned, as t: no float compare
        for n0 in range(0, N, TILE):
            first = uint64(n0)                         # unsigned, as the counters below
            k = ZERO
            while k < TILE:                            # unsigned counters: see _device
                h[k] = H_prev[b, c, first + k, p] if FULL or first + k < UN else DT(0)
                k += ONE
            t = uint64(start)
            while t < stop:
                xv = x[ix, t, p]
                acc = DT(0) if n0 == 0 else y[b, t, p]
                a_t = a[ia, t]                         # rows of step t: one base address
                B_t = B[iB, t]
                C_t = C[iC, t]
                k = ZERO
                while k < TILE:
                    n = first + k
                    if FULL or n < UN:                 # modes past N: a = 1, B = C = 0
                        # h_t = a_t h_{t-1} + B_t x_t^T
                        h[k] = a_t[n if DIAG else ZERO] * h[k] + B_t[n] * xv
                        # y_t += C_t[n] h_t[n]
                        acc += C_t[n] * h[k]
                    k += ONE
                y[b, t, p] = acc
                t += ONE

    return scan_outputs


scan_outputs_kernel = specialized(_build_scan_outputs)


def plan(family: str, L, tile: int):
    """Allocate outputs and workspaces of the three passes; return ``(run, y, h)``.

    ``run()`` launches the kernels only (see ``chunked.plan``).
    """
    Q = SCAN_CHUNK_TILES * tile
    J = -(-L.T // Q)
    Na = L.a.shape[2]
    n_pt, n_nt = -(-L.P // tile), -(-L.N // tile)
    width = channel_width(L.P, tile)
    n_pb = -(-L.P // (tile * width))
    S = cuda.device_array((L.nb, J, L.N, L.P), dtype=L.dtype)
    abar = cuda.device_array((L.nb, J, Na), dtype=L.dtype)
    H_prev = cuda.device_array((L.nb, J, L.N, L.P), dtype=L.dtype)
    h = cuda.device_array((L.nb, L.N, L.P), dtype=L.dtype)
    y = cuda.device_array((L.nb, L.T, L.P), dtype=L.dtype)
    states = chunk_states_kernel(tile, family, L.dtype, width)
    outputs = scan_outputs_kernel(tile, family, L.dtype, L.N % tile == 0)
    lanes = L.nb * L.N * L.P
    threads = min(128, lanes)
    grid = L.nb * J * n_nt * n_pb
    grid_out = L.nb * -(-J // tile) * n_pt

    def run():
        # a. chunk states S_c, abar_c, all chunks at once
        states[grid, (tile, tile)](L.x, L.a, L.B, Q, L.idx, S, abar)
        # b. state passing H_c = abar_c H_{c-1} + S_c
        state_passing_kernel[-(-lanes // threads), threads](S, abar, L.h0, L.has_h0, L.idx,
                                                           H_prev, h)
        # c. each chunk's steps from H_{c-1}: y_t = h_t^T C_t
        outputs[grid_out, (tile, tile)](L.x, L.a, L.B, L.C, H_prev, Q, L.idx, y)

    return run, y, h


def _scan(family, x, a, B, C, initial_state):
    require_cuda()
    values = (x, a, B, C, initial_state)
    L = prepare(family, *values)
    if L.nb == 0 or L.T == 0:
        return empty_result(values, L)
    run, y, h = plan(family, L, get_tile())
    run()
    return finish(L, y, h)


@keyword_only
def scalar_scan(x, a, B, C, *, initial_state=None):
    """The scalar recurrence on the GPU, parallel over (chunk, state, channel).

    h_t = a_t h_{t-1} + B_t x_t^T,   y_t = h_t^T C_t,   h_{-1} = initial_state (default 0).
    x (..., T, P), a (..., T), B, C (..., T, N), initial_state (..., N, P).
    Returns y (..., T, P) and the final state h_{T-1} (..., N, P); bit-identical across runs.
    """
    return _scan("scalar", x, a, B, C, initial_state)


@keyword_only
def diagonal_scan(x, a, B, C, *, initial_state=None):
    """The diagonal recurrence on the GPU, parallel over (chunk, state, channel).

    h_t = diag(a_t) h_{t-1} + B_t x_t^T,   y_t = h_t^T C_t,   h_{-1} = initial_state (default 0).
    x (..., T, P), a (..., T, N), B, C (..., T, N), initial_state (..., N, P).
    Returns y (..., T, P) and the final state h_{T-1} (..., N, P); bit-identical across runs.
    """
    return _scan("diagonal", x, a, B, C, initial_state)
