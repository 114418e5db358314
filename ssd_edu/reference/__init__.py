"""NumPy reference of every SSD form: the readable oracle (no JIT, no GPU).

Modules: ``masks`` (1SS mask, segsum), ``scalar`` (A_t = a_t I), ``diagonal`` (A_t = diag(a_t)),
``general`` (full A_t), ``chunking`` (the four chunked steps), ``associative`` (the recurrence
as an associative scan, and its VJP), ``backward`` (the VJPs of the scan, attention and chunked
forms).
"""
from ..vjp import Grads
from .associative import (diagonal_associative_scan, diagonal_associative_scan_vjp,
                          scalar_associative_scan, scalar_associative_scan_vjp)
from .backward import (decay_vjp, diagonal_attention_vjp, diagonal_chunked_vjp, diagonal_scan_vjp,
                       mask_vjp, scalar_attention_vjp, scalar_chunked_vjp, scalar_scan_vjp)
from .chunking import chunk_output, chunk_states, intra_chunk, state_passing
from .diagonal import (diagonal_algorithm1, diagonal_attention, diagonal_chunked,
                       diagonal_heads, diagonal_kernel, diagonal_scan, diagonal_single_mask)
from .general import general_kernel, general_scan
from .masks import one_ss_mask, prefix_products, segsum, segsum_naive, suffix_products
from .scalar import scalar_attention, scalar_chunked, scalar_kernel, scalar_scan

__all__ = ["one_ss_mask", "segsum", "segsum_naive", "prefix_products", "suffix_products",
           "intra_chunk", "chunk_states", "state_passing", "chunk_output", "scalar_scan",
           "scalar_attention", "scalar_chunked", "scalar_kernel", "diagonal_scan",
           "diagonal_attention", "diagonal_algorithm1", "diagonal_chunked", "diagonal_kernel",
           "diagonal_heads", "diagonal_single_mask", "general_scan", "general_kernel",
           "scalar_associative_scan", "diagonal_associative_scan", "Grads", "mask_vjp",
           "decay_vjp", "scalar_scan_vjp", "scalar_attention_vjp", "scalar_chunked_vjp",
           "diagonal_scan_vjp", "diagonal_attention_vjp", "diagonal_chunked_vjp",
           "scalar_associative_scan_vjp", "diagonal_associative_scan_vjp"]
