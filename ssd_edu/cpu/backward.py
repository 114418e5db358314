"""Every Numba VJP, gathered for the registry (``ssd_edu.VJPS["numba.{family}.{form}"]``)."""
from .chunked_backward import (diagonal_attention_vjp, diagonal_chunked_vjp,
                               scalar_attention_vjp, scalar_chunked_vjp)
from .scan_backward import diagonal_scan_vjp, scalar_scan_vjp

__all__ = ["scalar_scan_vjp", "diagonal_scan_vjp", "scalar_attention_vjp",
           "diagonal_attention_vjp", "scalar_chunked_vjp", "diagonal_chunked_vjp"]
