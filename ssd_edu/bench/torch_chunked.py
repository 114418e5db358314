"""The chunked form written with PyTorch, both families: the torch rows of the benchmark.

For chunk c of Q steps (the last padded with a = 1, x = B = C = 0), all chunks at once:

    L[i, j] = prod_{j<u<=i} a_u  (i >= j, 0 above): cumprod down i of a_u (u > j) or 1
    1. intra-chunk    Y_diag = (L o C_c B_c^T) X_c        (diagonal: one L per mode n)
    2. chunk states   S_c = (B_c o gamma)^T X_c,   gamma_j = prod_{j<u<Q} a_u
    3. state passing  H_c = abar_c o H_{c-1} + S_c,  abar_c = prod_{u in c} a_u
    4. state output   Y_off = (C_c o delta) H_{c-1},  delta_i = prod_{0<=u<=i} a_u

The diagonal step 1 cuts chunks into sub-chunks of ``SUB`` steps: only the diagonal blocks
form per-mode masks, the others one batched matmul (:func:`_diagonal_intra`). Direct products
only (no log, no division): zero and negative decays are exact. Tensors have one batch axis.
"""
from __future__ import annotations

try:
    import torch
except ImportError as exc:  # an optional dependency: say which and how to get it
    raise ImportError("ssd_edu.bench.torch_chunked needs PyTorch: install torch (a CPU-only "
                      "wheel is enough), or the `peers` extra of a checkout") from exc

#: The diagonal step 1: steps per sub-chunk, and mask entries per group of chunks.
SUB, GROUP_ENTRIES = 8, 1 << 20


def _pad_chunks(v, Q, value=0.0):
    """(b, T, ...) -> (b, J, Q, ...): the time axis padded with ``value`` to J Q steps."""
    b, T = v.shape[:2]
    pad = -T % Q
    widths = (0, 0) * (v.dim() - 2) + (0, pad)
    return torch.nn.functional.pad(v, widths, value=value).reshape(b, (T + pad) // Q, Q,
                                                                  *v.shape[2:])


def _segment_products(a, dim):
    """L[..., i, j, ...] = prod_{j<u<=i} a_u along axis ``dim`` of ``a``, a new axis j after it
    (1 for i <= j): the cumprod down i of R[u, j] = a_u (u > j) or 1. Direct products only."""
    Q = a.shape[dim]
    later = torch.ones(Q, Q, dtype=torch.bool).tril(-1).reshape(Q, Q, *(1,) * (a.dim() - dim - 1))
    R = torch.where(later, a.unsqueeze(dim + 1), torch.ones((), dtype=a.dtype))
    return R.cumprod(dim)


def _state_passing(abar, S, h):
    """H_c = abar_c o H_{c-1} + S_c from H_{-1} = h: returns (H_{c-1} for every c, H_{J-1}).
    abar (b, J) or (b, J, N), S (b, J, N, P). (A stack, not writes into one buffer, which
    autograd would copy at every chunk.)"""
    H_prev = []
    for abar_c, S_c in zip(abar.unbind(1), S.unbind(1)):
        H_prev.append(h)
        h = abar_c.reshape(*abar_c.shape, *(1,) * (3 - abar_c.dim())) * h + S_c
    return torch.stack(H_prev, dim=1), h


def scalar_chunked(x, a, B, C, h0, *, chunk_size=64):
    """The scalar family: x (b, T, P), a (b, T), B, C (b, T, N), h0 (b, N, P) tensors of one
    dtype. Returns y (b, T, P) and the final state h_{T-1} (b, N, P)."""
    T, Q = x.shape[1], chunk_size
    X, Bc, Cc = (_pad_chunks(v, Q) for v in (x, B, C))       # (b, J, Q, P or N)
    A = _pad_chunks(a, Q, value=1.0)                         # (b, J, Q)
    # L[i, j] = prod_{j<u<=i} a_u for i >= j, 0 above
    L = _segment_products(A, 2).tril()                       # (b, J, Q, Q)
    # 1. intra-chunk: Y_diag = (L o C_c B_c^T) X_c
    Y = (L * (Cc @ Bc.transpose(2, 3))) @ X                  # (b, J, Q, P)
    # 2. chunk states: S_c = (B_c o gamma)^T X_c,  gamma_j = prod_{j<u<Q} a_u = L[Q-1, j]
    gamma = L[:, :, Q - 1]                                   # (b, J, Q)
    S = (Bc * gamma[..., None]).transpose(2, 3) @ X          # (b, J, N, P)
    # 3. state passing: H_c = abar_c H_{c-1} + S_c,  abar_c = a_0 gamma_0
    H_prev, h = _state_passing(A[:, :, 0] * gamma[:, :, 0], S, h0)
    # 4. state output: Y_off = (C_c o delta) H_{c-1},  delta_i = a_0 L[i, 0]
    delta = A[:, :, :1] * L[..., 0]                          # (b, J, Q)
    Y = Y + (Cc * delta[..., None]) @ H_prev
    return Y.reshape(x.shape[0], -1, x.shape[2])[:, :T], h


def _exclusive_suffix(v, dim):
    """prod over the later steps of ``dim`` (exclusive; 1 at the last): flip, cumprod, flip."""
    incl = v.flip(dim).cumprod(dim).flip(dim)
    last = incl.narrow(dim, 0, 1)
    return torch.cat([incl.narrow(dim, 1, v.shape[dim] - 1), torch.ones_like(last)], dim=dim)


def _diagonal_intra(A, Bc, Cc, X, U):
    """Step 1 of the diagonal family for a group of g chunks, cut into V = Q / U sub-chunks of
    U steps: A, Bc, Cc (b, g, Q, N), X (b, g, Q, P) -> Y_diag (b, g, Q, P),
    Y_diag = W X_c with W[i, j] = sum_n C[i, n] prod_{j<u<=i} a_u[n] B[j, n] (i >= j)."""
    b, g, Q, N = A.shape
    V = Q // U
    A5, B5, C5 = (v.reshape(b, g, V, U, N) for v in (A, Bc, Cc))
    # F[k, i] = prod_{kU<=u<=kU+i} a_u;  G[m, j] = prod_{mU+j<u<(m+1)U} a_u
    F = A5.cumprod(3)
    G = _exclusive_suffix(A5, 3)
    # Pk[k, m] = prod_{m<l<k} tot_l (k > m; tot_l = the product over sub-chunk l = F[l, U-1]):
    # Lv[k, m] = prod_{m<l<=k} tot_l, shifted down one sub-chunk
    Lv = _segment_products(F[:, :, :, U - 1], 2)                          # (b, g, V, V, N)
    Pk = torch.cat([torch.ones_like(Lv[:, :, :1]), Lv[:, :, :-1]], dim=2)  # (b, g, V, V, N)
    # blocks m < k: W[k, i; m, j] = sum_n (C o F)[k, i, n] Pk[k, m, n] (B o G)[m, j, n]
    K = Pk[:, :, :, :, None, :] * (B5 * G)[:, :, None]                    # (b, g, V, V, U, N)
    W = (C5 * F) @ K.reshape(b, g, V, V * U, N).transpose(3, 4)           # (b, g, V, U, V U)
    earlier = torch.ones(V, V, dtype=A.dtype).tril(-1)                     # m < k
    W = W.reshape(b, g, V, U, V, U) * earlier[:, None, :, None]
    # blocks m = k: L[k, i, j, n] = prod_{j<u<=i} a_u[n] inside sub-chunk k (i >= j)
    L = _segment_products(A5, 3)                                          # (b,g,V,U,U,N)
    Wd = ((L * B5[:, :, :, None]) @ C5[..., None])[..., 0] * torch.ones(U, U, dtype=A.dtype).tril()
    W = W + Wd[:, :, :, :, None, :] * torch.eye(V, dtype=A.dtype)[:, None, :, None]
    return W.reshape(b, g, Q, Q) @ X


def diagonal_chunked(x, a, B, C, h0, *, chunk_size=64):
    """The diagonal family: x (b, T, P), a, B, C (b, T, N), h0 (b, N, P) tensors of one dtype.
    Returns y (b, T, P) and the final state h_{T-1} (b, N, P)."""
    (b, T, P), N, Q = x.shape, B.shape[-1], chunk_size
    U = SUB if Q % SUB == 0 else Q
    X, Bc, Cc = (_pad_chunks(v, Q) for v in (x, B, C))       # (b, J, Q, P or N)
    A = _pad_chunks(a, Q, value=1.0)                         # (b, J, Q, N)
    # 1. intra-chunk, in groups of g chunks (about GROUP_ENTRIES mask entries each)
    g = max(1, GROUP_ENTRIES // (b * Q * U * N))
    Y = torch.cat([_diagonal_intra(A[:, c:c + g], Bc[:, c:c + g], Cc[:, c:c + g],
                                   X[:, c:c + g], U) for c in range(0, A.shape[1], g)], dim=1)
    # 2. chunk states: S_c = (B_c o gamma)^T X_c,  gamma_j[n] = prod_{j<u<Q} a_u[n]
    S = (Bc * _exclusive_suffix(A, 2)).transpose(2, 3) @ X  # (b, J, N, P)
    # 3. state passing: H_c = abar_c o H_{c-1} + S_c,  abar_c = delta_{Q-1}
    delta = A.cumprod(2)                                     # prod_{0<=u<=i} a_u[n]
    H_prev, h = _state_passing(delta[:, :, Q - 1], S, h0)
    # 4. state output: Y_off = (C_c o delta) H_{c-1}
    Y = Y + (Cc * delta) @ H_prev
    return Y.reshape(b, -1, P)[:, :T], h


#: family -> the torch chunked form
CHUNKED = {"scalar": scalar_chunked, "diagonal": diagonal_chunked}
