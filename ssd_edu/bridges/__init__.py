"""Bridges: Mamba-2's and flash-linear-attention's conventions mapped to SSD
(docs/theory.md#crosswalk); both run the package's registered forms (``ssd_edu.IMPLEMENTATIONS``).

=================  ===========================  ============================  ===================
ssd_edu            Mamba-2                      fla (simple_gla / gla)        meaning
=================  ===========================  ============================  ===================
x (..., T, P)      x, times dt                  v                             input / value
B (..., T, N)      B (per group)                k                             key
C (..., T, N)      C (per group)                q, times scale                query
N                  dstate                       K                             state size
P                  headdim                      V                             head dimension
a_t                exp(dt_t A_h)                exp(g_t) / exp(gk_t)          decay
h (..., N, P)      (..., headdim, dstate)       (..., K, V)                   state
=================  ===========================  ============================  ===================

    from ssd_edu.bridges import mamba2, fla
    out, final_states = mamba2.chunk_scan_combined(x, dt, A, B, C, chunk_size=64, D=D, z=z,
                                                   return_final_states=True, backend="numba")
    o, S = fla.simple_gla(q, k, v, g, output_final_state=True)
"""
from . import fla, mamba2

__all__ = ["mamba2", "fla"]
