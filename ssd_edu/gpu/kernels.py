"""The numba.cuda kernel bodies (private; the launchers in ``forms`` and ``timing`` call them).

Every kernel reads 3-D arrays with a flat leading axis: x (nx, T, P), a (na, T, Na) with Na = 1
for the scalar family and Na = N for the diagonal family, B and C (nB, T, N), h0 (nh, N, P).
Leading (batch, head) axes may broadcast: row k of ``idx`` (5, nb) maps the flat output batch
index b to the leading index of x, a, B, C, h0 (k = 0..4), so no broadcast copy is made.

Conventions shared by all kernels:

* ``tile`` is a launch parameter, not a compile-time constant: blocks are ``(tile, tile)``
  threads and every shared buffer is carved from dynamic shared memory, whose byte size the
  launcher passes (``shared_*`` below). 2-D shared tiles use a pitch of ``tile + 1`` so that
  column reads hit distinct banks.
* ``x.dtype.type(0)`` / ``(1)`` keep every literal in the computation dtype, so float32 inputs
  are computed in float32 throughout.
* Decays are used as given. Every decay product is a direct product of the a's (THEORY 2.1):
  no ``log a``, no ratio of cumulative products, no clamp. Zero and negative decays are exact;
  no fastmath (subnormals survive).
* Grids are 1-D over blocks (``grid.x`` has the largest limit); each block decodes its tile
  indices from ``blockIdx.x``.

Letters: t, s time (query, key); n state; p channel; c chunk; b flat batch.
"""
from __future__ import annotations

import math

from ._cuda import cuda, kernel


def shared_scan(tile: int) -> int:
    """Elements of dynamic shared memory :func:`_scan_kernel` needs."""
    return tile * tile * tile


def shared_chunk_states(tile: int) -> int:
    """Elements of dynamic shared memory :func:`_chunk_states_kernel` needs."""
    return 4 * tile * (tile + 1) + tile


def shared_scalar_output(tile: int) -> int:
    """Elements of dynamic shared memory :func:`_scalar_output_kernel` needs."""
    return 4 * tile * (tile + 1) + 3 * tile


def shared_diagonal_output(tile: int) -> int:
    """Elements of dynamic shared memory :func:`_diagonal_output_kernel` needs."""
    return 9 * tile * (tile + 1) + tile


def shared_matmul(tile: int) -> int:
    """Elements of dynamic shared memory :func:`_matmul_kernel` needs."""
    return 2 * tile * (tile + 1)


@kernel
def _scan_kernel(x, a, B, C, h0, has_h0, idx, tile, atomic, y, h_last):
    """The recurrence, one thread per independent (sequence b, state n, channel p) lane.

    Naive loop it computes (a[b, t, 0] in the scalar family, a[b, t, n] in the diagonal one)::

        for b, n, p:
            h = h0[b, n, p] if has_h0 else 0
            for t in range(T):
                h = a[b, t, n] * h + B[b, t, n] * x[b, t, p]     # h_t = A_t h_{t-1} + B_t x_t^T
                y[b, t, p] += C[b, t, n] * h                     # y_t = h_t^T C_t
            h_last[b, n, p] = h

    Mapping: block (tile, tile) threads = (p, n) lanes of one sequence (threadIdx.x = p, the
    contiguous axis of x and y: coalesced); grid.x = nb * n-tiles * p-tiles. The state h[n, p]
    lives in a register for the whole sequence.
    Shared: part[k, n, p] = C[t0 + k, n] h_{t0+k}[n, p] for a group of ``tile`` steps; after one
    barrier, thread row k sums step t0 + k over the block's modes, so there is one barrier pair
    per ``tile`` steps, not per step. With N > tile several blocks share (b, p) and ``atomic``
    adds their partial sums into y (zeroed by the launcher); otherwise y is stored directly.
    """
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    T = x.shape[1]
    P = x.shape[2]
    N = B.shape[2]
    n_pt = (P + tile - 1) // tile
    n_nt = (N + tile - 1) // tile
    blk = cuda.blockIdx.x
    p = (blk % n_pt) * tile + tx
    n = ((blk // n_pt) % n_nt) * tile + ty
    b = blk // (n_pt * n_nt)
    ix = idx[0, b]
    ia = idx[1, b]
    iB = idx[2, b]
    iC = idx[3, b]
    na = n if a.shape[2] > 1 else 0          # the scalar family shares a[b, t, 0]
    live = n < N and p < P
    part = cuda.shared.array(0, dtype=x.dtype)
    zero = x.dtype.type(0)
    h = zero
    if live and has_h0:
        h = h0[idx[4, b], n, p]
    for t0 in range(0, T, tile):
        for k in range(tile):
            t = t0 + k
            c = zero
            if live and t < T:
                # h_t = a_t h_{t-1} + B_t x_t^T
                h = a[ia, t, na] * h + B[iB, t, n] * x[ix, t, p]
                c = C[iC, t, n] * h
            part[(k * tile + ty) * tile + tx] = c
        cuda.syncthreads()
        t = t0 + ty
        if t < T and p < P:
            # y_t = h_t^T C_t: this block's modes
            acc = zero
            for j in range(tile):
                acc += part[(ty * tile + j) * tile + tx]
            if atomic:
                cuda.atomic.add(y, (b, t, p), acc)
            else:
                y[b, t, p] = acc
        cuda.syncthreads()
    if live:
        h_last[b, n, p] = h


@kernel
def _chunk_states_kernel(x, a, B, Q, idx, tile, S, abar):
    """Chunk states from a zero start, and each chunk's decay (THEORY 4, step 2).

    Naive loop it computes (chunk c covers s in [c Q, e_c], e_c = min(c Q + Q, T) - 1)::

        for b, c, n, p:
            S[b, c, n, p] = sum_{s in chunk c} gamma[s, n] B[b, s, n] x[b, s, p]
            # gamma[s, n] = prod_{s < u <= e_c} a[b, u, n]
        for b, c, n:
            abar[b, c, n] = prod_{u in chunk c} a[b, u, n]

    With Q >= T this is the final state of the attention form before the initial-state term.
    Mapping: block (tile, tile) threads = (p, n) outputs (threadIdx.x = p); grid.x =
    nb * J * n-tiles * p-tiles. The block walks its chunk backwards in time tiles of ``tile``
    steps (aligned to the chunk start, so no tile straddles two chunks) and carries
    run[n] = product of a over the later tiles: every gamma is a direct product.
    Shared: tiles of a and B (time x mode) and x (time x channel), gam[k, n] (the gamma of
    step k of the tile), run[n]. A step past the chunk end is padded with a = 1, B = x = 0.
    """
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    T = x.shape[1]
    P = x.shape[2]
    N = B.shape[2]
    J = S.shape[1]
    n_pt = (P + tile - 1) // tile
    n_nt = (N + tile - 1) // tile
    blk = cuda.blockIdx.x
    p0 = (blk % n_pt) * tile
    n0 = ((blk // n_pt) % n_nt) * tile
    c = (blk // (n_pt * n_nt)) % J
    b = blk // (n_pt * n_nt * J)
    ix = idx[0, b]
    ia = idx[1, b]
    iB = idx[2, b]
    pitch = tile + 1
    sh = cuda.shared.array(0, dtype=x.dtype)
    oA = 0
    oB = tile * pitch
    oX = 2 * tile * pitch
    oG = 3 * tile * pitch
    oR = 4 * tile * pitch
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    start = c * Q
    stop = min(start + Q, T)
    nn = n0 + tx                            # the mode this thread loads
    na = nn if a.shape[2] > 1 else 0
    if ty == 0:
        sh[oR + tx] = one
    acc = zero
    for j in range((stop - start + tile - 1) // tile - 1, -1, -1):
        s = start + j * tile + ty           # the step this thread row loads
        ok = s < stop and nn < N
        sh[oA + ty * pitch + tx] = a[ia, s, na] if ok else one
        sh[oB + ty * pitch + tx] = B[iB, s, nn] if ok else zero
        sh[oX + ty * pitch + tx] = x[ix, s, p0 + tx] if s < stop and p0 + tx < P else zero
        cuda.syncthreads()
        # gamma of step ty for mode tx: run[n] * prod_{ty < k < tile} a[k, n]
        g = sh[oR + tx]
        for k in range(ty + 1, tile):
            g *= sh[oA + k * pitch + tx]
        sh[oG + ty * pitch + tx] = g
        cuda.syncthreads()
        if ty == 0:
            # run[n] now spans this tile too: prod_{0 <= k < tile} a[k, n] * old run[n]
            sh[oR + tx] = sh[oG + tx] * sh[oA + tx]
        # S[n, p] += sum_k gamma[k, n] B[k, n] x[k, p]   (thread: n = n0 + ty, p = p0 + tx)
        for k in range(tile):
            acc += sh[oG + k * pitch + ty] * sh[oB + k * pitch + ty] * sh[oX + k * pitch + tx]
        cuda.syncthreads()
    if n0 + ty < N and p0 + tx < P:
        S[b, c, n0 + ty, p0 + tx] = acc
    if ty == 0 and p0 == 0 and nn < abar.shape[2]:
        abar[b, c, nn] = sh[oR + tx]


@kernel
def _state_passing_kernel(S, abar, h0, has_h0, idx, H_prev, h_last):
    """The inter-chunk scan ``H_c = abar_c H_{c-1} + S_c`` from ``H_{-1} = h0`` (THEORY 4, step 3).

    Naive loop it computes (abar[b, c, 0] in the scalar family)::

        for b, n, p:
            H = h0[b, n, p] if has_h0 else 0
            for c in range(J):
                H_prev[b, c, n, p] = H                  # the state entering chunk c
                H = abar[b, c, n] * H + S[b, c, n, p]   # H_c = abar_c H_{c-1} + S_c
            h_last[b, n, p] = H                         # the final state

    Mapping: one thread per (b, n, p) lane, p fastest (coalesced), a 1-D grid; the state in a
    register. Shared: none.
    """
    i = cuda.grid(1)
    nb = S.shape[0]
    J = S.shape[1]
    N = S.shape[2]
    P = S.shape[3]
    if i >= nb * N * P:
        return
    p = i % P
    n = (i // P) % N
    b = i // (N * P)
    na = n if abar.shape[2] > 1 else 0
    H = S.dtype.type(0)
    if has_h0:
        H = h0[idx[4, b], n, p]
    for c in range(J):
        H_prev[b, c, n, p] = H
        # H_c = abar_c H_{c-1} + S_c
        H = abar[b, c, na] * H + S[b, c, n, p]
    h_last[b, n, p] = H


@kernel
def _scalar_output_kernel(x, a, B, C, Hin, use_hin, Q, idx, tile, y):
    """Scalar family, y chunk by chunk: masked matmul inside the chunk plus the entering state.

    Naive loop it computes (chunk c(t) = t // Q starts at b(t) = c(t) Q; THEORY 4 steps 1
    and 4; with Q >= T and Hin[b, 0] = h0 it is the attention form)::

        for b, t, p:
            y[b, t, p] = sum_{s = b(t)}^{t} (prod_{s < u <= t} a[b, u]) (C[b, t] . B[b, s])
                                            x[b, s, p]
                       + (prod_{b(t) <= u <= t} a[b, u]) (C[b, t] . Hin[b, c(t), :, p])

    Mapping: block (tile, tile) threads; in the accumulation thread (ty, tx) owns the output
    (t = r0 + ty, p = p0 + tx), in the score phase the score (t = r0 + ty, s = c0 + tx).
    grid.x = nb * row tiles * p-tiles. A block visits the column tiles from its diagonal tile
    back to the tile that holds the chunk start b(r0): only tiles on or below the diagonal, and
    no T x T array exists anywhere. Per column tile: G = C_I B_J^T summed over n-tiles, then
    the mask, then y += (L o G) X_J.

    The mask from prefix quantities, all direct products (zero and negative decays exact):
    off the diagonal tile L[t, s] = f[t] * span * g[s] with f[t] = prod_{max(r0, b(t)) <= u <= t}
    a_u (row tile), g[s] = prod_{s < u <= c1} a_u (column tile ending at c1) and
    span = prod_{c1 < u < r0} a_u, carried from one column tile to the next; on the diagonal
    tile a loop prod_{s < u <= t} a_u of at most ``tile`` factors. Entries with s < b(t) (an
    earlier chunk) are 0. The entering-state factor is delta_t = f[t] * prod_{b(t) <= u < r0} a_u.
    Shared: C tile (t x n), B tile (s x n), x tile (s x p), masked scores (t x s), a and f of
    the row tile, a of the column tile.
    """
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    T = x.shape[1]
    P = x.shape[2]
    N = B.shape[2]
    n_pt = (P + tile - 1) // tile
    n_rt = (T + tile - 1) // tile
    blk = cuda.blockIdx.x
    p0 = (blk % n_pt) * tile
    rt = (blk // n_pt) % n_rt
    b = blk // (n_pt * n_rt)
    ix = idx[0, b]
    ia = idx[1, b]
    iB = idx[2, b]
    iC = idx[3, b]
    pitch = tile + 1
    sh = cuda.shared.array(0, dtype=x.dtype)
    oC = 0
    oB = tile * pitch
    oX = 2 * tile * pitch
    oG = 3 * tile * pitch
    oAr = 4 * tile * pitch                  # a of the row tile
    oF = oAr + tile                         # f of the row tile
    oAc = oF + tile                         # a of the column tile
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    r0 = rt * tile
    t = r0 + ty
    p = p0 + tx
    b0 = (r0 // Q) * Q                      # chunk start of the tile's first row
    bt = (t // Q) * Q                       # chunk start of row t
    if ty == 0:
        sh[oAr + tx] = a[ia, r0 + tx, 0] if r0 + tx < T else one
    cuda.syncthreads()
    if tx == 0:
        # f[t] = prod_{max(r0, b(t)) <= u <= t} a_u
        f = one
        if t < T:
            for u in range(max(r0, bt), t + 1):
                f *= sh[oAr + u - r0]
        sh[oF + ty] = f
    acc = zero
    span = one                              # prod_{c1 < u < r0} a_u
    for J in range(rt, b0 // tile - 1, -1):
        c0 = J * tile
        c1 = c0 + tile - 1
        s = c0 + tx                         # the key of this thread's score
        if ty == 0:
            sh[oAc + tx] = a[ia, s, 0] if s < T else one
        # G[t, s] = C_t . B_s, over n-tiles
        dot = zero
        for n0 in range(0, N, tile):
            nn = n0 + tx
            sh[oC + ty * pitch + tx] = C[iC, t, nn] if t < T and nn < N else zero
            sh[oB + ty * pitch + tx] = B[iB, c0 + ty, nn] if c0 + ty < T and nn < N else zero
            cuda.syncthreads()
            for k in range(tile):
                dot += sh[oC + ty * pitch + k] * sh[oB + tx * pitch + k]
            cuda.syncthreads()
        # L[t, s] = prod_{s < u <= t} a_u for b(t) <= s <= t, else 0
        L = zero
        if t < T and s >= bt and s <= t:
            L = one
            if J == rt:
                for u in range(s + 1, t + 1):
                    L *= sh[oAr + u - r0]
            else:
                # L = f[t] * span * g[s],  g[s] = prod_{s < u <= c1} a_u
                L = sh[oF + ty] * span
                for u in range(s + 1, c1 + 1):
                    L *= sh[oAc + u - c0]
        sh[oG + ty * pitch + tx] = L * dot
        sh[oX + ty * pitch + tx] = x[ix, c0 + ty, p] if c0 + ty < T and p < P else zero
        cuda.syncthreads()
        # y_t += sum_s (L o C B^T)[t, s] x_s
        for k in range(tile):
            acc += sh[oG + ty * pitch + k] * sh[oX + k * pitch + tx]
        if J < rt:
            # span *= prod_{max(c0, b0) <= u <= c1} a_u  (restricted to the chunk of b0)
            for u in range(max(c0, b0), c1 + 1):
                span *= sh[oAc + u - c0]
        cuda.syncthreads()
    if t < T and p < P:
        if use_hin:
            # y_t += delta_t C_t^T H_{c(t)-1},  delta_t = prod_{b(t) <= u <= t} a_u
            delta = sh[oF + ty] * (span if bt < r0 else one)
            hs = zero
            c = t // Q
            for n in range(N):
                hs += C[iC, t, n] * Hin[b, c, n, p]
            acc += delta * hs
        y[b, t, p] = acc


@kernel
def _diagonal_output_kernel(x, a, B, C, Hin, use_hin, Q, idx, tile, y):
    """Diagonal family, y chunk by chunk: the sum of N 1-SS heads inside the chunk, plus the
    entering state (THEORY 3.2 and 4, steps 1 and 4; with Q >= T it is the attention form).

    Naive loop it computes (chunk c(t) = t // Q starts at b(t) = c(t) Q)::

        for b, t, p:
            y[b, t, p] = sum_n sum_{s = b(t)}^{t} C[b, t, n] (prod_{s < u <= t} a[b, u, n])
                                                   B[b, s, n] x[b, s, p]
                       + sum_n C[b, t, n] (prod_{b(t) <= u <= t} a[b, u, n]) Hin[b, c(t), n, p]

    Mapping: as the scalar kernel (block (tile, tile), output (t, p) per thread, grid.x =
    nb * row tiles * p-tiles, only column tiles on or below the diagonal back to the chunk
    start), with the mode tiles as the OUTER loop because every mode has its own mask: for one
    n-tile, the row factor f[t, n] and the running span[n] stay in shared memory while the
    column tiles are visited. Off the diagonal tile each head is a plain product of rescaled
    tiles, G[t, s] = sum_n (C[t, n] f[t, n]) (B[s, n] g[s, n] span[n]), with
    f[t, n] = prod_{max(r0, b(t)) <= u <= t} a[u, n], g[s, n] = prod_{s < u <= c1} a[u, n] and
    span[n] = prod_{c1 < u < r0} a[u, n]: direct products, no ratio, no log. On the diagonal
    tile every (t, s, n) multiplies its at most ``tile`` factors directly. The entering-state
    factor is delta[t, n] = f[t, n] * prod_{b(t) <= u < r0} a[u, n].
    Shared: per n-tile, a, C and f of the row tile and C o f (t x n); per column tile, a and B
    (s x n), B o g o span (s x n), x (s x p) and the summed scores (t x s); span[n].
    """
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    T = x.shape[1]
    P = x.shape[2]
    N = B.shape[2]
    n_pt = (P + tile - 1) // tile
    n_rt = (T + tile - 1) // tile
    blk = cuda.blockIdx.x
    p0 = (blk % n_pt) * tile
    rt = (blk // n_pt) % n_rt
    b = blk // (n_pt * n_rt)
    ix = idx[0, b]
    ia = idx[1, b]
    iB = idx[2, b]
    iC = idx[3, b]
    pitch = tile + 1
    sq = tile * pitch
    sh = cuda.shared.array(0, dtype=x.dtype)
    oAr = 0                                 # a of the row tile      (t x n)
    oC = sq                                 # C of the row tile      (t x n)
    oF = 2 * sq                             # f                      (t x n)
    oCf = 3 * sq                            # C o f                  (t x n)
    oX = 4 * sq                             # x of the column tile   (s x p)
    oB = 5 * sq                             # B of the column tile   (s x n)
    oAc = 6 * sq                            # a of the column tile   (s x n)
    oBg = 7 * sq                            # B o g o span           (s x n)
    oG = 8 * sq                             # summed scores          (t x s)
    oS = 9 * sq                             # span[n]
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    r0 = rt * tile
    t = r0 + ty
    p = p0 + tx
    b0 = (r0 // Q) * Q
    bt = (t // Q) * Q
    acc = zero
    for n0 in range(0, N, tile):
        nn = n0 + tx                        # the mode this thread loads
        ok = t < T and nn < N
        sh[oAr + ty * pitch + tx] = a[ia, t, nn] if ok else one
        sh[oC + ty * pitch + tx] = C[iC, t, nn] if ok else zero
        if ty == 0:
            sh[oS + tx] = one
        cuda.syncthreads()
        # f[t, n] = prod_{max(r0, b(t)) <= u <= t} a[u, n]
        f = one
        if t < T:
            for u in range(max(r0, bt), t + 1):
                f *= sh[oAr + (u - r0) * pitch + tx]
        sh[oF + ty * pitch + tx] = f
        sh[oCf + ty * pitch + tx] = f * sh[oC + ty * pitch + tx]
        for J in range(rt, b0 // tile - 1, -1):
            c0 = J * tile
            c1 = c0 + tile - 1
            s_ld = c0 + ty                  # the step this thread row loads
            sh[oX + ty * pitch + tx] = x[ix, s_ld, p] if s_ld < T and p < P else zero
            sh[oB + ty * pitch + tx] = B[iB, s_ld, nn] if s_ld < T and nn < N else zero
            sh[oAc + ty * pitch + tx] = a[ia, s_ld, nn] if s_ld < T and nn < N else one
            cuda.syncthreads()
            s = c0 + tx                     # the key of this thread's score
            g = zero
            if J == rt:
                # G[t, s] = sum_n C[t, n] (prod_{s < u <= t} a[u, n]) B[s, n], b(t) <= s <= t
                if t < T and s >= bt and s <= t:
                    for k in range(tile):
                        m = sh[oC + ty * pitch + k] * sh[oB + tx * pitch + k]
                        for u in range(s + 1, t + 1):
                            m *= sh[oAr + (u - r0) * pitch + k]
                        g += m
            else:
                # Bg[s, n] = B[s, n] g[s, n] span[n],  g[s, n] = prod_{s < u <= c1} a[u, n]
                gs = sh[oS + tx]
                for u in range(s_ld + 1, c1 + 1):
                    gs *= sh[oAc + (u - c0) * pitch + tx]
                sh[oBg + ty * pitch + tx] = sh[oB + ty * pitch + tx] * gs
                cuda.syncthreads()
                # G[t, s] = sum_n (C o f)[t, n] Bg[s, n] for s >= b(t)
                if t < T and s >= bt:
                    for k in range(tile):
                        g += sh[oCf + ty * pitch + k] * sh[oBg + tx * pitch + k]
                if ty == 0:
                    # span[n] *= prod_{max(c0, b0) <= u <= c1} a[u, n]
                    sp = sh[oS + tx]
                    for u in range(max(c0, b0), c1 + 1):
                        sp *= sh[oAc + (u - c0) * pitch + tx]
                    sh[oS + tx] = sp
            sh[oG + ty * pitch + tx] = g
            cuda.syncthreads()
            # y_t += sum_s G[t, s] x_s
            for k in range(tile):
                acc += sh[oG + ty * pitch + k] * sh[oX + k * pitch + tx]
            cuda.syncthreads()
        if use_hin and t < T and p < P:
            # y_t += sum_n C[t, n] delta[t, n] H_{c(t)-1}[n, p]
            c = t // Q
            for k in range(min(tile, N - n0)):
                delta = sh[oF + ty * pitch + k] * (sh[oS + k] if bt < r0 else one)
                acc += sh[oC + ty * pitch + k] * delta * Hin[b, c, n0 + k, p]
        cuda.syncthreads()
    if t < T and p < P:
        y[b, t, p] = acc


@kernel
def _fill_kernel(flat, value):
    """``flat[:] = value``. Naive loop: ``for i: flat[i] = value``.

    Mapping: a 1-D grid-stride loop (any grid covers any size). Shared: none.
    """
    for i in range(cuda.grid(1), flat.size, cuda.gridsize(1)):
        flat[i] = value


@kernel
def _count_nonfinite_kernel(flat, count, slot):
    """``count[slot] += number of inf / NaN entries of flat``, to validate a float device array
    without copying it to the host.

    Naive loop: ``for i: count[slot] += not isfinite(flat[i])``.
    Mapping: a 1-D grid-stride loop; each thread counts in a register and adds its count with
    one atomic. Shared: none.
    """
    found = 0
    for i in range(cuda.grid(1), flat.size, cuda.gridsize(1)):
        if not math.isfinite(flat[i]):
            found += 1
    if found > 0:
        cuda.atomic.add(count, slot, found)


@kernel
def _matmul_kernel(A, B, out, tile):
    """``out = A @ B`` for (m, k) x (k, n): the classic shared-memory tiled matmul.

    Naive loop: ``for i, j: out[i, j] = sum_k A[i, k] B[k, j]``.
    Mapping: block (tile, tile) threads, thread (ty, tx) owns out[i0 + ty, j0 + tx];
    grid.x = row tiles * column tiles. Shared: one (tile x tile) tile of A and one of B per
    step along k. Used by ``timing.device_matmul_rate`` as a practical peak (no cuBLAS in
    numba.cuda; a vendor BLAS is several times faster).
    """
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    m = out.shape[0]
    n = out.shape[1]
    K = A.shape[1]
    n_ct = (n + tile - 1) // tile
    i = (cuda.blockIdx.x // n_ct) * tile + ty
    j = (cuda.blockIdx.x % n_ct) * tile + tx
    pitch = tile + 1
    sh = cuda.shared.array(0, dtype=A.dtype)
    oB = tile * pitch
    acc = A.dtype.type(0)
    for k0 in range(0, K, tile):
        sh[ty * pitch + tx] = A[i, k0 + tx] if i < m and k0 + tx < K else A.dtype.type(0)
        sh[oB + ty * pitch + tx] = B[k0 + ty, j] if k0 + ty < K and j < n else A.dtype.type(0)
        cuda.syncthreads()
        for k in range(tile):
            acc += sh[ty * pitch + k] * sh[oB + k * pitch + tx]
        cuda.syncthreads()
    if i < m and j < n:
        out[i, j] = acc
