"""Every CUDA VJP, gathered for ``ssd_edu.register_vjps("cuda", ...)``: ``scan_backward`` and
``chunked_backward`` (the attention form's masked-matmul backward on the GPU is not written)."""
from .chunked_backward import diagonal_chunked_vjp, scalar_chunked_vjp
from .scan_backward import diagonal_scan_vjp, scalar_scan_vjp

__all__ = ["scalar_scan_vjp", "diagonal_scan_vjp", "scalar_chunked_vjp", "diagonal_chunked_vjp"]
