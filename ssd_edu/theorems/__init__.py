"""One numerical check per result of docs/theory.md; ``python -m ssd_edu verify`` runs them all.
Rows (:mod:`.registry`) loop over data around ``case_*`` functions, which tests feed bad data."""
from .registry import (CHECKS, SECTIONS, both_numberings, check, format_detail, format_report,
                       icml_reference, run_check, run_checks)
from ._data import REMARK_41_A, REMARK_41_M, corner_matrix, planted_kernel
from .dualities import case_single_mask, case_underflow
from .counting import count_flops, einsum_flops, form_flops, vjp_flops
from .cost import counted_svds, degree
from .examples import case_prop51, case_rank_vs_ssrank, case_richer_example, prop51_diagonal_ssm
from .structure_theorems import (ENUM_COUNTS, case_enumeration, case_fine_dual, case_lemma_41,
                                 case_thm41_necessity, case_thm41_reject, case_thm41_sufficiency,
                                 case_woerdeman)
from . import general  # noqa: F401  (registers its rows)
from .softmax_rank import case_softmax_exact, case_softmax_growth
from . import backward_cost  # noqa: F401  (registers its row)

__all__ = [name for name in dir() if not name.startswith("_")]
