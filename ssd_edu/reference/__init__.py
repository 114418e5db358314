"""NumPy reference of every SSD form: the readable oracle (no JIT, no GPU).

Modules: ``masks`` (1SS mask, segsum), ``scalar`` (A_t = a_t I), ``diagonal`` (A_t = diag(a_t)),
``general`` (full A_t), ``chunking`` (chunk helpers and state passing), ``associative`` (the
recurrence as an associative scan in log2 T passes).
"""
from .associative import diagonal_associative_scan, scalar_associative_scan
from .chunking import state_passing
from .diagonal import (diagonal_algorithm1, diagonal_attention, diagonal_chunked,
                       diagonal_heads, diagonal_kernel, diagonal_scan, diagonal_single_mask)
from .general import general_kernel, general_scan
from .masks import one_ss_mask, prefix_products, segsum, segsum_naive, suffix_products
from .scalar import scalar_attention, scalar_chunked, scalar_kernel, scalar_scan

__all__ = [
    "one_ss_mask", "segsum", "segsum_naive", "prefix_products", "suffix_products",
    "state_passing",
    "scalar_scan", "scalar_attention", "scalar_chunked", "scalar_kernel",
    "diagonal_scan", "diagonal_attention", "diagonal_algorithm1", "diagonal_chunked", "diagonal_kernel",
    "diagonal_heads", "diagonal_single_mask",
    "general_scan", "general_kernel",
    "scalar_associative_scan", "diagonal_associative_scan",
]
