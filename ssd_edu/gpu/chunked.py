"""The block (chunked) algorithm on the GPU: scalar_chunked and diagonal_chunked.

Numbered as ``ssd_edu.reference.scalar_chunked`` (THEORY 4), for chunk c of Q steps:

    1. intra-chunk   Y_diag = (1SS(a_c) o C_c B_c^T) X_c                (masked matmul)
    2. chunk states  S_c = B_c^T diag(gamma) X_c, gamma_s = prod_{s<u<=e_c} a_u   (all chunks at once)
    3. state passing H_c = abar_c H_{c-1} + S_c                          (the scan over chunks)
    4. state output  Y_off[t] = (delta_t C_t)^T H_{c-1}, delta_t = prod_{start(t)<=u<=t} a_u

Kernels (built per tile, family and dtype by :func:`._device.specialized`): here
:func:`_build_chunk_states` (step 2) and :func:`state_passing_kernel` (step 3); steps 1 and 4
are the tiled masked matmul of ``attention.py``, one output kernel per family restricted to
the chunks. :func:`plan` allocates and returns the launches; the attention form is the same
algorithm with one chunk (Q = T), and the scan (``scan.py``) reuses steps 2 and 3.

Tiles: blocks of (tile, tile) threads, threadIdx.x along the contiguous axis. The output
kernels' time tiles are aligned to multiples of the tile, so a chunk boundary may fall inside
one (any Q, any T); the chunk-state kernel's tiles start at each chunk's start.
Threads hold register tiles of ``channel_width`` channel tiles (p, p + tile, ...), so one output
block covers up to ``MAX_WIDTH * tile`` channels and computes its scores C B^T once for all.
"""
from __future__ import annotations

from .._keyword_only import keyword_only
from ._cuda import cuda, kernel, require_cuda
from ._device import ceil_div, operands, register_tile, specialized, split_block, split_lane
from ._launch import empty_result, finish, get_tile, prepare
from .attention import diagonal_output_kernel, mode_factors_kernel, scalar_output_kernel
from ..validation import check_chunk_size

#: At most this many channel tiles per output block (a register tile of 1 x MAX_WIDTH outputs).
MAX_WIDTH = 4


def channel_width(P: int, tile: int) -> int:
    """Channel tiles per output block: all of P when P <= MAX_WIDTH * tile (scores once)."""
    return max(1, min(MAX_WIDTH, -(-P // tile)))


def _build_chunk_states(TILE, DIAG, DT, WIDTH):
    """Step 2: chunk states from a zero start, and each chunk's decay.

    Naive loop (chunk c covers s in [c Q, e_c], e_c = min(c Q + Q, T) - 1)::

        for b, c, n, p:
            S[b, c, n, p] = sum_{s in chunk c} gamma[s, n] B[b, s, n] x[b, s, p]
            # gamma[s, n] = prod_{s < u <= e_c} a[b, u, n]
        for b, c, n:
            abar[b, c, n] = prod_{u in chunk c} a[b, u, n]

    Mapping: block (TILE, TILE) threads; thread (ty, tx) owns the mode n0 + ty and a register
    tile of WIDTH channels p0 + tx + w TILE; grid.x = nb * J * n-tiles * channel blocks. The block walks its chunk backwards in time tiles of TILE steps
    from the chunk start and carries run[n] = product of a over the later tiles. Shared: a, B o
    gamma and x of one time tile; gamma from suffix products, one thread per mode (direct
    products: zero decays exact). Steps past the chunk end are padded with a = 1, B = x = 0.
    """
    PITCH = TILE + 1
    WIDE = TILE * WIDTH
    zeros, load, accumulate, store = register_tile(TILE, WIDTH, DT)

    def chunk_states(x, a, B, Q, idx, S, abar):
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        _, T, P = x.shape
        N = B.shape[2]
        J = S.shape[1]
        n_pb = ceil_div(P, WIDE)
        pb, nt, bc = split_block(n_pb, ceil_div(N, TILE))
        p0 = pb * WIDE + tx
        n0 = nt * TILE
        c = bc % J
        b = bc // J
        ix, ia, iB, _ = operands(idx, b)
        a_s = cuda.shared.array((TILE, PITCH), DT)     # a[s, n] of the time tile
        bg_s = cuda.shared.array((TILE, PITCH), DT)    # B[s, n] gamma[s, n]
        x_s = cuda.shared.array((TILE, WIDE), DT)      # x[s, p]
        run = cuda.shared.array(TILE, DT)              # prod of a over the later tiles
        acc = zeros()
        start = c * Q
        stop = min(start + Q, T)
        nn = n0 + tx                                   # the mode this thread loads
        na = nn if DIAG else 0
        if ty == 0:
            run[tx] = DT(1)
        for j in range((stop - start + TILE - 1) // TILE - 1, -1, -1):
            s = start + j * TILE + ty                  # the step this thread row loads
            ok = s < stop and nn < N
            a_s[ty, tx] = a[ia, s, na] if ok else DT(1)
            bg_s[ty, tx] = B[iB, s, nn] if ok else DT(0)
            load(x_s, x[ix], s, stop, p0, P)
            cuda.syncthreads()
            if ty == 0:
                # gamma[k, n] = run[n] prod_{k < u < TILE} a[u, n]   (suffix products)
                g = run[tx]
                for k in range(TILE - 1, -1, -1):
                    bg_s[k, tx] *= g
                    g *= a_s[k, tx]
                run[tx] = g
            cuda.syncthreads()
            # S[n, p] += sum_k (B o gamma)[k, n] x[k, p]
            accumulate(acc, bg_s[:, ty], x_s)
            cuda.syncthreads()
        if n0 + ty < N:
            store(S[b, c, n0 + ty], acc, p0, P)
        if ty == 0 and pb == 0 and nn < abar.shape[2]:   # one channel block writes
            abar[b, c, nn] = run[tx]

    return chunk_states


chunk_states_kernel = specialized(_build_chunk_states)


@kernel
def state_passing_kernel(S, abar, h0, has_h0, idx, H_prev, h_last):
    """Step 3: ``H_c = abar_c H_{c-1} + S_c`` from ``H_{-1} = h0``.

    Naive loop it computes (abar[b, c, 0] in the scalar family)::

        for b, n, p:
            H = h0[b, n, p] if has_h0 else 0
            for c in range(J):
                H_prev[b, c, n, p] = H                  # the state entering chunk c
                H = abar[b, c, n] * H + S[b, c, n, p]   # H_c = abar_c H_{c-1} + S_c
            h_last[b, n, p] = H                         # the final state

    Mapping: one thread per (b, n, p) lane, p fastest (coalesced), a 1-D grid; the state in a
    register; a fixed order, so the result is the same on every run. Shared: none.
    """
    nb, J, N, P = S.shape
    b, n, na, p = split_lane(N, P, abar.shape[2] > 1)
    if b >= nb:
        return
    H = S.dtype.type(0)
    if has_h0:
        H = h0[idx[4, b], n, p]
    for c in range(J):
        H_prev[b, c, n, p] = H
        # H_c = abar_c H_{c-1} + S_c
        H = abar[b, c, na] * H + S[b, c, n, p]
    h_last[b, n, p] = H


def plan(family: str, L, Q: int, tile: int):
    """Allocate the outputs and workspaces of the four steps; return ``(run, y, h)``.

    ``run()`` launches the kernels only (nothing is allocated, validated or copied), so the
    benchmark can time it alone; y (nb, T, P) and h (nb, N, P) are filled by each ``run()``.
    """
    J = -(-L.T // Q)
    Na = L.a.shape[2]
    n_nt, n_rt = -(-L.N // tile), -(-L.T // tile)
    width = channel_width(L.P, tile)
    n_pb = -(-L.P // (tile * width))                 # channel blocks of width tiles
    n_out = L.nb * n_rt * n_pb
    S = cuda.device_array((L.nb, J, L.N, L.P), dtype=L.dtype)
    abar = cuda.device_array((L.nb, J, Na), dtype=L.dtype)
    H_prev = cuda.device_array((L.nb, J, L.N, L.P), dtype=L.dtype)
    h = cuda.device_array((L.nb, L.N, L.P), dtype=L.dtype)
    y = cuda.device_array((L.nb, L.T, L.P), dtype=L.dtype)
    if family == "diagonal":
        spans = cuda.device_array((n_out, -(-L.N // (2 * tile)) * 2 * tile), dtype=L.dtype)
        F = cuda.device_array((L.nb, L.T, L.N), dtype=L.dtype)
        Gs = cuda.device_array((L.nb, L.T, L.N), dtype=L.dtype)
        factors = mode_factors_kernel(tile, family, L.dtype)
        n_factor = L.nb * -(-n_rt // tile) * n_nt
    states = chunk_states_kernel(tile, family, L.dtype, width)
    output = (diagonal_output_kernel if family == "diagonal" else scalar_output_kernel)(
        tile, family, L.dtype, width)
    lanes = L.nb * L.N * L.P
    threads = min(128, lanes)
    use_hin = J > 1 or L.has_h0

    def run():
        # 2. chunk states S_c and chunk decays abar_c, all chunks in parallel
        states[L.nb * J * n_nt * n_pb, (tile, tile)](L.x, L.a, L.B, Q, L.idx, S, abar)
        # 3. state passing H_c = abar_c H_{c-1} + S_c (H_prev[c] = H_{c-1}; h = H_{J-1})
        state_passing_kernel[-(-lanes // threads), threads](S, abar, L.h0, L.has_h0, L.idx,
                                                           H_prev, h)
        # 1 + 4. masked matmul inside each chunk, plus the state entering it
        if family == "diagonal":
            # the per-mode prefix / suffix factors of the masks (1.)
            factors[n_factor, (tile, tile)](L.a, Q, L.idx, F, Gs)
            output[n_out, (tile, tile)](L.x, L.a, L.B, L.C, F, Gs, H_prev, use_hin, Q, L.idx,
                                        spans, y)
        else:
            output[n_out, (tile, tile)](L.x, L.a, L.B, L.C, H_prev, use_hin, Q, L.idx, y)

    return run, y, h


def blocked(family, x, a, B, C, initial_state, chunk_size):
    """The block algorithm on the device; ``chunk_size=None`` is the attention form (Q = T)."""
    require_cuda()
    values = (x, a, B, C, initial_state)
    L = prepare(family, *values, chunk_size=chunk_size)
    if L.nb == 0 or L.T == 0:
        return empty_result(values, L)
    # one chunk covers everything when Q >= T (and in the attention form)
    Q = L.T if chunk_size is None else min(check_chunk_size(chunk_size), L.T)
    run, y, h = plan(family, L, Q, get_tile())
    run()
    return finish(L, y, h)


@keyword_only
def scalar_chunked(x, a, B, C, *, chunk_size=64, initial_state=None):
    """The block algorithm on the GPU: attention inside chunks of Q steps, the scan across them.

    Per chunk c (J = ceil(T / Q) chunks, any T and any Q >= 1; the last may be short), the four
    steps of the module docstring: 1 + 4 fused in one kernel, 2 for all chunks in parallel, 3
    the inter-chunk scan (H_{J-1} is the final state). x (..., T, P), a (..., T), B, C
    (..., T, N), initial_state (..., N, P); returns y (..., T, P) and h (..., N, P).
    """
    # None is the attention form's private value here: a caller's None is an error
    return blocked("scalar", x, a, B, C, initial_state, chunk_size=check_chunk_size(chunk_size))


@keyword_only
def diagonal_chunked(x, a, B, C, *, chunk_size=64, initial_state=None):
    """The block algorithm on the GPU with per-mode decays (every step elementwise per mode).

    As :func:`scalar_chunked`, with per-mode gamma, abar and delta and the sum of N heads
    inside each chunk; a (..., T, N).
    """
    return blocked("diagonal", x, a, B, C, initial_state,
                   chunk_size=check_chunk_size(chunk_size))
