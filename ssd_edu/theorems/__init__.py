"""One numerical check per result of docs/theory.md; ``python -m ssd_edu verify`` runs them all.

:mod:`.registry` holds the registry (:func:`check`, :data:`CHECKS`, :func:`run_checks`) and the
report; each other module registers its rows on import, in reading order: :mod:`.dualities`,
:mod:`.cost` (flops counted by :mod:`.counting`), :mod:`.examples`, :mod:`.structure_theorems`,
:mod:`.general`, :mod:`.softmax_rank`, :mod:`.backward_cost`. Each row loops over data around
``case_*`` functions that take the data (a matrix, decays, counts) and return
``dict(measured=, threshold=, passed=, detail=)``, so that tests can feed them planted bad data.
"""
from .registry import (CHECKS, SECTIONS, Record, both_numberings, check, failures,
                       format_detail, format_report, icml_reference, refused, run_check,
                       run_checks, summarize)
from ._data import REMARK_41_A, REMARK_41_M, corner_matrix, planted_blocks, planted_kernel
from .dualities import case_single_mask, case_underflow, conjugate_pair_kernel, worst_form_error
from .counting import count_flops, einsum_flops, form_flops, vjp_flops
from .cost import DEGREE_IN_T, case_degree, counted_svds, degree, dual_work
from .examples import (case_fine_nu, case_prop51, case_rank_vs_ssrank, case_richer_example,
                       prop51_diagonal_ssm)
from .structure_theorems import (ENUM4_SSRANK, ENUM4_TWO_SS_NO_DUAL, ENUM4_WIDTH, ENUM5_SSRANK,
                                 ENUM5_TWO_SS_NO_DUAL, ENUM5_WIDTH, case_enumeration,
                                 case_fine_dual, case_lemma_41, case_thm41_necessity,
                                 case_thm41_reject, case_thm41_sufficiency, case_woerdeman)
from .general import (case_general_dual, case_invertible_rewrite, case_realize,
                      dense_transitions, jordan_transitions, nilpotent_ssm, rotations)
from .softmax_rank import case_softmax_exact, case_softmax_growth
from .backward_cost import gradient_cases

__all__ = [name for name in dir() if not name.startswith("_")]
