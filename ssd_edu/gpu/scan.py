"""The recurrence on the GPU, parallel over T: scalar_scan and diagonal_scan.

    h_t = A_t h_{t-1} + B_t x_t^T,   y_t = h_t^T C_t,   h_{-1} = initial_state (default 0)

Three passes over chunks of ``SCAN_CHUNK_TILES * tile`` steps (docs/theory.md#chunked,
#associative-scan): a. chunk states S_c, abar_c (chunked.py, step 2); b. state passing (step 3);
c. each chunk re-runs its steps from H_{c-1}. No atomics: bit-identical output on every run.
"""
from __future__ import annotations

from .._keyword_only import keyword_only
from . import chunked
from ._cuda import cuda, uint64
from ._device import ONE, ZERO, ceil_div, operands, specialized, split_block

SCAN_CHUNK_TILES = 4        # scan chunk length in tiles (64 steps at the default tile)


def _build_scan_outputs(TILE, DIAG, DT, FULL):
    """Pass c: the recurrence inside every chunk from the state entering it::

        for b, c, p, n-tile [n0, n0 + TILE) in order:
            h[n] = H_prev[b, c, n, p]                          # H_{c-1}
            for t in chunk c:
                h[n] = a[b, t, n] h[n] + B[b, t, n] x[b, t, p]
                y[b, t, p] += sum_{n in tile} C[b, t, n] h[n]

    Thread (ty, tx) = (chunk c0 + ty, channel p0 + tx) keeps TILE states in registers;
    ``FULL`` (N a multiple of TILE) drops the guard for modes past N.
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
    """The three passes' launches on validated inputs: ``(run, y, h)`` as ``chunked.plan``."""
    Q = SCAN_CHUNK_TILES * tile
    J = -(-L.T // Q)
    grid = L.nb * -(-J // tile) * -(-L.P // tile)
    outputs = scan_outputs_kernel(tile, family, L.dtype, L.N % tile == 0)

    def last(H_prev, y):
        # c. each chunk's steps from H_{c-1}: y_t = h_t^T C_t
        outputs[grid, (tile, tile)](L.x, L.a, L.B, L.C, H_prev, Q, L.idx, y)
    return chunked.plan(family, L, Q, tile, last)   # a. chunk states, b. state passing


@keyword_only
def scalar_scan(x, a, B, C, *, initial_state=None):
    """The scalar recurrence on the GPU, h_t = a_t h_{t-1} + B_t x_t^T, y_t = h_t^T C_t:
    x (..., T, P), a (..., T), B, C (..., T, N), initial_state (..., N, P) -> y (..., T, P),
    h_{T-1} (..., N, P)."""
    return chunked.launch("scalar", (x, a, B, C, initial_state), None,
                          lambda L, tile: plan("scalar", L, tile))


@keyword_only
def diagonal_scan(x, a, B, C, *, initial_state=None):
    """As :func:`scalar_scan` with h_t = diag(a_t) h_{t-1} + B_t x_t^T, a (..., T, N)."""
    return chunked.launch("diagonal", (x, a, B, C, initial_state), None,
                          lambda L, tile: plan("diagonal", L, tile))
