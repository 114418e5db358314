"""Bridges: Mamba-2's and flash-linear-attention's conventions mapped to SSD, run through the
registered forms (docs/theory.md#crosswalk). Mamba-2: x <- dt x, a = exp(dt A), B and C per
group, state transposed; fla: x = v, B = k, C = scale q, a = exp(g).

    from ssd_edu.bridges import mamba2, fla
    out, final_states = mamba2.chunk_scan_combined(x, dt, A, B, C, chunk_size=64, D=D, z=z,
                                                   return_final_states=True, backend="numba")
    o, S = fla.simple_gla(q, k, v, g, output_final_state=True)
"""
from . import fla, mamba2

__all__ = ["mamba2", "fla"]
