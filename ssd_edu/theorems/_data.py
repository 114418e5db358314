"""Matrices and kernels the rows share (docs/theory.md#example-n2, #theorem-4-1, #prop-5-1)."""
from __future__ import annotations

import numpy as np

from .. import reference as ref

#: Remark 4.1 decays (entry 0 unused), B = C = ones(4, 2).
REMARK_41_A = [[1, 1], [1, 0], [0, 1], [1, 0]]
REMARK_41_M = [[2, 0, 0, 0], [1, 2, 0, 0], [0, 1, 2, 0], [0, 0, 1, 2]]


def planted_kernel(rng, T: int, N: int, cuts=(), width=None, low=0.92, high=0.999):
    """``1SS(a) o (Q K^T)`` with a = 0 at ``cuts``, fine decays elsewhere, Q, K (T, width)."""
    a = rng.uniform(low, high, T)
    a[list(cuts)] = 0.0
    Q, K = rng.standard_normal((T, width or N)), rng.standard_normal((T, width or N))
    return ref.one_ss_mask(a) * (Q @ K.T)


def planted_blocks(rng, T, m):
    """m - 1 sorted cut points in [8, T - 8): m blocks of at least 8 rows (m >= 2)."""
    return sorted(int(c) for c in rng.choice(np.arange(8, T - 7), m - 1, replace=False))


def corner_matrix(T: int) -> np.ndarray:
    """``I_T + E_{T-1,0}``: the identity with a one in the bottom-left corner (Prop 5.1)."""
    return np.eye(T) + np.eye(T, k=1 - T)

